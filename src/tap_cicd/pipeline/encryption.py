"""The one customer-managed key of the pipeline (baseline K1)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.pipeline._context import Context, document

DELETION_WINDOW_DAYS = 30


@dataclass(frozen=True)
class Encryption:
    """The pipeline key and its alias."""

    key: aws.kms.Key
    alias: aws.kms.Alias


def create_encryption(ctx: Context, name: str) -> Encryption:
    """A symmetric key with rotation, a deletion window and an explicit policy."""
    key = aws.kms.Key(
        f"{name}-key",
        description=f"Encrypts everything of the {ctx.naming.name('pipeline')} CI/CD pipeline",
        enable_key_rotation=True,
        deletion_window_in_days=DELETION_WINDOW_DAYS,
        policy=document(
            documents.key_policy,
            account_id=ctx.account_id,
            region=ctx.region,
            partition=ctx.partition,
            log_group_names=ctx.naming.log_groups(),
        ),
        tags=ctx.tags,
        opts=ctx.opts(),
    )
    alias = aws.kms.Alias(
        f"{name}-key-alias",
        name=ctx.naming.kms_alias(),
        target_key_id=key.key_id,
        opts=ctx.opts(),
    )
    return Encryption(key, alias)
