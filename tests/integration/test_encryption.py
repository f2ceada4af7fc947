"""The pipeline key as deployed (baseline K1)."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import as_list, everyone, policy_document


@pytest.fixture(scope="module")
def key_id(key_arn: str) -> str:
    """The key id, from the ARN output."""
    return key_arn.rsplit("/", 1)[-1]


def test_key_is_enabled_symmetric_and_customer_managed(aws: Any, key_id: str) -> None:
    metadata = aws("kms").describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "Enabled"
    assert metadata["KeyManager"] == "CUSTOMER"
    assert metadata["KeySpec"] == "SYMMETRIC_DEFAULT"


def test_rotation_is_enabled(aws: Any, key_id: str) -> None:
    assert aws("kms").get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_key_has_its_alias(aws: Any, key_id: str) -> None:
    aliases = aws("kms").list_aliases(KeyId=key_id)["Aliases"]
    assert [a["AliasName"] for a in aliases if a.get("TargetKeyId") == key_id] != []


def test_key_policy_has_no_unconditioned_everyone(aws: Any, key_id: str) -> None:
    policy = policy_document(
        aws("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    )
    for statement in as_list(policy["Statement"]):
        principal = statement["Principal"]
        assert not everyone(principal), statement
        if "Service" in principal:
            assert "Condition" in statement, f"service grant without conditions: {statement}"
