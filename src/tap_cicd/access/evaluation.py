"""AWS's policy evaluation for one request within one account: explicit deny, then an allow.

``evaluate`` decides a request from the caller's identity policies and the resource's policy the
way AWS does for a role (or its session) or a service principal in the resource's own account:
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
Two resource policies must allow on their own or delegate to IAM policies by naming the account:
KMS key policies (``kms:*`` actions) and role trust policies (``sts:AssumeRole*``). Everything is
pure: no AWS call, no clock; the request context carries every condition key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tap_cicd.access.conditions import (
    VARIABLES_VERSION,
    Context,
    ContextValue,
    arn_match,
    conditions_match,
    glob_match,
    normalize_context,
    resolve,
)

UNKNOWN_RESOURCE = "?"
"""The resource of a call whose resource tap cannot tell: every ``Resource`` covers it (and
every ``NotResource``), so any statement for the action counts, on whatever it names."""

Document = Mapping[str, Any]
"""A policy document: ``Version`` and ``Statement`` (one statement or a list)."""

Grant = Literal["identity", "direct", "account"]
"""How a statement reaches the caller: an identity policy, a resource policy naming the caller
(its role, session, service or everyone), or a resource policy naming the caller's account."""


@dataclass(frozen=True)
class Request:
    """One call: who makes it, which action on which resource, with which condition keys."""

    principal: str
    """A role ARN, its assumed-role session ARN, or a service principal: ``sns.amazonaws.com``."""
    action: str
    """The IAM action, ``s3:GetObject``."""
    resource: str
    """The resource ARN; ``*`` for an action that takes no resource."""
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    """The condition keys AWS sends on this path, and nothing else."""
    account: str = "123456789012"
    """The resource's account, which must be the caller's too."""


@dataclass(frozen=True)
class Policies:
    """The policies that apply to a request."""

    identity: Sequence[Document] = ()
    """The calling role's policies; ignored for a service principal, which has none."""
    resource: Document | None = None
    """The resource's policy (bucket, topic, queue, repository, function, or a role's trust)."""
    resource_kind: str = "resource"
    """How a reason names the resource's policy: ``bucket policy``, ``topic policy``..."""
    key: Document | None = None
    """The KMS key policy, for ``kms:*`` actions (which ignore ``resource``); KMS requires one."""


@dataclass(frozen=True)
class Decision:
    """AWS's answer, with the one-line reason and the statement that decided it, if one did."""

    allowed: bool
    reason: str
    statement: str | None = None


@dataclass(frozen=True)
class _Caller:
    partition: str
    account: str
    service: str | None = None
    role_arn: str | None = None  # only when the caller is given as its role
    role_name: str | None = None
    session_arn: str | None = None

    @property
    def root(self) -> str:
        return f"arn:{self.partition}:iam::{self.account}:root"


@dataclass(frozen=True)
class _Hit:
    effect: str
    sid: str
    grant: Grant


def _caller(request: Request) -> _Caller:
    if not request.principal.startswith("arn:"):
        return _Caller("aws", request.account, service=request.principal)
    parts = request.principal.split(":", 5)
    kind, _, rest = parts[-1].partition("/") if len(parts) == 6 else ("", "", "")
    if parts[2:4] == ["iam", ""] and kind == "role":
        role_name = rest.split("/")[-1]
        caller = _Caller(parts[1], parts[4], role_arn=request.principal, role_name=role_name)
    elif parts[2:4] == ["sts", ""] and kind == "assumed-role" and "/" in rest:
        role_name = rest.split("/")[0]
        caller = _Caller(parts[1], parts[4], role_name=role_name, session_arn=request.principal)
    else:
        raise ValueError(f"unsupported principal {request.principal!r}: a role, session or service")
    if caller.account != request.account:
        raise ValueError(f"cross-account request: {request.principal} on account {request.account}")
    return caller


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _names_role(entry: str, caller: _Caller) -> bool:
    """Whether a principal entry is the caller's role (a session knows its role by name only)."""
    if caller.role_arn is not None:
        return entry == caller.role_arn
    parts = entry.split(":", 5)
    return (
        len(parts) == 6
        and parts[2:5] == ["iam", "", caller.account]
        and parts[5].startswith("role/")
        and parts[5].rsplit("/", 1)[-1] == caller.role_name
    )


def _principal_grant(element: Any, caller: _Caller) -> Grant | None:
    # "*" and {"AWS": "*"} are equivalent; a wildcard matches no part of a name:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    if element == "*":
        return "direct"
    if not isinstance(element, Mapping):
        return None
    aws = _strings(element.get("AWS"))
    if "*" in aws:
        return "direct"
    if caller.service is not None:
        return "direct" if caller.service in _strings(element.get("Service")) else None
    if caller.session_arn in aws or any(_names_role(entry, caller) for entry in aws):
        return "direct"
    # The account, by id or root ARN, delegates to the account's IAM policies.
    return "account" if caller.account in aws or caller.root in aws else None


def _not_principal_excludes(element: Any, caller: _Caller, *, deny: bool) -> bool:
    """Whether a ``NotPrincipal`` statement leaves the caller out.

    AWS may check the caller's account, then its role, then its session: a ``Deny`` spares only a
    caller whose every link is listed; an ``Allow`` (undocumented) leaves out any listed link.
    """
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
    if element == "*":
        return True
    listed = element if isinstance(element, Mapping) else {}
    aws = _strings(listed.get("AWS"))
    if "*" in aws:
        return True
    if caller.service is not None:
        return caller.service in _strings(listed.get("Service"))
    links = [
        caller.account in aws or caller.root in aws,
        any(_names_role(entry, caller) for entry in aws),
    ]
    if caller.session_arn is not None:
        links.append(caller.session_arn in aws)
    return all(links) if deny else any(links)


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    # "The prefix and the action name are case insensitive":
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
    if "NotAction" in statement:
        patterns, inverted = _strings(statement["NotAction"]), True
    else:
        patterns, inverted = _strings(statement.get("Action")), False
    matched = any(glob_match(pattern, action, ignore_case=True) for pattern in patterns)
    return matched != inverted if patterns else False


def _resource_matches(
    statement: Mapping[str, Any], resource: str, context: Context, *, variables: bool, own: bool
) -> bool:
    """Whether ``Resource``/``NotResource`` covers ``resource``; without either, ``own``."""
    # Wildcards within each colon-separated ARN segment, case-sensitive:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
    if "NotResource" in statement:
        patterns, inverted = _strings(statement["NotResource"]), True
    elif "Resource" in statement:
        patterns, inverted = _strings(statement["Resource"]), False
    else:
        # A resource policy's statement without one is about its own resource (a trust policy's
        # statements have none); an identity policy's is invalid, and applies to nothing.
        return own
    if resource == UNKNOWN_RESOURCE:
        return True
    resolved = (resolve(pattern, context, variables=variables) for pattern in patterns)
    matched = any(
        pattern == "*" or arn_match(pattern, resource)
        for pattern in resolved
        if pattern is not None
    )
    return matched != inverted


def _statements(document: Document) -> list[Mapping[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _hits(document: Document, request: Request, caller: _Caller, *, resource: bool) -> list[_Hit]:
    context = normalize_context(request.context)
    variables = document.get("Version") == VARIABLES_VERSION
    hits: list[_Hit] = []
    for index, statement in enumerate(_statements(document)):
        grant: Grant | None = "identity"
        if resource and "NotPrincipal" in statement:
            deny = statement.get("Effect") == "Deny"
            spared = _not_principal_excludes(statement["NotPrincipal"], caller, deny=deny)
            grant = None if spared else "direct"
        elif resource:
            grant = _principal_grant(statement.get("Principal"), caller)
        if (
            grant is None
            or not _action_matches(statement, request.action)
            or not _resource_matches(
                statement, request.resource, context, variables=variables, own=resource
            )
            or not conditions_match(statement.get("Condition", {}), context, variables=variables)
        ):
            continue
        sid = statement.get("Sid") or f"#{index}"
        hits.append(_Hit(str(statement.get("Effect")), str(sid), grant))
    return hits


def matching_statements(
    document: Document, request: Request, *, as_resource_policy: bool
) -> list[tuple[str, str]]:
    """``(effect, Sid or "#<index>")`` of each statement of ``document`` applying to ``request``.

    An identity policy's statements ignore ``Principal``; a resource policy's must name the caller,
    its account or everyone (``Principal``), or spare it not (``NotPrincipal``).
    """
    hits = _hits(document, request, _caller(request), resource=as_resource_policy)
    return [(hit.effect, hit.sid) for hit in hits]


def _first(hits: list[_Hit], effect: str, grant: Grant | None = None) -> _Hit | None:
    return next((h for h in hits if h.effect == effect and grant in (None, h.grant)), None)


def _required_policy(request: Request, policies: Policies) -> tuple[Document | None, str] | None:
    """The resource policy that must allow (or delegate), for the actions that have one."""
    action = request.action.lower()
    # "IAM role trust policies and KMS key policies ... must explicitly allow access for principals"
    # (the evaluation logic page). The key policy statement that delegates to IAM policies:
    # https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
    if action.startswith("kms:"):
        return policies.key, "key policy"
    if action.startswith("sts:assumerole"):
        return policies.resource, policies.resource_kind
    return None


def evaluate(request: Request, policies: Policies) -> Decision:
    """Whether AWS allows ``request`` under ``policies``, and why, in one line."""
    caller = _caller(request)
    required = _required_policy(request, policies)
    document, kind = required or (policies.resource, policies.resource_kind)
    identity = () if caller.service is not None else policies.identity
    identity_hits = [hit for doc in identity for hit in _hits(doc, request, caller, resource=False)]
    resource_hits = [] if document is None else _hits(document, request, caller, resource=True)
    for label, hits in (("identity policy", identity_hits), (kind, resource_hits)):
        if denied := _first(hits, "Deny"):
            reason = f"explicitly denied by the {label} (statement {denied.sid})"
            return Decision(False, reason, denied.sid)
    identity_allow = _first(identity_hits, "Allow")
    direct = _first(resource_hits, "Allow", "direct")
    if required is not None:
        return _required(
            request,
            caller=caller,
            kind=kind,
            document=document,
            identity_allow=identity_allow,
            direct=direct,
            resource_hits=resource_hits,
        )
    if identity_allow is not None:
        return _allowed("identity policy", identity_allow)
    if direct is not None:
        return _allowed(kind, direct)
    if caller.service is not None:
        none = "" if document is not None else f" (there is no {kind})"
        return Decision(False, f"no statement of the {kind} allows it{none}")
    names = "identity policy" if document is None else f"identity policy or the {kind}"
    return Decision(False, f"no statement of the {names} allows it")


def _allowed(label: str, hit: _Hit) -> Decision:
    return Decision(True, f"allowed by the {label} (statement {hit.sid})", hit.sid)


def _required(
    request: Request,
    *,
    caller: _Caller,
    kind: str,
    document: Document | None,
    identity_allow: _Hit | None,
    direct: _Hit | None,
    resource_hits: list[_Hit],
) -> Decision:
    """The decision where the resource policy must allow, directly or by naming the account."""
    if document is None:
        return Decision(False, f"there is no {kind}, and {request.action} needs one to allow it")
    if direct is not None:
        return _allowed(kind, direct)
    if caller.service is not None:
        return Decision(False, f"no statement of the {kind} allows it")
    delegation = _first(resource_hits, "Allow", "account")
    if delegation is None:
        return Decision(
            False,
            f"the {kind} neither allows it nor lets IAM policies allow it"
            f" (no statement for {caller.root})",
        )
    if identity_allow is None:
        return Decision(
            False,
            f"no statement of the identity policy allows it (the {kind} lets IAM policies allow"
            f" it: statement {delegation.sid})",
        )
    return Decision(
        True,
        f"allowed by the identity policy (statement {identity_allow.sid}), as the {kind} lets"
        f" IAM policies allow it (statement {delegation.sid})",
        identity_allow.sid,
    )
