"""ECR: the repository (encryption, scanning, tags, adoption, force delete) and its lifecycle."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from tap_cicd.local.provider import Context, ecr

from .conftest import TAGS, create, delete, error_of, update, writes_of

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
    name, outputs = create(
        ecr.REPOSITORY,
        ctx,
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
        # The emulator's registry (docker push lands there), not ECR's host.
        "repositoryUrl": f"{urlsplit(str(ctx.clients.endpoint_url)).netloc}/{REPOSITORY}",
    }
    repo = repository(ctx)
    assert repo["repositoryUri"] == outputs["repositoryUrl"]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": key_arn}
    assert repository_tags(ctx) == TAGS


def test_minimal_repository_gets_the_defaults(ctx: Context) -> None:
    create(ecr.REPOSITORY, ctx, {"name": REPOSITORY})
    repo = repository(ctx)
    assert repo["imageTagMutability"] == "MUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": False}
    assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"


def test_creating_an_existing_repository_adopts_and_updates_it(ctx: Context) -> None:
    create(ecr.REPOSITORY, ctx, {"name": REPOSITORY})
    name, outputs = create(
        ecr.REPOSITORY,
        ctx,
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
    create(ecr.REPOSITORY, ctx, {"name": REPOSITORY})
    old = {"name": REPOSITORY}
    update(ecr.REPOSITORY, ctx, REPOSITORY, old, {**old, "imageTagMutability": "IMMUTABLE"})
    assert repository(ctx)["imageTagMutability"] == "IMMUTABLE"
    assert writes_of(ctx.clients, "ecr:TagResource") == 0
    assert writes_of(ctx.clients, "ecr:PutImageScanningConfiguration") == 0


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
    create(ecr.REPOSITORY, ctx, {"name": REPOSITORY})
    push_image(ctx)
    code = error_of(lambda: delete(ecr.REPOSITORY, ctx, REPOSITORY, {"forceDelete": False}))
    assert code == "RepositoryNotEmptyException"
    delete(ecr.REPOSITORY, ctx, REPOSITORY, {"forceDelete": True})
    assert client.describe_repositories()["repositories"] == []
    delete(ecr.REPOSITORY, ctx, REPOSITORY, {"forceDelete": True})


def test_repository_lifecycle_policy_is_put_updated_and_deleted(ctx: Context) -> None:
    client = ctx.clients("ecr")
    create(ecr.REPOSITORY, ctx, {"name": REPOSITORY})
    rule = {
        "rulePriority": 1,
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50},
        "action": {"type": "expire"},
    }
    inputs = {"repository": REPOSITORY, "policy": json.dumps({"rules": [rule]})}
    policy_id, outputs = create(ecr.LIFECYCLE_POLICY, ctx, inputs)
    assert (policy_id, outputs) == (REPOSITORY, {"registryId": ctx.account_id})
    stored = client.get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"]
    assert json.loads(stored) == {"rules": [rule]}
    changed = {**inputs, "policy": json.dumps({"rules": [{**rule, "rulePriority": 2}]})}
    update(ecr.LIFECYCLE_POLICY, ctx, REPOSITORY, inputs, changed)
    stored = client.get_lifecycle_policy(repositoryName=REPOSITORY)["lifecyclePolicyText"]
    assert json.loads(stored)["rules"][0]["rulePriority"] == 2
    delete(ecr.LIFECYCLE_POLICY, ctx, REPOSITORY)
    code = error_of(lambda: client.get_lifecycle_policy(repositoryName=REPOSITORY))
    assert code == "LifecyclePolicyNotFoundException"
    delete(ecr.LIFECYCLE_POLICY, ctx, REPOSITORY)
