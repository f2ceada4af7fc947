"""The scan gate, without AWS: findings judged against the threshold, the scan's status and the
state carried in continuation tokens while it runs.

Only the standard library: this module ships in the Lambda archive and is imported on a cold start.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tap_cicd.deploy.failures import (
    JOB_FAILED,
    MAX_FAILURE_MESSAGE,
    REVISION_OUT_OF_SYNC,
    JobFailure,
    clip,
    shown,
)

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

MAX_CONTINUATION = 2048
"""``continuationToken`` limit."""
WORST_IDS = 5
"""How many blocking finding ids a failure message names."""
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


DEFAULT_SCAN_WAIT_SECONDS = 900
"""How long the step waits for a scan unless configured (``scanWaitSeconds``)."""
MAX_SCAN_WAIT_SECONDS = 86_400
"""CodePipeline fails a Lambda invoke action that has not succeeded within 24 hours, however
often it answered "in progress" (each reply restarts a 20-minute timer).
https://docs.aws.amazon.com/codepipeline/latest/userguide/limits.html"""

MAX_CLOCK_SKEW = 300
"""Seconds a continuation token's start may lie ahead of this invocation's clock: successive
invocations may run on hosts whose clocks differ a little. More is not a token of ours."""
MAX_POLLS = 10_000
"""A token's poll count above this is not ours: even one poll every 10 s through the longest
configurable wait (``MAX_SCAN_WAIT_SECONDS``) stays below it."""
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


def _revision_of(state: Mapping[str, Any], rollout_wait: int | None) -> str | None:
    """A token's revision (``r``): absent while the scan runs; a string, and a rollout
    configured, when the rollout does."""
    revision = state.get("r")
    if revision is None:
        return None
    if not isinstance(revision, str) or not revision:
        raise _bad_token("its revision is not a task-definition ARN")
    if rollout_wait is None:
        raise _bad_token("it follows a rollout, but the deploy target is none")
    return revision


@dataclass(frozen=True)
class Waiting:
    """The state carried in the continuation token while the scan runs, then (with
    ``revision``) while the service rolls the release out: one token format for both waits.

    ``{"v": 1, "d": "<digest>", "s": <start, epoch s>, "n": <polls>}``, plus
    ``"r": "<task-definition ARN>"`` once the revision is registered and the service updated.
    """

    digest: str
    since: int
    """When the wait began (epoch seconds): the scan seen pending, or the rollout started."""
    polls: int = 1
    revision: str | None = None
    """The task definition registered for the release: the rollout is under way."""

    def token(self) -> str:
        """Compact JSON, far below the 2048-character limit (R3): a task-definition ARN is at
        most about 340 characters."""
        fields: dict[str, Any] = {"v": TOKEN_VERSION, "d": self.digest, "s": self.since}
        fields["n"] = self.polls
        if self.revision is not None:
            fields["r"] = self.revision
        return json.dumps(fields)

    @classmethod
    def from_token(
        cls,
        token: str | None,
        digest: str,
        now: int,
        max_wait: int,
        rollout_wait: int | None = None,
    ) -> Waiting:
        """The state of a re-invocation, or a fresh one; a token we did not write fails the job.

        ``since`` must be whole seconds, not ahead of ``now`` by more than the clock skew (a
        start in the future would wait for ever) and not older than the wait plus the skew
        (the wait would be over): ``max_wait`` for the scan, ``rollout_wait`` for a token with
        a revision (``None``: no rollout is configured, so such a token is not ours); ``n`` a
        small non-negative count.
        """
        if token is None:
            return cls(digest, now)
        state = _token_fields(token)
        named = state.get("d")
        if not isinstance(named, str):
            raise _bad_token("no image digest")
        if named != digest:
            raise JobFailure(REVISION_OUT_OF_SYNC, "the continuation token is for another image")
        revision = _revision_of(state, rollout_wait)
        if revision is not None and rollout_wait is not None:
            max_wait = rollout_wait
        since, polls = state.get("s"), state.get("n")
        if type(since) is not int:
            raise _bad_token("its start time is not whole epoch seconds")
        if since > now + MAX_CLOCK_SKEW:
            raise _bad_token(f"its start time lies more than {MAX_CLOCK_SKEW} s in the future")
        if since < now - max_wait - MAX_CLOCK_SKEW:
            wait = "scan" if revision is None else "rollout"
            raise _bad_token(
                f"it started more than {max_wait + MAX_CLOCK_SKEW} s ago, "
                f"past the {max_wait} s {wait} wait"
            )
        if type(polls) is not int or not 0 <= polls <= MAX_POLLS:
            raise _bad_token(f"its poll count is not a whole number from 0 to {MAX_POLLS}")
        return cls(digest, since, polls + 1, revision)


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
