"""CodeBuild: the project that tests, builds and pushes the image."""

from __future__ import annotations

from typing import Any

from tap_cicd.local import quirks
from tap_cicd.local.provider.model import (
    ANY,
    ID,
    Call,
    Inputs,
    Ref,
    ResourceType,
    Update,
    integer,
)


def project_params(inputs: Inputs) -> dict[str, Any]:
    """CreateProject's (and UpdateProject's) parameters, tags included: both replace the set."""
    env = inputs["environment"]
    logs = inputs.get("logsConfig", {})
    cache = inputs.get("cache", {})
    params: dict[str, Any] = {
        "name": inputs["name"],
        "description": inputs.get("description", ""),
        "source": {"type": inputs["source"]["type"], "buildspec": inputs["source"]["buildspec"]},
        "artifacts": {"type": inputs["artifacts"]["type"]},
        "environment": {
            "type": env["type"],
            "image": env["image"],
            "computeType": env["computeType"],
            "privilegedMode": bool(env.get("privilegedMode")),
            "imagePullCredentialsType": env.get("imagePullCredentialsType", "CODEBUILD"),
            "environmentVariables": [
                {"name": v["name"], "value": v["value"], "type": v.get("type", "PLAINTEXT")}
                for v in env.get("environmentVariables", [])
            ],
        },
        "serviceRole": inputs["serviceRole"],
        "timeoutInMinutes": integer(inputs.get("buildTimeout", 60)),
        "queuedTimeoutInMinutes": integer(inputs.get("queuedTimeout", 480)),
        "cache": {
            "type": cache.get("type", "NO_CACHE"),
            **({"modes": cache["modes"]} if cache.get("modes") else {}),
        },
        "logsConfig": {
            # The API spells it cloudWatchLogs; pulumi-aws's input is cloudwatchLogs.
            "cloudWatchLogs": dict(logs.get("cloudwatchLogs", {"status": "ENABLED"})),
            "s3Logs": dict(logs.get("s3Logs", {"status": "DISABLED"})),
        },
        "tags": [{"key": k, "value": v} for k, v in (inputs.get("tags") or {}).items()],
    }
    if inputs.get("encryptionKey"):
        params["encryptionKey"] = inputs["encryptionKey"]
    return quirks.codebuild_project(params)


def _update(ref: Ref) -> None:
    quirks.update_codebuild_project(ref.client, project_params(ref.inputs))


def _project_tags(ref: Ref) -> dict[str, str] | None:
    """The project's tags; ``None`` when there is no such project (BatchGetProjects does not
    fail for a missing name: it lists it under ``projectsNotFound``)."""
    found = ref.call("batch_get_projects", names=[ref.id])["projects"]
    return {t["key"]: t["value"] for t in found[0].get("tags", [])} if found else None


PROJECT = ResourceType(
    type="aws:codebuild/project:Project",
    service="codebuild",
    create=Call("create_project", lambda ref: project_params(ref.inputs)),
    exists=("ResourceAlreadyExistsException",),
    read=Call(
        "batch_get_projects",
        names=lambda ref: [ref.id],
        result=lambda _ref, response: next(iter(response["projects"]), None),
    ),
    read_tags=_project_tags,
    updates=(Update((ANY,), _update),),
    delete=Call("delete_project", name=ID),
    outputs=lambda ref: {"arn": ref.arn("codebuild", f"project/{ref.id}")},
    replace_on=("name",),
)

TYPES = (PROJECT,)
