"""The CodePipeline (V2) with Source, Build and Deploy stages, and its source trigger."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.config import SourceSettings
from tap_cicd.pipeline._context import Context, document
from tap_cicd.pipeline.notifications import Notifications
from tap_cicd.pipeline.roles import inline_policy, service_role

SOURCE_OUTPUT = "source_output"
BUILD_OUTPUT = "build_output"
BUILD_NAMESPACE = "BuildVariables"
SOURCE_NAMESPACE = "SourceVariables"


@dataclass(frozen=True)
class DeliveryInputs:
    """What the pipeline is wired to."""

    role: aws.iam.Role
    artifact_bucket: aws.s3.Bucket
    source_bucket: aws.s3.Bucket | None
    project: aws.codebuild.Project
    function: aws.lambda_.Function
    key_arn: pulumi.Output[str]
    depends_on: list[pulumi.Resource]


def user_parameters(
    repository_name: str, environment_suffix: str, fail_on_severity: str, source_kind: str = "s3"
) -> dict[str, str]:
    """The Deploy action's ``UserParameters``; CodePipeline resolves ``#{...}`` at run time.

    The source revision depends on the source action: a connection emits ``CommitId``, an
    S3 source only ``VersionId`` (an unknown variable would fail the action).
    """
    revision = (
        {"commit": f"#{{{SOURCE_NAMESPACE}.CommitId}}"}
        if source_kind == "github"
        else {"sourceVersion": f"#{{{SOURCE_NAMESPACE}.VersionId}}"}
    )
    return {
        "repositoryName": repository_name,
        "environment": environment_suffix,
        "failOnSeverity": fail_on_severity,
        "imageUri": f"#{{{BUILD_NAMESPACE}.IMAGE_URI}}",
        "imageDigest": f"#{{{BUILD_NAMESPACE}.IMAGE_DIGEST}}",
        "imageTag": f"#{{{BUILD_NAMESPACE}.IMAGE_TAG}}",
        "pipelineExecutionId": "#{codepipeline.PipelineExecutionId}",
        **revision,
    }


def _source_action(source: SourceSettings, bucket: aws.s3.Bucket | None) -> dict[str, Any]:
    action: dict[str, Any] = {
        "name": "Source",
        "category": "Source",
        "owner": "AWS",
        "version": "1",
        "namespace": SOURCE_NAMESPACE,
        "output_artifacts": [SOURCE_OUTPUT],
    }
    if bucket is not None:
        action["provider"] = "S3"
        action["configuration"] = {
            "S3Bucket": bucket.bucket,
            "S3ObjectKey": SourceSettings.OBJECT_KEY,
            # The upload is announced through EventBridge; polling would double-start.
            "PollForSourceChanges": "false",
        }
    else:
        action["provider"] = "CodeStarSourceConnection"
        action["configuration"] = {
            "ConnectionArn": source.connection_arn,
            "FullRepositoryId": source.repository,
            "BranchName": source.branch,
            "OutputArtifactFormat": "CODE_ZIP",
        }
    return action


def _triggers(source: SourceSettings) -> list[dict[str, Any]] | None:
    if source.kind != "github":
        return None
    push: dict[str, Any] = {"branches": {"includes": [source.branch]}}
    if source.file_paths:
        push["file_paths"] = {"includes": list(source.file_paths)}
    return [
        {
            "provider_type": "CodeStarSourceConnection",
            "git_configuration": {"source_action_name": "Source", "pushes": [push]},
        }
    ]


def create_pipeline(ctx: Context, name: str, inputs: DeliveryInputs) -> aws.codepipeline.Pipeline:
    """Source -> Build -> Deploy, artifacts encrypted with the pipeline key (P1)."""
    settings = ctx.settings
    repository_name = ctx.naming.name("images")
    pipeline = aws.codepipeline.Pipeline(
        f"{name}-pipeline",
        name=ctx.naming.name("pipeline"),
        role_arn=inputs.role.arn,
        pipeline_type="V2",
        # QUEUED: the Deploy step records "the" release, so executions must not overlap
        # (PARALLEL could let an older build overwrite a newer release), and unlike
        # SUPERSEDED every commit that reaches the pipeline is built, scanned and recorded.
        execution_mode="QUEUED",
        artifact_stores=[
            {
                "location": inputs.artifact_bucket.bucket,
                "type": "S3",
                "encryption_key": {"id": inputs.key_arn, "type": "KMS"},
            }
        ],
        stages=[
            {"name": "Source", "actions": [_source_action(settings.source, inputs.source_bucket)]},
            {
                "name": "Build",
                "actions": [
                    {
                        "name": "Build",
                        "category": "Build",
                        "owner": "AWS",
                        "provider": "CodeBuild",
                        "version": "1",
                        "namespace": BUILD_NAMESPACE,
                        "input_artifacts": [SOURCE_OUTPUT],
                        "output_artifacts": [BUILD_OUTPUT],
                        "configuration": {"ProjectName": inputs.project.name},
                    }
                ],
            },
            {
                "name": "Deploy",
                "actions": [
                    {
                        "name": "Deploy",
                        "category": "Invoke",
                        "owner": "AWS",
                        "provider": "Lambda",
                        "version": "1",
                        "input_artifacts": [BUILD_OUTPUT],
                        "configuration": {
                            "FunctionName": inputs.function.name,
                            "UserParameters": json.dumps(
                                user_parameters(
                                    repository_name,
                                    settings.environment_suffix,
                                    settings.fail_on_severity,
                                    settings.source.kind,
                                )
                            ),
                        },
                    }
                ],
            },
        ],
        triggers=_triggers(settings.source),
        tags=ctx.tags,
        opts=ctx.opts(depends_on=inputs.depends_on),
    )
    return pipeline


def create_source_trigger(
    ctx: Context,
    name: str,
    bucket: aws.s3.Bucket,
    pipeline: aws.codepipeline.Pipeline,
    notifications: Notifications,
) -> aws.cloudwatch.EventRule:
    """An upload of ``source.zip`` starts the pipeline, through EventBridge (no polling)."""
    rule_name = ctx.naming.name("source-change")
    role = service_role(
        ctx,
        name,
        "source-events-role",
        "events.amazonaws.com",
        source_arn=ctx.arn("events", f"rule/{rule_name}"),
    )
    policy = inline_policy(
        ctx,
        f"{name}-source-events-role",
        role,
        document(documents.start_pipeline_policy, pipeline_arn=pipeline.arn),
    )
    rule = aws.cloudwatch.EventRule(
        f"{name}-source-change",
        name=rule_name,
        description="An upload of the source object starts the pipeline",
        event_pattern=document(
            documents.source_upload_pattern,
            bucket_name=bucket.bucket,
            object_key=SourceSettings.OBJECT_KEY,
        ),
        tags=ctx.tags,
        opts=ctx.opts(),
    )
    aws.cloudwatch.EventTarget(
        f"{name}-source-change-target",
        rule=rule.name,
        target_id="pipeline",
        arn=pipeline.arn,
        role_arn=role.arn,
        # An upload whose start is lost would go unnoticed: retry, then dead-letter it.
        **notifications.target_delivery(),
        opts=ctx.opts(depends_on=[policy, notifications.events_dlq_policy]),
    )
    return rule
