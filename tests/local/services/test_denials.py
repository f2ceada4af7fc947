"""denials: AWS's access-denied answer, read back by botocore as the SDKs and the CLI read it.

Each refusal is rendered for a request boto3 built, then handed to the same client as the
response (nothing reaches the network): the client must raise ``ClientError`` with the
service's code and the message.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import RpcV2CBORParser, create_parser

from tap_cicd.local.services import denials
from tap_cicd.local.services.denials import access_denied, message
from tap_cicd.local.services.operations import Operation, identify, service_model

from .test_operations import KEY, REGION, recorder, sent

PRINCIPAL = "arn:aws:sts::111122223333:assumed-role/deploy/session"
TEXT = message(PRINCIPAL, "s3:GetObject", "arn:aws:s3:::artifacts/k", "no identity-based policy")
TOPIC = "arn:aws:sns:us-east-1:111122223333:releases"
CBOR = "smithy-rpc-v2-cbor"


def refused(service: str, method: str, /, **params: Any) -> tuple[ClientError, dict[str, str]]:
    """The error ``method`` raises when its request is answered with the access denial,
    and the denial's headers."""
    operation = identify(*sent(service, method, **params))
    assert operation is not None
    status, headers, body = access_denied(operation, TEXT)
    client = recorder(service)
    client.reply = (int(status.split()[0]), dict(headers), body)
    try:
        with pytest.raises(ClientError) as raised:
            getattr(client.client, method)(**params)
    finally:
        client.reply = None
    return raised.value, dict(headers)


# (service.method, params, code, HTTP status)
CASES: list[tuple[str, dict[str, Any], str, int]] = [
    ("s3.get_object", {"Bucket": "artifacts", "Key": "k"}, "AccessDenied", 403),
    ("s3.put_object", {"Bucket": "artifacts", "Key": "k", "Body": b"x"}, "AccessDenied", 403),
    ("sns.publish", {"TopicArn": TOPIC, "Message": "m"}, "AuthorizationError", 403),
    ("sqs.send_message", {"QueueUrl": "https://q/1/dlq", "MessageBody": "m"}, "AccessDenied", 400),
    ("codebuild.start_build", {"projectName": "app"}, "AccessDeniedException", 400),
    ("lambda.invoke", {"FunctionName": "deploy"}, "AccessDeniedException", 403),
    ("ecr.describe_images", {"repositoryName": "app"}, "AccessDeniedException", 400),
    ("kms.decrypt", {"CiphertextBlob": b"x"}, "AccessDeniedException", 400),
    ("logs.create_log_stream", {"logGroupName": "g", "logStreamName": "s"},
     "AccessDeniedException", 400),
    ("sts.assume_role", {"RoleArn": "arn:aws:iam::1:role/r", "RoleSessionName": "ss"},
     "AccessDenied", 403),
    ("inspector2.list_findings", {}, "AccessDeniedException", 403),
    ("xray.put_trace_segments", {"TraceSegmentDocuments": ["{}"]}, "AccessDeniedException", 403),
    ("ec2.describe_instances", {}, "UnauthorizedOperation", 403),
    ("eventbridgev2.describe_event_bus", {"EventBusArn": "arn:aws:events:us-east-1:1:event-bus/x"},
     "AccessDeniedException", 403),
]  # fmt: skip


@pytest.mark.parametrize(("method", "params", "code", "status"), CASES, ids=[c[0] for c in CASES])
def test_clients_raise_the_services_access_denied_error(
    method: str, params: dict[str, Any], code: str, status: int
) -> None:
    service, _, name = method.partition(".")
    error, headers = refused(service, name, **params)
    assert error.response["Error"]["Code"] == code
    assert error.response["Error"]["Message"] == TEXT
    metadata = error.response["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == status
    request_id = headers.get("x-amzn-RequestId") or headers["x-amz-request-id"]
    assert metadata["RequestId"] == request_id


def test_head_requests_have_no_body() -> None:
    # S3 answers HEAD with the status alone; botocore names the error after it.
    error, headers = refused("s3", "head_object", Bucket="artifacts", Key="k")
    assert (error.response["Error"]["Code"], error.response["Error"]["Message"]) == (
        "403",
        "Forbidden",
    )
    assert headers["Content-Type"] == "application/xml"


def test_json_denials_name_the_json_version_and_the_query_code() -> None:
    operation = identify(*sent("sqs", "list_queues"))
    assert operation is not None
    status, headers, body = access_denied(operation, TEXT)
    assert status == "400 Bad Request"
    assert ("Content-Type", "application/x-amz-json-1.0") in headers
    assert ("x-amzn-query-error", "AccessDenied;Sender") in headers
    assert json.loads(body) == {"__type": "AccessDeniedException", "message": TEXT}
    build = identify(*sent("codebuild", "list_projects"))
    assert build is not None
    assert ("Content-Type", "application/x-amz-json-1.1") in access_denied(build, TEXT)[1]


def test_query_requests_to_sqs_get_the_query_error() -> None:
    operation = Operation("sqs", "SendMessage", "query", {}, KEY, REGION)
    status, headers, body = access_denied(operation, "a <b> & c")
    assert (status, dict(headers)["Content-Type"]) == ("403 Forbidden", "text/xml")
    output = service_model("sqs").operation_model("SendMessage").output_shape
    assert output is not None
    parsed = create_parser("query").parse(
        {"status_code": 403, "headers": {k.lower(): v for k, v in headers}, "body": body}, output
    )
    assert parsed["Error"]["Code"] == "AccessDenied"
    assert parsed["Error"]["Message"] == "a <b> & c"
    assert b"<Type>Sender</Type>" in body


def test_query_services_name_their_namespace() -> None:
    operation = Operation("sns", "Publish", "query", {}, KEY, REGION)
    _, _, body = access_denied(operation, TEXT)
    assert body.startswith(b'<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">')


def test_rest_json_bodies() -> None:
    invoke = Operation("lambda", "Invoke", "rest-json", {}, KEY, REGION)
    status, headers, body = access_denied(invoke, TEXT)
    assert status == "403 Forbidden"
    assert ("x-amzn-ErrorType", "AccessDeniedException") in headers
    assert json.loads(body) == {"Type": "User", "Message": TEXT}
    findings = Operation("inspector2", "ListFindings", "rest-json", {}, KEY, REGION)
    assert json.loads(access_denied(findings, TEXT)[2]) == {"message": TEXT}


@pytest.mark.parametrize("length", [0, 23, 24, 255, 256, 65535, 65536])
def test_cbor_bodies_of_any_length(length: int) -> None:
    operation = Operation("eventbridgev2", "DescribeEventBus", CBOR, {}, KEY, REGION)
    text = "é" * (length // 2) + "x" * (length % 2)
    _, headers, body = access_denied(operation, text)
    assert ("smithy-protocol", "rpc-v2-cbor") in headers
    decoded = RpcV2CBORParser().parse_data_item(io.BufferedReader(io.BytesIO(body)))
    assert decoded == {"__type": "AccessDeniedException", "message": text}


def test_error_codes() -> None:
    assert denials.error_code("sns", "query") == ("AuthorizationError", 403)
    assert denials.error_code("logs", "json") == ("AccessDeniedException", 400)
    assert denials.error_code("sts", "query") == ("AccessDenied", 403)
    assert denials.error_code("codebuild", "json") == ("AccessDeniedException", 400)
    assert denials.error_code("ec2", "ec2") == ("UnauthorizedOperation", 403)
    assert denials.error_code("s3", "rest-xml") == ("AccessDenied", 403)


def test_message() -> None:
    assert message("arn:aws:iam::1:role/r", "s3:GetObject", "arn:aws:s3:::b/k", "") == (
        "User: arn:aws:iam::1:role/r is not authorized to perform: s3:GetObject on resource: "
        "arn:aws:s3:::b/k"
    )
    assert (
        f"User: {PRINCIPAL} is not authorized to perform: s3:GetObject on resource: "
        "arn:aws:s3:::artifacts/k because no identity-based policy"
    ) == TEXT
