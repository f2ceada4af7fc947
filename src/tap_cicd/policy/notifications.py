"""Notifications: a scoped rule, a reliable target, a private encrypted topic (N1, N2)."""

from __future__ import annotations

from collections.abc import Sequence

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import (
    Props,
    Registry,
    Resource,
    allows,
    dig,
    document,
    linked,
    of_type,
    principals,
    public_allows,
    sid,
    statements,
    tls_deny_gaps,
)

rules = Registry("notifications")

EVENTS = "events.amazonaws.com"


def _to_topic(props: Props) -> bool:
    return ":sns:" in str(props.get("arn"))


@rules.resource(
    "TAP-EVT-001",
    "An unscoped rule fires for every pipeline (or bucket) in the account.",
    (),
    t.EVENT_RULE,
)
def scoped_pattern(_: str, props: Props) -> list[str]:
    """The pattern names its source and narrows it by resource ARN or detail."""
    pattern = document(props.get("eventPattern"))
    if not pattern.get("source") or not (pattern.get("resources") or pattern.get("detail")):
        return ["event pattern is not scoped to a source and this stack's resources"]
    if "aws.codepipeline" in pattern["source"] and not pattern.get("resources"):
        return ["pipeline event pattern is not scoped to this pipeline's ARN"]
    return []


@rules.resource(
    "TAP-EVT-002", "A notification that fails once must be retried, then kept.", (), t.EVENT_TARGET
)
def reliable_topic_target(_: str, props: Props) -> list[str]:
    """A target that publishes to SNS has a retry policy and a dead-letter queue."""
    if not _to_topic(props):
        return []
    missing = [k for k in ("retryPolicy", "deadLetterConfig") if not props.get(k)]
    return [f"topic target has no {', '.join(missing)}"] if missing else []


@rules.resource(
    "TAP-EVT-003",
    "A raw event JSON is unreadable in an email.",
    (),
    t.EVENT_TARGET,
    level="advisory",
)
def readable_message(_: str, props: Props) -> list[str]:
    """A target that publishes to SNS has an input transformer."""
    if _to_topic(props) and not dig(props, "inputTransformer", "inputTemplate"):
        return ["topic target has no input transformer"]
    return []


@rules.resource(
    "TAP-EVT-004",
    "An event EventBridge cannot deliver is lost without a DLQ.",
    (),
    t.EVENT_TARGET,
    level="advisory",
)
def dead_letter_queue(_: str, props: Props) -> list[str]:
    """Every target has a dead-letter queue."""
    return [] if dig(props, "deadLetterConfig", "arn") else ["target has no dead-letter queue"]


@rules.resource(
    "TAP-SNS-001",
    "Notifications are encrypted at rest with the pipeline key.",
    ("FSBP SNS.1", "NAG SNS2"),
    t.TOPIC,
)
def encrypted_topic(_: str, props: Props) -> list[str]:
    """``kmsMasterKeyId`` set."""
    return [] if props.get("kmsMasterKeyId") else ["topic is not encrypted with a KMS key"]


def _topic_policies(resources: Sequence[Resource], topic: Resource) -> list[Resource]:
    return linked(resources, t.TOPIC_POLICY, "arn", topic)


@rules.stack(
    "TAP-SNS-002",
    "Only this stack's rule may publish; anyone else could phish the subscribers.",
    ("FSBP SNS.4",),
    t.TOPIC,
)
def only_rule_publishes(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """The topic policy allows only EventBridge, conditioned on the rule's ARN."""
    problems = []
    for topic in of_type(resources, t.TOPIC):
        found = [
            s for p in _topic_policies(resources, topic) for s in statements(p.props.get("policy"))
        ]
        if not found:
            problems.append((topic.urn, "no topic policy"))
        for s in found:
            source = dig(s, "Condition", "ArnEquals", "aws:SourceArn") or dig(
                s, "Condition", "ArnLike", "aws:SourceArn"
            )
            if allows(s) and (principals(s) != [EVENTS] or not source):
                problems.append(
                    (
                        topic.urn,
                        f"statement {sid(s)} lets {principals(s)} publish, not only the rule",
                    )
                )
    return problems


@rules.stack(
    "TAP-SNS-003",
    "Messages carry pipeline details; they must not travel in clear text.",
    ("NAG SNS3",),
    t.TOPIC,
)
def topic_tls_only(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """The topic policy denies publishing without TLS, by anyone, to the topic."""
    problems = []
    for topic in of_type(resources, t.TOPIC):
        policies = _topic_policies(resources, topic)
        # cdk-nag SNSTopicSSLPublishOnly; https://docs.aws.amazon.com/sns/latest/dg/sns-security-best-practices.html#enforce-encryption-data-in-transit
        gaps = tls_deny_gaps(
            [p.props.get("policy") for p in policies],
            "sns:Publish",
            sorted({str(p.props.get("arn")) for p in policies}),
        )
        if gaps:
            problems.append(
                (topic.urn, f"topic policy does not deny publishing without TLS: {'; '.join(gaps)}")
            )
    return problems


@rules.resource(
    "TAP-SQS-001",
    "Dead letters hold events and failed invocations; encrypt them.",
    ("FSBP SQS.1",),
    t.QUEUE,
)
def encrypted_queue(_: str, props: Props) -> list[str]:
    """``kmsMasterKeyId`` set."""
    return [] if props.get("kmsMasterKeyId") else ["queue is not encrypted with a KMS key"]


@rules.stack(
    "TAP-SQS-002",
    "A queue policy open to '*' lets anyone read or inject messages.",
    ("NAG SQS4",),
    t.QUEUE_POLICY,
)
def private_tls_queue_policy(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """No public statement, and a deny of every request without TLS, by anyone, on the queue."""
    problems = []
    for policy in of_type(resources, t.QUEUE_POLICY):
        text = policy.props.get("policy")
        problems += [(policy.urn, problem) for problem in public_allows(text)]
        url = policy.props.get("queueUrl")
        queues = [q for q in of_type(resources, t.QUEUE) if url in q.identifiers()]
        # A queue outside the stack has no ARN here: only Resource "*" proves the deny covers it.
        arns = [str(q.outputs["arn"]) for q in queues if q.outputs.get("arn")] or ["*"]
        # cdk-nag SQSQueueSSLRequestsOnly; https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-security-best-practices.html
        gaps = tls_deny_gaps([text], "sqs:*", arns)
        if gaps:
            problems.append(
                (policy.urn, f"queue policy does not deny requests without TLS: {'; '.join(gaps)}")
            )
    return problems
