"""KMS: the key (policy, rotation, tags, adoption by its URN tag, deletion window) and alias."""

from __future__ import annotations

import json
import uuid

from tap_cicd.local.provider import Context, kms
from tap_cicd.local.provider.model import URN_TAG

from .conftest import TAGS, URN, create, delete, update, writes_of

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
    key_id, outputs = create(kms.KEY, ctx, {**KEY, "tags": TAGS})
    assert outputs == {"arn": ctx.arn("kms", f"key/{key_id}"), "keyId": key_id}
    assert key_tags(ctx, key_id) == {**TAGS, URN_TAG: URN}
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == "pipeline key"
    assert client.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    stored = client.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    assert json.loads(stored) == json.loads(KEY_POLICY)


def test_a_key_without_tags_still_carries_its_urn(ctx: Context) -> None:
    key_id, _ = create(kms.KEY, ctx, KEY)
    assert key_tags(ctx, key_id) == {URN_TAG: URN}


def test_creating_a_key_again_adopts_the_one_with_its_urn(ctx: Context) -> None:
    first, _ = create(kms.KEY, ctx, KEY)
    second, _ = create(kms.KEY, ctx, {**KEY, "description": "renamed"})
    assert second == first
    assert live_keys(ctx) == [first]
    description = ctx.clients("kms").describe_key(KeyId=first)["KeyMetadata"]["Description"]
    assert description == "renamed"


def test_key_adoption_passes_over_other_resources_keys(ctx: Context) -> None:
    other, _ = create(kms.KEY, ctx, KEY, urn=f"{URN}-other")
    mine, _ = create(kms.KEY, ctx, KEY)
    assert create(kms.KEY, ctx, KEY)[0] == mine
    assert sorted(live_keys(ctx)) == sorted([other, mine])


def test_key_adoption_skips_a_key_pending_deletion(ctx: Context) -> None:
    deleted, _ = create(kms.KEY, ctx, KEY)
    delete(kms.KEY, ctx, deleted, {"deletionWindowInDays": 7.0})
    fresh, _ = create(kms.KEY, ctx, KEY)
    assert fresh != deleted
    assert live_keys(ctx) == [fresh]


def test_key_update_disables_rotation_and_sends_no_tags_when_there_are_none(
    ctx: Context,
) -> None:
    client = ctx.clients("kms")
    key_id, _ = create(kms.KEY, ctx, KEY)
    outputs = update(kms.KEY, ctx, key_id, KEY, {"policy": KEY_POLICY})
    assert outputs["keyId"] == key_id
    assert client.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    assert client.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == ""
    assert writes_of(ctx.clients, "kms:TagResource") == 0
    assert writes_of(ctx.clients, "kms:PutKeyPolicy") == 0  # the policy did not change


def test_key_delete_schedules_deletion_with_its_window(ctx: Context) -> None:
    client = ctx.clients("kms")
    key_id, _ = create(kms.KEY, ctx, KEY)
    delete(kms.KEY, ctx, key_id, {"deletionWindowInDays": 7.0})
    metadata = client.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "PendingDeletion"
    assert "DeletionDate" in metadata


def test_deleting_a_key_twice_or_a_missing_key_is_fine(ctx: Context) -> None:
    key_id, _ = create(kms.KEY, ctx, KEY)
    delete(kms.KEY, ctx, key_id, {})
    delete(kms.KEY, ctx, key_id, {})  # KMSInvalidStateException: already pending deletion
    delete(kms.KEY, ctx, str(uuid.uuid4()), {})


def alias_target(ctx: Context, name: str) -> str | None:
    for alias in ctx.clients("kms").list_aliases()["Aliases"]:
        if alias["AliasName"] == name:
            return str(alias["TargetKeyId"])
    return None


def test_alias_is_created_and_an_existing_one_is_retargeted(ctx: Context) -> None:
    first, _ = create(kms.KEY, ctx, KEY)
    second, _ = create(kms.KEY, ctx, KEY, urn=f"{URN}-2")
    name, outputs = create(kms.ALIAS, ctx, {"name": "alias/tap", "targetKeyId": first})
    assert name == "alias/tap"
    assert outputs == {"arn": ctx.arn("kms", "alias/tap")}
    assert alias_target(ctx, name) == first
    create(kms.ALIAS, ctx, {"name": "alias/tap", "targetKeyId": second})
    assert alias_target(ctx, name) == second


def test_alias_update_retargets_and_delete_removes_it(ctx: Context) -> None:
    first, _ = create(kms.KEY, ctx, KEY)
    second, _ = create(kms.KEY, ctx, KEY, urn=f"{URN}-2")
    old = {"name": "alias/tap", "targetKeyId": first}
    create(kms.ALIAS, ctx, old)
    outputs = update(kms.ALIAS, ctx, "alias/tap", old, {**old, "targetKeyId": second})
    assert outputs == {"arn": ctx.arn("kms", "alias/tap")}
    assert alias_target(ctx, "alias/tap") == second
    delete(kms.ALIAS, ctx, "alias/tap")
    assert alias_target(ctx, "alias/tap") is None
    delete(kms.ALIAS, ctx, "alias/tap")
