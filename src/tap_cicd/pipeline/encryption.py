"""The one customer-managed key of the pipeline (baseline K1)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.pipeline._context import Context, document

RESOURCE_TYPE = "tap:cicd:Encryption"
DELETION_WINDOW_DAYS = 30


@dataclass(frozen=True)
class EncryptionArgs:
    """Inputs of the key component."""

    context: Context


class Encryption(pulumi.ComponentResource):
    """A symmetric key with rotation, a deletion window and an explicit policy, and its alias."""

    key: aws.kms.Key
    """The pipeline key."""
    key_arn: pulumi.Output[str]
    """Its ARN: every encrypted resource of the pipeline names it."""

    def __init__(
        self, name: str, args: EncryptionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        ctx = args.context.within(self)
        self.key = aws.kms.Key(
            f"{ctx.base}-key",
            description=f"Encrypts everything of the {ctx.naming.pipeline()} CI/CD pipeline",
            enable_key_rotation=True,
            deletion_window_in_days=DELETION_WINDOW_DAYS,
            policy=document(
                documents.key_policy,
                account_id=ctx.account_id,
                region=ctx.region,
                partition=ctx.partition,
                log_group_names=ctx.naming.log_groups(ctx.settings.service.enabled),
            ),
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        aws.kms.Alias(
            f"{ctx.base}-key-alias",
            name=ctx.naming.kms_alias(),
            target_key_id=self.key.key_id,
            opts=ctx.opts(),
        )
        self.key_arn = self.key.arn
        self.register_outputs({"keyArn": self.key_arn})
