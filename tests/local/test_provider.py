"""The local provider against the emulator, one service at a time.

Each test calls provider functions with inputs in Pulumi's wire shape (camelCase, numbers as
floats) and checks what the emulator holds afterwards, or what the call sent.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tap_cicd.local import quirks
from tap_cicd.local.clients import Clients
from tap_cicd.local.emulator import Emulator, EmulatorInfo
from tap_cicd.local.provider import (
    HANDLERS,
    Context,
    _common,
    compute,
    ecr,
    iam,
    kms,
    logs,
    messaging,
    s3,
)

URN = "urn:pulumi:dev::tap::aws:test/thing:Thing::tap-test"
TAGS = {"Project": "pipeline", "Environment": "dev", "ManagedBy": "tap"}
BUCKET = "tap-test-bucket"
LOG_BUCKET = "tap-test-logs"


@pytest.fixture
def ctx(home: Path, clients: Clients) -> Context:
    """A provider context in us-east-1 on an empty emulator (``home`` resets it)."""
    return Context(clients, clients.account_id(), "us-east-1")


def error_of(call: Callable[[], object]) -> str:
    """The AWS error code ``call`` fails with."""
    with pytest.raises(ClientError) as raised:
        call()
    return _common.error_code(raised.value)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Operation")


def writes_of(clients: Clients, operation: str) -> int:
    """How many times ``operation`` (``service:Name``) was called."""
    return clients.writes.count(operation)


def recorded(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every later ``operation`` call (``service.Name``) through ``client``."""
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    client.meta.events.register(f"before-parameter-build.{operation}", record)
    return sent


def trust_policy(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )


def make_role(ctx: Context, name: str, service: str) -> str:
    """A role ``service`` may assume; returns its ARN."""
    _, outputs = iam.create_role(
        ctx, URN, {"name": name, "assumeRolePolicy": trust_policy(service)}
    )
    return str(outputs["arn"])


# --- shared helpers ---------------------------------------------------------------------------


def test_error_code_of_a_response_without_error_is_empty() -> None:
    assert _common.error_code(ClientError({}, "Operation")) == ""
    assert _common.error_code(client_error("NoSuchBucket")) == "NoSuchBucket"


def test_ignore_missing_swallows_not_found_and_the_extra_codes() -> None:
    def fail(code: str) -> Callable[[], None]:
        def call() -> None:
            raise client_error(code)

        return call

    _common.ignore_missing(fail("NoSuchEntity"))
    _common.ignore_missing(fail("KMSInvalidStateException"), "KMSInvalidStateException")
    with pytest.raises(ClientError, match="AccessDenied"):
        _common.ignore_missing(fail("AccessDenied"))
    with pytest.raises(ClientError, match="KMSInvalidStateException"):
        _common.ignore_missing(fail("KMSInvalidStateException"))


def test_context_builds_regional_and_global_arns(clients: Clients) -> None:
    ctx = Context(clients, "123456789012", "eu-west-1")
    assert ctx.arn("sqs", "q") == "arn:aws:sqs:eu-west-1:123456789012:q"
    assert ctx.arn("iam", "role/r", regional=False) == "arn:aws:iam::123456789012:role/r"


def test_tag_list_uses_the_service_key_names() -> None:
    assert _common.tag_list({"a": "1"}) == [{"Key": "a", "Value": "1"}]
    assert _common.tag_list({"a": "1"}, "key", "value") == [{"key": "a", "value": "1"}]
    assert _common.tag_list(None) == []


# --- S3 ---------------------------------------------------------------------------------------


def bucket_tags(ctx: Context, bucket: str) -> dict[str, str]:
    tag_set = ctx.clients("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def test_bucket_is_created_with_its_tags(ctx: Context) -> None:
    bucket_id, outputs = s3.create_bucket(ctx, URN, {"bucket": BUCKET, "tags": TAGS})
    assert bucket_id == BUCKET
    assert outputs == {
        "arn": f"arn:aws:s3:::{BUCKET}",
        "bucket": BUCKET,
        "region": "us-east-1",
        "bucketDomainName": f"{BUCKET}.s3.amazonaws.com",
    }
    assert bucket_tags(ctx, BUCKET) == TAGS


def test_bucket_without_tags_gets_no_tag_set(ctx: Context) -> None:
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    assert error_of(lambda: bucket_tags(ctx, BUCKET)) == "NoSuchTagSet"
    assert writes_of(ctx.clients, "s3:PutBucketTagging") == 0


def test_bucket_outside_us_east_1_gets_its_location_constraint(
    home: Path, emulator: EmulatorInfo
) -> None:
    clients = Emulator.clients(emulator, region="eu-west-1")
    ctx = Context(clients, clients.account_id(), "eu-west-1")
    _, outputs = s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    location = clients("s3").get_bucket_location(Bucket=BUCKET)["LocationConstraint"]
    assert location == "eu-west-1"
    assert outputs["region"] == "eu-west-1"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_creating_an_existing_bucket_adopts_it(
    home: Path, emulator: EmulatorInfo, region: str
) -> None:
    clients = Emulator.clients(emulator, region=region)
    ctx = Context(clients, clients.account_id(), region)
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    bucket_id, _ = s3.create_bucket(ctx, URN, {"bucket": BUCKET, "tags": TAGS})
    assert bucket_id == BUCKET
    assert bucket_tags(ctx, BUCKET) == TAGS
    assert [b["Name"] for b in clients("s3").list_buckets()["Buckets"]] == [BUCKET]


def test_bucket_update_replaces_the_tag_set(ctx: Context) -> None:
    s3.create_bucket(ctx, URN, {"bucket": BUCKET, "tags": TAGS})
    outputs = s3.update_bucket(ctx, BUCKET, {}, {"bucket": BUCKET, "tags": {"Project": "other"}})
    assert bucket_tags(ctx, BUCKET) == {"Project": "other"}
    assert outputs["arn"] == f"arn:aws:s3:::{BUCKET}"


def test_bucket_update_without_tags_sends_no_tagging(ctx: Context) -> None:
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    s3.update_bucket(ctx, BUCKET, {"bucket": BUCKET}, {"bucket": BUCKET, "forceDestroy": True})
    assert writes_of(ctx.clients, "s3:PutBucketTagging") == 0


def test_bucket_update_dropping_every_tag_deletes_the_tag_set(ctx: Context) -> None:
    tagged = {"bucket": BUCKET, "tags": {"Team": "a"}}
    s3.create_bucket(ctx, URN, tagged)
    s3.update_bucket(ctx, BUCKET, tagged, {"bucket": BUCKET})
    with pytest.raises(ClientError, match="NoSuchTagSet"):
        ctx.clients("s3").get_bucket_tagging(Bucket=BUCKET)


def test_force_destroy_deletes_every_version_and_delete_marker(ctx: Context) -> None:
    client = ctx.clients("s3")
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=BUCKET, Key="a", Body=b"1")
    client.put_object(Bucket=BUCKET, Key="a", Body=b"2")
    client.delete_object(Bucket=BUCKET, Key="a")  # leaves a delete marker
    versions = client.list_object_versions(Bucket=BUCKET)
    assert len(versions["Versions"]) == 2
    assert len(versions["DeleteMarkers"]) == 1

    s3.delete_bucket(ctx, BUCKET, {"bucket": BUCKET, "forceDestroy": True})

    assert error_of(lambda: client.head_bucket(Bucket=BUCKET)) == "404"


def test_force_destroy_of_an_empty_bucket_deletes_nothing_but_the_bucket(ctx: Context) -> None:
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    s3.delete_bucket(ctx, BUCKET, {"bucket": BUCKET, "forceDestroy": True})
    assert writes_of(ctx.clients, "s3:DeleteObjects") == 0
    assert ctx.clients("s3").list_buckets()["Buckets"] == []


def test_bucket_delete_retries_when_a_log_object_arrives_after_emptying(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ctx.clients("s3")
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    real_delete = client.delete_bucket
    arrivals = ["access-log-1"]

    def delete_after_a_late_log(**kwargs: Any) -> Any:
        if arrivals:  # a log delivery lands between emptying and deleting, once
            client.put_object(Bucket=BUCKET, Key=arrivals.pop(), Body=b"log")
        return real_delete(**kwargs)

    monkeypatch.setattr(client, "delete_bucket", delete_after_a_late_log)

    s3.delete_bucket(ctx, BUCKET, {"bucket": BUCKET, "forceDestroy": True})

    assert client.list_buckets()["Buckets"] == []
    assert writes_of(ctx.clients, "s3:DeleteBucket") == 2


def test_non_empty_bucket_without_force_destroy_fails_after_every_attempt(ctx: Context) -> None:
    client = ctx.clients("s3")
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    client.put_object(Bucket=BUCKET, Key="kept", Body=b"x")

    code = error_of(lambda: s3.delete_bucket(ctx, BUCKET, {"bucket": BUCKET}))

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
    assert error_of(lambda: s3.delete_bucket(ctx, BUCKET, {"bucket": BUCKET})) == "AccessDenied"
    assert calls == [BUCKET]


def test_deleting_a_missing_bucket_is_fine(ctx: Context) -> None:
    s3.delete_bucket(ctx, "tap-never-created", {"forceDestroy": True})
    s3.delete_bucket(ctx, "tap-never-created", {})


def s3_config(kind: str) -> Any:
    return HANDLERS[f"aws:s3/{kind[0].lower()}{kind[1:]}:{kind}"]


def test_public_access_block_is_put_and_deleted(ctx: Context) -> None:
    client = ctx.clients("s3")
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    handler = s3_config("BucketPublicAccessBlock")
    config_id, _ = handler.create(
        ctx, URN, {"bucket": BUCKET, "blockPublicAcls": True, "restrictPublicBuckets": True}
    )
    assert config_id == BUCKET
    assert client.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": False,
        "IgnorePublicAcls": False,
        "RestrictPublicBuckets": True,
    }
    handler.delete(ctx, BUCKET, {"bucket": BUCKET})
    code = error_of(lambda: client.get_public_access_block(Bucket=BUCKET))
    assert code == "NoSuchPublicAccessBlockConfiguration"


def test_config_update_puts_the_new_configuration(ctx: Context) -> None:
    client = ctx.clients("s3")
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    handler = s3_config("BucketVersioning")
    enabled = {"bucket": BUCKET, "versioningConfiguration": {"status": "Enabled"}}
    suspended = {"bucket": BUCKET, "versioningConfiguration": {"status": "Suspended"}}
    handler.create(ctx, URN, enabled)
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert handler.update is not None
    assert handler.update(ctx, BUCKET, enabled, suspended) == {}
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"


def test_deleting_versioning_suspends_it(ctx: Context) -> None:
    client = ctx.clients("s3")
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    handler = s3_config("BucketVersioning")
    handler.create(ctx, URN, {"bucket": BUCKET, "versioningConfiguration": {"status": "Enabled"}})
    handler.delete(ctx, BUCKET, {"bucket": BUCKET})
    assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"


def test_ownership_controls_are_put_and_deleted(ctx: Context) -> None:
    client = ctx.clients("s3")
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    handler = s3_config("BucketOwnershipControls")
    handler.create(ctx, URN, {"bucket": BUCKET, "rule": {"objectOwnership": "BucketOwnerEnforced"}})
    rules = client.get_bucket_ownership_controls(Bucket=BUCKET)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    handler.delete(ctx, BUCKET, {"bucket": BUCKET})
    code = error_of(lambda: client.get_bucket_ownership_controls(Bucket=BUCKET))
    assert code == "OwnershipControlsNotFoundError"


def encryption_rules(ctx: Context) -> list[dict[str, Any]]:
    config = ctx.clients("s3").get_bucket_encryption(Bucket=BUCKET)
    rules: list[dict[str, Any]] = config["ServerSideEncryptionConfiguration"]["Rules"]
    return rules


def test_encryption_with_a_kms_key_names_the_key(ctx: Context) -> None:
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    by_default = {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
    rule = {"applyServerSideEncryptionByDefault": by_default, "bucketKeyEnabled": True}
    s3_config("BucketServerSideEncryptionConfiguration").create(
        ctx, URN, {"bucket": BUCKET, "rules": [rule]}
    )
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
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    handler = s3_config("BucketServerSideEncryptionConfiguration")
    rule = {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    handler.create(ctx, URN, {"bucket": BUCKET, "rules": [rule]})
    assert encryption_rules(ctx) == [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": False,
        }
    ]
    handler.delete(ctx, BUCKET, {"bucket": BUCKET})
    assert writes_of(ctx.clients, "s3:DeleteBucketEncryption") == 1


def test_lifecycle_rules_are_put_in_the_api_shape_and_deleted(ctx: Context) -> None:
    client = ctx.clients("s3")
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    handler = s3_config("BucketLifecycleConfiguration")
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
    handler.create(ctx, URN, {"bucket": BUCKET, "rules": rules})
    stored = client.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert stored[0]["ID"] == "expire-old-objects"
    assert stored[0]["Filter"] == {"Prefix": "logs/"}
    assert stored[0]["Expiration"] == {"Days": 90}
    assert stored[0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert stored[1]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    handler.delete(ctx, BUCKET, {"bucket": BUCKET})
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
    s3.create_bucket(ctx, URN, {"bucket": LOG_BUCKET})
    handler = s3_config("BucketPolicy")
    handler.create(ctx, URN, {"bucket": LOG_BUCKET, "policy": access_log_policy(ctx)})
    stored = json.loads(client.get_bucket_policy(Bucket=LOG_BUCKET)["Policy"])
    principals = [s["Principal"] for s in stored["Statement"]]
    assert principals == [{"AWS": "*"}, {"Service": "logging.s3.amazonaws.com"}]
    handler.delete(ctx, LOG_BUCKET, {"bucket": LOG_BUCKET})
    assert error_of(lambda: client.get_bucket_policy(Bucket=LOG_BUCKET)) == "NoSuchBucketPolicy"


def test_bucket_logging_is_enabled_and_disabled(ctx: Context) -> None:
    client = ctx.clients("s3")
    for bucket in (BUCKET, LOG_BUCKET):
        s3.create_bucket(ctx, URN, {"bucket": bucket})
    s3_config("BucketOwnershipControls").create(
        ctx, URN, {"bucket": LOG_BUCKET, "rule": {"objectOwnership": "BucketOwnerEnforced"}}
    )
    s3_config("BucketPolicy").create(
        ctx, URN, {"bucket": LOG_BUCKET, "policy": access_log_policy(ctx)}
    )
    handler = s3_config("BucketLogging")
    inputs = {"bucket": BUCKET, "targetBucket": LOG_BUCKET, "targetPrefix": f"{BUCKET}/"}
    handler.create(ctx, URN, inputs)
    assert client.get_bucket_logging(Bucket=BUCKET)["LoggingEnabled"] == {
        "TargetBucket": LOG_BUCKET,
        "TargetPrefix": f"{BUCKET}/",
    }
    handler.delete(ctx, BUCKET, inputs)
    assert "LoggingEnabled" not in client.get_bucket_logging(Bucket=BUCKET)


def test_bucket_notification_to_eventbridge_is_put_and_cleared(ctx: Context) -> None:
    # moto keeps the EventBridge setting but leaves it out of GetBucketNotificationConfiguration:
    # what the provider sent is checked instead.
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    sent = recorded(ctx.clients("s3"), "s3.PutBucketNotificationConfiguration")
    handler = s3_config("BucketNotification")
    handler.create(ctx, URN, {"bucket": BUCKET, "eventbridge": True})
    handler.delete(ctx, BUCKET, {"bucket": BUCKET, "eventbridge": True})
    assert sent == [
        {"Bucket": BUCKET, "NotificationConfiguration": {"EventBridgeConfiguration": {}}},
        {"Bucket": BUCKET, "NotificationConfiguration": {}},
    ]


def test_bucket_notification_without_eventbridge_is_empty(ctx: Context) -> None:
    s3.create_bucket(ctx, URN, {"bucket": BUCKET})
    sent = recorded(ctx.clients("s3"), "s3.PutBucketNotificationConfiguration")
    s3_config("BucketNotification").create(ctx, URN, {"bucket": BUCKET, "eventbridge": False})
    assert sent == [{"Bucket": BUCKET, "NotificationConfiguration": {}}]


def test_deleting_configuration_of_a_missing_bucket_is_fine(ctx: Context) -> None:
    for kind in (
        "BucketPublicAccessBlock",
        "BucketOwnershipControls",
        "BucketServerSideEncryptionConfiguration",
        "BucketLifecycleConfiguration",
        "BucketPolicy",
    ):
        s3_config(kind).delete(ctx, "tap-never-created", {"bucket": "tap-never-created"})


# --- KMS --------------------------------------------------------------------------------------

KEY_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
)
KEY = {"policy": KEY_POLICY, "description": "pipeline key", "enableKeyRotation": True}


def live_keys(ctx: Context) -> list[str]:
    client = ctx.clients("kms")
    return [
        k["KeyId"]
        for k in client.list_keys()["Keys"]
        if client.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion"
    ]


def key_tags(ctx: Context, key_id: str) -> dict[str, str]:
    tags = ctx.clients("kms").list_resource_tags(KeyId=key_id)["Tags"]
    return {t["TagKey"]: t["TagValue"] for t in tags}


def test_key_is_created_with_its_policy_rotation_tags_and_urn(ctx: Context) -> None:
    client = ctx.clients("kms")
    key_id, outputs = kms.create_key(ctx, URN, {**KEY, "tags": TAGS})
    assert outputs == {"arn": ctx.arn("kms", f"key/{key_id}"), "keyId": key_id}
    assert key_tags(ctx, key_id) == {**TAGS, kms.URN_TAG: URN}
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "pipeline key"
    assert client.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    stored = client.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    assert json.loads(stored) == json.loads(KEY_POLICY)


def test_creating_a_key_again_adopts_the_one_with_its_urn(ctx: Context) -> None:
    first, _ = kms.create_key(ctx, URN, KEY)
    second, _ = kms.create_key(ctx, URN, {**KEY, "description": "renamed"})
    assert second == first
    assert live_keys(ctx) == [first]
    description = ctx.clients("kms").describe_key(KeyId=first)["KeyMetadata"]["Description"]
    assert description == "renamed"


def test_key_adoption_passes_over_other_resources_keys(ctx: Context) -> None:
    other, _ = kms.create_key(ctx, f"{URN}-other", KEY)
    mine, _ = kms.create_key(ctx, URN, KEY)
    assert kms.create_key(ctx, URN, KEY)[0] == mine
    assert sorted(live_keys(ctx)) == sorted([other, mine])


def test_key_adoption_skips_a_key_pending_deletion(ctx: Context) -> None:
    deleted, _ = kms.create_key(ctx, URN, KEY)
    kms.delete_key(ctx, deleted, {"deletionWindowInDays": 7.0})
    fresh, _ = kms.create_key(ctx, URN, KEY)
    assert fresh != deleted
    assert live_keys(ctx) == [fresh]


def test_key_update_disables_rotation_and_sends_no_tags_when_there_are_none(
    ctx: Context,
) -> None:
    client = ctx.clients("kms")
    key_id, _ = kms.create_key(ctx, URN, KEY)
    outputs = kms.update_key(ctx, key_id, KEY, {"policy": KEY_POLICY})
    assert outputs["keyId"] == key_id
    assert client.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == ""
    assert writes_of(ctx.clients, "kms:TagResource") == 0


def test_key_delete_schedules_deletion_with_its_window(ctx: Context) -> None:
    client = ctx.clients("kms")
    key_id, _ = kms.create_key(ctx, URN, KEY)
    kms.delete_key(ctx, key_id, {"deletionWindowInDays": 7.0})
    metadata = client.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "PendingDeletion"
    assert "DeletionDate" in metadata


def test_deleting_a_key_twice_or_a_missing_key_is_fine(ctx: Context) -> None:
    key_id, _ = kms.create_key(ctx, URN, KEY)
    kms.delete_key(ctx, key_id, {})
    kms.delete_key(ctx, key_id, {})  # KMSInvalidStateException: already pending deletion
    kms.delete_key(ctx, str(uuid.uuid4()), {})


def alias_target(ctx: Context, name: str) -> str | None:
    for alias in ctx.clients("kms").list_aliases()["Aliases"]:
        if alias["AliasName"] == name:
            return str(alias["TargetKeyId"])
    return None


def test_alias_is_created_and_an_existing_one_is_retargeted(ctx: Context) -> None:
    first, _ = kms.create_key(ctx, URN, KEY)
    second, _ = kms.create_key(ctx, f"{URN}-2", KEY)
    name, outputs = kms.create_alias(ctx, URN, {"name": "alias/tap", "targetKeyId": first})
    assert name == "alias/tap"
    assert outputs == {"arn": ctx.arn("kms", "alias/tap")}
    assert alias_target(ctx, name) == first
    kms.create_alias(ctx, URN, {"name": "alias/tap", "targetKeyId": second})
    assert alias_target(ctx, name) == second


def test_alias_update_retargets_and_delete_removes_it(ctx: Context) -> None:
    first, _ = kms.create_key(ctx, URN, KEY)
    second, _ = kms.create_key(ctx, f"{URN}-2", KEY)
    handler = HANDLERS["aws:kms/alias:Alias"]
    handler.create(ctx, URN, {"name": "alias/tap", "targetKeyId": first})
    assert handler.update is not None
    outputs = handler.update(ctx, "alias/tap", {}, {"name": "alias/tap", "targetKeyId": second})
    assert outputs == {"arn": ctx.arn("kms", "alias/tap")}
    assert alias_target(ctx, "alias/tap") == second
    handler.delete(ctx, "alias/tap", {})
    assert alias_target(ctx, "alias/tap") is None
    handler.delete(ctx, "alias/tap", {})


# --- ECR --------------------------------------------------------------------------------------

REPOSITORY = "tap-images"


def repository(ctx: Context) -> dict[str, Any]:
    found = ctx.clients("ecr").describe_repositories(repositoryNames=[REPOSITORY])
    repo: dict[str, Any] = found["repositories"][0]
    return repo


def repository_tags(ctx: Context) -> dict[str, str]:
    arn = repository(ctx)["repositoryArn"]
    tags = ctx.clients("ecr").list_tags_for_resource(resourceArn=arn)["tags"]
    return {t["Key"]: t["Value"] for t in tags}


def test_repository_is_created_with_encryption_scanning_and_tags(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    name, outputs = ecr.create_repository(
        ctx,
        URN,
        {
            "name": REPOSITORY,
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
            "encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": key_arn}],
            "tags": TAGS,
        },
    )
    assert name == REPOSITORY
    assert outputs == {
        "arn": ctx.arn("ecr", f"repository/{REPOSITORY}"),
        "registryId": ctx.account_id,
        "repositoryUrl": f"{ctx.account_id}.dkr.ecr.us-east-1.amazonaws.com/{REPOSITORY}",
    }
    repo = repository(ctx)
    assert repo["repositoryUri"] == outputs["repositoryUrl"]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key_arn}
    assert repository_tags(ctx) == TAGS


def test_minimal_repository_gets_the_defaults(ctx: Context) -> None:
    ecr.create_repository(ctx, URN, {"name": REPOSITORY})
    repo = repository(ctx)
    assert repo["imageTagMutability"] == "MUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": False}
    assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"


def test_creating_an_existing_repository_adopts_and_updates_it(ctx: Context) -> None:
    ecr.create_repository(ctx, URN, {"name": REPOSITORY})
    name, outputs = ecr.create_repository(
        ctx,
        URN,
        {
            "name": REPOSITORY,
            "imageTagMutability": "IMMUTABLE",
            "imageScanningConfiguration": {"scanOnPush": True},
            "tags": TAGS,
        },
    )
    assert name == REPOSITORY
    assert outputs["arn"] == ctx.arn("ecr", f"repository/{REPOSITORY}")
    repo = repository(ctx)
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository_tags(ctx) == TAGS


def test_repository_update_without_tags_sends_no_tagging(ctx: Context) -> None:
    ecr.create_repository(ctx, URN, {"name": REPOSITORY})
    ecr.update_repository(
        ctx, REPOSITORY, {}, {"name": REPOSITORY, "imageTagMutability": "IMMUTABLE"}
    )
    assert repository(ctx)["imageTagMutability"] == "IMMUTABLE"
    assert writes_of(ctx.clients, "ecr:TagResource") == 0


def push_image(ctx: Context) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 2,
            "digest": "sha256:" + "0" * 64,
        },
        "layers": [],
    }
    ctx.clients("ecr").put_image(
        repositoryName=REPOSITORY, imageManifest=json.dumps(manifest), imageTag="v1"
    )


def test_repository_with_images_is_deleted_only_with_force_delete(ctx: Context) -> None:
    client = ctx.clients("ecr")
    ecr.create_repository(ctx, URN, {"name": REPOSITORY})
    push_image(ctx)
    code = error_of(lambda: ecr.delete_repository(ctx, REPOSITORY, {"forceDelete": False}))
    assert code == "RepositoryNotEmptyException"
    ecr.delete_repository(ctx, REPOSITORY, {"forceDelete": True})
    assert client.describe_repositories()["repositories"] == []
    ecr.delete_repository(ctx, REPOSITORY, {"forceDelete": True})


def test_repository_lifecycle_policy_is_put_updated_and_deleted(ctx: Context) -> None:
    client = ctx.clients("ecr")
    ecr.create_repository(ctx, URN, {"name": REPOSITORY})
    handler = HANDLERS["aws:ecr/lifecyclePolicy:LifecyclePolicy"]
    rule = {
        "rulePriority": 1,
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50},
        "action": {"type": "expire"},
    }
    policy = json.dumps({"rules": [rule]})
    policy_id, outputs = handler.create(ctx, URN, {"repository": REPOSITORY, "policy": policy})
    assert (policy_id, outputs) == (REPOSITORY, {"registryId": ctx.account_id})
    stored = client.get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"]
    assert json.loads(stored) == {"rules": [rule]}
    changed = json.dumps({"rules": [{**rule, "rulePriority": 2}]})
    assert handler.update is not None
    handler.update(ctx, REPOSITORY, {}, {"repository": REPOSITORY, "policy": changed})
    stored = client.get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"]
    assert json.loads(stored)["rules"][0]["rulePriority"] == 2
    handler.delete(ctx, REPOSITORY, {})
    code = error_of(lambda: client.get_lifecycle_policy(repositoryName=REPOSITORY))
    assert code == "LifecyclePolicyNotFoundException"
    handler.delete(ctx, REPOSITORY, {})


# --- CloudWatch Logs --------------------------------------------------------------------------

LOG_GROUP = "/aws/lambda/tap-test"


def log_group(ctx: Context) -> dict[str, Any]:
    groups = ctx.clients("logs").describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
    assert len(groups) == 1
    group: dict[str, Any] = groups[0]
    return group


def log_group_tags(ctx: Context) -> dict[str, str]:
    arn = logs._outputs(ctx, LOG_GROUP)["arn"]
    tags: dict[str, str] = ctx.clients("logs").list_tags_for_resource(resourceArn=arn)["tags"]
    return tags


def test_log_group_is_created_with_key_retention_and_tags(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    name, outputs = logs.create_log_group(
        ctx,
        URN,
        {"name": LOG_GROUP, "kmsKeyId": key_arn, "retentionInDays": 365.0, "tags": TAGS},
    )
    assert name == LOG_GROUP
    assert outputs == {"arn": ctx.arn("logs", f"log-group:{LOG_GROUP}")}
    group = log_group(ctx)
    assert group["kmsKeyId"] == key_arn
    assert group["retentionInDays"] == 365
    assert log_group_tags(ctx) == TAGS


def test_minimal_log_group_has_no_key_and_never_expires(ctx: Context) -> None:
    logs.create_log_group(ctx, URN, {"name": LOG_GROUP})
    group = log_group(ctx)
    assert "kmsKeyId" not in group
    assert "retentionInDays" not in group


def test_creating_an_existing_log_group_adopts_it(ctx: Context) -> None:
    logs.create_log_group(ctx, URN, {"name": LOG_GROUP})
    name, _ = logs.create_log_group(ctx, URN, {"name": LOG_GROUP, "retentionInDays": 30.0})
    assert name == LOG_GROUP
    assert log_group(ctx)["retentionInDays"] == 30


def test_log_group_update_drops_retention_and_adds_tags(ctx: Context) -> None:
    old = {"name": LOG_GROUP, "retentionInDays": 30.0}
    logs.create_log_group(ctx, URN, old)
    logs.update_log_group(ctx, LOG_GROUP, old, {"name": LOG_GROUP, "tags": TAGS})
    assert "retentionInDays" not in log_group(ctx)
    assert log_group_tags(ctx) == TAGS


def test_log_group_delete_and_delete_of_a_missing_one(ctx: Context) -> None:
    handler = HANDLERS["aws:cloudwatch/logGroup:LogGroup"]
    handler.create(ctx, URN, {"name": LOG_GROUP})
    handler.delete(ctx, LOG_GROUP, {})
    assert ctx.clients("logs").describe_log_groups()["logGroups"] == []
    handler.delete(ctx, LOG_GROUP, {})


# --- IAM --------------------------------------------------------------------------------------

ROLE = "tap-test-role"


def role_tags(ctx: Context) -> dict[str, str]:
    tags = ctx.clients("iam").list_role_tags(RoleName=ROLE)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def test_role_is_created_with_its_trust_policy_session_and_tags(ctx: Context) -> None:
    name, outputs = iam.create_role(
        ctx,
        URN,
        {
            "name": ROLE,
            "assumeRolePolicy": trust_policy("lambda.amazonaws.com"),
            "maxSessionDuration": 7200.0,
            "tags": TAGS,
        },
    )
    assert name == ROLE
    assert outputs == {"arn": f"arn:aws:iam::{ctx.account_id}:role/{ROLE}", "name": ROLE}
    role = ctx.clients("iam").get_role(RoleName=ROLE)["Role"]
    assert role["Arn"] == outputs["arn"]
    assert role["MaxSessionDuration"] == 7200
    assert role["AssumeRolePolicyDocument"] == json.loads(trust_policy("lambda.amazonaws.com"))
    assert role_tags(ctx) == TAGS


def test_creating_an_existing_role_adopts_and_updates_it(ctx: Context) -> None:
    make_role(ctx, ROLE, "lambda.amazonaws.com")
    iam.create_role(
        ctx,
        URN,
        {
            "name": ROLE,
            "assumeRolePolicy": trust_policy("codebuild.amazonaws.com"),
            "maxSessionDuration": 7200.0,
            "tags": TAGS,
        },
    )
    role = ctx.clients("iam").get_role(RoleName=ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"] == json.loads(trust_policy("codebuild.amazonaws.com"))
    assert role["MaxSessionDuration"] == 7200
    assert role_tags(ctx) == TAGS


def test_role_update_without_tags_sends_no_tagging(ctx: Context) -> None:
    make_role(ctx, ROLE, "lambda.amazonaws.com")
    iam.update_role(
        ctx, ROLE, {}, {"name": ROLE, "assumeRolePolicy": trust_policy("x.amazonaws.com")}
    )
    assert writes_of(ctx.clients, "iam:TagRole") == 0
    role = ctx.clients("iam").get_role(RoleName=ROLE)["Role"]
    assert role["MaxSessionDuration"] == 3600


def test_role_delete_removes_inline_and_detaches_managed_policies(ctx: Context) -> None:
    client = ctx.clients("iam")
    make_role(ctx, ROLE, "lambda.amazonaws.com")
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
        }
    )
    iam.put_role_policy(ctx, URN, {"role": ROLE, "name": "inline", "policy": document})
    managed = client.create_policy(PolicyName="managed", PolicyDocument=document)["Policy"]["Arn"]
    client.attach_role_policy(RoleName=ROLE, PolicyArn=managed)

    iam.delete_role(ctx, ROLE, {})

    assert error_of(lambda: client.get_role(RoleName=ROLE)) == "NoSuchEntity"
    assert client.get_policy(PolicyArn=managed)["Policy"]["AttachmentCount"] == 0
    iam.delete_role(ctx, ROLE, {})


def test_role_policy_is_put_updated_and_deleted(ctx: Context) -> None:
    client = ctx.clients("iam")
    make_role(ctx, ROLE, "lambda.amazonaws.com")
    handler = HANDLERS["aws:iam/rolePolicy:RolePolicy"]

    def document(action: str) -> str:
        statement = {"Effect": "Allow", "Action": action, "Resource": "*"}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    inputs = {"role": ROLE, "name": "least-privilege", "policy": document("s3:GetObject")}
    policy_id, outputs = handler.create(ctx, URN, inputs)
    assert (policy_id, outputs) == (f"{ROLE}:least-privilege", {})
    assert handler.update is not None
    handler.update(ctx, policy_id, inputs, {**inputs, "policy": document("s3:PutObject")})
    stored = client.get_role_policy(RoleName=ROLE, PolicyName="least-privilege")
    assert stored["PolicyDocument"]["Statement"][0]["Action"] == "s3:PutObject"
    handler.delete(ctx, policy_id, inputs)
    assert client.list_role_policies(RoleName=ROLE)["PolicyNames"] == []
    handler.delete(ctx, policy_id, inputs)


# --- SNS, SQS and EventBridge -----------------------------------------------------------------

TOPIC = "tap-notifications"
QUEUE = "tap-dlq"
RULE = "tap-source-change"
PATTERN = json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]})


def topic_attributes(ctx: Context, arn: str) -> dict[str, str]:
    attributes: dict[str, str] = ctx.clients("sns").get_topic_attributes(TopicArn=arn)["Attributes"]
    return attributes


def topic_tags(ctx: Context, arn: str) -> dict[str, str]:
    tags = ctx.clients("sns").list_tags_for_resource(ResourceArn=arn)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def test_topic_is_created_with_its_key_and_tags(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    arn, outputs = messaging.create_topic(
        ctx, URN, {"name": TOPIC, "kmsMasterKeyId": key_arn, "tags": TAGS}
    )
    assert arn == ctx.arn("sns", TOPIC)
    assert outputs == {"arn": arn}
    assert topic_attributes(ctx, arn)["KmsMasterKeyId"] == key_arn
    assert topic_tags(ctx, arn) == TAGS


def test_minimal_topic_has_no_key(ctx: Context) -> None:
    arn, _ = messaging.create_topic(ctx, URN, {"name": TOPIC})
    assert "KmsMasterKeyId" not in topic_attributes(ctx, arn)
    assert topic_tags(ctx, arn) == {}


def test_topic_update_sets_the_key_and_adds_tags(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    arn, _ = messaging.create_topic(ctx, URN, {"name": TOPIC})
    new = {"name": TOPIC, "kmsMasterKeyId": key_arn, "tags": TAGS}
    assert messaging.update_topic(ctx, arn, {"name": TOPIC}, new) == {"arn": arn}
    assert topic_attributes(ctx, arn)["KmsMasterKeyId"] == key_arn
    assert topic_tags(ctx, arn) == TAGS


def test_topic_update_without_a_key_clears_it_and_sends_no_tags(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    arn, _ = messaging.create_topic(ctx, URN, {"name": TOPIC, "kmsMasterKeyId": key_arn})
    messaging.update_topic(ctx, arn, {}, {"name": TOPIC})
    assert topic_attributes(ctx, arn).get("KmsMasterKeyId", "") == ""
    assert writes_of(ctx.clients, "sns:TagResource") == 0


def test_topic_delete_and_delete_of_a_missing_topic(ctx: Context) -> None:
    handler = HANDLERS["aws:sns/topic:Topic"]
    arn, _ = handler.create(ctx, URN, {"name": TOPIC})
    handler.delete(ctx, arn, {})
    assert ctx.clients("sns").list_topics()["Topics"] == []
    handler.delete(ctx, arn, {})


def test_topic_policy_is_set_and_reset_to_the_default(ctx: Context) -> None:
    arn, _ = messaging.create_topic(ctx, URN, {"name": TOPIC})
    handler = HANDLERS["aws:sns/topicPolicy:TopicPolicy"]
    statement = {
        "Sid": "EventBridgeRuleOfThisStack",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": arn,
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    policy_id, outputs = handler.create(ctx, URN, {"arn": arn, "policy": policy})
    assert (policy_id, outputs) == (arn, {"owner": ctx.account_id})
    assert json.loads(topic_attributes(ctx, arn)["Policy"]) == json.loads(policy)
    assert handler.update is not None
    statement["Action"] = "sns:Subscribe"
    changed = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    handler.update(ctx, arn, {}, {"arn": arn, "policy": changed})
    assert json.loads(topic_attributes(ctx, arn)["Policy"]) == json.loads(changed)
    handler.delete(ctx, arn, {})
    default = json.loads(messaging.default_topic_policy(arn, ctx.account_id))
    assert json.loads(topic_attributes(ctx, arn)["Policy"]) == default


def test_resetting_the_policy_of_a_missing_topic_is_fine(ctx: Context) -> None:
    messaging.reset_topic_policy(ctx, ctx.arn("sns", "tap-never-created"), {})


def test_default_topic_policy_limits_the_topic_to_its_account() -> None:
    policy = json.loads(messaging.default_topic_policy("arn:aws:sns:us-east-1:1:t", "1"))
    (statement,) = policy["Statement"]
    assert statement["Resource"] == "arn:aws:sns:us-east-1:1:t"
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceOwner": "1"}}


def test_subscription_is_created_and_removed(ctx: Context) -> None:
    sns = ctx.clients("sns")
    topic_arn, _ = messaging.create_topic(ctx, URN, {"name": TOPIC})
    messaging.create_queue(ctx, URN, {"name": QUEUE})
    handler = HANDLERS["aws:sns/topicSubscription:TopicSubscription"]
    inputs = {"topic": topic_arn, "protocol": "sqs", "endpoint": ctx.arn("sqs", QUEUE)}
    arn, outputs = handler.create(ctx, URN, inputs)
    assert outputs == {"arn": arn}
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert subscription["SubscriptionArn"] == arn
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == ctx.arn("sqs", QUEUE)
    handler.delete(ctx, arn, inputs)
    assert sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []


def queue_attributes(ctx: Context, url: str) -> dict[str, str]:
    found = ctx.clients("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    attributes: dict[str, str] = found["Attributes"]
    return attributes


def queue_tags(ctx: Context, url: str) -> dict[str, str]:
    tags: dict[str, str] = ctx.clients("sqs").list_queue_tags(QueueUrl=url).get("Tags", {})
    return tags


def test_queue_is_created_with_key_retention_and_tags(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    url, outputs = messaging.create_queue(
        ctx,
        URN,
        {
            "name": QUEUE,
            "kmsMasterKeyId": key_arn,
            "messageRetentionSeconds": 1209600.0,
            "tags": TAGS,
        },
    )
    assert outputs == {"url": url, "arn": ctx.arn("sqs", QUEUE)}
    attributes = queue_attributes(ctx, url)
    assert attributes["QueueArn"] == outputs["arn"]
    assert attributes["KmsMasterKeyId"] == key_arn
    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert queue_tags(ctx, url) == TAGS


def test_minimal_queue_keeps_the_defaults(ctx: Context) -> None:
    url, _ = messaging.create_queue(ctx, URN, {"name": QUEUE})
    attributes = queue_attributes(ctx, url)
    assert "KmsMasterKeyId" not in attributes
    assert attributes["MessageRetentionPeriod"] == "345600"  # four days, the SQS default
    assert queue_tags(ctx, url) == {}


def test_queue_update_sets_attributes_and_tags(ctx: Context) -> None:
    url, _ = messaging.create_queue(ctx, URN, {"name": QUEUE})
    new = {"name": QUEUE, "messageRetentionSeconds": 600.0, "tags": TAGS}
    outputs = messaging.update_queue(ctx, url, {"name": QUEUE}, new)
    assert outputs == {"url": url, "arn": ctx.arn("sqs", QUEUE)}
    assert queue_attributes(ctx, url)["MessageRetentionPeriod"] == "600"
    assert queue_tags(ctx, url) == TAGS


def test_queue_update_without_tags_sends_no_tagging(ctx: Context) -> None:
    url, _ = messaging.create_queue(ctx, URN, {"name": QUEUE})
    messaging.update_queue(ctx, url, {}, {"name": QUEUE, "messageRetentionSeconds": 600.0})
    assert writes_of(ctx.clients, "sqs:TagQueue") == 0


def test_queue_delete_and_delete_of_a_missing_queue(ctx: Context) -> None:
    handler = HANDLERS["aws:sqs/queue:Queue"]
    url, _ = handler.create(ctx, URN, {"name": QUEUE})
    handler.delete(ctx, url, {})
    assert ctx.clients("sqs").list_queues().get("QueueUrls", []) == []
    handler.delete(ctx, url, {})


def test_queue_policy_is_set_updated_and_removed(ctx: Context) -> None:
    url, _ = messaging.create_queue(ctx, URN, {"name": QUEUE})
    handler = HANDLERS["aws:sqs/queuePolicy:QueuePolicy"]
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": ctx.arn("sqs", QUEUE),
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    assert handler.create(ctx, URN, {"queueUrl": url, "policy": policy}) == (url, {})
    assert json.loads(queue_attributes(ctx, url)["Policy"]) == json.loads(policy)
    statement["Action"] = "sqs:*"
    changed = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    assert handler.update is not None
    handler.update(ctx, url, {}, {"queueUrl": url, "policy": changed})
    assert json.loads(queue_attributes(ctx, url)["Policy"]) == json.loads(changed)
    handler.delete(ctx, url, {})
    assert queue_attributes(ctx, url).get("Policy", "") == ""


def rule_tags(ctx: Context, arn: str) -> dict[str, str]:
    tags = ctx.clients("events").list_tags_for_resource(ResourceARN=arn)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def test_rule_is_put_with_its_pattern_description_and_tags(ctx: Context) -> None:
    name, outputs = messaging.put_rule(
        ctx,
        URN,
        {"name": RULE, "eventPattern": PATTERN, "description": "source upload", "tags": TAGS},
    )
    assert name == RULE
    assert outputs == {"arn": ctx.arn("events", f"rule/{RULE}")}
    rule = ctx.clients("events").describe_rule(Name=RULE)
    assert json.loads(rule["EventPattern"]) == json.loads(PATTERN)
    assert rule["Description"] == "source upload"
    assert rule["State"] == "ENABLED"
    assert rule_tags(ctx, outputs["arn"]) == TAGS


def test_rule_update_puts_it_again_without_tagging(ctx: Context) -> None:
    handler = HANDLERS["aws:cloudwatch/eventRule:EventRule"]
    handler.create(ctx, URN, {"name": RULE, "eventPattern": PATTERN})
    assert handler.update is not None
    outputs = handler.update(
        ctx, RULE, {}, {"name": RULE, "eventPattern": PATTERN, "state": "DISABLED"}
    )
    assert outputs == {"arn": ctx.arn("events", f"rule/{RULE}")}
    assert ctx.clients("events").describe_rule(Name=RULE)["State"] == "DISABLED"
    assert writes_of(ctx.clients, "events:TagResource") == 0


def test_target_is_put_in_the_api_shape(ctx: Context) -> None:
    messaging.put_rule(ctx, URN, {"name": RULE, "eventPattern": PATTERN})
    inputs = {
        "rule": RULE,
        "targetId": "notify",
        "arn": ctx.arn("sns", TOPIC),
        "roleArn": f"arn:aws:iam::{ctx.account_id}:role/events",
        "inputTransformer": {
            "inputPaths": {"state": "$.detail.state"},
            "inputTemplate": '"<state>"',
        },
        "retryPolicy": {"maximumRetryAttempts": 8.0, "maximumEventAgeInSeconds": 3600.0},
        "deadLetterConfig": {"arn": ctx.arn("sqs", QUEUE)},
    }
    target_id, outputs = messaging.put_target(ctx, URN, inputs)
    assert (target_id, outputs) == (f"{RULE}-notify", {})
    (stored,) = ctx.clients("events").list_targets_by_rule(Rule=RULE)["Targets"]
    assert stored == {
        "Id": "notify",
        "Arn": ctx.arn("sns", TOPIC),
        "RoleArn": f"arn:aws:iam::{ctx.account_id}:role/events",
        "InputTransformer": {
            "InputPathsMap": {"state": "$.detail.state"},
            "InputTemplate": '"<state>"',
        },
        "RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600},
        "DeadLetterConfig": {"Arn": ctx.arn("sqs", QUEUE)},
    }


def test_minimal_target_is_its_id_and_arn() -> None:
    assert messaging.target({"targetId": "t", "arn": "arn:x"}) == {"Id": "t", "Arn": "arn:x"}


def test_target_refused_by_eventbridge_fails(ctx: Context) -> None:
    events = ctx.clients("events")
    refused = [{"TargetId": "t", "ErrorCode": "ValidationException", "ErrorMessage": "bad arn"}]
    with Stubber(events) as stub:
        stub.add_response(
            "put_targets",
            {"FailedEntryCount": 1, "FailedEntries": refused},
            {"Rule": RULE, "Targets": [{"Id": "t", "Arn": "arn:aws:sns:us-east-1:1:t"}]},
        )
        with pytest.raises(RuntimeError, match=r"EventBridge refused target: .*bad arn"):
            messaging.put_target(
                ctx, URN, {"rule": RULE, "targetId": "t", "arn": "arn:aws:sns:us-east-1:1:t"}
            )
        stub.assert_no_pending_responses()


def test_target_update_and_delete(ctx: Context) -> None:
    events = ctx.clients("events")
    messaging.put_rule(ctx, URN, {"name": RULE, "eventPattern": PATTERN})
    handler = HANDLERS["aws:cloudwatch/eventTarget:EventTarget"]
    inputs = {"rule": RULE, "targetId": "t", "arn": ctx.arn("sns", TOPIC)}
    handler.create(ctx, URN, inputs)
    assert handler.update is not None
    handler.update(ctx, f"{RULE}-t", inputs, {**inputs, "arn": ctx.arn("sqs", QUEUE)})
    (stored,) = events.list_targets_by_rule(Rule=RULE)["Targets"]
    assert stored["Arn"] == ctx.arn("sqs", QUEUE)
    handler.delete(ctx, f"{RULE}-t", inputs)
    assert events.list_targets_by_rule(Rule=RULE)["Targets"] == []
    events.delete_rule(Name=RULE)
    handler.delete(ctx, f"{RULE}-t", inputs)  # its rule is gone too


def test_rule_delete_removes_its_targets_first(ctx: Context) -> None:
    events = ctx.clients("events")
    messaging.put_rule(ctx, URN, {"name": RULE, "eventPattern": PATTERN})
    messaging.put_target(ctx, URN, {"rule": RULE, "targetId": "t", "arn": ctx.arn("sns", TOPIC)})
    messaging.delete_rule(ctx, RULE, {})
    assert events.list_rules()["Rules"] == []
    assert writes_of(ctx.clients, "events:RemoveTargets") == 1


def test_rule_without_targets_is_deleted_directly(ctx: Context) -> None:
    messaging.put_rule(ctx, URN, {"name": RULE, "eventPattern": PATTERN})
    messaging.delete_rule(ctx, RULE, {})
    assert ctx.clients("events").list_rules()["Rules"] == []
    assert writes_of(ctx.clients, "events:RemoveTargets") == 0
    messaging.delete_rule(ctx, RULE, {})


# --- CodeBuild --------------------------------------------------------------------------------

PROJECT = "tap-build"
BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n"


def project_inputs(ctx: Context, **extra: Any) -> dict[str, Any]:
    """A CodeBuild project's inputs with only the required blocks, plus ``extra``."""
    return {
        "name": PROJECT,
        "serviceRole": make_role(ctx, "tap-build-role", "codebuild.amazonaws.com"),
        "source": {"type": "CODEPIPELINE", "buildspec": BUILDSPEC},
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        **extra,
    }


def project(ctx: Context) -> dict[str, Any]:
    (found,) = ctx.clients("codebuild").batch_get_projects(names=[PROJECT])["projects"]
    return dict(found)


def test_project_is_created_with_what_the_stack_sets(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    sent = recorded(ctx.clients("codebuild"), "codebuild.CreateProject")
    inputs = project_inputs(
        ctx,
        description="builds the image",
        encryptionKey=key_arn,
        buildTimeout=30.0,
        queuedTimeout=60.0,
        cache={"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]},
        logsConfig={"cloudwatchLogs": {"status": "ENABLED", "groupName": "/aws/codebuild/x"}},
        tags=TAGS,
    )
    inputs["environment"]["privilegedMode"] = True
    inputs["environment"]["environmentVariables"] = [{"name": "A", "value": "1"}]

    name, outputs = compute.create_project(ctx, URN, inputs)

    assert name == PROJECT
    assert outputs == {"arn": ctx.arn("codebuild", f"project/{PROJECT}")}
    (params,) = sent
    assert params["encryptionKey"] == key_arn  # moto keeps no key: check what was sent
    assert params["timeoutInMinutes"] == 30
    assert params["queuedTimeoutInMinutes"] == 60
    assert params["logsConfig"] == {
        "cloudWatchLogs": {"status": "ENABLED", "groupName": "/aws/codebuild/x"},
        "s3Logs": {"status": "DISABLED"},
    }
    stored = project(ctx)
    assert stored["description"] == "builds the image"
    assert stored["source"]["buildspec"] == BUILDSPEC
    assert stored["environment"]["privilegedMode"] is True
    assert stored["environment"]["environmentVariables"] == [
        {"name": "A", "value": "1", "type": "PLAINTEXT"}
    ]
    assert stored["cache"] == {"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]}
    assert {t["key"]: t["value"] for t in stored["tags"]} == TAGS


def test_minimal_project_sends_the_provider_defaults(ctx: Context) -> None:
    sent = recorded(ctx.clients("codebuild"), "codebuild.CreateProject")
    compute.create_project(ctx, URN, project_inputs(ctx))
    (params,) = sent
    assert "encryptionKey" not in params
    assert params["cache"] == {"type": "NO_CACHE"}
    assert params["timeoutInMinutes"] == 60
    assert params["queuedTimeoutInMinutes"] == 480
    assert params["environment"]["privilegedMode"] is False
    assert params["environment"]["environmentVariables"] == []
    assert params["logsConfig"] == {
        "cloudWatchLogs": {"status": "ENABLED"},
        "s3Logs": {"status": "DISABLED"},
    }
    # moto needs a location for CODEPIPELINE sources and artifacts (quirks.codebuild_project).
    assert params["source"]["location"] == quirks.PLACEHOLDER_LOCATION
    assert params["artifacts"]["location"] == quirks.PLACEHOLDER_LOCATION


def test_creating_an_existing_project_adopts_and_updates_it(ctx: Context) -> None:
    inputs = project_inputs(ctx)
    compute.create_project(ctx, URN, inputs)
    name, outputs = compute.create_project(ctx, URN, {**inputs, "description": "changed"})
    assert name == PROJECT
    assert outputs == {"arn": ctx.arn("codebuild", f"project/{PROJECT}")}
    assert project(ctx)["description"] == "changed"
    assert ctx.clients("codebuild").list_projects()["projects"] == [PROJECT]


def test_project_update_and_delete(ctx: Context) -> None:
    handler = HANDLERS["aws:codebuild/project:Project"]
    inputs = project_inputs(ctx)
    handler.create(ctx, URN, inputs)
    assert handler.update is not None
    handler.update(ctx, PROJECT, inputs, {**inputs, "buildTimeout": 15.0})
    assert project(ctx)["timeoutInMinutes"] == 15
    handler.delete(ctx, PROJECT, inputs)
    assert ctx.clients("codebuild").list_projects()["projects"] == []
    handler.delete(ctx, PROJECT, inputs)


def test_codebuild_quirk_fills_only_codepipeline_locations() -> None:
    params = {
        "name": "p",
        "source": {"type": "S3", "location": "bucket/source.zip"},
        "artifacts": {"type": "CODEPIPELINE"},
    }
    patched = quirks.codebuild_project(params)
    assert patched["source"] == {"type": "S3", "location": "bucket/source.zip"}
    assert patched["artifacts"] == {
        "type": "CODEPIPELINE",
        "location": quirks.PLACEHOLDER_LOCATION,
    }
    assert params["artifacts"] == {"type": "CODEPIPELINE"}  # the caller's dict is unchanged


def test_codebuild_quirk_keeps_a_location_already_given() -> None:
    params = {"source": {"type": "CODEPIPELINE", "location": "x"}, "artifacts": {"type": "NO"}}
    assert quirks.codebuild_project(params) == params


# --- Lambda -----------------------------------------------------------------------------------

FUNCTION = "tap-deploy"


@pytest.fixture
def code(tmp_path: Path) -> pulumi.AssetArchive:
    """A one-file function archive."""
    handler = tmp_path / "handler.py"
    handler.write_text("def handler(event, context):\n    return 'v1'\n")
    return pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(handler))})


def other_code(tmp_path: Path) -> pulumi.AssetArchive:
    changed = tmp_path / "changed.py"
    changed.write_text("def handler(event, context):\n    return 'v2'\n")
    return pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(changed))})


def code_sha256(archive: pulumi.AssetArchive) -> str:
    """Lambda's CodeSha256 of the zip the provider sends for ``archive``."""
    return base64.b64encode(hashlib.sha256(compute.archive_bytes(archive)).digest()).decode()


def function_inputs(ctx: Context, code: pulumi.AssetArchive, **extra: Any) -> dict[str, Any]:
    return {
        "name": FUNCTION,
        "role": make_role(ctx, "tap-deploy-role", "lambda.amazonaws.com"),
        "handler": "handler.handler",
        "runtime": "python3.13",
        "code": code,
        **extra,
    }


def function_configuration(ctx: Context) -> dict[str, Any]:
    found = ctx.clients("lambda").get_function(FunctionName=FUNCTION)["Configuration"]
    return dict(found)


def reserved_concurrency(ctx: Context) -> int | None:
    found = ctx.clients("lambda").get_function_concurrency(FunctionName=FUNCTION)
    value = found.get("ReservedConcurrentExecutions")
    return None if value is None else int(value)


def test_function_is_created_with_what_the_stack_sets(
    ctx: Context, code: pulumi.AssetArchive
) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    inputs = function_inputs(
        ctx,
        code,
        description="deploys",
        timeout=120.0,
        memorySize=256.0,
        kmsKeyArn=key_arn,
        tracingConfig={"mode": "Active"},
        environment={"variables": {"LOG_LEVEL": "INFO"}},
        loggingConfig={"logGroup": "/aws/lambda/tap-deploy", "logFormat": "JSON"},
        architectures=["arm64"],
        reservedConcurrentExecutions=2.0,
        tags=TAGS,
    )
    sent = recorded(ctx.clients("lambda"), "lambda.CreateFunction")

    name, outputs = compute.create_function(ctx, URN, inputs)

    arn = ctx.arn("lambda", f"function:{FUNCTION}")
    assert name == FUNCTION
    assert outputs == {
        "arn": arn,
        "qualifiedArn": f"{arn}:$LATEST",
        "invokeArn": (
            f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
        ),
        "version": "$LATEST",
    }
    config = function_configuration(ctx)
    assert config["FunctionArn"] == arn
    assert (config["Handler"], config["Runtime"]) == ("handler.handler", "python3.13")
    assert (config["Timeout"], config["MemorySize"]) == (120, 256)
    assert config["KMSKeyArn"] == key_arn
    assert config["TracingConfig"] == {"Mode": "Active"}
    assert config["Environment"] == {"Variables": {"LOG_LEVEL": "INFO"}}
    # moto 5.2.5 drops LoggingConfig: checked by what was sent.
    (params,) = sent
    assert params["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": "/aws/lambda/tap-deploy"}
    assert config["Architectures"] == ["arm64"]
    assert config["CodeSha256"] == code_sha256(code)
    assert reserved_concurrency(ctx) == 2
    assert ctx.clients("lambda").list_tags(Resource=arn)["Tags"] == TAGS


def test_minimal_function_has_no_key_no_logging_config_and_no_reserved_concurrency(
    ctx: Context, code: pulumi.AssetArchive
) -> None:
    sent = recorded(ctx.clients("lambda"), "lambda.CreateFunction")
    compute.create_function(ctx, URN, function_inputs(ctx, code))
    (params,) = sent
    assert "KMSKeyArn" not in params
    assert "LoggingConfig" not in params
    assert params["Architectures"] == ["x86_64"]
    assert (params["Timeout"], params["MemorySize"]) == (3, 128)
    assert params["TracingConfig"] == {"Mode": "PassThrough"}
    assert reserved_concurrency(ctx) is None
    assert writes_of(ctx.clients, "lambda:DeleteFunctionConcurrency") == 1


def test_creating_an_existing_function_adopts_and_updates_it(
    ctx: Context, code: pulumi.AssetArchive, tmp_path: Path
) -> None:
    compute.create_function(ctx, URN, function_inputs(ctx, code))
    changed = other_code(tmp_path)
    name, outputs = compute.create_function(
        ctx, URN, function_inputs(ctx, changed, memorySize=512.0, tags=TAGS)
    )
    assert name == FUNCTION
    assert outputs["arn"] == ctx.arn("lambda", f"function:{FUNCTION}")
    config = function_configuration(ctx)
    assert config["MemorySize"] == 512
    assert config["CodeSha256"] == code_sha256(changed)
    assert ctx.clients("lambda").list_tags(Resource=outputs["arn"])["Tags"] == TAGS


def test_function_update_with_unchanged_code_uploads_nothing(
    ctx: Context, code: pulumi.AssetArchive
) -> None:
    inputs = function_inputs(ctx, code, reservedConcurrentExecutions=2.0)
    compute.create_function(ctx, URN, inputs)
    # The state keeps only the digest of the old code.
    old = {**inputs, "code": {compute.ARCHIVE_DIGEST: compute.code_digest(code)}}
    new = {**inputs, "memorySize": 512.0, "reservedConcurrentExecutions": None}

    compute.update_function(ctx, FUNCTION, old, new)

    assert writes_of(ctx.clients, "lambda:UpdateFunctionCode") == 0
    assert writes_of(ctx.clients, "lambda:TagResource") == 0
    assert function_configuration(ctx)["MemorySize"] == 512
    assert reserved_concurrency(ctx) is None


def test_function_update_with_changed_code_uploads_it(
    ctx: Context, code: pulumi.AssetArchive, tmp_path: Path
) -> None:
    inputs = function_inputs(ctx, code)
    compute.create_function(ctx, URN, inputs)
    old = {**inputs, "code": {compute.ARCHIVE_DIGEST: compute.code_digest(code)}}
    changed = other_code(tmp_path)

    compute.update_function(ctx, FUNCTION, old, {**inputs, "code": changed})

    assert writes_of(ctx.clients, "lambda:UpdateFunctionCode") == 1
    assert function_configuration(ctx)["CodeSha256"] == code_sha256(changed)


def test_function_delete_and_delete_of_a_missing_function(
    ctx: Context, code: pulumi.AssetArchive
) -> None:
    handler = HANDLERS["aws:lambda/function:Function"]
    handler.create(ctx, URN, function_inputs(ctx, code))
    handler.delete(ctx, FUNCTION, {})
    assert ctx.clients("lambda").list_functions()["Functions"] == []
    handler.delete(ctx, FUNCTION, {})


def test_archive_is_deterministic_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.py").write_text("b = 1\n")
    (tmp_path / "a.py").write_text("a = 1\n")
    assets = {name: pulumi.FileAsset(str(tmp_path / name)) for name in ("b.py", "a.py")}
    first = compute.archive_bytes(pulumi.AssetArchive(assets))
    (tmp_path / "a.py").touch()  # a newer mtime changes nothing
    assert compute.archive_bytes(pulumi.AssetArchive(dict(reversed(assets.items())))) == first
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == ["a.py", "b.py"]


def test_code_digest_of_an_archive_and_of_a_stored_digest(code: pulumi.AssetArchive) -> None:
    digest = compute.code_digest(code)
    assert digest == hashlib.sha256(compute.archive_bytes(code)).hexdigest()
    assert compute.code_digest({compute.ARCHIVE_DIGEST: digest}) == digest


def test_archive_refuses_anything_but_an_asset_archive(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="only AssetArchive code is supported, got FileArchive"):
        compute.archive_bytes(pulumi.FileArchive(str(tmp_path)))


def test_archive_refuses_members_other_than_file_assets() -> None:
    archive = pulumi.AssetArchive({"inline.py": pulumi.StringAsset("x = 1\n")})
    with pytest.raises(TypeError, match=r"only FileAsset members are supported, got inline\.py"):
        compute.archive_bytes(archive)


def invoke_config(ctx: Context) -> dict[str, Any]:
    found = ctx.clients("lambda").get_function_event_invoke_config(FunctionName=FUNCTION)
    return dict(found)


def test_invoke_config_with_a_failure_destination(ctx: Context, code: pulumi.AssetArchive) -> None:
    compute.create_function(ctx, URN, function_inputs(ctx, code))
    destination = ctx.arn("sqs", QUEUE)
    config_id, outputs = compute.put_invoke_config(
        ctx,
        URN,
        {
            "functionName": FUNCTION,
            "maximumRetryAttempts": 0.0,
            "maximumEventAgeInSeconds": 1200.0,
            "destinationConfig": {"onFailure": {"destination": destination}},
        },
    )
    assert (config_id, outputs) == (FUNCTION, {})
    config = invoke_config(ctx)
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == 1200
    assert config["DestinationConfig"]["OnFailure"] == {"Destination": destination}


def test_invoke_config_defaults_update_and_delete(ctx: Context, code: pulumi.AssetArchive) -> None:
    compute.create_function(ctx, URN, function_inputs(ctx, code))
    handler = HANDLERS["aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"]
    sent = recorded(ctx.clients("lambda"), "lambda.PutFunctionEventInvokeConfig")
    handler.create(ctx, URN, {"functionName": FUNCTION})
    assert handler.update is not None
    handler.update(ctx, FUNCTION, {}, {"functionName": FUNCTION, "maximumRetryAttempts": 1.0})
    assert sent == [
        {"FunctionName": FUNCTION, "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600},
        {"FunctionName": FUNCTION, "MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 21600},
    ]
    # moto 5.2.5 appends a second config instead of replacing the first and reports the first:
    # the update is checked by what was sent.
    handler.delete(ctx, FUNCTION, {})
    assert error_of(lambda: invoke_config(ctx)) == "ResourceNotFoundException"
    handler.delete(ctx, FUNCTION, {})


# --- CodePipeline -----------------------------------------------------------------------------

PIPELINE = "tap-pipeline"


def source_action(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Source",
        "category": "Source",
        "owner": "AWS",
        "provider": "S3",
        "version": "1",
        "configuration": {"S3Bucket": "src", "S3ObjectKey": "source.zip"},
        "outputArtifacts": ["source_output"],
        **extra,
    }


def build_action(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Build",
        "category": "Build",
        "owner": "AWS",
        "provider": "CodeBuild",
        "version": "1",
        "configuration": {"ProjectName": PROJECT},
        "inputArtifacts": ["source_output"],
        **extra,
    }


def pipeline_inputs(ctx: Context, **extra: Any) -> dict[str, Any]:
    return {
        "name": PIPELINE,
        "roleArn": make_role(ctx, "tap-pipeline-role", "codepipeline.amazonaws.com"),
        "artifactStores": [{"type": "S3", "location": "artifacts"}],
        "stages": [
            {"name": "Source", "actions": [source_action()]},
            {"name": "Build", "actions": [build_action()]},
        ],
        **extra,
    }


def test_pipeline_declaration_single_region_with_defaults() -> None:
    declaration = compute.pipeline_declaration(
        {
            "name": "p",
            "roleArn": "arn:aws:iam::1:role/r",
            "artifactStores": [{"type": "S3", "location": "artifacts"}],
            "stages": [{"name": "Source", "actions": [source_action()]}],
        }
    )
    assert declaration["artifactStore"] == {"type": "S3", "location": "artifacts"}
    assert "artifactStores" not in declaration
    assert "triggers" not in declaration
    assert (declaration["pipelineType"], declaration["executionMode"]) == ("V1", "SUPERSEDED")
    (action,) = declaration["stages"][0]["actions"]
    assert action["inputArtifacts"] == []
    assert action["outputArtifacts"] == [{"name": "source_output"}]
    assert not {"namespace", "region", "roleArn", "runOrder"} & action.keys()


def test_pipeline_declaration_cross_region_stores_and_action_options() -> None:
    key = {"type": "KMS", "id": "arn:aws:kms:eu-west-1:1:key/k"}
    declaration = compute.pipeline_declaration(
        {
            "name": "p",
            "roleArn": "arn:aws:iam::1:role/r",
            "artifactStores": [
                {"type": "S3", "location": "artifacts-us", "region": "us-east-1"},
                {
                    "type": "S3",
                    "location": "artifacts-eu",
                    "region": "eu-west-1",
                    "encryptionKey": key,
                },
            ],
            "stages": [
                {
                    "name": "Build",
                    "actions": [
                        build_action(
                            namespace="BuildVariables",
                            region="eu-west-1",
                            roleArn="arn:aws:iam::1:role/action",
                            runOrder=2.0,
                        )
                    ],
                }
            ],
        }
    )
    assert "artifactStore" not in declaration
    assert declaration["artifactStores"] == {
        "us-east-1": {"type": "S3", "location": "artifacts-us"},
        "eu-west-1": {"type": "S3", "location": "artifacts-eu", "encryptionKey": key},
    }
    (action,) = declaration["stages"][0]["actions"]
    assert action["namespace"] == "BuildVariables"
    assert action["region"] == "eu-west-1"
    assert action["roleArn"] == "arn:aws:iam::1:role/action"
    assert action["runOrder"] == 2


def test_pipeline_declaration_triggers_use_the_api_spelling() -> None:
    trigger = {
        "providerType": "CodeStarSourceConnection",
        "gitConfiguration": {
            "sourceActionName": "Source",
            "pushes": [{"branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/*"]}}],
        },
    }
    declaration = compute.pipeline_declaration(
        {
            "name": "p",
            "roleArn": "r",
            "artifactStores": [{"type": "S3", "location": "a"}],
            "stages": [],
            "triggers": [trigger],
        }
    )
    assert declaration["triggers"] == [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": "Source",
                "push": [
                    {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/*"]}}
                ],
            },
        }
    ]


def stored_pipeline(ctx: Context) -> dict[str, Any]:
    found = ctx.clients("codepipeline").get_pipeline(name=PIPELINE)["pipeline"]
    return dict(found)


def pipeline_tags(ctx: Context) -> dict[str, str]:
    arn = ctx.arn("codepipeline", PIPELINE)
    tags = ctx.clients("codepipeline").list_tags_for_resource(resourceArn=arn)["tags"]
    return {t["key"]: t["value"] for t in tags}


def test_pipeline_is_created_as_declared(ctx: Context) -> None:
    key = {"type": "KMS", "id": ctx.arn("kms", f"key/{uuid.uuid4()}")}
    inputs = pipeline_inputs(
        ctx,
        artifactStores=[{"type": "S3", "location": "artifacts", "encryptionKey": key}],
        pipelineType="V2",
        executionMode="QUEUED",
        tags=TAGS,
    )
    name, outputs = compute.create_pipeline(ctx, URN, inputs)
    assert name == PIPELINE
    assert outputs == {"arn": ctx.arn("codepipeline", PIPELINE)}
    stored = stored_pipeline(ctx)
    declaration = compute.pipeline_declaration(inputs)
    for field in declaration.keys() - {"stages"}:
        assert stored[field] == declaration[field]
    # CodePipeline fills in runOrder 1 for actions that have none.
    for stage in stored["stages"]:
        for action in stage["actions"]:
            assert action.pop("runOrder") == 1
    assert stored["stages"] == declaration["stages"]
    assert stored["artifactStore"]["encryptionKey"] == key
    assert pipeline_tags(ctx) == TAGS


def test_creating_an_existing_pipeline_adopts_and_updates_it(ctx: Context) -> None:
    inputs = pipeline_inputs(ctx)
    compute.create_pipeline(ctx, URN, inputs)
    name, _ = compute.create_pipeline(ctx, URN, {**inputs, "executionMode": "QUEUED", "tags": TAGS})
    assert name == PIPELINE
    assert stored_pipeline(ctx)["executionMode"] == "QUEUED"
    assert pipeline_tags(ctx) == TAGS
    assert [p["name"] for p in ctx.clients("codepipeline").list_pipelines()["pipelines"]] == [
        PIPELINE
    ]


def test_pipeline_update_without_tags_sends_no_tagging(ctx: Context) -> None:
    inputs = pipeline_inputs(ctx)
    compute.create_pipeline(ctx, URN, inputs)
    outputs = compute.update_pipeline(ctx, PIPELINE, inputs, {**inputs, "pipelineType": "V2"})
    assert outputs == {"arn": ctx.arn("codepipeline", PIPELINE)}
    assert stored_pipeline(ctx)["pipelineType"] == "V2"
    assert writes_of(ctx.clients, "codepipeline:TagResource") == 0


def test_pipeline_delete_and_delete_of_a_missing_pipeline(ctx: Context) -> None:
    handler = HANDLERS["aws:codepipeline/pipeline:Pipeline"]
    handler.create(ctx, URN, pipeline_inputs(ctx))
    handler.delete(ctx, PIPELINE, {})
    assert ctx.clients("codepipeline").list_pipelines()["pipelines"] == []
    handler.delete(ctx, PIPELINE, {})


# --- SSM --------------------------------------------------------------------------------------

PARAMETER = "/pipeline/dev/release"


def test_parameter_is_put_overwritten_and_deleted(ctx: Context) -> None:
    ssm = ctx.clients("ssm")
    handler = HANDLERS["aws:ssm/parameter:Parameter"]
    inputs = {"name": PARAMETER, "value": '{"imageDigest":null}', "description": "release"}
    name, outputs = handler.create(ctx, URN, inputs)
    assert name == PARAMETER
    assert outputs == {"arn": ctx.arn("ssm", f"parameter{PARAMETER}"), "version": 1}
    parameter = ssm.get_parameter(Name=PARAMETER)["Parameter"]
    assert (parameter["Value"], parameter["Type"]) == ('{"imageDigest":null}', "String")
    assert handler.update is not None
    handler.update(ctx, PARAMETER, inputs, {**inputs, "value": "v2"})
    assert ssm.get_parameter(Name=PARAMETER)["Parameter"]["Value"] == "v2"
    handler.delete(ctx, PARAMETER, inputs)
    assert error_of(lambda: ssm.get_parameter(Name=PARAMETER)) == "ParameterNotFound"
    handler.delete(ctx, PARAMETER, inputs)
