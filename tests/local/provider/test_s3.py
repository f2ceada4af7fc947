"""S3: the bucket (tags, location, adoption, force_destroy) and its configuration resources."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tap_cicd.local.emulator import Emulator, EmulatorInfo
from tap_cicd.local.provider import HANDLERS, Context, s3
from tap_cicd.local.provider.model import ResourceType

from .conftest import TAGS, client_error, create, delete, error_of, recorded, update, writes_of

BUCKET = "tap-test-bucket"
LOG_BUCKET = "tap-test-logs"


def bucket_tags(ctx: Context, bucket: str) -> dict[str, str]:
    tag_set = ctx.clients("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def test_bucket_is_created_with_its_tags(ctx: Context) -> None:
    bucket_id, outputs = create(s3.BUCKET, ctx, {"bucket": BUCKET, "tags": TAGS})
    assert bucket_id == BUCKET
    assert outputs == {
        "arn": f"arn:aws:s3:::{BUCKET}",
        "bucket": BUCKET,
        "region": "us-east-1",
        "bucketDomainName": f"{BUCKET}.s3.amazonaws.com",
    }
    assert bucket_tags(ctx, BUCKET) == TAGS


def test_bucket_without_tags_gets_no_tag_set(ctx: Context) -> None:
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    assert error_of(lambda: bucket_tags(ctx, BUCKET)) == "NoSuchTagSet"
    assert writes_of(ctx.clients, "s3:PutBucketTagging") == 0


def test_bucket_outside_us_east_1_gets_its_location_constraint(
    home: Path, emulator: EmulatorInfo
) -> None:
    clients = Emulator.clients(emulator, region="eu-west-1")
    ctx = Context(clients, clients.account_id(), "eu-west-1")
    _, outputs = create(s3.BUCKET, ctx, {"bucket": BUCKET})
    location = clients("s3").get_bucket_location(Bucket=BUCKET)["LocationConstraint"]
    assert location == "eu-west-1"
    assert outputs["region"] == "eu-west-1"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_creating_an_existing_bucket_adopts_it(
    home: Path, emulator: EmulatorInfo, region: str
) -> None:
    clients = Emulator.clients(emulator, region=region)
    ctx = Context(clients, clients.account_id(), region)
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    bucket_id, _ = create(s3.BUCKET, ctx, {"bucket": BUCKET, "tags": TAGS})
    assert bucket_id == BUCKET
    assert bucket_tags(ctx, BUCKET) == TAGS
    assert [b["Name"] for b in clients("s3").list_buckets()["Buckets"]] == [BUCKET]


def test_bucket_update_replaces_the_tag_set(ctx: Context) -> None:
    create(s3.BUCKET, ctx, {"bucket": BUCKET, "tags": TAGS})
    new = {"bucket": BUCKET, "tags": {"Project": "other"}}
    outputs = update(s3.BUCKET, ctx, BUCKET, {"bucket": BUCKET, "tags": TAGS}, new)
    assert bucket_tags(ctx, BUCKET) == {"Project": "other"}
    assert outputs["arn"] == f"arn:aws:s3:::{BUCKET}"


def test_bucket_update_without_tags_sends_no_tagging(ctx: Context) -> None:
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    update(s3.BUCKET, ctx, BUCKET, {"bucket": BUCKET}, {"bucket": BUCKET, "forceDestroy": True})
    assert writes_of(ctx.clients, "s3:PutBucketTagging") == 0


def test_bucket_update_dropping_every_tag_deletes_the_tag_set(ctx: Context) -> None:
    tagged = {"bucket": BUCKET, "tags": {"Team": "a"}}
    create(s3.BUCKET, ctx, tagged)
    update(s3.BUCKET, ctx, BUCKET, tagged, {"bucket": BUCKET})
    with pytest.raises(ClientError, match="NoSuchTagSet"):
        ctx.clients("s3").get_bucket_tagging(Bucket=BUCKET)


def test_force_destroy_deletes_every_version_and_delete_marker(ctx: Context) -> None:
    client = ctx.clients("s3")
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=BUCKET, Key="a", Body=b"1")
    client.put_object(Bucket=BUCKET, Key="a", Body=b"2")
    client.delete_object(Bucket=BUCKET, Key="a")  # leaves a delete marker
    versions = client.list_object_versions(Bucket=BUCKET)
    assert len(versions["Versions"]) == 2
    assert len(versions["DeleteMarkers"]) == 1

    delete(s3.BUCKET, ctx, BUCKET, {"bucket": BUCKET, "forceDestroy": True})

    assert error_of(lambda: client.head_bucket(Bucket=BUCKET)) == "404"


def test_force_destroy_of_an_empty_bucket_deletes_nothing_but_the_bucket(ctx: Context) -> None:
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    delete(s3.BUCKET, ctx, BUCKET, {"bucket": BUCKET, "forceDestroy": True})
    assert writes_of(ctx.clients, "s3:DeleteObjects") == 0
    assert ctx.clients("s3").list_buckets()["Buckets"] == []


def test_bucket_delete_retries_when_a_log_object_arrives_after_emptying(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ctx.clients("s3")
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    real_delete = client.delete_bucket
    arrivals = ["access-log-1"]

    def delete_after_a_late_log(**kwargs: Any) -> Any:
        if arrivals:  # a log delivery lands between emptying and deleting, once
            client.put_object(Bucket=BUCKET, Key=arrivals.pop(), Body=b"log")
        return real_delete(**kwargs)

    monkeypatch.setattr(client, "delete_bucket", delete_after_a_late_log)

    delete(s3.BUCKET, ctx, BUCKET, {"bucket": BUCKET, "forceDestroy": True})

    assert client.list_buckets()["Buckets"] == []
    assert writes_of(ctx.clients, "s3:DeleteBucket") == 2


def test_non_empty_bucket_without_force_destroy_fails_after_every_attempt(ctx: Context) -> None:
    client = ctx.clients("s3")
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    client.put_object(Bucket=BUCKET, Key="kept", Body=b"x")

    code = error_of(lambda: delete(s3.BUCKET, ctx, BUCKET, {"bucket": BUCKET}))

    assert code == "BucketNotEmpty"
    assert writes_of(ctx.clients, "s3:DeleteBucket") == s3.DELETE_ATTEMPTS
    assert writes_of(ctx.clients, "s3:DeleteObjects") == 0
    assert [b["Name"] for b in client.list_buckets()["Buckets"]] == [BUCKET]


def test_bucket_delete_fails_at_once_on_another_error(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ctx.clients("s3")
    calls: list[str] = []

    def denied(**kwargs: Any) -> None:
        calls.append(kwargs["Bucket"])
        raise client_error("AccessDenied")

    monkeypatch.setattr(client, "delete_bucket", denied)
    assert error_of(lambda: delete(s3.BUCKET, ctx, BUCKET, {"bucket": BUCKET})) == "AccessDenied"
    assert calls == [BUCKET]


def test_deleting_a_missing_bucket_is_fine(ctx: Context) -> None:
    delete(s3.BUCKET, ctx, "tap-never-created", {"forceDestroy": True})
    delete(s3.BUCKET, ctx, "tap-never-created", {})


def test_public_access_block_is_put_and_deleted(ctx: Context) -> None:
    client = ctx.clients("s3")
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    inputs = {"bucket": BUCKET, "blockPublicAcls": True, "restrictPublicBuckets": True}
    config_id, _ = create(s3.PUBLIC_ACCESS_BLOCK, ctx, inputs)
    assert config_id == BUCKET
    assert client.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": False,
        "IgnorePublicAcls": False,
        "RestrictPublicBuckets": True,
    }
    delete(s3.PUBLIC_ACCESS_BLOCK, ctx, BUCKET, {"bucket": BUCKET})
    code = error_of(lambda: client.get_public_access_block(Bucket=BUCKET))
    assert code == "NoSuchPublicAccessBlockConfiguration"


def test_config_update_puts_the_new_configuration(ctx: Context) -> None:
    client = ctx.clients("s3")
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    enabled = {"bucket": BUCKET, "versioningConfiguration": {"status": "Enabled"}}
    suspended = {"bucket": BUCKET, "versioningConfiguration": {"status": "Suspended"}}
    create(s3.VERSIONING, ctx, enabled)
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert update(s3.VERSIONING, ctx, BUCKET, enabled, suspended) == {}
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"


def test_deleting_versioning_suspends_it(ctx: Context) -> None:
    client = ctx.clients("s3")
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    create(s3.VERSIONING, ctx, {"bucket": BUCKET, "versioningConfiguration": {"status": "Enabled"}})
    delete(s3.VERSIONING, ctx, BUCKET, {"bucket": BUCKET})
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"


def test_ownership_controls_are_put_and_deleted(ctx: Context) -> None:
    client = ctx.clients("s3")
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    create(
        s3.OWNERSHIP, ctx, {"bucket": BUCKET, "rule": {"objectOwnership": "BucketOwnerEnforced"}}
    )
    rules = client.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    delete(s3.OWNERSHIP, ctx, BUCKET, {"bucket": BUCKET})
    code = error_of(lambda: client.get_bucket_ownership_controls(Bucket=BUCKET))
    assert code == "OwnershipControlsNotFoundError"


def encryption_rules(ctx: Context) -> list[dict[str, Any]]:
    config = ctx.clients("s3").get_bucket_encryption(Bucket=BUCKET)
    rules: list[dict[str, Any]] = config["ServerSideEncryptionConfiguration"]["Rules"]
    return rules


def test_encryption_with_a_kms_key_names_the_key(ctx: Context) -> None:
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    by_default = {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
    rule = {"applyServerSideEncryptionByDefault": by_default, "bucketKeyEnabled": True}
    create(s3.ENCRYPTION, ctx, {"bucket": BUCKET, "rules": [rule]})
    assert encryption_rules(ctx) == [
        {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": key_arn,
            },
            "BucketKeyEnabled": True,
        }
    ]


def test_encryption_without_a_key_sends_only_the_algorithm(ctx: Context) -> None:
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    rule = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    create(s3.ENCRYPTION, ctx, {"bucket": BUCKET, "rules": [rule]})
    assert encryption_rules(ctx) == [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": False,
        }
    ]
    delete(s3.ENCRYPTION, ctx, BUCKET, {"bucket": BUCKET})
    assert writes_of(ctx.clients, "s3:DeleteBucketEncryption") == 1


def test_lifecycle_rules_are_put_in_the_api_shape_and_deleted(ctx: Context) -> None:
    client = ctx.clients("s3")
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    rules = [
        {
            "id": "expire-old-objects",
            "status": "Enabled",
            "filter": {"prefix": "logs/"},
            "expiration": {"days": 90.0},
            "noncurrentVersionExpiration": {"noncurrentDays": 30.0},
        },
        {
            "id": "abort-incomplete-uploads",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0},
        },
    ]
    create(s3.LIFECYCLE, ctx, {"bucket": BUCKET, "rules": rules})
    stored = client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert stored[0]["ID"] == "expire-old-objects"
    assert stored[0]["Filter"] == {"Prefix": "logs/"}
    assert stored[0]["Expiration"] == {"Days": 90}
    assert stored[0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert stored[1]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    delete(s3.LIFECYCLE, ctx, BUCKET, {"bucket": BUCKET})
    code = error_of(lambda: client.get_bucket_lifecycle_configuration(Bucket=BUCKET))
    assert code == "NoSuchLifecycleConfiguration"


def test_lifecycle_rule_without_optional_blocks_filters_on_every_key() -> None:
    assert s3.lifecycle_rule({"id": "r", "status": "Disabled"}) == {
        "ID": "r",
        "Status": "Disabled",
        "Filter": {"Prefix": ""},
    }


def access_log_policy(ctx: Context) -> str:
    """The stack's access-log bucket policy: TLS only, and log delivery from this account."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [f"arn:aws:s3:::{LOG_BUCKET}", f"arn:aws:s3:::{LOG_BUCKET}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                {
                    "Sid": "S3ServerAccessLogDelivery",
                    "Effect": "Allow",
                    "Principal": {"Service": "logging.s3.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"arn:aws:s3:::{LOG_BUCKET}/*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": ctx.account_id}},
                },
            ],
        }
    )


def test_bucket_policy_reaches_the_emulator_with_principal_star_spelled_as_aws_star(
    ctx: Context,
) -> None:
    client = ctx.clients("s3")
    create(s3.BUCKET, ctx, {"bucket": LOG_BUCKET})
    create(s3.POLICY, ctx, {"bucket": LOG_BUCKET, "policy": access_log_policy(ctx)})
    stored = json.loads(client.get_bucket_policy(Bucket=LOG_BUCKET)["Policy"])
    principals = [s["Principal"] for s in stored["Statement"]]
    assert principals == [{"AWS": "*"}, {"Service": "logging.s3.amazonaws.com"}]
    delete(s3.POLICY, ctx, LOG_BUCKET, {"bucket": LOG_BUCKET})
    assert error_of(lambda: client.get_bucket_policy(Bucket=LOG_BUCKET)) == "NoSuchBucketPolicy"


def test_bucket_logging_is_enabled_and_disabled(ctx: Context) -> None:
    client = ctx.clients("s3")
    for bucket in (BUCKET, LOG_BUCKET):
        create(s3.BUCKET, ctx, {"bucket": bucket})
    enforced = {"bucket": LOG_BUCKET, "rule": {"objectOwnership": "BucketOwnerEnforced"}}
    create(s3.OWNERSHIP, ctx, enforced)
    create(s3.POLICY, ctx, {"bucket": LOG_BUCKET, "policy": access_log_policy(ctx)})
    inputs = {"bucket": BUCKET, "targetBucket": LOG_BUCKET, "targetPrefix": f"{BUCKET}/"}
    create(s3.LOGGING, ctx, inputs)
    assert client.get_bucket_logging(Bucket=BUCKET)["LoggingEnabled"] == {
        "TargetBucket": LOG_BUCKET,
        "TargetPrefix": f"{BUCKET}/",
    }
    delete(s3.LOGGING, ctx, BUCKET, inputs)
    assert "LoggingEnabled" not in client.get_bucket_logging(Bucket=BUCKET)


def test_bucket_notification_to_eventbridge_is_put_and_cleared(ctx: Context) -> None:
    # moto keeps the EventBridge setting but leaves it out of GetBucketNotificationConfiguration:
    # what the provider sent is checked instead.
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    sent = recorded(ctx.clients("s3"), "s3.PutBucketNotificationConfiguration")
    create(s3.NOTIFICATION, ctx, {"bucket": BUCKET, "eventbridge": True})
    delete(s3.NOTIFICATION, ctx, BUCKET, {"bucket": BUCKET, "eventbridge": True})
    assert sent == [
        {"Bucket": BUCKET, "NotificationConfiguration": {"EventBridgeConfiguration": {}}},
        {"Bucket": BUCKET, "NotificationConfiguration": {}},
    ]


def test_bucket_notification_without_eventbridge_is_empty(ctx: Context) -> None:
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    sent = recorded(ctx.clients("s3"), "s3.PutBucketNotificationConfiguration")
    create(s3.NOTIFICATION, ctx, {"bucket": BUCKET, "eventbridge": False})
    assert sent == [{"Bucket": BUCKET, "NotificationConfiguration": {}}]


@pytest.mark.parametrize(
    "entry",
    [s3.PUBLIC_ACCESS_BLOCK, s3.OWNERSHIP, s3.ENCRYPTION, s3.LIFECYCLE, s3.POLICY],
    ids=lambda entry: entry.type.rsplit(":", 1)[-1],
)
def test_deleting_configuration_of_a_missing_bucket_is_fine(
    ctx: Context, entry: ResourceType
) -> None:
    delete(entry, ctx, "tap-never-created", {"bucket": "tap-never-created"})


def test_a_bucket_reads_back_with_its_tags_and_is_gone_once_deleted(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = HANDLERS[s3.BUCKET.type].read
    assert read is not None
    create(s3.BUCKET, ctx, {"bucket": BUCKET})
    assert read(ctx, BUCKET, {}) == {"tags": {}}
    create(s3.BUCKET, ctx, {"bucket": BUCKET, "tags": TAGS})
    assert read(ctx, BUCKET, {}) == {"tags": TAGS}
    monkeypatch.setattr(ctx.clients("s3"), "get_bucket_tagging", _denied)
    assert error_of(lambda: read(ctx, BUCKET, {})) == "AccessDenied"
    delete(s3.BUCKET, ctx, BUCKET)
    assert read(ctx, BUCKET, {}) is None


def _denied(**_params: Any) -> None:
    raise client_error("AccessDenied")
