"""IAM: one service per role, source conditions, no wildcards, no managed policies (I1-I3)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from tap_cicd.documents import STAR_ONLY_ACTIONS, TRUST_SOURCE_KEYS
from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import (
    Props,
    Registry,
    Resource,
    allows,
    as_list,
    dig,
    linked,
    of_type,
    sid,
    statements,
)

rules = Registry("iam")

POLICY_TYPES = (t.ROLE_POLICY, t.POLICY, t.ROLE)
SOURCE_KEYS = ("aws:SourceAccount", "aws:SourceArn")


def policy_statements(typ: str, props: Props) -> list[Props]:
    """The permission statements of a policy resource, or of a role's inline policies."""
    if typ == t.ROLE:
        return [
            s for p in as_list(props.get("inlinePolicies")) for s in statements(p.get("policy"))
        ]
    return statements(props.get("policy"))


def trust_services(props: Props) -> list[str]:
    """The service principals a role trusts."""
    return [
        str(p) for s in statements(props.get("assumeRolePolicy"))
        for p in as_list(dig(s, "Principal", "Service"))
    ]  # fmt: skip


@rules.resource(
    "TAP-IAM-001", "A role per service keeps each service to its own permissions.", (), t.ROLE
)
def one_service_principal(_: str, props: Props) -> list[str]:
    """The trust policy has one statement: one service principal may sts:AssumeRole."""
    found = statements(props.get("assumeRolePolicy"))
    principal = found[0].get("Principal") if len(found) == 1 else None
    if (
        len(found) != 1
        or not allows(found[0])
        or as_list(found[0].get("Action")) != ["sts:AssumeRole"]
        or not isinstance(principal, Mapping)
        or list(principal) != ["Service"]
        or len(as_list(principal["Service"])) != 1
    ):
        return ["trust policy is not one statement letting one service principal assume the role"]
    return []


@rules.resource(
    "TAP-IAM-002",
    "Source conditions stop another account's resource using the role (confused deputy), "
    "wherever the service sends them.",
    (),
    t.ROLE,
)
def source_conditions(_: str, props: Props) -> list[str]:
    """The trust carries the source keys its service sends (``aws:SourceAccount`` or
    ``aws:SourceArn`` for a service tap does not know)."""
    problems = []
    for s in statements(props.get("assumeRolePolicy")):
        keys = {k for test in (s.get("Condition") or {}).values() for k in test}
        for service in as_list(dig(s, "Principal", "Service")):
            expected = TRUST_SOURCE_KEYS.get(str(service), SOURCE_KEYS)
            if expected and not keys & set(expected):
                problems.append(f"trust of {service} has no aws:SourceAccount/aws:SourceArn")
    return problems


@rules.resource(
    "TAP-IAM-003",
    "Wildcard actions grant what nobody reviewed.",
    ("FSBP IAM.1", "FSBP IAM.21", "NAG IAM5"),
    *POLICY_TYPES,
)
def no_wildcard_actions(typ: str, props: Props) -> list[str]:
    """No ``*``, no ``service:*``, no NotAction in Allow statements."""
    problems = []
    for s in policy_statements(typ, props):
        wild = [a for a in as_list(s.get("Action")) if a == "*" or str(a).endswith(":*")]
        if allows(s) and (wild or s.get("NotAction")):
            problems.append(f"statement {sid(s)} allows {(wild or ['NotAction'])[0]}")
    return problems


@rules.resource(
    "TAP-IAM-004",
    "Resources are scoped to ARNs; '*' only where AWS accepts nothing else.",
    ("FSBP IAM.21", "NAG IAM5"),
    *POLICY_TYPES,
)
def star_resources_allow_listed(typ: str, props: Props) -> list[str]:
    """``Resource: "*"`` only for the allow-listed star-only actions."""
    return [
        f"statement {sid(s)} allows {action} on '*'"
        for s in policy_statements(typ, props)
        if allows(s) and "*" in as_list(s.get("Resource"))
        for action in as_list(s.get("Action"))
        if action not in STAR_ONLY_ACTIONS
    ]


@rules.resource(
    "TAP-IAM-005",
    "AWS-managed policies grant far more than one pipeline needs.",
    ("NAG IAM4",),
    t.ROLE,
    t.ROLE_POLICY_ATTACHMENT,
    t.POLICY_ATTACHMENT,
)
def no_managed_policies(typ: str, props: Props) -> list[str]:
    """No AWS-managed policy attached."""
    arns = as_list(props.get("managedPolicyArns" if typ == t.ROLE else "policyArn"))
    return [f"attaches AWS-managed policy {a}" for a in arns if ":aws:policy/" in str(a)]


@rules.stack(
    "TAP-IAM-006", "A role shared by services gives each the other's permissions.", (), t.ROLE
)
def one_role_per_service(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """No two roles trust the same service."""
    roles = of_type(resources, t.ROLE)
    counts = Counter(s for r in roles for s in set(trust_services(r.props)))
    return [
        (r.urn, f"{s} is trusted by {counts[s]} roles")
        for r in roles
        for s in set(trust_services(r.props))
        if counts[s] > 1
    ]


@rules.stack(
    "TAP-IAM-007",
    "One inline policy per role: everything it may do, in one place.",
    (),
    t.ROLE,
    level="advisory",
)
def one_inline_policy(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """Each role has exactly one inline policy."""
    problems = []
    for role in of_type(resources, t.ROLE):
        count = len(linked(resources, t.ROLE_POLICY, "role", role))
        if count != 1:
            problems.append((role.urn, f"has {count} inline policies, not 1"))
    return problems
