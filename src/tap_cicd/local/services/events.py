"""EventBridge delivery in the emulator: events that services emit, and S3's uploads, are matched
against the default bus's rules and delivered to their targets as AWS delivers them.

moto matches patterns and delivers to log groups, archives and other buses; it has no SNS or
CodePipeline target, ignores a rule's state, skips ``Input``/``InputPath``, renders input
templates differently from AWS and has no dead-letter queues. ``install()`` replaces
``Rule.send_to_targets``: SQS, SNS and CodePipeline targets are delivered here, the others still
by moto; SNS, SQS and dead-letter deliveries are first authorized (``authorize``). Every
delivery and drop is kept for ``tap run`` (``ROUTES["events/deliveries"]``).
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from jsonpath_ng.ext.parser import parse as jsonpath
from moto.core.utils import unix_time
from moto.events.models import Rule, events_backends
from moto.s3 import notifications as s3_notifications
from moto.sns.models import sns_backends
from moto.sqs.exceptions import SQSException
from moto.sqs.models import sqs_backends
from moto.utilities.arns import Arn, parse_arn

from tap_cicd.local import services
from tap_cicd.local.services import authorize

DEFAULT_BUS = "default"
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
DEFAULT_RETRY_ATTEMPTS = 185
DEFAULT_EVENT_AGE_SECONDS = 24 * 3600
DELIVERED, DEAD_LETTERED, DROPPED = "delivered", "dead-lettered", "dropped"
S3_CREATED_REASONS = {
    "s3:ObjectCreated:Put": "PutObject",
    "s3:ObjectCreated:Post": "POST Object",
    "s3:ObjectCreated:Copy": "CopyObject",
    "s3:ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload",
}
"""``detail.reason`` of S3's Object Created events, by moto's event name.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html"""

_ORIGINALS: dict[str, Callable[..., None]] = {}
_LOCK = threading.Lock()
_DELIVERIES: list[dict[str, str]] = []
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")
_clock: Callable[[], float] = time.monotonic
"""What retries measure the event's age with (a test advances it)."""


class _Failure(Exception):
    """A target that did not take the event: the DLQ's ``ERROR_CODE`` and ``ERROR_MESSAGE``."""

    def __init__(self, code: str, message: str, retries: int = 0, condition: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.retries = code, message, retries
        self.condition = condition or "MaximumRetryAttempts"


def emit(  # noqa: PLR0917 - the pipeline engine's contract
    account: str,
    region: str,
    source: str,
    detail_type: str,
    detail: Mapping[str, Any],
    resources: Sequence[str],
) -> None:
    """Put an event on the default bus of ``account``/``region`` as an AWS service does (no
    PutEvents validation: callers may not use ``aws.*`` sources) and deliver it to every rule
    that matches it. https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html
    """
    now = unix_time()
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": now,
        "region": region,
        "resources": list(resources),
        "detail": dict(detail),
        "ingestion-time": now,
    }
    for rule in list(events_backends[account][region].event_buses[DEFAULT_BUS].rules.values()):
        rule.send_to_targets(event)  # type: ignore[arg-type]


def deliveries() -> list[dict[str, str]]:
    """What happened to each matched target: rule and target ARNs, the event's detail-type,
    outcome (``delivered``, ``dead-lettered``, ``dropped``) and reason."""
    with _LOCK:
        return [dict(item) for item in _DELIVERIES]


def reset() -> None:
    """Forget the deliveries."""
    with _LOCK:
        _DELIVERIES.clear()


ROUTES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "events/deliveries": lambda _body: {"deliveries": deliveries()},
}


def install() -> None:
    """Deliver through this module's ``send_to_targets`` and send S3's events in AWS's shape
    (once: a second call changes nothing)."""
    if _ORIGINALS:
        return
    _ORIGINALS["rule"] = Rule.send_to_targets
    _ORIGINALS["s3"] = s3_notifications._send_event_bridge_message
    Rule.send_to_targets = _send_to_targets  # type: ignore[method-assign,assignment]
    s3_notifications._send_event_bridge_message = _s3_event_bridge


def target_input(target: Mapping[str, Any], event: Mapping[str, Any], rule_arn: str) -> str:
    """The text EventBridge passes to ``target`` for ``event``: ``Input`` as given, the
    ``InputPath`` selection, the ``InputTransformer`` output, or the whole event (minified).
    https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_Target.html
    """
    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        return _json(_select(event, str(target["InputPath"])))
    transformer = target.get("InputTransformer")
    if not transformer:
        return _json(event)
    values = {
        name: _select(event, path) for name, path in transformer.get("InputPathsMap", {}).items()
    }
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
    values |= {
        "aws.events.rule-arn": rule_arn,
        "aws.events.rule-name": rule_arn.rsplit("/", 1)[-1],
        "aws.events.event.ingestion-time": event.get("time", ""),
        "aws.events.event": {key: value for key, value in event.items() if key != "detail"},
        "aws.events.event.json": dict(event),
    }
    return render(str(transformer["InputTemplate"]), values)


def render(template: str, values: Mapping[str, Any]) -> str:
    """Fill an input template as AWS does: a placeholder inside a JSON string takes a string
    value as it is (AWS escapes nothing), elsewhere the value's JSON; a JSON template comes out
    minified, a string template (quotes included) verbatim. Unknown placeholders stay.
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
    """
    pieces: list[str] = []
    quoted, last = False, 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[last : match.start()]
        quoted = _ends_inside_string(literal, quoted)
        name = match.group(1)
        if name not in values:
            pieces += [literal, match.group(0)]
        else:
            value = values[name]
            pieces += [literal, value if quoted and isinstance(value, str) else _json(value)]
        last = match.end()
    text = "".join([*pieces, template[last:]])
    if not text.lstrip().startswith(("{", "[")):
        return text
    try:
        return _json(json.loads(text))
    except ValueError:
        return text


def _ends_inside_string(literal: str, quoted: bool) -> bool:
    escaped = False
    for char in literal:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
    return quoted


def _select(event: Mapping[str, Any], path: str) -> Any:
    """The path's value; several matches are a list; none is the empty string (AWS: "that
    variable isn't created and won't appear in the output")."""
    found = [match.value for match in jsonpath(path).find(dict(event))]
    return found[0] if len(found) == 1 else found or ""


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _aws_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as its targets see it (moto keeps ``time`` as epoch seconds, with its own
    ``ingestion-time``)."""
    shaped = {key: value for key, value in event.items() if key != "ingestion-time"}
    moment = datetime.fromtimestamp(float(event.get("time", unix_time())), UTC)
    shaped["time"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return shaped


def _send_to_targets(rule: Rule, event: dict[str, Any], transform_input: bool = True) -> None:
    """Replaces ``Rule.send_to_targets``: a DISABLED rule delivers nothing.
    https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DisableRule.html"""
    shaped = _aws_event(event)
    if rule.state != "ENABLED" or not rule.event_pattern.matches_event(shaped):  # type: ignore[arg-type]
        return
    for target in list(rule.targets):
        outcome, reason = _deliver(rule, target, event, shaped, transform_input)
        with _LOCK:
            _DELIVERIES.append(
                {
                    "rule": rule.arn,
                    "target": str(target["Arn"]),
                    "detail-type": str(shaped.get("detail-type", "")),
                    "outcome": outcome,
                    "reason": reason,
                }
            )


def _deliver(
    rule: Rule,
    target: dict[str, Any],
    event: dict[str, Any],
    shaped: dict[str, Any],
    transform_input: bool,
) -> tuple[str, str]:
    arn = parse_arn(target["Arn"])
    sender = _SENDERS.get(arn.service)
    try:
        if sender is None:
            return _by_moto(rule, target, arn, event, transform_input)
        cause = (
            authorize.denied(rule.arn, target["Arn"])
            if arn.service != "codepipeline"
            else authorize.role_denied(rule.arn, target)
        )
        if cause:  # not retried; NO_PERMISSIONS: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
            return DROPPED, _dead_letter(rule, target, shaped, _Failure("NO_PERMISSIONS", cause))[1]
        message = target_input(target, shaped, rule.arn)
        return DELIVERED, _with_retries(target, lambda: sender(rule, target, arn, message))
    except _Failure as failure:
        return _dead_letter(rule, target, shaped, failure)


def _with_retries(target: Mapping[str, Any], send: Callable[[], str]) -> str:
    """Retry a failing target until its retry policy runs out; a missing resource is never
    retried. Retries follow at once (AWS backs off exponentially with jitter).
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
    """
    policy = target.get("RetryPolicy") or {}
    attempts = int(policy.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS))
    age = int(policy.get("MaximumEventAgeInSeconds", DEFAULT_EVENT_AGE_SECONDS))
    started, retries = _clock(), 0
    while True:
        try:
            return send()
        except Exception as error:
            name, message = _error_of(error)
            if "NotFound" in name or "NonExistent" in name:
                raise _Failure("NO_RESOURCE", message) from error
            if retries >= attempts:
                raise _Failure("ERROR_FROM_TARGET", message, retries) from error
            if _clock() - started >= age:
                raise _Failure(
                    "ERROR_FROM_TARGET", message, retries, "MaximumEventAgeInSeconds"
                ) from error
            retries += 1


def _error_of(error: Exception) -> tuple[str, str]:
    """An AWS error's code (moto's ``error_type`` or ``code``) and message."""
    names = [getattr(error, name, None) for name in ("error_type", "code")]
    name = next((item for item in names if isinstance(item, str)), type(error).__name__)
    return name, str(getattr(error, "message", "") or error)


def _to_queue(_rule: Rule, target: Mapping[str, Any], arn: Arn, message: str) -> str:
    group = (target.get("SqsParameters") or {}).get("MessageGroupId")
    sqs_backends[arn.account][arn.region].send_message(
        queue_name=arn.resource_id, message_body=message, group_id=group
    )
    return ""


def _to_topic(_rule: Rule, target: Mapping[str, Any], arn: Arn, message: str) -> str:
    """Publish the target's input as the SNS message; moto fans it out to the subscriptions.
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html"""
    backend = sns_backends[arn.account][arn.region]
    backend.get_topic(target["Arn"])
    try:
        backend.publish(message=message, arn=target["Arn"])
    except Exception as error:  # noqa: BLE001 - SNS took the message: a subscriber failed
        return f"SNS could not deliver to a subscription: {_error_of(error)[1]}"
    return ""


def _to_pipeline(rule: Rule, _target: Mapping[str, Any], arn: Arn, _message: str) -> str:
    """Start the pipeline; the execution's trigger names the rule.
    https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ExecutionTrigger.html"""
    codepipeline = importlib.import_module("tap_cicd.local.services.codepipeline")
    codepipeline.start_execution(
        arn.account, arn.region, arn.resource_id, "CloudWatchEvent", rule.arn
    )
    return ""


_SENDERS: dict[str, Callable[[Rule, Mapping[str, Any], Arn, str], str]] = {
    "sqs": _to_queue,
    "sns": _to_topic,
    "codepipeline": _to_pipeline,
}


def _by_moto(
    rule: Rule, target: dict[str, Any], arn: Arn, event: dict[str, Any], transform_input: bool
) -> tuple[str, str]:
    """The targets moto delivers (log groups, archives, buses), one at a time."""
    single = copy.copy(rule)
    single.targets = [target]
    try:
        _ORIGINALS["rule"](single, {"ingestion-time": unix_time(), **event}, transform_input)
    except NotImplementedError:
        return DROPPED, f"the emulator does not deliver to {arn.service} targets"
    except Exception as error:
        name, message = _error_of(error)
        code = "NO_RESOURCE" if "NotFound" in name else "ERROR_FROM_TARGET"
        raise _Failure(code, message) from error
    return DELIVERED, ""


def _dead_letter(
    rule: Rule, target: Mapping[str, Any], event: Mapping[str, Any], failure: _Failure
) -> tuple[str, str]:
    """Send the event to the target's dead-letter queue with the attributes AWS adds; without
    one (or when it fails too) the event is dropped.
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
    """
    queue = (target.get("DeadLetterConfig") or {}).get("Arn")
    reason = f"{failure.code}: {failure.message}"
    if not queue:
        return DROPPED, reason
    attributes = {
        "RULE_ARN": rule.arn,
        "TARGET_ARN": str(target["Arn"]),
        "ERROR_CODE": failure.code,
        "ERROR_MESSAGE": failure.message,
        "EXHAUSTED_RETRY_CONDITION": failure.condition,
        "RETRY_ATTEMPTS": str(failure.retries),
    }
    if cause := authorize.denied(rule.arn, queue):
        return DROPPED, f"{reason}; the dead-letter queue failed too: {cause}"
    arn = parse_arn(queue)
    try:
        sqs_backends[arn.account][arn.region].send_message(
            queue_name=arn.resource_id,
            message_body=_json(event),
            message_attributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()
            },
        )
    except SQSException as error:
        return DROPPED, f"{reason}; the dead-letter queue failed too: {error.message}"
    return DEAD_LETTERED, reason


def _s3_event_bridge(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    """S3's Object Created event in AWS's shape, on the default bus (moto: ``eTag``, reason
    ``ObjectCreated``, a fixed id, every bus); other S3 events keep moto's shape.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
    """
    reason = S3_CREATED_REASONS.get(str(getattr(event_name, "value", event_name)))
    if reason is None:
        _ORIGINALS["s3"](account_id, bucket, event_name, key)
        return
    stored: dict[str, Any] = {"key": key.name, "size": key.size, "etag": key.etag.strip('"')}
    if bucket.is_versioned:
        stored["version-id"] = key.version_id
    detail = {
        "version": "0",
        "bucket": {"name": bucket.name},
        "object": stored | {"sequencer": f"{time.time_ns():018X}"},
        "request-id": uuid.uuid4().hex[:16].upper(),
        "requester": account_id,
        # The emulator serves loopback only: every request comes from there.
        "source-ip-address": services.HOST,
        "reason": reason,
    }
    emit(account_id, bucket.region_name, "aws.s3", "Object Created", detail, [bucket.arn])
