"""The ECR repository as deployed (baseline E1-E5)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def repository(aws: Any, outputs: dict[str, str]) -> dict[str, Any]:
    """The stack's repository, as ECR describes it."""
    found = aws("ecr").describe_repositories(repositoryNames=[outputs["ecrRepositoryName"]])
    (repository,) = found["repositories"]
    return dict(repository)


def test_repository_is_the_output(repository: dict[str, Any], outputs: dict[str, str]) -> None:
    assert repository["repositoryUri"] == outputs["ecrRepositoryUrl"]


def test_tags_are_immutable(repository: dict[str, Any]) -> None:
    assert repository["imageTagMutability"] == "IMMUTABLE"


def test_images_are_scanned_on_push(repository: dict[str, Any]) -> None:
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}


def test_encrypted_with_the_stack_key(repository: dict[str, Any], key_arn: str) -> None:
    assert repository["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key_arn}


def test_lifecycle_keeps_releases_and_expires_untagged_and_old_images(
    aws: Any, outputs: dict[str, str]
) -> None:
    text = aws("ecr").get_lifecycle_policy(repositoryName=outputs["ecrRepositoryName"])[
        "lifecyclePolicyText"
    ]
    rules = sorted(json.loads(text)["rules"], key=lambda r: r["rulePriority"])
    assert [r["action"] for r in rules] == [{"type": "expire"}] * 3
    releases, untagged, newest = (r["selection"] for r in rules)
    # First: an image a higher-priority rule matches cannot be expired by a lower one, so
    # "keep the newest 50" never counts the current release or its rollback.
    assert releases["tagStatus"] == "tagged"
    assert releases["tagPrefixList"] == ["release-"]
    assert (releases["countType"], releases["countNumber"]) == ("imageCountMoreThan", 100)
    assert untagged["tagStatus"] == "untagged"
    assert untagged["countType"] == "sinceImagePushed"
    assert (untagged["countUnit"], untagged["countNumber"]) == ("days", 7)
    assert newest["tagStatus"] == "any"
    assert (newest["countType"], newest["countNumber"]) == ("imageCountMoreThan", 50)


def test_no_repository_policy_for_everyone(aws: Any, outputs: dict[str, str]) -> None:
    """No repository policy at all: access goes through IAM (baseline E5)."""
    with pytest.raises(ClientError) as raised:
        aws("ecr").get_repository_policy(repositoryName=outputs["ecrRepositoryName"])
    assert raised.value.response["Error"]["Code"] == "RepositoryPolicyNotFoundException"
