"""The service's documents, literal: the rollout grants, the task roles, the approval grant
and the container definition."""

from __future__ import annotations

from typing import Any

from tap_cicd import documents as d

KEY = "arn:aws:kms:eu-west-1:111122223333:key/k"
REPOSITORY = "arn:aws:ecr:eu-west-1:111122223333:repository/r"
LOG_GROUP = "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/p-task-dev"
SERVICE = "arn:aws:ecs:eu-west-1:111122223333:service/p-cluster-dev/p-service-dev"
ROLES = [
    "arn:aws:iam::111122223333:role/p-task-execution-role-dev",
    "arn:aws:iam::111122223333:role/p-task-role-dev",
]
TOPIC = "arn:aws:sns:eu-west-1:111122223333:t"
KMS_USE = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
    "kms:DescribeKey",
]


def by_sid(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert doc["Version"] == "2012-10-17"
    return {s["Sid"]: s for s in doc["Statement"]}


def deploy_policy(**rollout: Any) -> dict[str, Any]:
    return d.deploy_role_policy(
        log_group_arn="arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/f",
        failure_queue_arn="arn:aws:sqs:eu-west-1:111122223333:q",
        repository_arn=REPOSITORY,
        parameter_arn="arn:aws:ssm:eu-west-1:111122223333:parameter/p/dev/release",
        topic_arn=TOPIC,
        key_arn=KEY,
        region="eu-west-1",
        **rollout,
    )


def test_the_deploy_role_gains_exactly_the_rollout() -> None:
    record_only = by_sid(deploy_policy())
    with_rollout = by_sid(deploy_policy(service_arn=SERVICE, task_role_arns=ROLES))
    added = {sid: s for sid, s in with_rollout.items() if sid not in record_only}
    assert {sid: with_rollout[sid] for sid in record_only} == record_only
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
            "Resource": [SERVICE],
        },
        "PassTaskRolesToEcsTasks": {
            "Sid": "PassTaskRolesToEcsTasks",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": ROLES,
            "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
        },
    }


def test_only_the_documented_ecs_actions_take_star() -> None:
    assert set(d.STAR_ONLY_ACTIONS) >= {"ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"}
    assert "ecs:UpdateService" not in d.STAR_ONLY_ACTIONS
    assert "iam:PassRole" not in d.STAR_ONLY_ACTIONS


def test_task_execution_role_pulls_this_repository_and_writes_this_log_group() -> None:
    doc = d.task_execution_role_policy(
        repository_arn=REPOSITORY, log_group_arn=LOG_GROUP, key_arn=KEY, region="eu-west-1"
    )
    assert doc == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RegistryLogin",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken"],
                "Resource": ["*"],
            },
            {
                "Sid": "PullFromOwnRepository",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": [REPOSITORY],
            },
            {
                "Sid": "OwnLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [LOG_GROUP, f"{LOG_GROUP}:*"],
            },
            {
                "Sid": "PipelineKeyThroughEcr",
                "Effect": "Allow",
                "Action": KMS_USE,
                "Resource": [KEY],
                "Condition": {"StringEquals": {"kms:ViaService": ["ecr.eu-west-1.amazonaws.com"]}},
            },
        ],
    }


def test_task_roles_trust_ecs_tasks_only() -> None:
    assert d.trust_policy("ecs-tasks.amazonaws.com", "111122223333") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def test_the_approval_lets_the_pipeline_role_notify_the_topic() -> None:
    common = {
        "artifact_bucket_arn": "arn:aws:s3:::art",
        "source_bucket_arn": None,
        "connection_arn": None,
        "project_arn": "arn:aws:codebuild:eu-west-1:111122223333:project/p",
        "function_arn": "arn:aws:lambda:eu-west-1:111122223333:function:f",
        "key_arn": KEY,
        "region": "eu-west-1",
    }
    without = by_sid(d.pipeline_role_policy(**common))
    with_approval = by_sid(d.pipeline_role_policy(**common, approval_topic_arn=TOPIC))
    assert {sid: s for sid, s in with_approval.items() if sid not in without} == {
        "NotifyApprovers": {
            "Sid": "NotifyApprovers",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": [TOPIC],
        },
        "PipelineKeyThroughSns": {
            "Sid": "PipelineKeyThroughSns",
            "Effect": "Allow",
            "Action": KMS_USE,
            "Resource": [KEY],
            "Condition": {"StringEquals": {"kms:ViaService": ["sns.eu-west-1.amazonaws.com"]}},
        },
    }


def test_the_container_is_hardened_and_logs_to_the_stack_group() -> None:
    assert d.container_definitions(
        image="111122223333.dkr.ecr.eu-west-1.amazonaws.com/r:bootstrap",
        container_port=8080,
        log_group="/ecs/p-task-dev",
        region="eu-west-1",
    ) == [
        {
            "name": "app",
            "image": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/r:bootstrap",
            "essential": True,
            "readonlyRootFilesystem": True,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            "logConfiguration": {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": "/ecs/p-task-dev",
                    "awslogs-region": "eu-west-1",
                    "awslogs-stream-prefix": "service",
                },
            },
        }
    ]


def test_the_key_serves_the_service_log_group_when_there_is_one() -> None:
    groups = ["/aws/codebuild/p-build-dev", "/aws/lambda/p-deploy-dev", "/ecs/p-task-dev"]
    logs = by_sid(d.key_policy("111122223333", "eu-west-1", "aws", groups))
    condition = logs["CloudWatchLogsOfThisStack"]["Condition"]["ArnEquals"]
    assert condition["kms:EncryptionContext:aws:logs:arn"][-1] == (
        "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/p-task-dev"
    )
