"""Fixtures that run the whole program under the recording mocks of ``tap_cicd.graph``.

``set_mocks`` runs before the stack modules are imported (house style, habit 5).
"""

from __future__ import annotations

import io
import json
import logging
import re
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pulumi
import pulumi_aws as aws
import pytest
from botocore.stub import ANY, Stubber

from tap_cicd import graph
from tap_cicd.graph import Graph, Node

ACCOUNT_ID = "111122223333"
REGION = "eu-west-1"
ELB_ID = "0123456789abcdef"
"""The stand-in of the random part ELB puts in load balancer, target group and listener ARNs."""


def _elb_arn(region: str, account: str, resource: str) -> str:
    return f"arn:aws:elasticloadbalancing:{region}:{account}:{resource}"


def _service_outputs(
    typ: str, name: str, inputs: Mapping[str, Any], account: str, region: str
) -> dict[str, Any]:
    """The provider-computed outputs (camelCase) of the service's resource types, as AWS forms
    them; the registry's own forms win where it has them."""
    ecs = f"arn:aws:ecs:{region}:{account}"
    physical = str(inputs.get("name") or name)
    family = inputs.get("family")
    cluster = str(inputs.get("cluster", "")).rsplit("/", 1)[-1]
    formed: dict[str, dict[str, Any]] = {
        "aws:lb/loadBalancer:LoadBalancer": {
            "arn": _elb_arn(region, account, f"loadbalancer/app/{physical}/{ELB_ID}"),
            "dnsName": f"{physical}-1234567890.{region}.elb.amazonaws.com",
        },
        "aws:lb/targetGroup:TargetGroup": {
            "arn": _elb_arn(region, account, f"targetgroup/{physical}/{ELB_ID}")
        },
        "aws:lb/listener:Listener": {
            "arn": _elb_arn(region, account, f"listener/app/lb/{ELB_ID}/{inputs.get('port')}")
        },
        "aws:ecs/cluster:Cluster": {"arn": f"{ecs}:cluster/{physical}"},
        "aws:ecs/taskDefinition:TaskDefinition": {
            "arn": f"{ecs}:task-definition/{family}:1",
            "arnWithoutRevision": f"{ecs}:task-definition/{family}",
            "revision": 1,
        },
        "aws:ecs/service:Service": {"arn": f"{ecs}:service/{cluster}/{physical}"},
    }
    return formed.get(typ, {})


_registry_outputs = graph.synthesised_outputs


def _synthesised_outputs(
    typ: str, name: str, inputs: Mapping[str, Any], account: str, region: str
) -> tuple[str, dict[str, Any]]:
    physical, computed = _registry_outputs(typ, name, inputs, account, region)
    return physical, {**_service_outputs(typ, name, inputs, account, region), **computed}


# The offline graph forms outputs from the local provider's registry; until (and wherever)
# it has no entry for a type, these stand in, so the service's wiring can be asserted.
graph.synthesised_outputs = _synthesised_outputs
graph.install(ACCOUNT_ID, REGION, stack="unit")

from tap_cicd.config import Settings  # noqa: E402
from tap_cicd.stack import TapStack, TapStackArgs  # noqa: E402

Program = Graph


def run_program(body: Callable[[], Mapping[str, pulumi.Output[Any]]]) -> Graph:
    """Run ``body`` under fresh mocks for the test account and region."""
    return graph.run(body, ACCOUNT_ID, REGION, stack="unit")


def deploy_stack(raw: Mapping[str, str | None] | None = None) -> Graph:
    """Validate ``raw`` config and run ``TapStack`` under the mocks."""
    settings = Settings.from_raw(raw or {})
    return run_program(lambda: TapStack("tap", TapStackArgs(settings)).outputs())


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def deprecated_inputs(nodes: list[Node]) -> list[str]:
    """Inputs whose pulumi-aws property is marked deprecated, as the engine would warn.

    Under mocks no provider checks the inputs, so the markers pulumi-aws puts on its
    property getters stand in for the provider's deprecation warnings.
    """
    found = []
    for node in nodes:
        if not node.type.startswith("aws:"):
            continue
        _, module_path, class_name = node.type.split(":")
        module = module_path.split("/")[0]
        attribute = {"index": None, "lambda": "lambda_"}.get(module, module)
        namespace = aws if attribute is None else getattr(aws, attribute)
        cls = getattr(namespace, class_name)
        for key in node.inputs:
            getter = getattr(getattr(cls, _snake(key), None), "fget", None)
            if getter is not None and hasattr(getter, "_pulumi_deprecated_callable"):
                found.append(f"{node.type} {node.name}: {key} is deprecated")
    return found


GITHUB = {
    "source": "github",
    "connectionArn": (
        f"arn:aws:codestar-connections:{REGION}:{ACCOUNT_ID}:connection/"
        "0f3e2d1c-aaaa-bbbb-cccc-0123456789ab"
    ),
    "repository": "acme/service",
    "branch": "release",
    "filePaths": '["src/**", "Dockerfile"]',
}


RECORD_ONLY = {"deployTarget": "none"}
"""The stack as it was before the service: verify, gate and record only."""


@pytest.fixture(scope="session")
def default_program() -> Graph:
    """The default configuration (S3 source), record only (``deployTarget`` ``none``): every
    assertion on it also checks that ``none`` keeps the stack as it was."""
    return deploy_stack(RECORD_ONLY)


@pytest.fixture(scope="session")
def github_program() -> Graph:
    """The GitHub source configuration, arm64 build and an email subscription, record only."""
    return deploy_stack(
        {
            **RECORD_ONLY,
            **GITHUB,
            "buildArchitecture": "arm64",
            "notificationEmail": "team@example.com",
            "tags": '{"CostCenter": "42"}',
        }
    )


@pytest.fixture(params=["default", "github"])
def program(request: pytest.FixtureRequest) -> Iterator[Graph]:
    """Both configurations, for assertions that hold for every stack."""
    yield request.getfixturevalue(f"{request.param}_program")


# --- the deploy function: an in-process moto server and a stubbed CodePipeline ----------------

DEPLOY_EVENTS = Path(__file__).parents[1] / "events"
DIGEST = "sha256:" + "ab" * 32
"""The digest the event fixtures name."""
REPOSITORY = "pipeline-images-dev"
PARAMETER = "/pipeline/dev/release"
ARTIFACT_BUCKET = "pipeline-artifacts-111122223333-dev"
ARTIFACT_KEY = "pipeline-pipeline-d/build_outp/AbCdEf1"
JOB = "11111111-abcd-1111-abcd-111111111111"
"""The job id of the success fixture."""
SECRETS = ("DO-NOT-LOG", "ASIAEXAMPLEEXAMPLE00")
"""Parts of the fixtures' artifact credentials that must never reach a log."""


def load_event(name: str) -> dict[str, Any]:
    """An event fixture of ``tests/events``."""
    loaded: dict[str, Any] = json.loads((DEPLOY_EVENTS / f"{name}.json").read_text())
    return loaded


@dataclass
class LambdaContext:
    """The part of Lambda's context the handler uses."""

    remaining: list[int] = field(default_factory=lambda: [120_000])

    def get_remaining_time_in_millis(self) -> int:
        """The next scripted value (the last one repeats)."""
        return self.remaining.pop(0) if len(self.remaining) > 1 else self.remaining[0]


def zip_of(files: Mapping[str, bytes]) -> bytes:
    """A zip archive of ``files``, as CodePipeline stores artifacts."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One in-process moto server for the session, on a free local port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def moto_api(endpoint: str, path: str, body: Mapping[str, Any] | None = None) -> None:
    """POST to the local moto server's own API (reset, scripted scan results)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{endpoint}/moto-api/{path}", data=data, method="POST")  # noqa: S310 - http://127.0.0.1 only
    urllib.request.urlopen(request).close()  # noqa: S310 - http://127.0.0.1 only


def aws_environment(endpoint: str) -> dict[str, str]:
    """Dummy credentials and the local endpoint: nothing can reach AWS."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


@dataclass
class World:
    """The AWS side of one deploy test, seeded in moto, and the stubbed CodePipeline."""

    endpoint: str
    stubber: Stubber
    topic_arn: str = ""

    def client(self, service: str) -> Any:
        """A client of the test's own (not the function's)."""
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    def seed(self) -> None:
        """Repository, release parameter, topic and artifact bucket, as the stack creates them."""
        self.client("ecr").create_repository(repositoryName=REPOSITORY)
        self.client("ssm").put_parameter(
            Name=PARAMETER, Value='{"imageDigest":null}', Type="String"
        )
        self.topic_arn = self.client("sns").create_topic(Name="pipeline-notifications-dev")[
            "TopicArn"
        ]
        self.client("s3").create_bucket(
            Bucket=ARTIFACT_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )

    def put_artifact(
        self, files: Mapping[str, bytes] | None = None, raw: bytes | None = None
    ) -> None:
        """The build output, SSE-KMS encrypted like the real artifact store."""
        uri = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@{DIGEST}"
        body = (
            raw
            if raw is not None
            else zip_of(files or {"imageDetail.json": json.dumps({"ImageURI": uri}).encode()})
        )
        self.client("s3").put_object(
            Bucket=ARTIFACT_BUCKET, Key=ARTIFACT_KEY, Body=body, ServerSideEncryption="aws:kms"
        )

    def put_image(self, digest: str = DIGEST) -> None:
        """An image with the given digest."""
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "digest": digest,
                "size": 1,
                "mediaType": "application/vnd.docker.container.image.v1+json",
            },
            "layers": [],
        }
        self.client("ecr").put_image(
            repositoryName=REPOSITORY,
            imageManifest=json.dumps(manifest),
            imageTag="0123456789ab-7",
            imageDigest=digest,
        )

    def scan(self, status: str | None = None, findings: list[dict[str, Any]] | None = None) -> None:
        """Start the scan; with ``status``, script its result through moto's API."""
        self.client("ecr").start_image_scan(
            repositoryName=REPOSITORY, imageId={"imageDigest": DIGEST}
        )
        if status is None:
            return
        result = {
            "registryId": "123456789012",
            "repositoryName": REPOSITORY,
            "imageId": {"imageDigest": DIGEST},
            "imageScanStatus": {"status": status},
            "imageScanFindings": {"findings": findings or []},
        }
        moto_api(
            self.endpoint,
            "static/ecr/scan-finding-results",
            {"results": [result], "region": REGION},
        )

    def release(self) -> tuple[dict[str, Any], int]:
        """The release parameter's JSON and version."""
        parameter = self.client("ssm").get_parameter(Name=PARAMETER)["Parameter"]
        return json.loads(parameter["Value"]), parameter["Version"]

    def messages(self) -> list[tuple[str, str]]:
        """(subject, message) of everything published to the topic."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.sns.models import sns_backends

        topic = sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics.get(self.topic_arn)
        return [] if topic is None else [(n[2], n[1]) for n in topic.sent_notifications]

    def expect_success(self, variables: Mapping[str, str] | None = None, job: str = JOB) -> None:
        """The next PutJobSuccessResult: final (with ``variables``)."""
        expected: dict[str, Any] = {"jobId": job, "outputVariables": ANY, "executionDetails": ANY}
        if variables is not None:
            expected["outputVariables"] = dict(variables)
        self.stubber.add_response("put_job_success_result", {}, expected)

    def expect_continuation(self, job: str = JOB) -> None:
        """The next PutJobSuccessResult carries a continuation token."""
        self.stubber.add_response(
            "put_job_success_result",
            {},
            {"jobId": job, "continuationToken": ANY, "executionDetails": ANY},
        )

    def expect_failure(self, failure_type: str, job: str = JOB) -> None:
        """The next PutJobFailureResult, of ``failure_type``."""
        self.stubber.add_response(
            "put_job_failure_result",
            {},
            {"jobId": job, "failureDetails": {"type": failure_type, "message": ANY}},
        )


@pytest.fixture
def world(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> Iterator[World]:
    """A reset moto, the stack's resources, the function's environment and a stubbed pipeline.

    After the test: every scripted job result was sent, and no credential reached the log.
    """
    from tap_cicd.deploy import handler

    moto_api(moto_endpoint, "reset")
    for name, value in aws_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    handler.services.cache_clear()
    client = boto3.client("codepipeline", region_name=REGION)
    stubber = Stubber(client)
    monkeypatch.setattr(handler, "codepipeline_client", lambda: client)
    state = World(moto_endpoint, stubber)
    state.seed()
    for name, value in {
        "TAP_TOPIC_ARN": state.topic_arn,
        "TAP_RELEASE_PARAMETER": PARAMETER,
        "TAP_REPOSITORY_NAME": REPOSITORY,
        "TAP_FAIL_ON_SEVERITY": "HIGH",
        "TAP_ALLOWED_FINDINGS": "",
        "TAP_SCAN_WAIT_SECONDS": "900",
    }.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    with stubber:
        yield state
    stubber.assert_no_pending_responses()
    handler.services.cache_clear()
    # The test's own records: caplog.text here, in teardown, would hold only teardown's.
    logged = "\n".join(r.getMessage() for r in caplog.get_records("call"))
    for secret in SECRETS:
        assert secret not in logged
