"""ECS deployments in the emulator: what DescribeServices answers after UpdateService, and how
the deploy step's ``rollout.judge`` reads it, when the release's image is in the registry, when
it is not, and when a failure was seeded."""

from __future__ import annotations

import json
import urllib.error
from typing import Any

import pytest
from moto.ecs.models import EC2ContainerServiceBackend

from tap_cicd.deploy import rollout
from tap_cicd.local import services
from tap_cicd.local.services import ecs

from .conftest import post
from .test_registry import push_image

REGION = "us-east-1"
TARGET_GROUP = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg/0123456789abcdef"
MISSING = "sha256:" + "e" * 64


def client() -> Any:
    return services.client("ecs", REGION)


def definition(image: str) -> str:
    """A revision of the family ``app`` whose container runs ``image``."""
    registered = client().register_task_definition(
        family="app", containerDefinitions=[{"name": "app", "image": image, "memory": 512}]
    )
    return str(registered["taskDefinition"]["taskDefinitionArn"])


def service(
    template: str,
    *,
    breaker: dict[str, bool] | None,
    controller: str = "ECS",
    desired: int = 0,
    **more: Any,
) -> None:
    """Cluster ``c`` and service ``s`` on ``template``, with the circuit breaker as given.

    moto's CreateService drops ``deploymentConfiguration``; UpdateService keeps it (what the
    local provider does, ``quirks.ecs_service_created``)."""
    client().create_cluster(clusterName="c")
    client().create_service(
        cluster="c",
        serviceName="s",
        taskDefinition=template,
        desiredCount=desired,
        deploymentController={"type": controller},
        **more,
    )
    if breaker is not None:
        configuration = {"deploymentCircuitBreaker": breaker}
        client().update_service(cluster="c", service="s", deploymentConfiguration=configuration)


def release(revision: str, **more: Any) -> dict[str, Any]:
    """The deploy step's UpdateService, then DescribeServices's service."""
    client().update_service(
        cluster="c", service="s", taskDefinition=revision, desiredCount=2, **more
    )
    described: dict[str, Any] = client().describe_services(cluster="c", services=["s"])["services"][
        0
    ]
    return described


def config(template: str) -> rollout.RolloutConfig:
    return rollout.RolloutConfig(cluster="c", service="s", task_definition=template)


def registry_image(live: str, reference: str = "v1") -> str:
    """A pushed image of repository ``app``: ``<registry>/app@<digest>``."""
    services.client("ecr", REGION).create_repository(repositoryName="app")
    image_digest, _ = push_image(live, "app", reference)
    return f"{services.registry_host()}/app@{image_digest}"


def states(described: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(d["status"], d["taskDefinition"], d["rolloutState"]) for d in described["deployments"]]


# --- completed -----------------------------------------------------------------------------------


def test_an_image_the_registry_holds_completes_the_deployment(live: str) -> None:
    template = definition(f"{services.registry_host()}/app:bootstrap")
    service(template, breaker={"enable": True, "rollback": True})
    revision = definition(registry_image(live))
    described = release(revision)
    [deployment] = described["deployments"]
    assert (deployment["status"], deployment["taskDefinition"]) == ("PRIMARY", revision)
    assert (deployment["rolloutState"], deployment["runningCount"]) == ("COMPLETED", 2)
    assert deployment["rolloutStateReason"] == f"ECS deployment {deployment['id']} completed."
    assert described["taskDefinition"] == revision
    progress = rollout.judge(described, revision, config(template))
    assert progress.state == rollout.COMPLETED


@pytest.mark.parametrize("image", ["{host}/app:v1", "{host}/app"])
def test_images_named_by_tag_or_latest(live: str, image: str) -> None:
    template = definition("bootstrap")
    service(template, breaker=None)
    registry_image(live, reference="v1")
    push_image(live, "app", "latest", b"latest")
    revision = definition(image.format(host=services.registry_host()))
    assert states(release(revision)) == [("PRIMARY", revision, "COMPLETED")]


def test_a_forced_deployment_is_a_new_deployment_and_a_count_change_is_not(live: str) -> None:
    template = definition(registry_image(live))
    service(template, breaker=None)
    first = client().describe_services(cluster="c", services=["s"])["services"][0]
    forced = client().update_service(cluster="c", service="s", forceNewDeployment=True)
    [deployment] = forced["service"]["deployments"]
    assert deployment["id"] != first["deployments"][0]["id"]
    assert (deployment["taskDefinition"], deployment["rolloutState"]) == (template, "COMPLETED")
    scaled = client().update_service(cluster="c", service="s", desiredCount=3)
    assert [d["id"] for d in scaled["service"]["deployments"]] == [deployment["id"]]


def test_other_deployment_controllers_are_left_to_moto(live: str) -> None:
    del live
    template = definition("bootstrap")
    service(template, breaker=None, controller="CODE_DEPLOY")
    described = release(definition("elsewhere"))
    assert described["deployments"] == []


# --- failed --------------------------------------------------------------------------------------


def test_a_missing_image_fails_and_the_breaker_rolls_back(live: str) -> None:
    template = definition(registry_image(live))
    service(template, breaker={"enable": True, "rollback": True})
    previous = client().describe_services(cluster="c", services=["s"])["services"][0]
    image = f"{services.registry_host()}/app@{MISSING}"
    revision = definition(image)
    described = release(revision)

    assert described["taskDefinition"] == template
    assert states(described) == [
        ("PRIMARY", template, "COMPLETED"),
        ("ACTIVE", revision, "FAILED"),
    ]
    back, failed = described["deployments"]
    assert back["rolloutStateReason"] == (
        "ECS deployment circuit breaker: rolling back to deploymentId "
        f"{previous['deployments'][0]['id']}."
    )
    assert back["id"] not in (failed["id"], previous["deployments"][0]["id"])
    assert (back["runningCount"], failed["runningCount"], failed["failedTasks"]) == (2, 0, 3)
    assert failed["rolloutStateReason"] == (
        "ECS deployment circuit breaker: tasks failed to start. (CannotPullContainerError: pull "
        f"image manifest has been retried 5 time(s): failed to resolve ref {image}: {image}: "
        "not found)"
    )
    progress = rollout.judge(described, revision, config(template))
    assert progress.state == rollout.FAILED
    assert "CannotPullContainerError" in progress.detail
    assert f"running again: {template} COMPLETED" in progress.detail


def test_without_rollback_the_failed_deployment_stays_primary(live: str) -> None:
    template = definition(registry_image(live))
    service(template, breaker={"enable": True, "rollback": False})
    revision = definition("public.ecr.aws/docker/library/nginx:latest")
    described = release(revision)
    assert described["taskDefinition"] == revision
    assert states(described) == [
        ("PRIMARY", revision, "FAILED"),
        ("ACTIVE", template, "COMPLETED"),  # its tasks keep running
    ]
    reason = described["deployments"][0]["rolloutStateReason"]
    assert "failed to resolve ref public.ecr.aws/docker/library/nginx:latest" in reason
    progress = rollout.judge(described, revision, config(template))
    assert (progress.state, progress.detail.startswith(f"the rollout of {revision} FAILED")) == (
        rollout.FAILED,
        True,
    )


def test_without_a_completed_deployment_there_is_nothing_to_roll_back_to(live: str) -> None:
    # Created with one task and no running ones: moto's first deployment is IN_PROGRESS.
    template = definition("bootstrap")
    service(template, breaker={"enable": True, "rollback": True}, desired=1)
    revision = definition(f"{services.registry_host()}/absent:v1")
    described = release(revision)
    assert states(described) == [
        ("PRIMARY", revision, "FAILED"),
        ("ACTIVE", template, "IN_PROGRESS"),
    ]
    assert rollout.judge(described, revision, config(template)).state == rollout.FAILED
    del live


def test_without_the_breaker_the_rollout_never_ends(live: str) -> None:
    template = definition(registry_image(live))
    service(template, breaker={"enable": False, "rollback": False})
    revision = definition(f"{services.registry_host()}/app:absent")
    described = release(revision)
    assert states(described) == [
        ("PRIMARY", revision, "IN_PROGRESS"),
        ("ACTIVE", template, "COMPLETED"),
    ]
    deployment = described["deployments"][0]
    assert deployment["failedTasks"] == 3
    assert deployment["rolloutStateReason"] == f"ECS deployment {deployment['id']} in progress."
    assert rollout.judge(described, revision, config(template)).state == rollout.IN_PROGRESS


def test_the_breaker_threshold_is_half_the_desired_count_from_3_to_200() -> None:
    assert [ecs._threshold(n) for n in (1, 6, 7, 10, 400, 1000)] == [3, 3, 4, 5, 200, 200]


# --- seeded failures -----------------------------------------------------------------------------


def test_a_seeded_failure_fails_the_next_deployment_once(live: str) -> None:
    image = registry_image(live)
    template = definition(image)
    load_balancers = [{"targetGroupArn": TARGET_GROUP, "containerName": "app", "containerPort": 80}]
    service(template, breaker={"enable": True, "rollback": True}, loadBalancers=load_balancers)
    answer = post(live, "/_tap/ecs/failures", {"cluster": "c", "service": "s"})
    assert answer == {"cluster": "c", "service": "s", "reason": None}
    revision = definition(image)
    described = release(revision)
    assert states(described)[1] == ("ACTIVE", revision, "FAILED")
    assert described["deployments"][1]["rolloutStateReason"] == (
        "ECS deployment circuit breaker: tasks failed to start. "
        f"(Task failed ELB health checks in (target-group {TARGET_GROUP}))"
    )
    assert rollout.judge(described, revision, config(template)).state == rollout.FAILED
    # Once: the same release again completes.
    assert states(release(revision)) == [("PRIMARY", revision, "COMPLETED")]


def test_a_seeded_reason_and_a_service_without_load_balancer(live: str) -> None:
    image = registry_image(live)
    template = definition(image)
    service(template, breaker={"enable": True, "rollback": False})
    cluster_arn = client().describe_clusters(clusters=["c"])["clusters"][0]["clusterArn"]
    post(live, "/_tap/ecs/failures", {"cluster": cluster_arn, "service": "s", "reason": "boom"})
    described = release(definition(image))
    assert described["deployments"][0]["rolloutStateReason"].endswith("(boom)")
    post(live, "/_tap/ecs/failures", {"cluster": "c", "service": "s"})
    described = release(definition(image))
    assert described["deployments"][0]["rolloutStateReason"].endswith(
        "(Task failed ELB health checks)"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"service": "s"}, "cluster must be a non-empty string"),
        ({"cluster": "c", "service": " "}, "service must be a non-empty string"),
        ({"cluster": "c", "service": "s", "reason": 3}, "reason must be a non-empty string"),
        ({"cluster": "c", "service": "absent"}, "service: no ECS service absent in cluster c"),
    ],
)
def test_bad_failure_bodies_name_the_field(live: str, body: dict[str, Any], message: str) -> None:
    service(definition("bootstrap"), breaker=None)
    with pytest.raises(urllib.error.HTTPError) as raised:
        post(live, "/_tap/ecs/failures", body)
    assert raised.value.code == 400
    assert json.loads(raised.value.read())["message"] == message


def test_reset_forgets_seeded_failures(live: str) -> None:
    template = definition(registry_image(live))
    service(template, breaker={"enable": True, "rollback": True})
    post(live, "/_tap/ecs/failures", {"cluster": "c", "service": "s"})
    post(live, "/_tap/reset")
    revision = definition(f"{services.registry_host()}/app:v1")
    assert states(release(revision)) == [("PRIMARY", revision, "COMPLETED")]


def test_install_is_idempotent(live: str) -> None:
    del live  # installed once by the fixture
    patched = EC2ContainerServiceBackend.update_service
    ecs.install()
    assert EC2ContainerServiceBackend.update_service is patched
