"""The deploy step's Lambda function (baseline L1-L7)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from tap_cicd.pipeline._context import Context

RUNTIME = "python3.13"
HANDLER = "tap_cicd.deploy.handler.handler"
TIMEOUT_SECONDS = 120
MEMORY_MB = 256
# One release at a time per stack; small enough to leave the account's unreserved pool alone.
RESERVED_CONCURRENCY = 2
# CodePipeline gives up on an action after 20 minutes without a reply (baseline L5).
MAX_EVENT_AGE_SECONDS = 1200

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def code_archive() -> pulumi.AssetArchive:
    """``tap_cicd/__init__.py`` and ``tap_cicd/deploy/*.py``: the function needs nothing else."""
    files = [PACKAGE_ROOT / "__init__.py", *sorted((PACKAGE_ROOT / "deploy").glob("*.py"))]
    return pulumi.AssetArchive(
        {str(path.relative_to(PACKAGE_ROOT.parent)): pulumi.FileAsset(str(path)) for path in files}
    )


@dataclass(frozen=True)
class DeployInputs:
    """What the function is wired to."""

    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    failure_queue: aws.sqs.Queue
    key_arn: pulumi.Output[str]
    environment: dict[str, pulumi.Input[str]]
    depends_on: list[pulumi.Resource]


def create_deploy_function(ctx: Context, name: str, inputs: DeployInputs) -> aws.lambda_.Function:
    """The function, and its async invoke config: the handler reports its own failures."""
    function = aws.lambda_.Function(
        f"{name}-deploy",
        name=ctx.naming.name("deploy"),
        description="Verifies, gates and records a release, and answers CodePipeline",
        runtime=RUNTIME,
        handler=HANDLER,
        architectures=["arm64"],
        code=code_archive(),
        role=inputs.role.arn,
        timeout=TIMEOUT_SECONDS,
        memory_size=MEMORY_MB,
        reserved_concurrent_executions=RESERVED_CONCURRENCY,
        tracing_config={"mode": "Active"},
        kms_key_arn=inputs.key_arn,
        environment={"variables": inputs.environment},
        logging_config={"log_format": "JSON", "log_group": inputs.log_group.name},
        tags=ctx.tags,
        opts=ctx.opts(depends_on=inputs.depends_on),
    )
    aws.lambda_.FunctionEventInvokeConfig(
        f"{name}-deploy-async",
        function_name=function.name,
        # A retry would run the release twice; the handler reports failures itself (R2).
        maximum_retry_attempts=0,
        maximum_event_age_in_seconds=MAX_EVENT_AGE_SECONDS,
        destination_config={"on_failure": {"destination": inputs.failure_queue.arn}},
        opts=ctx.opts(),
    )
    return function
