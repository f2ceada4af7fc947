"""ECS: the cluster, the task definition and the service.

A task definition never changes: every change but its tags registers a new revision (a
replacement) and deleting deregisters one. Its id is its family, as the provider has it, so
the revision a resource is gets a tag of its own (``tap:revision``, a digest of what was
registered, tags aside): the delete of a replaced one deregisters that revision, not the
family's newest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tap_cicd.local import quirks
from tap_cicd.local.provider.model import (
    ANY,
    ID,
    Call,
    Outputs,
    Ref,
    ResourceType,
    Step,
    Tags,
    Update,
    given,
    integer,
    lower_tags,
)

REVISION_TAG = "tap:revision"
"""On every task definition revision tap registers: a digest of what it registered."""

_TAGS = lower_tags({"resourceArn": ID}, pairs=("key", "value"))
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Tag.html


def _tags_in(read: Step) -> Step:
    """Tags as the describe call (``include=["TAGS"]``) carries them; ``None`` when gone."""

    def tags(ref: Ref) -> dict[str, str] | None:
        found = read(ref)
        return None if found is None else {t["key"]: t["value"] for t in found.get("tags") or []}

    return tags


def _active(key: str) -> Any:
    """The one resource a Describe* call answers, unless it is gone (INACTIVE, or a failure)."""
    return lambda _ref, answer: next((x for x in answer[key] if x["status"] == "ACTIVE"), None)


def _settings(ref: Ref) -> list[dict[str, str]]:
    # Container Insights is off unless a setting turns it on.
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ClusterSetting.html
    found = ref.inputs.get("settings") or [{"name": "containerInsights", "value": "disabled"}]
    return [{"name": s["name"], "value": s["value"]} for s in found]


_read_cluster = Call(
    "describe_clusters",
    clusters=lambda ref: [ref.id],
    include=["SETTINGS", "TAGS"],
    result=_active("clusters"),
)

CLUSTER = ResourceType(
    type="aws:ecs/cluster:Cluster",
    service="ecs",
    # The provider's id is the cluster's ARN.
    id=lambda ref: ref.arn("ecs", f"cluster/{ref.inputs['name']}"),
    # CreateCluster on a name that exists answers that cluster (moto's replaces it): look first.
    find=lambda ref: ref.id if _read_cluster(ref) is not None else None,
    create=Call("create_cluster", clusterName=given("name"), settings=_settings),
    read=_read_cluster,
    # Counters of what runs in it: they move with the services' tasks.
    volatile=(
        "registeredContainerInstancesCount",
        "runningTasksCount",
        "pendingTasksCount",
        "activeServicesCount",
        "statistics",
    ),
    updates=(
        # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateCluster.html
        Update(("settings",), Call("update_cluster", cluster=ID, settings=_settings)),
    ),
    delete=Call("delete_cluster", cluster=ID),
    tags=_TAGS,
    read_tags=_tags_in(_read_cluster),
    outputs=lambda ref: {"arn": ref.id},
    replace_on=("name",),
)

# RegisterTaskDefinition's parameters, by input.
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html
_DEFINITION = {
    "networkMode": "networkMode",
    "requiresCompatibilities": "requiresCompatibilities",
    "executionRoleArn": "executionRoleArn",
    "taskRoleArn": "taskRoleArn",
    "cpu": "cpu",
    "memory": "memory",
    "runtimePlatform": "runtimePlatform",
    "placementConstraints": "placementConstraints",
    "pidMode": "pidMode",
    "ipcMode": "ipcMode",
    "ephemeralStorage": "ephemeralStorage",
    "enableFaultInjection": "enableFaultInjection",
}
# Inputs tap's program does not set, whose shapes differ from the API's: not sent here.
_ALSO_NEW_REVISION = ("volumes", "proxyConfiguration", "region")


def _definition(ref: Ref) -> dict[str, Any]:
    """RegisterTaskDefinition's parameters, tags aside."""
    inputs = ref.inputs
    formed = {api: inputs[k] for k, api in _DEFINITION.items() if inputs.get(k) is not None}
    formed |= {k: str(formed[k]) for k in ("cpu", "memory") if k in formed}
    formed["family"] = inputs["family"]
    formed["containerDefinitions"] = json.loads(inputs["containerDefinitions"])
    return formed


def _digest(ref: Ref) -> str:
    return hashlib.sha256(json.dumps(_definition(ref), sort_keys=True).encode()).hexdigest()[:32]


def _register(ref: Ref) -> dict[str, Any]:
    tags = {**(ref.inputs.get("tags") or {}), REVISION_TAG: _digest(ref)}
    return {**_definition(ref), "tags": [{"key": k, "value": v} for k, v in tags.items()]}


def _revisions(ref: Ref) -> list[dict[str, Any]]:
    """The family's active revisions registered with these inputs (by their digest tag)."""
    wanted = {"key": REVISION_TAG, "value": _digest(ref)}
    found = []
    family = ref.call("list_task_definitions", familyPrefix=ref.id, status="ACTIVE")
    for revision in family["taskDefinitionArns"]:
        described = ref.call("describe_task_definition", taskDefinition=revision, include=["TAGS"])
        if wanted in described.get("tags", []):
            found.append({**described["taskDefinition"], "tags": described["tags"]})
    return found


def _read_definition(ref: Ref) -> Any:
    return next(iter(_revisions(ref)), None)


def _revision_arn(ref: Ref) -> str:
    return str(_read_definition(ref)["taskDefinitionArn"])


def _deregister(ref: Ref) -> None:
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeregisterTaskDefinition.html
    for revision in _revisions(ref):
        ref.call("deregister_task_definition", taskDefinition=revision["taskDefinitionArn"])


def _definition_outputs(ref: Ref) -> Outputs:
    without = ref.arn("ecs", f"task-definition/{ref.id}")
    found = _read_definition(ref) if ref.client is not None else None
    revision = int(found["revision"]) if found else 1  # offline: the first revision
    return {"arn": f"{without}:{revision}", "arnWithoutRevision": without, "revision": revision}


TASK_DEFINITION = ResourceType(
    type="aws:ecs/taskDefinition:TaskDefinition",
    service="ecs",
    id=lambda ref: str(ref.inputs["family"]),  # the provider's id: the family
    # A revision registered with these inputs already (an interrupted run's) is this one.
    find=lambda ref: ref.id if _read_definition(ref) is not None else None,
    create=Call("register_task_definition", _register, result=lambda ref, _answer: ref.id),
    read=_read_definition,
    # Tags change in place, on the revision; they are registered with it as well.
    tags=Tags({"resourceArn": _revision_arn}, param="tags", keys="tagKeys", pairs=("key", "value")),
    read_tags=_tags_in(_read_definition),
    delete=_deregister,
    outputs=_definition_outputs,
    # Every other input of the provider's TaskDefinition forces a new revision.
    replace_on=(*_DEFINITION, "family", "containerDefinitions", *_ALSO_NEW_REVISION),
)


def _cluster_name(ref: Ref) -> str:
    """The ``cluster`` input is a name or an ARN."""
    return str(ref.inputs["cluster"]).rsplit("/", 1)[-1]


def _service(ref: Ref) -> dict[str, Any]:
    """What CreateService and UpdateService both take, from the inputs the program set.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html"""
    inputs = ref.inputs
    formed: dict[str, Any] = {
        "cluster": inputs["cluster"],
        "taskDefinition": inputs["taskDefinition"],
    }
    formed |= {"propagateTags": inputs["propagateTags"]} if "propagateTags" in inputs else {}
    formed["desiredCount"] = integer(inputs.get("desiredCount", 0))
    formed["enableECSManagedTags"] = bool(inputs.get("enableEcsManagedTags", False))
    if grace := inputs.get("healthCheckGracePeriodSeconds"):
        formed["healthCheckGracePeriodSeconds"] = integer(grace)
    if network := inputs.get("networkConfiguration"):
        public = "ENABLED" if network.get("assignPublicIp") else "DISABLED"
        vpc = {"subnets": list(network["subnets"]), "assignPublicIp": public}
        vpc["securityGroups"] = list(network.get("securityGroups") or [])
        formed["networkConfiguration"] = {"awsvpcConfiguration": vpc}
    formed["loadBalancers"] = [
        {**lb, "containerPort": integer(lb["containerPort"])}
        for lb in inputs.get("loadBalancers") or []
    ]
    # The provider's defaults: 100% healthy, 200% at most, no circuit breaker.
    deployment: dict[str, Any] = {
        "minimumHealthyPercent": integer(inputs.get("deploymentMinimumHealthyPercent", 100)),
        "maximumPercent": integer(inputs.get("deploymentMaximumPercent", 200)),
    }
    if breaker := inputs.get("deploymentCircuitBreaker"):
        deployment["deploymentCircuitBreaker"] = {
            "enable": bool(breaker["enable"]),
            "rollback": bool(breaker["rollback"]),
        }
    formed["deploymentConfiguration"] = deployment
    return formed


_RELEASED = ("taskDefinition", "desiredCount")


def _settings_of(ref: Ref) -> dict[str, Any]:
    """Everything UpdateService sets but the revision and the count, which change alone: a
    program that leaves them to its deploy step (``ignoreChanges``) never rolls them back."""
    return {k: v for k, v in _service(ref).items() if k not in _RELEASED}


_revision = given("taskDefinition")
_in_cluster: dict[str, Any] = {"cluster": given("cluster"), "service": ID}


_read_service = Call(
    "describe_services",
    cluster=given("cluster"),
    services=lambda ref: [ref.id],
    include=["TAGS"],
    result=_active("services"),
)


def _scale_down_and_delete(ref: Ref) -> None:
    """The provider scales a service to 0 tasks before deleting it, as AWS requires.
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteService.html"""
    if _read_service(ref) is None:
        return
    cluster = ref.inputs["cluster"]
    ref.call("update_service", cluster=cluster, service=ref.id, desiredCount=0)
    ref.call("delete_service", cluster=cluster, service=ref.id)


SERVICE = ResourceType(
    type="aws:ecs/service:Service",
    service="ecs",
    # The provider's id is the service's ARN (the new format, which names the cluster).
    id=lambda ref: ref.arn("ecs", f"service/{_cluster_name(ref)}/{ref.inputs['name']}"),
    find=lambda ref: ref.id if _read_service(ref) is not None else None,
    create=Call(
        "create_service",
        _service,
        serviceName=given("name"),
        launchType=given("launchType", "FARGATE"),
        result=lambda ref, _answer: quirks.ecs_service_created(ref.client, ref.id, _service(ref)),
    ),
    read=_read_service,
    # What the scheduler does by itself (tasks starting and stopping, deployments rolling)
    # and what a deploy step releases (a revision, a count).
    volatile=(*("events", "deployments", "runningCount", "pendingCount", "taskSets"), *_RELEASED),
    updates=(
        Update(
            ("taskDefinition",),
            Call(
                "update_service",
                taskDefinition=lambda ref: quirks.ecs_task_definition(ref.client, _revision(ref)),
                **_in_cluster,
            ),
        ),
        Update(
            ("desiredCount",),
            Call("update_service", desiredCount=given("desiredCount", 0, integer), **_in_cluster),
        ),
        Update((ANY,), Call("update_service", _settings_of, service=ID)),
    ),
    delete=_scale_down_and_delete,
    tags=_TAGS,
    read_tags=_tags_in(_read_service),
    outputs=lambda ref: {"arn": ref.id},
    replace_on=("name", "cluster"),
    # Same name in the same cluster: the old service must go first.
    recreate_on=("launchType", "schedulingStrategy"),
)

TYPES = (CLUSTER, TASK_DEFINITION, SERVICE)
