"""Lambda: current runtime, no public policy, bounded, traced, quiet async, encrypted (L1-L6)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import Props, Registry, Resource, dig, linked, of_type, secret_like

rules = Registry("lambda")

MIN_PYTHON = (3, 12)
# Current non-Python runtimes (python is judged by version, above).
CURRENT_OTHER_RUNTIMES = ("nodejs20.x", "nodejs22.x", "java21", "dotnet8", "provided.al2023")
MAX_EVENT_AGE_SECONDS = 1200


@rules.resource(
    "TAP-LAMBDA-001",
    "Deprecated runtimes stop getting security patches.",
    ("FSBP Lambda.2", "NAG L1"),
    t.FUNCTION,
)
def current_runtime(_: str, props: Props) -> list[str]:
    """python3.12 or newer (or another current runtime); container images have none."""
    runtime = props.get("runtime")
    match = re.fullmatch(r"python(\d+)\.(\d+)", str(runtime))
    if runtime is None or runtime in CURRENT_OTHER_RUNTIMES:
        return []
    if match and (int(match[1]), int(match[2])) >= MIN_PYTHON:
        return []
    return [f"runtime {runtime} is not current (python3.12 or newer)"]


@rules.resource(
    "TAP-LAMBDA-002",
    "A public function policy lets anyone invoke the deploy step.",
    ("FSBP Lambda.1",),
    t.PERMISSION,
)
def scoped_permission(_: str, props: Props) -> list[str]:
    """A permission names its principal, source ARN and source account."""
    problems = [] if props.get("principal") not in (None, "*") else ["principal is '*'"]
    problems += [f"no {key}" for key in ("sourceArn", "sourceAccount") if not props.get(key)]
    return problems


@rules.resource("TAP-LAMBDA-003", "An explicit timeout and memory bound every run.", (), t.FUNCTION)
def explicit_limits(_: str, props: Props) -> list[str]:
    """``timeout`` and ``memorySize`` set."""
    return [f"{key} is not set" for key in ("timeout", "memorySize") if not props.get(key)]


@rules.resource(
    "TAP-LAMBDA-004",
    "Traces show where a release spent its time or failed.",
    ("CKV_AWS_50",),
    t.FUNCTION,
)
def active_tracing(_: str, props: Props) -> list[str]:
    """X-Ray tracing Active."""
    return (
        [] if dig(props, "tracingConfig", "mode") == "Active" else ["X-Ray tracing is not Active"]
    )


MAX_RESERVATION = 900
"""AWS keeps 100 executions unreserved: 900 is the most a default quota of 1,000 allows."""


@rules.resource(
    "TAP-LAMBDA-005",
    "AWS refuses a reservation that leaves fewer than 100 unreserved executions, so a default "
    "reservation fails in new accounts; reserve only when asked, and never 0 (no deploys).",
    ("CKV_AWS_115", "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"),
    t.FUNCTION,
)
def reserved_concurrency(_: str, props: Props) -> list[str]:
    """No reservation, or one of 1-900."""
    reserved = props.get("reservedConcurrentExecutions")
    if reserved is None or reserved == -1:
        return []
    if not 1 <= reserved <= MAX_RESERVATION:
        return [
            f"reserved concurrency {reserved:g} is outside 1-{MAX_RESERVATION} (0 stops the "
            "function; AWS keeps 100 executions unreserved)"
        ]
    return []


@rules.stack(
    "TAP-LAMBDA-006",
    "A retried release would run twice; failures must land somewhere.",
    ("CKV_AWS_116",),
    t.FUNCTION,
)
def quiet_async_invokes(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """Async invoke config: no retries, event age <= 20 min, an on-failure destination."""
    problems = []
    for function in of_type(resources, t.FUNCTION):
        configs = linked(resources, t.INVOKE_CONFIG, "functionName", function)
        good = [
            c.props
            for c in configs
            if c.props.get("maximumRetryAttempts") == 0
            and 0 < (c.props.get("maximumEventAgeInSeconds") or 0) <= MAX_EVENT_AGE_SECONDS
            and dig(c.props, "destinationConfig", "onFailure", "destination")
        ]
        if not good:
            problems.append(
                (function.urn, "no async invoke config with 0 retries, age <= 1200 s, on-failure")
            )
    return problems


@rules.resource(
    "TAP-LAMBDA-007",
    "The environment is encrypted with the pipeline key.",
    ("CKV_AWS_173",),
    t.FUNCTION,
)
def encrypted_environment(_: str, props: Props) -> list[str]:
    """``kmsKeyArn`` set."""
    return [] if props.get("kmsKeyArn") else ["environment is not encrypted with the key"]


@rules.resource(
    "TAP-LAMBDA-008",
    "Environment variables are readable by anyone who can read the function.",
    ("CKV_AWS_173",),
    t.FUNCTION,
)
def no_environment_secrets(_: str, props: Props) -> list[str]:
    """No secret-looking environment variables."""
    variables = dig(props, "environment", "variables") or {}
    return [f"variable {name} looks like a secret" for name in variables if secret_like(name)]
