"""KMS: the pipeline key and its alias."""

from __future__ import annotations

from typing import Any

from tap_cicd.local.provider.model import (
    ID,
    URN_TAG,
    Call,
    Ref,
    ResourceType,
    Tags,
    Update,
    given,
    integer,
    tag_reader,
)


def _find_by_urn(ref: Ref) -> str | None:
    """Keys have no name: the one an interrupted run created carries its URN as a tag."""
    for page in ref.client.get_paginator("list_keys").paginate():
        for key in page["Keys"]:
            if _live(ref, ref.call("describe_key", KeyId=key["KeyId"])) is None:
                continue
            tags = ref.call("list_resource_tags", KeyId=key["KeyId"]).get("Tags", [])
            if {"TagKey": URN_TAG, "TagValue": ref.urn} in tags:
                return str(key["KeyId"])
    return None


def _live(_ref: Ref, response: Any) -> Any:
    """A key pending deletion is gone: it only waits out its window."""
    metadata = response["KeyMetadata"]
    return None if metadata["KeyState"] == "PendingDeletion" else metadata


def _rotation(ref: Ref) -> None:
    enabled = bool(ref.inputs.get("enableKeyRotation"))
    ref.call("enable_key_rotation" if enabled else "disable_key_rotation", KeyId=ref.id)


_description = given("description", "")

KEY = ResourceType(
    type="aws:kms/key:Key",
    service="kms",
    id=None,
    create=Call(
        "create_key",
        Description=_description,
        Policy=given("policy"),
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
        result=lambda _ref, response: str(response["KeyMetadata"]["KeyId"]),
    ),
    find=_find_by_urn,
    read=Call("describe_key", KeyId=ID, result=_live),
    updates=(
        Update(
            ("policy",),
            Call("put_key_policy", KeyId=ID, PolicyName="default", Policy=given("policy")),
        ),
        Update(
            ("description",), Call("update_key_description", KeyId=ID, Description=_description)
        ),
        Update(("enableKeyRotation",), _rotation, after_create=True),
    ),
    # KMS never deletes at once: the key waits out its deletion window (AWS semantics), and
    # scheduling a key already pending deletion is refused with KMSInvalidStateException.
    delete=Call(
        "schedule_key_deletion",
        KeyId=ID,
        PendingWindowInDays=given("deletionWindowInDays", 30, integer),
    ),
    gone=("KMSInvalidStateException",),
    tags=Tags({"KeyId": ID}, pairs=("TagKey", "TagValue"), on_create="Tags"),
    read_tags=tag_reader(
        "list_resource_tags", lambda r: r["Tags"], ("TagKey", "TagValue"), KeyId=ID
    ),
    outputs=lambda ref: {"arn": ref.arn("kms", f"key/{ref.id}"), "keyId": ref.id},
)


def _read_alias(ref: Ref) -> Any:
    for page in ref.client.get_paginator("list_aliases").paginate():
        for alias in page["Aliases"]:
            if alias["AliasName"] == ref.id:
                return alias
    return None


ALIAS = ResourceType(
    type="aws:kms/alias:Alias",
    service="kms",
    create=Call("create_alias", AliasName=ID, TargetKeyId=given("targetKeyId")),
    exists=("AlreadyExistsException",),
    read=_read_alias,
    belongs_to=lambda _ref, alias: (KEY.type, str(alias.get("TargetKeyId", ""))),
    updates=(
        Update(
            ("targetKeyId",), Call("update_alias", AliasName=ID, TargetKeyId=given("targetKeyId"))
        ),
    ),
    delete=Call("delete_alias", AliasName=ID),
    outputs=lambda ref: {"arn": ref.arn("kms", ref.id)},
    replace_on=("name",),
)

TYPES = (KEY, ALIAS)
