"""The deploy function's minimal contract: always one job result, never the event in the logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tap_cicd.deploy import handler

EVENTS = Path(__file__).parents[1] / "events"


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Stubber:
    client = boto3.client(
        "codepipeline",
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    stubber = Stubber(client)
    monkeypatch.setattr(handler, "codepipeline_client", lambda: client)
    return stubber


JOB = "11111111-abcd-1111-abcd-111111111111"


def test_success_is_reported(stubbed: Stubber, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stubbed.add_response("put_job_success_result", {}, {"jobId": JOB})
    with stubbed:
        assert handler.handler(load_event("job_success"), None) is None
    stubbed.assert_no_pending_responses()
    assert "DO-NOT-LOG" not in caplog.text
    assert JOB in caplog.text


def test_failure_to_report_success_is_reported_as_failure(
    stubbed: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    stubbed.add_client_error("put_job_success_result", "ThrottlingException", "slow down")
    stubbed.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": JOB,
            "failureDetails": {
                "type": "JobFailed",
                "message": "ClientError: An error occurred (ThrottlingException) when calling "
                "the PutJobSuccessResult operation: slow down",
            },
        },
    )
    with stubbed:
        handler.handler(load_event("job_success"), None)
    stubbed.assert_no_pending_responses()
    assert "DO-NOT-LOG" not in caplog.text


def test_failure_report_failing_does_not_raise(
    stubbed: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    stubbed.add_client_error("put_job_success_result", "InternalError", "boom")
    stubbed.add_client_error("put_job_failure_result", "InvalidJobStateException", "done")
    with stubbed:
        handler.handler(load_event("job_success"), None)
    stubbed.assert_no_pending_responses()
    assert "could not report the failure" in caplog.text


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
    event: Any, stubbed: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    with stubbed:
        handler.handler(event, None)
    stubbed.assert_no_pending_responses()
    assert "without a CodePipeline job id" in caplog.text


def test_real_client_has_bounded_standard_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    client = handler.codepipeline_client()
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
