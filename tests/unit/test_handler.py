"""The deploy step end to end: moto for S3, ECR, SSM and SNS, a Stubber for CodePipeline.

Every test ends with the ``world`` fixture's checks: each scripted job result was sent (and no
other: the Stubber refuses unscripted calls), and no credential reached the log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from conftest import DIGEST, JOB, PARAMETER, REGION, LambdaContext, World, load_event

from tap_cicd.deploy import aws, handler


def run(event: Any, context: Any = None) -> None:
    assert handler.handler(event, context or LambdaContext()) is None


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
            "releaseParameter": PARAMETER,
            "releaseVersion": "2",
            "notification": "sent",
        }
    )
    run(load_event("job_success"))
    record, version = world.release()
    assert version == 2
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
            "releaseParameter": PARAMETER,
            "releaseVersion": "2",
            "notification": "skipped",
        }
    )
    run(load_event("job_success"))


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
                "message": "PutParameter failed: AccessDeniedException",
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
    for client in (services.codepipeline, services.ecr, services.ssm, services.sns):
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
