"""The CodeBuild project that tests, builds and pushes the image (baseline B1-B6)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pulumi
import pulumi_aws as aws

from tap_cicd.config import Architecture
from tap_cicd.pipeline._context import Context

BUILD_TIMEOUT_MINUTES = 30
QUEUED_TIMEOUT_MINUTES = 60

# Curated, versioned AWS images (baseline B5); bump deliberately, never "latest".
IMAGES: dict[Architecture, tuple[str, str]] = {
    "x86_64": ("LINUX_CONTAINER", "aws/codebuild/amazonlinux-x86_64-standard:5.0"),
    "arm64": ("ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0"),
}


def buildspec() -> str:
    """The buildspec versioned in this package."""
    return resources.files("tap_cicd").joinpath("buildspec.yml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class BuildInputs:
    """What the project is wired to."""

    role: aws.iam.Role
    repository: aws.ecr.Repository
    log_group: aws.cloudwatch.LogGroup
    key_arn: pulumi.Output[str]
    depends_on: list[pulumi.Resource]


def create_build_project(ctx: Context, name: str, inputs: BuildInputs) -> aws.codebuild.Project:
    """Source and artifacts from CodePipeline only; no credentials in the project (B1)."""
    environment_type, image = IMAGES[ctx.settings.architecture]
    variables = {
        "AWS_ACCOUNT_ID": ctx.account_id,
        "AWS_DEFAULT_REGION": ctx.region,
        "REPOSITORY_URI": inputs.repository.repository_url,
        "IMAGE_REPO_NAME": inputs.repository.name,
        "TEST_COMMAND": ctx.settings.test_command,
    }
    return aws.codebuild.Project(
        f"{name}-build",
        name=ctx.naming.name("build"),
        description="Tests, builds and pushes the service image",
        service_role=inputs.role.arn,
        encryption_key=inputs.key_arn,
        build_timeout=BUILD_TIMEOUT_MINUTES,
        queued_timeout=QUEUED_TIMEOUT_MINUTES,
        source={"type": "CODEPIPELINE", "buildspec": buildspec()},
        artifacts={"type": "CODEPIPELINE"},
        environment={
            "type": environment_type,
            "image": image,
            "compute_type": ctx.settings.compute_type,
            "image_pull_credentials_type": "CODEBUILD",
            # Docker-in-Docker needs privileged mode; documented exemption (baseline B4).
            "privileged_mode": True,
            "environment_variables": [
                {"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()
            ],
        },
        cache={"type": "LOCAL", "modes": ["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE"]},
        logs_config={
            "cloudwatch_logs": {"status": "ENABLED", "group_name": inputs.log_group.name},
            "s3_logs": {"status": "DISABLED"},
        },
        tags=ctx.tags,
        opts=ctx.opts(depends_on=inputs.depends_on),
    )
