"""``CicdPipelineStack``: the whole CI/CD pipeline of one service, as one component."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.config import Settings
from tap_cicd.pipeline._context import Context, document
from tap_cicd.pipeline.build import BuildInputs, create_build_project
from tap_cicd.pipeline.delivery import DeliveryInputs, create_pipeline, create_source_trigger
from tap_cicd.pipeline.deploy_function import (
    DeployInputs,
    create_deploy_function,
    create_release_parameter,
    deploy_environment,
)
from tap_cicd.pipeline.encryption import create_encryption
from tap_cicd.pipeline.notifications import create_state_rule, create_topic_and_queues
from tap_cicd.pipeline.registry import create_registry
from tap_cicd.pipeline.roles import inline_policy, service_role
from tap_cicd.pipeline.storage import create_storage

RESOURCE_TYPE = "tap:cicd:CicdPipelineStack"


@dataclass(frozen=True)
class CicdPipelineStackArgs:
    """Inputs of the pipeline component."""

    settings: Settings
    """Validated settings (see ``Settings.from_raw``)."""


class CicdPipelineStack(pulumi.ComponentResource):
    """Source -> Build -> Deploy for one service, with its store, registry, roles and alerts."""

    artifact_bucket_name: pulumi.Output[str]
    """Name of the encrypted, versioned artifact bucket."""
    source_bucket_name: pulumi.Output[str] | None
    """Name of the source bucket (source ``s3`` only)."""
    ecr_repository_name: pulumi.Output[str]
    """Name of the image repository."""
    ecr_repository_url: pulumi.Output[str]
    """URI of the image repository."""
    code_build_project_name: pulumi.Output[str]
    """Name of the CodeBuild project."""
    pipeline_name: pulumi.Output[str]
    """Name of the pipeline."""
    pipeline_arn: pulumi.Output[str]
    """ARN of the pipeline."""
    deploy_function_name: pulumi.Output[str]
    """Name of the deploy function."""
    deploy_function_arn: pulumi.Output[str]
    """ARN of the deploy function."""
    notification_topic_arn: pulumi.Output[str]
    """ARN of the notification topic."""
    event_rule_name: pulumi.Output[str]
    """Name of the pipeline state rule."""
    kms_key_arn: pulumi.Output[str]
    """ARN of the pipeline key."""
    region: pulumi.Output[str]
    """Region the pipeline lives in."""

    def __init__(
        self,
        name: str,
        args: CicdPipelineStackArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        settings = args.settings
        invoke = pulumi.InvokeOutputOptions(parent=self)
        ctx = Context(
            parent=self,
            settings=settings,
            account_id=aws.get_caller_identity_output(opts=invoke).account_id,
            region=aws.get_region_output(opts=invoke).region,
            partition=aws.get_partition_output(opts=invoke).partition,
        )
        naming = settings.naming

        key_arn = create_encryption(ctx, name).key.arn
        storage = create_storage(ctx, name, key_arn)
        repository = create_registry(ctx, name, key_arn)
        build_logs, deploy_logs = (
            aws.cloudwatch.LogGroup(
                f"{name}-{purpose}-logs",
                name=log_group,
                retention_in_days=settings.log_retention_days,
                kms_key_id=key_arn,
                tags=ctx.tags,
                opts=ctx.opts(),
            )
            for purpose, log_group in (
                ("build", naming.build_log_group()),
                ("deploy", naming.deploy_log_group()),
            )
        )
        notifications = create_topic_and_queues(ctx, name, key_arn)

        build_role = service_role(
            ctx,
            name,
            "build-role",
            "codebuild.amazonaws.com",
            source_arn=ctx.arn("codebuild", f"project/{naming.name('build')}"),
        )
        build_policy = inline_policy(
            ctx,
            f"{name}-build-role",
            build_role,
            document(
                documents.build_role_policy,
                artifact_bucket_arn=storage.artifacts.bucket.arn,
                repository_arn=repository.arn,
                log_group_arn=build_logs.arn,
                key_arn=key_arn,
                region=ctx.region,
            ),
        )
        project = create_build_project(
            ctx,
            name,
            BuildInputs(build_role, repository, build_logs, key_arn, [build_policy]),
        )

        release_parameter = create_release_parameter(ctx, name)
        # Lambda sends no source account or ARN when it assumes an execution role.
        deploy_role = service_role(ctx, name, "deploy-role", "lambda.amazonaws.com")
        deploy_policy = inline_policy(
            ctx,
            f"{name}-deploy-role",
            deploy_role,
            document(
                documents.deploy_role_policy,
                log_group_arn=deploy_logs.arn,
                failure_queue_arn=notifications.deploy_dlq.arn,
                repository_arn=repository.arn,
                parameter_arn=release_parameter.arn,
                topic_arn=notifications.topic.arn,
                key_arn=key_arn,
                region=ctx.region,
            ),
        )
        function = create_deploy_function(
            ctx,
            name,
            DeployInputs(
                role=deploy_role,
                log_group=deploy_logs,
                failure_queue=notifications.deploy_dlq,
                key_arn=key_arn,
                environment=deploy_environment(
                    settings, notifications.topic.arn, release_parameter.name, repository.name
                ),
                depends_on=[deploy_policy],
            ),
        )

        source_bucket = storage.source.bucket if storage.source is not None else None
        # CodePipeline is documented with a bare trust policy: no source keys to condition on.
        pipeline_role = service_role(ctx, name, "pipeline-role", "codepipeline.amazonaws.com")
        pipeline_policy = inline_policy(
            ctx,
            f"{name}-pipeline-role",
            pipeline_role,
            document(
                documents.pipeline_role_policy,
                artifact_bucket_arn=storage.artifacts.bucket.arn,
                source_bucket_arn=source_bucket.arn if source_bucket is not None else None,
                connection_arn=settings.source.connection_arn or None,
                project_arn=project.arn,
                function_arn=function.arn,
                key_arn=key_arn,
                region=ctx.region,
            ),
        )
        pipeline = create_pipeline(
            ctx,
            name,
            DeliveryInputs(
                role=pipeline_role,
                artifact_bucket=storage.artifacts.bucket,
                source_bucket=source_bucket,
                project=project,
                function=function,
                key_arn=key_arn,
                depends_on=[pipeline_policy, *([storage.source.policy] if storage.source else [])],
            ),
        )
        if source_bucket is not None:
            create_source_trigger(ctx, name, source_bucket, pipeline, notifications)
        state_rule = create_state_rule(ctx, name, notifications, pipeline)

        self.artifact_bucket_name = storage.artifacts.bucket.bucket
        self.source_bucket_name = source_bucket.bucket if source_bucket is not None else None
        self.ecr_repository_name = repository.name
        self.ecr_repository_url = repository.repository_url
        self.code_build_project_name = project.name
        self.pipeline_name = pipeline.name
        self.pipeline_arn = pipeline.arn
        self.deploy_function_name = function.name
        self.deploy_function_arn = function.arn
        self.notification_topic_arn = notifications.topic.arn
        self.event_rule_name = state_rule.name
        self.kms_key_arn = key_arn
        self.region = ctx.region
        self.register_outputs(self.outputs())

    def outputs(self) -> dict[str, pulumi.Output[str]]:
        """The stack outputs, by their exported (camelCase) names."""
        outputs = {
            "artifactBucketName": self.artifact_bucket_name,
            "ecrRepositoryName": self.ecr_repository_name,
            "ecrRepositoryUrl": self.ecr_repository_url,
            "codeBuildProjectName": self.code_build_project_name,
            "pipelineName": self.pipeline_name,
            "pipelineArn": self.pipeline_arn,
            "deployFunctionName": self.deploy_function_name,
            "deployFunctionArn": self.deploy_function_arn,
            "notificationTopicArn": self.notification_topic_arn,
            "eventRuleName": self.event_rule_name,
            "kmsKeyArn": self.kms_key_arn,
            "region": self.region,
        }
        if self.source_bucket_name is not None:
            outputs["sourceBucketName"] = self.source_bucket_name
        return outputs
