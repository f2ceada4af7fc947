"""The CodePipeline job event, parsed into typed objects.

The event carries temporary artifact credentials: ``Credentials`` never shows them in its
``repr``, and nothing here logs (baseline L7).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_cicd.deploy.failures import CONFIGURATION_ERROR, JOB_FAILED, JobFailure

ARTIFACT = "build_output"
"""The input artifact that carries ``imageDetail.json`` (the Build action's output)."""
MIN_SECRET = 4
"""Shorter strings are not worth scrubbing (and would mangle messages)."""
UNRESOLVED = "#{"
"""A ``UserParameters`` value CodePipeline did not resolve still starts with this."""


def job_id_of(event: object) -> str | None:
    """The job id of a CodePipeline job event, or ``None`` when there is none."""
    if not isinstance(event, dict):
        return None
    job = event.get("CodePipeline.job")
    if not isinstance(job, dict):
        return None
    job_id = job.get("id")
    return job_id if isinstance(job_id, str) and job_id else None


def secrets_of(event: object) -> tuple[str, ...]:
    """The credential strings of an event, whatever its shape, to scrub from any message."""
    job = event.get("CodePipeline.job") if isinstance(event, dict) else None
    data = job.get("data") if isinstance(job, dict) else None
    found = data.get("artifactCredentials") if isinstance(data, dict) else None
    values = found.values() if isinstance(found, dict) else ()
    return tuple(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET)


@dataclass(frozen=True)
class Credentials:
    """The job's temporary artifact credentials (hidden from ``repr``)."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)


@dataclass(frozen=True)
class Location:
    """Where an artifact lives."""

    bucket: str
    key: str


@dataclass(frozen=True)
class Job:
    """One invocation's job."""

    id: str
    artifact: Location
    credentials: Credentials
    encryption_key: str | None
    parameters: dict[str, str]
    continuation_token: str | None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise JobFailure(JOB_FAILED, f"malformed job event: {what} is not an object")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise JobFailure(JOB_FAILED, f"malformed job event: {what} is missing")
    return value


def _artifact(data: Mapping[str, Any]) -> Location:
    artifacts = data.get("inputArtifacts")
    if not isinstance(artifacts, list) or not artifacts:
        raise JobFailure(JOB_FAILED, "the job has no input artifact (expected the build output)")
    chosen = next(
        (a for a in artifacts if isinstance(a, dict) and a.get("name") == ARTIFACT), artifacts[0]
    )
    location = _object(_object(chosen, "inputArtifacts[]").get("location"), "artifact location")
    s3 = _object(location.get("s3Location"), "artifact s3Location")
    return Location(_text(s3.get("bucketName"), "bucketName"), _text(s3.get("objectKey"), "key"))


def parameters_of(raw: Any) -> dict[str, str]:
    """``UserParameters``: a JSON object of strings; unresolved ``#{...}`` values are dropped."""
    if raw is None or raw == "":
        return {}
    try:
        values = json.loads(raw) if isinstance(raw, str) else None
    except ValueError as error:
        raise JobFailure(CONFIGURATION_ERROR, "UserParameters is not JSON") from error
    if not isinstance(values, dict):
        raise JobFailure(CONFIGURATION_ERROR, "UserParameters is not a JSON object")
    return {
        str(k): v
        for k, v in values.items()
        if isinstance(v, str) and v and not v.startswith(UNRESOLVED)
    }


def parse_job(event: Mapping[str, Any], job_id: str) -> Job:
    """The typed job; a shape we cannot use fails the job (never the handler)."""
    data = _object(_object(event["CodePipeline.job"], "job").get("data"), "job data")
    credentials = _object(data.get("artifactCredentials"), "artifactCredentials")
    key = data.get("encryptionKey")
    key_id = key.get("id") if isinstance(key, dict) else None
    configuration = _object(data.get("actionConfiguration", {}), "actionConfiguration")
    token = data.get("continuationToken")
    return Job(
        id=job_id,
        artifact=_artifact(data),
        credentials=Credentials(
            _text(credentials.get("accessKeyId"), "accessKeyId"),
            _text(credentials.get("secretAccessKey"), "secretAccessKey"),
            _text(credentials.get("sessionToken"), "sessionToken"),
        ),
        encryption_key=key_id if isinstance(key_id, str) else None,
        parameters=parameters_of(
            _object(configuration.get("configuration", {}), "configuration").get("UserParameters")
        ),
        continuation_token=token if isinstance(token, str) and token else None,
    )
