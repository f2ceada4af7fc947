"""How the deploy step fails: job failure types, AWS error codes, and messages that are clipped
and scrubbed of every rendering of the job's credentials.

Only the standard library: this module ships in the Lambda archive and is imported on a cold start.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache

MAX_FAILURE_MESSAGE = 5000
"""``PutJobFailureResult``'s ``failureDetails.message`` limit."""
MAX_SUMMARY = 2048
"""``executionDetails.summary`` limit."""
MAX_SHOWN = 200
"""How much of one value from the event or the artifact (a job id, a parameter) a message or a
log line quotes: a hostile or broken event must not fill the log or crowd out the reason."""
MAX_ERROR_TEXT = 1000
"""How much of an exception's text a failure message quotes (it may echo request values)."""
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
