"""The deploy step: its Lambda function, role, log group and release parameter (L1-L7)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.config import Settings
from tap_cicd.deploy.rollout import CONTAINER_NAME
from tap_cicd.pipeline._context import Context, document
from tap_cicd.pipeline.logs import stack_log_group
from tap_cicd.pipeline.roles import service_role

RESOURCE_TYPE = "tap:cicd:DeployStep"
RUNTIME = "python3.13"
HANDLER = "tap_cicd.deploy.handler.handler"
TIMEOUT_SECONDS = 300
MEMORY_MB = 256
# CodePipeline gives up on an action after 20 minutes without a reply (baseline L5).
MAX_EVENT_AGE_SECONDS = 1200

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
DESCRIPTIONS = {
    "none": "Verifies, gates and records a release, and answers CodePipeline",
    "ecs": "Verifies, gates, rolls out and records a release, and answers CodePipeline",
}
NO_RELEASE = '{"imageDigest":null}'
"""The release parameter's first value (SSM refuses an empty one); the function overwrites it."""


def code_archive() -> pulumi.AssetArchive:
    """``tap_cicd/__init__.py`` and ``tap_cicd/deploy/*.py``: the function needs nothing else."""
    files = [PACKAGE_ROOT / "__init__.py", *sorted((PACKAGE_ROOT / "deploy").glob("*.py"))]
    return pulumi.AssetArchive(
        {str(path.relative_to(PACKAGE_ROOT.parent)): pulumi.FileAsset(str(path)) for path in files}
    )


@dataclass(frozen=True)
class RolloutTarget:
    """The service the deploy step rolls releases out to (``deployTarget`` ``ecs``)."""

    cluster_name: pulumi.Input[str]
    service_name: pulumi.Input[str]
    service_arn: pulumi.Input[str]
    task_definition_arn: pulumi.Input[str]
    """The stack's task definition: the template of every release's revision."""
    task_role_arns: list[pulumi.Output[str]]
    """The only roles a registered revision may name (``iam:PassRole``)."""


def deploy_environment(
    settings: Settings,
    topic_arn: pulumi.Input[str],
    parameter_name: pulumi.Input[str],
    repository_name: pulumi.Input[str],
    rollout: RolloutTarget | None = None,
) -> dict[str, pulumi.Input[str]]:
    """What the handler reads (``tap_cicd.deploy.logic.DeployConfig``); nothing secret.

    ``TAP_DEPLOY_TARGET`` is always set; the rollout's variables only with a ``rollout``."""
    service = settings.service
    targets: dict[str, pulumi.Input[str]] = {"TAP_DEPLOY_TARGET": service.target}
    if rollout is not None:
        targets |= {
            "TAP_CLUSTER_NAME": rollout.cluster_name,
            "TAP_SERVICE_NAME": rollout.service_name,
            "TAP_TASK_DEFINITION": rollout.task_definition_arn,
            "TAP_CONTAINER_NAME": CONTAINER_NAME,
            "TAP_DESIRED_COUNT": str(service.desired_count),
            "TAP_ROLLOUT_WAIT_SECONDS": str(service.rollout_wait_seconds),
        }
    return {
        "LOG_LEVEL": "INFO",
        "TAP_TOPIC_ARN": topic_arn,
        "TAP_RELEASE_PARAMETER": parameter_name,
        "TAP_REPOSITORY_NAME": repository_name,
        "TAP_FAIL_ON_SEVERITY": settings.fail_on_severity,
        "TAP_ALLOWED_FINDINGS": ",".join(settings.allowed_findings),
        "TAP_SCAN_WAIT_SECONDS": str(settings.scan_wait_seconds),
        **targets,
    }


@dataclass(frozen=True)
class DeployStepArgs:
    """What the deploy step is wired to."""

    context: Context
    repository: aws.ecr.Repository
    topic: aws.sns.Topic
    failure_queue: aws.sqs.Queue
    key_arn: pulumi.Output[str]
    rollout: RolloutTarget | None = None
    """The service to roll out to; ``None`` for ``deployTarget`` ``none``."""


class DeployStep(pulumi.ComponentResource):
    """The function that verifies, gates, records and announces a release, with its role, log
    group, release parameter and async invoke config (the handler reports its own failures)."""

    function: aws.lambda_.Function
    """The deploy function."""

    def __init__(
        self, name: str, args: DeployStepArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        ctx = args.context.within(self)
        logs = stack_log_group(ctx, "deploy", ctx.naming.deploy_log_group(), args.key_arn)
        # A plain String: a digest and a commit are not secret, and readers need no key grant.
        parameter = aws.ssm.Parameter(
            f"{ctx.base}-release",
            name=ctx.naming.release_parameter(),
            description="The current release of this pipeline, written by its deploy step",
            type="String",
            value=NO_RELEASE,
            tags=ctx.tags,
            # The deploy function owns the value; a `pulumi up` must not roll a release back.
            opts=ctx.opts(ignore_changes=["value"]),
        )
        grants: dict[str, pulumi.Input[Any]] = {}
        if args.rollout is not None:
            grants = {
                "service_arn": args.rollout.service_arn,
                "task_role_arns": pulumi.Output.all(*args.rollout.task_role_arns),
            }
        # Lambda sends no source account or ARN when it assumes an execution role.
        role, policy = service_role(
            ctx,
            "deploy",
            "lambda.amazonaws.com",
            document(
                documents.deploy_role_policy,
                log_group_arn=logs.arn,
                failure_queue_arn=args.failure_queue.arn,
                repository_arn=args.repository.arn,
                parameter_arn=parameter.arn,
                topic_arn=args.topic.arn,
                key_arn=args.key_arn,
                region=ctx.region,
                **grants,
            ),
        )
        environment = deploy_environment(
            ctx.settings, args.topic.arn, parameter.name, args.repository.name, args.rollout
        )
        self.function = aws.lambda_.Function(
            f"{ctx.base}-deploy",
            name=ctx.naming.deploy_function(),
            description=DESCRIPTIONS[ctx.settings.service.target],
            runtime=RUNTIME,
            handler=HANDLER,
            architectures=["arm64"],
            code=code_archive(),
            role=role.arn,
            timeout=TIMEOUT_SECONDS,
            memory_size=MEMORY_MB,
            # Opt-in (deployConcurrency): AWS refuses a reservation that leaves fewer than 100
            # unreserved executions, which new accounts (quota 10 or 50) cannot satisfy.
            # https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
            reserved_concurrent_executions=ctx.settings.deploy_concurrency,
            tracing_config={"mode": "Active"},
            kms_key_arn=args.key_arn,
            environment={"variables": environment},
            logging_config={"log_format": "JSON", "log_group": logs.name},
            tags=ctx.tags,
            opts=ctx.opts(depends_on=[policy]),
        )
        aws.lambda_.FunctionEventInvokeConfig(
            f"{ctx.base}-deploy-async",
            function_name=self.function.name,
            # A retry would run the release twice; the handler reports failures itself (R2).
            maximum_retry_attempts=0,
            maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
            destination_config={"on_failure": {"destination": args.failure_queue.arn}},
            opts=ctx.opts(),
        )
        self.register_outputs({"functionArn": self.function.arn})
