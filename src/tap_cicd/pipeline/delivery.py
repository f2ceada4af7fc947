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
from tap_cicd.pipeline.roles import service_role
from tap_cicd.pipeline.storage import HardenedBucket

SOURCE_OUTPUT = "source_output"
BUILD_OUTPUT = "build_output"
BUILD_NAMESPACE = "BuildVariables"
SOURCE_NAMESPACE = "SourceVariables"


RESOURCE_TYPE = "tap:cicd:Delivery"


@dataclass(frozen=True)
class DeliveryArgs:
    """What the pipeline is wired to."""

    context: Context
    artifacts: HardenedBucket
    source: HardenedBucket | None
    project: aws.codebuild.Project
    function: aws.lambda_.Function
    notifications: Notifications
    key_arn: pulumi.Output[str]


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


class Delivery(pulumi.ComponentResource):
    """The CodePipeline (Source -> Build -> Deploy) with its role, and for the S3 source the
    rule (and its role) that starts it when ``source.zip`` is uploaded."""

    pipeline: aws.codepipeline.Pipeline
    """The pipeline."""

    def __init__(
        self, name: str, args: DeliveryArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        ctx = args.context.within(self)
        source_bucket = args.source.bucket if args.source is not None else None
        # CodePipeline is documented with a bare trust policy: no source keys to condition on.
        role, policy = service_role(
            ctx,
            "pipeline",
            "codepipeline.amazonaws.com",
            document(
                documents.pipeline_role_policy,
                artifact_bucket_arn=args.artifacts.bucket.arn,
                source_bucket_arn=source_bucket.arn if source_bucket is not None else None,
                connection_arn=ctx.settings.source.connection_arn or None,
                project_arn=args.project.arn,
                function_arn=args.function.arn,
                key_arn=args.key_arn,
                region=ctx.region,
                approval_topic_arn=(
                    args.notifications.topic.arn if ctx.settings.require_approval else None
                ),
            ),
        )
        depends_on = [policy, *([args.source.policy] if args.source is not None else [])]
        self.pipeline = _pipeline(ctx, args, role, depends_on)
        if source_bucket is not None:
            _source_trigger(ctx, source_bucket, self.pipeline, args.notifications)
        self.register_outputs({"pipelineArn": self.pipeline.arn})


def _pipeline(
    ctx: Context, args: DeliveryArgs, role: aws.iam.Role, depends_on: list[pulumi.Resource]
) -> aws.codepipeline.Pipeline:
    """Source -> Build -> Deploy, artifacts encrypted with the pipeline key (P1)."""
    settings = ctx.settings
    source_bucket = args.source.bucket if args.source is not None else None
    return aws.codepipeline.Pipeline(
        f"{ctx.base}-pipeline",
        name=ctx.naming.pipeline(),
        role_arn=role.arn,
        pipeline_type="V2",
        # QUEUED: the Deploy step records "the" release, so executions must not overlap
        # (PARALLEL could let an older build overwrite a newer release), and unlike
        # SUPERSEDED every commit that reaches the pipeline is built, scanned and recorded.
        execution_mode="QUEUED",
        artifact_stores=[
            {
                "location": args.artifacts.bucket.bucket,
                "type": "S3",
                "encryption_key": {"id": args.key_arn, "type": "KMS"},
            }
        ],
        stages=[
            {"name": "Source", "actions": [_source_action(settings.source, source_bucket)]},
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
                        "configuration": {"ProjectName": args.project.name},
                    }
                ],
            },
            *([_approval_stage(ctx, args)] if settings.require_approval else []),
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
                            "FunctionName": args.function.name,
                            "UserParameters": json.dumps(
                                user_parameters(
                                    ctx.naming.repository(),
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
        opts=ctx.opts(depends_on=depends_on),
    )


def approval_message(repository_name: str, fail_on_severity: str) -> str:
    """The approval's ``CustomData`` (at most 500 characters): the image by digest, and where
    its scan result is; CodePipeline resolves ``#{...}`` when the action starts.

    The scan finishes after the build, so the message cannot carry its findings; the link
    opens the repository, and the Deploy stage still blocks findings at ``fail_on_severity``.
    """
    return (
        f"Release #{{{BUILD_NAMESPACE}.IMAGE_DIGEST}} of {repository_name} "
        f"(tag #{{{BUILD_NAMESPACE}.IMAGE_TAG}}). Scan result: ECR image scan findings of "
        f"this digest (link). After approval, Deploy still blocks findings at or above "
        f"{fail_on_severity}."
    )


def _approval_stage(ctx: Context, args: DeliveryArgs) -> dict[str, Any]:
    """A manual approval between Build and Deploy, announced on the pipeline's topic.
    https://docs.aws.amazon.com/codepipeline/latest/userguide/approvals-action-add.html
    """
    repository = ctx.naming.repository()
    link = pulumi.Output.all(ctx.region, ctx.account_id).apply(
        lambda v: (
            f"https://{v[0]}.console.aws.amazon.com/ecr/repositories/private/"
            f"{v[1]}/{repository}?region={v[0]}"
        )
    )
    return {
        "name": "Approve",
        "actions": [
            {
                "name": "Approve",
                "category": "Approval",
                "owner": "AWS",
                "provider": "Manual",
                "version": "1",
                "configuration": {
                    "NotificationArn": args.notifications.topic.arn,
                    "CustomData": approval_message(repository, ctx.settings.fail_on_severity),
                    "ExternalEntityLink": link,
                },
            }
        ],
    }


def _source_trigger(
    ctx: Context,
    bucket: aws.s3.Bucket,
    pipeline: aws.codepipeline.Pipeline,
    notifications: Notifications,
) -> None:
    """An upload of ``source.zip`` starts the pipeline, through EventBridge (no polling)."""
    rule_name = ctx.naming.rule("source-change")
    role, policy = service_role(
        ctx,
        "source-events",
        "events.amazonaws.com",
        document(documents.start_pipeline_policy, pipeline_arn=pipeline.arn),
        source_arn=ctx.arn("events", f"rule/{rule_name}"),
    )
    rule = aws.cloudwatch.EventRule(
        f"{ctx.base}-source-change",
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
        f"{ctx.base}-source-change-target",
        rule=rule.name,
        target_id="pipeline",
        arn=pipeline.arn,
        role_arn=role.arn,
        # An upload whose start is lost would go unnoticed: retry, then dead-letter it.
        **notifications.target_delivery(),
        opts=ctx.opts(depends_on=[policy, notifications.events_dlq_policy]),
    )
