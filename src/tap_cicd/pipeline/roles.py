"""IAM roles: one per service, each trusting exactly one service principal (baseline I1-I3)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.pipeline._context import Context, document


def service_role(
    ctx: Context,
    name: str,
    purpose: str,
    service: str,
    source_arn: pulumi.Input[str] | None = None,
) -> aws.iam.Role:
    """A role for ``service``, with the source conditions that service sends (and no managed
    policies); see ``documents.TRUST_SOURCE_KEYS``."""
    inputs: dict[str, pulumi.Input[str]] = {"account_id": ctx.account_id}
    if source_arn is not None:
        inputs["source_arn"] = source_arn
    return aws.iam.Role(
        f"{name}-{purpose}",
        name=ctx.naming.name(purpose),
        assume_role_policy=document(documents.trust_policy, service=service, **inputs),
        max_session_duration=3600,
        tags=ctx.tags,
        opts=ctx.opts(),
    )


def inline_policy(
    ctx: Context, name: str, role: aws.iam.Role, policy: pulumi.Output[str]
) -> aws.iam.RolePolicy:
    """The role's one inline, least-privilege policy."""
    return aws.iam.RolePolicy(
        f"{name}-policy", role=role.id, name="least-privilege", policy=policy, opts=ctx.opts()
    )
