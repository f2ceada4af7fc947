"""The deploy step end to end, against the deployed stack.

An image is put into the deployed repository, a build output artifact (a zip with
``imageDetail.json``) into the deployed artifact bucket, and the deploy handler is invoked in
this process with a CodePipeline job event pointing at them, configured exactly as the deployed
function is (its environment variables). Every AWS call is real (the emulator's or the
account's) except CodePipeline's ``PutJob*Result``, which is stubbed: the emulator lacks it, and
on AWS there is no real job to report to.

The end-to-end cases are emulator-only: ECR refuses a manifest whose layers were never
uploaded (only ``docker push`` of a real image provides them), and the scan findings the gate
reads are seeded through the emulator's API (``/moto-api/static/ecr/scan-finding-results``).

The record-only cases run the deployed function with ``TAP_DEPLOY_TARGET=none`` (the
``deployTarget`` ``none`` behaviour); the rollout cases run it as deployed, against the stack's
ECS service (a stack without one skips them, naming why).
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from .helpers import tap_api

EMULATOR_ONLY = (
    "pushes a synthetic image without layers and seeds its scan findings through the emulator's API"
)
RESOLVED_ELSEWHERE = "#{"
NO_SERVICE = (
    "the stack has no ECS service (its outputs lack clusterName/serviceName): deployTarget "
    "none, or the program's ECS resources are not deployed yet"
)


@dataclass
class JobResults:
    """Stands in for the CodePipeline client: records the job results the handler sends."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def put_job_success_result(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("success", kwargs))
        return {}

    def put_job_failure_result(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("failure", kwargs))
        return {}


@dataclass(frozen=True)
class LambdaContext:
    """The part of the Lambda context the handler reads."""

    function_name: str
    remaining_ms: int = 120_000
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass(frozen=True)
class PushedImage:
    """An image in the deployed repository."""

    uri: str
    digest: str
    tag: str


@pytest.fixture(scope="module")
def function_env(aws: Any, outputs: dict[str, str]) -> dict[str, str]:
    """The deployed function's environment: the handler's whole configuration."""
    configuration = aws("lambda").get_function_configuration(
        FunctionName=outputs["deployFunctionName"]
    )
    return dict(configuration["Environment"]["Variables"])


def test_function_is_configured_with_the_stack_resources(
    aws: Any, function_env: dict[str, str], outputs: dict[str, str]
) -> None:
    assert function_env["TAP_TOPIC_ARN"] == outputs["notificationTopicArn"]
    assert function_env["TAP_REPOSITORY_NAME"] == outputs["ecrRepositoryName"]
    assert function_env["TAP_FAIL_ON_SEVERITY"] == "HIGH"
    # The stack creates the release parameter the function records releases in.
    name = function_env["TAP_RELEASE_PARAMETER"]
    parameter = aws("ssm").get_parameter(Name=name)["Parameter"]
    assert parameter["Type"] == "String"


@pytest.fixture
def job_results(
    monkeypatch: pytest.MonkeyPatch,
    emulator_env: None,
    function_env: dict[str, str],
) -> Iterator[JobResults]:
    """The handler, configured as deployed, with its CodePipeline client stubbed."""
    from tap_cicd.deploy import handler

    for name, value in function_env.items():
        monkeypatch.setenv(name, value)
    results = JobResults()
    monkeypatch.setattr(handler, "codepipeline_client", lambda: results)
    handler.services.cache_clear()  # fresh clients for this endpoint and environment
    yield results
    handler.services.cache_clear()


@pytest.fixture
def record_only(monkeypatch: pytest.MonkeyPatch, job_results: JobResults) -> JobResults:
    """The deployed function's record-only behaviour (``deployTarget`` ``none``)."""
    monkeypatch.setenv("TAP_DEPLOY_TARGET", "none")
    return job_results


def push_image(aws: Any, outputs: dict[str, str], *, scan: bool = True) -> PushedImage:
    """Put a (layerless) image manifest into the repository, as ``docker push`` would."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "id": str(uuid.uuid4())})
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(config),
            "digest": "sha256:" + hashlib.sha256(config.encode()).hexdigest(),
        },
        # One layer of its own: the emulator derives the digest from the layer digests.
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 32,
                "digest": "sha256:" + hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
            }
        ],
    }
    tag = f"it-{uuid.uuid4().hex[:12]}-1"
    ecr = aws("ecr")
    image = ecr.put_image(
        repositoryName=outputs["ecrRepositoryName"],
        imageManifest=json.dumps(manifest),
        imageTag=tag,
    )["image"]
    digest = image["imageId"]["imageDigest"]
    if scan:
        # Scan on push: the emulator does not start the scan by itself.
        ecr.start_image_scan(
            repositoryName=outputs["ecrRepositoryName"], imageId={"imageDigest": digest}
        )
    return PushedImage(f"{outputs['ecrRepositoryUrl']}@{digest}", digest, tag)


def seed_findings(
    outputs: dict[str, str], image: PushedImage, findings: list[dict[str, str]]
) -> None:
    """What the scan of ``image`` reports (the emulator's control API; AWS scans for real)."""
    body = {
        "repositoryName": outputs["ecrRepositoryName"],
        "imageDigest": image.digest,
        "findings": [{"name": f["name"], "severity": f["severity"]} for f in findings],
    }
    tap_api("ecr/findings", body)


def put_build_output(aws: Any, outputs: dict[str, str], image: PushedImage) -> str:
    """The Build action's output artifact: a zip with ``imageDetail.json``; returns its key."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("imageDetail.json", json.dumps({"ImageURI": image.uri}))
    key = f"{outputs['pipelineName'][:20]}/build_outp/{uuid.uuid4().hex[:7]}"
    aws("s3").put_object(Bucket=outputs["artifactBucketName"], Key=key, Body=buffer.getvalue())
    return key


def resolved_parameters(aws: Any, outputs: dict[str, str], values: dict[str, str]) -> str:
    """The deployed Deploy action's ``UserParameters``, with ``#{...}`` resolved as CodePipeline
    resolves them at run time."""
    pipeline = aws("codepipeline").get_pipeline(name=outputs["pipelineName"])["pipeline"]
    deploy = next(s for s in pipeline["stages"] if s["name"] == "Deploy")["actions"][0]
    declared = json.loads(deploy["configuration"]["UserParameters"])
    resolved = {
        key: values.get(value, value) if str(value).startswith(RESOLVED_ELSEWHERE) else value
        for key, value in declared.items()
    }
    return json.dumps(resolved)


def job_event(
    aws: Any, outputs: dict[str, str], image: PushedImage, artifact_key: str, execution: str
) -> dict[str, Any]:
    """A CodePipeline job event, shaped as Lambda receives it, for the deployed pipeline."""
    account = outputs["kmsKeyArn"].split(":")[4]
    variables = {
        "#{BuildVariables.IMAGE_URI}": image.uri,
        "#{BuildVariables.IMAGE_DIGEST}": image.digest,
        "#{BuildVariables.IMAGE_TAG}": image.tag,
        "#{codepipeline.PipelineExecutionId}": execution,
        "#{SourceVariables.VersionId}": "3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY",
    }
    return {
        "CodePipeline.job": {
            "id": str(uuid.uuid4()),
            "accountId": account,
            "data": {
                "actionConfiguration": {
                    "configuration": {
                        "FunctionName": outputs["deployFunctionName"],
                        "UserParameters": resolved_parameters(aws, outputs, variables),
                    }
                },
                "inputArtifacts": [
                    {
                        "name": "build_output",
                        "revision": None,
                        "location": {
                            "type": "S3",
                            "s3Location": {
                                "bucketName": outputs["artifactBucketName"],
                                "objectKey": artifact_key,
                            },
                        },
                    }
                ],
                "outputArtifacts": [],
                # The emulator takes any credentials; on AWS these are CodePipeline's.
                "artifactCredentials": {
                    "accessKeyId": "test",
                    "secretAccessKey": "test",
                    "sessionToken": "test",
                },
                "encryptionKey": {"id": outputs["kmsKeyArn"], "type": "KMS"},
            },
        }
    }


Published = Callable[[], list[tuple[str, str]]]


@pytest.fixture
def published(aws: Any, outputs: dict[str, str]) -> Iterator[Published]:
    """``(subject, message)`` of what reaches the topic, read through an SQS subscription.

    A subscriber is how anyone sees a topic's messages, on the emulator and on AWS alike.
    """
    sqs, sns = aws("sqs"), aws("sns")
    url = sqs.create_queue(QueueName=f"tap-it-{uuid.uuid4().hex[:12]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # SNS delivers only where the queue policy lets the topic send (on AWS as on the emulator).
    # https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": outputs["notificationTopicArn"]}},
    }
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    subscription = sns.subscribe(
        TopicArn=outputs["notificationTopicArn"],
        Protocol="sqs",
        Endpoint=arn,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]

    def read() -> list[tuple[str, str]]:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        envelopes = [json.loads(m["Body"]) for m in messages]
        return [(str(e.get("Subject", "")), str(e["Message"])) for e in envelopes]

    yield read
    sns.unsubscribe(SubscriptionArn=subscription)
    sqs.delete_queue(QueueUrl=url)


def image_tags(aws: Any, outputs: dict[str, str], digest: str) -> list[str]:
    """The tags the deployed repository holds for ``digest``."""
    details = aws("ecr").describe_images(
        repositoryName=outputs["ecrRepositoryName"], imageIds=[{"imageDigest": digest}]
    )["imageDetails"]
    return sorted(details[0].get("imageTags", []))


def release_tag(image: PushedImage) -> str:
    """The tag the deploy step gives a released digest (the lifecycle policy keeps it)."""
    return f"release-{image.digest.removeprefix('sha256:')[:12]}"


def release_value(aws: Any, function_env: dict[str, str]) -> str:
    """The release parameter's current value."""
    name = function_env["TAP_RELEASE_PARAMETER"]
    return str(aws("ssm").get_parameter(Name=name)["Parameter"]["Value"])


def run_job(
    aws: Any, outputs: dict[str, str], findings: list[dict[str, str]]
) -> tuple[PushedImage, dict[str, Any]]:
    """Push, scan, upload the build output and invoke the handler with the job."""
    from tap_cicd.deploy import handler

    image = push_image(aws, outputs)
    seed_findings(outputs, image, findings)
    key = put_build_output(aws, outputs, image)
    event = job_event(aws, outputs, image, key, str(uuid.uuid4()))
    handler.handler(event, LambdaContext(outputs["deployFunctionName"]))
    return image, event


@pytest.mark.emulator_only(EMULATOR_ONLY)
@pytest.mark.usefixtures("record_only")
def test_release_is_recorded_announced_and_reported(
    aws: Any,
    outputs: dict[str, str],
    function_env: dict[str, str],
    job_results: JobResults,
    published: Published,
) -> None:
    # A MEDIUM finding is below the stack's HIGH gate: it must not block.
    medium = [{"name": "CVE-2024-1111", "severity": "MEDIUM", "uri": "https://example.com"}]
    image, event = run_job(aws, outputs, medium)
    job = event["CodePipeline.job"]
    execution = json.loads(job["data"]["actionConfiguration"]["configuration"]["UserParameters"])[
        "pipelineExecutionId"
    ]

    (kind, result), *more = job_results.calls
    assert (kind, more) == ("success", []), job_results.calls
    assert result["jobId"] == job["id"]
    assert "continuationToken" not in result
    variables = result["outputVariables"]
    assert variables["imageDigest"] == image.digest
    assert variables["imageUri"] == image.uri
    assert variables["releaseParameter"] == function_env["TAP_RELEASE_PARAMETER"]
    assert variables["notification"] == "sent"
    assert variables["releaseTag"] == release_tag(image)

    # The released digest carries the release tag in the deployed repository, beside its own.
    assert image_tags(aws, outputs, image.digest) == sorted([image.tag, release_tag(image)])

    record = json.loads(release_value(aws, function_env))
    assert record["imageDigest"] == image.digest
    assert record["imageUri"] == image.uri
    assert record["imageTag"] == image.tag
    assert record["releaseTag"] == release_tag(image)
    assert record["pipelineExecutionId"] == execution
    assert record["jobId"] == job["id"]

    messages = [m for m in published() if image.uri in m[1]]
    assert len(messages) == 1, "exactly one release message"
    subject, message = messages[0]
    assert image.digest[7:19] in subject
    assert execution in message


@pytest.mark.emulator_only(EMULATOR_ONLY)
def test_findings_at_or_above_the_gate_block_the_release(
    aws: Any,
    outputs: dict[str, str],
    function_env: dict[str, str],
    job_results: JobResults,
    published: Published,
) -> None:
    before = release_value(aws, function_env)
    critical = [
        {"name": "CVE-2024-2222", "severity": "CRITICAL", "uri": "https://example.com"},
        {"name": "CVE-2024-3333", "severity": "LOW", "uri": "https://example.com"},
    ]
    image, event = run_job(aws, outputs, critical)

    (kind, result), *more = job_results.calls
    assert (kind, more) == ("failure", []), job_results.calls
    assert result["jobId"] == event["CodePipeline.job"]["id"]
    assert result["failureDetails"]["type"] == "JobFailed"
    message = result["failureDetails"]["message"]
    assert "CVE-2024-2222" in message
    assert "CVE-2024-3333" not in message
    assert "block the release" in message
    # Nothing recorded, nothing announced.
    assert release_value(aws, function_env) == before
    assert not [m for m in published() if image.uri in m[1]]
    assert image_tags(aws, outputs, image.digest) == [image.tag]


@pytest.mark.emulator_only(EMULATOR_ONLY)
@pytest.mark.usefixtures("record_only")
def test_repeated_delivery_finds_its_release_tag_and_succeeds(
    aws: Any,
    outputs: dict[str, str],
    function_env: dict[str, str],
    job_results: JobResults,
) -> None:
    """Tags are immutable in the deployed repository: the second PutImage of the release tag
    is refused, and the step, finding the tag on its own digest, succeeds without a change."""
    from tap_cicd.deploy import handler

    low = [{"name": "CVE-2024-4444", "severity": "LOW", "uri": "https://example.com"}]
    image, event = run_job(aws, outputs, low)
    handler.handler(event, LambdaContext(outputs["deployFunctionName"]))

    (first, once), (second, again) = job_results.calls
    assert (first, second) == ("success", "success"), job_results.calls
    assert once["outputVariables"]["releaseTag"] == release_tag(image)
    assert again["outputVariables"]["releaseTag"] == release_tag(image)
    assert again["outputVariables"]["notification"] == "skipped"
    assert image_tags(aws, outputs, image.digest) == sorted([image.tag, release_tag(image)])
    assert json.loads(release_value(aws, function_env))["releaseTag"] == release_tag(image)


@pytest.mark.emulator_only(EMULATOR_ONLY)
def test_a_release_before_its_scan_waits_for_the_scan_on_push(
    aws: Any,
    outputs: dict[str, str],
    function_env: dict[str, str],
    job_results: JobResults,
) -> None:
    """No scan yet: the deployed repository scans on push, so ECR says one is coming and the
    step continues (the emulator reports the repository's scan on push, as AWS does)."""
    from tap_cicd.deploy import handler

    before = release_value(aws, function_env)
    image = push_image(aws, outputs, scan=False)
    key = put_build_output(aws, outputs, image)
    event = job_event(aws, outputs, image, key, str(uuid.uuid4()))
    handler.handler(event, LambdaContext(outputs["deployFunctionName"]))

    (kind, result), *more = job_results.calls
    assert (kind, more) == ("success", []), job_results.calls
    token = json.loads(result["continuationToken"])
    assert (token["v"], token["d"], token["n"]) == (1, image.digest, 1)
    assert release_value(aws, function_env) == before
    assert image_tags(aws, outputs, image.digest) == [image.tag]


# --- the rollout to the stack's ECS service --------------------------------------------------


@pytest.fixture
def ecs_service(outputs: dict[str, str], function_env: dict[str, str]) -> tuple[str, str]:
    """(cluster, service) of the stack; skipped, naming why, when the stack has none."""
    if "clusterName" not in outputs or "serviceName" not in outputs:
        pytest.skip(NO_SERVICE)
    assert function_env["TAP_DEPLOY_TARGET"] == "ecs"
    assert function_env["TAP_CLUSTER_NAME"] == outputs["clusterName"]
    assert function_env["TAP_SERVICE_NAME"] == outputs["serviceName"]
    return outputs["clusterName"], outputs["serviceName"]


def start_rollout(
    aws: Any, outputs: dict[str, str], job_results: JobResults
) -> tuple[PushedImage, dict[str, Any], dict[str, Any]]:
    """A release that passes the gate, first invocation: (image, event, its token)."""
    low = [{"name": "CVE-2024-5555", "severity": "LOW", "uri": "https://example.com"}]
    image, event = run_job(aws, outputs, low)
    (kind, result), *more = job_results.calls
    assert (kind, more) == ("success", []), job_results.calls
    return image, event, json.loads(result["continuationToken"])


def follow(outputs: dict[str, str], event: dict[str, Any], token: dict[str, Any]) -> None:
    """The next invocation of the job, with the token CodePipeline hands back."""
    from tap_cicd.deploy import handler

    event["CodePipeline.job"]["data"]["continuationToken"] = json.dumps(token)
    handler.handler(event, LambdaContext(outputs["deployFunctionName"]))


@pytest.mark.emulator_only(EMULATOR_ONLY)
def test_the_release_is_registered_by_digest_and_deployed_before_it_is_recorded(
    aws: Any,
    outputs: dict[str, str],
    function_env: dict[str, str],
    job_results: JobResults,
    ecs_service: tuple[str, str],
) -> None:
    cluster, service = ecs_service
    before = release_value(aws, function_env)
    image, event, token = start_rollout(aws, outputs, job_results)
    revision = token["r"]
    assert (token["v"], token["d"], token["n"]) == (1, image.digest, 1)

    ecs = aws("ecs")
    registered = ecs.describe_task_definition(taskDefinition=revision)["taskDefinition"]
    template = ecs.describe_task_definition(taskDefinition=function_env["TAP_TASK_DEFINITION"])[
        "taskDefinition"
    ]
    assert registered["family"] == template["family"]
    [app] = [
        c
        for c in registered["containerDefinitions"]
        if c["name"] == function_env["TAP_CONTAINER_NAME"]
    ]
    assert app["image"] == image.uri
    assert app["dockerLabels"]["tap.pipeline-job-id"] == event["CodePipeline.job"]["id"]
    for key in ("cpu", "memory", "networkMode", "executionRoleArn", "taskRoleArn"):
        assert registered.get(key) == template.get(key), key
    deployed = ecs.describe_services(cluster=cluster, services=[service])["services"][0]
    assert deployed["taskDefinition"] == revision
    assert deployed["desiredCount"] == int(function_env["TAP_DESIRED_COUNT"])
    # Tagged so the lifecycle keeps it while it runs; recorded only once it has rolled out.
    assert image_tags(aws, outputs, image.digest) == sorted([image.tag, release_tag(image)])
    assert release_value(aws, function_env) == before


@pytest.mark.emulator_only(EMULATOR_ONLY)
@pytest.mark.usefixtures("ecs_service")
def test_a_completed_rollout_is_recorded_announced_and_reported(
    aws: Any,
    outputs: dict[str, str],
    function_env: dict[str, str],
    job_results: JobResults,
    published: Published,
) -> None:
    image, event, token = start_rollout(aws, outputs, job_results)
    revision = token["r"]
    # A repeated delivery of the first invocation follows the same revision: nothing new.
    from tap_cicd.deploy import handler

    handler.handler(event, LambdaContext(outputs["deployFunctionName"]))
    assert json.loads(job_results.calls[-1][1]["continuationToken"])["r"] == revision

    follow(outputs, event, token)
    kind, result = job_results.calls[-1]
    assert kind == "success", job_results.calls
    assert "continuationToken" not in result
    variables = result["outputVariables"]
    assert variables["taskDefinitionArn"] == revision
    assert variables["imageUri"] == image.uri
    assert variables["notification"] == "sent"
    record = json.loads(release_value(aws, function_env))
    assert record["imageUri"] == image.uri
    assert record["taskDefinitionArn"] == revision
    assert "previousRelease" in record
    messages = [m for m in published() if image.uri in m[1]]
    assert len(messages) == 1, "exactly one release message"
    assert revision in messages[0][1]
