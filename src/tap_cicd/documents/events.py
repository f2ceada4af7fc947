"""EventBridge documents: the event patterns and the notification text."""

from __future__ import annotations

from tap_cicd.documents._base import Document

PIPELINE_STATES = ("FAILED", "SUCCEEDED", "STOPPED")
"""Pipeline execution states worth a notification."""


def pipeline_state_pattern(pipeline_arn: str) -> Document:
    """Execution state changes of this pipeline only (baseline N1)."""
    return {
        "source": ["aws.codepipeline"],
        "detail-type": ["CodePipeline Pipeline Execution State Change"],
        "resources": [pipeline_arn],
        "detail": {"state": list(PIPELINE_STATES)},
    }


def source_upload_pattern(bucket_name: str, object_key: str) -> Document:
    """An upload of the source object (S3 EventBridge notifications)."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [object_key]}},
    }


NOTIFICATION_INPUT_PATHS = {
    "pipeline": "$.detail.pipeline",
    "execution": "$.detail.execution-id",
    "state": "$.detail.state",
    "time": "$.time",
    "region": "$.region",
}
NOTIFICATION_TEMPLATE = (
    '"Pipeline <pipeline> execution <execution> is <state> (<time>). '
    "Details: https://<region>.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
    '<pipeline>/executions/<execution>/timeline?region=<region>"'
)
"""A readable message (a JSON string, as SNS email delivers it verbatim)."""
