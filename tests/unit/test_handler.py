"""The deploy step end to end: moto for S3, ECR, SSM and SNS, a Stubber for CodePipeline.

Every test ends with the ``world`` fixture's check that each scripted job result was sent (and
no other: the Stubber refuses unscripted calls), and this module's check that no credential
reached the log while the test ran.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore import exceptions as botocore_errors
from botocore.awsrequest import AWSResponse
from conftest import (
    DIGEST,
    JOB,
    PARAMETER,
    REGION,
    REPOSITORY,
    SECRETS,
    LambdaContext,
    World,
    load_event,
)

from tap_cicd.deploy import aws, failures, handler, releases, scanning

TAG = f"release-{DIGEST[7:19]}"
"""The tag the step gives the fixtures' digest."""


@pytest.fixture(autouse=True)
def no_credentials_in_the_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No credential in any record logged while the test ran, botocore's DEBUG ones included.

    (In a fixture's teardown ``caplog.text`` holds the teardown's records only: the records
    of the test itself are read here by phase.)
    """
    caplog.set_level(logging.DEBUG)
    yield
    records = [r for phase in ("setup", "call") for r in caplog.get_records(phase)]
    text = "\n".join(r.getMessage() for r in records)
    assert [secret for secret in SECRETS if secret in text] == []


def run(event: Any, context: Any = None) -> None:
    assert handler.handler(event, context or LambdaContext()) is None


def image_tags(world: World, digest: str = DIGEST) -> list[str]:
    """The tags the repository holds for ``digest``."""
    details = world.client("ecr").describe_images(
        repositoryName=REPOSITORY, imageIds=[{"imageDigest": digest}]
    )["imageDetails"]
    return sorted(details[0].get("imageTags", []))


def scan_on_push(world: World) -> None:
    """A registry rule that scans the repository on push: ECR says a scan is coming."""
    world.client("ecr").put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [{"filter": "*", "filterType": "WILDCARD"}],
            }
        ],
    )


def failure_message(world: World, failure_type: str, message: str, job: str = JOB) -> None:
    """The next PutJobFailureResult, with exactly this type and message."""
    world.stubber.add_response(
        "put_job_failure_result",
        {},
        {"jobId": job, "failureDetails": {"type": failure_type, "message": message}},
    )


def ready(world: World, *, scan: bool = True) -> None:
    """The happy path's AWS side: artifact, image and a finished scan."""
    world.put_artifact()
    world.put_image()
    if scan:
        world.scan("COMPLETE", [{"name": "CVE-2024-0001", "severity": "LOW"}])


class Raw:
    """The raw body botocore reads from an injected response."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def inject(client: Any, operation: str, code: str, status: int, times: int = 1) -> list[int]:
    """Answer the next ``times`` sends of ``operation`` with an AWS error, before the wire."""
    calls: list[int] = []
    service = client.meta.service_model.service_name

    def send(request: Any, **_: Any) -> AWSResponse | None:
        calls.append(1)
        if len(calls) > times:
            return None
        body = json.dumps({"__type": code, "message": "injected"}).encode()
        if client.meta.service_model.protocol in ("query", "rest-xml"):
            body = (
                f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>injected</Message></Error></ErrorResponse>"
            ).encode()
        return AWSResponse(request.url, status, {"x-amzn-ErrorType": code}, Raw(body))

    client.meta.events.register(f"before-send.{service}.{operation}", send)
    return calls


# --- the happy path -------------------------------------------------------------------------


def test_success_records_notifies_and_reports(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ready(world)
    world.expect_success(
        {
            "imageDigest": DIGEST,
            "imageUri": f"111122223333.dkr.ecr.{REGION}.amazonaws.com/pipeline-images-dev@{DIGEST}",
            "releaseTag": TAG,
            "releaseParameter": PARAMETER,
            "releaseVersion": "2",
            "notification": "sent",
        }
    )
    assert image_tags(world) == ["0123456789ab-7"]
    run(load_event("job_success"))
    # moto's PutImage of the digest's own manifest under a new tag: the image gains the tag.
    assert image_tags(world) == ["0123456789ab-7", TAG]
    record, version = world.release()
    assert version == 2
    assert record["releaseTag"] == TAG
    assert record["imageDigest"] == DIGEST
    assert record["imageUri"].endswith(f"/pipeline-images-dev@{DIGEST}")
    assert record["pipelineExecutionId"] == "6f8a3c1e-1111-4a2b-9c3d-0123456789ab"
    assert record["sourceVersion"] == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
    assert record["commit"] is None
    assert record["imageTag"] == "0123456789ab-7"
    assert record["jobId"] == JOB
    assert record["recordedAt"].endswith("+00:00")
    [(subject, message)] = world.messages()
    assert subject == f"Release {DIGEST[7:19]} recorded in {PARAMETER}"
    assert f"Released {record['imageUri']}" in message
    assert "Commit: 3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY" in message
    assert f"Release tag: {TAG}" in message
    assert "scan of" in caplog.text


def test_gate_off_skips_the_scan(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAP_FAIL_ON_SEVERITY", "NONE")
    event = load_event("job_success")
    configuration = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
    configuration["UserParameters"] = configuration["UserParameters"].replace('"HIGH"', '"NONE"')
    ready(world, scan=False)
    world.expect_success()
    run(event)
    assert world.release()[0]["imageDigest"] == DIGEST
    assert TAG in image_tags(world)


def test_repeated_delivery_of_a_finished_job_is_a_no_op(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ready(world)
    world.expect_success()
    run(load_event("job_success"))
    world.stubber.add_client_error(
        "put_job_success_result", "InvalidJobStateException", "job is finished"
    )
    run(load_event("job_success"))
    assert world.release()[1] == 2
    assert len(world.messages()) == 1
    assert "already recorded" in caplog.text
    assert "already finished" in caplog.text


def test_repeated_delivery_reports_the_same_release(world: World) -> None:
    ready(world)
    world.expect_success()
    run(load_event("job_success"))
    world.expect_success(
        {
            "imageDigest": DIGEST,
            "imageUri": world.release()[0]["imageUri"],
            "releaseTag": TAG,
            "releaseParameter": PARAMETER,
            "releaseVersion": "2",
            "notification": "skipped",
        }
    )
    # The digest carries the tag already: ECR answers ImageAlreadyExistsException.
    run(load_event("job_success"))
    assert image_tags(world) == ["0123456789ab-7", TAG]


def test_allow_listed_findings_pass(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAP_ALLOWED_FINDINGS", "CVE-9999-9999")
    ready(world, scan=False)
    world.scan()  # moto's default result: one HIGH finding, CVE-9999-9999
    world.expect_success()
    run(load_event("job_success"))
    assert world.release()[0]["imageDigest"] == DIGEST


# --- the gate ---------------------------------------------------------------------------------


def test_findings_over_the_threshold_block(world: World, caplog: pytest.LogCaptureFixture) -> None:
    ready(world, scan=False)
    world.scan(
        "COMPLETE",
        [
            {"name": "CVE-2024-0002", "severity": "HIGH"},
            {"name": "CVE-2024-0001", "severity": "CRITICAL"},
            {"name": "CVE-2024-0003", "severity": "MEDIUM"},
        ],
    )
    world.stubber.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": JOB,
            "failureDetails": {
                "type": "JobFailed",
                "message": "2 findings at or above HIGH block the release (CRITICAL 1, HIGH 1); "
                "worst: CVE-2024-0001 (CRITICAL), CVE-2024-0002 (HIGH). "
                "Fix them or add their ids to allowedFindings.",
            },
        },
    )
    run(load_event("job_success"))
    assert world.release()[0] == {"imageDigest": None}
    assert world.messages() == []


@pytest.mark.parametrize("status", [None, "IN_PROGRESS", "PENDING"])
def test_scan_in_progress_continues(world: World, status: str | None) -> None:
    world.put_artifact()
    world.put_image()
    scan_on_push(world)
    if status is not None:
        world.scan(status)
    world.expect_continuation()
    tokens: list[str] = []
    client = handler.codepipeline_client()
    client.meta.events.register(
        "provide-client-params.codepipeline.PutJobSuccessResult",
        lambda params, **_: tokens.append(params["continuationToken"]),
    )
    run(load_event("job_success"))
    [token] = tokens
    assert len(token) <= 2048
    assert json.loads(token)["d"] == DIGEST
    assert json.loads(token)["n"] == 1
    assert world.release()[0] == {"imageDigest": None}
    assert TAG not in image_tags(world)


def test_continuation_finishes_when_the_scan_does(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready(world)
    event = load_event("job_continuation")
    since = json.loads(event["CodePipeline.job"]["data"]["continuationToken"])["s"]
    monkeypatch.setattr(handler, "now", lambda: since + 60.0)
    world.expect_success(job="22222222-abcd-2222-abcd-222222222222")
    run(event)
    assert world.release()[0]["recordedAt"] == "2026-01-01T00:01:00+00:00"


def test_continuation_gives_up(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.put_artifact()
    world.put_image()
    world.scan("IN_PROGRESS")
    event = load_event("job_continuation")
    since = json.loads(event["CodePipeline.job"]["data"]["continuationToken"])["s"]
    monkeypatch.setattr(handler, "now", lambda: since + 900.0)
    world.expect_failure("JobFailed", job="22222222-abcd-2222-abcd-222222222222")
    run(event)
    assert world.release()[0] == {"imageDigest": None}


def test_continuation_still_waiting_keeps_its_start(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.put_artifact()
    world.put_image()
    scan_on_push(world)
    event = load_event("job_continuation")
    since = json.loads(event["CodePipeline.job"]["data"]["continuationToken"])["s"]
    monkeypatch.setattr(handler, "now", lambda: since + 30.0)
    world.stubber.add_response(
        "put_job_success_result",
        {},
        {
            "jobId": "22222222-abcd-2222-abcd-222222222222",
            "continuationToken": json.dumps({"v": 1, "d": DIGEST, "s": since, "n": 2}),
            "executionDetails": {"summary": f"waiting for the scan of {DIGEST} (poll 2)"},
        },
    )
    run(event)


@pytest.mark.parametrize("status", ["FAILED", "UNSUPPORTED_IMAGE"])
def test_scan_failed_blocks(world: World, status: str) -> None:
    world.put_artifact()
    world.put_image()
    world.scan(status)
    world.expect_failure("JobFailed")
    run(load_event("job_success"))


def test_more_findings_than_the_budget_allows_block(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Findings beyond the pages the time budget counts on fail closed, never pass unread."""
    ready(world, scan=False)
    world.scan("COMPLETE", [{"name": "CVE-2024-0003", "severity": "LOW"}])
    monkeypatch.setattr(aws, "MAX_SCAN_PAGES", 0)
    world.expect_failure("JobFailed")
    run(load_event("job_success"))
    assert world.release()[0] == {"imageDigest": None}
    assert "more than 0 scan findings" in caplog.text


# --- the artifact and the image ----------------------------------------------------------------


def test_missing_input_artifact_fails(world: World) -> None:
    world.expect_failure("JobFailed")
    run(load_event("job_missing_artifact"))


def test_artifact_object_missing_fails(world: World) -> None:
    world.put_image()
    world.expect_failure("JobFailed")
    run(load_event("job_success"))


@pytest.mark.parametrize(
    "artifact",
    [
        {"raw": b"not a zip"},
        {"files": {"other.json": b"{}"}},
        {"files": {"imageDetail.json": b"{not json"}},
        {"files": {"imageDetail.json": b'{"ImageURI": 7}'}},
        {"files": {"imageDetail.json": b'{"ImageURI": "repo:latest"}'}},
        {"raw": b"x" * (aws.MAX_ARTIFACT_BYTES + 1)},
    ],
    ids=["not-zip", "no-detail", "not-json", "no-uri", "by-tag", "too-large"],
)
def test_malformed_image_detail_fails(world: World, artifact: dict[str, Any]) -> None:
    world.put_artifact(**artifact)
    world.expect_failure("JobFailed")
    run(load_event("job_success"))


def test_digest_not_in_ecr_fails(world: World) -> None:
    world.put_artifact()
    world.stubber.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": JOB,
            "failureDetails": {
                "type": "JobFailed",
                "message": f"{DIGEST} is not in repository pipeline-images-dev",
            },
        },
    )
    run(load_event("job_success"))


def test_repository_missing_is_a_configuration_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.put_artifact()
    world.client("ecr").delete_repository(repositoryName="pipeline-images-dev", force=True)
    world.expect_failure("ConfigurationError")
    run(load_event("job_success"))


def test_digest_out_of_sync_with_the_build_variables(world: World) -> None:
    world.put_artifact()
    event = load_event("job_success")
    configuration = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
    params = json.loads(configuration["UserParameters"])
    params["imageDigest"] = "sha256:" + "cd" * 32
    configuration["UserParameters"] = json.dumps(params)
    world.expect_failure("RevisionOutOfSync")
    run(event)


def test_malformed_parameters_are_a_configuration_error(world: World) -> None:
    world.expect_failure("ConfigurationError")
    run(load_event("job_malformed_parameters"))


def test_missing_environment_is_a_configuration_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAP_TOPIC_ARN")
    world.expect_failure("ConfigurationError")
    run(load_event("job_success"))


@pytest.mark.parametrize(
    ("code", "failure_type"),
    [("AccessDenied", "PermissionError"), ("InvalidObjectState", "JobFailed")],
)
def test_artifact_read_errors_are_reported(world: World, code: str, failure_type: str) -> None:
    world.put_artifact()
    s3 = boto3.client("s3", region_name=REGION)
    inject(s3, "GetObject", code, 403)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aws, "artifact_client", lambda _credentials: s3)
        world.expect_failure(failure_type)
        run(load_event("job_success"))


# --- steps 5 and 6 -------------------------------------------------------------------------------


def test_ssm_write_failure_fails_and_does_not_notify(world: World) -> None:
    ready(world)
    inject(handler.services().ssm, "PutParameter", "AccessDeniedException", 400)
    world.stubber.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": JOB,
            "failureDetails": {
                "type": "PermissionError",
                "message": "PutParameter failed: AccessDeniedException: injected",
            },
        },
    )
    run(load_event("job_success"))
    assert world.release()[0] == {"imageDigest": None}
    assert world.messages() == []


def test_release_parameter_missing_fails(world: World) -> None:
    ready(world)
    world.client("ssm").delete_parameter(Name=PARAMETER)
    world.expect_failure("JobFailed")
    run(load_event("job_success"))


def test_sns_failure_keeps_the_release_and_succeeds(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    ready(world)
    world.client("sns").delete_topic(TopicArn=world.topic_arn)
    world.expect_success(
        {
            "imageDigest": DIGEST,
            "imageUri": f"111122223333.dkr.ecr.{REGION}.amazonaws.com/pipeline-images-dev@{DIGEST}",
            "releaseTag": TAG,
            "releaseParameter": PARAMETER,
            "releaseVersion": "2",
            "notification": "failed",
        }
    )
    run(load_event("job_success"))
    assert world.release()[0]["imageDigest"] == DIGEST
    assert "notification failed: NotFound" in caplog.text


def test_sns_unreachable_keeps_the_release(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    ready(world)
    monkeypatch.setattr(aws, "publish", _unreachable)
    world.expect_success()
    run(load_event("job_success"))
    assert world.release()[0]["imageDigest"] == DIGEST


def _unreachable(*_: Any) -> None:
    from botocore.exceptions import EndpointConnectionError

    raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


# --- reliability -----------------------------------------------------------------------------


def test_throttling_is_retried(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    ready(world)
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda *_: 0.0)
    calls = inject(handler.services().ecr, "DescribeImages", "ThrottlingException", 400, times=2)
    world.expect_success()
    run(load_event("job_success"))
    assert len(calls) == 3


def test_throttling_past_the_attempts_is_system_unavailable(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready(world)
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda *_: 0.0)
    calls = inject(handler.services().ecr, "DescribeImages", "ThrottlingException", 400, times=9)
    world.expect_failure("SystemUnavailable")
    run(load_event("job_success"))
    assert len(calls) == aws.MAX_ATTEMPTS


def test_time_budget_exhausted_before_starting(world: World) -> None:
    world.stubber.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": JOB,
            "failureDetails": {
                "type": "JobFailed",
                "message": "time budget exhausted before reading the artifact: 1000 ms left, "
                f"{handler.RESERVE_MS} ms kept to report",
            },
        },
    )
    run(load_event("job_success"), LambdaContext([1000]))


def test_time_budget_exhausted_mid_way_records_nothing(world: World) -> None:
    ready(world)
    world.expect_failure("JobFailed")
    run(load_event("job_success"), LambdaContext([120_000, 120_000, 120_000, 1000]))
    assert world.release()[0] == {"imageDigest": None}


def test_without_a_context_the_default_budget_applies(world: World) -> None:
    ready(world)
    world.expect_success()
    handler.handler(load_event("job_success"), None)


def test_aws_unreachable_is_system_unavailable(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.put_artifact()
    monkeypatch.setattr(
        handler.services(),
        "ecr",
        boto3.client(
            "ecr",
            region_name=REGION,
            endpoint_url="http://127.0.0.1:9",
            config=aws.CLIENT_CONFIG.merge(
                aws.Config(retries={"mode": "standard", "total_max_attempts": 1})
            ),
        ),
    )
    world.expect_failure("SystemUnavailable")
    run(load_event("job_success"))


def test_unexpected_error_is_reported(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any) -> None:
        raise RuntimeError("surprise")

    monkeypatch.setattr(handler, "parse_job", boom)
    world.stubber.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": JOB,
            "failureDetails": {"type": "JobFailed", "message": "unexpected RuntimeError: surprise"},
        },
    )
    run(load_event("job_success"))


def test_messages_never_quote_the_credentials(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def leaky(*_: Any) -> None:
        raise ValueError(
            "bad header: Credential=ASIAEXAMPLEEXAMPLE00/20260101 SESSION-TOKEN-DO-NOT-LOG"
        )

    monkeypatch.setattr(aws, "artifact_client", leaky)
    world.stubber.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": JOB,
            "failureDetails": {
                "type": "JobFailed",
                "message": "unexpected ValueError: bad header: Credential=***/20260101 ***",
            },
        },
    )
    run(load_event("job_success"))


def test_failure_to_report_success_is_reported_as_failure(world: World) -> None:
    ready(world)
    world.stubber.add_client_error("put_job_success_result", "ValidationException", "bad")
    world.stubber.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": JOB,
            "failureDetails": {
                "type": "SystemUnavailable",
                "message": "reporting success failed: ValidationException",
            },
        },
    )
    run(load_event("job_success"))


def test_failure_report_failing_does_not_raise(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.stubber.add_client_error("put_job_failure_result", "InternalError", "boom", 500)
    run(load_event("job_missing_artifact"))
    assert "could not report the failure" in caplog.text


def test_finished_job_failure_report_is_a_no_op(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.stubber.add_client_error("put_job_failure_result", "JobNotFoundException", "gone")
    run(load_event("job_missing_artifact"))
    assert "already finished" in caplog.text


def test_reporting_without_a_client_does_not_raise(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_client() -> Any:
        raise RuntimeError("no region")

    monkeypatch.setattr(handler, "codepipeline_client", no_client)
    run(load_event("job_missing_artifact"))
    assert "could not report job" in caplog.text


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        {},
        {"CodePipeline.job": "x"},
        {"CodePipeline.job": {"id": 7}},
        {"CodePipeline.job": {"id": ""}},
    ],
)
def test_event_without_job_id_is_logged_not_raised(
    event: Any, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    run(event)
    assert "without a CodePipeline job id" in caplog.text


def test_real_clients_have_bounded_standard_retries(world: World) -> None:
    services = aws.Services()
    for client in (services.codepipeline, services.ecr, services.ecs, services.ssm, services.sns):
        assert client.meta.region_name == REGION
        assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
        assert client.meta.config.read_timeout == aws.READ_TIMEOUT
    credentials = handler.parse_job(load_event("job_success"), JOB).credentials
    s3 = aws.artifact_client(credentials)
    assert s3.meta.config.signature_version == "s3v4"
    assert "DO-NOT-LOG" not in repr(credentials)


def test_logs_never_carry_the_event(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ready(world)
    world.expect_success()
    run(load_event("job_success"))
    assert "artifactCredentials" not in caplog.text


def test_denied_scan_findings_are_a_permission_error(world: World) -> None:
    world.put_artifact()
    world.put_image()
    inject(handler.services().ecr, "DescribeImageScanFindings", "AccessDeniedException", 400)
    world.expect_failure("PermissionError")
    run(load_event("job_success"))


def test_codepipeline_client_is_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import aws_environment

    for name, value in aws_environment("http://127.0.0.1:9").items():
        monkeypatch.setenv(name, value)
    handler.services.cache_clear()
    try:
        assert handler.codepipeline_client() is handler.services().codepipeline
    finally:
        handler.services.cache_clear()


# --- the release tag -----------------------------------------------------------------------------


def test_release_tag_is_added_before_the_release_is_recorded(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready(world)
    seen: list[list[str]] = []
    write = aws.write_parameter

    def write_after_looking(*args: Any) -> int:
        seen.append(image_tags(world))
        return write(*args)

    monkeypatch.setattr(aws, "write_parameter", write_after_looking)
    world.expect_success()
    run(load_event("job_success"))
    assert seen == [["0123456789ab-7", TAG]]


def test_release_tag_on_another_image_fails_and_records_nothing(world: World) -> None:
    ready(world)
    other = "sha256:" + "cd" * 32
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"digest": other, "size": 1, "mediaType": "application/json"},
        "layers": [],
    }
    ecr = world.client("ecr")
    ecr.put_image(
        repositoryName=REPOSITORY,
        imageManifest=json.dumps(manifest),
        imageTag=TAG,
        imageDigest=other,
    )
    ecr.put_image_tag_mutability(repositoryName=REPOSITORY, imageTagMutability="IMMUTABLE")
    failure_message(
        world,
        "JobFailed",
        f"tag {TAG} already names another image ({other}) in repository "
        "'pipeline-images-dev'; tags there are immutable: not released",
    )
    run(load_event("job_success"))
    assert world.release()[0] == {"imageDigest": None}
    assert world.messages() == []
    assert image_tags(world) == ["0123456789ab-7"]


def test_tag_already_existing_on_this_digest_is_success(world: World) -> None:
    """AWS may answer ImageTagAlreadyExistsException for the digest's own tag in an immutable
    repository: asked which image the tag names, the step finds its own and goes on."""
    ready(world)
    world.expect_success()
    run(load_event("job_success"))
    inject(handler.services().ecr, "PutImage", "ImageTagAlreadyExistsException", 400)
    world.expect_success()
    run(load_event("job_success"))
    assert image_tags(world) == ["0123456789ab-7", TAG]


def test_tag_conflict_on_a_tag_ecr_cannot_find_fails(world: World) -> None:
    ready(world)
    inject(handler.services().ecr, "PutImage", "ImageTagAlreadyExistsException", 400)
    failure_message(
        world,
        "JobFailed",
        f"tag {TAG} already names another image (unknown) in repository "
        "'pipeline-images-dev'; tags there are immutable: not released",
    )
    run(load_event("job_success"))
    assert world.release()[0] == {"imageDigest": None}


def test_denied_tag_lookup_is_a_permission_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready(world)
    monkeypatch.setattr(aws, "verify_image", lambda *_: None)  # DescribeImages only for the tag
    ecr = handler.services().ecr
    inject(ecr, "PutImage", "ImageTagAlreadyExistsException", 400)
    inject(ecr, "DescribeImages", "AccessDeniedException", 400)
    failure_message(
        world, "PermissionError", "DescribeImages failed: AccessDeniedException: injected"
    )
    run(load_event("job_success"))
    assert world.release()[0] == {"imageDigest": None}


def test_denied_tagging_is_a_permission_error_and_records_nothing(world: World) -> None:
    ready(world)
    inject(handler.services().ecr, "PutImage", "AccessDeniedException", 400)
    failure_message(world, "PermissionError", "PutImage failed: AccessDeniedException: injected")
    run(load_event("job_success"))
    assert world.release()[0] == {"imageDigest": None}
    assert world.messages() == []


def test_manifest_that_cannot_be_read_is_not_tagged(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.put_artifact()
    monkeypatch.setenv("TAP_FAIL_ON_SEVERITY", "NONE")
    monkeypatch.setattr(aws, "verify_image", lambda *_: None)  # gone between the two steps
    event = load_event("job_success")
    configuration = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
    configuration["UserParameters"] = configuration["UserParameters"].replace('"HIGH"', '"NONE"')
    failure_message(
        world,
        "JobFailed",
        f"cannot read the manifest of {DIGEST} (Requested image not found); not tagged",
    )
    run(event)
    assert world.release()[0] == {"imageDigest": None}


def test_manifest_is_put_back_with_its_media_type(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready(world)
    sent: list[dict[str, Any]] = []
    ecr = handler.services().ecr
    ecr.meta.events.register(
        "provide-client-params.ecr.BatchGetImage", lambda params, **_: sent.append(params)
    )
    ecr.meta.events.register(
        "provide-client-params.ecr.PutImage", lambda params, **_: sent.append(params)
    )
    media_type = "application/vnd.docker.distribution.manifest.v2+json"

    def with_media_type(parsed: dict[str, Any], **_: Any) -> None:
        for image in parsed.get("images", []):
            image["imageManifestMediaType"] = media_type  # AWS always says; moto may not

    ecr.meta.events.register("after-call.ecr.BatchGetImage", with_media_type)
    world.expect_success()
    run(load_event("job_success"))
    get, put = sent
    assert get["acceptedMediaTypes"] == aws.MANIFEST_MEDIA_TYPES
    assert get["imageIds"] == [{"imageDigest": DIGEST}]
    assert put["imageManifestMediaType"] == media_type
    assert (put["imageTag"], put["imageDigest"]) == (TAG, DIGEST)


# --- no scan, and none coming --------------------------------------------------------------------


def test_no_scan_and_none_configured_fails_at_once(world: World) -> None:
    world.put_artifact()
    world.put_image()
    failure_message(world, "ConfigurationError", scanning.no_scan_message(DIGEST, REPOSITORY))
    run(load_event("job_success"))
    assert world.release()[0] == {"imageDigest": None}
    assert TAG not in image_tags(world)


def test_repository_scan_on_push_means_a_scan_is_coming(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack's repository scans on push; moto says so only with tap's emulator patch."""
    from moto.ecr.models import ECRBackend

    from tap_cicd.local import server

    monkeypatch.setattr(
        ECRBackend,
        "batch_get_repository_scanning_configuration",
        ECRBackend.batch_get_repository_scanning_configuration,
    )
    server.patch_moto_scanning_configuration()
    world.put_artifact()
    world.put_image()
    world.client("ecr").put_image_scanning_configuration(
        repositoryName=REPOSITORY, imageScanningConfiguration={"scanOnPush": True}
    )
    world.expect_continuation()
    run(load_event("job_success"))


def test_denied_scanning_configuration_is_a_permission_error(world: World) -> None:
    world.put_artifact()
    world.put_image()
    inject(
        handler.services().ecr,
        "BatchGetRepositoryScanningConfiguration",
        "AccessDeniedException",
        400,
    )
    failure_message(
        world,
        "PermissionError",
        "BatchGetRepositoryScanningConfiguration failed: AccessDeniedException: injected",
    )
    run(load_event("job_success"))


# --- the time budget counts every call -------------------------------------------------------


def calls_per_step(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(step, AWS calls made after its budget check), for every step of one invocation."""
    from botocore.endpoint import Endpoint

    steps: list[tuple[str, int]] = []
    make_request = Endpoint.make_request
    check = releases.Budget.check

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        if steps:
            steps[-1] = (steps[-1][0], steps[-1][1] + 1)
        return make_request(self, *args, **kwargs)

    def checked(self: releases.Budget, step: str) -> None:
        check(self, step)
        steps.append((step, 0))

    monkeypatch.setattr(Endpoint, "make_request", counted)
    monkeypatch.setattr(releases.Budget, "check", checked)
    return steps


def test_no_step_makes_more_calls_than_the_budget_keeps_room_for(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready(world)
    steps = calls_per_step(monkeypatch)
    world.expect_success()
    run(load_event("job_success"))
    assert steps == [
        ("reading the artifact", 1),
        ("verifying the image", 1),
        ("reading the scan findings", 1),
        ("tagging the release", 2),
        ("recording the release", 3),
    ]
    # A repeated delivery: the tag exists, so tagging asks which image it names.
    steps.clear()
    world.expect_success()
    run(load_event("job_success"))
    assert ("tagging the release", aws.TAG_CALLS) in steps
    assert max(n for _, n in steps) <= aws.MAX_CALLS_PER_STEP


def test_the_no_scan_path_stays_within_the_budget(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.put_artifact()
    world.put_image()
    steps = calls_per_step(monkeypatch)
    world.expect_failure("ConfigurationError")
    run(load_event("job_success"))
    assert steps[-1] == ("reading the scan findings", aws.NO_SCAN_CALLS)
    assert aws.MAX_CALLS_PER_STEP == 4
    assert handler.RESERVE_MS == 5 * aws.WORST_CALL_MS


def test_time_budget_checked_before_tagging(world: World) -> None:
    ready(world)
    failure_message(
        world,
        "JobFailed",
        "time budget exhausted before tagging the release: 1000 ms left, "
        f"{handler.RESERVE_MS} ms kept to report",
    )
    run(load_event("job_success"), LambdaContext([120_000, 120_000, 120_000, 1000]))
    assert TAG not in image_tags(world)
    assert world.release()[0] == {"imageDigest": None}


# --- error types -------------------------------------------------------------------------------


def test_invalid_parameter_is_a_configuration_error_not_unreachable(world: World) -> None:
    event = load_event("job_success")
    location = event["CodePipeline.job"]["data"]["inputArtifacts"][0]["location"]
    location["s3Location"]["bucketName"] = "bücket"
    failure_message(
        world,
        "ConfigurationError",
        "an AWS request was refused before it was sent (a permanent error: fix the value it "
        'names): Parameter validation failed:\nInvalid bucket name "bücket": Bucket name must '
        'match the regex "^[a-zA-Z0-9.\\-_]{1,255}$" or be an ARN matching the regex '
        '"^arn:(aws).*:(s3|s3-object-lambda):[a-z\\-0-9]*:[0-9]{12}:accesspoint[/:][a-zA-Z0-9\\-.]'
        "{1,63}$|^arn:(aws).*:s3-outposts:[a-z\\-0-9]+:[0-9]{12}:outpost[/:][a-zA-Z0-9\\-]{1,63}"
        '[/:]accesspoint[/:][a-zA-Z0-9\\-]{1,63}$"',
    )
    run(event)


def _raising(error: Exception) -> Any:
    def raise_it(*_: Any) -> None:
        raise error

    return raise_it


@pytest.mark.parametrize(
    ("error", "failure_type", "message"),
    [
        (
            botocore_errors.ReadTimeoutError(endpoint_url="https://ecr"),
            "SystemUnavailable",
            'AWS unreachable: Read timeout on endpoint URL: "https://ecr"',
        ),
        (
            botocore_errors.ConnectTimeoutError(endpoint_url="https://ecr"),
            "SystemUnavailable",
            'AWS unreachable: Connect timeout on endpoint URL: "https://ecr"',
        ),
        (
            botocore_errors.ConnectionClosedError(endpoint_url="https://ecr"),
            "SystemUnavailable",
            "AWS unreachable: Connection was closed before we received a valid response "
            'from endpoint URL: "https://ecr".',
        ),
        (
            botocore_errors.IncompleteReadError(actual_bytes=1, expected_bytes=2),
            "SystemUnavailable",
            "AWS unreachable: 1 read, but total bytes expected is 2.",
        ),
        (
            botocore_errors.NoCredentialsError(),
            "JobFailed",
            "AWS client error NoCredentialsError: Unable to locate credentials",
        ),
        (
            botocore_errors.UnknownParameterError(
                name="X", operation="DescribeImages", choices="Y"
            ),
            "ConfigurationError",
            "an AWS request was refused before it was sent (a permanent error: fix the value "
            "it names): Unknown parameter 'X' for operation DescribeImages.  Must be one of: Y",
        ),
    ],
    ids=["read-timeout", "connect-timeout", "closed", "incomplete", "no-credentials", "unknown"],
)
def test_botocore_errors_are_typed(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    failure_type: str,
    message: str,
) -> None:
    world.put_artifact()
    monkeypatch.setattr(aws, "verify_image", _raising(error))
    failure_message(world, failure_type, message)
    run(load_event("job_success"))


def test_a_huge_job_id_is_logged_short(world: World, caplog: pytest.LogCaptureFixture) -> None:
    huge = "J" * 1_000_000
    event = load_event("job_missing_artifact")
    event["CodePipeline.job"]["id"] = huge
    world.expect_failure("JobFailed", job=huge)  # CodePipeline still gets the whole id
    run(event)
    lines = [r.getMessage() for r in caplog.get_records("call") if r.name == handler.LOG.name]
    assert lines
    assert max(len(line) for line in lines) < 1000
    assert f"job {failures.shown(huge)} failed" in lines[-1]


def test_a_huge_error_text_is_reported_short(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handler, "parse_job", _raising(ValueError("v" * 1_000_000)))
    failure_message(
        world,
        "JobFailed",
        "unexpected ValueError: " + "v" * (failures.MAX_ERROR_TEXT - 3) + "...",
    )
    run(load_event("job_success"))


# --- hostile credentials ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        (
            "sessionToken",
            "HOSTILE-SESSION\nTOKEN-'\"\\-0001",
            "AWS unreachable: An HTTP Client raised an unhandled exception: "
            "Invalid header value b'***'",
        ),
        (
            "accessKeyId",
            "ASIAHOSTILE\nKEY-'\"\\-0002",
            "AWS unreachable: An HTTP Client raised an unhandled exception: "
            "Invalid header value b'AWS4-HMAC-SHA256 Credential=***/",
        ),
    ],
)
def test_escaped_credentials_never_reach_the_message_or_the_log(
    world: World, caplog: pytest.LogCaptureFixture, field: str, value: str, expected: str
) -> None:
    world.put_artifact()
    world.put_image()
    event = load_event("job_success")
    event["CodePipeline.job"]["data"]["artifactCredentials"][field] = value
    messages: list[str] = []
    client = handler.codepipeline_client()
    client.meta.events.register(
        "provide-client-params.codepipeline.PutJobFailureResult",
        lambda params, **_: messages.append(params["failureDetails"]["message"]),
    )
    world.expect_failure("SystemUnavailable")
    run(event)
    [message] = messages
    assert message.startswith(expected)
    logged = "\n".join(r.getMessage() for r in caplog.get_records("call"))
    assert message in logged
    for form in (value, repr(value), repr(value.encode()), json.dumps(value)):
        for text in (message, logged):
            assert form not in text
            assert form[1:-1] not in text
    assert "HOSTILE" not in logged


def test_log_lines_are_scrubbed_whatever_they_quote(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = load_event("job_success")["CodePipeline.job"]["data"]["artifactCredentials"]
    event = load_event("job_missing_artifact")
    event["CodePipeline.job"]["id"] = f"job-{token['sessionToken']}"
    world.expect_failure("JobFailed", job=f"job-{token['sessionToken']}")
    run(event)
    lines = [r.getMessage() for r in caplog.get_records("call") if r.name == handler.LOG.name]
    assert "job 'job-***' failed (JobFailed)" in lines[-1]
