"""The emulator's authorization step: every AWS call made with a role session's credentials is
authorized as AWS would before moto sees it, and a refusal gets AWS's access-denied answer.

The call's IAM action and resource come from ``operations``, with the condition keys its
request sets (S3's encryption headers); the calls AWS makes for it on the caller's behalf or its
own (a service using an encrypted resource's KMS key, passing a role) are ``implied``, with the
keys AWS sends on them (those of ``tap_cicd.access.paths``' rows for such calls: a test holds
them to it). Calls made with the emulator's own keys pass unchecked. Each refusal is kept for
``/_tap/iam/denials`` (``iam.record``).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.logs.models import logs_backends
from moto.s3.models import s3_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.utilities.arns import parse_arn

from tap_cicd.local.services import denials, iam, operations
from tap_cicd.local.services.operations import Access, Operation

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Implied:
    """A call AWS makes for the caller's one: as the caller (``service`` empty) or as the
    service's own principal on a key."""

    action: str
    resource: str
    context: dict[str, str]
    service: str = ""


def _key_use(
    actions: tuple[str, ...], key_id: str, via: str, context: tuple[str, str], account: str
) -> list[Implied]:
    """A service using a key for the caller: ``kms:ViaService``, ``kms:CallerAccount`` and the
    service's encryption context. https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
    """
    keys = {
        f"kms:EncryptionContext:{context[0]}": context[1],
        "kms:ViaService": via,
        "kms:CallerAccount": account,
    }
    return [Implied(action, key_id, dict(keys)) for action in actions]


def _s3(operation: Operation, access: Access, session: iam.Session) -> list[Implied]:
    """S3 encrypts a new object with the bucket's or the request's KMS key, and decrypts an
    encrypted object it returns, as the caller; with an S3 Bucket Key the encryption context is
    the bucket's ARN, else the object's.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#encryption-context
    """
    bucket_name, _, key_name = access.resource.split(":::", 1)[1].partition("/")
    bucket = s3_backends[session.account][iam.PARTITION].get_bucket(bucket_name)
    via = f"s3.{session.region}.amazonaws.com"
    default = (bucket.encryption or {}).get("Rule", {})
    by_default = default.get("ApplyServerSideEncryptionByDefault", {})
    if operation.name == "CompleteMultipartUpload":
        # S3 decrypts the parts to complete the upload, with the key the upload began with:
        # https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions
        upload = bucket.multiparts[operation.params["UploadId"]]
        algorithm = upload.sse_encryption or by_default.get("SSEAlgorithm")
        key_id = upload.kms_key_id or by_default.get("KMSMasterKeyID")
        bucket_key = str(default.get("BucketKeyEnabled") or "")
        used: tuple[str, ...] = ("kms:Decrypt",)
    elif access.action == "s3:PutObject" and operation.name not in _PARTS:
        algorithm = operation.params.get("ServerSideEncryption") or by_default.get("SSEAlgorithm")
        key_id = operation.params.get("SSEKMSKeyId") or by_default.get("KMSMasterKeyID")
        bucket_key = str(
            operation.params.get("BucketKeyEnabled") or default.get("BucketKeyEnabled") or ""
        )
        used = ("kms:GenerateDataKey",)
    elif access.action in {"s3:GetObject", "s3:GetObjectVersion"} and operation.name != (
        "HeadObject"
    ):
        backend = s3_backends[session.account][iam.PARTITION]
        found = backend.get_object(
            bucket_name, key_name, version_id=operation.params.get("VersionId")
        )
        algorithm = getattr(found, "encryption", None)
        key_id = getattr(found, "kms_key_id", None)
        bucket_key = str(getattr(found, "bucket_key_enabled", None) or "")
        used = ("kms:Decrypt",)
    else:
        return []
    if not str(algorithm or "").startswith("aws:kms") or not key_id:  # aws:kms, aws:kms:dsse
        return []  # not KMS, or S3's AWS managed key (whose policy tap cannot see)
    arn = f"arn:aws:s3:::{bucket_name}"
    context = arn if bucket_key.lower() == "true" else f"{arn}/{key_name}"
    return _key_use(used, key_id, via, ("aws:s3:arn", context), session.account)


_PARTS = frozenset({"UploadPart", "UploadPartCopy"})
"""A part is encrypted with the data key its upload began with: no key use of its own."""


def _messaging(access: Access, session: iam.Session) -> list[Implied]:
    """Publishing to an encrypted topic, sending to (receiving from) an encrypted queue: SNS and
    SQS use the key for the caller, the topic's or queue's ARN as the encryption context.
    https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#send-to-encrypted-topic
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html#send-to-encrypted-queue
    """
    arn = parse_arn(access.resource)
    found: Any
    if arn.service == "sns":
        found = sns_backends[arn.account][arn.region].get_topic(access.resource)
        context = "aws:sns:topicArn"
    else:
        found = sqs_backends[arn.account][arn.region].get_queue(arn.resource_id)
        context = "aws:sqs:arn"
    key_id = getattr(found, "kms_master_key_id", None)
    if not key_id:
        return []
    reading = access.action == "sqs:ReceiveMessage"
    actions = ("kms:Decrypt",) if reading else ("kms:GenerateDataKey", "kms:Decrypt")
    via = f"{arn.service}.{session.region}.amazonaws.com"
    return _key_use(actions, key_id, via, (context, access.resource), session.account)


def _log_group(access: Access) -> list[Implied]:
    """CloudWatch Logs encrypts what is written to a group with the group's key, as its own
    service principal, the group's ARN as the encryption context.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
    """
    arn = parse_arn(access.resource)
    group_name = arn.resource_id.split(":log-stream:")[0]
    group_arn = access.resource.split(":log-stream:")[0]
    group = logs_backends[arn.account][arn.region].groups.get(group_name)
    key_id = getattr(group, "kms_key_id", None)
    if not key_id:
        return []
    service = f"logs.{arn.region}.amazonaws.com"
    context = {"kms:EncryptionContext:aws:logs:arn": group_arn}
    return [Implied("kms:GenerateDataKey", key_id, context, service)]


def _passed_roles(operation: Operation) -> list[Implied]:
    """A task definition's roles are passed to ECS's tasks.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_PassedToService
    """
    roles = [operation.params.get(name) for name in ("executionRoleArn", "taskRoleArn")]
    passed = {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    return [Implied("iam:PassRole", str(role), dict(passed)) for role in roles if role]


def implied(operation: Operation, access: Access, session: iam.Session) -> list[Implied]:
    """What AWS also authorizes for ``access`` (nothing when the resource is not there: the
    call itself reports that)."""
    service = access.action.partition(":")[0]
    finder = _IMPLIED.get(service if service == "s3" else access.action)
    if finder is None:
        return []
    try:
        return finder(operation, access, session)
    except Exception:  # noqa: BLE001 - a missing bucket, topic, queue or group
        return []


_IMPLIED: dict[str, Callable[[Operation, Access, iam.Session], list[Implied]]] = {
    "s3": _s3,
    "sns:Publish": lambda _operation, access, session: _messaging(access, session),
    **dict.fromkeys(
        ("sqs:SendMessage", "sqs:ReceiveMessage"),
        lambda _operation, access, session: _messaging(access, session),
    ),
    "logs:PutLogEvents": lambda _operation, access, _session: _log_group(access),
    "ecs:RegisterTaskDefinition": lambda operation, _access, _session: _passed_roles(operation),
}
"""The calls whose resource (or request) may need another authorized, by action or service."""


def check(operation: Operation, session: iam.Session) -> None:
    """Authorize ``operation`` made as ``session``, and what AWS makes for it: ``Denied`` if AWS
    would refuse any of it."""
    for access in operations.accesses(operation, session.account, session.region):
        resource = _secret(access.resource, session)
        iam.authorize(session, access.action, resource, _request_keys(operation, access))
        for call in implied(operation, access, session):
            if call.service:
                where = (session.account, session.region)
                iam.authorize_service(
                    call.service, call.action, call.resource, where=where, context=call.context
                )
            else:
                iam.authorize(session, call.action, call.resource, call.context)


S3_ENCRYPTION_KEYS = {
    "ServerSideEncryption": "s3:x-amz-server-side-encryption",
    "SSEKMSKeyId": "s3:x-amz-server-side-encryption-aws-kms-key-id",
}
"""A write's encryption headers, as the condition keys a bucket policy tests (CodePipeline's
documented artifact-bucket policy denies uploads without ``aws:kms``).
https://docs.aws.amazon.com/AmazonS3/latest/userguide/specifying-kms-encryption.html"""


def _request_keys(operation: Operation, access: Access) -> dict[str, str]:
    """The service-specific condition keys the request itself sets."""
    if access.action != "s3:PutObject":
        return {}
    found = {key: operation.params.get(member) for member, key in S3_ENCRYPTION_KEYS.items()}
    return {key: str(value) for key, value in found.items() if value}


def _secret(resource: str, session: iam.Session) -> str:
    """A secret named by its name has an ARN AWS ends with six random characters, which
    policies match (``<name>-??????``): the secret's own ARN, when the emulator holds it."""
    if not resource.startswith("arn:aws:secretsmanager:"):
        return resource
    backend = secretsmanager_backends[session.account][session.region]
    try:
        return str(backend.describe_secret(resource.rsplit(":secret:", 1)[1]).arn)
    except Exception:  # noqa: BLE001 - no such secret: the call itself says so
        return resource


ROUTES = {"iam/denials": iam.denials_seen}
"""``/_tap/iam/denials``: every call refused so far (``iam.record``), oldest first."""


def reset() -> None:
    """Forget the refusals."""
    iam.forget()


def install() -> None:
    """Nothing to patch: ``app.Application`` puts ``Gate`` in front of moto."""


def _body(environ: dict[str, Any]) -> bytes:
    """The request's body, left readable for moto (a chunked one ends where the server says)."""
    stream, length = environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        body = bytes(stream.read(length))
    else:
        body = bytes(stream.read()) if environ.get("wsgi.input_terminated") else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


class Gate:
    """A WSGI step in front of ``app``: a role session's calls are authorized first."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        found = operations.credentials(environ)
        session = iam.session_of(found[0], found[1]) if found is not None else None
        if session is None:
            return self.app(environ, start_response)
        operation = operations.identify(environ, _body(environ))
        if operation is None:
            return self.app(environ, start_response)
        try:
            check(operation, session)
        except iam.Denied as denied:
            status, headers, payload = denials.access_denied(operation, str(denied))
            start_response(status, headers)
            return [payload]
        return self.app(environ, start_response)
