"""KMS: the pipeline key and its alias."""

from __future__ import annotations

from tap_cicd.local.provider._common import (
    Context,
    Handler,
    Inputs,
    Outputs,
    delete_by_id,
    ignore_missing,
    integer,
    stale_tags,
    tag_list,
)

URN_TAG = "tap:urn"
"""Keys have no name: this tag lets an interrupted run find the key it created and adopt it."""


def _key_outputs(ctx: Context, key_id: str) -> Outputs:
    return {"arn": ctx.arn("kms", f"key/{key_id}"), "keyId": key_id}


def _find_by_urn(ctx: Context, urn: str) -> str | None:
    kms = ctx.clients("kms")
    for page in kms.get_paginator("list_keys").paginate():
        for key in page["Keys"]:
            metadata = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            if metadata["KeyState"] == "PendingDeletion":
                continue
            tags = kms.list_resource_tags(KeyId=key["KeyId"]).get("Tags", [])
            if {"TagKey": URN_TAG, "TagValue": urn} in tags:
                return str(key["KeyId"])
    return None


def create_key(ctx: Context, urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    key_id = _find_by_urn(ctx, urn)
    if key_id is None:
        tags = [*tag_list(inputs.get("tags"), "TagKey", "TagValue")]
        tags.append({"TagKey": URN_TAG, "TagValue": urn})
        metadata = ctx.clients("kms").create_key(
            Description=inputs.get("description", ""),
            Policy=inputs["policy"],
            KeyUsage="ENCRYPT_DECRYPT",
            KeySpec="SYMMETRIC_DEFAULT",
            Tags=tags,
        )["KeyMetadata"]
        key_id = str(metadata["KeyId"])
    return key_id, update_key(ctx, key_id, {}, inputs)


def update_key(ctx: Context, key_id: str, old: Inputs, new: Inputs) -> Outputs:
    kms = ctx.clients("kms")
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=new["policy"])
    kms.update_key_description(KeyId=key_id, Description=new.get("description", ""))
    if new.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=key_id)
    else:
        kms.disable_key_rotation(KeyId=key_id)
    if stale := stale_tags(old, new):
        kms.untag_resource(KeyId=key_id, TagKeys=stale)
    if new.get("tags"):
        kms.tag_resource(KeyId=key_id, Tags=tag_list(new["tags"], "TagKey", "TagValue"))
    return _key_outputs(ctx, key_id)


def delete_key(ctx: Context, key_id: str, inputs: Inputs) -> None:
    # KMS never deletes at once: the key waits out its deletion window (AWS semantics).
    days = integer(inputs.get("deletionWindowInDays", 30))
    ignore_missing(
        lambda: ctx.clients("kms").schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days),
        "KMSInvalidStateException",
    )


def create_alias(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    kms = ctx.clients("kms")
    try:
        kms.create_alias(AliasName=inputs["name"], TargetKeyId=inputs["targetKeyId"])
    except kms.exceptions.AlreadyExistsException:
        kms.update_alias(AliasName=inputs["name"], TargetKeyId=inputs["targetKeyId"])
    return inputs["name"], {"arn": ctx.arn("kms", inputs["name"])}


def update_alias(ctx: Context, name: str, _old: Inputs, new: Inputs) -> Outputs:
    ctx.clients("kms").update_alias(AliasName=name, TargetKeyId=new["targetKeyId"])
    return {"arn": ctx.arn("kms", name)}


HANDLERS = [
    Handler("aws:kms/key:Key", create_key, delete_key, update_key),
    Handler(
        "aws:kms/alias:Alias",
        create_alias,
        delete_by_id("kms", "delete_alias", "AliasName"),
        update_alias,
        replace_on=("name",),
    ),
]
