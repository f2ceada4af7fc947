"""The ECS rollout, without AWS: what the deploy step registers, updates and waits for.

The flow (``deployTarget`` ``ecs``), after the scan gate and the release tag:

1. Look for this job's revision among the service's deployments (a repeated delivery of the
   same job): a revision of the stack's family whose container carries the label
   ``JOB_LABEL`` with this job id and the image by digest. Found: follow it, register nothing.
2. Otherwise describe the stack's task definition (the template of every release), register a
   revision of it with the container's image replaced by ``<repository uri>@<digest>`` and the
   job labels added, and update the service with it and the configured desired count.
3. Follow the deployment through continuation tokens (``Waiting`` with ``revision``) until the
   PRIMARY deployment of that revision is COMPLETED, the rollout FAILED or was rolled back, or
   the configured wait is over.

The revision is marked with a docker label, not a tag: ECS authorises tags given to
``RegisterTaskDefinition`` as ``ecs:TagResource``, which the deploy role does not have.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/supported-iam-actions-tagging.html

Only the standard library: this module ships in the Lambda archive.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tap_cicd.deploy.failures import (
    CONFIGURATION_ERROR,
    REVISION_OUT_OF_SYNC,
    JobFailure,
    shown,
)
from tap_cicd.deploy.scanning import MAX_SCAN_WAIT_SECONDS

DEPLOY_TARGETS = ("ecs", "none")
"""Values of ``deployTarget``: roll out to the stack's ECS service, or only record the release."""
CONTAINER_NAME = "app"
"""The one container of the stack's task definition; the release replaces its image."""
DEFAULT_ROLLOUT_WAIT_SECONDS = 1_800
"""How long the step waits for the service's deployment unless configured."""
MAX_ROLLOUT_WAIT_SECONDS = MAX_SCAN_WAIT_SECONDS
"""The whole Lambda invoke action, continuations included, must finish within CodePipeline's
24-hour limit (see ``MAX_SCAN_WAIT_SECONDS``)."""
MAX_DESIRED_COUNT = 5_000
"""Tasks per service, ECS's quota.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html"""
JOB_LABEL = "tap.pipeline-job-id"
"""Docker label of the released container: the CodePipeline job that registered the revision."""
EXECUTION_LABEL = "tap.pipeline-execution-id"
"""Docker label of the released container: the pipeline execution (for people reading it)."""
MAX_DEPLOYMENTS_LOOKED_UP = 3
"""A repeated delivery looks at this many of the service's deployments at most (one
``DescribeTaskDefinition`` each): a service has one PRIMARY and rarely more than two ACTIVE."""
READ_ONLY_FIELDS = frozenset(
    {
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
        "deregisteredAt",
        "deleteRequestedAt",
    }
)
"""Fields ``DescribeTaskDefinition`` returns that ``RegisterTaskDefinition`` does not take
(compare the ``TaskDefinition`` shape with the request's): ECS sets them.
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html"""
TASK_DEFINITION_ARN = re.compile(
    r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:task-definition/(?P<family>[A-Za-z0-9_-]{1,255}):[0-9]{1,9}"
)

# Deployment states: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html
PRIMARY = "PRIMARY"
"""The most recent deployment of the service (``status``)."""
COMPLETED, FAILED, IN_PROGRESS = "COMPLETED", "FAILED", "IN_PROGRESS"
"""``rolloutState`` values: steady state reached, the circuit breaker failed it, still going."""


def _variable(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise JobFailure(CONFIGURATION_ERROR, f"environment variable {name} is unset")
    return value


def _number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, str(default)).strip()
    # ASCII digits only: str.isdigit also accepts "²", which int() refuses.
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:
        raise JobFailure(CONFIGURATION_ERROR, f"{name} must be {low}-{high}")
    return int(raw)


def family_of(arn: str) -> str | None:
    """The family of a task-definition ARN with its revision, ``None`` for anything else."""
    matched = TASK_DEFINITION_ARN.fullmatch(arn)
    return matched["family"] if matched else None


@dataclass(frozen=True)
class RolloutConfig:
    """Where the release rolls out (``TAP_DEPLOY_TARGET=ecs``)."""

    cluster: str
    """``TAP_CLUSTER_NAME``."""
    service: str
    """``TAP_SERVICE_NAME``."""
    task_definition: str
    """``TAP_TASK_DEFINITION``: the ARN of the stack's task definition, every release's template."""
    container: str = CONTAINER_NAME
    """``TAP_CONTAINER_NAME``: the container whose image the release replaces."""
    desired_count: int = 1
    """``TAP_DESIRED_COUNT``."""
    wait_seconds: int = DEFAULT_ROLLOUT_WAIT_SECONDS
    """``TAP_ROLLOUT_WAIT_SECONDS``: how long the deployment may take."""

    @property
    def family(self) -> str:
        """The task-definition family of every release (validated at construction)."""
        return str(family_of(self.task_definition))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RolloutConfig | None:
        """``None`` for ``none`` (or no target); a ``ConfigurationError`` for a missing or
        invalid variable."""
        target = env.get("TAP_DEPLOY_TARGET", "none").strip() or "none"
        if target not in DEPLOY_TARGETS:
            raise JobFailure(
                CONFIGURATION_ERROR, f"TAP_DEPLOY_TARGET must be one of {', '.join(DEPLOY_TARGETS)}"
            )
        if target == "none":
            return None
        task_definition = _variable(env, "TAP_TASK_DEFINITION")
        if family_of(task_definition) is None:
            raise JobFailure(
                CONFIGURATION_ERROR,
                "TAP_TASK_DEFINITION must be a task-definition ARN with its revision",
            )
        return cls(
            cluster=_variable(env, "TAP_CLUSTER_NAME"),
            service=_variable(env, "TAP_SERVICE_NAME"),
            task_definition=task_definition,
            container=env.get("TAP_CONTAINER_NAME", "").strip() or CONTAINER_NAME,
            desired_count=_number(env, "TAP_DESIRED_COUNT", 1, 1, MAX_DESIRED_COUNT),
            wait_seconds=_number(
                env,
                "TAP_ROLLOUT_WAIT_SECONDS",
                DEFAULT_ROLLOUT_WAIT_SECONDS,
                0,
                MAX_ROLLOUT_WAIT_SECONDS,
            ),
        )

    def check_revision(self, revision: str) -> None:
        """A continuation token's revision must be of the stack's family."""
        if family_of(revision) != self.family:
            raise JobFailure(
                REVISION_OUT_OF_SYNC,
                f"the continuation token's revision {shown(revision)} is not of task-definition "
                f"family {self.family}",
            )


# --- the revision -----------------------------------------------------------------------------


def labels_of(job_id: str, execution_id: str | None) -> dict[str, str]:
    """The docker labels that mark a revision as this job's."""
    labels = {JOB_LABEL: job_id}
    if execution_id:
        labels[EXECUTION_LABEL] = execution_id
    return labels


def revision_request(
    template: Mapping[str, Any],
    accepted: Iterable[str],
    container: str,
    image_uri: str,
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """``RegisterTaskDefinition``'s arguments: every field of the described ``template`` the
    request ``accepted`` (the read-only ones dropped), the container's image replaced by the
    release's (by digest) and the job's docker labels added to it."""
    fields = set(accepted) - READ_ONLY_FIELDS
    request = {k: copy.deepcopy(v) for k, v in template.items() if k in fields and v is not None}
    containers = request.get("containerDefinitions") or []
    chosen = [c for c in containers if isinstance(c, dict) and c.get("name") == container]
    if not chosen:
        raise JobFailure(
            CONFIGURATION_ERROR,
            f"task definition {shown(str(template.get('taskDefinitionArn')))} has no container "
            f"named {shown(container)}",
        )
    chosen[0]["image"] = image_uri
    chosen[0]["dockerLabels"] = {**(chosen[0].get("dockerLabels") or {}), **labels}
    return request


def is_release_of(
    definition: Mapping[str, Any], container: str, image_uri: str, job_id: str
) -> bool:
    """``definition`` (described) is the revision this job registered: its container runs the
    release's image and carries the job's label."""
    for each in definition.get("containerDefinitions") or []:
        if isinstance(each, Mapping) and each.get("name") == container:
            labels = each.get("dockerLabels") or {}
            return each.get("image") == image_uri and labels.get(JOB_LABEL) == job_id
    return False


def candidates(service: Mapping[str, Any] | None, config: RolloutConfig) -> list[str]:
    """Task definitions among the service's deployments that may be this job's revision: of
    the stack's family, not the template itself, PRIMARY first, at most
    ``MAX_DEPLOYMENTS_LOOKED_UP``."""
    found: list[str] = []
    deployments = sorted(
        (service or {}).get("deployments") or [], key=lambda d: d.get("status") != PRIMARY
    )
    for deployment in deployments:
        arn = str(deployment.get("taskDefinition") or "")
        if family_of(arn) == config.family and arn != config.task_definition and arn not in found:
            found.append(arn)
    return found[:MAX_DEPLOYMENTS_LOOKED_UP]


# --- following the deployment ----------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Where the rollout of ``revision`` stands."""

    state: str
    """``COMPLETED``, ``FAILED`` (failed or rolled back) or ``IN_PROGRESS``."""
    detail: str
    """What ECS says, for the job's message."""


def _count(deployment: Mapping[str, Any], key: str) -> int:
    value = deployment.get(key)
    return value if isinstance(value, int) else 0


def describe(deployment: Mapping[str, Any]) -> str:
    """``<task definition> <rolloutState>: 1 of 2 running, 1 pending, 3 failed (<reason>)``."""
    reason = deployment.get("rolloutStateReason")
    return (
        f"{deployment.get('taskDefinition') or 'unknown'} "
        f"{deployment.get('rolloutState') or 'without rolloutState'}: "
        f"{_count(deployment, 'runningCount')} of {_count(deployment, 'desiredCount')} running, "
        f"{_count(deployment, 'pendingCount')} pending, {_count(deployment, 'failedTasks')} failed"
        + (f" ({reason})" if reason else "")
    )


def judge(service: Mapping[str, Any] | None, revision: str, config: RolloutConfig) -> Progress:
    """The rollout of ``revision`` from ``DescribeServices``'s service (``None``: missing).

    Completed: the PRIMARY deployment is ``revision`` and COMPLETED. Failed: the deployment of
    ``revision`` is FAILED (the circuit breaker stopped it; with rollback the PRIMARY one is
    the last completed deployment again), or the PRIMARY deployment runs another task
    definition (a rollback already done, or another deployment replaced this one).
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeploymentCircuitBreaker.html
    """
    name = f"{config.cluster}/{config.service}"
    # A service is ACTIVE, DRAINING or INACTIVE (deleted):
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Service.html
    if service is None or service.get("status") != "ACTIVE":
        state = "missing" if service is None else service.get("status")
        raise JobFailure(CONFIGURATION_ERROR, f"service {shown(name)} is {state}")
    deployments = [d for d in service.get("deployments") or [] if isinstance(d, Mapping)]
    primary = next((d for d in deployments if d.get("status") == PRIMARY), None)
    if primary is None or primary.get("rolloutState") is None:
        # rolloutState is only there for the rolling update (ECS) deployment controller.
        raise JobFailure(
            CONFIGURATION_ERROR,
            f"service {shown(name)} reports no PRIMARY deployment with a rolloutState: it must "
            "use the rolling update (ECS) deployment controller",
        )
    ours = next((d for d in deployments if d.get("taskDefinition") == revision), None)
    running = f"running again: {describe(primary)}"
    if ours is not None and ours.get("rolloutState") == FAILED:
        again = "" if ours is primary else f"; {running}"
        return Progress(FAILED, f"the rollout of {describe(ours)} failed{again}")
    if ours is not primary:
        what = describe(ours) if ours is not None else revision
        return Progress(
            FAILED,
            f"the rollout of {what} was rolled back or replaced; {running}",
        )
    return Progress(str(primary.get("rolloutState")), describe(primary))


def timed_out_message(revision: str, progress: Progress, waited: int, polls: int) -> str:
    """Why the job fails when the deployment outlasts the wait."""
    return (
        f"the rollout of {revision} did not finish within {waited} s ({polls} polls): "
        f"{progress.detail}. ECS goes on with the deployment; the release is not recorded"
    )
