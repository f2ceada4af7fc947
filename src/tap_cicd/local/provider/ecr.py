"""ECR: the repository and its lifecycle policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tap_cicd.local.provider.model import (
    ARN,
    ID,
    Call,
    Ref,
    ResourceType,
    Update,
    given,
    lower_tags,
    part_of,
    settable,
    tag_reader,
)


def _encryption(ref: Ref) -> dict[str, Any]:
    if not (encryption := ref.inputs.get("encryptionConfigurations")):
        return {}
    kind, key = encryption[0]["encryptionType"], encryption[0].get("kmsKey", "")
    return {"encryptionConfiguration": {"encryptionType": kind, "kmsKey": key}}


_mutability = given("imageTagMutability", "MUTABLE")
_scanning = given(
    "imageScanningConfiguration", {}, then=lambda c: {"scanOnPush": bool(c.get("scanOnPush"))}
)

REPOSITORY = ResourceType(
    type="aws:ecr/repository:Repository",
    service="ecr",
    create=Call(
        "create_repository",
        _encryption,
        repositoryName=ID,
        imageTagMutability=_mutability,
        imageScanningConfiguration=_scanning,
    ),
    exists=("RepositoryAlreadyExistsException",),
    read=Call(
        "describe_repositories",
        repositoryNames=lambda ref: [ref.id],
        result=lambda _ref, response: response["repositories"][0],
    ),
    updates=(
        Update(
            ("imageTagMutability",),
            Call("put_image_tag_mutability", repositoryName=ID, imageTagMutability=_mutability),
        ),
        Update(
            ("imageScanningConfiguration",),
            Call(
                "put_image_scanning_configuration",
                repositoryName=ID,
                imageScanningConfiguration=_scanning,
            ),
        ),
    ),
    delete=Call("delete_repository", repositoryName=ID, force=given("forceDelete", False, bool)),
    tags=lower_tags({"resourceArn": ARN}),
    read_tags=tag_reader("list_tags_for_resource", lambda r: r["tags"], resourceArn=ARN),
    outputs=lambda ref: {
        "arn": ref.arn("ecr", f"repository/{ref.id}"),
        "registryId": ref.account,
        "repositoryUrl": f"{registry_host(ref)}/{ref.id}",
    },
    replace_on=("name",),
    recreate_on=("encryptionConfigurations",),
)


def registry_host(ref: Ref) -> str:
    """The registry that holds the repository: the emulator's own (``127.0.0.1:<port>``, as
    its DescribeRepositories reports), or ECR's host when no client is at hand (offline)."""
    if ref.client is not None:
        return str(urlsplit(ref.client.meta.endpoint_url).netloc)
    return f"{ref.account}.dkr.ecr.{ref.region}.amazonaws.com"


_put_lifecycle = Call(
    "put_lifecycle_policy", repositoryName=ID, lifecyclePolicyText=given("policy")
)
LIFECYCLE_POLICY = settable(
    "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    "ecr",
    _put_lifecycle,
    of="repository",
    belongs_to=part_of(REPOSITORY.type, "repository"),
    read=Call("get_lifecycle_policy", repositoryName=ID),
    volatile=("lastEvaluatedAt",),  # moves each time ECR evaluates the rules
    delete=Call("delete_lifecycle_policy", repositoryName=ID),
    outputs=lambda ref: {"registryId": ref.account},
)

TYPES = (REPOSITORY, LIFECYCLE_POLICY)
