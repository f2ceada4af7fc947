"""ECS: a hardened Fargate task, a service that rolls back by itself, an observed cluster.

The engine hands a task definition's containers over as one JSON string
(``containerDefinitions``, the ECS API's camelCase shape); the container rules parse it and
judge every container, naming the one that fails.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import Props, Registry, Resource, as_list, dig, of_type, secret_like
from tap_cicd.policy.network import groups_named, ingress_into

rules = Registry("ecs")

Container = Mapping[str, Any]

# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/using_awslogs.html: awslogs-group
# and awslogs-region are required, awslogs-stream-prefix too on Fargate.
AWSLOGS_OPTIONS = ("awslogs-group", "awslogs-region", "awslogs-stream-prefix")
INSIGHTS_ON = ("enabled", "enhanced")
# The names Security Hub ECS.8 looks for, beyond the secret-looking parts of model.secret_like.
ECS_SECRET_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "ECS_ENGINE_AUTH_DATA")


def containers(props: Props) -> list[Container]:
    """The container definitions (a JSON string, or already parsed); [] when absent or not JSON."""
    raw = props.get("containerDefinitions")
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        parsed = None
    return [c for c in as_list(parsed) if isinstance(c, Mapping)]


def _name(container: Container) -> str:
    return str(container.get("name") or "(unnamed)")


# https://docs.aws.amazon.com/securityhub/latest/userguide/ecs-controls.html#ecs-5
@rules.resource(
    "TAP-ECS-001",
    "A read-only root filesystem keeps an intruder from changing the image it runs in.",
    ("FSBP ECS.5", "CKV_AWS_336"),
    t.TASK_DEFINITION,
)
def read_only_root(_: str, props: Props) -> list[str]:
    """Every container has ``readonlyRootFilesystem`` true (and there is at least one)."""
    found = containers(props)
    if not found:
        return ["containerDefinitions has no container (missing or not JSON)"]
    return [
        f"container {_name(c)} has a writable root filesystem"
        for c in found
        if c.get("readonlyRootFilesystem") is not True
    ]


# https://docs.aws.amazon.com/securityhub/latest/userguide/ecs-controls.html#ecs-4
@rules.resource(
    "TAP-ECS-002",
    "A privileged container holds the host's root capabilities.",
    ("FSBP ECS.4",),
    t.TASK_DEFINITION,
)
def not_privileged(_: str, props: Props) -> list[str]:
    """No container is ``privileged``."""
    return [f"container {_name(c)} is privileged" for c in containers(props) if c.get("privileged")]


# https://docs.aws.amazon.com/securityhub/latest/userguide/ecs-controls.html#ecs-17; Fargate
# takes awsvpc only (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-task-networking.html).
@rules.resource(
    "TAP-ECS-003",
    "With awsvpc each task has its own interface and security group; host mode shares the "
    "host's network and its loopback services.",
    ("FSBP ECS.17",),
    t.TASK_DEFINITION,
)
def awsvpc_network(_: str, props: Props) -> list[str]:
    """``networkMode`` awsvpc."""
    mode = props.get("networkMode")
    if mode == "awsvpc":
        return []
    return [f"networkMode is {mode or 'not set (bridge)'}, not awsvpc"]


def _log_gaps(container: Container) -> list[str]:
    config = container.get("logConfiguration")
    if not isinstance(config, Mapping):
        return [f"container {_name(container)} has no logConfiguration"]
    if config.get("logDriver") != "awslogs":
        return [f"container {_name(container)} logs with {config.get('logDriver')}, not awslogs"]
    options = config.get("options") or {}
    missing = [o for o in AWSLOGS_OPTIONS if not options.get(o)]
    if missing:
        return [f"container {_name(container)} awslogs options lack {', '.join(missing)}"]
    return []


# https://docs.aws.amazon.com/securityhub/latest/userguide/ecs-controls.html#ecs-9
@rules.resource(
    "TAP-ECS-004",
    "Without container logs a failed rollout leaves no trace of why.",
    ("FSBP ECS.9", "NAG ECS7"),
    t.TASK_DEFINITION,
)
def container_logs(_: str, props: Props) -> list[str]:
    """Every container logs with awslogs, naming group, region and stream prefix."""
    return [gap for c in containers(props) for gap in _log_gaps(c)]


# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html
# (requiresCompatibilities): ECS validates the definition against each launch type it lists.
@rules.resource(
    "TAP-ECS-005",
    "Fargate runs each task in its own micro-VM, with no host for the team to patch or share.",
    (),
    t.TASK_DEFINITION,
)
def fargate_only(_: str, props: Props) -> list[str]:
    """``requiresCompatibilities`` is exactly [FARGATE]."""
    required = [str(c) for c in as_list(props.get("requiresCompatibilities"))]
    if required == ["FARGATE"]:
        return []
    return [f"requiresCompatibilities is [{', '.join(required)}], not [FARGATE]"]


def _secret_named(name: str) -> bool:
    parts = name.upper().split("_")
    return secret_like(name) or name.upper() in ECS_SECRET_NAMES or "KEY" in parts


# https://docs.aws.amazon.com/securityhub/latest/userguide/ecs-controls.html#ecs-8; secrets
# belong in ``secrets`` (valueFrom Secrets Manager or SSM), which ECS resolves at start.
@rules.resource(
    "TAP-ECS-006",
    "Plain environment values are readable by anyone who can describe the task definition.",
    ("FSBP ECS.8", "NAG ECS2"),
    t.TASK_DEFINITION,
    level="advisory",
)
def no_plain_secrets(_: str, props: Props) -> list[str]:
    """No secret-looking environment variable with a literal value."""
    return [
        f"container {_name(c)} variable {v.get('name')} looks like a secret but has a plain value"
        for c in containers(props)
        for v in as_list(c.get("environment"))
        if isinstance(v, Mapping) and v.get("value") and _secret_named(str(v.get("name")))
    ]


# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html
@rules.resource(
    "TAP-ECS-007",
    "The execution role pulls the image and writes the logs; the application's own role must "
    "not carry those rights.",
    ("CKV_AWS_249",),
    t.TASK_DEFINITION,
)
def execution_role(_: str, props: Props) -> list[str]:
    """``executionRoleArn`` set, and not the task role."""
    role = props.get("executionRoleArn")
    if not role:
        return ["executionRoleArn is not set"]
    if role == props.get("taskRoleArn"):
        return ["the task role is the execution role"]
    return []


# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html:
# the breaker works for the rolling update (ECS) deployment controller only.
@rules.resource(
    "TAP-ECS-008",
    "A release whose tasks never get healthy must roll back by itself, not wait for a human.",
    (),
    t.SERVICE,
)
def circuit_breaker(_: str, props: Props) -> list[str]:
    """Deployment circuit breaker with rollback, under the ECS deployment controller."""
    problems = [
        f"deploymentCircuitBreaker.{key} is off"
        for key in ("enable", "rollback")
        if dig(props, "deploymentCircuitBreaker", key) is not True
    ]
    controller = dig(props, "deploymentController", "type") or "ECS"
    if controller != "ECS":
        problems.append(f"deployment controller {controller} ignores the circuit breaker")
    return problems


def _group_gaps(resources: Sequence[Resource], public: bool, group_id: str) -> list[str]:
    groups = groups_named(resources, [group_id])
    if not groups:
        return [f"security group {group_id} is not in the stack, so its ingress is unknown"]
    gaps = []
    for carrier, rule in (pair for g in groups for pair in ingress_into(resources, g)):
        sources = rule.cidrs + rule.prefix_lists
        if rule.world() or (public and sources):
            gaps.append(
                f"task security group {group_id} takes {rule.describe()} from "
                f"{', '.join(sources)} (rule in {carrier.name})"
            )
    return gaps


# https://docs.aws.amazon.com/securityhub/latest/userguide/ecs-controls.html#ecs-2; tap's tasks
# need a public address to pull from ECR without a NAT gateway (issue 12), so the compensating
# control is that nothing but a security group (the load balancer's) may reach them.
@rules.stack(
    "TAP-ECS-009",
    "A task with a public address is reachable from the internet unless its security groups "
    "admit nothing but other security groups.",
    ("FSBP ECS.2", "CKV_AWS_333"),
    t.SERVICE,
)
def tasks_reachable_only_from_groups(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """No task group open to the world; with a public IP, task groups take groups only."""
    problems = []
    for service in of_type(resources, t.SERVICE):
        network = service.props.get("networkConfiguration") or {}
        public = network.get("assignPublicIp") is True
        group_ids = [str(g) for g in as_list(network.get("securityGroups"))]
        if public and not group_ids:
            problems.append((service.urn, "public tasks without a security group get the default"))
        problems += [
            (service.urn, gap) for g in group_ids for gap in _group_gaps(resources, public, g)
        ]
    return problems


# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ecs-using-tags.html
@rules.resource(
    "TAP-ECS-010",
    "ECS-managed tags mark each task with its cluster and service, for cost and incident tracing.",
    (),
    t.SERVICE,
    level="advisory",
)
def managed_tags(_: str, props: Props) -> list[str]:
    """``enableEcsManagedTags`` on."""
    return [] if props.get("enableEcsManagedTags") is True else ["ECS-managed tags are off"]


# https://docs.aws.amazon.com/securityhub/latest/userguide/ecs-controls.html#ecs-12
@rules.resource(
    "TAP-ECS-011",
    "Container Insights records the task and service metrics a failed rollout is diagnosed with.",
    ("FSBP ECS.12", "CKV_AWS_65", "NAG ECS4"),
    t.CLUSTER,
)
def container_insights(_: str, props: Props) -> list[str]:
    """Setting ``containerInsights`` enabled or enhanced."""
    values = [
        s.get("value")
        for s in as_list(props.get("settings"))
        if isinstance(s, Mapping) and s.get("name") == "containerInsights"
    ]
    if any(v in INSIGHTS_ON for v in values):
        return []
    return [f"containerInsights is {values[-1] if values else 'not set'}, not enabled"]


@rules.stack(
    "TAP-ECS-012",
    "A log group ECS or the awslogs driver creates has no retention and no key.",
    ("CKV_AWS_338", "CKV_AWS_158"),
    t.TASK_DEFINITION,
)
def logs_to_stack_groups(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """Every awslogs group a container names is a log group this stack creates."""
    groups = {g.props.get("name") for g in of_type(resources, t.LOG_GROUP)}
    return [
        (definition.urn, f"container {_name(c)} logs to {group}, which the stack does not create")
        for definition in of_type(resources, t.TASK_DEFINITION)
        for c in containers(definition.props)
        if (group := dig(c, "logConfiguration", "options", "awslogs-group")) and group not in groups
    ]
