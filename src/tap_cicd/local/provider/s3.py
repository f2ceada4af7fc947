"""S3: the bucket and its configuration resources (pulumi-aws v7 split resources)."""

from __future__ import annotations

import contextlib
from typing import Any

from botocore.exceptions import ClientError

from tap_cicd.local import quirks
from tap_cicd.local.provider._common import (
    Context,
    Handler,
    Inputs,
    Outputs,
    error_code,
    ignore_missing,
    integer,
    reapply,
    tag_list,
)

DEFAULT_REGION = "us-east-1"
DELETE_ATTEMPTS = 3


def _bucket_outputs(ctx: Context, name: str) -> Outputs:
    return {
        "arn": f"arn:aws:s3:::{name}",
        "bucket": name,
        "region": ctx.region,
        "bucketDomainName": f"{name}.s3.amazonaws.com",
    }


def create_bucket(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = inputs["bucket"]
    s3 = ctx.clients("s3")
    params: dict[str, Any] = {"Bucket": name}
    if ctx.region != DEFAULT_REGION:
        params["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    # An interrupted run may have created it: adopt it.
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(**params)
    _tag_bucket(ctx, name, inputs)
    return name, _bucket_outputs(ctx, name)


def _tag_bucket(ctx: Context, name: str, inputs: Inputs, old: Inputs | None = None) -> None:
    """PutBucketTagging replaces the whole set; with no tags left the set is deleted."""
    if inputs.get("tags"):
        ctx.clients("s3").put_bucket_tagging(
            Bucket=name, Tagging={"TagSet": tag_list(inputs["tags"])}
        )
    elif old and old.get("tags"):
        ctx.clients("s3").delete_bucket_tagging(Bucket=name)


def update_bucket(ctx: Context, name: str, old: Inputs, new: Inputs) -> Outputs:
    _tag_bucket(ctx, name, new, old)
    return _bucket_outputs(ctx, name)


def delete_bucket(ctx: Context, name: str, inputs: Inputs) -> None:
    s3 = ctx.clients("s3")
    attempt = 0
    while True:
        attempt += 1
        if inputs.get("forceDestroy"):
            ignore_missing(lambda: _empty(ctx, name))
        try:
            ignore_missing(lambda: s3.delete_bucket(Bucket=name))
            return
        except ClientError as error:
            # Access logs keep arriving in a log bucket until its sources are gone.
            if error_code(error) != "BucketNotEmpty" or attempt == DELETE_ATTEMPTS:
                raise


def _empty(ctx: Context, name: str) -> None:
    """Delete every object version and delete marker (``force_destroy``)."""
    s3 = ctx.clients("s3")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})


def _bucket_config(
    type_: str,
    put: Any,
    remove: Any,
) -> Handler:
    """A configuration resource: its id is the bucket; create and update are the same PUT."""

    def apply(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
        put(ctx, inputs)
        return str(inputs["bucket"]), {}

    return Handler(
        type=type_,
        create=apply,
        update=reapply(apply),
        delete=lambda ctx, bucket, inputs: ignore_missing(lambda: remove(ctx, bucket)),
        replace_on=("bucket",),
    )


def _put_public_access_block(ctx: Context, inputs: Inputs) -> None:
    keys = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    config = {k: bool(inputs.get(k[0].lower() + k[1:], False)) for k in keys}
    ctx.clients("s3").put_public_access_block(
        Bucket=inputs["bucket"], PublicAccessBlockConfiguration=config
    )


def _put_ownership(ctx: Context, inputs: Inputs) -> None:
    ctx.clients("s3").put_bucket_ownership_controls(
        Bucket=inputs["bucket"],
        OwnershipControls={"Rules": [{"ObjectOwnership": inputs["rule"]["objectOwnership"]}]},
    )


def _put_versioning(ctx: Context, inputs: Inputs) -> None:
    status = inputs["versioningConfiguration"]["status"]
    ctx.clients("s3").put_bucket_versioning(
        Bucket=inputs["bucket"], VersioningConfiguration={"Status": status}
    )


def _suspend_versioning(ctx: Context, bucket: str) -> None:
    # A versioned bucket cannot go back to unversioned; the provider suspends it.
    ctx.clients("s3").put_bucket_versioning(
        Bucket=bucket, VersioningConfiguration={"Status": "Suspended"}
    )


def _put_encryption(ctx: Context, inputs: Inputs) -> None:
    rules = []
    for rule in inputs["rules"]:
        default = rule["applyServerSideEncryptionByDefault"]
        by_default = {"SSEAlgorithm": default["sseAlgorithm"]}
        if default.get("kmsMasterKeyId"):
            by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
        rules.append(
            {
                "ApplyServerSideEncryptionByDefault": by_default,
                "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled", False)),
            }
        )
    ctx.clients("s3").put_bucket_encryption(
        Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules}
    )


def lifecycle_rule(rule: Inputs) -> dict[str, Any]:
    """One lifecycle rule in the API's shape."""
    api: dict[str, Any] = {
        "ID": rule["id"],
        "Status": rule["status"],
        "Filter": {"Prefix": rule.get("filter", {}).get("prefix", "")},
    }
    if "expiration" in rule:
        api["Expiration"] = {"Days": integer(rule["expiration"]["days"])}
    if "noncurrentVersionExpiration" in rule:
        days = rule["noncurrentVersionExpiration"]["noncurrentDays"]
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": integer(days)}
    if "abortIncompleteMultipartUpload" in rule:
        days = rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"]
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": integer(days)}
    return api


def _put_lifecycle(ctx: Context, inputs: Inputs) -> None:
    ctx.clients("s3").put_bucket_lifecycle_configuration(
        Bucket=inputs["bucket"],
        LifecycleConfiguration={"Rules": [lifecycle_rule(r) for r in inputs["rules"]]},
    )


def _put_logging(ctx: Context, inputs: Inputs) -> None:
    ctx.clients("s3").put_bucket_logging(
        Bucket=inputs["bucket"],
        BucketLoggingStatus={
            "LoggingEnabled": {
                "TargetBucket": inputs["targetBucket"],
                "TargetPrefix": inputs.get("targetPrefix", ""),
            }
        },
    )


def _put_policy(ctx: Context, inputs: Inputs) -> None:
    ctx.clients("s3").put_bucket_policy(
        Bucket=inputs["bucket"], Policy=quirks.bucket_policy(inputs["policy"])
    )


def _put_notification(ctx: Context, inputs: Inputs) -> None:
    config: dict[str, Any] = {}
    if inputs.get("eventbridge"):
        config["EventBridgeConfiguration"] = {}
    ctx.clients("s3").put_bucket_notification_configuration(
        Bucket=inputs["bucket"], NotificationConfiguration=config
    )


HANDLERS = [
    Handler(
        type="aws:s3/bucket:Bucket",
        create=create_bucket,
        update=update_bucket,
        delete=delete_bucket,
        replace_on=("bucket",),
    ),
    _bucket_config(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        _put_public_access_block,
        lambda ctx, b: ctx.clients("s3").delete_public_access_block(Bucket=b),
    ),
    _bucket_config(
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        _put_ownership,
        lambda ctx, b: ctx.clients("s3").delete_bucket_ownership_controls(Bucket=b),
    ),
    _bucket_config(
        "aws:s3/bucketVersioning:BucketVersioning", _put_versioning, _suspend_versioning
    ),
    _bucket_config(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        _put_encryption,
        lambda ctx, b: ctx.clients("s3").delete_bucket_encryption(Bucket=b),
    ),
    _bucket_config(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        _put_lifecycle,
        lambda ctx, b: ctx.clients("s3").delete_bucket_lifecycle(Bucket=b),
    ),
    _bucket_config(
        "aws:s3/bucketLogging:BucketLogging",
        _put_logging,
        lambda ctx, b: ctx.clients("s3").put_bucket_logging(Bucket=b, BucketLoggingStatus={}),
    ),
    _bucket_config(
        "aws:s3/bucketPolicy:BucketPolicy",
        _put_policy,
        lambda ctx, b: ctx.clients("s3").delete_bucket_policy(Bucket=b),
    ),
    _bucket_config(
        "aws:s3/bucketNotification:BucketNotification",
        _put_notification,
        lambda ctx, b: ctx.clients("s3").put_bucket_notification_configuration(
            Bucket=b, NotificationConfiguration={}
        ),
    ),
]
