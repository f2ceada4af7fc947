"""The CodeBuild project and its log group as deployed (baseline B1-B5, N3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPOSITORY_BUILDSPEC = Path(__file__).resolve().parents[2] / "src" / "tap_cicd" / "buildspec.yml"
CURATED_IMAGES = {
    "aws/codebuild/amazonlinux-x86_64-standard:5.0",
    "aws/codebuild/amazonlinux-aarch64-standard:3.0",
}


@pytest.fixture(scope="module")
def project(aws: Any, outputs: dict[str, str]) -> dict[str, Any]:
    """The stack's project, as CodeBuild describes it."""
    found = aws("codebuild").batch_get_projects(names=[outputs["codeBuildProjectName"]])
    assert not found.get("projectsNotFound")
    (project,) = found["projects"]
    return dict(project)


def test_source_and_artifacts_come_from_the_pipeline(project: dict[str, Any]) -> None:
    assert project["source"]["type"] == "CODEPIPELINE"
    assert project["artifacts"]["type"] == "CODEPIPELINE"


def test_the_deployed_buildspec_is_the_repository_one(project: dict[str, Any]) -> None:
    assert project["source"]["buildspec"] == REPOSITORY_BUILDSPEC.read_text(encoding="utf-8")


def test_environment_builds_docker_on_a_curated_image(project: dict[str, Any]) -> None:
    environment = project["environment"]
    # Privileged only because the build runs Docker (documented exemption, baseline B4).
    assert environment["privilegedMode"] is True
    assert environment["computeType"] == "BUILD_GENERAL1_SMALL"
    assert environment["type"] == "LINUX_CONTAINER"
    assert environment["image"] in CURATED_IMAGES
    assert environment["imagePullCredentialsType"] == "CODEBUILD"


def test_environment_variables_are_the_stack_facts_and_no_secrets(
    project: dict[str, Any], outputs: dict[str, str]
) -> None:
    variables = {v["name"]: v for v in project["environment"]["environmentVariables"]}
    assert set(variables) == {
        "AWS_ACCOUNT_ID",
        "AWS_DEFAULT_REGION",
        "REPOSITORY_URI",
        "IMAGE_REPO_NAME",
        "TEST_COMMAND",
    }
    assert all(v["type"] == "PLAINTEXT" for v in variables.values())
    assert variables["REPOSITORY_URI"]["value"] == outputs["ecrRepositoryUrl"]
    assert variables["IMAGE_REPO_NAME"]["value"] == outputs["ecrRepositoryName"]
    assert variables["AWS_DEFAULT_REGION"]["value"] == outputs["region"]
    assert variables["AWS_ACCOUNT_ID"]["value"] == outputs["kmsKeyArn"].split(":")[4]


def test_logs_go_to_the_stack_log_group(aws: Any, project: dict[str, Any], key_arn: str) -> None:
    logs_config = project["logsConfig"]
    assert logs_config["cloudWatchLogs"]["status"] == "ENABLED"
    assert logs_config["s3Logs"]["status"] == "DISABLED"
    group = logs_config["cloudWatchLogs"]["groupName"]
    assert group == f"/aws/codebuild/{project['name']}"
    (found,) = [
        g
        for g in aws("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        if g["logGroupName"] == group
    ]
    assert found["retentionInDays"] == 365
    assert found["kmsKeyId"] == key_arn


def test_build_artifacts_are_encrypted_with_the_stack_key(
    project: dict[str, Any], key_arn: str
) -> None:
    assert project["encryptionKey"] == key_arn


def test_timeouts_are_bounded(project: dict[str, Any]) -> None:
    assert project["timeoutInMinutes"] == 30
    assert project["queuedTimeoutInMinutes"] == 60
