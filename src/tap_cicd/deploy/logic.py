"""The deploy step's decisions, without AWS: configuration, the severity gate, the continuation
state, the release record, messages and the time budget.

Only the standard library: this module ships in the Lambda archive and is imported on a cold start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

SEVERITY_RANK: dict[str, int] = {
    "INFORMATIONAL": 1,
    "LOW": 2,
    "MEDIUM": 3,
    "HIGH": 4,
    "CRITICAL": 5,
}
"""ECR severities, mildest first. ``UNDEFINED`` and ``UNTRIAGED`` rank 0: they never block."""
THRESHOLDS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "NONE")
"""Values of ``failOnSeverity``; ``NONE`` turns the gate off."""

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
MAX_FAILURE_MESSAGE = 5000
"""``PutJobFailureResult``'s ``failureDetails.message`` limit."""
MAX_SUMMARY = 2048
"""``executionDetails.summary`` limit."""
MAX_CONTINUATION = 2048
"""``continuationToken`` limit."""
MAX_SUBJECT = 100
"""SNS ``Subject`` limit."""
WORST_IDS = 5
"""How many blocking finding ids a failure message names."""
MAX_SHOWN = 200
"""How much of one value from the event or the artifact (a job id, a parameter) a message or a
log line quotes: a hostile or broken event must not fill the log or crowd out the reason."""
MAX_ERROR_TEXT = 1000
"""How much of an exception's text a failure message quotes (it may echo request values)."""
RELEASE_TAG_PREFIX = "release-"
"""Released digests are tagged ``release-<12 hex>``; the repository's lifecycle policy keeps
images with this prefix (``tap_cicd.documents.RELEASE_TAG_PREFIX``, the same value)."""

# Failure types of PutJobFailureResult.
JOB_FAILED = "JobFailed"
CONFIGURATION_ERROR = "ConfigurationError"
PERMISSION_ERROR = "PermissionError"
REVISION_OUT_OF_SYNC = "RevisionOutOfSync"
SYSTEM_UNAVAILABLE = "SystemUnavailable"

PERMISSION_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "KMSAccessDeniedException"}
)
TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "ServerException",
        "SlowDown",
    }
)
JOB_STATE_CODES = frozenset({"InvalidJobStateException", "JobNotFoundException"})
"""Errors of PutJob*Result that mean the job is already finished (or gone): nothing to do."""


class JobFailure(Exception):
    """A reason to end the job with ``PutJobFailureResult``."""

    def __init__(self, failure_type: str, message: str) -> None:
        super().__init__(message)
        self.failure_type = failure_type
        self.message = message


def failure_type_of(code: str) -> str:
    """The CodePipeline failure type for an AWS error code."""
    if code in PERMISSION_CODES:
        return PERMISSION_ERROR
    if code in TRANSIENT_CODES:
        return SYSTEM_UNAVAILABLE
    return JOB_FAILED


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: str) -> str:
    """``value`` quoted for a message or a log line, at most ``MAX_SHOWN`` characters of it."""
    return repr(clip(value, MAX_SHOWN))


def _escapes(text: str) -> set[str]:
    """``text`` as the usual renderings quote it: ``repr`` of the string and of its bytes
    (``http.client`` quotes a bad header value as ``b'...'``, encoded latin-1), and JSON."""
    forms = {
        repr(text)[1:-1],
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
    }
    for encoding in ("utf-8", "latin-1"):
        try:
            forms.add(repr(text.encode(encoding))[2:-1])
        except UnicodeEncodeError:
            continue
    return forms


@lru_cache(maxsize=32)
def renderings(secret: str) -> tuple[str, ...]:
    """Every form in which ``secret`` may reach a message, longest first: raw, escaped once
    (a ``repr`` in an error) and escaped twice (that error inside a JSON body or a ``repr``).

    A secret with a newline or a quote only shows escaped; matching the raw text alone would
    let it through.
    """
    once = _escapes(secret)
    twice = {form for escaped in once for form in _escapes(escaped)}
    return tuple(sorted({secret} | once | twice, key=lambda form: (-len(form), form)))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every rendering of every secret replaced (defence in depth: no message
    should carry one). Scrub before clipping: a clipped secret no longer matches."""
    for secret in secrets:
        for form in renderings(secret):
            text = text.replace(form, "***")
    return text


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
        wait = env.get("TAP_SCAN_WAIT_SECONDS", "900").strip()
        if not wait.isdigit() or not 0 <= int(wait) <= 86400:
            raise JobFailure(CONFIGURATION_ERROR, "TAP_SCAN_WAIT_SECONDS must be 0-86400")
        return cls(
            fail_on_severity=severity,
            allowed_findings=_split_ids(env.get("TAP_ALLOWED_FINDINGS", "")),
            scan_wait_seconds=int(wait),
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


# --- the severity gate -------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One scan finding: its id (a CVE id for basic scanning) and severity."""

    id: str
    severity: str

    @property
    def rank(self) -> int:
        """Higher is worse; unknown severities rank 0."""
        return SEVERITY_RANK.get(self.severity, 0)


def finding_of(raw: Mapping[str, Any]) -> Finding:
    """A basic (``name``) or enhanced (``packageVulnerabilityDetails.vulnerabilityId``) finding."""
    details = raw.get("packageVulnerabilityDetails")
    vulnerability = details.get("vulnerabilityId") if isinstance(details, Mapping) else None
    identity = raw.get("name") or vulnerability or raw.get("title") or raw.get("findingArn")
    return Finding(str(identity or "unnamed"), str(raw.get("severity") or "UNDEFINED").upper())


@dataclass(frozen=True)
class Verdict:
    """What the gate decided."""

    blocking: tuple[Finding, ...]
    allowed: tuple[Finding, ...]
    total: int

    @property
    def passed(self) -> bool:
        """No finding blocks the release."""
        return not self.blocking


def gate(findings: Iterable[Finding], threshold: str, allowed_ids: frozenset[str]) -> Verdict:
    """Block on findings at or above ``threshold`` unless their id is allow-listed (C2)."""
    every = list(findings)
    if threshold == "NONE":
        return Verdict((), (), len(every))
    bar = SEVERITY_RANK[threshold]
    at_or_above = [f for f in every if f.rank >= bar]
    blocking = sorted(
        (f for f in at_or_above if f.id not in allowed_ids), key=lambda f: (-f.rank, f.id)
    )
    allowed = tuple(f for f in at_or_above if f.id in allowed_ids)
    return Verdict(tuple(blocking), allowed, len(every))


def blocked_message(verdict: Verdict, threshold: str) -> str:
    """``3 findings at or above HIGH block the release (CRITICAL 1, HIGH 2); worst: ...``."""
    counts: dict[str, int] = {}
    for finding in verdict.blocking:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    by_severity = ", ".join(f"{s} {n}" for s, n in counts.items())
    worst = ", ".join(f"{f.id} ({f.severity})" for f in verdict.blocking[:WORST_IDS])
    more = len(verdict.blocking) - WORST_IDS
    tail = f" and {more} more" if more > 0 else ""
    noun = "finding" if len(verdict.blocking) == 1 else "findings"
    return clip(
        f"{len(verdict.blocking)} {noun} at or above {threshold} block the release "
        f"({by_severity}); worst: {worst}{tail}. Fix them or add their ids to allowedFindings.",
        MAX_FAILURE_MESSAGE,
    )


# --- scan status and continuation ----------------------------------------------------------------

SCAN_DONE = frozenset({"COMPLETE", "ACTIVE"})
"""Findings are final (basic) or current (enhanced, continuous)."""
SCAN_PENDING = frozenset({"IN_PROGRESS", "PENDING"})
"""Ask again later. A missing scan (``ScanNotFoundException``) counts as pending too."""


MAX_CLOCK_SKEW = 300
"""Seconds a continuation token's start may lie ahead of this invocation's clock: successive
invocations may run on hosts whose clocks differ a little. More is not a token of ours."""
MAX_POLLS = 10_000
"""A token's poll count above this is not ours: even one poll every 10 s through the longest
configurable wait (``TAP_SCAN_WAIT_SECONDS`` 86400) stays below it."""
TOKEN_VERSION = 1


def _token_fields(token: str) -> dict[str, Any]:
    if len(token) > MAX_CONTINUATION:
        raise _bad_token(f"longer than {MAX_CONTINUATION} characters")
    try:
        state = json.loads(token)
    except (ValueError, RecursionError) as error:
        raise _bad_token("not JSON") from error
    if not isinstance(state, dict):
        raise _bad_token("not a JSON object")
    version = state.get("v")
    if type(version) is not int or version != TOKEN_VERSION:
        raise _bad_token(f"version is not {TOKEN_VERSION}")
    return state


def _bad_token(reason: str) -> JobFailure:
    return JobFailure(JOB_FAILED, f"the continuation token is unusable: {reason}")


@dataclass(frozen=True)
class Waiting:
    """The state carried in the continuation token while the scan runs."""

    digest: str
    since: int
    """When the first invocation saw the scan pending (epoch seconds)."""
    polls: int = 1

    def token(self) -> str:
        """Compact JSON, far below the 2048-character limit (R3)."""
        text = json.dumps({"v": TOKEN_VERSION, "d": self.digest, "s": self.since, "n": self.polls})
        return text[:MAX_CONTINUATION]

    @classmethod
    def from_token(cls, token: str | None, digest: str, now: int, max_wait: int) -> Waiting:
        """The state of a re-invocation, or a fresh one; a token we did not write fails the job.

        ``since`` must be whole seconds, not ahead of ``now`` by more than the clock skew (a
        start in the future would wait for ever) and not older than ``max_wait`` plus the skew
        (the wait would be over); ``n`` a small non-negative count.
        """
        if token is None:
            return cls(digest, now)
        state = _token_fields(token)
        named = state.get("d")
        if not isinstance(named, str):
            raise _bad_token("no image digest")
        if named != digest:
            raise JobFailure(REVISION_OUT_OF_SYNC, "the continuation token is for another image")
        since, polls = state.get("s"), state.get("n")
        if type(since) is not int:
            raise _bad_token("its start time is not whole epoch seconds")
        if since > now + MAX_CLOCK_SKEW:
            raise _bad_token(f"its start time lies more than {MAX_CLOCK_SKEW} s in the future")
        if since < now - max_wait - MAX_CLOCK_SKEW:
            raise _bad_token(
                f"it started more than {max_wait + MAX_CLOCK_SKEW} s ago, "
                f"past the {max_wait} s scan wait"
            )
        if type(polls) is not int or not 0 <= polls <= MAX_POLLS:
            raise _bad_token(f"its poll count is not a whole number from 0 to {MAX_POLLS}")
        return cls(digest, since, polls + 1)


def scan_outcome(status: str | None, waiting: Waiting, now: int, wait_seconds: int) -> bool:
    """``True`` when findings can be read; ``False`` to continue; a failure otherwise."""
    if status in SCAN_DONE:
        return True
    if status is None or status in SCAN_PENDING:
        waited = now - waiting.since
        if waited >= wait_seconds:
            raise JobFailure(
                JOB_FAILED,
                f"the scan of {waiting.digest} did not finish within {wait_seconds} s "
                f"({waiting.polls} polls)",
            )
        return False
    raise JobFailure(JOB_FAILED, f"the scan of {waiting.digest} ended {status}; cannot gate")


def scan_expected(response: Mapping[str, Any], repository: str) -> bool:
    """Whether ECR will scan the repository's images by itself, from
    ``BatchGetRepositoryScanningConfiguration``: not when the repository is among its
    ``failures``, nor when its effective configuration neither scans on push nor continuously
    (``scanOnPush`` false and ``scanFrequency`` ``MANUAL``). When ECR does not say, assume it
    will: the wait is bounded anyway."""
    for failure in response.get("failures") or []:
        if isinstance(failure, Mapping) and failure.get("repositoryName") == repository:
            return False
    for entry in response.get("scanningConfigurations") or []:
        if isinstance(entry, Mapping) and entry.get("repositoryName") == repository:
            return bool(entry.get("scanOnPush")) or entry.get("scanFrequency") != "MANUAL"
    return True


def no_scan_message(digest: str, repository: str) -> str:
    """Why the release fails at once when no scan exists and none is configured."""
    return (
        f"no scan exists for {digest} and none is configured for repository {shown(repository)}: "
        "enable scan on push or continuous scanning for it in the registry's scanning "
        "configuration (ECR > Private registry > Scanning), or set failOnSeverity=NONE to "
        "release without a scan gate"
    )


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
        return "\n".join(lines)


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
    delivery of a release already recorded and announced).
    """
    return {
        "imageDigest": release.image.digest,
        "imageUri": release.image.uri,
        "releaseTag": release.release_tag,
        "releaseParameter": parameter_name,
        "releaseVersion": str(version),
        "notification": notification,
    }


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
