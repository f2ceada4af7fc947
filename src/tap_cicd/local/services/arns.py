"""The IAM actions and resource ARNs AWS authorizes an API call on, by service.

Each rule reads the call's input members (``operations.Operation.params``) and returns
``(action, resource)`` pairs, following AWS's Service Authorization Reference (cited at each
table). A call of a service with no rule is authorized as ``<prefix>:<OperationName>`` on
``UNKNOWN_RESOURCE``: any statement for the action counts, whatever it names (tap cannot tell
the resource, and refusing on a guess would refuse what AWS allows). The partition is ``aws``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tap_cicd.access.evaluation import UNKNOWN_RESOURCE

Grant = tuple[str, str]
"""An (IAM action, resource ARN) pair."""

PREFIXES = {"monitoring": "cloudwatch"}
"""IAM service prefixes that differ from the SigV4 signing name."""


@dataclass(frozen=True)
class Call:
    """An identified API call, with the account and region it is made in."""

    service: str
    prefix: str
    name: str
    params: Mapping[str, Any]
    account: str
    region: str

    def action(self, name: str | None = None) -> str:
        """The IAM action ``<prefix>:<name>`` (the operation's own name by default)."""
        return f"{self.prefix}:{name or self.name}"

    def arn(self, resource: str, account: str | None = None) -> str:
        """An ARN of the call's service, region and account (or ``account``)."""
        return f"arn:aws:{self.service}:{self.region}:{account or self.account}:{resource}"

    def named(self, value: str, resource: str) -> str:
        """``value`` when it is an ARN already, else the ARN of ``resource``."""
        return value if value.startswith("arn:") else self.arn(resource)

    def text(self, key: str) -> str | None:
        """A string member's value; ``None`` when absent or empty."""
        return value if isinstance(value := self.params.get(key), str) and value else None

    def items(self, key: str) -> list[str]:
        """A string or list-of-strings member's values."""
        values = found if isinstance(found := self.params.get(key), list) else [found]
        return [item for item in values if isinstance(item, str) and item]


def iam_prefix(signing: str) -> str:
    """The IAM service prefix of a SigV4 signing name."""
    return PREFIXES.get(signing, signing)


def resolve(call: Call) -> list[Grant]:
    """What AWS authorizes ``call`` on: its rule's pairs, else on ``UNKNOWN_RESOURCE``."""
    rule = RULES.get(call.service)
    return rule(call) if rule is not None else [(call.action(), UNKNOWN_RESOURCE)]


def _inverted(table: Mapping[str, str]) -> dict[str, str]:
    """``{value: "key key …"}`` as ``{key: value}`` (a table written by what it maps to)."""
    return {key: value for value, keys in table.items() for key in keys.split()}


def _each(action: str, resources: Iterable[str]) -> list[Grant]:
    """``action`` on each distinct resource (in order); on ``"*"`` when there is none."""
    distinct = list(dict.fromkeys(resources))
    return [(action, resource) for resource in distinct] or [(action, "*")]


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
S3_ACTIONS = _inverted(
    {
        "GetObject": "HeadObject SelectObjectContent",
        "PutObject": "CopyObject CreateMultipartUpload UploadPart UploadPartCopy "
        "CompleteMultipartUpload",
        "DeleteObject": "DeleteObjects",
        "ListBucket": "HeadBucket ListObjects ListObjectsV2",
        "ListBucketVersions": "ListObjectVersions",
        "ListBucketMultipartUploads": "ListMultipartUploads",
        "ListMultipartUploadParts": "ListParts",
        "ListAllMyBuckets": "ListBuckets",
        "GetEncryptionConfiguration": "GetBucketEncryption",
        "PutEncryptionConfiguration": "PutBucketEncryption DeleteBucketEncryption",
        "GetBucketNotification": "GetBucketNotificationConfiguration",
        "PutBucketNotification": "PutBucketNotificationConfiguration",
        "GetLifecycleConfiguration": "GetBucketLifecycle GetBucketLifecycleConfiguration",
        "PutLifecycleConfiguration": "PutBucketLifecycle PutBucketLifecycleConfiguration "
        "DeleteBucketLifecycle",
        "GetBucketPublicAccessBlock": "GetPublicAccessBlock",
        "PutBucketPublicAccessBlock": "PutPublicAccessBlock DeletePublicAccessBlock",
        "GetBucketCORS": "GetBucketCors",
        "PutBucketCORS": "PutBucketCors DeleteBucketCors",
        "GetReplicationConfiguration": "GetBucketReplication",
        "PutReplicationConfiguration": "PutBucketReplication DeleteBucketReplication",
        "GetBucketObjectLockConfiguration": "GetObjectLockConfiguration",
        "PutBucketObjectLockConfiguration": "PutObjectLockConfiguration",
        "PutBucketTagging": "DeleteBucketTagging",
        "PutBucketOwnershipControls": "DeleteBucketOwnershipControls",
        "GetAccelerateConfiguration": "GetBucketAccelerateConfiguration",
        "PutAccelerateConfiguration": "PutBucketAccelerateConfiguration",
    }
)
"""Operations whose IAM action has another name (without a ``VersionId``), by action."""
S3_VERSIONED = frozenset(
    [
        "GetObject",
        "DeleteObject",
        "GetObjectTagging",
        "PutObjectTagging",
        "DeleteObjectTagging",
        "GetObjectAcl",
        "PutObjectAcl",
        "GetObjectAttributes",
    ]
)
"""Actions that are ``…ObjectVersion…`` (``s3:GetObjectVersion``) given a ``VersionId``."""
S3_COPIES = frozenset({"CopyObject", "UploadPartCopy"})


def _s3(call: Call) -> list[Grant]:
    """Buckets ``arn:aws:s3:::<bucket>``, objects ``arn:aws:s3:::<bucket>/<key>``; a copy
    also reads its source (``x-amz-copy-source``: ``bucket/key?versionId=``)."""
    name = S3_ACTIONS.get(call.name, call.name)
    if name in S3_VERSIONED and call.text("VersionId") is not None:
        name = name.replace("Object", "ObjectVersion", 1)
    key = "*" if call.name == "DeleteObjects" else call.text("Key")
    grant = (call.action(name), _s3_arn(call.text("Bucket"), key))
    source = call.text("CopySource")
    if call.name in S3_COPIES and source is not None:
        path, _, query = source.partition("?")
        bucket, _, key = unquote(path).lstrip("/").partition("/")
        read = "GetObjectVersion" if "versionId" in parse_qs(query) else "GetObject"
        return [(call.action(read), _s3_arn(bucket, key)), grant]
    return [grant]


def _s3_arn(bucket: str | None, key: str | None) -> str:
    if not bucket:
        return "*"
    return f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html
LAMBDA_ACTIONS = _inverted({"InvokeFunction": "Invoke InvokeAsync InvokeWithResponseStream"})
LAMBDA_UNSCOPED = frozenset(
    {"CreateEventSourceMapping", "UpdateEventSourceMapping", "ListEventSourceMappings"}
)
"""Operations whose ``FunctionName`` is not the resource they are authorized on."""


def _lambda(call: Call) -> list[Grant]:
    """``arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`` from a name, a
    partial ARN (``<account>:function:<name>``) or an ARN, each with an optional qualifier."""
    action = call.action(LAMBDA_ACTIONS.get(call.name))
    function = call.text("FunctionName")
    if function is None or call.name in LAMBDA_UNSCOPED:
        return [(action, "*")]
    parts = function.split(":")
    account, region, partition = call.account, call.region, "aws"
    if function.startswith("arn:") and len(parts) >= 7:
        partition, region, account, parts = parts[1], parts[3], parts[4], parts[6:]
    elif len(parts) >= 3 and parts[1] == "function":
        account, parts = parts[0], parts[2:]
    qualifier = parts[1] if len(parts) > 1 else call.text("Qualifier")
    arn = f"arn:{partition}:lambda:{region}:{account}:function:{parts[0]}"
    return [(action, f"{arn}:{qualifier}" if qualifier else arn)]


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodebuild.html
CODEBUILD_PROJECTS = _inverted(
    {
        "projectName": "StartBuild StartBuildBatch ListBuildsForProject",
        "name": "CreateProject UpdateProject DeleteProject",
        "names": "BatchGetProjects",
    }
)
"""Operations naming projects (names or ARNs), by member."""
CODEBUILD_BUILDS = _inverted(
    {"id": "StopBuild RetryBuild", "ids": "BatchGetBuilds BatchDeleteBuilds"}
)
"""Operations naming builds (``<project>:<uuid>`` or build ARNs), authorized on the project."""


def _codebuild(call: Call) -> list[Grant]:
    """``arn:aws:codebuild:<region>:<account>:project/<name>``, once per distinct project."""
    names = call.items(CODEBUILD_PROJECTS.get(call.name, "")) + [
        build.rsplit(":", 1)[0].replace(":build/", ":project/", 1)
        for build in call.items(CODEBUILD_BUILDS.get(call.name, ""))
    ]
    return _each(call.action(), (call.named(name, f"project/{name}") for name in names))


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodepipeline.html
PIPELINE_NAMES = _inverted(
    {
        "name": "StartPipelineExecution GetPipelineState GetPipeline DeletePipeline",
        "pipelineName": "GetPipelineExecution ListPipelineExecutions StopPipelineExecution "
        "ListActionExecutions PutApprovalResult",
    }
)
"""Operations on a pipeline (``PutApprovalResult``: on its action), by member."""


def _codepipeline(call: Call) -> list[Grant]:
    """``arn:aws:codepipeline:<region>:<account>:<pipeline>``; an approval on
    ``<pipeline>/<stage>/<action>``; job results (``PutJobSuccessResult``) on ``"*"``."""
    pipeline = call.text(PIPELINE_NAMES.get(call.name, ""))
    path = [pipeline] if pipeline else []
    if path and call.name == "PutApprovalResult":
        path += [call.text("stageName") or "", call.text("actionName") or ""]
    return _each(call.action(), [call.arn("/".join(path))] if path else [])


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html
def _ecr(call: Call) -> list[Grant]:
    """``arn:aws:ecr:<region>:<registry id or account>:repository/<name>`` per repository
    (``repositoryName``, or each of ``repositoryNames``); GetAuthorizationToken on ``"*"``."""
    account = call.text("registryId")
    names = call.items("repositoryName") + call.items("repositoryNames")
    return _each(call.action(), (call.arn(f"repository/{name}", account=account) for name in names))


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html
LOG_STREAM_OPERATIONS = frozenset(
    {"CreateLogStream", "PutLogEvents", "GetLogEvents", "DeleteLogStream"}
)
"""Operations authorized on the log stream; the others with a group, on the log group."""


def _logs(call: Call) -> list[Grant]:
    """``arn:aws:logs:<region>:<account>:log-group:<group>`` and, for stream operations,
    ``…:log-group:<group>:log-stream:<stream>``; DescribeLogGroups on ``"*"``."""
    group = call.text("logGroupName") or call.text("logGroupIdentifier")
    if group is None:
        return [(call.action(), "*")]
    arn = call.named(group.removesuffix(":*"), f"log-group:{group}")
    stream = call.text("logStreamName")
    if stream is not None and call.name in LOG_STREAM_OPERATIONS:
        arn = f"{arn}:log-stream:{stream}"
    return [(call.action(), arn)]


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html
SSM_PARAMETERS = _inverted(
    {
        "Name": "GetParameter PutParameter DeleteParameter GetParameterHistory "
        "LabelParameterVersion UnlabelParameterVersion",
        "Names": "GetParameters DeleteParameters",
        "Path": "GetParametersByPath",
    }
)
"""Operations on parameters, by member."""


def _ssm(call: Call) -> list[Grant]:
    """``arn:aws:ssm:<region>:<account>:parameter/<name without its leading slash>`` per
    parameter (a ``:<version or label>`` selector dropped); an ARN as is."""
    names = call.items(SSM_PARAMETERS.get(call.name, ""))
    return _each(
        call.action(),
        (call.named(name, f"parameter/{name.split(':')[0].lstrip('/')}") for name in names),
    )


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html
def _sns(call: Call) -> list[Grant]:
    """The topic (``TopicArn``, Publish's ``TargetArn``, CreateTopic's ``Name``);
    PublishBatch is authorized as ``sns:Publish``."""
    topic = call.text("TopicArn") or call.text("TargetArn")
    name = call.text("Name") if call.name == "CreateTopic" else None
    resource = topic or (call.arn(name) if name else "*")
    return [(call.action("Publish" if call.name == "PublishBatch" else None), resource)]


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsqs.html
SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def _sqs(call: Call) -> list[Grant]:
    """``arn:aws:sqs:<region>:<account>:<queue>`` from ``QueueUrl``
    (``http(s)://host/<account>/<name>``) or ``QueueName`` (+ ``QueueOwnerAWSAccountId``)."""
    action = call.action(SQS_ACTIONS.get(call.name))
    url = call.text("QueueUrl")
    if url is not None:
        *owner, queue = urlsplit(url).path.strip("/").split("/")
        return [(action, call.arn(queue, account=owner[-1] if owner else None))]
    name = call.text("QueueName")
    owner_id = call.text("QueueOwnerAWSAccountId")
    return [(action, call.arn(name, account=owner_id) if name else "*")]


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awskeymanagementservice.html
def _kms(call: Call) -> list[Grant]:
    """The key: an ARN (key or alias) as is, ``alias/<name>`` as the alias's ARN, a key id as
    ``arn:aws:kms:<region>:<account>:key/<id>``; ReEncrypt is ReEncryptFrom the source key
    and ReEncryptTo the destination. Without a key id (Decrypt names it in the ciphertext):
    ``"*"``, for the caller to resolve."""
    if call.name == "ReEncrypt":
        return [
            (call.action("ReEncryptFrom"), _key(call, call.text("SourceKeyId"))),
            (call.action("ReEncryptTo"), _key(call, call.text("DestinationKeyId"))),
        ]
    return [(call.action(), _key(call, call.text("KeyId")))]


def _key(call: Call, key: str | None) -> str:
    if key is None:
        return "*"
    return call.named(key, key if key.startswith("alias/") else f"key/{key}")


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html
ECS_SERVICES = _inverted(
    {
        "services": "DescribeServices",
        "service": "UpdateService DeleteService",
        "serviceName": "CreateService",
    }
)
"""Operations on services (names or ARNs) of ``cluster`` (``default`` when not given)."""


def _ecs(call: Call) -> list[Grant]:
    """``arn:aws:ecs:<region>:<account>:service/<cluster>/<service>`` per service;
    DescribeClusters per cluster. DescribeTaskDefinition has no resource type; the revision
    RegisterTaskDefinition creates has no ARN yet: both on ``"*"``."""
    if call.name == "DescribeClusters":
        clusters = call.items("clusters") or ["default"]
        return _each(call.action(), (call.named(c, f"cluster/{c}") for c in clusters))
    cluster = (call.text("cluster") or "default").rsplit("/", 1)[-1]
    services = call.items(ECS_SERVICES.get(call.name, ""))
    return _each(call.action(), (call.named(s, f"service/{cluster}/{s}") for s in services))


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html
def _secretsmanager(call: Call) -> list[Grant]:
    """``SecretId`` as is when an ARN, else ``arn:aws:secretsmanager:<region>:<account>:
    secret:<name>`` (AWS's ARN adds a random ``-XXXXXX`` suffix: policies use ``<name>-*``)."""
    secret = call.text("SecretId") or (call.text("Name") if call.name == "CreateSecret" else None)
    return [(call.action(), call.named(secret, f"secret:{secret}") if secret else "*")]


# https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html
def _events(call: Call) -> list[Grant]:
    """PutEvents on each entry's event bus (``EventBusName``: a name or an ARN; ``default``
    when not given): ``arn:aws:events:<region>:<account>:event-bus/<name>``."""
    if call.name != "PutEvents":
        return [(call.action(), "*")]
    entries = call.params.get("Entries")
    buses = [
        str(entry.get("EventBusName") or "default")
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict)
    ] or ["default"]
    return _each(call.action(), (call.named(b, f"event-bus/{b}") for b in buses))


# https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
# ("No permissions are required to perform this operation.")
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html
def _sts(call: Call) -> list[Grant]:
    """GetCallerIdentity needs no permission; AssumeRole* is authorized on ``RoleArn``."""
    if call.name == "GetCallerIdentity":
        return []
    return [(call.action(), call.text("RoleArn") or "*")]


RULES: dict[str, Callable[[Call], list[Grant]]] = {
    "s3": _s3,
    "lambda": _lambda,
    "codebuild": _codebuild,
    "codepipeline": _codepipeline,
    "ecr": _ecr,
    "logs": _logs,
    "ssm": _ssm,
    "sns": _sns,
    "sqs": _sqs,
    "kms": _kms,
    "ecs": _ecs,
    "secretsmanager": _secretsmanager,
    "events": _events,
    "sts": _sts,
}
"""The rule of each botocore service; xray's and inspector2's calls, among others, have none
(their actions have no resource type: ``"*"``)."""
