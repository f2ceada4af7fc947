"""The ECR repository the build pushes to (baseline E1-E6)."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.pipeline._context import Context


def create_registry(ctx: Context, name: str, key_arn: pulumi.Output[str]) -> aws.ecr.Repository:
    """An immutable, scanned, KMS-encrypted repository with a lifecycle policy."""
    repository = aws.ecr.Repository(
        f"{name}-images",
        name=ctx.naming.name("images"),
        # Deploys go by digest and tags never move (baseline E1, R5).
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration={"scan_on_push": True},
        encryption_configurations=[{"encryption_type": "KMS", "kms_key": key_arn}],
        force_delete=True,
        tags=ctx.tags,
        opts=ctx.opts(),
    )
    aws.ecr.LifecyclePolicy(
        f"{name}-images-lifecycle",
        repository=repository.name,
        policy=json.dumps(documents.ecr_lifecycle_policy()),
        opts=ctx.opts(),
    )
    return repository
