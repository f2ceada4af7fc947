"""The release, without AWS: its tag, its record in the parameter, its message, how the job
ends, and the time budget.

Only the standard library: this module ships in the Lambda archive and is imported on a cold start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from tap_cicd.deploy.failures import (
    JOB_FAILED,
    MAX_FAILURE_MESSAGE,
    MAX_SUMMARY,
    JobFailure,
    clip,
    scrub,
)
from tap_cicd.deploy.logic import Image

MAX_SUBJECT = 100
"""SNS ``Subject`` limit."""
RELEASE_TAG_PREFIX = "release-"
"""Released digests are tagged ``release-<12 hex>``; the repository's lifecycle policy keeps
images with this prefix (``tap_cicd.documents.RELEASE_TAG_PREFIX``, the same value)."""


def release_tag(digest: str) -> str:
    """``release-<first 12 hex of the digest>``: the tag that keeps a released image."""
    return RELEASE_TAG_PREFIX + digest.removeprefix("sha256:")[:12]


# --- the release --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """What the release parameter records."""

    image: Image
    commit: str | None
    source_version: str | None
    execution_id: str | None
    image_tag: str | None
    recorded_at: str
    job_id: str
    release_tag: str
    """The tag the deploy step gave the digest (``release-<12 hex>``)."""
    task_definition: str | None = None
    """The task-definition revision the service runs the release with (``None``: not rolled
    out, ``deployTarget`` ``none``)."""
    previous: dict[str, Any] | None = None
    """The release this one replaced, for a rollback (``previous_of`` the stored record)."""

    def record(self) -> dict[str, Any]:
        """The parameter's JSON value."""
        return {
            "imageDigest": self.image.digest,
            "imageUri": self.image.uri,
            "imageTag": self.image_tag,
            "releaseTag": self.release_tag,
            "commit": self.commit,
            "sourceVersion": self.source_version,
            "pipelineExecutionId": self.execution_id,
            "jobId": self.job_id,
            "recordedAt": self.recorded_at,
            "taskDefinitionArn": self.task_definition,
            "previousRelease": self.previous,
        }

    def text(self) -> str:
        """Canonical JSON of the record."""
        return json.dumps(self.record(), sort_keys=True, separators=(",", ":"))

    def same_as(self, stored: str | None) -> bool:
        """The stored record is this release (same digest and execution): writing is a no-op."""
        try:
            previous = json.loads(stored or "")
        except ValueError:
            return False
        return (
            isinstance(previous, dict)
            and previous.get("imageDigest") == self.image.digest
            and previous.get("pipelineExecutionId") == self.execution_id
        )

    def subject(self, parameter_name: str) -> str:
        """SNS subject (at most 100 characters)."""
        return clip(f"Release {self.image.digest[7:19]} recorded in {parameter_name}", MAX_SUBJECT)

    def message(self, parameter_name: str) -> str:
        """The readable release message."""
        lines = [
            f"Released {self.image.uri}",
            f"Commit: {self.commit or self.source_version or 'unknown'}",
            f"Image tag: {self.image_tag or 'unknown'}",
            f"Release tag: {self.release_tag}",
            f"Pipeline execution: {self.execution_id or 'unknown'}",
            f"Recorded at: {self.recorded_at} in {parameter_name}",
        ]
        if self.task_definition:
            lines.insert(1, f"Running as: {self.task_definition}")
        return "\n".join(lines)


PREVIOUS_FIELDS = (
    "imageDigest",
    "imageUri",
    "releaseTag",
    "taskDefinitionArn",
    "pipelineExecutionId",
    "recordedAt",
)
"""What a record keeps of the release before it: enough to roll back to it. Not its own
``previousRelease``: the record stays one release deep, far below a standard parameter's
4096 characters.
https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"""


def previous_of(stored: str | None) -> dict[str, Any] | None:
    """The stored record as the new record's ``previousRelease``; ``None`` when it records no
    release (the stack's initial ``{"imageDigest": null}``, or not our JSON)."""
    try:
        record = json.loads(stored or "")
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("imageDigest"), str):
        return None
    return {key: record.get(key) for key in PREVIOUS_FIELDS}


def failure_subject(image: Image) -> str:
    """SNS subject of a release that did not roll out."""
    return clip(f"Release {image.digest[7:19]} failed to roll out", MAX_SUBJECT)


def failure_message(image: Image, execution_id: str | None, reason: str) -> str:
    """The readable message of a release that did not roll out (nothing was recorded)."""
    return "\n".join(
        [
            f"Not released: {image.uri}",
            f"Pipeline execution: {execution_id or 'unknown'}",
            f"Reason: {clip(reason, MAX_FAILURE_MESSAGE)}",
            "The release parameter is unchanged.",
        ]
    )


@dataclass(frozen=True)
class Outcome:
    """How the job ends: success (final or continuing) or failure."""

    failure_type: str | None = None
    message: str = ""
    continuation: str | None = None
    variables: dict[str, str] = field(default_factory=dict)

    @classmethod
    def failed(cls, failure: JobFailure) -> Outcome:
        """A failure."""
        return cls(failure.failure_type, failure.message)

    def reportable(self, secrets: Iterable[str]) -> Outcome:
        """This outcome as it may be sent: its message scrubbed of ``secrets``, then clipped
        to the API's limit (in this order: a clipped secret would no longer match)."""
        limit = MAX_SUMMARY if self.failure_type is None else MAX_FAILURE_MESSAGE
        return replace(self, message=clip(scrub(self.message, secrets), limit))


def output_variables(
    release: Release, parameter_name: str, version: int, notification: str
) -> dict[str, str]:
    """The Deploy action's output variables (strings only; only on the final success).

    ``notification`` is ``sent``, ``failed`` (the release stands) or ``skipped`` (a repeated
    delivery of a release already recorded and announced). ``taskDefinitionArn`` only when the
    release was rolled out (``deployTarget`` ``ecs``).
    """
    variables = {
        "imageDigest": release.image.digest,
        "imageUri": release.image.uri,
        "releaseTag": release.release_tag,
        "releaseParameter": parameter_name,
        "releaseVersion": str(version),
        "notification": notification,
    }
    if release.task_definition is not None:
        variables["taskDefinitionArn"] = release.task_definition
    return variables


# --- the time budget ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """Stop working while there is still time to report (R6)."""

    remaining_ms: Callable[[], int]
    reserve_ms: int

    def check(self, step: str) -> None:
        """Fail before ``step`` when less than the reserve is left."""
        left = self.remaining_ms()
        if left < self.reserve_ms:
            raise JobFailure(
                JOB_FAILED,
                f"time budget exhausted before {step}: {left} ms left, "
                f"{self.reserve_ms} ms kept to report",
            )
