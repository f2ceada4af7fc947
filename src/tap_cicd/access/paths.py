"""The calls the pipeline's principals make on its known path, and what AWS sends with each.

One row per call of ``tap run``'s path (issue 13): who calls (a role of the stack, found in the
offline graph, or a service principal acting as itself), the action, the resource it touches,
the condition keys AWS puts in that request's context, and the AWS page that says so. A call
that uses an encrypted resource's KMS key is a row of its own, on the key the resource names,
with ``kms:ViaService`` and the encryption context of the service that uses it.
``tap_cicd.access.static`` evaluates the rows over the graph; nothing here is evaluated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

ROLE = "aws:iam/role:Role"
BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
TOPIC = "aws:sns/topic:Topic"
QUEUE = "aws:sqs/queue:Queue"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
REPOSITORY = "aws:ecr/repository:Repository"
FUNCTION = "aws:lambda/function:Function"
PIPELINE = "aws:codepipeline/pipeline:Pipeline"
RULE = "aws:cloudwatch/eventRule:EventRule"

S3_SOURCE = "s3 source"
GITHUB_SOURCE = "github source"
ECS_SERVICE = "ecs service"
MANUAL_APPROVAL = "manual approval"
CONDITIONS = (S3_SOURCE, GITHUB_SOURCE, ECS_SERVICE, MANUAL_APPROVAL)
"""The parts of the path only some configurations have (``Call.when``)."""


@dataclass(frozen=True)
class Ref:
    """A value of the offline graph: output ``attr`` (a dotted path) of the one resource of
    ``type`` whose logical name contains ``name``, with ``suffix`` appended (an object key)."""

    type: str
    name: str
    attr: str = "arn"
    suffix: str = ""


Value = str | Ref
"""A literal (``{account}`` and ``{region}`` are filled in) or a value of the graph."""


@dataclass(frozen=True)
class Call:
    """One call on the pipeline's path, as AWS authorizes it."""

    principal: Value
    """A role of the stack (a ``Ref``) or a service principal acting as itself."""
    action: str
    resource: Value
    """The ARN the call is authorized on (``*`` for an action without a resource type)."""
    doc: str
    """The AWS page for the call and for the keys AWS sends with it."""
    context: Mapping[str, Value] = field(default_factory=dict)
    """Every condition key AWS sends on this path, and no other."""
    when: str = ""
    """Only with this part of the configuration (one of ``CONDITIONS``); always when empty."""
    step: str = ""
    """Where on the path: trigger, source, build, approval, deploy, rollout, notify, logs."""


ROLE_CONTEXT: Mapping[str, str] = {"aws:SecureTransport": "true"}
"""What every call made with a role's credentials carries: the SDKs, the CLI and the services
acting as the role all call over HTTPS (the stack's TLS-only denies test this key).
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-securetransport
"""

PIPELINE_ROLE = Ref(ROLE, "pipeline-role")
BUILD_ROLE = Ref(ROLE, "build-role")
DEPLOY_ROLE = Ref(ROLE, "deploy-role")
SOURCE_EVENTS_ROLE = Ref(ROLE, "source-events-role")
EXECUTION_ROLE = Ref(ROLE, "task-execution-role")
TASK_ROLE = Ref(ROLE, "task-role")
TASK_ROLES = (EXECUTION_ROLE, TASK_ROLE)
EVENTS = "events.amazonaws.com"
ECS_TASKS = "ecs-tasks.amazonaws.com"
S3_LOGGING = "logging.s3.amazonaws.com"
LOGS = "logs.{region}.amazonaws.com"

ARTIFACTS = Ref(BUCKET, "artifacts")
# CodePipeline names artifact objects <pipeline>/<artifact>/<random>: any object is the same.
ARTIFACT = Ref(BUCKET, "artifacts", suffix="/pipeline/artifact/object.zip")
SOURCE = Ref(BUCKET, "source")
SOURCE_OBJECT = Ref(BUCKET, "source", suffix="/source.zip")
ACCESS_LOG = Ref(BUCKET, "access-logs", suffix="/bucket/access-log")
_SSE_KEY = "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId"
ARTIFACTS_KEY = Ref(SSE, "artifacts-encryption", attr=_SSE_KEY)
SOURCE_KEY = Ref(SSE, "source-encryption", attr=_SSE_KEY)
TOPIC_ARN = Ref(TOPIC, "notifications")
TOPIC_KEY = Ref(TOPIC, "notifications", attr="kmsMasterKeyId")
EVENTS_DLQ = Ref(QUEUE, "events-dlq")
DEPLOY_DLQ = Ref(QUEUE, "deploy-dlq")
STATE_RULE = Ref(RULE, "pipeline-state")
SOURCE_RULE = Ref(RULE, "source-change")
IMAGES = Ref(REPOSITORY, "images")
PROJECT = Ref("aws:codebuild/project:Project", "build")
PIPELINE_ARN = Ref(PIPELINE, "pipeline")
CONNECTION = Ref(PIPELINE, "pipeline", attr="stages.0.actions.0.configuration.ConnectionArn")
FUNCTION_ARN = Ref(FUNCTION, "deploy")
RELEASE = Ref("aws:ssm/parameter:Parameter", "release")
ROLLOUT_SERVICE = Ref("aws:ecs/service:Service", "service")

_AWS = "https://docs.aws.amazon.com"
CP = f"{_AWS}/codepipeline/latest/userguide"
CP_ROLE = f"{CP}/security-iam.html#how-to-update-role-new-services"
CB_ROLE = f"{_AWS}/codebuild/latest/userguide/setting-up-service-role.html"
S3_CONTEXT = f"{_AWS}/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context"
SNS_KEY = f"{_AWS}/sns/latest/dg/sns-key-management.html"
SQS_KEY = f"{_AWS}/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html"
LOGS_KEY = f"{_AWS}/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html"
EB = f"{_AWS}/eventbridge/latest/userguide"
DEPUTY = "cross-service-confused-deputy-prevention.html"
SNS_TARGET = "eb-use-resource-based.html#eb-sns-permissions"
ECR = f"{_AWS}/AmazonECR/latest/userguide"
ECR_ACTIONS = (
    f"{_AWS}/service-authorization/latest/reference/list_amazonelasticcontainerregistry.html"
)
ECS_ACTIONS = (
    f"{_AWS}/service-authorization/latest/reference/list_amazonelasticcontainerservice.html"
)
EXECUTION = f"{_AWS}/AmazonECS/latest/developerguide/task_execution_IAM_role.html"
LAMBDA = f"{_AWS}/lambda/latest/dg"
CP_LAMBDA = f"{LAMBDA}/services-codepipeline.html"
EXECUTION_ROLE_DOC = "lambda-intro-execution-role.html"
SNS_SEND = f"{SNS_KEY}#send-to-encrypted-topic"
PARAMETERS = f"{_AWS}/systems-manager/latest/userguide/sysman-paramstore-access.html"
PASSED_TO = (
    f"{_AWS}/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_PassedToService"
)
CONNECTIONS = (
    f"{_AWS}/dtconsole/latest/userguide/security-iam.html#permissions-reference-connections"
)
ACCESS_LOGGING = f"{_AWS}/AmazonS3/latest/userguide/enable-server-access-logging.html"
SOURCE_READ = "s3:GetObject s3:GetObjectVersion"
S3_SOURCE_DOC = f"{CP}/action-reference-S3.html"
ARTIFACT_KEY_DOC = "S3-artifact-encryption.html"
JOB_ARTIFACTS = "actions-invoke-lambda-function.html"
JOB_RESULTS = "codepipeline:PutJobSuccessResult codepipeline:PutJobFailureResult"
SCAN = (
    "ecr:DescribeImages ecr:BatchGetRepositoryScanningConfiguration ecr:DescribeImageScanFindings"
)
PULL = "ecr:BatchCheckLayerAvailability ecr:GetDownloadUrlForLayer ecr:BatchGetImage"
PUSH = (
    "ecr:BatchCheckLayerAvailability ecr:InitiateLayerUpload ecr:UploadLayerPart "
    "ecr:CompleteLayerUpload ecr:PutImage ecr:BatchGetImage"
)


def sent_for(arn: Ref) -> dict[str, Value]:
    """``aws:SourceArn`` and ``aws:SourceAccount``: what a service acting for ``arn`` sends."""
    return {"aws:SourceArn": arn, "aws:SourceAccount": "{account}"}


def row(
    principal: Value,
    actions: str,
    resource: Value,
    doc: str,
    sent: Mapping[str, Value] | None = None,
) -> tuple[Call, ...]:
    """One call per action of the space-separated ``actions``, alike."""
    return tuple(Call(principal, a, resource, doc, dict(sent or {})) for a in actions.split())


def key_use(
    principal: Value,
    actions: str,
    key: Ref,
    context: tuple[str, Value],
    doc: str,
    *,
    via: str | None = None,
    sent: Mapping[str, Value] | None = None,
) -> tuple[Call, ...]:
    """The KMS calls a service makes on ``key`` for a resource it encrypts: as the calling role
    (``via`` the service: ``kms:ViaService``, ``kms:CallerAccount``) or as its own service
    principal; with the service's encryption context ``(name, value)`` and the ``sent`` keys."""
    keys: dict[str, Value] = {f"kms:EncryptionContext:{context[0]}": context[1], **(sent or {})}
    if via is not None:
        keys["kms:ViaService"] = f"{via}.{{region}}.amazonaws.com"
        keys["kms:CallerAccount"] = "{account}"
    return row(principal, actions, key, doc, keys)


def stage(step: str, *groups: tuple[Call, ...], when: str = "") -> tuple[Call, ...]:
    """The calls of one step of the path (all of them only ``when``, if given)."""
    return tuple(
        dataclasses.replace(call, step=step, when=when or call.when)
        for group in groups
        for call in group
    )


def only(when: str, *groups: tuple[Call, ...]) -> tuple[Call, ...]:
    """Calls made only with one part of the configuration."""
    return tuple(dataclasses.replace(call, when=when) for group in groups for call in group)


def log_writes(role: Ref, group: str, doc: str) -> tuple[Call, ...]:
    """A role writing a log group of the stack; CloudWatch Logs encrypts what it writes with
    the group's key, the group's ARN as the encryption context (as documented)."""
    arn = Ref(LOG_GROUP, group)
    stream = Ref(LOG_GROUP, group, suffix=":log-stream:stream")
    key = Ref(LOG_GROUP, group, attr="kmsKeyId")
    # Both on the stream's ARN ("not authorized to perform: logs:CreateLogStream on resource:
    # arn:aws:logs:...:log-group:<group>:log-stream:<stream>", as AWS's refusals name it).
    return (
        *row(role, "logs:CreateLogStream logs:PutLogEvents", stream, doc),
        *key_use(LOGS, "kms:GenerateDataKey", key, ("aws:logs:arn", arn), LOGS_KEY),
    )


def s3_object(role: Ref, actions: str, obj: Ref, key: Ref, doc: str) -> tuple[Call, ...]:
    """A role reading (Decrypt) or writing (GenerateDataKey) an object of a bucket encrypted
    with an S3 Bucket Key: S3 sends the bucket's ARN as the encryption context."""
    used = " ".join(
        sorted({"kms:GenerateDataKey" if "Put" in a else "kms:Decrypt" for a in actions.split()})
    )
    context = ("aws:s3:arn", Ref(obj.type, obj.name))
    return (
        *row(role, actions, obj, doc),
        *key_use(role, used, key, context, S3_CONTEXT, via="s3"),
    )


def topic_key(principal: Value, doc: str, via: str | None = None) -> tuple[Call, ...]:
    """Publishing to the encrypted topic: SNS uses its key for the publisher, the topic's ARN
    as the encryption context."""
    context = ("aws:sns:topicArn", TOPIC_ARN)
    return key_use(principal, "kms:GenerateDataKey kms:Decrypt", TOPIC_KEY, context, doc, via=via)


def dead_letter(rule: Ref) -> tuple[Call, ...]:
    """EventBridge dead-letters a target's event: the queue policy checks the rule's
    ``aws:SourceArn``; EventBridge is among the services that send it to SQS's KMS calls."""
    sent = sent_for(rule)
    key = Ref(QUEUE, "events-dlq", attr="kmsMasterKeyId")
    context = ("aws:sqs:arn", EVENTS_DLQ)
    return (
        *row(EVENTS, "sqs:SendMessage", EVENTS_DLQ, f"{EB}/eb-rule-dlq.html", sent),
        *key_use(EVENTS, "kms:GenerateDataKey kms:Decrypt", key, context, SQS_KEY, sent=sent),
    )


TRIGGER = stage(
    "trigger",
    # EventBridge sends the rule's ARN and account when it assumes a target's role.
    row(EVENTS, "sts:AssumeRole", SOURCE_EVENTS_ROLE, f"{EB}/{DEPUTY}", sent_for(SOURCE_RULE)),
    row(
        SOURCE_EVENTS_ROLE,
        "codepipeline:StartPipelineExecution",
        PIPELINE_ARN,
        f"{CP}/create-cloudtrail-S3-source-cli.html",
    ),
    dead_letter(SOURCE_RULE),
    when=S3_SOURCE,
)

SOURCE_STAGE = stage(
    "source",
    # CodePipeline documents no source keys for assuming its role (the trust is bare).
    row(
        "codepipeline.amazonaws.com",
        "sts:AssumeRole",
        PIPELINE_ROLE,
        f"{CP}/security-iam.html#how-to-custom-role",
    ),
    only(S3_SOURCE, row(PIPELINE_ROLE, "s3:GetBucketVersioning", SOURCE, S3_SOURCE_DOC)),
    only(
        S3_SOURCE, s3_object(PIPELINE_ROLE, SOURCE_READ, SOURCE_OBJECT, SOURCE_KEY, S3_SOURCE_DOC)
    ),
    only(
        GITHUB_SOURCE,
        row(PIPELINE_ROLE, "codestar-connections:UseConnection", CONNECTION, CONNECTIONS),
    ),
    s3_object(PIPELINE_ROLE, "s3:PutObject", ARTIFACT, ARTIFACTS_KEY, f"{CP}/{ARTIFACT_KEY_DOC}"),
)

BUILD_STAGE = stage(
    "build",
    row(PIPELINE_ROLE, "codebuild:StartBuild codebuild:BatchGetBuilds", PROJECT, CP_ROLE),
    # CodeBuild sends the project's ARN and account when it assumes its service role.
    row("codebuild.amazonaws.com", "sts:AssumeRole", BUILD_ROLE, CB_ROLE, sent_for(PROJECT)),
    log_writes(BUILD_ROLE, "build-logs", CB_ROLE),
    row(BUILD_ROLE, "s3:GetBucketAcl s3:GetBucketLocation", ARTIFACTS, CB_ROLE),
    s3_object(BUILD_ROLE, "s3:GetObject s3:PutObject", ARTIFACT, ARTIFACTS_KEY, CB_ROLE),
    # `aws ecr get-login-password`, `docker push`, `aws ecr describe-images`. ECR encrypts the
    # layers with its own grant on the key: the pusher needs no KMS permission.
    # https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html
    row(BUILD_ROLE, "ecr:GetAuthorizationToken", "*", f"{ECR}/image-push-iam.html"),
    row(BUILD_ROLE, PUSH, IMAGES, f"{ECR}/image-push-iam.html"),
    row(BUILD_ROLE, "ecr:DescribeImages", IMAGES, ECR_ACTIONS),
)

APPROVAL_STAGE = stage(
    "approval",
    row(PIPELINE_ROLE, "sns:Publish", TOPIC_ARN, f"{CP}/approvals-service-role-permissions.html"),
    topic_key(PIPELINE_ROLE, SNS_SEND, via="sns"),
    when=MANUAL_APPROVAL,
)

DEPLOY_STAGE = stage(
    "deploy",
    row(PIPELINE_ROLE, "lambda:InvokeFunction", FUNCTION_ARN, CP_LAMBDA),
    row("lambda.amazonaws.com", "sts:AssumeRole", DEPLOY_ROLE, f"{LAMBDA}/{EXECUTION_ROLE_DOC}"),
    log_writes(DEPLOY_ROLE, "deploy-logs", f"{LAMBDA}/monitoring-cloudwatchlogs.html"),
    row(
        DEPLOY_ROLE,
        "xray:PutTraceSegments xray:PutTelemetryRecords",
        "*",
        f"{LAMBDA}/services-xray.html",
    ),
    # The input artifact is read with the job's artifact credentials: the pipeline role's.
    s3_object(PIPELINE_ROLE, "s3:GetObject", ARTIFACT, ARTIFACTS_KEY, f"{CP}/{JOB_ARTIFACTS}"),
    row(DEPLOY_ROLE, JOB_RESULTS, "*", CP_LAMBDA),
    row(DEPLOY_ROLE, SCAN, IMAGES, ECR_ACTIONS),
    # With enhanced (Inspector) scanning, DescribeImageScanFindings needs this too.
    row(DEPLOY_ROLE, "inspector2:ListFindings", "*", f"{ECR}/image-scanning-enhanced-iam.html"),
    row(DEPLOY_ROLE, "ecr:BatchGetImage ecr:PutImage", IMAGES, f"{ECR}/image-retag.html"),
    row(DEPLOY_ROLE, "ssm:GetParameter ssm:PutParameter", RELEASE, PARAMETERS),
    row(DEPLOY_ROLE, "sns:Publish", TOPIC_ARN, SNS_SEND),
    topic_key(DEPLOY_ROLE, SNS_SEND, via="sns"),
    # CodePipeline invokes the function asynchronously: a failed invocation goes to the
    # on-failure destination, sent with the execution role.
    row(DEPLOY_ROLE, "sqs:SendMessage", DEPLOY_DLQ, f"{LAMBDA}/invocation-async.html"),
    key_use(
        DEPLOY_ROLE,
        "kms:GenerateDataKey kms:Decrypt",
        Ref(QUEUE, "deploy-dlq", attr="kmsMasterKeyId"),
        ("aws:sqs:arn", DEPLOY_DLQ),
        f"{SQS_KEY}#send-to-encrypted-queue",
        via="sqs",
    ),
)

ROLLOUT = stage(
    "rollout",
    row(DEPLOY_ROLE, "ecs:DescribeTaskDefinition ecs:RegisterTaskDefinition", "*", ECS_ACTIONS),
    row(DEPLOY_ROLE, "ecs:UpdateService ecs:DescribeServices", ROLLOUT_SERVICE, ECS_ACTIONS),
    *(
        row(DEPLOY_ROLE, "iam:PassRole", r, PASSED_TO, {"iam:PassedToService": ECS_TASKS})
        for r in TASK_ROLES
    ),
    # ECS's agent (execution role) and the task (task role): no source keys are documented.
    *(row(ECS_TASKS, "sts:AssumeRole", r, EXECUTION) for r in TASK_ROLES),
    row(EXECUTION_ROLE, "ecr:GetAuthorizationToken", "*", EXECUTION),
    row(EXECUTION_ROLE, PULL, IMAGES, EXECUTION),
    log_writes(EXECUTION_ROLE, "service-logs", EXECUTION),
    when=ECS_SERVICE,
)

NOTIFY = stage(
    "notify",
    # The topic policy checks the rule's aws:SourceArn, which EventBridge sends to SNS...
    row(EVENTS, "sns:Publish", TOPIC_ARN, f"{EB}/{SNS_TARGET}", sent_for(STATE_RULE)),
    # ...but not to the KMS calls SNS makes for it on the encrypted topic: a key-policy
    # condition on aws:SourceArn/aws:SourceAccount drops every notification (TAP-AWS-001).
    topic_key(EVENTS, f"{SNS_KEY}#compatibility-with-aws-services"),
    dead_letter(STATE_RULE),
)

ACCESS_LOGS = stage(
    "logs",
    # S3's logging service sends the logged bucket's ARN and account.
    row(S3_LOGGING, "s3:PutObject", ACCESS_LOG, ACCESS_LOGGING, sent_for(ARTIFACTS)),
    only(S3_SOURCE, row(S3_LOGGING, "s3:PutObject", ACCESS_LOG, ACCESS_LOGGING, sent_for(SOURCE))),
)

TABLE: tuple[Call, ...] = (
    *TRIGGER,
    *SOURCE_STAGE,
    *BUILD_STAGE,
    *APPROVAL_STAGE,
    *DEPLOY_STAGE,
    *ROLLOUT,
    *NOTIFY,
    *ACCESS_LOGS,
)
"""Every call of the pipeline's known path, in the order ``tap run`` makes them."""
