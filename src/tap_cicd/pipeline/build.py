"""The CodeBuild project that tests, builds and pushes the image (baseline B1-B6)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.config import Architecture
from tap_cicd.pipeline._context import Context, document
from tap_cicd.pipeline.logs import stack_log_group
from tap_cicd.pipeline.roles import service_role

RESOURCE_TYPE = "tap:cicd:Build"
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
class BuildArgs:
    """What the build is wired to."""

    context: Context
    repository: aws.ecr.Repository
    artifact_bucket: aws.s3.Bucket
    key_arn: pulumi.Output[str]


class Build(pulumi.ComponentResource):
    """The project, its log group and its role: source and artifacts from CodePipeline only, no
    credentials in the project (B1)."""

    project: aws.codebuild.Project
    """The CodeBuild project."""

    def __init__(
        self, name: str, args: BuildArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        ctx = args.context.within(self)
        logs = stack_log_group(ctx, "build", ctx.naming.build_log_group(), args.key_arn)
        role, policy = service_role(
            ctx,
            "build",
            "codebuild.amazonaws.com",
            document(
                documents.build_role_policy,
                artifact_bucket_arn=args.artifact_bucket.arn,
                repository_arn=args.repository.arn,
                log_group_arn=logs.arn,
                key_arn=args.key_arn,
                region=ctx.region,
            ),
            source_arn=ctx.arn("codebuild", f"project/{ctx.naming.build_project()}"),
        )
        environment_type, image = IMAGES[ctx.settings.architecture]
        variables = {
            "AWS_ACCOUNT_ID": ctx.account_id,
            "AWS_DEFAULT_REGION": ctx.region,
            "REPOSITORY_URI": args.repository.repository_url,
            "IMAGE_REPO_NAME": args.repository.name,
            "TEST_COMMAND": ctx.settings.test_command,
        }
        self.project = aws.codebuild.Project(
            f"{ctx.base}-build",
            name=ctx.naming.build_project(),
            description="Tests, builds and pushes the service image",
            service_role=role.arn,
            encryption_key=args.key_arn,
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
                "cloudwatch_logs": {"status": "ENABLED", "group_name": logs.name},
                "s3_logs": {"status": "DISABLED"},
            },
            tags=ctx.tags,
            # The role's policy must be in place before CodeBuild checks the role.
            opts=ctx.opts(depends_on=[policy]),
        )
        self.register_outputs({"projectName": self.project.name})
