"""ECS: the cluster's settings, task definition revisions (a change is a new revision, a
delete deregisters that one), the service (scaled to 0 before it is deleted)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tap_cicd.local.provider import HANDLERS, Context, ecs, registry

from . import test_ec2, test_elbv2
from .conftest import TAGS, URN, create, delete, recorded, update
from .test_ec2 import Inputs, Make, group, made, subnet, vpc

CONTAINERS = [
    {
        "name": "app",
        "image": "nginx:latest",
        "essential": True,
        "portMappings": [{"containerPort": 80}],
    }
]
INSIGHTS = {"name": "containerInsights", "value": "enabled"}


def definition_inputs(image: str = "nginx:latest") -> Inputs:
    containers = [{**CONTAINERS[0], "image": image}]
    return {
        "family": "tap-app",
        "cpu": "256",
        "memory": "512",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "executionRoleArn": "arn:aws:iam::123456789012:role/tap-exec",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "containerDefinitions": json.dumps(containers),
    }


def cluster(ctx: Context) -> str:
    return made(ecs.CLUSTER, ctx, {"name": "tap-cluster"})


def service_inputs(ctx: Context) -> Inputs:
    vpc_id = vpc(ctx)
    made(ecs.TASK_DEFINITION, ctx, definition_inputs())
    return {
        "name": "tap-svc",
        "cluster": cluster(ctx),
        "taskDefinition": "tap-app",
        "desiredCount": 2.0,
        "launchType": "FARGATE",
        "networkConfiguration": {
            "subnets": [subnet(ctx, vpc_id)],
            "securityGroups": [group(ctx, vpc_id)],
            "assignPublicIp": False,
        },
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        "deploymentMinimumHealthyPercent": 100.0,
        "deploymentMaximumPercent": 200.0,
        "propagateTags": "SERVICE",
        "enableEcsManagedTags": True,
    }


TABLE: dict[str, tuple[Make, Callable[[Any, Inputs], bool], Callable[[Any], str] | None]] = {
    ecs.CLUSTER.type: (
        lambda _ctx: ({"name": "tap-cluster"}, {"settings": [INSIGHTS]}),
        lambda found, _c: found["settings"] == [INSIGHTS],
        lambda found: found["clusterArn"],
    ),
    ecs.TASK_DEFINITION.type: (
        lambda _ctx: (definition_inputs(), {"tags": {"Team": "a"}}),
        lambda found, _c: {"key": "Team", "value": "a"} in found["tags"],
        lambda found: found["taskDefinitionArn"],
    ),
    ecs.SERVICE.type: (
        lambda ctx: (service_inputs(ctx), {"desiredCount": 3.0}),
        lambda found, _c: found["desiredCount"] == 3,
        lambda found: found["serviceArn"],
    ),
}
"""Rows of the registry table (``test_registry.py``): make, changed, ARN in the read."""


def active_revisions(ctx: Context) -> list[str]:
    found = ctx.clients("ecs").list_task_definitions(familyPrefix="tap-app", status="ACTIVE")
    arns: list[str] = found["taskDefinitionArns"]
    return arns


def test_a_changed_task_definition_is_a_new_revision_and_the_old_one_is_deregistered(
    ctx: Context,
) -> None:
    operations = HANDLERS[ecs.TASK_DEFINITION.type]
    assert {"containerDefinitions", "cpu", "family"} <= set(operations.replace_on)
    first = definition_inputs()
    family, outputs = create(ecs.TASK_DEFINITION, ctx, {**first, "tags": TAGS})
    assert family == "tap-app"
    without = ctx.arn("ecs", "task-definition/tap-app")
    assert outputs == {"arn": f"{without}:1", "arnWithoutRevision": without, "revision": 1}
    second = definition_inputs("nginx:1.27")
    _, outputs = create(ecs.TASK_DEFINITION, ctx, second)
    assert outputs["revision"] == 2
    # The replaced resource's delete (after the run) deregisters its own revision only.
    delete(ecs.TASK_DEFINITION, ctx, family, {**first, "tags": TAGS})
    assert active_revisions(ctx) == [f"{without}:2"]
    assert operations.read(ctx, family, {**first, "tags": TAGS}) is None
    assert operations.read(ctx, family, second)["revision"] == 2


def test_an_interrupted_runs_revision_is_adopted_not_registered_again(ctx: Context) -> None:
    inputs = {**definition_inputs(), "tags": TAGS}
    create(ecs.TASK_DEFINITION, ctx, inputs)
    _, outputs = create(ecs.TASK_DEFINITION, ctx, inputs)
    assert outputs["revision"] == 1
    assert len(active_revisions(ctx)) == 1
    tags = HANDLERS[ecs.TASK_DEFINITION.type].tags_of(ctx, "tap-app", inputs)
    assert tags is not None
    assert tags.items() >= TAGS.items()
    assert ecs.REVISION_TAG in tags


def test_task_definition_tags_change_in_place_and_its_read_ignores_them(ctx: Context) -> None:
    inputs = definition_inputs()
    family, _ = create(ecs.TASK_DEFINITION, ctx, inputs)
    tagged = {**inputs, "tags": TAGS}
    assert update(ecs.TASK_DEFINITION, ctx, family, inputs, tagged)["revision"] == 1
    # Refresh reads with the inputs as stored, without the deployer's ownership tags.
    found = HANDLERS[ecs.TASK_DEFINITION.type].read(ctx, family, inputs)
    assert {"key": "Project", "value": "pipeline"} in found["tags"]
    assert active_revisions(ctx) == [found["taskDefinitionArn"]]


def test_service_is_scaled_to_zero_then_deleted(ctx: Context) -> None:
    inputs = service_inputs(ctx)
    service, outputs = create(ecs.SERVICE, ctx, inputs)
    assert service == ctx.arn("ecs", "service/tap-cluster/tap-svc")
    assert outputs == {"arn": service}
    sent = recorded(ctx.clients("ecs"), "ecs.UpdateService")
    deleted = recorded(ctx.clients("ecs"), "ecs.DeleteService")
    delete(ecs.SERVICE, ctx, service, inputs)
    assert [call["desiredCount"] for call in sent] == [0]
    assert deleted == [{"cluster": inputs["cluster"], "service": service}]
    assert HANDLERS[ecs.SERVICE.type].read(ctx, service, inputs) is None
    observe = HANDLERS[ecs.SERVICE.type].observe
    assert observe is not None
    assert observe(ctx, service, inputs) is None
    delete(ecs.SERVICE, ctx, service, inputs)  # gone already: nothing to scale
    assert len(deleted) == 1


def test_service_sends_the_provider_shapes(ctx: Context) -> None:
    inputs = service_inputs(ctx)
    group_arn = ctx.arn("elasticloadbalancing", "targetgroup/tap-tg/0123456789abcdef")
    balanced = {"targetGroupArn": group_arn, "containerName": "app", "containerPort": 80.0}
    inputs |= {"loadBalancers": [balanced], "healthCheckGracePeriodSeconds": 60.0}
    sent = recorded(ctx.clients("ecs"), "ecs.CreateService")
    create(ecs.SERVICE, ctx, inputs)
    assert sent[0]["loadBalancers"] == [{**balanced, "containerPort": 80}]
    assert sent[0]["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    assert sent[0]["deploymentConfiguration"] == {
        "minimumHealthyPercent": 100,
        "maximumPercent": 200,
        "deploymentCircuitBreaker": {"enable": True, "rollback": True},
    }
    assert (sent[0]["enableECSManagedTags"], sent[0]["propagateTags"]) == (True, "SERVICE")
    assert sent[0]["healthCheckGracePeriodSeconds"] == 60


def test_a_bridge_service_has_no_network_or_circuit_breaker(ctx: Context) -> None:
    made(ecs.TASK_DEFINITION, ctx, {**definition_inputs(), "networkMode": "bridge"})
    inputs = {"name": "tap-svc", "cluster": cluster(ctx), "taskDefinition": "tap-app"}
    sent = recorded(ctx.clients("ecs"), "ecs.CreateService")
    create(ecs.SERVICE, ctx, {**inputs, "launchType": "EC2"})
    assert "networkConfiguration" not in sent[0]
    assert sent[0]["deploymentConfiguration"] == {
        "minimumHealthyPercent": 100,
        "maximumPercent": 200,
    }
    assert (sent[0]["desiredCount"], sent[0]["launchType"]) == (0, "EC2")


def test_a_settings_update_leaves_the_release_alone(ctx: Context) -> None:
    """The revision and count change alone: ``ignoreChanges`` on them never rolls back."""
    inputs = service_inputs(ctx)
    service, _ = create(ecs.SERVICE, ctx, inputs)
    sent = recorded(ctx.clients("ecs"), "ecs.UpdateService")
    update(ecs.SERVICE, ctx, service, inputs, {**inputs, "propagateTags": "TASK_DEFINITION"})
    assert "taskDefinition" not in sent[0]
    assert "desiredCount" not in sent[0]
    update(ecs.SERVICE, ctx, service, inputs, {**inputs, "taskDefinition": "tap-app:1"})
    # moto keeps what it is sent: it gets the revision's ARN, as AWS resolves it.
    assert sent[1]["taskDefinition"] == ctx.arn("ecs", "task-definition/tap-app:1")
    assert set(sent[1]) == {"cluster", "service", "taskDefinition"}


def test_deploying_twice_shows_no_drift(ctx: Context) -> None:
    """What moves by itself (events, deployments, task counts) is not drift."""
    inputs = {**service_inputs(ctx), "tags": TAGS}
    operations = HANDLERS[ecs.SERVICE.type]
    assert operations.observe is not None
    service, _ = create(ecs.SERVICE, ctx, inputs)
    before = operations.observe(ctx, service, inputs)
    assert create(ecs.SERVICE, ctx, inputs)[0] == service  # adopted: every step runs again
    assert operations.observe(ctx, service, inputs) == before
    # A release (the deploy step's revision and count) is not drift; a setting is.
    released = ctx.arn("ecs", "task-definition/tap-app:1")
    ctx.clients("ecs").update_service(
        cluster=inputs["cluster"], service=service, taskDefinition=released, desiredCount=5
    )
    assert operations.observe(ctx, service, inputs) == before
    update(ecs.SERVICE, ctx, service, inputs, {**inputs, "deploymentMaximumPercent": 150.0})
    assert operations.observe(ctx, service, inputs) != before
    cluster_arn = inputs["cluster"]
    seen = HANDLERS[ecs.CLUSTER.type].observe
    assert seen is not None
    assert seen(ctx, cluster_arn, {"name": "tap-cluster"}) is not None


def test_cluster_settings_tags_and_its_delete(ctx: Context) -> None:
    inputs = {"name": "tap-cluster", "settings": [INSIGHTS], "tags": TAGS}
    cluster_arn, outputs = create(ecs.CLUSTER, ctx, inputs)
    assert cluster_arn == outputs["arn"] == ctx.arn("ecs", "cluster/tap-cluster")
    found = HANDLERS[ecs.CLUSTER.type].read(ctx, cluster_arn, inputs)
    assert found["settings"] == [INSIGHTS]
    assert HANDLERS[ecs.CLUSTER.type].tags_of(ctx, cluster_arn, {}) == TAGS
    update(ecs.CLUSTER, ctx, cluster_arn, inputs, {"name": "tap-cluster"})
    found = HANDLERS[ecs.CLUSTER.type].read(ctx, cluster_arn, inputs)
    assert found["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    delete(ecs.CLUSTER, ctx, cluster_arn)
    assert HANDLERS[ecs.CLUSTER.type].tags_of(ctx, cluster_arn, {}) is None


def test_offline_forms_what_it_can_and_skips_what_it_cannot() -> None:
    service = registry.synthesised(
        ecs.SERVICE.type, "svc", {"name": "svc", "cluster": "c"}, "123456789012", "us-east-1"
    )
    assert service == (SERVICE_ARN, {"arn": SERVICE_ARN})
    definition = registry.synthesised(
        ecs.TASK_DEFINITION.type, "td", {"family": "f"}, "123456789012", "us-east-1"
    )
    assert definition is not None
    assert definition[1]["revision"] == 1
    assert registry.synthesised("aws:ecs/unknown:Unknown", "x", {}, "1", "us-east-1") is None
    # No name: Pulumi's autonaming, which the mocks do not do.
    assert registry.synthesised(ecs.CLUSTER.type, "c", {}, "123456789012", "us-east-1") is None


SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/c/svc"


NETWORK_TABLE = {**test_ec2.TABLE, **test_elbv2.TABLE, **TABLE}


@pytest.mark.parametrize("token", sorted(NETWORK_TABLE))
def test_a_second_deploy_of_the_same_inputs_is_not_drift(token: str, ctx: Context) -> None:
    """Deployed again (adopted, every step run again), each type reads back the same."""
    operations = HANDLERS[token]
    assert operations.observe is not None
    inputs, _ = NETWORK_TABLE[token][0](ctx)
    resource_id, _ = operations.create(ctx, URN, inputs)
    before = operations.observe(ctx, resource_id, inputs)
    assert operations.create(ctx, URN, inputs)[0] == resource_id
    assert operations.observe(ctx, resource_id, inputs) == before
