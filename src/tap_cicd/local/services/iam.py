"""Who calls at run time, and whether AWS would let them: role sessions and the policies that
apply to each call.

A service acting for the stack assumes the stack's role for it (CodePipeline its pipeline role,
CodeBuild the project's service role, Lambda the function's role, EventBridge a target's role):
``assume`` checks the role's trust policy for that service and the keys it sends, and returns a
session with temporary credentials (moto's STS keys, so moto knows their account). ``authorize``
then decides one call of the session with ``tap_cicd.access.evaluation``: the role's policies,
the resource's policy (bucket, topic, queue, repository, function) and, for ``kms:*``, the key
policy. The emulator's own keys (the deployer's, the tests') are not sessions and are not
checked: they stand for an administrator.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.ecr.models import ecr_backends
from moto.iam.models import iam_backends
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.sts.models import sts_backends
from moto.utilities.arns import parse_arn

from tap_cicd.access.context import caller_context
from tap_cicd.access.evaluation import UNKNOWN_RESOURCE, Document, Policies, Request, evaluate
from tap_cicd.access.static import explained, failed_conditions
from tap_cicd.local import services
from tap_cicd.local.services import denials

PARTITION = "aws"
SESSION_SECONDS = 3600


class Denied(Exception):
    """A call AWS would refuse: who, what, on what, and why (the policy missing or denying)."""

    def __init__(self, principal: str, action: str, resource: str, reason: str) -> None:
        self.principal, self.action, self.resource, self.reason = (
            principal,
            action,
            resource,
            reason,
        )
        # The text AWS gives an access denial, with the reason tap found:
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
        super().__init__(denials.message(principal, action, resource, reason))


@dataclass(frozen=True)
class Session:
    """A role's session: what the service's calls for the stack are made as."""

    account: str
    region: str
    role_arn: str
    arn: str
    """``arn:aws:sts::<account>:assumed-role/<role>/<session>``: the caller AWS names."""
    credentials: services.Credentials

    def client(self, service: str) -> Any:
        """A boto3 client calling the emulator with this session's credentials."""
        return services.client(service, self.region, self.credentials)

    def environment(self) -> dict[str, str]:
        """What a process acting as this session needs (the variables Lambda and CodeBuild set)."""
        return services.call_environment(self.region, self.credentials)


def _role(role_arn: str) -> Any:
    account = parse_arn(role_arn).account
    return iam_backends[account][PARTITION].get_role_by_arn(role_arn)


def assume(
    service: str,
    role_arn: str,
    region: str,
    session_name: str,
    context: Mapping[str, str] | None = None,
) -> Session:
    """``service`` assumes ``role_arn``, sending ``context`` (its ``aws:SourceArn`` and
    ``aws:SourceAccount`` where it sends them); ``Denied`` when the trust policy refuses or the
    role is missing."""
    account = parse_arn(role_arn).account
    try:
        trust: Document = json.loads(_role(role_arn).assume_role_policy_document)
    except Exception as error:  # moto's missing role, or a malformed ARN
        missing = Denied(service, "sts:AssumeRole", role_arn, "the role does not exist")
        record(missing)
        raise missing from error
    request = Request(service, "sts:AssumeRole", role_arn, dict(context or {}), account)
    policies = Policies(resource=trust, resource_kind="trust policy")
    decide(request, policies)
    return _session_for(account, region, role_arn, session_name)


def assume_as(caller: Session, role_arn: str, session_name: str) -> Session:
    """``caller`` assumes ``role_arn``: its own policies and the role's trust policy decide
    (``Denied`` if they refuse); the new session's."""
    authorize(caller, "sts:AssumeRole", role_arn)
    return _session_for(caller.account, caller.region, role_arn, session_name)


def _session_for(account: str, region: str, role_arn: str, session_name: str) -> Session:
    """A new session of ``role_arn`` (moto's STS keys)."""
    assumed = sts_backends[account][PARTITION].assume_role(
        region_name=region,
        role_session_name=session_name,
        role_arn=role_arn,
        policy="",
        duration=SESSION_SECONDS,
        external_id="",
    )
    credentials = services.Credentials(
        assumed.access_key_id, assumed.secret_access_key, assumed.session_token
    )
    return Session(account, region, role_arn, assumed.arn, credentials)


def session_of(access_key: str, region: str) -> Session | None:
    """The session whose temporary credentials start with ``access_key``; ``None`` for any other
    key (the emulator's own, which is not checked)."""
    for account, backends in list(sts_backends.items()):
        found = backends[PARTITION].get_assumed_role_from_access_key(access_key)
        if found is not None:
            credentials = services.Credentials(
                found.access_key_id, found.secret_access_key, found.session_token
            )
            return Session(account, region, found.role_arn, found.arn, credentials)
    return None


def identity(session: Session) -> list[Document]:
    """The role's inline and attached policies."""
    try:
        role = _role(session.role_arn)
    except Exception:  # noqa: BLE001 - deleted since: no policy at all
        return []
    inline = [json.loads(document) for document in role.policies.values()]
    managed = [
        json.loads(version.document)
        for policy in role.managed_policies.values()
        for version in policy.versions
        if version.is_default
    ]
    return inline + managed


def key(account: str, region: str, key_id: str) -> tuple[str, Document] | None:
    """The ARN and policy of the key an alias, ARN or id names; ``None`` when the emulator holds
    no such key (an AWS managed key such as ``alias/aws/sns``)."""
    try:
        found = kms_backends[account][region].describe_key(key_id)
    except Exception:  # noqa: BLE001 - an unknown alias or id fails in several ways
        return None
    return str(found.arn), json.loads(found.policy)


def resource_policy(resource: str) -> tuple[Document | None, str]:
    """The policy of the resource ``resource`` names, and how a reason names it."""
    try:
        arn = parse_arn(resource)
    except Exception:  # noqa: BLE001 - "*", or not an ARN
        return None, "resource policy"
    kind, text = _RESOURCE_KINDS.get(arn.service, "resource policy"), None
    try:
        if arn.service == "s3":
            bucket = resource.split(":::", 1)[1].split("/", 1)[0]
            found = s3_backends[arn.account or services.DEFAULT_ACCOUNT][PARTITION]
            policy = found.get_bucket(bucket).policy
            text = policy.decode() if isinstance(policy, bytes) else policy
        elif arn.service == "sns":
            text = sns_backends[arn.account][arn.region].get_topic(resource).policy
        elif arn.service == "sqs":
            text = sqs_backends[arn.account][arn.region].get_queue(arn.resource_id).policy
        elif arn.service == "ecr":
            name = arn.resource_id
            text = ecr_backends[arn.account][arn.region].repositories[name].policy
        elif arn.service == "iam" and arn.resource_type == "role":
            text = _role(resource).assume_role_policy_document
        elif arn.service == "lambda":
            name = arn.resource_id.split(":")[0]
            # moto answers GetPolicy's body: the policy is its "Policy" string.
            found = json.loads(lambda_backends[arn.account][arn.region].get_policy(name))
            return _function_policy(json.loads(found["Policy"])), kind
    except Exception:  # noqa: BLE001 - no such resource, or no policy: each service says so its way
        text = None
    return (json.loads(text) if text else None), kind


def _function_policy(document: dict[str, Any]) -> Document:
    """A function policy as AWS gives it: moto keeps AddPermission's ``Principal`` as the bare
    string; AWS writes ``{"Service": ...}`` for a service and ``{"AWS": ...}`` for an account
    or a role (https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html).
    """
    for statement in document.get("Statement", []):
        principal = statement.get("Principal")
        if isinstance(principal, str) and principal != "*":
            kind = "Service" if principal.endswith(".amazonaws.com") else "AWS"
            statement["Principal"] = {kind: principal}
    return document


_RESOURCE_KINDS = {
    "iam": "trust policy",
    "s3": "bucket policy",
    "sns": "topic policy",
    "sqs": "queue policy",
    "ecr": "repository policy",
    "lambda": "function policy",
}


def authorize(
    session: Session,
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> None:
    """Whether AWS lets ``session`` make ``action`` on ``resource``: ``Denied`` if not.

    Every call carries the global keys AWS sets (``caller_context``) and ``context``; a
    ``kms:*`` action on a key the emulator does not hold is not checked (tap cannot see its
    policy).
    """
    found = key(session.account, session.region, resource) if action.startswith("kms:") else None
    if action.startswith("kms:") and found is None:
        return
    resource = found[0] if found is not None else resource
    document, kind = (None, "resource policy") if found else resource_policy(resource)
    sent = {**caller_context(session.role_arn, session.region, resource), **(context or {})}
    request = Request(session.arn, action, resource, sent, session.account)
    policies = Policies(
        identity=identity(session),
        resource=document,
        resource_kind=kind,
        key=found[1] if found is not None else None,
    )
    decide(request, policies)


def authorize_service(
    service: str, action: str, key_id: str, *, where: tuple[str, str], context: Mapping[str, str]
) -> None:
    """A service using a key for itself (CloudWatch Logs encrypting a log group): the key policy
    alone decides; ``Denied`` if it refuses. A key the emulator does not hold is not checked.
    ``where``: the key's (account, region)."""
    account, region = where
    found = key(account, region, key_id)
    if found is not None:
        request = Request(service, action, found[0], dict(context), account)
        decide(request, Policies(key=found[1]))


def decide(request: Request, policies: Policies, *, kept: bool = True) -> None:
    """``Denied`` (naming the cause, and the conditions that failed) unless AWS allows it;
    the refusal is kept for ``/_tap/iam/denials`` unless ``kept`` is false."""
    decision = evaluate(request, policies)
    if not decision.allowed:
        reason = explained(decision.reason, failed_conditions(request, policies))
        shown = "*" if request.resource == UNKNOWN_RESOURCE else request.resource
        refused = Denied(request.principal, request.action, shown, reason)
        if kept:
            record(refused)
        raise refused


_LOCK = threading.Lock()
_DENIALS: list[dict[str, str]] = []


def record(denied: Denied) -> None:
    """Keep a refusal for ``/_tap/iam/denials``."""
    with _LOCK:
        _DENIALS.append(
            {
                "principal": denied.principal,
                "action": denied.action,
                "resource": denied.resource,
                "reason": denied.reason,
                "message": str(denied),
            }
        )


def denials_seen(_body: dict[str, Any]) -> dict[str, Any]:
    """``/_tap/iam/denials``: every call refused so far, oldest first."""
    with _LOCK:
        return {"denials": list(_DENIALS)}


def forget() -> None:
    """Forget the refusals (a reset)."""
    with _LOCK:
        _DENIALS.clear()
