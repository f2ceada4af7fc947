"""EventBridge's deliveries authorized as AWS authorizes them, before the emulator makes them.

EventBridge publishes to an SNS topic and sends to an SQS queue (a target or a dead-letter
queue) as its service principal: the topic's or queue's policy must allow it, and when the
topic or queue is encrypted, the key policy must let it use the key. The calls and the
condition keys AWS sends with each are ``tap_cicd.access.paths``' rows for that path (the
rule's ``aws:SourceArn`` to SNS and SQS; only the encryption context to KMS for a topic).
A pipeline target is started as the target's role, which EventBridge assumes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from moto.sns.models import sns_backends
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
    return _first_denied(calls, known, arn.account, arn.region, (policy, kind, key_id))


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
) -> str | None:
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
            iam.decide(request, policies)
        except iam.Denied as denied:
            return f"{request.principal} {call.action} on {resource}: {denied.reason}"
    return None
