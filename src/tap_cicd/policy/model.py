"""What a rule is, what it checks, and the helpers every rule shares.

Rules see resources the way the Pulumi engine shows them to a policy pack: a type token
and camelCase properties (``imageTagMutability``, ``assumeRolePolicy`` as a JSON string).
The same functions therefore serve the offline graph and CrossGuard's ``props``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["mandatory", "advisory"]
Props = Mapping[str, Any]
Statement = Mapping[str, Any]


@dataclass(frozen=True)
class Resource:
    """One resource as a rule sees it."""

    urn: str
    type: str
    name: str
    props: Props
    """The inputs (a resource rule sees only these)."""
    outputs: Props = field(default_factory=dict)
    """Provider-computed values too (ARNs), used to link resources to each other."""

    def identifiers(self) -> set[str]:
        """The values other resources use to refer to this one (name, bucket, ARN, id, URL)."""
        found = set()
        for source in (self.props, self.outputs):
            for key in ("name", "bucket", "arn", "id", "keyId", "url"):
                value = source.get(key)
                if isinstance(value, str) and value:
                    found.add(value)
        return found


ResourceCheck = Callable[[str, Props], list[str]]
"""``(type, props) -> violations`` of one resource."""
StackCheck = Callable[[Sequence[Resource]], list[tuple[str, str]]]
"""``(resources) -> [(urn, violation)]`` over the whole stack."""


@dataclass(frozen=True)
class Rule:
    """One rule of the baseline."""

    id: str
    service: str
    why: str
    refs: tuple[str, ...]
    level: Level
    types: tuple[str, ...]
    """The resource types the rule judges (one result row each)."""
    check: ResourceCheck | None = None
    stack_check: StackCheck | None = None

    @property
    def stack_level(self) -> bool:
        """True when the rule needs more than one resource."""
        return self.stack_check is not None


class Registry:
    """The rules of one service, registered by decorating their functions."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.rules: list[Rule] = []

    def resource(
        self, rule_id: str, why: str, refs: tuple[str, ...], *types: str, level: Level = "mandatory"
    ) -> Callable[[ResourceCheck], ResourceCheck]:
        """Register a check of one resource at a time."""

        def register(check: ResourceCheck) -> ResourceCheck:
            self.rules.append(Rule(rule_id, self.service, why, refs, level, types, check=check))
            return check

        return register

    def stack(
        self, rule_id: str, why: str, refs: tuple[str, ...], *types: str, level: Level = "mandatory"
    ) -> Callable[[StackCheck], StackCheck]:
        """Register a check over the whole stack (a resource and the ones around it)."""

        def register(check: StackCheck) -> StackCheck:
            self.rules.append(
                Rule(rule_id, self.service, why, refs, level, types, stack_check=check)
            )
            return check

        return register


def dig(value: Any, *keys: str) -> Any:
    """``value[k1][k2]...``, or ``None`` as soon as a level is missing."""
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def as_list(value: Any) -> list[Any]:
    """IAM's "one or many": ``None`` -> [], a scalar or mapping -> [it], a list -> itself."""
    if value is None:
        return []
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def document(text: Any) -> Mapping[str, Any]:
    """A JSON policy document given as text (or already parsed); {} when absent or not JSON."""
    if isinstance(text, Mapping):
        return text
    try:
        parsed = json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        parsed = None
    return parsed if isinstance(parsed, Mapping) else {}


def statements(text: Any) -> list[Statement]:
    """The statements of a policy document."""
    return [s for s in as_list(document(text).get("Statement")) if isinstance(s, Mapping)]


def principals(statement: Statement) -> list[str]:
    """Every principal a statement names, flattened (``"*"`` for the anonymous principal)."""
    principal = statement.get("Principal")
    if isinstance(principal, Mapping):
        return [str(p) for values in principal.values() for p in as_list(values)]
    return [str(p) for p in as_list(principal)]


def allows(statement: Statement) -> bool:
    """An Allow statement."""
    return statement.get("Effect") == "Allow"


def sid(statement: Statement) -> str:
    """The statement's Sid, for messages."""
    return str(statement.get("Sid") or "(no Sid)")


def public_allows(text: Any) -> list[str]:
    """Allow statements of a resource policy open to principal ``*`` without a condition."""
    return [
        f"statement {sid(s)} allows principal '*' without a condition"
        for s in statements(text)
        if allows(s) and "*" in principals(s) and not s.get("Condition")
    ]


def denies_insecure_transport(text: Any, resources: set[str] | None = None) -> bool:
    """A Deny on ``aws:SecureTransport = false`` (covering ``resources`` when given)."""
    for s in statements(text):
        secure = dig(s, "Condition", "Bool", "aws:SecureTransport")
        covered = resources is None or resources <= set(as_list(s.get("Resource")))
        if s.get("Effect") == "Deny" and str(secure).lower() == "false" and covered:
            return True
    return False


def linked(resources: Sequence[Resource], typ: str, key: str, target: Resource) -> list[Resource]:
    """Resources of ``typ`` whose ``key`` property refers to ``target``."""
    ids = target.identifiers()
    return [r for r in resources if r.type == typ and r.props.get(key) in ids]


def of_type(resources: Sequence[Resource], *types: str) -> list[Resource]:
    """The resources of the given types."""
    return [r for r in resources if r.type in types]


SECRET_NAME_PARTS = (
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "TOKEN",
    "CREDENTIAL",
    "PRIVATE_KEY",
    "ACCESS_KEY",
    "API_KEY",
)


def secret_like(name: str) -> bool:
    """A variable name that suggests a secret (which belongs in Secrets Manager or SSM)."""
    upper = name.upper()
    return any(part in upper for part in SECRET_NAME_PARTS)
