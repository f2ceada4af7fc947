"""The stack's own log groups: retained and encrypted with the pipeline key (baseline N3)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from tap_cicd.pipeline._context import Context


def stack_log_group(
    ctx: Context, purpose: str, name: str, key_arn: pulumi.Output[str]
) -> aws.cloudwatch.LogGroup:
    """The log group ``name``, created before its service writes to it (a group the service
    creates itself has no retention and no key)."""
    return aws.cloudwatch.LogGroup(
        f"{ctx.base}-{purpose}-logs",
        name=name,
        retention_in_days=ctx.settings.log_retention_days,
        kms_key_id=key_arn,
        tags=ctx.tags,
        opts=ctx.opts(),
    )
