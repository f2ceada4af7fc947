"""Exemptions, the CrossGuard adapters and the report (``tap check`` is tested in tests/local)."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from tap_cicd.policy import crossguard
from tap_cicd.policy import tokens as t
from tap_cicd.policy.catalog import RULES
from tap_cicd.policy.command import run_check
from tap_cicd.policy.engine import evaluate
from tap_cicd.policy.exemptions import EXEMPTIONS, Exemption, ExemptionError
from tap_cicd.policy.model import Resource, Rule, document
from tap_cicd.policy.report import table

from .stacks import Stack


def test_at_least_thirty_rules_with_unique_ids_and_whys() -> None:
    assert len(RULES) >= 30
    assert len({r.id for r in RULES}) == len(RULES)
    assert all(r.why and r.level in ("mandatory", "advisory") for r in RULES)
    assert {r.service for r in RULES} == {
        "kms", "s3", "ecr", "codebuild", "codepipeline", "lambda", "iam", "notifications", "logs",
        "aws", "ecs", "elb", "network",
    }  # fmt: skip


def test_an_exemption_without_a_reason_is_an_error() -> None:
    with pytest.raises(ExemptionError, match="exemption of TAP-CB-005 for \\*-build has no reason"):
        Exemption("TAP-CB-005", "*-build", "  ")


def test_an_exemption_of_an_unknown_rule_is_an_error(default_resources: list[Resource]) -> None:
    with pytest.raises(ExemptionError, match="unknown rule TAP-NOPE-001") as error:
        evaluate(default_resources, exemptions=[Exemption("TAP-NOPE-001", "*", "typo")])
    assert error.value.code == "policy_exemption_invalid"


@pytest.mark.parametrize("exemption", EXEMPTIONS, ids=lambda e: e.rule_id)
def test_each_exemption_covers_a_real_failure(stack: Stack, exemption: Exemption) -> None:
    without = [r for r in stack.results(exemptions=()) if r.rule.id == exemption.rule_id]
    assert any(r.status == "fail" and exemption.covers(r.rule.id, r.resource) for r in without)
    exempt = [r for r in stack.results() if r.status == "exempt" and r.rule.id == exemption.rule_id]
    assert exempt and {r.reason for r in exempt} == {exemption.reason}


def test_a_rule_with_nothing_to_judge_says_so(stack: Stack) -> None:
    (result,) = [r for r in stack.results() if r.rule.id == "TAP-ECR-005"]
    assert (result.resource, result.status) == ("-", "pass")
    assert result.reason == "nothing of this kind in the stack"


def _resource_args(typ: str, props: dict[str, Any], name: str = "tap-cicd-images") -> Any:
    return SimpleNamespace(resource_type=typ, props=props, name=name, urn=f"urn::{name}")


def _rule(rule_id: str) -> Rule:
    return next(r for r in RULES if r.id == rule_id)


def test_crossguard_wraps_every_rule_with_its_level() -> None:
    policies = crossguard.policies()
    assert [p.name for p in policies] == [r.id for r in RULES]
    by_name = {p.name: p for p in policies}
    assert isinstance(by_name["TAP-ECR-002"], ResourceValidationPolicy)
    assert isinstance(by_name["TAP-S3-002"], StackValidationPolicy)
    assert by_name["TAP-LOG-002"].enforcement_level == EnforcementLevel.ADVISORY
    assert by_name["TAP-S3-001"].description.endswith("[FSBP S3.8, CKV2_AWS_6, NAG S2]")
    assert by_name["TAP-CB-008"].description == _rule("TAP-CB-008").why


def test_crossguard_resource_policy_reports_violations() -> None:
    policy = crossguard.resource_policy(_rule("TAP-ECR-002"), EXEMPTIONS)
    reported: list[tuple[str, str | None]] = []
    report = lambda message, urn: reported.append((message, urn))  # noqa: E731
    policy.validate(_resource_args(t.REPOSITORY, {"imageScanningConfiguration": {}}), report)
    policy.validate(_resource_args(t.BUCKET, {}), report)
    assert reported == [("scanOnPush is off", None)]


def test_crossguard_resource_policy_skips_exempt_resources() -> None:
    policy = crossguard.resource_policy(_rule("TAP-CB-005"), EXEMPTIONS)
    reported: list[Any] = []
    privileged = {"environment": {"privilegedMode": True}}
    policy.validate(
        _resource_args(t.PROJECT, privileged, "tap-cicd-build"), lambda *a: reported.append(a)
    )
    assert reported == []
    policy.validate(_resource_args(t.PROJECT, privileged, "other"), lambda *a: reported.append(a))
    assert reported == [("privileged mode is on", None)]


def test_crossguard_stack_policy_reports_by_urn(stack: Stack) -> None:
    stack.set("artifacts-versioning", "versioningConfiguration.status", "Suspended")
    resources = [
        SimpleNamespace(
            resource_type=r.type, props={**r.outputs, **r.props}, name=r.name, urn=r.urn
        )
        for r in stack.resources
    ]
    reported: list[tuple[str, str | None]] = []
    for rule_id in ("TAP-S3-006", "TAP-S3-008"):
        policy = crossguard.stack_policy(_rule(rule_id), EXEMPTIONS)
        policy.validate(SimpleNamespace(resources=resources), lambda m, u: reported.append((m, u)))
    artifacts = next(r.urn for r in stack.resources if r.name == "tap-cicd-artifacts")
    # The access-log bucket's own missing logging is exempt, so only the artifacts fail.
    assert reported == [("versioning is not enabled", artifacts)]


def test_table_and_summary(default_resources: list[Resource]) -> None:
    text = table(evaluate(default_resources))
    assert text.splitlines()[0].split() == ["rule", "level", "resource", "status", "reason"]
    assert any(
        line.split()[:4] == ["TAP-CB-005", "mandatory", "tap-cicd-build", "exempt"]
        for line in text.splitlines()
    )
    results = evaluate(default_resources)
    passed = sum(r.status == "pass" for r in results)
    exempt = sum(r.status == "exempt" for r in results)
    assert text.rstrip().endswith(f"{passed} passed, 0 failed (0 mandatory), {exempt} exempt")
    # Each documented AWS constraint is listed with its page.
    assert "documented AWS constraints:" in text
    assert any(
        line.split()[:1] == ["TAP-AWS-001"] and "sns-key-management" in line
        for line in text.splitlines()
    )


def test_table_lists_documentation_only_for_rules_that_cite_aws(
    default_resources: list[Resource],
) -> None:
    rotation = [r for r in RULES if r.id == "TAP-KMS-001"]
    results = evaluate(default_resources, rules=rotation, exemptions=())
    assert "documented AWS constraints" not in table(results)


def test_run_check_prints_json_and_passes() -> None:
    out = io.StringIO()
    run_check({}, True, out)  # no mandatory failure: no PolicyError
    document_ = json.loads(out.getvalue())
    assert document_["summary"]["blocking"] == 0
    row = next(r for r in document_["results"] if r["rule"] == "TAP-CB-005")
    assert row["status"] == "exempt" and row["refs"] == ["CKV_AWS_316"]


def test_a_mandatory_failure_is_a_policy_error_with_exit_code_9(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tap_cicd.errors import PolicyError
    from tap_cicd.policy import command

    monkeypatch.setattr(command, "evaluate", lambda _: evaluate([Resource("u", t.KEY, "k", {})]))
    out = io.StringIO()
    with pytest.raises(PolicyError) as caught:
        run_check({}, False, out)
    assert (caught.value.code, caught.value.exit_code) == ("policy_failed", 9)
    assert str(caught.value) == (
        "4 mandatory policy failure(s), the stack must not ship: "
        "TAP-KMS-001, TAP-KMS-002, TAP-KMS-003, TAP-KMS-007"
    )
    assert "4 failed (4 mandatory)" in out.getvalue()  # the report is printed first


def test_documents_that_are_not_json_have_no_statements() -> None:
    assert document("{not json") == {}
    assert document(None) == {}
    assert document({"Statement": []}) == {"Statement": []}
