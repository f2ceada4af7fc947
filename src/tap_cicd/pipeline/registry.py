"""The ECR repository the build pushes to (baseline E1-E6)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.pipeline._context import Context

RESOURCE_TYPE = "tap:cicd:Registry"


@dataclass(frozen=True)
class RegistryArgs:
    """Inputs of the registry component."""

    context: Context
    key_arn: pulumi.Output[str]


class Registry(pulumi.ComponentResource):
    """An immutable, scanned, KMS-encrypted repository with a lifecycle policy."""

    repository: aws.ecr.Repository
    """The image repository."""

    def __init__(
        self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        ctx = args.context.within(self)
        self.repository = aws.ecr.Repository(
            f"{ctx.base}-images",
            name=ctx.naming.repository(),
            # Deploys go by digest and tags never move (baseline E1, R5).
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": args.key_arn}],
            force_delete=True,
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        aws.ecr.LifecyclePolicy(
            f"{ctx.base}-images-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(documents.ecr_lifecycle_policy()),
            opts=ctx.opts(),
        )
        self.register_outputs({"repositoryUrl": self.repository.repository_url})
