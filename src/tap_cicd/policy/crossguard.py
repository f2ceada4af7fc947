"""The rules as CrossGuard policies, for ``pulumi preview --policy-pack policy``.

``PolicyPack`` itself is built in ``policy/__main__.py``: constructing one starts the
analyzer server, so nothing here does.
"""

from __future__ import annotations

from collections.abc import Sequence

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from tap_cicd.policy.catalog import RULES
from tap_cicd.policy.exemptions import EXEMPTIONS, Exemption, check_known, find
from tap_cicd.policy.model import Resource, Rule

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def description(rule: Rule) -> str:
    """The why, with the public rule ids."""
    refs = f" [{', '.join(rule.refs)}]" if rule.refs else ""
    return f"{rule.why}{refs}"


def resource_policy(rule: Rule, exemptions: Sequence[Exemption]) -> ResourceValidationPolicy:
    """A resource rule as a ``ResourceValidationPolicy`` (props are the camelCase inputs)."""
    check = rule.check
    assert check is not None  # noqa: S101 - only resource rules come here

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type not in rule.types or find(exemptions, rule.id, args.name):
            return
        for message in check(args.resource_type, args.props):
            report(message, None)

    return ResourceValidationPolicy(
        rule.id, description(rule), validate, enforcement_level=LEVELS[rule.level]
    )


def stack_policy(rule: Rule, exemptions: Sequence[Exemption]) -> StackValidationPolicy:
    """A stack rule as a ``StackValidationPolicy`` (props are the resources' outputs)."""
    check = rule.stack_check
    assert check is not None  # noqa: S101 - only stack rules come here

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [
            Resource(r.urn, r.resource_type, r.name, r.props, r.props) for r in args.resources
        ]
        names = {r.urn: r.name for r in resources}
        for urn, message in check(resources):
            if not find(exemptions, rule.id, names.get(urn, "")):
                report(message, urn)

    return StackValidationPolicy(
        rule.id, description(rule), validate, enforcement_level=LEVELS[rule.level]
    )


def policies(
    rules: Sequence[Rule] = RULES, exemptions: Sequence[Exemption] = EXEMPTIONS
) -> list[Policy]:
    """Every rule as a CrossGuard policy."""
    check_known(exemptions, (rule.id for rule in rules))
    return [
        stack_policy(rule, exemptions) if rule.stack_level else resource_policy(rule, exemptions)
        for rule in rules
    ]
