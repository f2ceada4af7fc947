"""CodeBuild: the project, and the emulator's CODEPIPELINE-location quirk."""

from __future__ import annotations

import uuid
from typing import Any

from tap_cicd.local import quirks
from tap_cicd.local.provider import Context, codebuild

from .conftest import TAGS, create, delete, make_role, recorded, update

PROJECT = "tap-build"
BUILDSPEC = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo ok\n"


def project_inputs(ctx: Context, **extra: Any) -> dict[str, Any]:
    """A CodeBuild project's inputs with only the required blocks, plus ``extra``."""
    return {
        "name": PROJECT,
        "serviceRole": make_role(ctx, "tap-build-role", "codebuild.amazonaws.com"),
        "source": {"type": "CODEPIPELINE", "buildspec": BUILDSPEC},
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": {
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
        **extra,
    }


def project(ctx: Context) -> dict[str, Any]:
    (found,) = ctx.clients("codebuild").batch_get_projects(names=[PROJECT])["projects"]
    return dict(found)


def test_project_is_created_with_what_the_stack_sets(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    sent = recorded(ctx.clients("codebuild"), "codebuild.CreateProject")
    inputs = project_inputs(
        ctx,
        description="builds the image",
        encryptionKey=key_arn,
        buildTimeout=30.0,
        queuedTimeout=60.0,
        cache={"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]},
        logsConfig={"cloudwatchLogs": {"status": "ENABLED", "groupName": "/aws/codebuild/x"}},
        tags=TAGS,
    )
    inputs["environment"]["privilegedMode"] = True
    inputs["environment"]["environmentVariables"] = [{"name": "A", "value": "1"}]

    name, outputs = create(codebuild.PROJECT, ctx, inputs)

    assert name == PROJECT
    assert outputs == {"arn": ctx.arn("codebuild", f"project/{PROJECT}")}
    (params,) = sent
    assert params["encryptionKey"] == key_arn  # moto keeps no key: check what was sent
    assert params["timeoutInMinutes"] == 30
    assert params["queuedTimeoutInMinutes"] == 60
    assert params["logsConfig"] == {
        "cloudWatchLogs": {"status": "ENABLED", "groupName": "/aws/codebuild/x"},
        "s3Logs": {"status": "DISABLED"},
    }
    stored = project(ctx)
    assert stored["arn"] == outputs["arn"]
    assert stored["description"] == "builds the image"
    assert stored["source"]["buildspec"] == BUILDSPEC
    assert stored["environment"]["privilegedMode"] is True
    assert stored["environment"]["environmentVariables"] == [
        {"name": "A", "value": "1", "type": "PLAINTEXT"}
    ]
    assert stored["cache"] == {"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE"]}
    assert {t["key"]: t["value"] for t in stored["tags"]} == TAGS


def test_minimal_project_sends_the_provider_defaults(ctx: Context) -> None:
    sent = recorded(ctx.clients("codebuild"), "codebuild.CreateProject")
    create(codebuild.PROJECT, ctx, project_inputs(ctx))
    (params,) = sent
    assert "encryptionKey" not in params
    assert params["cache"] == {"type": "NO_CACHE"}
    assert params["timeoutInMinutes"] == 60
    assert params["queuedTimeoutInMinutes"] == 480
    assert params["environment"]["privilegedMode"] is False
    assert params["environment"]["environmentVariables"] == []
    assert params["logsConfig"] == {
        "cloudWatchLogs": {"status": "ENABLED"},
        "s3Logs": {"status": "DISABLED"},
    }
    # moto needs a location for CODEPIPELINE sources and artifacts (quirks.codebuild_project).
    assert params["source"]["location"] == quirks.PLACEHOLDER_LOCATION
    assert params["artifacts"]["location"] == quirks.PLACEHOLDER_LOCATION


def test_creating_an_existing_project_adopts_and_updates_it(ctx: Context) -> None:
    inputs = project_inputs(ctx)
    create(codebuild.PROJECT, ctx, inputs)
    name, outputs = create(codebuild.PROJECT, ctx, {**inputs, "description": "changed"})
    assert name == PROJECT
    assert outputs == {"arn": ctx.arn("codebuild", f"project/{PROJECT}")}
    assert project(ctx)["description"] == "changed"
    assert ctx.clients("codebuild").list_projects()["projects"] == [PROJECT]


def test_project_update_and_delete(ctx: Context) -> None:
    inputs = project_inputs(ctx)
    create(codebuild.PROJECT, ctx, inputs)
    update(codebuild.PROJECT, ctx, PROJECT, inputs, {**inputs, "buildTimeout": 15.0})
    assert project(ctx)["timeoutInMinutes"] == 15
    delete(codebuild.PROJECT, ctx, PROJECT, inputs)
    assert ctx.clients("codebuild").list_projects()["projects"] == []
    delete(codebuild.PROJECT, ctx, PROJECT, inputs)


def test_codebuild_quirk_fills_only_codepipeline_locations() -> None:
    params = {
        "name": "p",
        "source": {"type": "S3", "location": "bucket/source.zip"},
        "artifacts": {"type": "CODEPIPELINE"},
    }
    patched = quirks.codebuild_project(params)
    assert patched["source"] == {"type": "S3", "location": "bucket/source.zip"}
    assert patched["artifacts"] == {
        "type": "CODEPIPELINE",
        "location": quirks.PLACEHOLDER_LOCATION,
    }
    assert params["artifacts"] == {"type": "CODEPIPELINE"}  # the caller's dict is unchanged


def test_codebuild_quirk_keeps_a_location_already_given() -> None:
    params = {"source": {"type": "CODEPIPELINE", "location": "x"}, "artifacts": {"type": "NO"}}
    assert quirks.codebuild_project(params) == params
