"""EventBridge's deliveries authorized as AWS authorizes them, before the emulator makes them.

EventBridge publishes to an SNS topic and sends to an SQS queue (a target or a dead-letter
queue) as its service principal: the topic's or queue's policy must allow it, and when the
topic or queue is encrypted, the key policy must let it use the key. The calls and the
condition keys AWS sends with each are ``tap_cicd.access.paths``' rows for that path (the
rule's ``aws:SourceArn`` to SNS and SQS; only the encryption context to KMS for a topic).
Starting a pipeline target is authorized as the target's role, which EventBridge assumes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from moto.sns.models import Subscription, sns_backends
from moto.sqs.models import sqs_backends
from moto.utilities.arns import parse_arn

from tap_cicd.access import paths
from tap_cicd.access.evaluation import Policies, Request
from tap_cicd.local.services import iam

TOPIC_CALLS = tuple(
    call
    for call in paths.NOTIFY
    if call.principal == paths.EVENTS and call.resource in {paths.TOPIC_ARN, paths.TOPIC_KEY}
)
"""EventBridge publishing to the encrypted topic, written for the stack's state rule."""
QUEUE_CALLS = paths.dead_letter(paths.STATE_RULE)
"""EventBridge sending to an encrypted queue, written for the stack's state rule."""


def denied(rule_arn: str, target_arn: str) -> str | None:
    """Why AWS would refuse EventBridge's delivery for ``rule_arn`` to the topic or queue
    ``target_arn`` (principal, action, resource and cause in one line); ``None`` when it
    allows it, or when the target is not there (the delivery itself reports that)."""
    arn = parse_arn(target_arn)
    found: tuple[Sequence[paths.Call], paths.Ref, str | None, str, Any]
    try:
        if arn.service == "sns":
            topic = sns_backends[arn.account][arn.region].get_topic(target_arn)
            found = (TOPIC_CALLS, paths.TOPIC_ARN, topic.policy, "topic policy", topic)
        else:
            queue = sqs_backends[arn.account][arn.region].get_queue(arn.resource_id)
            found = (QUEUE_CALLS, paths.EVENTS_DLQ, queue.policy, "queue policy", queue)
    except Exception:  # noqa: BLE001 - moto's not-found errors differ by service
        return None
    calls, target, policy, kind, resource = found
    key_id = str(getattr(resource, "kms_master_key_id", None) or "")
    known: dict[Any, str] = {paths.STATE_RULE: rule_arn, target: target_arn}
    # Kept in EventBridge's own record of deliveries (/_tap/events/deliveries), not twice.
    held = (policy, kind, key_id)
    refused = _first_denied(calls, known, arn.account, arn.region, held, kept=False)
    return None if refused is None else line(refused)


SUBSCRIBER = paths.Ref(paths.QUEUE, "subscriber")
"""A queue subscribed to a topic (not the stack's: whoever reads its notifications)."""
SUBSCRIBER_KEY = paths.Ref(paths.QUEUE, "subscriber", attr="kmsMasterKeyId")
# SNS delivers to a queue as its service principal: the queue policy checks the topic's
# aws:SourceArn; an encrypted queue's key policy must let SNS use the key.
# https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html
# https://docs.aws.amazon.com/sns/latest/dg/sns-enable-encryption-for-topic-sqs-queue-subscriptions.html
# The topic's ARN reaches those KMS calls too (CDK conditions the key policy on it, aws-cdk#20339).
SUBSCRIPTION_CALLS = (
    *paths.row(
        "sns.amazonaws.com",
        "sqs:SendMessage",
        SUBSCRIBER,
        "https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html",
        paths.sent_for(paths.TOPIC_ARN),
    ),
    *paths.key_use(
        "sns.amazonaws.com",
        "kms:GenerateDataKey kms:Decrypt",
        SUBSCRIBER_KEY,
        ("aws:sqs:arn", SUBSCRIBER),
        "https://docs.aws.amazon.com/sns/latest/dg/sns-enable-encryption-for-topic-sqs-queue-subscriptions.html",
        sent=paths.sent_for(paths.TOPIC_ARN),
    ),
)
"""SNS delivering a topic's message to a subscribed queue."""


def subscription_denied(topic_arn: str, queue_arn: str) -> iam.Denied | None:
    """AWS's refusal of SNS's delivery of ``topic_arn``'s message to the subscribed queue
    ``queue_arn``; ``None`` when it allows it, or when the queue is not there."""
    arn = parse_arn(queue_arn)
    try:
        queue = sqs_backends[arn.account][arn.region].get_queue(arn.resource_id)
    except Exception:  # noqa: BLE001 - moto's missing queue
        return None
    key_id = str(getattr(queue, "kms_master_key_id", None) or "")
    known: dict[Any, str] = {paths.TOPIC_ARN: topic_arn, SUBSCRIBER: queue_arn}
    found = (queue.policy, "queue policy", key_id)
    return _first_denied(SUBSCRIPTION_CALLS, known, arn.account, arn.region, found)


def _deliver(
    subscription: Subscription, message: str, message_id: str, *args: Any, **kw: Any
) -> None:
    """moto's delivery to one subscription; to a queue only as AWS would authorize it. A refused
    delivery is dropped (SNS retries it, then gives it up: the emulator gives it up at once) and
    kept in ``/_tap/iam/denials``."""
    if subscription.protocol == "sqs":
        refused = subscription_denied(subscription.topic.arn, subscription.endpoint)
        if refused is not None:  # kept for /_tap/iam/denials by iam.decide
            return
    _ORIGINALS["publish"](subscription, message, message_id, *args, **kw)


_ORIGINALS: dict[str, Any] = {}


def install() -> None:
    """Authorize SNS's deliveries to queues (idempotent)."""
    if not _ORIGINALS:
        _ORIGINALS["publish"] = Subscription.publish
        Subscription.publish = _deliver  # type: ignore[method-assign,assignment]


def role_denied(rule_arn: str, target: Mapping[str, Any]) -> str | None:
    """Why AWS would refuse to start the pipeline ``target`` names for ``rule_arn``: EventBridge
    assumes the target's role (sending the rule's ARN and account), which must be allowed to
    start the pipeline; ``None`` when it would start it."""
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html
    arn = parse_arn(rule_arn)
    role = str(target.get("RoleArn") or "")
    sent = {"aws:SourceArn": rule_arn, "aws:SourceAccount": arn.account}
    try:
        session = iam.assume("events.amazonaws.com", role, arn.region, uuid.uuid4().hex, sent)
        # https://docs.aws.amazon.com/codepipeline/latest/userguide/create-cloudtrail-S3-source-cli.html
        iam.authorize(session, "codepipeline:StartPipelineExecution", target["Arn"])
    except iam.Denied as denied:
        return str(denied)
    return None


def _first_denied(
    calls: Sequence[paths.Call],
    known: Mapping[Any, str],
    account: str,
    region: str,
    found: tuple[str | None, str, str],
    *,
    kept: bool = True,
) -> iam.Denied | None:
    policy, kind, key_id = found
    key = iam.key(account, region, key_id) if key_id else None
    for call in calls:
        kms = call.action.startswith("kms:")
        if kms and key is None:
            # Unencrypted, or a key the emulator does not hold (moto's SNS and SQS do not use it).
            continue
        resource = key[0] if key is not None and kms else known[call.resource]
        context = {
            name: known[value] if isinstance(value, paths.Ref) else value.format(account=account)
            for name, value in call.context.items()
        }
        request = Request(str(call.principal), call.action, resource, context, account)
        policies = Policies(
            resource=json.loads(policy) if policy else None,
            resource_kind=kind,
            key=key[1] if key is not None else None,
        )
        try:
            iam.decide(request, policies, kept=kept)
        except iam.Denied as denied:
            return denied
    return None


def line(denied: iam.Denied) -> str:
    """A refused delivery in one line: principal, action, resource and cause."""
    return f"{denied.principal} {denied.action} on {denied.resource}: {denied.reason}"
