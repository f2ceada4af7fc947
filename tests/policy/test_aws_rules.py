"""Known AWS constraints (TAP-AWS-*): the program complies, and each defect class fails.

Every weakening here is the shape a review against AWS's documentation found in this stack
(or a close variant of it); the message must name what AWS refuses or drops.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tap_cicd.policy.catalog import RULES
from tap_cicd.policy.report import docs

from .stacks import Stack, failures

Weaken = Callable[[Stack], Any]
RULE_ARN = "arn:aws:events:us-east-1:123456789012:rule/pipeline-*-dev"


def _events_statement(stack: Stack) -> dict[str, Any]:
    return next(
        s for s in json.loads(stack.props("key")["policy"])["Statement"]
        if s.get("Sid") == "EventBridgeDeliveries"
    )  # fmt: skip


def _edit_events(change: Callable[[dict[str, Any]], Any]) -> Weaken:
    def weaken(stack: Stack) -> None:
        def edit(doc: dict[str, Any]) -> None:
            change(next(s for s in doc["Statement"] if s.get("Sid") == "EventBridgeDeliveries"))

        stack.edit("key", edit)

    return weaken


def _edit_logs(change: Callable[[dict[str, Any]], Any]) -> Weaken:
    def weaken(stack: Stack) -> None:
        def edit(doc: dict[str, Any]) -> None:
            change(next(s for s in doc["Statement"] if s.get("Sid") == "CloudWatchLogsOfThisStack"))

        stack.edit("key", edit)

    return weaken


def _ecr_rules(change: Callable[[list[dict[str, Any]]], Any]) -> Weaken:
    return lambda s: s.edit("images-lifecycle", lambda doc: change(doc["rules"]))


def _buildspec(old: str, new: str) -> Weaken:
    def weaken(stack: Stack) -> None:
        source = stack.props("build")["source"]
        assert old in source["buildspec"]
        source["buildspec"] = source["buildspec"].replace(old, new)

    return weaken


def _source_expires(stack: Stack) -> None:
    rules = stack.props("source-lifecycle")["rules"]
    rules[0]["expiration"] = {"days": 90}


def _drop_action(sid: str, action: str) -> Weaken:
    def weaken(stack: Stack) -> None:
        def edit(doc: dict[str, Any]) -> None:
            doc["Statement"] = [
                s for s in doc["Statement"] if s.get("Sid") != sid or action not in s["Action"]
            ]

        stack.edit("deploy-role-policy", edit)

    return weaken


def _trust(**fields: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda doc: doc["Statement"][0].update(fields)


NON_COMPLIANT: list[tuple[str, Weaken, str]] = [
    # The shipped defect: the key's EventBridge statement conditioned on the rule (drops every notification).
    ("TAP-AWS-001", _edit_events(lambda st: st.update(Condition={"ArnLike": {"aws:SourceArn": RULE_ARN}})), "on aws:sourcearn, which EventBridge does not send"),
    ("TAP-AWS-001", _edit_events(lambda st: st.update(Condition={"StringEquals": {"aws:SourceAccount": "123456789012"}})), "aws:sourceaccount"),
    ("TAP-AWS-001", _edit_events(lambda st: st.update(Condition={"StringEquals": {"AWS:SourceOrgID": "o-1"}})), "aws:sourceorgid"),
    ("TAP-AWS-001", _edit_events(lambda st: st.update(Principal={"Service": ["events.amazonaws.com", "sns.amazonaws.com"]}, Condition={"ArnEquals": {"aws:SourceArn": RULE_ARN}})), "EventBridge does not send"),
    # EventBridge without the key: the topic and the DLQ cannot be written.
    ("TAP-AWS-002", _edit_events(lambda st: st.update(Action=["kms:Decrypt"])), "does not grant events.amazonaws.com kms:GenerateDataKey"),
    ("TAP-AWS-002", _edit_events(lambda st: st.update(Principal={"Service": "sns.amazonaws.com"})), "EventBridge delivers here"),
    ("TAP-AWS-002", _edit_events(lambda st: st.update(Condition={"ArnLike": {"aws:SourceArn": RULE_ARN}})), "unconditioned"),
    ("TAP-AWS-003", _drop_action("EnhancedScanFindings", "inspector2:ListFindings"), "without inspector2:ListFindings"),
    ("TAP-AWS-004", _edit_logs(lambda st: st.update(Condition={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-east-1:123456789012:log-group:*"}})), "log-group:*: name each log group"),
    ("TAP-AWS-004", _edit_logs(lambda st: st.update(Condition={"ArnLike": {"aws:SourceAccount": "123456789012"}})), "does not name the log groups"),
    ("TAP-AWS-004", _edit_logs(lambda st: st.pop("Condition")), "does not name the log groups"),
    ("TAP-AWS-005", _source_expires, "expires the current source.zip"),
    ("TAP-AWS-006", _ecr_rules(lambda rules: rules.pop(0)), "no rule keeps at least 2 'release-' tagged images"),
    # The release rule after the rule that counts every image cannot protect anything.
    ("TAP-AWS-006", _ecr_rules(lambda rules: rules[0].update(rulePriority=4)), "ahead of the rules"),
    ("TAP-AWS-006", _ecr_rules(lambda rules: rules[0]["selection"].update(countNumber=1)), "at least 2"),
    ("TAP-AWS-006", _ecr_rules(lambda rules: rules[0]["selection"].update(countType="sinceImagePushed", countUnit="days", countNumber=30)), "at least 2"),
    ("TAP-AWS-006", _ecr_rules(lambda rules: rules[0]["selection"].update(tagPrefixList=["rel"])), "'release-'"),
    ("TAP-AWS-007", _buildspec('export IMAGE_TAG="${COMMIT', 'IMAGE_TAG="${COMMIT'), "IMAGE_TAG is not set with 'export IMAGE_TAG='"),
    ("TAP-AWS-007", _buildspec("export IMAGE_DIGEST=", "IMAGE_DIGEST="), "IMAGE_DIGEST is not set"),
    ("TAP-AWS-007", _buildspec("version: 0.2", "version: 0.2\nphases: [unclosed"), "not YAML"),
    # The trust conditions the review found: CodePipeline and Lambda send no source keys.
    ("TAP-AWS-008", lambda s: s.edit("pipeline-role", _trust(Condition={"StringEquals": {"aws:SourceAccount": "123456789012"}}), key="assumeRolePolicy"), "codepipeline.amazonaws.com conditions on aws:sourceaccount"),
    ("TAP-AWS-008", lambda s: s.edit("deploy-role", _trust(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:lambda:*"}}), key="assumeRolePolicy"), "lambda.amazonaws.com conditions on aws:sourcearn"),
]  # fmt: skip


COMPLIANT: list[tuple[str, Weaken]] = [
    # IfExists: a missing key satisfies it, so it cannot drop a delivery.
    ("TAP-AWS-001", _edit_events(lambda st: st.update(Condition={"ArnLikeIfExists": {"aws:SourceArn": RULE_ARN}}))),
    ("TAP-AWS-002", _edit_events(lambda st: st.update(Action="kms:*"))),
    ("TAP-AWS-004", _edit_logs(lambda st: st.update(Condition={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": ["arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/x"]}}))),
    ("TAP-AWS-005", lambda s: s.props("source-lifecycle")["rules"][0].update(expiration={"expiredObjectDeleteMarker": True})),
    ("TAP-AWS-006", _ecr_rules(lambda rules: rules[0]["selection"].update(tagPrefixList=None, tagPatternList=["release-*"]))),
    ("TAP-AWS-007", _buildspec("exported-variables:", "exported-variables: []\n  x-was:")),
    ("TAP-AWS-008", lambda s: s.edit("pipeline-role", _trust(Condition={"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}}), key="assumeRolePolicy")),
    ("TAP-AWS-008", lambda s: s.edit("source-events-role", _trust(Principal={"Service": "scheduler.amazonaws.com"}), key="assumeRolePolicy")),
]  # fmt: skip


def _case_id(case: tuple[Any, ...]) -> str:
    return str(case[0])


@pytest.mark.parametrize("case", NON_COMPLIANT, ids=_case_id)
def test_weakened_stack_fails_with_the_constraint(
    stack: Stack, case: tuple[str, Weaken, str]
) -> None:
    rule_id, weaken, message = case
    assert failures(stack.results(exemptions=()), rule_id) == []
    weaken(stack)
    found = failures(stack.results(exemptions=()), rule_id)
    assert any(message in reason for reason in found), found


@pytest.mark.parametrize("case", COMPLIANT, ids=_case_id)
def test_compliant_variant_passes(stack: Stack, case: tuple[str, Weaken]) -> None:
    rule_id, change = case
    change(stack)
    mine = [r for r in stack.results() if r.rule.id == rule_id]
    assert mine and all(r.status == "pass" for r in mine), [(r.resource, r.reason) for r in mine]


def test_every_aws_rule_is_weakened_here_and_cites_an_aws_page() -> None:
    ids = {rule.id for rule in RULES if rule.id.startswith("TAP-AWS-")}
    assert ids == {rule_id for rule_id, _, _ in NON_COMPLIANT}
    for rule in RULES:
        if rule.id.startswith("TAP-AWS-"):
            assert docs(rule.refs), rule.id
            assert all(link.startswith("https://docs.aws.amazon.com/") for link in docs(rule.refs))


def test_the_events_statement_of_the_program_is_unconditioned(stack: Stack) -> None:
    assert "Condition" not in _events_statement(stack)
