# One weakening per line: the rule, the change and the expected message read as a table.
"""ECS rules (TAP-ECS-*): the rollout's resources comply, and each weakening fails with its message.

``service_stack`` is the service part of the stack as issue 12 asks for it (cluster, task
definition, service, ALB, listeners, target group, security groups), with the outputs the
rules link by; the ELB and network tests weaken the same stack.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tap_cicd.policy import ecs
from tap_cicd.policy import tokens as t
from tap_cicd.policy.catalog import RULES
from tap_cicd.policy.command import check_graph
from tap_cicd.policy.engine import Result, resources_of
from tap_cicd.policy.model import Resource

from .stacks import PREFIX, Stack, assert_compliant_passes, assert_weakened_fails, case_id

Weaken = Callable[[Stack], Any]

LB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/pipeline-dev/1"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pipeline-dev/2"
HTTPS_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/pipeline-dev/1/3"
HTTP_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/pipeline-dev/1/4"
EXECUTION_ROLE = "arn:aws:iam::123456789012:role/pipeline-task-execution-dev"
TASK_ROLE = "arn:aws:iam::123456789012:role/pipeline-task-dev"
LOG_GROUP = "/ecs/pipeline-dev"
ALB_SG = "sg-0a1b2c3d4e5f60001"
TASK_SG = "sg-0a1b2c3d4e5f60002"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pipeline-dev@sha256:" + "0" * 64


def _container(**changes: Any) -> dict[str, Any]:
    return {
        "name": "app",
        "image": IMAGE,
        "essential": True,
        "readonlyRootFilesystem": True,
        "privileged": False,
        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
        "environment": [{"name": "PORT", "value": "8080"}],
        "secrets": [{"name": "DB_PASSWORD", "valueFrom": SECRET}],
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": LOG_GROUP,
                "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": "app",
            },
        },
        **changes,
    }


def _resource(typ: str, name: str, props: dict[str, Any], **outputs: Any) -> Resource:
    urn = f"urn:pulumi:offline::tap::{typ}::{PREFIX}{name}"
    return Resource(urn, typ, PREFIX + name, props, {**props, **outputs})


def _world_rule(name: str, port: int, cidr: str = "0.0.0.0/0") -> Resource:
    key = "cidrIpv6" if ":" in cidr else "cidrIpv4"
    props = {"securityGroupId": ALB_SG, "ipProtocol": "tcp", "fromPort": port, "toPort": port}
    return _resource(t.INGRESS_RULE, name, {**props, key: cidr})


def service_resources() -> list[Resource]:
    """The compliant service stack (HTTPS configured)."""
    to_https = {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}
    return [
        _resource(t.LOG_GROUP, "service-logs", {"name": LOG_GROUP, "retentionInDays": 365}),
        _resource(
            t.CLUSTER,
            "cluster",
            {
                "name": "pipeline-dev",
                "settings": [{"name": "containerInsights", "value": "enabled"}],
            },
        ),
        _resource(
            t.TASK_DEFINITION,
            "task",
            {
                "family": "pipeline-dev",
                "containerDefinitions": json.dumps([_container()]),
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "cpu": "256",
                "memory": "512",
                "executionRoleArn": EXECUTION_ROLE,
                "taskRoleArn": TASK_ROLE,
            },
        ),
        _resource(t.VPC, "vpc", {"cidrBlock": "10.0.0.0/16"}, id="vpc-1"),
        _resource(t.SUBNET, "subnet-a", {"vpcId": "vpc-1", "mapPublicIpOnLaunch": False}),
        _resource(t.SECURITY_GROUP, "alb-sg", {"vpcId": "vpc-1", "ingress": []}, id=ALB_SG),
        _world_rule("alb-http", 80),
        _world_rule("alb-https", 443),
        _world_rule("alb-https-v6", 443, "::/0"),
        _resource(
            t.SECURITY_GROUP,
            "task-sg",
            {
                "vpcId": "vpc-1",
                "ingress": [
                    {
                        "protocol": "tcp",
                        "fromPort": 8080,
                        "toPort": 8080,
                        "securityGroups": [ALB_SG],
                    }
                ],
            },
            id=TASK_SG,
        ),
        _resource(
            t.EGRESS_RULE,
            "task-egress",
            {
                "securityGroupId": TASK_SG,
                "ipProtocol": "tcp",
                "fromPort": 443,
                "toPort": 443,
                "cidrIpv4": "0.0.0.0/0",
            },
        ),
        _resource(
            t.LOAD_BALANCER,
            "alb",
            {
                "internal": False,
                "loadBalancerType": "application",
                "securityGroups": [ALB_SG],
                "dropInvalidHeaderFields": True,
                "enableDeletionProtection": True,
            },
            arn=LB_ARN,
        ),
        _resource(
            t.TARGET_GROUP,
            "tg",
            {
                "targetType": "ip",
                "port": 8080,
                "protocol": "HTTP",
                "healthCheck": {"enabled": True, "path": "/", "matcher": "200-399"},
            },
            arn=TG_ARN,
        ),
        _resource(
            t.LISTENER,
            "https",
            {
                "loadBalancerArn": LB_ARN,
                "port": 443,
                "protocol": "HTTPS",
                "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
                "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/5",
                "defaultActions": [{"type": "forward", "targetGroupArn": TG_ARN}],
            },
            arn=HTTPS_ARN,
        ),
        _resource(
            t.LISTENER,
            "http",
            {
                "loadBalancerArn": LB_ARN,
                "port": 80,
                "protocol": "HTTP",
                "defaultActions": [{"type": "redirect", "redirect": to_https}],
            },
            arn=HTTP_ARN,
        ),
        _resource(
            t.SERVICE,
            "service",
            {
                "cluster": "pipeline-dev",
                "launchType": "FARGATE",
                "desiredCount": 0,
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "deploymentController": {"type": "ECS"},
                "networkConfiguration": {
                    "assignPublicIp": True,
                    "subnets": ["subnet-a"],
                    "securityGroups": [TASK_SG],
                },
                "enableEcsManagedTags": True,
                "loadBalancers": [
                    {"targetGroupArn": TG_ARN, "containerName": "app", "containerPort": 8080}
                ],
            },
        ),
    ]


@pytest.fixture
def service_stack() -> Stack:
    """A fresh, mutable copy of the compliant service stack."""
    return Stack(service_resources())


def results_of(stack: Stack, prefix: str) -> list[Result]:
    """The results of the rules whose id starts with ``prefix``."""
    return [r for r in stack.results(exemptions=()) if r.rule.id.startswith(prefix)]


def containers_of(change: Callable[[list[dict[str, Any]]], Any]) -> Weaken:
    """Change the task definition's container definitions (a JSON string)."""
    return lambda s: s.edit("task", change, key="containerDefinitions")  # type: ignore[arg-type]


def first_container(**fields: Any) -> Weaken:
    """Set (``None``: remove) fields of the first container."""

    def change(found: list[dict[str, Any]]) -> None:
        for key, value in fields.items():
            if value is None:
                found[0].pop(key, None)
            else:
                found[0][key] = value

    return containers_of(change)


def _options(**options: Any) -> Weaken:
    def change(found: list[dict[str, Any]]) -> None:
        found[0]["logConfiguration"]["options"].update(options)

    return containers_of(change)


def _env(name: str, value: str) -> Weaken:
    return containers_of(
        lambda found: found[0]["environment"].append({"name": name, "value": value})
    )


def _group_ingress(name: str, *rules: dict[str, Any]) -> Weaken:
    return lambda s: s.set(name, "ingress", list(rules))


NON_COMPLIANT: list[tuple[str, Weaken, str]] = [
    ("TAP-ECS-001", first_container(readonlyRootFilesystem=False), "container app has a writable root filesystem"),
    ("TAP-ECS-001", first_container(readonlyRootFilesystem=None), "container app has a writable root filesystem"),
    ("TAP-ECS-001", lambda s: s.set("task", "containerDefinitions", "[not json"), "containerDefinitions has no container"),
    ("TAP-ECS-001", lambda s: s.delete("task", "containerDefinitions"), "containerDefinitions has no container"),
    ("TAP-ECS-001", containers_of(lambda found: found.append(_container(name=None, readonlyRootFilesystem=False))), "container (unnamed) has a writable root filesystem"),
    ("TAP-ECS-002", first_container(privileged=True), "container app is privileged"),
    ("TAP-ECS-003", lambda s: s.set("task", "networkMode", "host"), "networkMode is host, not awsvpc"),
    ("TAP-ECS-003", lambda s: s.delete("task", "networkMode"), "networkMode is not set (bridge), not awsvpc"),
    ("TAP-ECS-004", first_container(logConfiguration=None), "container app has no logConfiguration"),
    ("TAP-ECS-004", first_container(logConfiguration={"logDriver": "json-file"}), "container app logs with json-file, not awslogs"),
    ("TAP-ECS-004", _options(**{"awslogs-group": ""}), "container app awslogs options lack awslogs-group"),
    ("TAP-ECS-004", first_container(logConfiguration={"logDriver": "awslogs"}), "lack awslogs-group, awslogs-region, awslogs-stream-prefix"),
    ("TAP-ECS-005", lambda s: s.set("task", "requiresCompatibilities", ["EC2"]), "requiresCompatibilities is [EC2], not [FARGATE]"),
    ("TAP-ECS-005", lambda s: s.set("task", "requiresCompatibilities", ["FARGATE", "EC2"]), "is [FARGATE, EC2], not [FARGATE]"),
    ("TAP-ECS-005", lambda s: s.delete("task", "requiresCompatibilities"), "requiresCompatibilities is [], not [FARGATE]"),
    ("TAP-ECS-006", _env("DB_PASSWORD", "hunter2"), "container app variable DB_PASSWORD looks like a secret but has a plain value"),
    ("TAP-ECS-006", _env("SIGNING_KEY", "k"), "variable SIGNING_KEY looks like a secret"),
    ("TAP-ECS-006", _env("ECS_ENGINE_AUTH_DATA", "{}"), "variable ECS_ENGINE_AUTH_DATA looks like a secret"),
    ("TAP-ECS-006", _env("GITHUB_TOKEN", "ghp_x"), "variable GITHUB_TOKEN looks like a secret"),
    ("TAP-ECS-007", lambda s: s.delete("task", "executionRoleArn"), "executionRoleArn is not set"),
    ("TAP-ECS-007", lambda s: s.set("task", "taskRoleArn", EXECUTION_ROLE), "the task role is the execution role"),
    ("TAP-ECS-008", lambda s: s.set("service", "deploymentCircuitBreaker.rollback", False), "deploymentCircuitBreaker.rollback is off"),
    ("TAP-ECS-008", lambda s: s.delete("service", "deploymentCircuitBreaker"), "deploymentCircuitBreaker.enable is off; deploymentCircuitBreaker.rollback is off"),
    ("TAP-ECS-008", lambda s: s.set("service", "deploymentController.type", "CODE_DEPLOY"), "deployment controller CODE_DEPLOY ignores the circuit breaker"),
    ("TAP-ECS-009", _group_ingress("task-sg", {"protocol": "tcp", "fromPort": 8080, "toPort": 8080, "cidrBlocks": ["10.0.0.0/16"]}), f"task security group {TASK_SG} takes tcp 8080 from 10.0.0.0/16 (rule in tap-cicd-task-sg)"),
    ("TAP-ECS-009", lambda s: s.add(t.INGRESS_RULE, "task-open", securityGroupId=TASK_SG, ipProtocol="tcp", fromPort=8080, toPort=8080, cidrIpv6="::/0"), f"task security group {TASK_SG} takes tcp 8080 from ::/0 (rule in tap-cicd-task-open)"),
    ("TAP-ECS-009", lambda s: s.add(t.SECURITY_GROUP_RULE, "task-prefix", type="ingress", securityGroupId=TASK_SG, protocol="tcp", fromPort=8080, toPort=8080, prefixListIds=["pl-123"]), "takes tcp 8080 from pl-123"),
    ("TAP-ECS-009", lambda s: s.set("service", "networkConfiguration.securityGroups", []), "public tasks without a security group get the default"),
    ("TAP-ECS-009", lambda s: s.set("service", "networkConfiguration.securityGroups", ["sg-elsewhere"]), "security group sg-elsewhere is not in the stack"),
    ("TAP-ECS-010", lambda s: s.set("service", "enableEcsManagedTags", False), "ECS-managed tags are off"),
    ("TAP-ECS-011", lambda s: s.set("cluster", "settings", [{"name": "containerInsights", "value": "disabled"}]), "containerInsights is disabled, not enabled"),
    ("TAP-ECS-011", lambda s: s.delete("cluster", "settings"), "containerInsights is not set, not enabled"),
    ("TAP-ECS-012", _options(**{"awslogs-group": "/ecs/elsewhere"}), "container app logs to /ecs/elsewhere, which the stack does not create"),
    ("TAP-ECS-012", lambda s: s.drop("service-logs"), f"logs to {LOG_GROUP}, which the stack does not create"),
]  # fmt: skip

COMPLIANT: list[tuple[str, Weaken]] = [
    ("TAP-ECS-002", first_container(privileged=None)),
    ("TAP-ECS-006", _env("KEYCLOAK_URL", "https://id.example.com")),
    ("TAP-ECS-006", _env("API_TOKEN", "")),
    ("TAP-ECS-006", containers_of(lambda found: found[0]["environment"].append("not a variable"))),
    ("TAP-ECS-007", lambda s: s.delete("task", "taskRoleArn")),
    ("TAP-ECS-008", lambda s: s.delete("service", "deploymentController")),
    # Without a public address, a task group may take an address range (not the world).
    ("TAP-ECS-009", lambda s: s.set("service", "networkConfiguration.assignPublicIp", False).set("task-sg", "ingress.0.cidrBlocks", ["10.0.0.0/16"])),
    ("TAP-ECS-009", lambda s: s.set("task-sg", "ingress.0.self", True)),
    ("TAP-ECS-011", lambda s: s.set("cluster", "settings", ["junk", {"name": "containerInsights", "value": "enhanced"}])),
    ("TAP-ECS-012", first_container(logConfiguration=None)),
]  # fmt: skip


def test_the_service_stack_passes_every_rollout_rule(service_stack: Stack) -> None:
    judged = [r for p in ("TAP-ECS", "TAP-ELB", "TAP-NET") for r in results_of(service_stack, p)]
    assert judged and all(r.status == "pass" for r in judged), [
        (r.rule.id, r.resource, r.reason) for r in judged if r.status != "pass"
    ]
    assert {r.rule.id for r in judged if r.resource != "-"} == {
        r.id for r in RULES if r.service in ("ecs", "elb", "network")
    }


@pytest.mark.parametrize("case", NON_COMPLIANT, ids=case_id)
def test_weakened_service_fails_with_the_rule_and_its_message(
    service_stack: Stack, case: tuple[str, Weaken, str]
) -> None:
    assert_weakened_fails(service_stack, case)


@pytest.mark.parametrize("case", COMPLIANT, ids=case_id)
def test_compliant_variant_passes(service_stack: Stack, case: tuple[str, Weaken]) -> None:
    assert_compliant_passes(service_stack, case)


def test_every_ecs_rule_has_a_non_compliant_case() -> None:
    assert {r.id for r in ecs.rules.rules} == {rule_id for rule_id, _, _ in NON_COMPLIANT}


def test_container_definitions_may_arrive_parsed() -> None:
    assert ecs.containers({"containerDefinitions": [_container(), "junk"]}) == [_container()]
    assert ecs.containers({"containerDefinitions": json.dumps({"name": "one"})}) == [
        {"name": "one"}
    ]


CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0f3e2d1c-aaaa-bbbb-cccc-0123456789ab"


@pytest.mark.parametrize("config", [{}, {"certificateArn": CERTIFICATE}], ids=["http", "https"])
def test_the_program_passes_the_rollout_rules(config: dict[str, str]) -> None:
    resources = resources_of(check_graph(config))
    results = [r for r in Stack(resources).results() if r.rule.service in ("ecs", "elb", "network")]
    assert [(r.rule.id, r.resource, r.reason) for r in results if r.blocking] == []
    # Every rule judged a resource of the program (none passed for want of something to judge).
    assert {r.rule.id for r in results if r.resource != "-"} == {
        r.id for r in RULES if r.service in ("ecs", "elb", "network")
    }
