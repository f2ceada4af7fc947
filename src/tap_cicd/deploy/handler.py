"""Entry point of the deploy function: parse the job, run the steps, always answer CodePipeline.

Every path with a job id ends in one job result (R1); nothing escapes ``handler`` (R2). The
incoming event is never logged: it carries temporary artifact credentials (baseline L7). Every
reported message and every line this module logs is scrubbed of those credentials, in every
rendering (raw, ``repr``- or JSON-escaped), and quotes at most ``MAX_SHOWN`` characters of
any one value from the event.
"""

from __future__ import annotations

import logging
import os
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, NoReturn, cast

from botocore.exceptions import BotoCoreError, ClientError

from tap_cicd.deploy import aws, deploying
from tap_cicd.deploy.events import Job, job_id_of, parse_job, secrets_of
from tap_cicd.deploy.failures import (
    CONFIGURATION_ERROR,
    JOB_FAILED,
    JOB_STATE_CODES,
    MAX_ERROR_TEXT,
    SYSTEM_UNAVAILABLE,
    JobFailure,
    clip,
    failure_type_of,
    scrub,
    shown,
)
from tap_cicd.deploy.logic import (
    DeployConfig,
    Image,
    check_image,
    check_parameters,
    image_of_detail,
)
from tap_cicd.deploy.releases import (
    Budget,
    Outcome,
    Release,
    failure_message,
    failure_subject,
    output_variables,
    previous_of,
    release_tag,
)
from tap_cicd.deploy.rollout import COMPLETED, FAILED, RolloutConfig, timed_out_message
from tap_cicd.deploy.scanning import (
    Waiting,
    blocked_message,
    gate,
    no_scan_message,
    scan_expected,
    scan_outcome,
)

if TYPE_CHECKING:
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_codepipeline.literals import FailureTypeType
    from mypy_boto3_codepipeline.type_defs import ExecutionDetailsTypeDef

_SECRETS: ContextVar[tuple[str, ...]] = ContextVar("secrets", default=())
"""The credentials of the job under way, for the log filter and the messages."""


class _Scrubbed(logging.Filter):
    """Scrubs every record of this module's logger of the job's credentials (in the rendered
    message: a value may be escaped there but not in the arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage(), _SECRETS.get())
        record.args = None
        return True


LOG = logging.getLogger(__name__)
LOG.setLevel(os.environ.get("LOG_LEVEL", "INFO"))
LOG.addFilter(_Scrubbed())
# botocore's DEBUG records print every request's headers, the job's session token among them
# (and the role's): whatever LOG_LEVEL or the runtime's log level says, they stay off.
logging.getLogger("botocore").setLevel(max(logging.getLogger("botocore").level, logging.INFO))

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
    secrets = secrets_of(event)
    scope = _SECRETS.set(secrets)
    try:
        job_id = job_id_of(event)
        if job_id is None:
            LOG.error("event without a CodePipeline job id; nothing to report")
            return
        # Our messages never quote the credentials; an AWS or library error might (L7).
        report(job_id, _outcome(event, job_id, context).reportable(secrets))
    finally:
        _SECRETS.reset(scope)


def _outcome(event: dict[str, Any], job_id: str, context: Any) -> Outcome:
    """The job's outcome: what ``run`` returns, or the failure it raised."""
    try:
        return run(event, job_id, context)
    except JobFailure as failure:
        return Outcome.failed(failure)
    except ClientError as error:
        code = aws.error_code(error)
        operation = getattr(error, "operation_name", "an AWS call")
        # AWS's message says what was refused (an access denial: who, what, on what).
        said = str(error.response.get("Error", {}).get("Message") or "")
        message = f"{operation} failed: {code}" + (f": {said}" if said else "")
        return Outcome.failed(JobFailure(failure_type_of(code), message))
    except BotoCoreError as error:
        return Outcome.failed(aws.failure_of(error, _text_of(error)))
    except Exception as error:  # noqa: BLE001 - every failure must reach CodePipeline (R2)
        message = f"unexpected {type(error).__name__}: {_text_of(error)}"
        return Outcome.failed(JobFailure(JOB_FAILED, message))


def _text_of(error: Exception) -> str:
    """An error's text for a message: scrubbed first (so a clipped secret cannot survive),
    then clipped (it may echo a whole request value)."""
    return clip(scrub(str(error), _SECRETS.get()), MAX_ERROR_TEXT)


def _remaining(context: Any) -> int:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return int(remaining()) if callable(remaining) else DEFAULT_REMAINING_MS


def run(event: dict[str, Any], job_id: str, context: Any) -> Outcome:
    """The steps of one invocation; a ``JobFailure`` (or AWS error) ends it as failed.

    Verify, gate, tag, then (``ecs``) start the rollout and follow it through continuation
    tokens, recording only a completed one; (``none``) record at once.
    """
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
    moment = int(now())
    rollout = config.rollout
    waiting = Waiting.from_token(
        job.continuation_token,
        image.digest,
        moment,
        config.scan_wait_seconds,
        None if rollout is None else rollout.wait_seconds,
    )
    if waiting.revision is not None and rollout is not None:
        return _follow(job, config, rollout, image, waiting=waiting, budget=budget)
    if config.fail_on_severity != "NONE":
        budget.check("reading the scan findings")
        if not _gate(config, image, waiting, moment):
            return Outcome(
                continuation=waiting.token(),
                message=f"waiting for the scan of {image.digest} (poll {waiting.polls})",
            )
    # Tagged before it is recorded (or rolled out): the lifecycle policy keeps release-*
    # images, so a recorded or running release is never one the lifecycle may expire. A
    # failure here records nothing.
    budget.check("tagging the release")
    tag = release_tag(image.digest)
    aws.tag_image(services().ecr, config.repository_name, image.digest, tag)
    if rollout is not None:
        revision = deploying.start(services().ecs, rollout, job, image, budget)
        # Answered "in progress": CodePipeline invokes the function again with the token, and
        # output variables go only with the final success.
        # https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PutJobSuccessResult.html
        following = Waiting(image.digest, int(now()), 1, revision)
        return Outcome(
            continuation=following.token(),
            message=f"rolling out {revision} to {rollout.cluster}/{rollout.service}",
        )
    budget.check("recording the release")
    return _record_and_notify(job, config, image, tag)


def _gate(config: DeployConfig, image: Image, waiting: Waiting, moment: int) -> bool:
    """``True`` when the findings let the release through, ``False`` to continue while the
    scan runs; a failure when findings block or the scan cannot finish."""
    ecr = services().ecr
    status, findings = aws.scan_findings(ecr, config.repository_name, image.digest)
    if status is None and not scan_expected(
        aws.scanning_configuration(ecr, config.repository_name), config.repository_name
    ):
        # Waiting would only end in the timeout: say now what to enable.
        raise JobFailure(CONFIGURATION_ERROR, no_scan_message(image.digest, config.repository_name))
    if not scan_outcome(status, waiting, moment, config.scan_wait_seconds):
        LOG.info("scan of %s not finished (%s); continuing", image.digest, status or "not started")
        return False
    verdict = gate(findings, config.fail_on_severity, config.allowed_findings)
    if not verdict.passed:
        raise JobFailure(JOB_FAILED, blocked_message(verdict, config.fail_on_severity))
    LOG.info(
        "scan of %s passed: %d findings, %d allow-listed",
        image.digest,
        verdict.total,
        len(verdict.allowed),
    )
    return True


def _follow(
    job: Job,
    config: DeployConfig,
    rollout: RolloutConfig,
    image: Image,
    *,
    waiting: Waiting,
    budget: Budget,
) -> Outcome:
    """A continuation of the rollout of ``waiting.revision``: record a completed one, fail a
    failed or overdue one (announcing it), or continue."""
    revision = str(waiting.revision)
    rollout.check_revision(revision)
    progress = deploying.progress(services().ecs, rollout, revision, budget)
    if progress.state == COMPLETED:
        budget.check("recording the release")
        return _record_and_notify(job, config, image, release_tag(image.digest), revision)
    if progress.state == FAILED:
        _rollout_failed(job, config, image, budget, f"not released: {progress.detail}")
    waited = int(now()) - waiting.since
    if waited >= rollout.wait_seconds:
        message = timed_out_message(revision, progress, rollout.wait_seconds, waiting.polls)
        _rollout_failed(job, config, image, budget, message)
    return Outcome(
        continuation=waiting.token(),
        message=f"rolling out {progress.detail} (poll {waiting.polls}, {waited} s)",
    )


def _rollout_failed(
    job: Job, config: DeployConfig, image: Image, budget: Budget, reason: str
) -> NoReturn:
    """Announce that the release did not roll out, then fail the job with ``reason``; the
    announcement failing (or no time left for it) only logs a warning: the job's failure, with
    its reason, is the news."""
    try:
        budget.check("announcing the failed rollout")
        aws.publish(
            services().sns,
            config.topic_arn,
            failure_subject(image),
            failure_message(image, job.parameters.get("pipelineExecutionId"), reason),
        )
    except JobFailure as late:
        LOG.warning("the failed rollout was not announced: %s", late.message)
    except (ClientError, BotoCoreError) as error:
        code = aws.error_code(error) if isinstance(error, ClientError) else type(error).__name__
        LOG.warning("the failed rollout could not be announced: %s", code)
    raise JobFailure(JOB_FAILED, reason)


def _record_and_notify(
    job: Job, config: DeployConfig, image: Image, tag: str, task_definition: str | None = None
) -> Outcome:
    """Step 5 (record) then step 6 (notify).

    The parameter is the release's source of truth; the message only announces it. So a
    failed publish does not fail the job: the release stands, ``notification`` says
    ``failed`` and a warning is logged (the pipeline's own SUCCEEDED event still reaches the
    topic). A repeated delivery finds its release already recorded and neither writes nor
    publishes again (``notification`` ``skipped``): at most one message per release. The
    record keeps the release it replaces (``previousRelease``), for a rollback.
    """
    params = job.parameters
    ssm = services().ssm
    stored, version = aws.read_parameter(ssm, config.parameter_name)
    release = Release(
        image=image,
        commit=params.get("commit"),
        source_version=params.get("sourceVersion"),
        execution_id=params.get("pipelineExecutionId"),
        image_tag=params.get("imageTag"),
        recorded_at=datetime.fromtimestamp(now(), UTC).isoformat(timespec="seconds"),
        job_id=job.id,
        release_tag=tag,
        task_definition=task_definition,
        previous=previous_of(stored),
    )
    if release.same_as(stored):
        notification = "skipped"
        LOG.info("release %s already recorded (version %d)", image.digest, version)
    else:
        version = aws.write_parameter(ssm, config.parameter_name, release.text())
        notification = _notify(config, release)
    running = f" running as {task_definition}" if task_definition else ""
    summary = (
        f"Released {image.uri} as {tag}{running} ({config.parameter_name} v{version}); "
        f"notification {notification}"
    )
    return Outcome(
        message=summary,
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
            LOG.warning(
                "job %s failed (%s): %s", shown(job_id), outcome.failure_type, outcome.message
            )
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
            LOG.info("job %s is already finished (%s); nothing to report", shown(job_id), code)
        elif outcome.failure_type is None:
            # Success could not be reported: report failure so the action does not hang (R1).
            failure = JobFailure(SYSTEM_UNAVAILABLE, f"reporting success failed: {code}")
            report(job_id, Outcome.failed(failure))
        else:
            LOG.error("could not report the failure of job %s: %s", shown(job_id), code)
    except Exception as error:  # noqa: BLE001 - nothing left to report to; the action times out
        LOG.error("could not report job %s: %s", shown(job_id), type(error).__name__)


def _succeed(client: CodePipelineClient, job_id: str, outcome: Outcome) -> None:
    details: ExecutionDetailsTypeDef = {"summary": outcome.message}
    if outcome.continuation is not None:
        client.put_job_success_result(
            jobId=job_id, continuationToken=outcome.continuation, executionDetails=details
        )
        LOG.info("job %s continues: %s", shown(job_id), outcome.message)
        return
    details["percentComplete"] = 100
    client.put_job_success_result(
        jobId=job_id, outputVariables=outcome.variables, executionDetails=details
    )
    LOG.info("job %s succeeded: %s", shown(job_id), outcome.message)
