"""The TLS-only Deny check on its own: the shapes the stack tables do not reach."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tap_cicd.policy.model import tls_deny_gaps

from .stacks import Stack, failures

BUCKET = "arn:aws:s3:::b"
RESOURCES = [BUCKET, f"{BUCKET}/*"]
DENY: dict[str, Any] = {
    "Sid": "Tls",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": RESOURCES,
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"Condition": {"Bool": {"aws:securetransport": "FALSE"}}},
        {"Action": ["s3:GetObject", "S3:*"]},
        {"Principal": {"AWS": ["arn:aws:iam::123456789012:root", "*"]}},
        {"Resource": [*RESOURCES, "arn:aws:s3:::other"]},
    ],
)
def test_accepted_equivalents(change: dict[str, Any]) -> None:
    assert tls_deny_gaps([_policy({**DENY, **change})], "s3:*", RESOURCES) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Action": "s3:Get*"}, "statement Tls denies only s3:Get*, not s3:*"),
        ({"Principal": {"Service": "*"}}, "statement Tls denies only *, not principal '*'"),
        ({"NotResource": "arn:aws:s3:::b/public/*"}, "statement Tls is narrowed by NotResource"),
        ({"Resource": "arn:aws:s3:::b*"}, "statement Tls covers arn:aws:s3:::b*, not arn:aws:s3"),
        (
            {"Condition": {"StringEquals": {"aws:SecureTransport": "false"}}},
            "statement Tls has no Bool aws:SecureTransport condition",
        ),
        (
            {"Condition": {"Bool": {"aws:SecureTransport": True}}},
            "statement Tls applies when aws:SecureTransport is true, not false",
        ),
    ],
)
def test_narrowed_shapes(change: dict[str, Any], message: str) -> None:
    gaps = tls_deny_gaps([_policy({**DENY, **change})], "s3:*", RESOURCES)
    assert any(message in gap for gap in gaps), gaps


def test_no_deny_at_all() -> None:
    allow = {**DENY, "Effect": "Allow", "Condition": {}}
    assert tls_deny_gaps([_policy(allow)], "s3:*", RESOURCES) == [
        "no statement denies requests when aws:SecureTransport is false"
    ]


def test_one_whole_statement_is_enough() -> None:
    narrowed = {**DENY, "Sid": "Narrow", "Action": "s3:GetObject"}
    assert tls_deny_gaps([_policy(narrowed), _policy(DENY)], "s3:*", RESOURCES) == []


def test_statements_do_not_add_up() -> None:
    """Like cdk-nag, one statement must cover the bucket and its objects."""
    bucket = {**DENY, "Sid": "B", "Resource": [BUCKET]}
    objects = {**DENY, "Sid": "O", "Resource": [f"{BUCKET}/*"]}
    gaps = tls_deny_gaps([_policy(bucket, objects)], "s3:*", RESOURCES)
    assert gaps == [
        f"statement B covers {BUCKET}, not {BUCKET}/*",
        f"statement O covers {BUCKET}/*, not {BUCKET}",
    ]


def test_publish_is_enough_for_a_topic() -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:t"
    deny = {**DENY, "Action": "sns:Publish", "Resource": topic}
    assert tls_deny_gaps([_policy(deny)], "sns:Publish", [topic]) == []
    assert tls_deny_gaps([_policy({**deny, "Action": "sns:*"})], "sns:Publish", [topic]) == []


def test_a_queue_outside_the_stack_needs_resource_star(stack: Stack) -> None:
    stack.drop("events-dlq")
    assert any(
        "covers arn:aws:sqs:" in reason and reason.endswith("not *")
        for reason in failures(stack.results(exemptions=()), "TAP-SQS-002")
    )
    stack.edit(
        "events-dlq-policy",
        lambda d: [s.update(Resource="*") for s in d["Statement"] if s["Effect"] == "Deny"],
    )
    assert failures(stack.results(exemptions=()), "TAP-SQS-002") == []
