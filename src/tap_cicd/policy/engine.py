"""Run the rules over a resource graph: one result per rule and judged resource."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from tap_cicd.graph import Graph
from tap_cicd.policy.catalog import RULES
from tap_cicd.policy.exemptions import EXEMPTIONS, Exemption, check_known, find
from tap_cicd.policy.model import Resource, Rule

Status = Literal["pass", "fail", "exempt"]
NO_RESOURCE = "-"


@dataclass(frozen=True)
class Result:
    """The verdict of one rule on one resource."""

    rule: Rule
    resource: str
    """The logical name (``-`` when the stack has nothing the rule judges)."""
    type: str
    status: Status
    reason: str
    """The violations, the exemption's reason, or why nothing was judged."""

    @property
    def blocking(self) -> bool:
        """A mandatory failure: the stack must not ship."""
        return self.status == "fail" and self.rule.level == "mandatory"


def resources_of(graph: Graph) -> list[Resource]:
    """The graph's custom resources, as the rules see them."""
    return [Resource(n.urn, n.type, n.name, n.inputs, n.outputs) for n in graph.nodes if n.custom]


def violations(rule: Rule, resources: Sequence[Resource]) -> dict[str, list[str]]:
    """The rule's violations, by URN."""
    found: dict[str, list[str]] = {}
    if rule.stack_check is not None:
        for urn, message in rule.stack_check(resources):
            found.setdefault(urn, []).append(message)
    else:
        check = rule.check or (lambda _type, _props: [])
        for r in resources:
            if r.type in rule.types:
                found[r.urn] = check(r.type, r.props)
    return found


def judge(
    rule: Rule, resources: Sequence[Resource], exemptions: Iterable[Exemption]
) -> list[Result]:
    """One rule's results: each resource of its types passes, fails or is exempt."""
    found = violations(rule, resources)
    judged = [r for r in resources if r.type in rule.types or r.urn in found]
    results = []
    for r in judged:
        messages = found.get(r.urn, [])
        exemption = find(exemptions, rule.id, r.name) if messages else None
        status: Status = "exempt" if exemption else "fail" if messages else "pass"
        reason = exemption.reason if exemption else "; ".join(messages)
        results.append(Result(rule, r.name, r.type, status, reason))
    if not judged:
        results.append(Result(rule, NO_RESOURCE, "", "pass", "nothing of this kind in the stack"))
    return results


def evaluate(
    resources: Sequence[Resource] | Graph,
    rules: Sequence[Rule] = RULES,
    exemptions: Sequence[Exemption] = EXEMPTIONS,
) -> list[Result]:
    """Every rule over ``resources`` (a graph, or resources built from plain dicts)."""
    check_known(exemptions, (rule.id for rule in rules))
    items = resources_of(resources) if isinstance(resources, Graph) else resources
    return [result for rule in rules for result in judge(rule, items, exemptions)]
