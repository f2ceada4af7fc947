"""How the service is wired into the pipeline: the deploy step's rollout, the approval stage,
the outputs, and ``deployTarget`` ``none`` keeping the stack as it was."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ACCOUNT_ID, GITHUB, RECORD_ONLY, REGION, Program, deploy_stack

from tap_cicd.deploy.rollout import DEFAULT_ROLLOUT_WAIT_SECONDS

FUNCTION = "aws:lambda/function:Function"
PIPELINE = "aws:codepipeline/pipeline:Pipeline"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ECS = f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}"
SERVICE_COMPONENTS = ("tap:cicd:Network", "tap:cicd:Ingress", "tap:cicd:ContainerService")


@pytest.fixture(scope="module")
def ecs_program() -> Program:
    return deploy_stack({})


@pytest.fixture(scope="module")
def approval_program() -> Program:
    return deploy_stack(
        {
            "requireApproval": "true",
            "desiredCount": "3",
            "rolloutWaitSeconds": "900",
            "certificateArn": (
                f"arn:aws:acm:{REGION}:{ACCOUNT_ID}:certificate/"
                "0f3e2d1c-aaaa-bbbb-cccc-0123456789ab"
            ),
        }
    )


def statements(program: Program, role: str) -> dict[str, dict[str, Any]]:
    policy = json.loads(program.one(ROLE_POLICY, f"-{role}-role-policy").inputs["policy"])
    return {s["Sid"]: s for s in policy["Statement"]}


def role_arn(program: Program, name: str) -> str:
    [role] = [r for r in program.of("aws:iam/role:Role") if r.inputs["name"] == name]
    return str(role.outputs["arn"])


def test_the_deploy_function_is_told_what_to_roll_out(ecs_program: Program) -> None:
    variables = ecs_program.one(FUNCTION).inputs["environment"]["variables"]
    task = ecs_program.one("aws:ecs/taskDefinition:TaskDefinition").outputs["arn"]
    assert {k: v for k, v in variables.items() if k not in RECORD_ONLY_VARIABLES} == {
        "TAP_DEPLOY_TARGET": "ecs",
        "TAP_CLUSTER_NAME": "pipeline-cluster-dev",
        "TAP_SERVICE_NAME": "pipeline-service-dev",
        "TAP_TASK_DEFINITION": task,
        "TAP_CONTAINER_NAME": "app",
        "TAP_DESIRED_COUNT": "1",
        "TAP_ROLLOUT_WAIT_SECONDS": str(DEFAULT_ROLLOUT_WAIT_SECONDS),
    }
    assert task == f"{ECS}:task-definition/pipeline-task-dev:1"


RECORD_ONLY_VARIABLES = {
    "LOG_LEVEL",
    "TAP_TOPIC_ARN",
    "TAP_RELEASE_PARAMETER",
    "TAP_REPOSITORY_NAME",
    "TAP_FAIL_ON_SEVERITY",
    "TAP_ALLOWED_FINDINGS",
    "TAP_SCAN_WAIT_SECONDS",
}


def test_service_settings_reach_the_deploy_function(approval_program: Program) -> None:
    variables = approval_program.one(FUNCTION).inputs["environment"]["variables"]
    assert variables["TAP_DESIRED_COUNT"] == "3"
    assert variables["TAP_ROLLOUT_WAIT_SECONDS"] == "900"


def test_the_deploy_role_gains_exactly_the_rollout(ecs_program: Program) -> None:
    record_only = deploy_stack(RECORD_ONLY)
    before = statements(record_only, "deploy")
    after = statements(ecs_program, "deploy")
    assert {sid: after[sid] for sid in before} == before
    added = {sid: s for sid, s in after.items() if sid not in before}
    assert added == {
        "RegisterTaskDefinitionRevisions": {
            "Sid": "RegisterTaskDefinitionRevisions",
            "Effect": "Allow",
            "Action": ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"],
            "Resource": ["*"],
        },
        "RollOutOwnService": {
            "Sid": "RollOutOwnService",
            "Effect": "Allow",
            "Action": ["ecs:DescribeServices", "ecs:UpdateService"],
            "Resource": [f"{ECS}:service/pipeline-cluster-dev/pipeline-service-dev"],
        },
        "PassTaskRolesToEcsTasks": {
            "Sid": "PassTaskRolesToEcsTasks",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [
                f"arn:aws:iam::{ACCOUNT_ID}:role/pipeline-task-execution-role-dev",
                f"arn:aws:iam::{ACCOUNT_ID}:role/pipeline-task-role-dev",
            ],
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        },
    }
    # The roles the deploy step may pass are the task definition's, and only those.
    assert added["PassTaskRolesToEcsTasks"]["Resource"] == [
        role_arn(ecs_program, "pipeline-task-execution-role-dev"),
        role_arn(ecs_program, "pipeline-task-role-dev"),
    ]
    service = ecs_program.one("aws:ecs/service:Service").outputs["arn"]
    assert added["RollOutOwnService"]["Resource"] == [service]


def test_without_approval_build_goes_straight_to_deploy(ecs_program: Program) -> None:
    stages = ecs_program.one(PIPELINE).inputs["stages"]
    assert [s["name"] for s in stages] == ["Source", "Build", "Deploy"]
    assert "NotifyApprovers" not in statements(ecs_program, "pipeline")


def test_an_approval_stage_between_build_and_deploy_notifies_the_topic(
    approval_program: Program,
) -> None:
    stages = approval_program.one(PIPELINE).inputs["stages"]
    assert [s["name"] for s in stages] == ["Source", "Build", "Approve", "Deploy"]
    [action] = stages[2]["actions"]
    topic = approval_program.one("aws:sns/topic:Topic").outputs["arn"]
    assert {k: action[k] for k in ("category", "owner", "provider", "version")} == {
        "category": "Approval",
        "owner": "AWS",
        "provider": "Manual",
        "version": "1",
    }
    configuration = action["configuration"]
    assert configuration["NotificationArn"] == topic
    custom = configuration["CustomData"]
    assert "#{BuildVariables.IMAGE_DIGEST}" in custom
    assert "#{BuildVariables.IMAGE_TAG}" in custom
    assert "Scan result" in custom
    assert "HIGH" in custom
    assert len(custom) <= 500
    assert configuration["ExternalEntityLink"] == (
        f"https://{REGION}.console.aws.amazon.com/ecr/repositories/private/"
        f"{ACCOUNT_ID}/pipeline-images-dev?region={REGION}"
    )
    granted = statements(approval_program, "pipeline")
    assert granted["NotifyApprovers"]["Resource"] == [topic]
    assert granted["PipelineKeyThroughSns"]["Condition"] == {
        "StringEquals": {"kms:ViaService": [f"sns.{REGION}.amazonaws.com"]}
    }


def test_outputs_name_the_service(ecs_program: Program, approval_program: Program) -> None:
    dns = ecs_program.one("aws:lb/loadBalancer:LoadBalancer").outputs["dnsName"]
    assert ecs_program.outputs["serviceUrl"] == f"http://{dns}"
    assert ecs_program.outputs["clusterName"] == "pipeline-cluster-dev"
    assert ecs_program.outputs["serviceName"] == "pipeline-service-dev"
    https_dns = approval_program.one("aws:lb/loadBalancer:LoadBalancer").outputs["dnsName"]
    assert approval_program.outputs["serviceUrl"] == f"https://{https_dns}"


def identities(program: Program) -> list[tuple[str, str]]:
    """Type and logical name of every resource (the mocks register in completion order)."""
    return sorted((n.type, n.name) for n in program.nodes)


@pytest.mark.parametrize("source", [{}, GITHUB])
def test_none_keeps_the_stack_as_it_was(source: dict[str, str]) -> None:
    """Record only: the same resources as before the service, none of the service's."""
    record_only = deploy_stack({**source, **RECORD_ONLY})
    with_service = deploy_stack(source)
    service_parts = {n.urn for n in with_service.nodes if n.type in SERVICE_COMPONENTS}
    of_service = {
        (n.type, n.name)
        for n in with_service.nodes
        if n.type in SERVICE_COMPONENTS or n.parent in service_parts
    }
    assert identities(record_only) == [i for i in identities(with_service) if i not in of_service]
    assert of_service
    assert not [n for n in record_only.nodes if n.type.startswith(("aws:ecs", "aws:lb", "aws:ec2"))]
    assert not {"serviceUrl", "clusterName", "serviceName"} & set(record_only.outputs)
    variables = record_only.one(FUNCTION).inputs["environment"]["variables"]
    assert set(variables) == {*RECORD_ONLY_VARIABLES, "TAP_DEPLOY_TARGET"}
    assert variables["TAP_DEPLOY_TARGET"] == "none"
    assert record_only.one(FUNCTION).inputs["description"] == (
        "Verifies, gates and records a release, and answers CodePipeline"
    )


def test_registration_and_names_are_deterministic() -> None:
    first, second = deploy_stack({}), deploy_stack({})

    def resources(program: Program) -> list[tuple[str, str]]:
        return sorted(
            (n.urn, json.dumps(n.inputs, sort_keys=True, default=lambda o: type(o).__name__))
            for n in program.nodes
        )

    assert resources(first) == resources(second)
    assert len({n.urn for n in first.nodes}) == len(first.nodes)


def test_prefix_and_suffix_reach_the_service_names() -> None:
    program = deploy_stack({"namePrefix": "shop", "environmentSuffix": "pr-7"})
    named = {
        "aws:ecs/cluster:Cluster": "shop-cluster-pr-7",
        "aws:ecs/service:Service": "shop-service-pr-7",
        "aws:lb/loadBalancer:LoadBalancer": "shop-alb-pr-7",
        "aws:lb/targetGroup:TargetGroup": "shop-tg-pr-7",
    }
    for typ, name in named.items():
        assert program.one(typ).inputs["name"] == name
    task = program.one("aws:ecs/taskDefinition:TaskDefinition").inputs
    assert task["family"] == "shop-task-pr-7"
    tags = program.one("aws:ecs/service:Service").inputs["tags"]
    assert tags == {"Project": "shop", "Environment": "pr-7", "ManagedBy": "tap"}
