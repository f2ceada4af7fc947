"""A mutable copy of the program's resources, with helpers to weaken it."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from typing import Any

from tap_cicd.policy.engine import Result, evaluate
from tap_cicd.policy.exemptions import EXEMPTIONS, Exemption
from tap_cicd.policy.model import Resource

CONNECTION = (
    "arn:aws:codestar-connections:us-east-1:123456789012:connection/"
    "0f3e2d1c-aaaa-bbbb-cccc-0123456789ab"
)
GITHUB = {"source": "github", "connectionArn": CONNECTION, "repository": "acme/service"}
PREFIX = "tap-cicd-"


class Stack:
    """A deep copy of a graph's resources, with helpers to weaken it."""

    def __init__(self, resources: Sequence[Resource]) -> None:
        self.resources = [
            Resource(
                r.urn, r.type, r.name, copy.deepcopy(dict(r.props)), copy.deepcopy(dict(r.outputs))
            )
            for r in resources
        ]

    def props(self, name: str) -> dict[str, Any]:
        """The inputs of ``tap-cicd-<name>``, to change in place."""
        found = [r.props for r in self.resources if r.name == PREFIX + name]
        assert len(found) == 1, name
        return found[0]  # type: ignore[return-value]

    def set(self, name: str, path: str, value: Any) -> Stack:
        """Set a (dotted, list indices as numbers) input."""
        *parents, last = path.split(".")
        target: Any = self.props(name)
        for part in parents:
            target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
        target[last] = value
        return self

    def delete(self, name: str, key: str) -> Stack:
        """Remove a top-level input."""
        del self.props(name)[key]
        return self

    def edit(
        self, name: str, change: Callable[[dict[str, Any]], Any], key: str = "policy"
    ) -> Stack:
        """Change a JSON-text input (a policy document) through its parsed form."""
        props = self.props(name)
        document = json.loads(props[key])
        change(document)
        props[key] = json.dumps(document)
        return self

    def drop(self, name: str) -> Stack:
        """Remove a resource."""
        self.resources = [r for r in self.resources if r.name != PREFIX + name]
        return self

    def add(self, typ: str, name: str, **props: Any) -> Stack:
        """Add a resource."""
        urn = f"urn:pulumi:offline::tap::{typ}::{PREFIX}{name}"
        self.resources.append(Resource(urn, typ, PREFIX + name, props, props))
        return self

    def results(self, exemptions: Sequence[Exemption] = EXEMPTIONS) -> list[Result]:
        """Every rule over this stack."""
        return evaluate(self.resources, exemptions=exemptions)


def failures(results: Sequence[Result], rule_id: str) -> list[str]:
    """The reasons ``rule_id`` failed."""
    return [r.reason for r in results if r.rule.id == rule_id and r.status == "fail"]


def case_id(case: tuple[Any, ...]) -> str:
    """A parametrized case's id: its rule id."""
    return str(case[0])


def assert_weakened_fails(stack: Stack, case: tuple[str, Callable[[Stack], Any], str]) -> None:
    """Weaken ``stack``; the rule must then fail (exemptions aside) with the message."""
    rule_id, weaken, message = case
    weaken(stack)
    found = failures(stack.results(exemptions=()), rule_id)
    assert any(message in reason for reason in found), found


def assert_compliant_passes(stack: Stack, case: tuple[str, Callable[[Stack], Any]]) -> None:
    """Change ``stack`` in a compliant way; every result of the rule must still pass."""
    rule_id, change = case
    change(stack)
    mine = [r for r in stack.results(exemptions=()) if r.rule.id == rule_id]
    assert mine and all(r.status == "pass" for r in mine), [(r.resource, r.reason) for r in mine]
