"""gate: a role session's calls to the emulator are authorized, with the KMS and PassRole calls
AWS makes for them, before moto sees them; the emulator's own keys are not checked."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from werkzeug.test import EnvironBuilder

from tap_cicd.access import paths
from tap_cicd.local.services import gate, iam

from .conftest import client, post, service_role

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROOT = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
DELEGATE = {"Sid": "Iam", "Effect": "Allow", "Principal": ROOT, "Action": "kms:*", "Resource": "*"}
SILENT = {**DELEGATE, "Sid": "Describe", "Action": "kms:Describe*"}
LOGS = f"logs.{REGION}.amazonaws.com"
LOGS_API = "Logs_20140328"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str, resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def session(live: str, *statements: dict[str, Any]) -> iam.Session:
    document = policy(*statements) if statements else None
    role = service_role(live, "caller", "codebuild.amazonaws.com", document)
    return iam.assume("codebuild.amazonaws.com", role, REGION, "s1")


def regrant(live: str, *statements: dict[str, Any]) -> None:
    """Replace the caller role's inline policy (each call reads it afresh)."""
    document = json.dumps(policy(*statements))
    client(live, "iam").put_role_policy(
        RoleName="caller", PolicyName="inline", PolicyDocument=document
    )


def via(action: str, service: str, context: str, value: str) -> dict[str, Any]:
    """``action`` on any key, when ``service`` uses it with ``value`` as its context."""
    equals = {"kms:ViaService": f"{service}.{REGION}.amazonaws.com", context: value}
    return allow(action, Condition={"StringEquals": equals})


def key(live: str, *statements: dict[str, Any]) -> str:
    created = client(live, "kms").create_key(Policy=json.dumps(policy(*statements)))
    return str(created["KeyMetadata"]["Arn"])


def refused(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    """The error code and message of a call the gate refuses."""
    with pytest.raises(ClientError) as raised:
        call(**params)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def kms_bucket(live: str, name: str, key_arn: str, *, bucket_key: bool = False) -> None:
    s3 = client(live, "s3")
    s3.create_bucket(Bucket=name)
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    rule = {"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": bucket_key}
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [rule]})


def test_s3_refuses_a_put_the_buckets_key_policy_does_not_allow(live: str) -> None:
    caller = session(live, allow("s3:*"), allow("kms:*"))
    silent = key(live, SILENT)
    kms_bucket(live, "artifacts", silent)
    code, text = refused(caller.client("s3").put_object, Bucket="artifacts", Key="a", Body=b"x")
    assert code == "AccessDenied"
    assert f"User: {caller.arn} is not authorized to perform: kms:GenerateDataKey" in text
    assert f"on resource: {silent} because" in text and "key policy" in text
    # The emulator's own keys stand for an administrator: not checked.
    client(live, "s3").put_object(Bucket="artifacts", Key="a", Body=b"x")
    assert client(live, "s3").get_object(Bucket="artifacts", Key="a")["Body"].read() == b"x"


def test_s3_encryption_context_is_the_bucket_with_a_bucket_key_else_the_object(live: str) -> None:
    context = "kms:EncryptionContext:aws:s3:arn"
    scoped = via("kms:GenerateDataKey", "s3", context, "arn:aws:s3:::artifacts")
    caller = session(live, allow("s3:*"), scoped)
    delegating = key(live, DELEGATE)
    kms_bucket(live, "artifacts", delegating, bucket_key=True)
    s3 = caller.client("s3")
    s3.put_object(Bucket="artifacts", Key="a", Body=b"x")
    # Reading it back needs kms:Decrypt; its metadata does not.
    code, text = refused(s3.get_object, Bucket="artifacts", Key="a")
    assert code == "AccessDenied" and "kms:Decrypt" in text and delegating in text
    assert s3.head_object(Bucket="artifacts", Key="a")["SSEKMSKeyId"] == delegating
    regrant(live, allow("s3:*"), scoped, allow("kms:Decrypt", delegating))
    assert s3.get_object(Bucket="artifacts", Key="a")["Body"].read() == b"x"
    # Without the bucket key the context is the object's ARN: the condition fails.
    kms_bucket(live, "artifacts", delegating)
    code, text = refused(s3.put_object, Bucket="artifacts", Key="b", Body=b"x")
    assert code == "AccessDenied" and "kms:GenerateDataKey" in text
    assert "kms:EncryptionContext:aws:s3:arn" in text


def test_s3_a_requests_kms_key_needs_the_key_and_other_encryption_nothing(live: str) -> None:
    caller = session(live, allow("s3:*"), allow("kms:*"))
    silent = key(live, SILENT)
    client(live, "s3").create_bucket(Bucket="plain")
    kms_bucket(live, "artifacts", silent)
    s3 = caller.client("s3")
    sse = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": silent}
    code, text = refused(s3.put_object, Bucket="plain", Key="a", Body=b"x", **sse)
    assert code == "AccessDenied" and "kms:GenerateDataKey" in text and silent in text
    code, text = refused(s3.create_multipart_upload, Bucket="plain", Key="m", **sse)
    assert code == "AccessDenied" and silent in text
    code, _ = refused(s3.copy_object, Bucket="plain", Key="c", CopySource="plain/x", **sse)
    assert code == "AccessDenied"
    # SSE-S3 (even asked of a bucket with a KMS default), and S3's AWS managed key (no key
    # id): no KMS permission to check.
    s3.put_object(Bucket="artifacts", Key="aes", Body=b"x", ServerSideEncryption="AES256")
    s3.put_object(Bucket="plain", Key="managed", Body=b"x", ServerSideEncryption="aws:kms")
    assert s3.get_object(Bucket="artifacts", Key="aes")["Body"].read() == b"x"
    assert s3.get_object(Bucket="plain", Key="managed")["Body"].read() == b"x"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="plain")["Contents"]] == ["managed"]
    with pytest.raises(ClientError, match="NoSuchKey"):
        s3.get_object(Bucket="plain", Key="none")
    # A missing bucket is moto's to report, not the gate's.
    with pytest.raises(ClientError, match="NoSuchBucket"):
        s3.put_object(Bucket="missing", Key="a", Body=b"x")
    assert len(post(live, "/_tap/iam/denials")["denials"]) == 3


def test_s3_reading_an_older_version_needs_that_versions_key(live: str) -> None:
    caller = session(live, allow("s3:*"), allow("kms:*"))
    silent = key(live, SILENT)
    s3 = client(live, "s3")
    s3.create_bucket(Bucket="versions")
    s3.put_bucket_versioning(Bucket="versions", VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(
        Bucket="versions", Key="a", Body=b"old", ServerSideEncryption="aws:kms", SSEKMSKeyId=silent
    )["VersionId"]
    s3.put_object(Bucket="versions", Key="a", Body=b"new")  # the latest: not encrypted
    assert caller.client("s3").get_object(Bucket="versions", Key="a")["Body"].read() == b"new"
    code, text = refused(caller.client("s3").get_object, Bucket="versions", Key="a", VersionId=old)
    assert code == "AccessDenied" and "kms:Decrypt" in text and silent in text


def test_s3_a_part_needs_no_key_once_the_upload_is_started(live: str) -> None:
    caller = session(live, allow("s3:*"))
    delegating = key(live, DELEGATE)
    kms_bucket(live, "artifacts", delegating)
    s3 = caller.client("s3")
    code, text = refused(s3.create_multipart_upload, Bucket="artifacts", Key="m")
    assert code == "AccessDenied" and "kms:GenerateDataKey" in text
    regrant(live, allow("s3:*"), allow("kms:GenerateDataKey"))
    upload = s3.create_multipart_upload(Bucket="artifacts", Key="m")["UploadId"]
    regrant(live, allow("s3:*"))
    part = s3.upload_part(Bucket="artifacts", Key="m", UploadId=upload, PartNumber=1, Body=b"x")
    assert part["ETag"]
    # Completing it decrypts the parts: kms:Decrypt on the key the upload began with.
    parts = {"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]}
    done = {"Bucket": "artifacts", "Key": "m", "UploadId": upload, "MultipartUpload": parts}
    code, text = refused(s3.complete_multipart_upload, **done)
    assert code == "AccessDenied" and "kms:Decrypt" in text and delegating in text
    regrant(live, allow("s3:*"), allow("kms:Decrypt"))
    assert s3.complete_multipart_upload(**done)["Key"] == "m"


def test_sns_publishing_to_an_encrypted_topic_uses_its_key(live: str) -> None:
    sns = client(live, "sns")
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:encrypted"
    context = "kms:EncryptionContext:aws:sns:topicArn"
    encrypt = via("kms:GenerateDataKey", "sns", context, topic_arn)
    caller = session(live, allow("sns:*"), encrypt, via("kms:Decrypt", "sns", context, topic_arn))
    silent = key(live, SILENT)
    refusing = sns.create_topic(Name="refusing", Attributes={"KmsMasterKeyId": silent})
    code, text = refused(caller.client("sns").publish, TopicArn=refusing["TopicArn"], Message="m")
    assert code == "AuthorizationError" and "kms:GenerateDataKey" in text and silent in text
    delegating = key(live, DELEGATE)
    encrypted = sns.create_topic(Name="encrypted", Attributes={"KmsMasterKeyId": delegating})
    plain = sns.create_topic(Name="plain")
    for topic in (encrypted, plain):
        assert caller.client("sns").publish(TopicArn=topic["TopicArn"], Message="m")["MessageId"]
    regrant(live, allow("sns:*"), encrypt)
    code, text = refused(caller.client("sns").publish, TopicArn=encrypted["TopicArn"], Message="m")
    assert code == "AuthorizationError" and "kms:Decrypt" in text
    # A topic that is not there: SNS says so, not the gate.
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT}:missing"
    code, _ = refused(caller.client("sns").publish, TopicArn=missing, Message="m")
    assert code == "NotFound"


def test_sqs_sending_needs_the_key_to_encrypt_and_receiving_to_decrypt(live: str) -> None:
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:encrypted"
    encrypt, decrypt = (
        via(action, "sqs", "kms:EncryptionContext:aws:sqs:arn", queue_arn)
        for action in ("kms:GenerateDataKey", "kms:Decrypt")
    )
    caller = session(live, allow("sqs:*"), decrypt)
    silent = key(live, SILENT)
    delegating = key(live, DELEGATE)
    sqs = client(live, "sqs")
    refusing = sqs.create_queue(QueueName="refusing", Attributes={"KmsMasterKeyId": silent})
    queue = sqs.create_queue(QueueName="encrypted", Attributes={"KmsMasterKeyId": delegating})
    own = caller.client("sqs")
    code, text = refused(own.send_message, QueueUrl=refusing["QueueUrl"], MessageBody="m")
    assert code == "AccessDenied" and silent in text
    code, text = refused(own.send_message, QueueUrl=queue["QueueUrl"], MessageBody="m")
    assert code == "AccessDenied" and "kms:GenerateDataKey" in text and delegating in text
    sqs.send_message(QueueUrl=queue["QueueUrl"], MessageBody="m")
    received = own.receive_message(QueueUrl=queue["QueueUrl"])["Messages"]
    assert [message["Body"] for message in received] == ["m"]
    regrant(live, allow("sqs:*"), decrypt, encrypt)
    own.send_message(QueueUrl=queue["QueueUrl"], MessageBody="m")
    batch = [{"Id": "1", "MessageBody": "m"}]
    sent = own.send_message_batch(QueueUrl=queue["QueueUrl"], Entries=batch)
    assert [entry["Id"] for entry in sent["Successful"]] == ["1"]
    plain = sqs.create_queue(QueueName="plain")["QueueUrl"]
    regrant(live, allow("sqs:*"))
    own.send_message(QueueUrl=plain, MessageBody="m")


def test_logs_encrypts_a_group_as_its_own_principal_under_the_key_policy(live: str) -> None:
    caller = session(live, allow("logs:*"))
    delegating = key(live, DELEGATE)
    logs = client(live, "logs")
    logs.create_log_group(logGroupName="/build/app", kmsKeyId=delegating)
    logs.create_log_stream(logGroupName="/build/app", logStreamName="s")
    events = [{"timestamp": 1_700_000_000_000, "message": "hello"}]
    put = {"logGroupName": "/build/app", "logStreamName": "s", "logEvents": events}
    code, text = refused(caller.client("logs").put_log_events, **put)
    assert code == "AccessDeniedException"
    assert text.startswith(f"User: {LOGS} is not authorized to perform: kms:GenerateDataKey")
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/build/app"
    logs_may = {
        "Sid": "Logs",
        "Effect": "Allow",
        "Principal": {"Service": LOGS},
        "Action": "kms:GenerateDataKey",
        "Resource": "*",
        "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group}},
    }
    client(live, "kms").put_key_policy(
        KeyId=delegating, PolicyName="default", Policy=json.dumps(policy(DELEGATE, logs_may))
    )
    caller.client("logs").put_log_events(**put)
    logs.create_log_group(logGroupName="plain")
    logs.create_log_stream(logGroupName="plain", logStreamName="s")
    caller.client("logs").put_log_events(logGroupName="plain", logStreamName="s", logEvents=events)


def test_ecs_registering_a_task_definition_passes_its_roles(live: str) -> None:
    caller = session(live, allow("ecs:*"))
    execution = service_role(live, "execution", "ecs-tasks.amazonaws.com")
    task_role = service_role(live, "task", "ecs-tasks.amazonaws.com")
    task = {
        "family": "app",
        "executionRoleArn": execution,
        "taskRoleArn": task_role,
        "containerDefinitions": [{"name": "app", "image": "app:1", "memory": 128}],
    }
    code, text = refused(caller.client("ecs").register_task_definition, **task)
    assert code == "AccessDeniedException"
    assert f"perform: iam:PassRole on resource: {execution} because" in text
    passed = {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    regrant(live, allow("ecs:*"), allow("iam:PassRole", execution, Condition=passed))
    code, text = refused(caller.client("ecs").register_task_definition, **task)
    assert f"perform: iam:PassRole on resource: {task_role} because" in text
    regrant(live, allow("ecs:*"), allow("iam:PassRole", [execution, task_role], Condition=passed))
    found = caller.client("ecs").register_task_definition(**task)["taskDefinition"]
    assert (found["executionRoleArn"], found["taskRoleArn"]) == (execution, task_role)
    wrong = {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    regrant(live, allow("ecs:*"), allow("iam:PassRole", [execution, task_role], Condition=wrong))
    code, text = refused(caller.client("ecs").register_task_definition, **task)
    assert f"iam:PassRole on resource: {execution}" in text and "iam:PassedToService" in text


def test_refusals_are_recorded_in_order_until_reset(live: str) -> None:
    caller = session(live, allow("sns:ListTopics"))
    assert post(live, "/_tap/iam/denials") == {"denials": []}
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:t"
    for call, params in (
        (caller.client("s3").list_buckets, {}),
        (caller.client("sns").publish, {"TopicArn": topic, "Message": "m"}),
    ):
        refused(call, **params)
    caller.client("sns").list_topics()
    found = post(live, "/_tap/iam/denials")["denials"]
    reason = "no statement of the identity policy allows it"
    assert [(d["principal"], d["action"], d["resource"], d["reason"]) for d in found] == [
        (caller.arn, "s3:ListAllMyBuckets", "*", reason),
        (caller.arn, "sns:Publish", topic, reason),
    ]
    assert found[1]["message"] == (
        f"User: {caller.arn} is not authorized to perform: sns:Publish on resource: {topic}"
        f" because {reason}"
    )
    assert post(live, "/_tap/reset") == {}
    assert post(live, "/_tap/iam/denials") == {"denials": []}


def signed(live: str, target: str, keys: iam.Session) -> urllib.request.Request:
    """A CloudWatch Logs JSON-protocol POST signed with the session's keys."""
    url = f"{live}/"
    own = keys.credentials
    credentials = Credentials(own.access_key, own.secret_key, own.token)
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    request = AWSRequest("POST", url, data=b"{}", headers=headers)
    SigV4Auth(credentials, "logs", REGION).add_auth(request)
    return urllib.request.Request(  # noqa: S310 - a loopback URL
        url, data=b"{}", headers=dict(request.headers.items()), method="POST"
    )


def test_what_the_gate_cannot_identify_reaches_moto_unchecked(live: str) -> None:
    caller = session(live)  # a role with no policy: whatever the gate checks, it refuses
    client(live, "logs").create_log_group(logGroupName="build")
    with pytest.raises(urllib.error.HTTPError) as answer:
        request = signed(live, f"{LOGS_API}.DescribeLogGroups", caller)
        urllib.request.urlopen(request, timeout=30)  # noqa: S310 - a loopback URL
    assert answer.value.code == 400 and b"AccessDeniedException" in answer.value.read()
    # A target prefix botocore does not know: no call the gate can name, yet moto answers it.
    request = signed(live, "Unknown_20140328.DescribeLogGroups", caller)
    with urllib.request.urlopen(request, timeout=30) as found:  # noqa: S310 - a loopback URL
        assert [group["logGroupName"] for group in json.load(found)["logGroups"]] == ["build"]
    # GetCallerIdentity needs no permission at all.
    assert caller.client("sts").get_caller_identity()["Arn"] == caller.arn
    assert [d["action"] for d in post(live, "/_tap/iam/denials")["denials"]] == [
        "logs:DescribeLogGroups"
    ]
    gate.install()  # nothing to patch: app.Application puts the gate in front of moto


def environ(authorization: str | None, method: str = "GET", **extra: Any) -> dict[str, Any]:
    headers = [("Authorization", authorization)] if authorization else []
    return dict(EnvironBuilder(path="/", method=method, headers=headers, **extra).get_environ())


def s3_authorization(caller: iam.Session) -> str:
    """A SigV4 ``Authorization`` header naming the session's key (the gate reads, not checks,
    the signature)."""
    scope = f"{caller.credentials.access_key}/20240101/{REGION}/s3/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=x"


class Moto:
    """A stand-in for moto behind the gate: what reached it, and the answers' statuses."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.statuses: list[str] = []

    def __call__(self, env: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        self.bodies.append(env["wsgi.input"].read())
        start("200 OK", [])
        return [b"moto"]

    def start(self, status: str, _headers: list[tuple[str, str]]) -> None:
        self.statuses.append(status)


def test_the_gate_in_front_of_an_application(live: str) -> None:
    caller = session(live, allow("s3:ListAllMyBuckets"))
    moto = Moto()
    step = gate.Gate(moto)
    authorization = s3_authorization(caller)
    assert list(step(environ(None), moto.start)) == [b"moto"]  # unsigned
    assert list(step(environ(authorization), moto.start)) == [b"moto"]  # ListBuckets, no body
    other = authorization.replace("/s3/", "/nosuchservice/")
    assert list(step(environ(other, data=b"kept"), moto.start)) == [b"moto"]  # unidentified
    assert moto.bodies == [b"", b"", b"kept"]
    regrant(live, allow("s3:GetObject"))
    answer = b"".join(step(environ(authorization), moto.start))
    assert moto.statuses[-1] == "403 Forbidden" and b"<Code>AccessDenied</Code>" in answer
    assert len(moto.bodies) == 3


def test_a_sessions_chunked_body_reaches_moto(live: str) -> None:
    caller = session(live, allow("s3:*"))
    moto = Moto()
    env = environ(s3_authorization(caller), method="PUT", data=b"kept")
    env["PATH_INFO"] = "/bucket/key"
    del env["CONTENT_LENGTH"]
    env["wsgi.input_terminated"] = True  # how werkzeug and gunicorn pass a dechunked body
    list(gate.Gate(moto)(env, moto.start))
    assert moto.bodies == [b"kept"]


def test_the_implied_calls_send_the_keys_of_the_paths_tables_rows() -> None:
    """One table (``access.paths``): the keys the gate sends on each implied call are the keys
    the row for that call lists."""
    rows: dict[tuple[str, str], set[frozenset[str]]] = {}
    for call in paths.TABLE:
        via_service = str(call.context.get("kms:ViaService", "")).split(".")[0]
        where = via_service or ("logs" if str(call.principal).startswith("logs.") else "")
        if call.action.startswith(("kms:", "iam:PassRole")) and call.action != "sts:AssumeRole":
            rows.setdefault((call.action, where), set()).add(frozenset(call.context))
    for service, context in (("s3", "aws:s3:arn"), ("sns", "aws:sns:topicArn")):
        [sent] = gate._key_use(("kms:GenerateDataKey",), "k", f"{service}.x", (context, "v"), "1")
        assert frozenset(sent.context) in rows[("kms:GenerateDataKey", service)]
    [sqs] = gate._key_use(("kms:Decrypt",), "k", "sqs.x", ("aws:sqs:arn", "v"), "1")
    assert frozenset(sqs.context) in rows[("kms:Decrypt", "sqs")]
    assert {frozenset({"kms:EncryptionContext:aws:logs:arn"})} == rows[
        ("kms:GenerateDataKey", "logs")
    ]
    assert {frozenset({"iam:PassedToService"})} == rows[("iam:PassRole", "")]


def test_s3_a_writes_encryption_headers_are_the_condition_keys_policies_test(live: str) -> None:
    sealed_only = allow(
        "s3:PutObject",
        Condition={"StringEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
    )
    own = session(live, sealed_only).client("s3")
    client(live, "s3").create_bucket(Bucket="artifacts")
    code, text = refused(own.put_object, Bucket="artifacts", Key="plain", Body=b"x")
    assert code == "AccessDenied" and "tests s3:x-amz-server-side-encryption" in text
    own.put_object(Bucket="artifacts", Key="sealed", Body=b"x", ServerSideEncryption="aws:kms")


def test_a_secret_named_by_its_name_is_authorized_on_its_own_arn(live: str) -> None:
    arn = client(live, "secretsmanager").create_secret(Name="db", SecretString="s3cret")["ARN"]
    prefix = arn.rsplit("-", 1)[0]
    caller = session(live, allow("secretsmanager:GetSecretValue", f"{prefix}-??????"))
    secrets = caller.client("secretsmanager")
    assert secrets.get_secret_value(SecretId="db")["SecretString"] == "s3cret"
    assert secrets.get_secret_value(SecretId=arn)["SecretString"] == "s3cret"
    code, _text = refused(secrets.get_secret_value, SecretId="other")
    assert code == "AccessDeniedException"
