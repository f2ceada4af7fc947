"""Emulator-only workarounds, in one place. Each says what the emulator does differently.

Everything else the local provider sends is what real AWS accepts; these changes are
applied only because the local target always talks to the emulator. One more lives in
``server.py``, because it patches moto inside the emulator process and importing moto
here would slow every ``tap`` command down.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

PLACEHOLDER_LOCATION = "tap-emulator-unused"


def codebuild_project(params: dict[str, Any]) -> dict[str, Any]:
    """moto's CreateProject/UpdateProject want ``source.location`` and ``artifacts.location``.

    Real AWS does not accept a location for ``CODEPIPELINE`` sources and artifacts and
    the pulumi-aws provider sends none; moto refuses the call without them.
    """
    patched = dict(params)
    for key in ("source", "artifacts"):
        section = dict(patched[key])
        if section.get("type") == "CODEPIPELINE":
            section.setdefault("location", PLACEHOLDER_LOCATION)
        patched[key] = section
    return patched


def bucket_policy(policy: str) -> str:
    """moto's PutBucketLogging crashes on a target bucket policy with ``"Principal": "*"``.

    It reads every statement's principal as a mapping. ``{"AWS": "*"}`` means the same to
    AWS (everyone), so the emulator gets that spelling; the stack's policy is unchanged.
    """
    document = json.loads(policy)
    for statement in document.get("Statement", []):
        if statement.get("Principal") == "*":
            statement["Principal"] = {"AWS": "*"}
    return json.dumps(document)


def update_codebuild_project(codebuild: Any, params: dict[str, Any]) -> dict[str, Any]:
    """moto does not implement UpdateProject: the emulator gets a delete and a create.

    Against AWS this is one UpdateProject call with the same parameters.
    """
    codebuild.delete_project(name=params["name"])
    project: dict[str, Any] = codebuild.create_project(**params)["project"]
    return project


LOG_GROUP_RECREATE_ON = ("kmsKeyId",)
"""moto lacks AssociateKmsKey: in the emulator a log group's key change replaces the group.

Against AWS the provider associates the new key in place.
"""


def tags_of_existing(
    read: Callable[[Any], Any], describe: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    """moto's elbv2 DescribeTags answers (no tags) for an ARN that does not exist.

    AWS answers LoadBalancerNotFound, TargetGroupNotFound or ListenerNotFound, which tells
    the deployer the resource is gone. Reading the resource first fails the same way on
    both, at the cost of one more call against AWS.
    https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeTags.html
    """

    def tags(ref: Any) -> Any:
        return None if read(ref) is None else describe(ref)

    return tags


def ecs_service_created(ecs: Any, service: str, params: dict[str, Any]) -> None:
    """moto's CreateService drops ``deploymentConfiguration`` and ``enableECSManagedTags``.

    DescribeServices then answers null for both, where AWS answers what was created (and
    refresh would see the first deploy as drift). moto keeps them from UpdateService: the
    emulator gets them again that way. Against AWS, CreateService alone sets them.
    """
    kept = ("deploymentConfiguration", "enableECSManagedTags")
    again = {k: params[k] for k in kept}
    ecs.update_service(cluster=params["cluster"], service=service, **again)


def ecs_task_definition(ecs: Any, task_definition: str) -> str:
    """moto's UpdateService keeps ``taskDefinition`` as sent (a family, ``family:3``).

    AWS (and moto's CreateService) resolves it to the revision's ARN, which DescribeServices
    answers. The emulator is sent that ARN, the revision AWS would resolve the name to.
    """
    found = ecs.describe_task_definition(taskDefinition=task_definition)
    return str(found["taskDefinition"]["taskDefinitionArn"])
