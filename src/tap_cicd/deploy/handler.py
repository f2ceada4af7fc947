"""Entry point of the deploy function: parse the job, run the steps, always answer CodePipeline.

Every path with a job id ends in one job result (R1); nothing escapes ``handler`` (R2). The
incoming event is never logged: it carries temporary artifact credentials (baseline L7).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from tap_cicd.deploy import aws
from tap_cicd.deploy.events import Job, job_id_of, parse_job, secrets_of
from tap_cicd.deploy.logic import (
    JOB_FAILED,
    JOB_STATE_CODES,
    MAX_SUMMARY,
    SYSTEM_UNAVAILABLE,
    Budget,
    DeployConfig,
    Image,
    JobFailure,
    Outcome,
    Release,
    Waiting,
    blocked_message,
    check_image,
    check_parameters,
    clip,
    failure_type_of,
    gate,
    image_of_detail,
    output_variables,
    scan_outcome,
    scrub,
)

if TYPE_CHECKING:
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_codepipeline.literals import FailureTypeType
    from mypy_boto3_codepipeline.type_defs import ExecutionDetailsTypeDef

LOG = logging.getLogger(__name__)
LOG.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

RESERVE_MS = (aws.MAX_CALLS_PER_STEP + 1) * aws.WORST_CALL_MS
"""Kept back from the Lambda timeout: the step under way may make its most calls, each at
its worst, and the report one more (R6)."""
DEFAULT_REMAINING_MS = 300_000
"""When the context cannot tell (a local call), assume the function's configured timeout."""


@cache
def services() -> aws.Services:
    """The function role's clients, shared by warm invocations."""
    return aws.Services()


def codepipeline_client() -> CodePipelineClient:
    """The CodePipeline client (a function so tests can stub it)."""
    return services().codepipeline


def now() -> float:
    """The clock (a function so tests can move it)."""
    return time.time()


def handler(event: Any, context: Any) -> None:
    """Run one job and report its result; never raise (a raise makes Lambda retry)."""
    job_id = job_id_of(event)
    if job_id is None:
        LOG.error("event without a CodePipeline job id; nothing to report")
        return
    try:
        outcome = run(event, job_id, context)
    except JobFailure as failure:
        outcome = Outcome.failed(failure)
    except ClientError as error:
        code = aws.error_code(error)
        operation = getattr(error, "operation_name", "an AWS call")
        outcome = Outcome.failed(JobFailure(failure_type_of(code), f"{operation} failed: {code}"))
    except BotoCoreError as error:
        outcome = Outcome.failed(JobFailure(SYSTEM_UNAVAILABLE, f"AWS unreachable: {error}"))
    except Exception as error:  # noqa: BLE001 - every failure must reach CodePipeline (R2)
        message = f"unexpected {type(error).__name__}: {error}"
        outcome = Outcome.failed(JobFailure(JOB_FAILED, message))
    # Our messages never quote the credentials; an AWS or library error might (L7).
    report(job_id, replace(outcome, message=scrub(outcome.message, secrets_of(event))))


def _remaining(context: Any) -> int:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return int(remaining()) if callable(remaining) else DEFAULT_REMAINING_MS


def run(event: dict[str, Any], job_id: str, context: Any) -> Outcome:
    """The steps of one invocation; a ``JobFailure`` (or AWS error) ends it as failed."""
    budget = Budget(lambda: _remaining(context), RESERVE_MS)
    config = DeployConfig.from_env(os.environ)
    job = parse_job(event, job_id)
    check_parameters(config, job.parameters)
    budget.check("reading the artifact")
    detail = aws.read_image_detail(aws.artifact_client(job.credentials), job.artifact)
    image = image_of_detail(detail)
    check_image(image, config, job.parameters)
    budget.check("verifying the image")
    aws.verify_image(services().ecr, config.repository_name, image.digest)
    if config.fail_on_severity != "NONE":
        budget.check("reading the scan findings")
        waiting = _gate(job, config, image)
        if waiting is not None:
            return Outcome(
                continuation=waiting.token(),
                message=f"waiting for the scan of {image.digest} (poll {waiting.polls})",
            )
    budget.check("recording the release")
    return _record_and_notify(job, config, image)


def _gate(job: Job, config: DeployConfig, image: Image) -> Waiting | None:
    """``None`` when the findings let the release through, the state to continue with while
    the scan runs; a failure when findings block or the scan cannot finish."""
    moment = int(now())
    waiting = Waiting.from_token(job.continuation_token, image.digest, moment)
    status, findings = aws.scan_findings(services().ecr, config.repository_name, image.digest)
    if not scan_outcome(status, waiting, moment, config.scan_wait_seconds):
        LOG.info("scan of %s not finished (%s); continuing", image.digest, status or "not started")
        return waiting
    verdict = gate(findings, config.fail_on_severity, config.allowed_findings)
    if not verdict.passed:
        raise JobFailure(JOB_FAILED, blocked_message(verdict, config.fail_on_severity))
    LOG.info(
        "scan of %s passed: %d findings, %d allow-listed",
        image.digest,
        verdict.total,
        len(verdict.allowed),
    )
    return None


def _record_and_notify(job: Job, config: DeployConfig, image: Image) -> Outcome:
    """Step 5 (record) then step 6 (notify).

    The parameter is the release's source of truth; the message only announces it. So a
    failed publish does not fail the job: the release stands, ``notification`` says
    ``failed`` and a warning is logged (the pipeline's own SUCCEEDED event still reaches the
    topic). A repeated delivery finds its release already recorded and neither writes nor
    publishes again (``notification`` ``skipped``): at most one message per release.
    """
    params = job.parameters
    release = Release(
        image=image,
        commit=params.get("commit"),
        source_version=params.get("sourceVersion"),
        execution_id=params.get("pipelineExecutionId"),
        image_tag=params.get("imageTag"),
        recorded_at=datetime.fromtimestamp(now(), UTC).isoformat(timespec="seconds"),
        job_id=job.id,
    )
    ssm = services().ssm
    stored, version = aws.read_parameter(ssm, config.parameter_name)
    if release.same_as(stored):
        notification = "skipped"
        LOG.info("release %s already recorded (version %d)", image.digest, version)
    else:
        version = aws.write_parameter(ssm, config.parameter_name, release.text())
        notification = _notify(config, release)
    summary = (
        f"Released {image.uri} ({config.parameter_name} v{version}); notification {notification}"
    )
    return Outcome(
        message=clip(summary, MAX_SUMMARY),
        variables=output_variables(release, config.parameter_name, version, notification),
    )


def _notify(config: DeployConfig, release: Release) -> str:
    try:
        aws.publish(
            services().sns,
            config.topic_arn,
            release.subject(config.parameter_name),
            release.message(config.parameter_name),
        )
    except (ClientError, BotoCoreError) as error:
        code = aws.error_code(error) if isinstance(error, ClientError) else type(error).__name__
        LOG.warning("release recorded but its notification failed: %s", code)
        return "failed"
    return "sent"


def report(job_id: str, outcome: Outcome) -> None:
    """Send the one job result; a job already finished makes this a no-op (R4)."""
    try:
        client = codepipeline_client()
        if outcome.failure_type is None:
            _succeed(client, job_id, outcome)
        else:
            LOG.warning("job %s failed (%s): %s", job_id, outcome.failure_type, outcome.message)
            client.put_job_failure_result(
                jobId=job_id,
                failureDetails={
                    "type": cast("FailureTypeType", outcome.failure_type),
                    "message": outcome.message,
                },
            )
    except ClientError as error:
        code = aws.error_code(error)
        if code in JOB_STATE_CODES:
            LOG.info("job %s is already finished (%s); nothing to report", job_id, code)
        elif outcome.failure_type is None:
            # Success could not be reported: report failure so the action does not hang (R1).
            failure = JobFailure(SYSTEM_UNAVAILABLE, f"reporting success failed: {code}")
            report(job_id, Outcome.failed(failure))
        else:
            LOG.error("could not report the failure of job %s: %s", job_id, code)
    except Exception as error:  # noqa: BLE001 - nothing left to report to; the action times out
        LOG.error("could not report job %s: %s", job_id, type(error).__name__)


def _succeed(client: CodePipelineClient, job_id: str, outcome: Outcome) -> None:
    details: ExecutionDetailsTypeDef = {"summary": outcome.message}
    if outcome.continuation is not None:
        client.put_job_success_result(
            jobId=job_id, continuationToken=outcome.continuation, executionDetails=details
        )
        LOG.info("job %s continues: %s", job_id, outcome.message)
        return
    details["percentComplete"] = 100
    client.put_job_success_result(
        jobId=job_id, outputVariables=outcome.variables, executionDetails=details
    )
    LOG.info("job %s succeeded: %s", job_id, outcome.message)
