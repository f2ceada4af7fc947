"""CodeBuild, Lambda, CodePipeline and SSM: the parts that run the pipeline."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pulumi

from tap_cicd.local import quirks
from tap_cicd.local.provider._common import (
    Context,
    Handler,
    Inputs,
    Outputs,
    delete_by_id,
    integer,
    reapply,
    stale_tags,
    tag_list,
)


def _project_params(inputs: Inputs) -> dict[str, Any]:
    env = inputs["environment"]
    logs = inputs.get("logsConfig", {})
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
            "type": inputs.get("cache", {}).get("type", "NO_CACHE"),
            **({"modes": inputs["cache"]["modes"]} if inputs.get("cache", {}).get("modes") else {}),
        },
        "logsConfig": {
            # The API spells it cloudWatchLogs; pulumi-aws's input is cloudwatchLogs.
            "cloudWatchLogs": dict(logs.get("cloudwatchLogs", {"status": "ENABLED"})),
            "s3Logs": dict(logs.get("s3Logs", {"status": "DISABLED"})),
        },
        "tags": tag_list(inputs.get("tags"), "key", "value"),
    }
    if inputs.get("encryptionKey"):
        params["encryptionKey"] = inputs["encryptionKey"]
    return quirks.codebuild_project(params)


def create_project(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    codebuild = ctx.clients("codebuild")
    name = inputs["name"]
    if codebuild.batch_get_projects(names=[name])["projects"]:
        return name, update_project(ctx, name, {}, inputs)  # adopt an interrupted create
    project = codebuild.create_project(**_project_params(inputs))["project"]
    return name, {"arn": project["arn"]}


def update_project(ctx: Context, name: str, _old: Inputs, new: Inputs) -> Outputs:
    project = quirks.update_codebuild_project(ctx.clients("codebuild"), _project_params(new))
    return {"arn": project["arn"]}


ARCHIVE_DIGEST = "__archive_sha256"


def archive_bytes(archive: Any) -> bytes:
    """A deterministic zip of a Pulumi ``AssetArchive`` of ``FileAsset``s."""
    if not isinstance(archive, pulumi.AssetArchive):
        raise TypeError(f"only AssetArchive code is supported, got {type(archive).__name__}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name in sorted(archive.assets):
            asset = archive.assets[name]
            if not isinstance(asset, pulumi.FileAsset):
                raise TypeError(f"only FileAsset members are supported, got {name}")
            data = Path(asset.path).read_bytes()
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zipped.writestr(info, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def code_digest(archive: Any) -> str:
    """The SHA-256 of the function code, for diffs and state (state keeps only the digest)."""
    if isinstance(archive, dict):
        return str(archive[ARCHIVE_DIGEST])
    return hashlib.sha256(archive_bytes(archive)).hexdigest()


def _function_config(inputs: Inputs) -> dict[str, Any]:
    config: dict[str, Any] = {
        "FunctionName": inputs["name"],
        "Role": inputs["role"],
        "Handler": inputs["handler"],
        "Runtime": inputs["runtime"],
        "Description": inputs.get("description", ""),
        "Timeout": integer(inputs.get("timeout", 3)),
        "MemorySize": integer(inputs.get("memorySize", 128)),
        "TracingConfig": {"Mode": inputs.get("tracingConfig", {}).get("mode", "PassThrough")},
        "Environment": {"Variables": dict(inputs.get("environment", {}).get("variables", {}))},
    }
    if inputs.get("kmsKeyArn"):
        config["KMSKeyArn"] = inputs["kmsKeyArn"]
    if inputs.get("loggingConfig"):
        logging = inputs["loggingConfig"]
        config["LoggingConfig"] = {
            "LogFormat": logging.get("logFormat", "Text"),
            "LogGroup": logging["logGroup"],
        }
    return config


def _function_outputs(ctx: Context, name: str) -> Outputs:
    arn = ctx.arn("lambda", f"function:{name}")
    return {
        "arn": arn,
        "qualifiedArn": f"{arn}:$LATEST",
        "invokeArn": (
            f"arn:aws:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
        ),
        "version": "$LATEST",
    }


def create_function(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    lam = ctx.clients("lambda")
    name = inputs["name"]
    try:
        lam.create_function(
            **_function_config(inputs),
            Code={"ZipFile": archive_bytes(inputs["code"])},
            Architectures=list(inputs.get("architectures") or ["x86_64"]),
            Tags=dict(inputs.get("tags") or {}),
        )
    except lam.exceptions.ResourceConflictException:
        return name, update_function(ctx, name, {}, inputs)
    _concurrency(ctx, name, inputs)
    return name, _function_outputs(ctx, name)


def _concurrency(ctx: Context, name: str, inputs: Inputs) -> None:
    lam = ctx.clients("lambda")
    reserved = inputs.get("reservedConcurrentExecutions")
    if reserved is not None and integer(reserved) >= 0:
        lam.put_function_concurrency(
            FunctionName=name, ReservedConcurrentExecutions=integer(reserved)
        )
    else:
        lam.delete_function_concurrency(FunctionName=name)


def update_function(ctx: Context, name: str, old: Inputs, new: Inputs) -> Outputs:
    lam = ctx.clients("lambda")
    lam.update_function_configuration(**_function_config(new))
    if not old or code_digest(old["code"]) != code_digest(new["code"]):
        lam.update_function_code(
            FunctionName=name,
            ZipFile=archive_bytes(new["code"]),
            Architectures=list(new.get("architectures") or ["x86_64"]),
        )
    _concurrency(ctx, name, new)
    arn = _function_outputs(ctx, name)["arn"]
    if stale := stale_tags(old, new):
        lam.untag_resource(Resource=arn, TagKeys=stale)
    if new.get("tags"):
        lam.tag_resource(Resource=arn, Tags=dict(new["tags"]))
    return _function_outputs(ctx, name)


def put_invoke_config(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    params: dict[str, Any] = {
        "FunctionName": inputs["functionName"],
        "MaximumRetryAttempts": integer(inputs.get("maximumRetryAttempts", 2)),
        "MaximumEventAgeInSeconds": integer(inputs.get("maximumEventAgeInSeconds", 21600)),
    }
    on_failure = inputs.get("destinationConfig", {}).get("onFailure")
    if on_failure:
        params["DestinationConfig"] = {"OnFailure": {"Destination": on_failure["destination"]}}
    ctx.clients("lambda").put_function_event_invoke_config(**params)
    return str(inputs["functionName"]), {}


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


def _pipeline_outputs(ctx: Context, name: str) -> Outputs:
    return {"arn": ctx.arn("codepipeline", name)}


def create_pipeline(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    codepipeline = ctx.clients("codepipeline")
    name = inputs["name"]
    if name in {p["name"] for p in codepipeline.list_pipelines()["pipelines"]}:
        return name, update_pipeline(ctx, name, {}, inputs)  # adopt an interrupted create
    codepipeline.create_pipeline(
        pipeline=pipeline_declaration(inputs), tags=tag_list(inputs.get("tags"), "key", "value")
    )
    return name, _pipeline_outputs(ctx, name)


def update_pipeline(ctx: Context, name: str, old: Inputs, new: Inputs) -> Outputs:
    codepipeline = ctx.clients("codepipeline")
    codepipeline.update_pipeline(pipeline=pipeline_declaration(new))
    arn = _pipeline_outputs(ctx, name)["arn"]
    if stale := stale_tags(old, new):
        codepipeline.untag_resource(resourceArn=arn, tagKeys=stale)
    if new.get("tags"):
        codepipeline.tag_resource(
            resourceArn=arn,
            tags=tag_list(new["tags"], "key", "value"),
        )
    return _pipeline_outputs(ctx, name)


def put_parameter(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    name = inputs["name"]
    ctx.clients("ssm").put_parameter(
        Name=name,
        Value=inputs["value"],
        Type=inputs.get("type", "String"),
        Description=inputs.get("description", ""),
        Overwrite=True,
    )
    return name, {"arn": ctx.arn("ssm", f"parameter{name}"), "version": 1}


HANDLERS = [
    Handler(
        "aws:codebuild/project:Project",
        create_project,
        delete_by_id("codebuild", "delete_project", "name"),
        update_project,
        replace_on=("name",),
    ),
    Handler(
        "aws:lambda/function:Function",
        create_function,
        delete_by_id("lambda", "delete_function", "FunctionName"),
        update_function,
        replace_on=("name",),
    ),
    Handler(
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
        put_invoke_config,
        delete_by_id("lambda", "delete_function_event_invoke_config", "FunctionName"),
        reapply(put_invoke_config),
        replace_on=("functionName",),
    ),
    Handler(
        "aws:codepipeline/pipeline:Pipeline",
        create_pipeline,
        delete_by_id("codepipeline", "delete_pipeline", "name"),
        update_pipeline,
        replace_on=("name",),
    ),
    Handler(
        "aws:ssm/parameter:Parameter",
        put_parameter,
        delete_by_id("ssm", "delete_parameter", "Name"),
        reapply(put_parameter),
        replace_on=("name",),
    ),
]
