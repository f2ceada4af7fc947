"""S3: the bucket and its configuration resources (pulumi-aws v7 split resources)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tap_cicd.local import quirks
from tap_cicd.local.provider.engine import error_code
from tap_cicd.local.provider.model import (
    ID,
    Call,
    Inputs,
    Outputs,
    Ref,
    ResourceType,
    Update,
    by_input,
    given,
    integer,
    part_of,
    settable,
)

DEFAULT_REGION = "us-east-1"
"""The one region where CreateBucket takes no location constraint."""
DELETE_ATTEMPTS = 3


def _bucket_outputs(ref: Ref) -> Outputs:
    return {
        "arn": f"arn:{ref.partition}:s3:::{ref.id}",
        "bucket": ref.id,
        "region": ref.region,
        "bucketDomainName": f"{ref.id}.s3.amazonaws.com",
    }


def _location(ref: Ref) -> dict[str, Any]:
    if ref.region == DEFAULT_REGION:
        return {}
    return {"CreateBucketConfiguration": {"LocationConstraint": ref.region}}


def _tag_bucket(ref: Ref) -> None:
    """PutBucketTagging replaces the whole set; with no tags left the set is deleted."""
    if tags := ref.inputs.get("tags"):
        tag_set = [{"Key": k, "Value": v} for k, v in tags.items()]
        ref.call("put_bucket_tagging", Bucket=ref.id, Tagging={"TagSet": tag_set})
    else:
        ref.call("delete_bucket_tagging", Bucket=ref.id)


def _delete_bucket(ref: Ref) -> None:
    attempt = 0
    while True:
        attempt += 1
        if ref.inputs.get("forceDestroy"):
            _empty(ref)
        try:
            ref.call("delete_bucket", Bucket=ref.id)
            return
        except ClientError as error:
            # Access logs keep arriving in a log bucket until its sources are gone.
            if error_code(error) != "BucketNotEmpty" or attempt == DELETE_ATTEMPTS:
                raise


def _empty(ref: Ref) -> None:
    """Delete every object version and delete marker (``force_destroy``)."""
    for page in ref.client.get_paginator("list_object_versions").paginate(Bucket=ref.id):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            ref.call("delete_objects", Bucket=ref.id, Delete={"Objects": doomed, "Quiet": True})


def _read_bucket(ref: Ref) -> dict[str, Any]:
    ref.call("head_bucket", Bucket=ref.id)  # 404 when it is gone
    try:
        tag_set = ref.call("get_bucket_tagging", Bucket=ref.id)["TagSet"]
    except ClientError as error:
        if error_code(error) != "NoSuchTagSet":
            raise
        tag_set = []
    return {"tags": {t["Key"]: t["Value"] for t in tag_set}}


BUCKET = ResourceType(
    type="aws:s3/bucket:Bucket",
    service="s3",
    id=by_input("bucket"),
    create=Call("create_bucket", _location, Bucket=ID),
    exists=("BucketAlreadyOwnedByYou",),
    read=_read_bucket,
    read_tags=lambda ref: _read_bucket(ref)["tags"],
    updates=(Update(("tags",), _tag_bucket, after_create=True),),
    delete=_delete_bucket,
    outputs=_bucket_outputs,
    replace_on=("bucket",),
)


def _config(token: str, put: Call, read: tuple[str, str | None], delete: Call) -> ResourceType:
    """A bucket's configuration resource: its id is the bucket; create and update are one PUT.

    Every call names the bucket; ``read`` is the getter and the key of its answer that holds
    the configuration (``None``: all of it).
    """
    on_put, on_delete = (Call(c.operation, c.params, Bucket=ID, **c.fields) for c in (put, delete))
    getter, key = read
    answer = Call(getter, Bucket=ID, result=lambda _ref, response: _part(response, key))
    return settable(
        token,
        "s3",
        on_put,
        of="bucket",
        read=answer,
        delete=on_delete,
        belongs_to=part_of(BUCKET.type, "bucket"),
    )


def _part(response: Any, key: str | None) -> Any:
    if key is None:
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}
    return response.get(key)


def _public_access_block(ref: Ref) -> dict[str, bool]:
    keys = ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    return {k: bool(ref.inputs.get(k[0].lower() + k[1:], False)) for k in keys}


def _encryption(ref: Ref) -> dict[str, Any]:
    rules = []
    for rule in ref.inputs["rules"]:
        default = rule["applyServerSideEncryptionByDefault"]
        by_default = {"SSEAlgorithm": default["sseAlgorithm"]}
        if default.get("kmsMasterKeyId"):
            by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
        enabled = bool(rule.get("bucketKeyEnabled", False))
        rules.append(
            {"ApplyServerSideEncryptionByDefault": by_default, "BucketKeyEnabled": enabled}
        )
    return {"Rules": rules}


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


PUBLIC_ACCESS_BLOCK = _config(
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    Call("put_public_access_block", PublicAccessBlockConfiguration=_public_access_block),
    read=("get_public_access_block", "PublicAccessBlockConfiguration"),
    delete=Call("delete_public_access_block"),
)
OWNERSHIP = _config(
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    Call(
        "put_bucket_ownership_controls",
        OwnershipControls=lambda ref: {
            "Rules": [{"ObjectOwnership": ref.inputs["rule"]["objectOwnership"]}]
        },
    ),
    read=("get_bucket_ownership_controls", "OwnershipControls"),
    delete=Call("delete_bucket_ownership_controls"),
)
VERSIONING = _config(
    "aws:s3/bucketVersioning:BucketVersioning",
    Call(
        "put_bucket_versioning",
        VersioningConfiguration=lambda ref: {
            "Status": ref.inputs["versioningConfiguration"]["status"]
        },
    ),
    read=("get_bucket_versioning", "Status"),
    # A versioned bucket cannot go back to unversioned; the provider suspends it.
    delete=Call("put_bucket_versioning", VersioningConfiguration={"Status": "Suspended"}),
)
ENCRYPTION = _config(
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    Call("put_bucket_encryption", ServerSideEncryptionConfiguration=_encryption),
    read=("get_bucket_encryption", "ServerSideEncryptionConfiguration"),
    delete=Call("delete_bucket_encryption"),
)
LIFECYCLE = _config(
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    Call(
        "put_bucket_lifecycle_configuration",
        LifecycleConfiguration=lambda ref: {
            "Rules": [lifecycle_rule(r) for r in ref.inputs["rules"]]
        },
    ),
    read=("get_bucket_lifecycle_configuration", "Rules"),
    delete=Call("delete_bucket_lifecycle"),
)
LOGGING = _config(
    "aws:s3/bucketLogging:BucketLogging",
    Call(
        "put_bucket_logging",
        BucketLoggingStatus=lambda ref: {
            "LoggingEnabled": {
                "TargetBucket": ref.inputs["targetBucket"],
                "TargetPrefix": ref.inputs.get("targetPrefix", ""),
            }
        },
    ),
    read=("get_bucket_logging", "LoggingEnabled"),
    delete=Call("put_bucket_logging", BucketLoggingStatus={}),
)
POLICY = _config(
    "aws:s3/bucketPolicy:BucketPolicy",
    Call("put_bucket_policy", Policy=given("policy", then=quirks.bucket_policy)),
    read=("get_bucket_policy", "Policy"),
    delete=Call("delete_bucket_policy"),
)
NOTIFICATION = _config(
    "aws:s3/bucketNotification:BucketNotification",
    Call(
        "put_bucket_notification_configuration",
        NotificationConfiguration=lambda ref: (
            {"EventBridgeConfiguration": {}} if ref.inputs.get("eventbridge") else {}
        ),
    ),
    read=("get_bucket_notification_configuration", None),
    delete=Call("put_bucket_notification_configuration", NotificationConfiguration={}),
)

TYPES = (
    BUCKET,
    PUBLIC_ACCESS_BLOCK,
    OWNERSHIP,
    VERSIONING,
    ENCRYPTION,
    LIFECYCLE,
    LOGGING,
    POLICY,
    NOTIFICATION,
)
