"""CodePipeline: the pipeline, its stages and its trigger."""

from __future__ import annotations

from typing import Any

from tap_cicd.local.provider.model import (
    ANY,
    ARN,
    ID,
    Call,
    Inputs,
    Ref,
    ResourceType,
    Update,
    integer,
    lower_tags,
    tag_reader,
)


def _action(action: Inputs) -> dict[str, Any]:
    api: dict[str, Any] = {
        "name": action["name"],
        "actionTypeId": {
            "category": action["category"],
            "owner": action["owner"],
            "provider": action["provider"],
            "version": action["version"],
        },
        "configuration": dict(action.get("configuration", {})),
        "inputArtifacts": [{"name": n} for n in action.get("inputArtifacts", [])],
        "outputArtifacts": [{"name": n} for n in action.get("outputArtifacts", [])],
    }
    for key in ("namespace", "region", "roleArn"):
        if action.get(key):
            api[key] = action[key]
    if action.get("runOrder"):
        api["runOrder"] = integer(action["runOrder"])
    return api


def _trigger(trigger: Inputs) -> dict[str, Any]:
    git = trigger["gitConfiguration"]
    pushes = []
    for push in git.get("pushes", []):
        # pulumi-aws names the list "pushes" and the filter "filePaths"; the API says "push".
        api_push = {k: {"includes": list(v["includes"])} for k, v in push.items()}
        pushes.append(api_push)
    return {
        "providerType": trigger["providerType"],
        "gitConfiguration": {"sourceActionName": git["sourceActionName"], "push": pushes},
    }


def pipeline_declaration(inputs: Inputs) -> dict[str, Any]:
    """The ``PipelineDeclaration`` the provider sends for these inputs."""
    stores = []
    for store in inputs["artifactStores"]:
        api = {"type": store["type"], "location": store["location"]}
        if store.get("encryptionKey"):
            api["encryptionKey"] = dict(store["encryptionKey"])
        stores.append((store.get("region"), api))
    declaration: dict[str, Any] = {
        "name": inputs["name"],
        "roleArn": inputs["roleArn"],
        "stages": [
            {"name": s["name"], "actions": [_action(a) for a in s["actions"]]}
            for s in inputs["stages"]
        ],
        "pipelineType": inputs.get("pipelineType", "V1"),
        "executionMode": inputs.get("executionMode", "SUPERSEDED"),
    }
    # One store without a region is the single-region form (artifactStore), as the provider
    # sends it; artifactStores (a map by region) is for cross-region pipelines only.
    if len(stores) == 1 and not stores[0][0]:
        declaration["artifactStore"] = stores[0][1]
    else:
        declaration["artifactStores"] = {region: api for region, api in stores}
    if inputs.get("triggers"):
        declaration["triggers"] = [_trigger(t) for t in inputs["triggers"]]
    return declaration


def _declaration(ref: Ref) -> dict[str, Any]:
    return pipeline_declaration(ref.inputs)


PIPELINE = ResourceType(
    type="aws:codepipeline/pipeline:Pipeline",
    service="codepipeline",
    create=Call("create_pipeline", pipeline=_declaration),
    # Looked up first: CreatePipeline's error for a taken name is no reliable sign (AWS says
    # PipelineNameInUseException; the emulator InvalidStructureException, as for a bad one).
    find=Call(
        "list_pipelines",
        result=lambda ref, response: next(
            (p["name"] for p in response["pipelines"] if p["name"] == ref.id), None
        ),
    ),
    read=Call("get_pipeline", name=ID, result=lambda _ref, response: response["pipeline"]),
    updates=(Update((ANY,), Call("update_pipeline", pipeline=_declaration)),),
    delete=Call("delete_pipeline", name=ID),
    tags=lower_tags({"resourceArn": ARN}, pairs=("key", "value")),
    read_tags=tag_reader(
        "list_tags_for_resource", lambda r: r["tags"], ("key", "value"), resourceArn=ARN
    ),
    outputs=lambda ref: {"arn": ref.arn("codepipeline", ref.id)},
    replace_on=("name",),
)

TYPES = (PIPELINE,)
