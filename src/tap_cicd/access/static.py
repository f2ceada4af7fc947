"""``tap check --access``: the table of the pipeline's calls, authorized over the offline graph.

Every call of ``paths.TABLE`` that the configuration makes is evaluated the way AWS would,
against the policies the program declares: the calling role's inline policies, the resource's
policy (bucket, topic, queue, repository, function, or the role's trust for ``sts:AssumeRole``)
and, for KMS, the key policy. A denied call is a failure; every action a role's policy allows
that no call of the path needs is a least-privilege finding (advisory).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from tap_cicd.access import paths, report
from tap_cicd.access.context import caller_context
from tap_cicd.access.evaluation import (
    Decision,
    Document,
    Policies,
    Request,
    evaluate,
    matching_statements,
)
from tap_cicd.access.paths import Call, Ref, Value
from tap_cicd.errors import PolicyError
from tap_cicd.policy.command import check_graph

if TYPE_CHECKING:
    from tap_cicd.graph import Graph, Node

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
PERMISSION = "aws:lambda/permission:Permission"
SERVICE = "aws:ecs/service:Service"

RESOURCE_POLICIES: Mapping[str, tuple[str, str, str, str]] = {
    # resource type: (its policy's type, the policy's output naming the resource, the
    # resource's output it names, how a reason calls the policy)
    paths.BUCKET: ("aws:s3/bucketPolicy:BucketPolicy", "bucket", "bucket", "bucket policy"),
    paths.TOPIC: ("aws:sns/topicPolicy:TopicPolicy", "arn", "arn", "topic policy"),
    paths.QUEUE: ("aws:sqs/queuePolicy:QueuePolicy", "queueUrl", "url", "queue policy"),
    paths.REPOSITORY: (
        "aws:ecr/repositoryPolicy:RepositoryPolicy",
        "repository",
        "name",
        "repository policy",
    ),
}


@dataclass(frozen=True)
class Outcome:
    """One call of the table, as AWS would decide it."""

    call: Call
    principal: str
    """The role's name or the service principal."""
    resource: str
    decision: Decision
    request: Request | None = None
    """``None`` when the graph lacks the call's principal or resource."""
    identity: Sequence[Document] = ()
    hint: str = ""
    """For a denied call, the conditions that kept a statement from allowing it."""

    @property
    def reason(self) -> str:
        """AWS's reason, and the conditions that failed, if any."""
        return explained(self.decision.reason, self.hint)

    @property
    def message(self) -> str:
        """Principal, action, resource and the reason, in one line."""
        return f"{self.principal} {self.call.action} on {self.resource}: {self.reason}"


@dataclass(frozen=True)
class Unneeded:
    """An action a role's policy statement allows that no call of the path needs."""

    role: str
    statement: str
    action: str


@dataclass(frozen=True)
class Report:
    """The outcome of every call the configuration makes, and the least-privilege findings."""

    outcomes: list[Outcome]
    unneeded: list[Unneeded]

    @property
    def denied(self) -> list[Outcome]:
        """The calls AWS would refuse."""
        return [o for o in self.outcomes if not o.decision.allowed]


def document(value: Any) -> dict[str, Any]:
    """A policy from a graph output (JSON text or a mapping); empty when there is none."""
    if isinstance(value, Mapping):
        return dict(value)
    try:
        found = json.loads(value) if isinstance(value, str) else {}
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A document's statements (one statement may stand alone)."""
    found = doc.get("Statement", [])
    return [found] if isinstance(found, Mapping) else list(found)


def _output(outputs: Mapping[str, Any], attr: str) -> Any:
    """The output at a dotted path (``rules.0.x``); ``None`` when any part is missing."""
    found: Any = outputs
    for part in attr.split("."):
        if isinstance(found, Mapping):
            found = found.get(part)
        elif isinstance(found, list) and part.isdigit() and int(part) < len(found):
            found = found[int(part)]
        else:
            return None
    return found


def _actions(graph: Graph) -> list[Mapping[str, Any]]:
    """Every action of every stage of the graph's pipelines."""
    return [
        action
        for node in graph.of(paths.PIPELINE)
        for stage in node.outputs.get("stages") or []
        for action in stage.get("actions") or []
    ]


def _provides(category: str, provider: str | None = None) -> Callable[[Graph], bool]:
    def test(graph: Graph) -> bool:
        return any(
            a.get("category") == category and provider in (None, a.get("provider"))
            for a in _actions(graph)
        )

    return test


APPLIES: Mapping[str, Callable[[Graph], bool]] = {
    paths.S3_SOURCE: _provides("Source", "S3"),
    paths.GITHUB_SOURCE: _provides("Source", "CodeStarSourceConnection"),
    paths.MANUAL_APPROVAL: _provides("Approval"),
    paths.ECS_SERVICE: lambda graph: bool(graph.of(SERVICE)),
}
"""Whether the configuration behind ``graph`` makes the calls of each part (``Call.when``)."""


def applicable(graph: Graph) -> list[Call]:
    """The calls of the table this configuration makes."""
    return [call for call in paths.TABLE if not call.when or APPLIES[call.when](graph)]


class Resolver:
    """Finds a call's principal, resource, context and policies in the graph."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        # arn:<partition>:codepipeline:<region>:<account>:<name>
        _, _, _, self.region, self.account, _ = self.value(paths.PIPELINE_ARN).split(":", 5)

    def node(self, ref: Ref) -> Node:
        """The one resource a reference names (``LookupError`` otherwise)."""
        return self.graph.one(ref.type, ref.name)

    def value(self, value: Value) -> str:
        """A literal with the account and region filled in, or the referenced output."""
        if isinstance(value, str):
            return value.format(account=self.account, region=self.region)
        found = _output(self.node(value).outputs, value.attr)
        if not isinstance(found, str) or not found:
            raise LookupError(f"{value.type} *{value.name}* has no {value.attr}")
        return found + value.suffix

    def identity(self, role: Node) -> list[Document]:
        """The role's inline policies."""
        name = role.outputs.get("name")
        return [
            document(p.outputs.get("policy"))
            for p in self.graph.of(ROLE_POLICY)
            if p.outputs.get("role") == name
        ]

    def shown(self, value: Value) -> str:
        """How a report names a principal: a role by its name."""
        return (
            str(self.node(value).outputs.get("name"))
            if isinstance(value, Ref)
            else self.value(value)
        )

    def outcome(self, call: Call) -> Outcome:
        """The call, as AWS would decide it."""
        try:
            principal, resource = self.value(call.principal), self.value(call.resource)
            context = {key: self.value(v) for key, v in call.context.items()}
            identity: list[Document] = []
            if isinstance(call.principal, Ref):
                context = {**caller_context(principal, self.region, resource), **context}
                identity = self.identity(self.node(call.principal))
            request = Request(principal, call.action, resource, context, self.account)
            policies = self.policies(call, resource, identity)
            decision = evaluate(request, policies)
            hint = "" if decision.allowed else failed_conditions(request, policies)
            shown = self.shown(call.principal)
            return Outcome(call, shown, resource, decision, request, identity, hint)
        except LookupError as missing:
            decision = Decision(False, f"not in the program's graph: {missing}")
            return Outcome(call, described(call.principal), described(call.resource), decision)

    def policies(self, call: Call, resource: str, identity: list[Document]) -> Policies:
        """The policies that apply to the call."""
        if call.action.lower().startswith("kms:"):
            return Policies(identity, key=self.key_policy(resource))
        if not isinstance(call.resource, Ref):
            return Policies(identity)
        node = self.node(call.resource)
        if call.action.lower().startswith("sts:assumerole"):
            return Policies(
                identity, document(node.outputs.get("assumeRolePolicy")), "trust policy"
            )
        if call.resource.type == paths.FUNCTION:
            return Policies(identity, self.function_policy(node), "function policy")
        if call.resource.type not in RESOURCE_POLICIES:
            return Policies(identity)
        typ, link, own, kind = RESOURCE_POLICIES[call.resource.type]
        found = [
            statement
            for p in self.graph.of(typ)
            if p.outputs.get(link) == node.outputs.get(own)
            for statement in statements(document(p.outputs.get("policy")))
        ]
        return Policies(identity, _policy(found), kind)

    def key_policy(self, key: str) -> Document | None:
        """The policy of the key whose ARN or id is ``key``; ``None`` when the graph has none."""
        found = [
            k for k in self.graph.of(KEY) if key in (k.outputs.get("arn"), k.outputs.get("keyId"))
        ]
        return document(found[0].outputs.get("policy")) if found else None

    def function_policy(self, function: Node) -> Document | None:
        """The function's resource policy, one statement per ``lambda.Permission``."""
        arn = str(function.outputs.get("arn"))
        named = (function.outputs.get("name"), arn)
        return _policy(
            [
                _permission(p.outputs, p.name, arn)
                for p in self.graph.of(PERMISSION)
                if p.outputs.get("function") in named
            ]
        )


def explained(reason: str, hint: str) -> str:
    """AWS's reason for a refusal, with the conditions that failed (``failed_conditions``)."""
    return f"{reason} ({hint})" if hint else reason


def failed_conditions(request: Request, policies: Policies) -> str:
    """The Allow statements that match the call but for their conditions, and the condition
    keys each tests that the call does not send (or sends with another value)."""
    kms = request.action.lower().startswith("kms:")
    resource = policies.key if kms else policies.resource
    docs = [(doc, False) for doc in policies.identity]
    docs += [(resource, True)] if resource is not None else []
    sent = {key.lower() for key in request.context}
    notes = []
    for doc, as_resource in docs:
        for index, statement in enumerate(statements(doc)):
            condition = statement.get("Condition")
            if statement.get("Effect") != "Allow" or not condition:
                continue
            bare = {k: v for k, v in statement.items() if k != "Condition"}
            if not matching_statements(
                {**doc, "Statement": [bare]}, request, as_resource_policy=as_resource
            ):
                continue
            keys = sorted({key for block in condition.values() for key in block})
            missing = [key for key in keys if key.lower() not in sent]
            sid = statement.get("Sid") or f"#{index}"
            notes.append(
                f"statement {sid} tests {', '.join(missing)}, which AWS does not send on this path"
                if missing
                else f"statement {sid}'s condition on {', '.join(keys)} does not match the call"
            )
    return "; ".join(notes)


def described(value: Value) -> str:
    """A value as the table gives it: a literal, or the resource and output it refers to."""
    return value if isinstance(value, str) else f"{value.type} *{value.name}* {value.attr}"


def _policy(found: list[Mapping[str, Any]]) -> Document | None:
    return {"Version": "2012-10-17", "Statement": found} if found else None


def _permission(permission: Mapping[str, Any], name: str, function_arn: str) -> dict[str, Any]:
    """The statement Lambda adds for a permission (``AddPermission``).
    https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html
    """
    principal = str(permission.get("principal"))
    kind = "Service" if principal.endswith(".amazonaws.com") else "AWS"
    condition: dict[str, Any] = {}
    if permission.get("sourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": permission["sourceArn"]}
    if permission.get("sourceAccount"):
        condition["StringEquals"] = {"AWS:SourceAccount": permission["sourceAccount"]}
    return {
        "Sid": permission.get("statementId") or name,
        "Effect": "Allow",
        "Principal": {kind: principal},
        "Action": permission.get("action"),
        "Resource": function_arn,
        **({"Condition": condition} if condition else {}),
    }


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def least_privilege(graph: Graph, outcomes: Sequence[Outcome]) -> list[Unneeded]:
    """Every action a role's Allow statement grants that no call of the path needs through it.

    A wildcard is expanded against the table's actions: each it covers that no call needs
    through that statement is listed, and the wildcard itself when it covers none of them.
    """
    used = _used(outcomes)
    known = sorted({call.action for call in paths.TABLE})
    resolver = Resolver(graph)
    found: list[Unneeded] = []
    for role in graph.of(paths.ROLE):
        arn, name = str(role.outputs.get("arn")), str(role.outputs.get("name"))
        for doc in resolver.identity(role):
            for index, statement in enumerate(statements(doc)):
                if statement.get("Effect") != "Allow":
                    continue
                sid = str(statement.get("Sid") or f"#{index}")
                needed = used.get((arn, sid), set())
                for action in _expanded(_strings(statement.get("Action")), known):
                    if action.lower() not in needed:
                        found.append(Unneeded(name, sid, action))
    return found


def _used(outcomes: Sequence[Outcome]) -> dict[tuple[str, str], set[str]]:
    """The actions the calls need, by (role ARN, Sid of an identity statement allowing them)."""
    used: dict[tuple[str, str], set[str]] = {}
    for outcome in outcomes:
        if (request := outcome.request) is None:
            continue
        for doc in outcome.identity:
            for effect, sid in matching_statements(doc, request, as_resource_policy=False):
                if effect == "Allow":
                    used.setdefault((request.principal, sid), set()).add(request.action.lower())
    return used


def _expanded(patterns: list[str], known: list[str]) -> list[str]:
    actions: list[str] = []
    for pattern in patterns:
        covered = [a for a in known if fnmatch.fnmatchcase(a.lower(), pattern.lower())]
        wildcard = "*" in pattern or "?" in pattern
        actions += covered if wildcard and covered else [pattern]
    return actions


def check(graph: Graph) -> Report:
    """Every call the configuration makes, as AWS would decide it, and the unneeded grants."""
    resolver = Resolver(graph)
    outcomes = [resolver.outcome(call) for call in applicable(graph)]
    return Report(outcomes, least_privilege(graph, outcomes))


def run_access_check(config: Mapping[str, str | None], as_json: bool, out: TextIO) -> None:
    """``tap check --access``: print the report; a denied call raises ``PolicyError``."""
    result = check(check_graph(config))
    out.write(report.as_json(result) if as_json else report.table(result))
    if result.denied:
        raise PolicyError(
            f"{len(result.denied)} call(s) of the pipeline's path would be denied by AWS: "
            + "; ".join(o.message for o in result.denied)
        )
