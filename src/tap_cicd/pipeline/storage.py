"""The pipeline's S3 buckets: artifacts, source and their access-log bucket (baseline S1-S7)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.pipeline._context import Context, document

RESOURCE_TYPE = "tap:cicd:HardenedBucket"
ARTIFACT_EXPIRE_DAYS = 90
NONCURRENT_EXPIRE_DAYS = 30
ACCESS_LOG_EXPIRE_DAYS = 365


@dataclass(frozen=True)
class HardenedBucketArgs:
    """Inputs of one hardened bucket."""

    context: Context
    purpose: str
    """``artifacts``, ``source`` or ``access-logs``: the logical and physical name's middle."""
    bucket_name: pulumi.Output[str]
    key_arn: pulumi.Output[str] | None
    """SSE-KMS with this key; ``None``: SSE-S3 (the only kind S3 delivers access logs to)."""
    expire_days: int | None
    """Current versions expire after this many days; ``None``: never (noncurrent ones do)."""
    log_bucket: HardenedBucket | None = None
    """Where server access logs go; ``None`` for the log bucket itself."""
    log_delivery_for: pulumi.Output[list[str]] | None = None
    """Buckets whose access logs S3 may deliver here (the log bucket only)."""
    eventbridge: bool = False
    """Announce object events on EventBridge (the source bucket: an upload starts the run)."""


class HardenedBucket(pulumi.ComponentResource):
    """A bucket with the hardening every pipeline bucket gets."""

    bucket: aws.s3.Bucket
    """The bucket."""
    policy: aws.s3.BucketPolicy
    """Its TLS-only policy (resources that need its grants depend on it)."""

    def __init__(
        self, name: str, args: HardenedBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        ctx = args.context.within(self)
        logical = f"{ctx.base}-{args.purpose}"
        # force_destroy: a stack must be destroyable with its artifacts in it (baseline S7).
        self.bucket = bucket = aws.s3.Bucket(
            logical, bucket=args.bucket_name, force_destroy=True, tags=ctx.tags, opts=ctx.opts()
        )
        child = ctx.opts(depends_on=[bucket])
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{logical}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{logical}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{logical}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        if args.key_arn is not None:
            sse = {"sse_algorithm": "aws:kms", "kms_master_key_id": args.key_arn}
        else:
            # S3 delivers server access logs only to buckets encrypted with SSE-S3, not SSE-KMS.
            sse = {"sse_algorithm": "AES256"}
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{logical}-encryption",
            bucket=bucket.id,
            # A bucket key only applies to SSE-KMS (it cuts KMS requests).
            rules=[
                {
                    "apply_server_side_encryption_by_default": sse,
                    "bucket_key_enabled": args.key_arn is not None,
                }
            ],
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{logical}-lifecycle",
            bucket=bucket.id,
            rules=documents.bucket_lifecycle_rules(args.expire_days, NONCURRENT_EXPIRE_DAYS),
            # Lifecycle rules on a versioned bucket need versioning to be configured first.
            opts=ctx.opts(depends_on=[versioning]),
        )
        if args.log_bucket is not None:
            aws.s3.BucketLogging(
                f"{logical}-logging",
                bucket=bucket.id,
                target_bucket=args.log_bucket.bucket.id,
                target_prefix=pulumi.Output.concat(args.bucket_name, "/"),
                # Deliveries are allowed by the log bucket's policy; it must exist first.
                opts=ctx.opts(depends_on=[bucket, args.log_bucket.policy]),
            )
        if args.log_delivery_for is None:
            policy_json = document(documents.tls_only_bucket_policy, bucket_arn=bucket.arn)
        else:
            policy_json = pulumi.Output.all(
                bucket.arn, ctx.account_id, args.log_delivery_for
            ).apply(
                lambda v: documents.json_text(
                    documents.tls_only_bucket_policy(
                        v[0], documents.access_log_delivery_statement(v[0], v[1], v[2])
                    )
                )
            )
        # The public access block must exist first, or S3 could briefly see a policy without it.
        self.policy = aws.s3.BucketPolicy(
            f"{logical}-policy",
            bucket=bucket.id,
            policy=policy_json,
            opts=ctx.opts(depends_on=[public_access]),
        )
        if args.eventbridge:
            # The pipeline starts from S3's EventBridge notifications, not from polling.
            aws.s3.BucketNotification(
                f"{ctx.base}-source-notification",
                bucket=bucket.id,
                eventbridge=True,
                opts=ctx.opts(),
            )
        self.register_outputs({"bucketName": bucket.bucket})


@dataclass(frozen=True)
class Storage:
    """The pipeline's buckets."""

    logs: HardenedBucket
    artifacts: HardenedBucket
    source: HardenedBucket | None


def create_storage(ctx: Context, key_arn: pulumi.Output[str]) -> Storage:
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

    def hardened(args: HardenedBucketArgs) -> HardenedBucket:
        return HardenedBucket(f"{ctx.base}-{args.purpose}-bucket", args, ctx.component())

    logs = hardened(
        HardenedBucketArgs(
            ctx,
            "access-logs",
            names["access-logs"],
            key_arn=None,
            expire_days=ACCESS_LOG_EXPIRE_DAYS,
            log_delivery_for=logged_arns,
        )
    )
    artifacts = hardened(
        HardenedBucketArgs(
            ctx,
            "artifacts",
            names["artifacts"],
            key_arn=key_arn,
            expire_days=ARTIFACT_EXPIRE_DAYS,
            log_bucket=logs,
        )
    )
    source = None
    if with_source:
        # The current source.zip must outlive any quiet spell: only old versions expire.
        source = hardened(
            HardenedBucketArgs(
                ctx,
                "source",
                names["source"],
                key_arn=key_arn,
                expire_days=None,
                log_bucket=logs,
                eventbridge=True,
            )
        )
    return Storage(logs, artifacts, source)
