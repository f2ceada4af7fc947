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


# What cdk-nag's S3BucketSSLRequestsOnly, SNSTopicSSLPublishOnly and SQSQueueSSLRequestsOnly
# require of a TLS-only statement (cdklabs/cdk-nag src/rules/{s3,sns,sqs}/), plus its Resource.
TLS_CONDITION_OPERATORS = ("Bool", "BoolIfExists")
SECURE_TRANSPORT = "aws:securetransport"
"""Condition keys are case-insensitive in IAM; compared lowercased."""


def _conditions(statement: Statement) -> list[tuple[str, str, Any]]:
    """``(operator, key, value)`` of every condition of the statement."""
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return []
    return [
        (str(op), str(key), value)
        for op, block in condition.items()
        if isinstance(block, Mapping)
        for key, value in block.items()
    ]


def _everyone(principal: Any) -> bool:
    """Principal ``"*"`` or ``{"AWS": "*"}`` (also inside a list), as cdk-nag accepts."""
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in as_list(principal.get("AWS"))


def _condition_gaps(name: str, statement: Statement) -> list[str]:
    values: list[Any] | None = None
    narrowing = []
    for op, key, value in _conditions(statement):
        if key.lower() == SECURE_TRANSPORT and op in TLS_CONDITION_OPERATORS:
            values = as_list(value)
        else:
            # Condition blocks are ANDed: any other key only narrows the deny.
            narrowing.append(f"{op} {key}")
    gaps = []
    if values is None:
        gaps.append(f"{name} has no Bool aws:SecureTransport condition")
    elif not any(str(v).lower() == "false" for v in values):
        shown = ", ".join(str(v).lower() for v in values)
        gaps.append(f"{name} applies when aws:SecureTransport is {shown}, not false")
    if narrowing:
        gaps.append(f"{name} is narrowed by condition {', '.join(narrowing)}")
    return gaps


def _tls_gaps(statement: Statement, action: str, resources: Sequence[str]) -> list[str]:
    """What keeps one statement from denying ``action`` without TLS to anyone on ``resources``."""
    name = f"statement {sid(statement)}"
    gaps = []
    if statement.get("Effect") != "Deny":
        gaps.append(f"{name} has Effect {statement.get('Effect')}, not Deny")
    negated = [k for k in ("NotPrincipal", "NotAction", "NotResource") if k in statement]
    if negated:
        gaps.append(f"{name} is narrowed by {', '.join(negated)}")
    if not _everyone(statement.get("Principal")):
        who = ", ".join(principals(statement)) or "no Principal"
        gaps.append(f"{name} denies only {who}, not principal '*'")
    actions = [str(a) for a in as_list(statement.get("Action"))]
    covering = {"*", f"{action.partition(':')[0]}:*".lower(), action.lower()}
    if not covering & {a.lower() for a in actions}:
        gaps.append(f"{name} denies only {', '.join(actions) or 'no Action'}, not {action}")
    covered = [str(r) for r in as_list(statement.get("Resource"))]
    missing = [r for r in resources if r not in covered and "*" not in covered]
    if missing:
        gaps.append(
            f"{name} covers {', '.join(covered) or 'no Resource'}, not {', '.join(missing)}"
        )
    return gaps + _condition_gaps(name, statement)


def tls_deny_gaps(texts: Sequence[Any], action: str, resources: Sequence[str]) -> list[str]:
    """Why no statement of the policies ``texts`` denies every request without TLS; [] if one does.

    The statement must deny (Effect Deny, Principal ``*``) ``action``, its service's ``svc:*``
    or ``*``, on every ARN of ``resources`` (or ``*``), when ``aws:SecureTransport`` is false,
    with no ``Not*`` element and no other condition narrowing it.
    """
    found = [
        _tls_gaps(s, action, resources)
        for text in texts
        for s in statements(text)
        if s.get("Effect") == "Deny"
        or any(key.lower() == SECURE_TRANSPORT for _, key, _ in _conditions(s))
    ]
    if any(not gaps for gaps in found):
        return []
    return [gap for gaps in found for gap in gaps] or [
        "no statement denies requests when aws:SecureTransport is false"
    ]


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
