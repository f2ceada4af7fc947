"""The deploy step's inputs, without AWS: the configuration (environment variables and
``UserParameters``) and the image of the build's artifact.

Only the standard library: this module ships in the Lambda archive and is imported on a cold start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from tap_cicd.deploy.failures import (
    CONFIGURATION_ERROR,
    JOB_FAILED,
    REVISION_OUT_OF_SYNC,
    JobFailure,
    shown,
)
from tap_cicd.deploy.rollout import RolloutConfig
from tap_cicd.deploy.scanning import (
    DEFAULT_SCAN_WAIT_SECONDS,
    MAX_SCAN_WAIT_SECONDS,
    THRESHOLDS,
)

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# --- configuration -------------------------------------------------------------------------------


def _split_ids(raw: str) -> frozenset[str]:
    text = raw.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError as error:
            raise JobFailure(CONFIGURATION_ERROR, "TAP_ALLOWED_FINDINGS is not JSON") from error
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise JobFailure(CONFIGURATION_ERROR, "TAP_ALLOWED_FINDINGS must list strings")
        return frozenset(v.strip() for v in values if v.strip())
    return frozenset(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class DeployConfig:
    """What the stack passes the function (environment variables). Authoritative for every
    resource the function touches: the role allows exactly these resources."""

    topic_arn: str
    parameter_name: str
    repository_name: str
    fail_on_severity: str = "HIGH"
    allowed_findings: frozenset[str] = frozenset()
    scan_wait_seconds: int = 900
    rollout: RolloutConfig | None = None
    """Where the release rolls out (``TAP_DEPLOY_TARGET=ecs``); ``None`` records it only."""

    REQUIRED = (
        ("topic_arn", "TAP_TOPIC_ARN"),
        ("parameter_name", "TAP_RELEASE_PARAMETER"),
        ("repository_name", "TAP_REPOSITORY_NAME"),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DeployConfig:
        """Read and validate; a missing or invalid variable is a ``ConfigurationError``."""
        values: dict[str, str] = {}
        for attribute, variable in cls.REQUIRED:
            value = env.get(variable, "").strip()
            if not value:
                raise JobFailure(CONFIGURATION_ERROR, f"environment variable {variable} is unset")
            values[attribute] = value
        severity = env.get("TAP_FAIL_ON_SEVERITY", "HIGH").strip().upper()
        if severity not in THRESHOLDS:
            raise JobFailure(
                CONFIGURATION_ERROR,
                f"TAP_FAIL_ON_SEVERITY must be one of {', '.join(THRESHOLDS)}",
            )
        wait = env.get("TAP_SCAN_WAIT_SECONDS", str(DEFAULT_SCAN_WAIT_SECONDS)).strip()
        # ASCII digits only: str.isdigit also accepts "²", which int() refuses.
        if not re.fullmatch(r"[0-9]{1,9}", wait) or not 0 <= int(wait) <= MAX_SCAN_WAIT_SECONDS:
            raise JobFailure(
                CONFIGURATION_ERROR, f"TAP_SCAN_WAIT_SECONDS must be 0-{MAX_SCAN_WAIT_SECONDS}"
            )
        return cls(
            fail_on_severity=severity,
            allowed_findings=_split_ids(env.get("TAP_ALLOWED_FINDINGS", "")),
            scan_wait_seconds=int(wait),
            rollout=RolloutConfig.from_env(env),
            **values,
        )


# --- the image -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    """The image to release, always addressed by digest (R5)."""

    repository_uri: str
    digest: str

    @property
    def uri(self) -> str:
        """``<registry>/<repository>@sha256:...``."""
        return f"{self.repository_uri}@{self.digest}"

    @property
    def repository_name(self) -> str:
        """The repository part of the URI (after the registry host)."""
        return self.repository_uri.partition("/")[2]


def image_of_detail(raw: bytes) -> Image:
    """The image of the build's ``imageDetail.json`` (``{"ImageURI": "<repo>@sha256:..."}``)."""
    try:
        detail = json.loads(raw)
    except ValueError as error:
        raise JobFailure(JOB_FAILED, "imageDetail.json is not JSON") from error
    uri = detail.get("ImageURI") if isinstance(detail, dict) else None
    if not isinstance(uri, str):
        raise JobFailure(JOB_FAILED, "imageDetail.json has no ImageURI string")
    repository_uri, _, digest = uri.partition("@")
    if "/" not in repository_uri or not DIGEST.fullmatch(digest):
        raise JobFailure(
            JOB_FAILED, "imageDetail.json ImageURI is not <registry>/<repository>@sha256:<64 hex>"
        )
    return Image(repository_uri, digest)


def check_image(image: Image, config: DeployConfig, params: Mapping[str, str]) -> None:
    """The artifact's image must be in our repository and agree with the resolved variables."""
    if image.repository_name != config.repository_name:
        raise JobFailure(
            CONFIGURATION_ERROR,
            f"image repository {shown(image.repository_name)} is not "
            f"{shown(config.repository_name)}",
        )
    declared = params.get("imageDigest")
    if declared is not None and declared != image.digest:
        raise JobFailure(
            REVISION_OUT_OF_SYNC,
            f"imageDetail.json digest {image.digest} differs from IMAGE_DIGEST {shown(declared)}",
        )


def check_parameters(config: DeployConfig, params: Mapping[str, str]) -> None:
    """``UserParameters`` may repeat, never contradict, the stack's configuration."""
    for key, expected in (
        ("repositoryName", config.repository_name),
        ("failOnSeverity", config.fail_on_severity),
    ):
        given = params.get(key)
        if given is not None and given != expected:
            raise JobFailure(
                CONFIGURATION_ERROR,
                f"UserParameters {key} {shown(given)} contradicts {shown(expected)}",
            )
