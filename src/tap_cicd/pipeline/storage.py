"""The pipeline's S3 buckets: artifacts, source and their access-log bucket (baseline S1-S7)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.pipeline._context import Context, document

ARTIFACT_EXPIRE_DAYS = 90
NONCURRENT_EXPIRE_DAYS = 30
ACCESS_LOG_EXPIRE_DAYS = 365


@dataclass(frozen=True)
class HardenedBucket:
    """A bucket with the hardening every pipeline bucket gets."""

    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy
    versioning: aws.s3.BucketVersioning
    public_access: aws.s3.BucketPublicAccessBlock


@dataclass(frozen=True)
class Storage:
    """The pipeline's buckets."""

    logs: HardenedBucket
    artifacts: HardenedBucket
    source: HardenedBucket | None


def create_storage(ctx: Context, name: str, key_arn: pulumi.Output[str]) -> Storage:
    """The access-log bucket first, then the buckets that log into it."""
    names = {
        purpose: ctx.account_id.apply(functools.partial(ctx.naming.bucket, purpose))
        for purpose in ("access-logs", "artifacts", "source")
    }
    with_source = ctx.settings.source.kind == "s3"
    logged = [names["artifacts"], *([names["source"]] if with_source else [])]
    logged_arns = pulumi.Output.all(ctx.partition, *logged).apply(
        lambda v: [f"arn:{v[0]}:s3:::{b}" for b in v[1:]]
    )
    logs = _hardened(
        ctx,
        f"{name}-access-logs",
        names["access-logs"],
        key_arn=None,
        expire_days=ACCESS_LOG_EXPIRE_DAYS,
        log_bucket=None,
        log_delivery_for=logged_arns,
    )
    artifacts = _hardened(
        ctx,
        f"{name}-artifacts",
        names["artifacts"],
        key_arn=key_arn,
        expire_days=ARTIFACT_EXPIRE_DAYS,
        log_bucket=logs,
    )
    source = None
    if with_source:
        source = _hardened(
            ctx,
            f"{name}-source",
            names["source"],
            key_arn=key_arn,
            # The current source.zip must outlive any quiet spell: only old versions expire.
            expire_days=None,
            log_bucket=logs,
        )
        # The pipeline starts from S3's EventBridge notifications, not from polling.
        aws.s3.BucketNotification(
            f"{name}-source-notification",
            bucket=source.bucket.id,
            eventbridge=True,
            opts=ctx.opts(),
        )
    return Storage(logs, artifacts, source)


def _hardened(
    ctx: Context,
    name: str,
    bucket_name: pulumi.Output[str],
    *,
    key_arn: pulumi.Output[str] | None,
    expire_days: int | None,
    log_bucket: HardenedBucket | None,
    log_delivery_for: pulumi.Output[list[str]] | None = None,
) -> HardenedBucket:
    # force_destroy: a stack must be destroyable with its artifacts in it (baseline S7).
    bucket = aws.s3.Bucket(
        name, bucket=bucket_name, force_destroy=True, tags=ctx.tags, opts=ctx.opts()
    )
    child = ctx.opts(depends_on=[bucket])
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule={"object_ownership": "BucketOwnerEnforced"},
        opts=child,
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration={"status": "Enabled"},
        opts=child,
    )
    if key_arn is not None:
        sse = {"sse_algorithm": "aws:kms", "kms_master_key_id": key_arn}
    else:
        # S3 delivers server access logs only to buckets encrypted with SSE-S3, not SSE-KMS.
        sse = {"sse_algorithm": "AES256"}
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        # A bucket key only applies to SSE-KMS (it cuts KMS requests).
        rules=[
            {
                "apply_server_side_encryption_by_default": sse,
                "bucket_key_enabled": key_arn is not None,
            }
        ],
        opts=child,
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=documents.bucket_lifecycle_rules(expire_days, NONCURRENT_EXPIRE_DAYS),
        # Lifecycle rules on a versioned bucket need versioning to be configured first.
        opts=ctx.opts(depends_on=[versioning]),
    )
    if log_bucket is not None:
        aws.s3.BucketLogging(
            f"{name}-logging",
            bucket=bucket.id,
            target_bucket=log_bucket.bucket.id,
            target_prefix=pulumi.Output.concat(bucket_name, "/"),
            # Deliveries are allowed by the log bucket's policy; it must exist first.
            opts=ctx.opts(depends_on=[bucket, log_bucket.policy]),
        )
    if log_delivery_for is None:
        policy_json = document(documents.tls_only_bucket_policy, bucket_arn=bucket.arn)
    else:
        policy_json = pulumi.Output.all(bucket.arn, ctx.account_id, log_delivery_for).apply(
            lambda v: documents.json_text(
                documents.tls_only_bucket_policy(
                    v[0], documents.access_log_delivery_statement(v[0], v[1], v[2])
                )
            )
        )
    # The public access block must exist first, or S3 could briefly see a policy without it.
    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=policy_json,
        opts=ctx.opts(depends_on=[public_access]),
    )
    return HardenedBucket(bucket, policy, versioning, public_access)
