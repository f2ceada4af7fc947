"""Entry point of the deploy function: parse the job, delegate, always answer CodePipeline.

The incoming event is never logged: it carries temporary artifact credentials (baseline L7).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_codepipeline import CodePipelineClient

LOG = logging.getLogger(__name__)
LOG.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

# Bounded standard retries: throttling is retried, but never past the function's timeout.
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=5)
MAX_MESSAGE = 5000


def codepipeline_client() -> CodePipelineClient:
    """The CodePipeline client (a function so tests can stub it)."""
    return boto3.client("codepipeline", config=CLIENT_CONFIG)


def job_id_of(event: object) -> str | None:
    """The job id of a CodePipeline job event, or ``None`` when there is none."""
    if not isinstance(event, dict):
        return None
    job = event.get("CodePipeline.job")
    if not isinstance(job, dict):
        return None
    job_id = job.get("id")
    return job_id if isinstance(job_id, str) and job_id else None


def handler(event: Any, context: Any) -> None:
    """Report the job's result; never raise (a raise makes Lambda retry the async invoke)."""
    job_id = job_id_of(event)
    if job_id is None:
        LOG.error("event without a CodePipeline job id; nothing to report")
        return
    client = codepipeline_client()
    try:
        client.put_job_success_result(jobId=job_id)
        LOG.info("job %s succeeded", job_id)
    except Exception as error:  # noqa: BLE001 - every failure must reach CodePipeline
        LOG.warning("job %s failed: %s", job_id, type(error).__name__)
        _report_failure(client, job_id, f"{type(error).__name__}: {error}")


def _report_failure(client: CodePipelineClient, job_id: str, message: str) -> None:
    try:
        client.put_job_failure_result(
            jobId=job_id,
            failureDetails={"type": "JobFailed", "message": message[:MAX_MESSAGE]},
        )
    except Exception:  # nothing left to report to; the action times out
        LOG.exception("could not report the failure of job %s", job_id)
