"""The ECS Fargate service each release rolls out to, with its cluster, task definition,
roles and log group."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.config import Architecture
from tap_cicd.deploy.rollout import CONTAINER_NAME
from tap_cicd.pipeline._context import Context, document
from tap_cicd.pipeline.ingress import Ingress
from tap_cicd.pipeline.logs import stack_log_group
from tap_cicd.pipeline.network import Placement
from tap_cicd.pipeline.roles import service_role

RESOURCE_TYPE = "tap:cicd:ContainerService"
BOOTSTRAP_TAG = "bootstrap"
"""The tag the stack's task definition names before the first release (see ``ContainerService``)."""
TASKS_PRINCIPAL = "ecs-tasks.amazonaws.com"
# Fargate's runtime platform must match the image's architecture, so it follows the build's.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html#runtime-platform
CPU_ARCHITECTURES: dict[Architecture, str] = {"x86_64": "X86_64", "arm64": "ARM64"}
HEALTH_CHECK_GRACE_SECONDS = 60
IGNORED_AFTER_CREATION = ["taskDefinition", "desiredCount"]
"""What the deploy step owns: a ``pulumi up`` must never roll a release back."""


@dataclass(frozen=True)
class ContainerServiceArgs:
    """What the service is wired to."""

    context: Context
    repository: aws.ecr.Repository
    key_arn: pulumi.Output[str]
    placement: Placement
    ingress: Ingress


class ContainerService(pulumi.ComponentResource):
    """A Fargate service behind the load balancer, rolled out by the deploy step.

    Before the first release there is no image to run: the service is created with desired
    count 0, and the stack's task definition names the repository's ``bootstrap`` tag, which
    no build pushes and no task ever pulls. The deploy step registers a revision of that
    definition with the release's image by digest and sets the desired count; the stack
    ignores both on the service afterwards (``IGNORED_AFTER_CREATION``), so ``pulumi up``
    never rolls a release back. A changed cpu, memory or port replaces the stack's definition
    (its ARN reaches the deploy function) and takes effect with the next release.
    """

    cluster: aws.ecs.Cluster
    """The cluster."""
    service: aws.ecs.Service
    """The service."""
    task_definition: aws.ecs.TaskDefinition
    """The stack's task definition (the template of every release's revision)."""
    task_role_arns: list[pulumi.Output[str]]
    """The task execution role and the task role (the deploy step may pass only these)."""
    service_arn: pulumi.Output[str]
    """ARN of the service, formed from its names (known before it exists)."""
    url: pulumi.Output[str]
    """Where the service answers: the load balancer's URL."""

    def __init__(
        self, name: str, args: ContainerServiceArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        ctx = args.context.within(self)
        settings = ctx.settings
        naming = ctx.naming
        logs = stack_log_group(ctx, "service", naming.service_log_group(), args.key_arn)
        execution_role, execution_policy = service_role(
            ctx,
            "task-execution",
            TASKS_PRINCIPAL,
            document(
                documents.task_execution_role_policy,
                repository_arn=args.repository.arn,
                log_group_arn=logs.arn,
                key_arn=args.key_arn,
                region=ctx.region,
            ),
        )
        # The application's own role: empty until the service needs AWS access.
        # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
        task_role = aws.iam.Role(
            f"{ctx.base}-task-role",
            name=naming.role("task"),
            assume_role_policy=document(
                documents.trust_policy, service=TASKS_PRINCIPAL, account_id=ctx.account_id
            ),
            max_session_duration=3600,
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        self.task_role_arns = [execution_role.arn, task_role.arn]
        self.cluster = aws.ecs.Cluster(
            f"{ctx.base}-cluster",
            name=naming.cluster(),
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cloudwatch-container-insights.html
            settings=[{"name": "containerInsights", "value": "enabled"}],
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        service = settings.service
        self.task_definition = aws.ecs.TaskDefinition(
            f"{ctx.base}-task",
            family=naming.task_family(),
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",
            cpu=str(service.cpu),
            memory=str(service.memory),
            runtime_platform={
                "operating_system_family": "LINUX",
                "cpu_architecture": CPU_ARCHITECTURES[settings.architecture],
            },
            execution_role_arn=execution_role.arn,
            task_role_arn=task_role.arn,
            container_definitions=pulumi.Output.all(
                image=pulumi.Output.concat(args.repository.repository_url, ":", BOOTSTRAP_TAG),
                log_group=logs.name,
                region=ctx.region,
            ).apply(
                lambda v: json.dumps(
                    documents.container_definitions(container_port=service.container_port, **v)
                )
            ),
            tags=ctx.tags,
            opts=ctx.opts(depends_on=[execution_policy]),
        )
        self.service = aws.ecs.Service(
            f"{ctx.base}-service",
            name=naming.service(),
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            # Nothing to run before the first release (see the class docstring).
            desired_count=0,
            launch_type="FARGATE",
            platform_version="LATEST",
            # A rollout whose tasks do not get healthy stops and rolls back by itself.
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html
            deployment_controller={"type": "ECS"},
            deployment_circuit_breaker={"enable": True, "rollback": True},
            deployment_minimum_healthy_percent=100,
            deployment_maximum_percent=200,
            health_check_grace_period_seconds=HEALTH_CHECK_GRACE_SECONDS,
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-using-tags.html
            enable_ecs_managed_tags=True,
            propagate_tags="SERVICE",
            network_configuration={
                "subnets": args.placement.subnet_ids,
                "security_groups": [args.ingress.tasks_security_group.id],
                # Public subnets without NAT: the tasks reach ECR and Logs on their own IPs.
                "assign_public_ip": True,
            },
            load_balancers=[
                {
                    "target_group_arn": args.ingress.target_group.arn,
                    "container_name": CONTAINER_NAME,
                    "container_port": service.container_port,
                }
            ],
            tags=ctx.tags,
            # The target group must belong to a listener's load balancer first.
            opts=ctx.opts(
                ignore_changes=IGNORED_AFTER_CREATION, depends_on=[*args.ingress.listeners]
            ),
        )
        self.service_arn = ctx.arn("ecs", f"service/{naming.cluster()}/{naming.service()}")
        self.url = args.ingress.url
        self.register_outputs({"serviceName": self.service.name, "url": self.url})
