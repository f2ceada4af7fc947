"""operations: which AWS API call a request is, and what IAM authorizes it on.

boto3 builds each request exactly as it would send it (the AWS CLI uses the same botocore);
a ``before-send`` handler keeps it and nothing reaches the network. The request becomes a
WSGI environ as the emulator's server would pass it.
"""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.config import Config
from botocore.loaders import Loader
from werkzeug.test import EnvironBuilder

from tap_cicd.access.evaluation import UNKNOWN_RESOURCE
from tap_cicd.local.services import operations
from tap_cicd.local.services.operations import Access, Operation, accesses, identify

ENDPOINT = "http://127.0.0.1:5999"
ACCOUNT = "111122223333"
REGION = "us-east-1"
KEY = "ASIATESTKEY"


class Sent(Exception):
    """The before-send handler kept the request and answered nothing."""


class _Raw:
    """A response body botocore reads with ``stream()``."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


class Recorder:
    """A boto3 client whose requests are kept and never sent: each is answered with
    ``reply`` (status, headers, body), or raises ``Sent`` when there is none."""

    def __init__(self, service: str, region: str) -> None:
        self.client: Any = boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=ENDPOINT,
            region_name=region,
            aws_access_key_id=KEY,
            aws_secret_access_key="secret",
            aws_session_token="token",
            config=Config(retries={"total_max_attempts": 1}),
        )
        self.requests: list[AWSPreparedRequest] = []
        self.reply: tuple[int, dict[str, str], bytes] | None = None
        self.client.meta.events.register("before-send.*", self._send)

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        self.requests.append(request)
        if self.reply is None:
            raise Sent
        status, headers, body = self.reply
        return AWSResponse(request.url, status, headers, _Raw(body))  # type: ignore[arg-type]


@functools.cache
def recorder(service: str, region: str = REGION) -> Recorder:
    """One recording client per service and region (clients are slow to make)."""
    return Recorder(service, region)


def environ(request: AWSPreparedRequest) -> tuple[dict[str, Any], bytes]:
    """The WSGI environ and body of a request boto3 prepared."""
    url = urlsplit(request.url)
    body: Any = request.body
    if hasattr(body, "read"):
        body = body.read()
    data = body.encode() if isinstance(body, str) else bytes(body or b"")
    headers = [
        (name, value.decode() if isinstance(value, bytes) else value)
        for name, value in request.headers.items()
    ]
    builder = EnvironBuilder(
        method=request.method,
        base_url=f"{url.scheme}://{url.netloc}",
        path=url.path,
        query_string=url.query,
        headers=headers,
        data=data,
    )
    return builder.get_environ(), data


def sent(
    service: str, method: str, /, region: str = REGION, **params: Any
) -> tuple[dict[str, Any], bytes]:
    """The environ and body of the request ``method`` makes."""
    client = recorder(service, region)
    client.reply = None
    with pytest.raises(Sent):
        getattr(client.client, method)(**params)
    return environ(client.requests[-1])


def call(service: str, method: str, /, **params: Any) -> Operation:
    """The operation identified from the request ``method`` makes."""
    operation = identify(*sent(service, method, **params))
    assert operation is not None
    return operation


def grants(operation: Operation) -> list[tuple[str, str]]:
    return [(a.action, a.resource) for a in accesses(operation, ACCOUNT, REGION)]


FN = "arn:aws:lambda:us-east-1:444455556666:function:deploy"
TOPIC = "arn:aws:sns:us-east-1:111122223333:releases"


def test_reads_the_members_where_the_model_binds_them() -> None:
    put = call(
        "s3",
        "put_object",
        Bucket="artifacts",
        Key="a/b c.txt",
        Body=b"x",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="alias/pipeline",
    )
    assert put.protocol == "rest-xml"
    assert {k: put.params[k] for k in ("Bucket", "Key", "ServerSideEncryption", "SSEKMSKeyId")} == {
        "Bucket": "artifacts",
        "Key": "a/b c.txt",
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "alias/pipeline",
    }
    get = call("s3", "get_object", Bucket="artifacts", Key="k", VersionId="v1")
    assert get.params["VersionId"] == "v1"
    start = call("codebuild", "start_build", projectName="app")
    assert (start.protocol, dict(start.params)) == ("json", {"projectName": "app"})
    publish = call("sns", "publish", TopicArn=TOPIC, Message="m")
    assert (publish.protocol, dict(publish.params)) == (
        "query",
        {"TopicArn": TOPIC, "Message": "m"},
    )
    invoke = call("lambda", "invoke", FunctionName=FN, Qualifier="live", Payload=b'{"a": 1}')
    assert (invoke.protocol, dict(invoke.params)) == (
        "rest-json",
        {"FunctionName": FN, "Qualifier": "live"},
    )


def test_reads_rest_json_bodies_and_query_lists() -> None:
    update = call("lambda", "update_function_configuration", FunctionName="deploy", Timeout=30)
    assert dict(update.params) == {"FunctionName": "deploy", "Timeout": 30}
    untag = call("lambda", "untag_resource", Resource=FN, TagKeys=["a", "b"])
    assert dict(untag.params) == {"Resource": FN, "TagKeys": ["a", "b"]}
    # A member whose JSON key differs from its name is read under its name.
    api = call("apigatewayv2", "create_api", Name="api", ProtocolType="HTTP", Description="d")
    assert dict(api.params) == {"Name": "api", "ProtocolType": "HTTP", "Description": "d"}
    # A structure payload is the whole body; a map in the query string is not read.
    job = call(
        "glacier", "initiate_job", vaultName="v", jobParameters={"Type": "inventory-retrieval"}
    )
    assert job.params["jobParameters"] == {"Type": "inventory-retrieval"}
    export = call(
        "apigateway",
        "get_export",
        restApiId="a",
        stageName="s",
        exportType="oas30",
        parameters={"x": "y"},
    )
    assert (export.name, "parameters" in export.params) == ("GetExport", False)
    # An operation without input.
    backup = call("backup", "get_supported_resource_types")
    assert (backup.name, dict(backup.params)) == ("GetSupportedResourceTypes", {})


def test_cbor_requests() -> None:
    bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/x"
    described = call("eventbridgev2", "describe_event_bus", EventBusArn=bus)
    assert (described.service, described.protocol) == ("eventbridgev2", "smithy-rpc-v2-cbor")
    assert dict(described.params) == {"EventBusArn": bus}
    environ_, _ = sent("eventbridgev2", "describe_event_bus", EventBusArn=bus)
    for body in (b"", b"\xff", b"\x80"):  # none, not CBOR, a CBOR array
        operation = identify(environ_, body)
        assert operation is not None
        assert dict(operation.params) == {}
    assert identify({**environ_, "PATH_INFO": "/other", "RAW_URI": "/other"}, b"") is None
    unknown = "/service/AWSEventsV2/operation/Nope"
    assert identify({**environ_, "RAW_URI": unknown}, b"") is None
    # A CBOR request signed for a service that speaks no CBOR.
    s3, _ = sent("s3", "list_buckets")
    assert identify({**s3, "HTTP_SMITHY_PROTOCOL": "rpc-v2-cbor"}, b"") is None


def test_query_requests_to_json_services_that_were_query_services() -> None:
    environ_, _ = sent("sqs", "list_queues")
    form = b"Action=SendMessage&Version=2012-11-05&QueueUrl=https%3A%2F%2Fq%2F1%2Fdlq&MessageBody=m"
    query_request = {
        **{k: v for k, v in environ_.items() if k != "HTTP_X_AMZ_TARGET"},
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
    }
    operation = identify(query_request, form)
    assert operation is not None
    assert (operation.name, operation.protocol) == ("SendMessage", "query")
    assert dict(operation.params) == {"QueueUrl": "https://q/1/dlq", "MessageBody": "m"}
    # Action in the query string; a form body of another content type is not read.
    get = {
        **query_request,
        "QUERY_STRING": "Action=ListQueues&Action=Other",
        "CONTENT_TYPE": "text/plain",
    }
    listed = identify(get, form)
    assert listed is not None
    assert (listed.name, dict(listed.params)) == ("ListQueues", {})
    assert identify({**get, "QUERY_STRING": "Action=Nope"}, b"") is None


def test_ec2_requests() -> None:
    operation = call("ec2", "describe_instances", InstanceIds=["i-1"])
    assert (operation.protocol, dict(operation.params)) == ("ec2", {"InstanceId.1": "i-1"})
    assert grants(operation) == [("ec2:DescribeInstances", UNKNOWN_RESOURCE)]


def test_unsigned_and_unknown_requests_are_not_identified() -> None:
    environ_, body = sent("codebuild", "start_build", projectName="app")
    unsigned = {k: v for k, v in environ_.items() if k != "HTTP_AUTHORIZATION"}
    assert identify(unsigned, body) is None
    assert identify({**environ_, "HTTP_X_AMZ_TARGET": "CodeBuild_20161006.Nope"}, body) is None
    assert identify({**environ_, "HTTP_X_AMZ_TARGET": "Other_20161006.StartBuild"}, body) is None
    # The registry's docker pushes carry no SigV4 signature.
    push = EnvironBuilder(method="POST", path="/v2/app/blobs/uploads/").get_environ()
    assert identify(push, b"") is None
    scope = environ_["HTTP_AUTHORIZATION"].replace("/codebuild/", "/nothing/")
    assert identify({**environ_, "HTTP_AUTHORIZATION": scope}, body) is None
    # A JSON call signed for a service without the JSON protocol.
    s3, _ = sent("s3", "list_buckets")
    assert identify({**s3, "HTTP_X_AMZ_TARGET": "AmazonS3.ListBuckets"}, b"") is None
    # No route matches: another method, another path.
    assert identify({**s3, "REQUEST_METHOD": "PATCH"}, b"") is None
    lam, _ = sent("lambda", "list_functions")
    assert identify({**lam, "RAW_URI": "/nope/nope/nope"}, b"") is None
    # A query service's request without an Action.
    sns, _ = sent("sns", "list_topics")
    assert identify(sns, b"") is None
    # A JSON service's request without a target.
    cb = {k: v for k, v in environ_.items() if k != "HTTP_X_AMZ_TARGET"}
    assert identify(cb, body) is None
    # A REST service ignores an Action parameter.
    assert identify({**lam, "QUERY_STRING": "Action=ListFunctions"}, b"") is not None


def test_malformed_json_bodies_have_no_params() -> None:
    environ_, _ = sent("codebuild", "start_build", projectName="app")
    for body in (b"{", b"[1]", b"\xff"):
        operation = identify(environ_, body)
        assert operation is not None
        assert dict(operation.params) == {}


def test_paths_from_path_info_and_absolute_uris() -> None:
    environ_, body = sent("s3", "get_object", Bucket="artifacts", Key="a%b/c d?")
    without_raw = {k: v for k, v in environ_.items() if k not in {"RAW_URI", "REQUEST_URI"}}
    operation = identify(without_raw, body)
    assert operation is not None
    assert operation.params["Key"] == "a%b/c d?"
    absolute = {**environ_, "RAW_URI": f"http://127.0.0.1:5999{environ_['RAW_URI']}"}
    operation = identify(absolute, body)
    assert operation is not None
    assert operation.params["Key"] == "a%b/c d?"


def test_virtual_hosted_s3_requests() -> None:
    environ_, body = sent("s3", "get_object", Bucket="artifacts", Key="k")
    hosted = {
        **environ_,
        "HTTP_HOST": "artifacts.s3.us-east-1.amazonaws.com:443",
        "RAW_URI": "/k",
        "PATH_INFO": "/k",
    }
    operation = identify(hosted, body)
    assert operation is not None
    assert (operation.name, operation.params["Bucket"], operation.params["Key"]) == (
        "GetObject",
        "artifacts",
        "k",
    )


def test_presigned_urls() -> None:
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=KEY,
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4"),
    )
    url = client.generate_presigned_url("get_object", Params={"Bucket": "artifacts", "Key": "k"})
    parts = urlsplit(url)
    environ_ = EnvironBuilder(
        method="GET", base_url=ENDPOINT, path=parts.path, query_string=parts.query
    ).get_environ()
    assert operations.credentials(environ_) == (KEY, REGION, "s3")
    operation = identify(environ_, b"")
    assert operation is not None
    assert (operation.name, operation.access_key) == ("GetObject", KEY)
    # Signature version 2 (boto3's default for presigned S3 URLs) names no scope.
    v2 = {**environ_, "QUERY_STRING": "AWSAccessKeyId=AKID&Signature=x&Expires=1"}
    assert identify(v2, b"") is None


def test_credentials() -> None:
    environ_, _ = sent("sqs", "list_queues", region="eu-west-1")
    assert operations.credentials(environ_) == (KEY, "eu-west-1", "sqs")
    operation = identify(*sent("sqs", "list_queues", region="eu-west-1"))
    assert operation is not None
    assert operation.region == "eu-west-1"
    assert operations.credentials({"HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Signature=x"}) is None
    assert operations.credentials({"HTTP_AUTHORIZATION": "AWS AKID:signature"}) is None
    assert operations.credentials({"QUERY_STRING": "X-Amz-Credential=nonsense"}) is None
    assert operations.credentials({"QUERY_STRING": "a=b"}) is None
    assert operations.credentials({}) is None


def test_signing_names_index_botocore_services() -> None:
    index = operations.signing_index()
    assert index["monitoring"] == ("cloudwatch",)
    assert index["s3"][0] == "s3"
    assert index["events"][0] == "events"
    assert "eventbridgev2" in index["events"]
    assert index["ecr"] == ("ecr",)


def test_model_metadata_falls_back_to_the_loader(tmp_path: Path) -> None:
    root = tmp_path / "models"
    plain = root / "svc" / "2020-01-01" / "service-2.json"
    plain.parent.mkdir(parents=True)
    plain.write_text('{"version": "2.0", ' + " " * 20000 + '"metadata": {"signingName": "x"}}')
    (root / "gz" / "2020-01-01").mkdir(parents=True)
    model = {"version": "2.0", "metadata": {"signingName": "gz"}, "operations": {}}
    with gzip.open(root / "gz" / "2020-01-01" / "service-2.json.gz", "wt") as stream:
        json.dump(model, stream)

    class Stub:
        def __init__(self) -> None:
            self.search_paths = [str(tmp_path / "missing"), str(root)]
            self.loaded: list[str] = []

        def determine_latest_version(self, service: str, _type: str) -> str:
            return "2020-01-01"

        def load_service_model(self, service: str, _type: str) -> dict[str, Any]:
            self.loaded.append(service)
            return {"metadata": {"endpointPrefix": service}}

    stub = Stub()
    assert operations.model_metadata(cast(Loader, stub), "gz") == {"signingName": "gz"}
    assert operations.model_metadata(cast(Loader, stub), "svc") == {"endpointPrefix": "svc"}
    assert stub.loaded == ["svc"]


def test_accesses_are_values() -> None:
    operation = Operation("sts", "GetCallerIdentity", "query", {}, None, None)
    assert accesses(operation, ACCOUNT, REGION) == []
    assert Access("s3:GetObject", "*") == Access("s3:GetObject", "*")
    unmapped = Operation("xray", "GetGroups", "rest-json", {}, KEY, REGION)
    assert accesses(unmapped, ACCOUNT, REGION) == [Access("xray:GetGroups", UNKNOWN_RESOURCE)]
