"""The rollout's ECS calls, each thin: the decisions are in ``rollout``.

The deploy role allows exactly these four ECS actions (and ``iam:PassRole`` for the task
definition's two roles, to ECS tasks, which ``RegisterTaskDefinition`` needs).
"""

from __future__ import annotations

from typing import Any, cast

from botocore.exceptions import ClientError

from tap_cicd.deploy.aws import error_code
from tap_cicd.deploy.failures import CONFIGURATION_ERROR, JobFailure, shown

ECSClient = Any
"""botocore's ECS client (the project's stubs do not cover ECS yet: ``boto3-stubs[ecs]``)."""
MISSING_CODES = frozenset(
    {"ClusterNotFoundException", "ServiceNotFoundException", "ServiceNotActiveException"}
)
"""``UpdateService`` errors that mean the stack's cluster or service is not there.
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html#API_UpdateService_Errors"""


def task_definition(ecs: ECSClient, arn: str) -> dict[str, Any]:
    """The described task definition (the template, or a revision to recognise)."""
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTaskDefinition.html
    described = ecs.describe_task_definition(taskDefinition=arn)
    return cast("dict[str, Any]", described["taskDefinition"])


def accepted_fields(ecs: ECSClient) -> list[str]:
    """The members of ``RegisterTaskDefinition``'s request, from botocore's model of the API:
    a field ECS adds later is carried over without a change here."""
    model = ecs.meta.service_model.operation_model("RegisterTaskDefinition")
    return list(model.input_shape.members)


def register(ecs: ECSClient, request: dict[str, Any]) -> str:
    """Register the revision; its ARN."""
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html
    registered = ecs.register_task_definition(**request)
    return str(registered["taskDefinition"]["taskDefinitionArn"])


def update_service(
    ecs: ECSClient, cluster: str, service: str, revision: str, desired_count: int
) -> None:
    """Start the deployment of ``revision`` with ``desired_count`` tasks."""
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html
    try:
        ecs.update_service(
            cluster=cluster, service=service, taskDefinition=revision, desiredCount=desired_count
        )
    except ClientError as error:
        code = error_code(error)
        if code not in MISSING_CODES:
            raise
        raise JobFailure(
            CONFIGURATION_ERROR, f"cannot update service {shown(f'{cluster}/{service}')}: {code}"
        ) from error


def service(ecs: ECSClient, cluster: str, name: str) -> dict[str, Any] | None:
    """The service with its deployments; ``None`` when ECS reports it among ``failures``."""
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html
    described = ecs.describe_services(cluster=cluster, services=[name])
    services = described.get("services") or []
    return cast("dict[str, Any]", services[0]) if services else None
