"""ECR: the repository and its lifecycle policy."""

from __future__ import annotations

from typing import Any

from tap_cicd.local.provider._common import (
    Context,
    Handler,
    Inputs,
    Outputs,
    delete_by_id,
    ignore_missing,
    reapply,
    stale_tags,
    tag_list,
)


def _repository_outputs(ctx: Context, name: str) -> Outputs:
    return {
        "arn": ctx.arn("ecr", f"repository/{name}"),
        "registryId": ctx.account_id,
        "repositoryUrl": f"{ctx.account_id}.dkr.ecr.{ctx.region}.amazonaws.com/{name}",
    }


def create_repository(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    ecr = ctx.clients("ecr")
    name = inputs["name"]
    params: dict[str, Any] = {
        "repositoryName": name,
        "imageTagMutability": inputs.get("imageTagMutability", "MUTABLE"),
        "imageScanningConfiguration": {
            "scanOnPush": bool(inputs.get("imageScanningConfiguration", {}).get("scanOnPush"))
        },
        "tags": tag_list(inputs.get("tags")),
    }
    encryption = inputs.get("encryptionConfigurations") or []
    if encryption:
        params["encryptionConfiguration"] = {
            "encryptionType": encryption[0]["encryptionType"],
            "kmsKey": encryption[0].get("kmsKey", ""),
        }
    try:
        ecr.create_repository(**params)
    except ecr.exceptions.RepositoryAlreadyExistsException:
        return name, update_repository(ctx, name, {}, inputs)
    return name, _repository_outputs(ctx, name)


def update_repository(ctx: Context, name: str, old: Inputs, new: Inputs) -> Outputs:
    ecr = ctx.clients("ecr")
    ecr.put_image_tag_mutability(
        repositoryName=name, imageTagMutability=new.get("imageTagMutability", "MUTABLE")
    )
    scan = bool(new.get("imageScanningConfiguration", {}).get("scanOnPush"))
    ecr.put_image_scanning_configuration(
        repositoryName=name, imageScanningConfiguration={"scanOnPush": scan}
    )
    arn = ctx.arn("ecr", f"repository/{name}")
    if stale := stale_tags(old, new):
        ecr.untag_resource(resourceArn=arn, tagKeys=stale)
    if new.get("tags"):
        ecr.tag_resource(resourceArn=arn, tags=tag_list(new["tags"]))
    return _repository_outputs(ctx, name)


def delete_repository(ctx: Context, name: str, inputs: Inputs) -> None:
    ignore_missing(
        lambda: ctx.clients("ecr").delete_repository(
            repositoryName=name, force=bool(inputs.get("forceDelete"))
        )
    )


def put_lifecycle(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    ctx.clients("ecr").put_lifecycle_policy(
        repositoryName=inputs["repository"], lifecyclePolicyText=inputs["policy"]
    )
    return inputs["repository"], {"registryId": ctx.account_id}


HANDLERS = [
    Handler(
        "aws:ecr/repository:Repository",
        create_repository,
        delete_repository,
        update_repository,
        replace_on=("name",),
        recreate_on=("encryptionConfigurations",),
    ),
    Handler(
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        put_lifecycle,
        delete_by_id("ecr", "delete_lifecycle_policy", "repositoryName"),
        reapply(put_lifecycle),
        replace_on=("repository",),
    ),
]
