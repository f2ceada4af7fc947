"""A Lambda invocation's log: the platform's START, END and REPORT lines around what the
function wrote, sent to the function's log group as its execution role.
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

from botocore.exceptions import ClientError
from moto.awslambda.models import LambdaFunction

from tap_cicd.local.services import iam
from tap_cicd.local.services.lambda_runtime import Outcome, timestamp

LOG_BATCH = 1000
"""PutLogEvents' most events per call."""


def events_of(
    function: LambdaFunction, outcome: Outcome, request_id: str, document: dict[str, Any] | None
) -> list[tuple[int, str]]:
    """What the function wrote, between the platform's START and its END and REPORT lines
    (plain text, whatever the function's ``LogFormat``).
    https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html"""
    started, ended, initialized = outcome.started, outcome.ended, outcome.initialized
    duration = ended - (initialized or started)
    init = None if initialized is None else initialized - started
    # On-demand Zip functions are billed for their init too (the page's REPORT example).
    billed = math.ceil(duration + (init or 0))
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tBilled Duration: {billed}"
        f" ms\tMemory Size: {function.memory_size} MB\tMax Memory Used: {outcome.max_memory_mb} MB"
    )
    if init is not None:
        report += f"\tInit Duration: {init:.2f} ms"
    platform: list[str] = []
    if outcome.timed_out:
        # https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
        timeout = float(function.timeout)
        platform.append(
            f"{timestamp(ended / 1000)} {request_id} Task timed out after {timeout:.2f} seconds"
        )
        report += "\tStatus: timeout"
    platform += [f"END RequestId: {request_id}", report]
    if document is not None and outcome.answer is None and not outcome.timed_out:
        # After REPORT, as in a log quoted by the runtime's own tracker:
        # https://github.com/aws/aws-lambda-python-runtime-interface-client/issues/10
        platform += [document["errorMessage"], document["errorType"]]
    start = (started, f"START RequestId: {request_id} Version: {function.version}")
    return _ordered([start, *outcome.lines, *((ended, line) for line in platform)])


def _ordered(events: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """CloudWatch Logs takes a batch in time order: no event earlier than the one before it."""
    ordered, latest = [], 0
    for moment, message in events:
        latest = max(latest, moment)
        ordered.append((latest, message))
    return ordered


def publish(
    session: iam.Session,
    where: tuple[str, str],
    create_group: bool,
    events: list[tuple[int, str]],
) -> None:
    """Write the log to its stream as the execution role. The default group is created when
    missing, as on a first invocation (one another invocation created meanwhile is used); a
    custom one is not: the log of a function whose custom group is missing, or whose role may
    not write it, is dropped (Lambda sends logs only with the role's permissions:
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html).
    """
    with contextlib.closing(session.client("logs")) as logs, contextlib.suppress(ClientError):
        _write_log(logs, where, create_group, events)


def _write_log(
    logs: Any, where: tuple[str, str], create_group: bool, events: list[tuple[int, str]]
) -> None:
    group, stream = where
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceNotFoundException:
        if not create_group:
            return
        # Another first invocation may have created it meanwhile.
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    for first in range(0, len(events), LOG_BATCH):
        batch = [
            {"timestamp": moment, "message": message}
            for moment, message in events[first : first + LOG_BATCH]
        ]
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=batch)
