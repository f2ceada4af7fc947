"""CodePipeline: the declaration the provider sends, and the pipeline it creates and adopts."""

from __future__ import annotations

import uuid
from typing import Any

from tap_cicd.local.provider import Context, codepipeline

from .conftest import TAGS, create, delete, make_role, update, writes_of

PIPELINE = "tap-pipeline"


def source_action(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Source",
        "category": "Source",
        "owner": "AWS",
        "provider": "S3",
        "version": "1",
        "configuration": {"S3Bucket": "src", "S3ObjectKey": "source.zip"},
        "outputArtifacts": ["source_output"],
        **extra,
    }


def build_action(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Build",
        "category": "Build",
        "owner": "AWS",
        "provider": "CodeBuild",
        "version": "1",
        "configuration": {"ProjectName": "tap-build"},
        "inputArtifacts": ["source_output"],
        **extra,
    }


def pipeline_inputs(ctx: Context, **extra: Any) -> dict[str, Any]:
    return {
        "name": PIPELINE,
        "roleArn": make_role(ctx, "tap-pipeline-role", "codepipeline.amazonaws.com"),
        "artifactStores": [{"type": "S3", "location": "artifacts"}],
        "stages": [
            {"name": "Source", "actions": [source_action()]},
            {"name": "Build", "actions": [build_action()]},
        ],
        **extra,
    }


def test_pipeline_declaration_single_region_with_defaults() -> None:
    declaration = codepipeline.pipeline_declaration(
        {
            "name": "p",
            "roleArn": "arn:aws:iam::1:role/r",
            "artifactStores": [{"type": "S3", "location": "artifacts"}],
            "stages": [{"name": "Source", "actions": [source_action()]}],
        }
    )
    assert declaration["artifactStore"] == {"type": "S3", "location": "artifacts"}
    assert "artifactStores" not in declaration
    assert "triggers" not in declaration
    assert (declaration["pipelineType"], declaration["executionMode"]) == ("V1", "SUPERSEDED")
    (action,) = declaration["stages"][0]["actions"]
    assert action["inputArtifacts"] == []
    assert action["outputArtifacts"] == [{"name": "source_output"}]
    assert not {"namespace", "region", "roleArn", "runOrder"} & action.keys()


def test_pipeline_declaration_cross_region_stores_and_action_options() -> None:
    key = {"type": "KMS", "id": "arn:aws:kms:eu-west-1:1:key/k"}
    declaration = codepipeline.pipeline_declaration(
        {
            "name": "p",
            "roleArn": "arn:aws:iam::1:role/r",
            "artifactStores": [
                {"type": "S3", "location": "artifacts-us", "region": "us-east-1"},
                {
                    "type": "S3",
                    "location": "artifacts-eu",
                    "region": "eu-west-1",
                    "encryptionKey": key,
                },
            ],
            "stages": [
                {
                    "name": "Build",
                    "actions": [
                        build_action(
                            namespace="BuildVariables",
                            region="eu-west-1",
                            roleArn="arn:aws:iam::1:role/action",
                            runOrder=2.0,
                        )
                    ],
                }
            ],
        }
    )
    assert "artifactStore" not in declaration
    assert declaration["artifactStores"] == {
        "us-east-1": {"type": "S3", "location": "artifacts-us"},
        "eu-west-1": {"type": "S3", "location": "artifacts-eu", "encryptionKey": key},
    }
    (action,) = declaration["stages"][0]["actions"]
    assert action["namespace"] == "BuildVariables"
    assert action["region"] == "eu-west-1"
    assert action["roleArn"] == "arn:aws:iam::1:role/action"
    assert action["runOrder"] == 2


def test_pipeline_declaration_triggers_use_the_api_spelling() -> None:
    trigger = {
        "providerType": "CodeStarSourceConnection",
        "gitConfiguration": {
            "sourceActionName": "Source",
            "pushes": [{"branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/*"]}}],
        },
    }
    declaration = codepipeline.pipeline_declaration(
        {
            "name": "p",
            "roleArn": "r",
            "artifactStores": [{"type": "S3", "location": "a"}],
            "stages": [],
            "triggers": [trigger],
        }
    )
    assert declaration["triggers"] == [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": "Source",
                "push": [
                    {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/*"]}}
                ],
            },
        }
    ]


def stored_pipeline(ctx: Context) -> dict[str, Any]:
    found = ctx.clients("codepipeline").get_pipeline(name=PIPELINE)["pipeline"]
    return dict(found)


def pipeline_tags(ctx: Context) -> dict[str, str]:
    arn = ctx.arn("codepipeline", PIPELINE)
    tags = ctx.clients("codepipeline").list_tags_for_resource(resourceArn=arn)["tags"]
    return {t["key"]: t["value"] for t in tags}


def test_pipeline_is_created_as_declared(ctx: Context) -> None:
    key = {"type": "KMS", "id": ctx.arn("kms", f"key/{uuid.uuid4()}")}
    inputs = pipeline_inputs(
        ctx,
        artifactStores=[{"type": "S3", "location": "artifacts", "encryptionKey": key}],
        pipelineType="V2",
        executionMode="QUEUED",
        tags=TAGS,
    )
    name, outputs = create(codepipeline.PIPELINE, ctx, inputs)
    assert name == PIPELINE
    assert outputs == {"arn": ctx.arn("codepipeline", PIPELINE)}
    stored = stored_pipeline(ctx)
    declaration = codepipeline.pipeline_declaration(inputs)
    for field in declaration.keys() - {"stages"}:
        assert stored[field] == declaration[field]
    # CodePipeline fills in runOrder 1 for actions that have none.
    for stage in stored["stages"]:
        for action in stage["actions"]:
            assert action.pop("runOrder") == 1
    assert stored["stages"] == declaration["stages"]
    assert stored["artifactStore"]["encryptionKey"] == key
    assert pipeline_tags(ctx) == TAGS


def test_creating_an_existing_pipeline_adopts_and_updates_it(ctx: Context) -> None:
    inputs = pipeline_inputs(ctx)
    create(codepipeline.PIPELINE, ctx, inputs)
    again = {**inputs, "executionMode": "QUEUED", "tags": TAGS}
    name, _ = create(codepipeline.PIPELINE, ctx, again)
    assert name == PIPELINE
    assert stored_pipeline(ctx)["executionMode"] == "QUEUED"
    assert pipeline_tags(ctx) == TAGS
    names = [p["name"] for p in ctx.clients("codepipeline").list_pipelines()["pipelines"]]
    assert names == [PIPELINE]


def test_pipeline_update_without_tags_sends_no_tagging(ctx: Context) -> None:
    inputs = pipeline_inputs(ctx)
    create(codepipeline.PIPELINE, ctx, inputs)
    outputs = update(codepipeline.PIPELINE, ctx, PIPELINE, inputs, {**inputs, "pipelineType": "V2"})
    assert outputs == {"arn": ctx.arn("codepipeline", PIPELINE)}
    assert stored_pipeline(ctx)["pipelineType"] == "V2"
    assert writes_of(ctx.clients, "codepipeline:TagResource") == 0


def test_pipeline_delete_and_delete_of_a_missing_pipeline(ctx: Context) -> None:
    create(codepipeline.PIPELINE, ctx, pipeline_inputs(ctx))
    delete(codepipeline.PIPELINE, ctx, PIPELINE)
    assert ctx.clients("codepipeline").list_pipelines()["pipelines"] == []
    delete(codepipeline.PIPELINE, ctx, PIPELINE)
