"""IAM roles: one per service, each trusting exactly one service principal (baseline I1-I3)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.pipeline._context import Context, document


def service_role(
    ctx: Context,
    purpose: str,
    service: str,
    policy: pulumi.Output[str],
    source_arn: pulumi.Input[str] | None = None,
) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """A role for ``service`` with its one inline, least-privilege policy.

    The trust carries the source conditions that service sends (``TRUST_SOURCE_KEYS``); no
    managed policies.
    """
    inputs: dict[str, pulumi.Input[str]] = {"account_id": ctx.account_id}
    if source_arn is not None:
        inputs["source_arn"] = source_arn
    role = aws.iam.Role(
        f"{ctx.base}-{purpose}-role",
        name=ctx.naming.role(purpose),
        assume_role_policy=document(documents.trust_policy, service=service, **inputs),
        max_session_duration=3600,
        tags=ctx.tags,
        opts=ctx.opts(),
    )
    inline = aws.iam.RolePolicy(
        f"{ctx.base}-{purpose}-role-policy",
        role=role.id,
        name="least-privilege",
        policy=policy,
        opts=ctx.opts(),
    )
    return role, inline
