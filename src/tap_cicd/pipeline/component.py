"""``CicdPipelineStack``: the whole CI/CD pipeline of one service, as one component."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from tap_cicd.config import Settings
from tap_cicd.pipeline._context import Context
from tap_cicd.pipeline.build import Build, BuildArgs
from tap_cicd.pipeline.delivery import Delivery, DeliveryArgs
from tap_cicd.pipeline.deploy_function import DeployStep, DeployStepArgs, RolloutTarget
from tap_cicd.pipeline.encryption import Encryption, EncryptionArgs
from tap_cicd.pipeline.ingress import Ingress, IngressArgs
from tap_cicd.pipeline.network import placement
from tap_cicd.pipeline.notifications import Notifications, NotificationsArgs
from tap_cicd.pipeline.registry import Registry, RegistryArgs
from tap_cicd.pipeline.service import ContainerService, ContainerServiceArgs
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
    service_url: pulumi.Output[str] | None
    """``http(s)://`` and the load balancer's DNS name (``deployTarget`` ``ecs`` only)."""
    cluster_name: pulumi.Output[str] | None
    """Name of the ECS cluster (``deployTarget`` ``ecs`` only)."""
    service_name: pulumi.Output[str] | None
    """Name of the ECS service (``deployTarget`` ``ecs`` only)."""

    def __init__(
        self,
        name: str,
        args: CicdPipelineStackArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        ctx = Context(
            base=name,
            parent=self,
            settings=args.settings,
            account_id=aws.get_caller_identity_output(opts=invoke).account_id,
            region=aws.get_region_output(opts=invoke).region,
            partition=aws.get_partition_output(opts=invoke).partition,
        )
        # One child component per concern; each owns its resources, role and policy, and
        # aliases them to this component, their parent before the split (no replacements).
        key_arn = Encryption(f"{name}-encryption", EncryptionArgs(ctx), ctx.component()).key_arn
        storage = create_storage(ctx, key_arn)
        repository = Registry(
            f"{name}-registry", RegistryArgs(ctx, key_arn), ctx.component()
        ).repository
        notifications = Notifications(
            f"{name}-alerts", NotificationsArgs(ctx, key_arn), ctx.component()
        )
        project = Build(
            f"{name}-build-stage",
            BuildArgs(ctx, repository, storage.artifacts.bucket, key_arn),
            ctx.component(),
        ).project
        service = _service(ctx, name, repository, key_arn)
        rollout = None
        if service is not None:
            rollout = RolloutTarget(
                cluster_name=service.cluster.name,
                service_name=service.service.name,
                service_arn=service.service_arn,
                task_definition_arn=service.task_definition.arn,
                task_role_arns=service.task_role_arns,
            )
        function = DeployStep(
            f"{name}-deploy-step",
            DeployStepArgs(
                ctx,
                repository,
                notifications.topic,
                notifications.deploy_dlq,
                key_arn,
                rollout,
            ),
            ctx.component(),
        ).function
        pipeline = Delivery(
            f"{name}-delivery",
            DeliveryArgs(
                ctx, storage.artifacts, storage.source, project, function, notifications, key_arn
            ),
            ctx.component(),
        ).pipeline

        source_bucket = storage.source.bucket if storage.source is not None else None
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
        self.event_rule_name = notifications.state_rule.name
        self.kms_key_arn = key_arn
        self.region = ctx.region
        self.service_url = self.cluster_name = self.service_name = None
        if service is not None:
            self.service_url = service.url
            self.cluster_name = service.cluster.name
            self.service_name = service.service.name
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
        if self.service_url is not None:
            outputs["serviceUrl"] = self.service_url
        if self.cluster_name is not None:
            outputs["clusterName"] = self.cluster_name
        if self.service_name is not None:
            outputs["serviceName"] = self.service_name
        return outputs


def _service(
    ctx: Context, name: str, repository: aws.ecr.Repository, key_arn: pulumi.Output[str]
) -> ContainerService | None:
    """The network, the load balancer and the ECS service (``deployTarget`` ``ecs``)."""
    if not ctx.settings.service.enabled:
        return None
    where = placement(ctx, f"{name}-network")
    ingress = Ingress(f"{name}-ingress", IngressArgs(ctx, where), ctx.component())
    return ContainerService(
        f"{name}-service",
        ContainerServiceArgs(ctx, repository, key_arn, where, ingress),
        ctx.component(),
    )
