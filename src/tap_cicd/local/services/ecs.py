"""ECS service deployments in the emulator: they complete, or fail as the circuit breaker fails
them, depending on the registry.

moto's ``UpdateService`` changes the service's ``taskDefinition`` but leaves its
``deployments`` as ``CreateService`` made them. Here a new task definition (or
``forceNewDeployment``) under the ECS deployment controller starts a new PRIMARY deployment,
whose outcome is decided at once (the emulator runs no tasks): every container image must be
one the tasks could pull, that is an image of the emulator's registry that moto's ECR holds
(the emulator reaches no other registry). Then the deployment is COMPLETED, what AWS reports
once the tasks are healthy. Otherwise, or when a failure was seeded (``ROUTES``), the tasks fail
and the deployment circuit breaker acts as on AWS: the deployment FAILED and, with rollback, the
service back on the last completed deployment's task definition.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html
"""

from __future__ import annotations

import math
from typing import Any

from moto.core.utils import utcnow
from moto.ecs.models import EC2ContainerServiceBackend, Service, ecs_backends
from moto.moto_api._internal import mock_random

from tap_cicd.local import services
from tap_cicd.local.services import registry_store

PRIMARY, ACTIVE = "PRIMARY", "ACTIVE"
COMPLETED, FAILED, IN_PROGRESS = "COMPLETED", "FAILED", "IN_PROGRESS"
BREAKER_FAILED = "ECS deployment circuit breaker: tasks failed to start."
"""ECS's ``rolloutStateReason`` of a deployment the breaker failed, as ECS reports it
(https://github.com/aws/containers-roadmap/issues/1488); the emulator adds the tasks' reason."""
ROLLING_BACK = "ECS deployment circuit breaker: rolling back to deploymentId"
"""How ECS's ``rolloutStateReason`` names the deployment a rollback returns to."""
PULL_FAILED = "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
"""How a task's stopped reason begins when its image cannot be pulled.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html"""

_ORIGINALS: dict[str, Any] = {}
_FAILURES: dict[tuple[str, str], str | None] = {}
"""(cluster, service) -> the reason its next new deployment fails with (``None``: ECS's words
for a task failing its load balancer's health checks)."""


def _pull_error(image: str) -> str | None:
    """Why a task could not pull ``image`` (``None``: it can)."""
    host = services.registry_host()
    if not image.startswith(f"{host}/"):
        return f"{PULL_FAILED}failed to resolve ref {image}: the emulator reaches only {host}"
    path = image.removeprefix(f"{host}/")
    if "@" in path:
        name, reference = path.split("@", 1)
    elif ":" in path.rsplit("/", 1)[-1]:
        name, reference = path.rsplit(":", 1)
    else:
        name, reference = path, "latest"
    found = registry_store.find_repository(name)
    if found is not None and registry_store.find_image(found[1], reference) is not None:
        return None
    return f"{PULL_FAILED}failed to resolve ref {image}: {image}: not found"


def _health_check_failure(service: Service) -> str:
    """ECS's stopped reason for a task its target group found unhealthy.
    https://repost.aws/knowledge-center/ecs-task-stopped"""
    groups = [lb["targetGroupArn"] for lb in service.load_balancers if lb.get("targetGroupArn")]
    return "Task failed ELB health checks" + (f" in (target-group {groups[0]})" if groups else "")


def _failure(backend: EC2ContainerServiceBackend, service: Service) -> str | None:
    """Why the tasks of the service's new deployment fail (``None``: they run)."""
    key = (service.cluster_name, service.name)
    if key in _FAILURES:
        return _FAILURES.pop(key) or _health_check_failure(service)
    definition = backend.describe_task_definition(str(service.task_definition))
    for container in definition.container_definitions:
        reason = _pull_error(str(container.get("image", "")))
        if reason is not None:
            return reason
    return None


def _threshold(desired: int) -> int:
    """Failed tasks that trip the breaker: half the desired count, 3 to 200.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ServiceDeploymentCircuitBreaker.html"""
    return min(200, max(3, math.ceil(desired * 0.5)))


def _new_id() -> str:
    """A deployment id, as moto forms them."""
    return f"ecs-svc/{mock_random.randint(0, 32**12)}"


def _deployments(backend: EC2ContainerServiceBackend, service: Service) -> list[dict[str, Any]]:
    """The service's deployments once its new one has run its course."""
    prior: list[dict[str, Any]] = list(service.deployments or [])
    previous = next((d for d in prior if d.get("status") == PRIMARY), None)
    running = [{**previous, "status": ACTIVE}] if previous else []
    identifier, now, desired = _new_id(), utcnow(), service.desired_count
    deployment = {
        **(previous or {}),
        "id": identifier,
        "status": PRIMARY,
        "taskDefinition": service.task_definition,
        "desiredCount": desired,
        "runningCount": desired,
        "pendingCount": 0,
        "failedTasks": 0,
        "rolloutState": COMPLETED,
        "rolloutStateReason": f"ECS deployment {identifier} completed.",
        "createdAt": now,
        "updatedAt": now,
    }
    reason = _failure(backend, service)
    if reason is None:
        return [deployment]  # the previous deployment is drained: INACTIVE, no longer listed
    failed = {**deployment, "runningCount": 0, "failedTasks": _threshold(desired)}
    configuration = getattr(service, "deployment_configuration", None) or {}
    breaker = configuration.get("deploymentCircuitBreaker") or {}
    if not breaker.get("enable"):
        # Without the breaker ECS goes on starting tasks that fail: the rollout never ends.
        in_progress = f"ECS deployment {identifier} in progress."
        return [
            {**failed, "rolloutState": IN_PROGRESS, "rolloutStateReason": in_progress},
            *running,
        ]
    failed |= {"rolloutState": FAILED, "rolloutStateReason": f"{BREAKER_FAILED} ({reason})"}
    target = next((d for d in prior if d.get("rolloutState") == COMPLETED), None)
    if not breaker.get("rollback") or target is None:
        return [failed, *running]  # the previous deployment's tasks keep running
    # Rollback: a new deployment of the last completed one's task definition; the failed one
    # stays listed (ACTIVE) until drained.
    service.task_definition = target["taskDefinition"]
    rollback = {
        **target,
        "id": _new_id(),
        "status": PRIMARY,
        "desiredCount": desired,
        "runningCount": desired,
        "pendingCount": 0,
        "failedTasks": 0,
        "rolloutState": COMPLETED,
        "rolloutStateReason": f"{ROLLING_BACK} {target['id']}.",
        "createdAt": now,
        "updatedAt": now,
    }
    return [rollback, {**failed, "status": ACTIVE}]


def _update_service(
    self: EC2ContainerServiceBackend, service_properties: dict[str, Any]
) -> Service:
    """moto's UpdateService, then the new deployment (ECS deployment controller only)."""
    new_definition = bool(service_properties.get("task_definition"))
    # Taken out: moto would give the listed deployment a new id in place.
    forced = bool(service_properties.pop("force_new_deployment", False))
    service: Service = _ORIGINALS["update_service"](self, service_properties)
    if (new_definition or forced) and service.deployment_controller["type"] == "ECS":
        service.deployments = _deployments(self, service)
    return service


def seed_failure(body: dict[str, Any]) -> dict[str, Any]:
    """``ROUTES["ecs/failures"]``: the service's next new deployment fails, once, with
    ``reason`` (default: a task failing its load balancer's health checks)."""
    names = []
    for field in ("cluster", "service"):
        value = body.get(field)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{field} must be a non-empty string")
        names.append(value.rsplit("/", 1)[-1])
    cluster, service = names
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or not reason.strip()):
        raise ValueError("reason must be a non-empty string")
    backends = list(ecs_backends[services.DEFAULT_ACCOUNT].values())
    if not any(f"{cluster}:{service}" in backend.services for backend in backends):
        raise ValueError(f"service: no ECS service {service} in cluster {cluster}")
    _FAILURES[(cluster, service)] = reason
    return {"cluster": cluster, "service": service, "reason": reason}


ROUTES = {"ecs/failures": seed_failure}


def install() -> None:
    """Patch moto's UpdateService (idempotent)."""
    if _ORIGINALS:
        return
    _ORIGINALS["update_service"] = EC2ContainerServiceBackend.update_service
    EC2ContainerServiceBackend.update_service = _update_service  # type: ignore[method-assign]


def reset() -> None:
    """Forget seeded failures."""
    _FAILURES.clear()
