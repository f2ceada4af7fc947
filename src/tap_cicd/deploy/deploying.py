"""The rollout's steps: each a budget check, then the ECS calls of ``ecs`` and the decisions of
``rollout``.

Idempotency: a repeated delivery of the same job (same job id) must neither register nor
deploy twice.

* A continuation carries the registered revision's ARN in its token (``Waiting.revision``): it
  only reads the deployment.
* A first invocation first looks among the service's deployments (PRIMARY first, at most
  ``MAX_DEPLOYMENTS_LOOKED_UP``) for a revision of the stack's family whose container runs
  this image by digest and carries the docker label ``tap.pipeline-job-id`` with this job's id:
  found, it follows that revision. So a second delivery while the deployment runs, or after
  it completed, finds it; a later pipeline execution (another job id) deploys afresh, with the
  template as it is then (a changed cpu, memory or port reaches the service).
* What remains: a delivery that died between ``RegisterTaskDefinition`` and ``UpdateService``
  leaves an unused revision, and the next delivery registers another (it deploys once); a
  revision whose deployment ECS has already dropped (rolled back and replaced) is not found,
  so a late repeat of a failed job deploys it again (the circuit breaker fails it again). Two
  deliveries at the very same moment could both register: ECS offers no idempotency token for
  ``RegisterTaskDefinition`` or ``UpdateService``.
"""

from __future__ import annotations

import logging
from typing import Any

from tap_cicd.deploy import ecs as calls
from tap_cicd.deploy.events import Job
from tap_cicd.deploy.logic import Image
from tap_cicd.deploy.releases import Budget
from tap_cicd.deploy.rollout import (
    Progress,
    RolloutConfig,
    candidates,
    is_release_of,
    judge,
    labels_of,
    revision_request,
)

LOG = logging.getLogger("tap_cicd.deploy.handler")


def start(ecs: Any, config: RolloutConfig, job: Job, image: Image, budget: Budget) -> str:
    """The revision rolling out for this job: this job's own, found on the service, or one
    registered from the template and deployed now."""
    budget.check("looking for this job's revision")
    current = calls.service(ecs, config.cluster, config.service)
    for arn in candidates(current, config):
        if is_release_of(calls.task_definition(ecs, arn), config.container, image.uri, job.id):
            LOG.info("this job's revision %s is already deployed; following it", arn)
            return arn
    budget.check("registering the revision")
    template = calls.task_definition(ecs, config.task_definition)
    labels = labels_of(job.id, job.parameters.get("pipelineExecutionId"))
    request = revision_request(
        template, calls.accepted_fields(ecs), config.container, image.uri, labels
    )
    revision = calls.register(ecs, request)
    budget.check("updating the service")
    calls.update_service(ecs, config.cluster, config.service, revision, config.desired_count)
    LOG.info("deploying %s to %s/%s", revision, config.cluster, config.service)
    return revision


def progress(ecs: Any, config: RolloutConfig, revision: str, budget: Budget) -> Progress:
    """Where the deployment of ``revision`` stands."""
    budget.check("reading the rollout")
    return judge(calls.service(ecs, config.cluster, config.service), revision, config)
