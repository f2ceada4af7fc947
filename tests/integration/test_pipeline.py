"""The CodePipeline as deployed (baseline P1): V2, encrypted store, Source / Build / Deploy."""

from __future__ import annotations

import json
from typing import Any

import pytest


@pytest.fixture(scope="module")
def pipeline(aws: Any, outputs: dict[str, str]) -> dict[str, Any]:
    """The stack's pipeline declaration, as CodePipeline returns it."""
    return dict(aws("codepipeline").get_pipeline(name=outputs["pipelineName"])["pipeline"])


def action(pipeline: dict[str, Any], stage: str) -> dict[str, Any]:
    """The one action of ``stage``."""
    (found,) = next(s for s in pipeline["stages"] if s["name"] == stage)["actions"]
    return dict(found)


def test_pipeline_is_v2_and_queued(pipeline: dict[str, Any]) -> None:
    assert pipeline["pipelineType"] == "V2"
    assert pipeline["executionMode"] == "QUEUED"


def test_pipeline_arn_is_the_output(aws: Any, outputs: dict[str, str]) -> None:
    metadata = aws("codepipeline").get_pipeline(name=outputs["pipelineName"])["metadata"]
    assert metadata["pipelineArn"] == outputs["pipelineArn"]


def test_artifact_store_is_the_bucket_encrypted_with_the_key(
    pipeline: dict[str, Any], outputs: dict[str, str], key_arn: str
) -> None:
    # The program declares ``artifact_stores`` (a list); with one store and no region the
    # API holds it as ``artifactStore``, a cross-region pipeline as ``artifactStores``.
    stores = (
        [pipeline["artifactStore"]]
        if "artifactStore" in pipeline
        else list(pipeline["artifactStores"].values())
    )
    assert stores == [
        {
            "type": "S3",
            "location": outputs["artifactBucketName"],
            "encryptionKey": {"id": key_arn, "type": "KMS"},
        }
    ]


def test_stages_in_order_with_their_providers(pipeline: dict[str, Any]) -> None:
    stages = [
        (
            s["name"],
            [(a["actionTypeId"]["category"], a["actionTypeId"]["provider"]) for a in s["actions"]],
        )
        for s in pipeline["stages"]
    ]
    assert stages == [
        ("Source", [("Source", "S3")]),
        ("Build", [("Build", "CodeBuild")]),
        ("Deploy", [("Invoke", "Lambda")]),
    ]


def test_source_reads_the_source_bucket_without_polling(
    pipeline: dict[str, Any], outputs: dict[str, str]
) -> None:
    source = action(pipeline, "Source")
    assert source["configuration"] == {
        "S3Bucket": outputs["sourceBucketName"],
        "S3ObjectKey": "source.zip",
        "PollForSourceChanges": "false",
    }
    assert source["outputArtifacts"] == [{"name": "source_output"}]


def test_build_runs_the_stack_project(pipeline: dict[str, Any], outputs: dict[str, str]) -> None:
    build = action(pipeline, "Build")
    assert build["configuration"] == {"ProjectName": outputs["codeBuildProjectName"]}
    assert build["inputArtifacts"] == [{"name": "source_output"}]
    assert build["outputArtifacts"] == [{"name": "build_output"}]
    # The buildspec's exported variables reach the Deploy action through this namespace.
    assert build["namespace"] == "BuildVariables"


def test_deploy_invokes_the_deploy_function_with_the_build_output(
    pipeline: dict[str, Any], outputs: dict[str, str]
) -> None:
    deploy = action(pipeline, "Deploy")
    assert deploy["configuration"]["FunctionName"] == outputs["deployFunctionName"]
    assert deploy["inputArtifacts"] == [{"name": "build_output"}]
    parameters = json.loads(deploy["configuration"]["UserParameters"])
    assert parameters["repositoryName"] == outputs["ecrRepositoryName"]
    assert parameters["imageDigest"] == "#{BuildVariables.IMAGE_DIGEST}"
    assert parameters["imageUri"] == "#{BuildVariables.IMAGE_URI}"


def test_pipeline_role_is_the_stack_pipeline_role(aws: Any, pipeline: dict[str, Any]) -> None:
    role_name = pipeline["roleArn"].split("/")[-1]
    trust = aws("iam").get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "codepipeline.amazonaws.com"}
