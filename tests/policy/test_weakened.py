"""The stacks the issue names, each weakened one way, fail with the expected rule id."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tap_cicd.policy.model import Resource

from .stacks import Stack, failures


def _wildcard_action(stack: Stack) -> None:
    stack.edit("build-role-policy", lambda d: d["Statement"][0]["Action"].append("*"))


def _no_tls_statement(stack: Stack) -> None:
    stack.edit(
        "artifacts-policy",
        lambda d: d.update(Statement=[s for s in d["Statement"] if s["Effect"] != "Deny"]),
    )


def _public_topic(stack: Stack) -> None:
    stack.edit("notifications-policy", lambda d: d["Statement"][0].update(Principal="*"))


WEAKENED: dict[str, tuple[Any, str]] = {
    "scan on push off": (
        lambda s: s.set("images", "imageScanningConfiguration.scanOnPush", False),
        "TAP-ECR-002",
    ),
    "wildcard action in a role policy": (_wildcard_action, "TAP-IAM-003"),
    "bucket without TLS-only policy": (_no_tls_statement, "TAP-S3-002"),
    "public topic policy": (_public_topic, "TAP-SNS-002"),
    "old Lambda runtime": (lambda s: s.set("deploy", "runtime", "python3.8"), "TAP-LAMBDA-001"),
    "log retention unset": (lambda s: s.delete("build-logs", "retentionInDays"), "TAP-LOG-001"),
}


@pytest.mark.parametrize("weakening", list(WEAKENED))
def test_weakened_stack_fails_mandatory_rule(stack: Stack, weakening: str) -> None:
    weaken, rule_id = WEAKENED[weakening]
    weaken(stack)
    results = stack.results()
    assert failures(results, rule_id)
    assert any(r.blocking and r.rule.id == rule_id for r in results)


@pytest.mark.parametrize("config", ["default_resources", "github_resources"])
def test_program_passes_every_mandatory_rule(config: str, request: pytest.FixtureRequest) -> None:
    resources: list[Resource] = request.getfixturevalue(config)
    results = Stack(resources).results()
    assert [r for r in results if r.blocking] == []
    # The source bucket (S3 source only) keeps its current source.zip (TAP-AWS-005).
    source = {"TAP-S3-007"} if config == "default_resources" else set()
    assert {r.rule.id for r in results if r.status == "exempt"} == source | {
        "TAP-CB-005",
        "TAP-S3-005",
        "TAP-S3-008",
        "TAP-KMS-004",
        "TAP-KMS-007",
        "TAP-IAM-006",  # the task execution role and the task role
        "TAP-IAM-007",  # the task role
        "TAP-ELB-004",
    }


def test_policy_documents_are_json(default_resources: list[Resource]) -> None:
    policy = next(r for r in default_resources if r.name == "tap-cicd-build-role-policy")
    assert json.loads(policy.props["policy"])["Statement"]
