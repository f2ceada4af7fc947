"""The deploy step's ECS rollout end to end: moto for S3, ECR, SSM and SNS, a Stubber over the
real ECS model (every request and every response is validated against the API) and a Stubber
for CodePipeline.

The ECS Stubber refuses any call it was not given: a test that queues none proves the step
made none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from conftest import DIGEST, PARAMETER, REGION, REPOSITORY, LambdaContext, World, load_event

from tap_cicd.deploy import aws, handler, releases

JOB = "11111111-abcd-1111-abcd-111111111111"
"""The job of ``job_success`` (a first invocation)."""
FOLLOW_JOB = "33333333-abcd-3333-abcd-333333333333"
"""The job of ``job_rollout`` (a continuation that follows revision 2)."""
EXECUTION = "6f8a3c1e-1111-4a2b-9c3d-0123456789ab"
CLUSTER = "pipeline-dev"
SERVICE = "pipeline-app-dev"
TEMPLATE = "arn:aws:ecs:eu-west-1:111122223333:task-definition/pipeline-app-dev:1"
REVISION = "arn:aws:ecs:eu-west-1:111122223333:task-definition/pipeline-app-dev:2"
IMAGE = f"111122223333.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@{DIGEST}"
TAG = f"release-{DIGEST[7:19]}"
SINCE = 1_767_225_600
"""The start in ``job_rollout``'s token."""
WHEN = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def ecs(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """The function's ECS client, stubbed; ``TAP_DEPLOY_TARGET=ecs`` and its settings."""
    for name, value in {
        "TAP_DEPLOY_TARGET": "ecs",
        "TAP_CLUSTER_NAME": CLUSTER,
        "TAP_SERVICE_NAME": SERVICE,
        "TAP_TASK_DEFINITION": TEMPLATE,
        "TAP_CONTAINER_NAME": "app",
        "TAP_DESIRED_COUNT": "2",
        "TAP_ROLLOUT_WAIT_SECONDS": "600",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("ecs", region_name=REGION)
    handler.services().ecs = client  # type: ignore[misc]
    stubber = Stubber(client)
    with stubber:
        yield stubber
    stubber.assert_no_pending_responses()


def ready(world: World) -> None:
    """Artifact, image and a finished scan with a low finding."""
    world.put_artifact()
    world.put_image()
    world.scan("COMPLETE", [{"name": "CVE-2024-0001", "severity": "LOW"}])


def run(
    event: dict[str, Any], when: float = SINCE + 60.0, context: LambdaContext | None = None
) -> None:
    handler.now = lambda: when  # type: ignore[assignment] - reset by the fixture below
    assert handler.handler(event, context or LambdaContext()) is None


@pytest.fixture(autouse=True)
def clock() -> Iterator[None]:
    real = handler.now
    yield
    handler.now = real  # type: ignore[assignment]


def container(image: str, **labels: str) -> dict[str, Any]:
    return {
        "name": "app",
        "image": image,
        "essential": True,
        "readonlyRootFilesystem": True,
        "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
        **({"dockerLabels": labels} if labels else {}),
    }


def task_definition(arn: str, image: str, **labels: str) -> dict[str, Any]:
    """A DescribeTaskDefinition answer, read-only fields included."""
    return {
        "taskDefinition": {
            "taskDefinitionArn": arn,
            "family": SERVICE,
            "revision": int(arn.rsplit(":", 1)[1]),
            "status": "ACTIVE",
            "compatibilities": ["EC2", "FARGATE"],
            "requiresCompatibilities": ["FARGATE"],
            "requiresAttributes": [{"name": "ecs.capability.execution-role-awslogs"}],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "taskRoleArn": "arn:aws:iam::111122223333:role/pipeline-task-dev",
            "executionRoleArn": "arn:aws:iam::111122223333:role/pipeline-execution-dev",
            "registeredAt": WHEN,
            "registeredBy": "arn:aws:iam::111122223333:role/pulumi",
            "containerDefinitions": [container(image, **labels)],
        }
    }


def deployment(arn: str, status: str = "PRIMARY", state: str = "IN_PROGRESS", **extra: Any) -> Any:
    return {
        "id": f"ecs-svc/{arn[-1]}",
        "status": status,
        "taskDefinition": arn,
        "desiredCount": 2,
        "pendingCount": 0,
        "runningCount": 2 if state == "COMPLETED" else 1,
        "failedTasks": 0,
        "createdAt": WHEN,
        "updatedAt": WHEN,
        "launchType": "FARGATE",
        "rolloutState": state,
        "rolloutStateReason": f"ECS deployment ecs-svc/{arn[-1]} {state.lower()}.",
        **extra,
    }


def described_service(*deployments: Any) -> dict[str, Any]:
    return {
        "services": [
            {
                "serviceName": SERVICE,
                "clusterArn": f"arn:aws:ecs:{REGION}:111122223333:cluster/{CLUSTER}",
                "status": "ACTIVE",
                "desiredCount": 2,
                "taskDefinition": deployments[0]["taskDefinition"] if deployments else TEMPLATE,
                "deployments": list(deployments),
            }
        ],
        "failures": [],
    }


def expect_service(ecs: Stubber, *deployments: Any) -> None:
    ecs.add_response(
        "describe_services",
        described_service(*deployments),
        {"cluster": CLUSTER, "services": [SERVICE]},
    )


def expect_register(ecs: Stubber) -> None:
    """Describe the template, register revision 2 from it: the image by digest, the labels."""
    ecs.add_response(
        "describe_task_definition",
        task_definition(TEMPLATE, "public.ecr.aws/nginx/nginx:stable"),
        {"taskDefinition": TEMPLATE},
    )
    request = {
        "family": SERVICE,
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
        "taskRoleArn": "arn:aws:iam::111122223333:role/pipeline-task-dev",
        "executionRoleArn": "arn:aws:iam::111122223333:role/pipeline-execution-dev",
        "containerDefinitions": [
            container(
                IMAGE,
                **{"tap.pipeline-job-id": JOB, "tap.pipeline-execution-id": EXECUTION},
            )
        ],
    }
    ecs.add_response("register_task_definition", task_definition(REVISION, IMAGE), request)


def expect_update(ecs: Stubber) -> None:
    ecs.add_response(
        "update_service",
        {"service": described_service(deployment(REVISION))["services"][0]},
        {"cluster": CLUSTER, "service": SERVICE, "taskDefinition": REVISION, "desiredCount": 2},
    )


def continuation(world: World, token: dict[str, Any], summary: str, job: str = JOB) -> None:
    world.stubber.add_response(
        "put_job_success_result",
        {},
        {
            "jobId": job,
            "continuationToken": json.dumps(token),
            "executionDetails": {"summary": summary},
        },
    )


def failure(world: World, failure_type: str, message: str, job: str = FOLLOW_JOB) -> None:
    world.stubber.add_response(
        "put_job_failure_result",
        {},
        {"jobId": job, "failureDetails": {"type": failure_type, "message": message}},
    )


def image_tags(world: World) -> list[str]:
    details = world.client("ecr").describe_images(
        repositoryName=REPOSITORY, imageIds=[{"imageDigest": DIGEST}]
    )["imageDetails"]
    return sorted(details[0].get("imageTags", []))


# --- the first invocation: register, deploy, continue -----------------------------------------


def test_a_first_invocation_registers_by_digest_deploys_and_continues(
    world: World, ecs: Stubber
) -> None:
    ready(world)
    expect_service(ecs, deployment(TEMPLATE, state="COMPLETED"))
    expect_register(ecs)
    expect_update(ecs)
    continuation(
        world,
        {"v": 1, "d": DIGEST, "s": SINCE + 60, "n": 1, "r": REVISION},
        f"rolling out {REVISION} to {CLUSTER}/{SERVICE}",
    )
    run(load_event("job_success"))
    # Tagged (kept by the lifecycle policy while it runs), not recorded, not announced yet.
    assert TAG in image_tags(world)
    assert world.release()[0] == {"imageDigest": None}
    assert world.messages() == []


def test_a_repeated_delivery_follows_the_revision_it_finds_and_registers_nothing(
    world: World, ecs: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    """The service deploys (PRIMARY) a revision labelled with this job and running this
    image: no DescribeTaskDefinition of the template, no RegisterTaskDefinition, no
    UpdateService."""
    ready(world)
    expect_service(ecs, deployment(REVISION), deployment(TEMPLATE, "ACTIVE", "COMPLETED"))
    ecs.add_response(
        "describe_task_definition",
        task_definition(REVISION, IMAGE, **{"tap.pipeline-job-id": JOB}),
        {"taskDefinition": REVISION},
    )
    continuation(
        world,
        {"v": 1, "d": DIGEST, "s": SINCE + 60, "n": 1, "r": REVISION},
        f"rolling out {REVISION} to {CLUSTER}/{SERVICE}",
    )
    run(load_event("job_success"))
    assert "already deployed; following it" in caplog.text


def test_another_jobs_revision_on_the_service_is_not_this_jobs(world: World, ecs: Stubber) -> None:
    """A revision of the same image from another job (an earlier execution) is deployed again
    from the template as it is now."""
    ready(world)
    earlier = TEMPLATE.replace(":1", ":5")
    expect_service(ecs, deployment(earlier, state="COMPLETED"))
    ecs.add_response(
        "describe_task_definition",
        task_definition(earlier, IMAGE, **{"tap.pipeline-job-id": "another-job"}),
        {"taskDefinition": earlier},
    )
    expect_register(ecs)
    expect_update(ecs)
    world.expect_continuation()
    run(load_event("job_success"))


def test_the_lookup_stays_within_the_calls_the_budget_keeps_room_for(
    world: World, ecs: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready(world)
    revisions = [TEMPLATE.replace(":1", f":{n}") for n in (5, 6, 7, 8)]
    expect_service(
        ecs, *(deployment(r, "PRIMARY" if i == 0 else "ACTIVE") for i, r in enumerate(revisions))
    )
    for arn in revisions[:3]:
        ecs.add_response(
            "describe_task_definition",
            task_definition(arn, IMAGE, **{"tap.pipeline-job-id": "another-job"}),
            {"taskDefinition": arn},
        )
    expect_register(ecs)
    expect_update(ecs)
    world.expect_continuation()
    steps: list[list[Any]] = []
    check = releases.Budget.check

    def checked(self: releases.Budget, step: str) -> None:
        check(self, step)
        steps.append([step, 0])

    def counted(**_: Any) -> None:
        steps[-1][1] += 1

    monkeypatch.setattr(releases.Budget, "check", checked)
    handler.services().ecs.meta.events.register("provide-client-params.ecs", counted)
    run(load_event("job_success"))
    ecs_steps = [tuple(s) for s in steps if s[1]]
    assert ecs_steps == [
        ("looking for this job's revision", aws.LOOKUP_CALLS),
        ("registering the revision", aws.REGISTER_CALLS),
        ("updating the service", 1),
    ]
    assert aws.LOOKUP_CALLS <= aws.MAX_CALLS_PER_STEP


@pytest.mark.parametrize(
    ("code", "failure_type", "message"),
    [
        (
            "ServiceNotFoundException",
            "ConfigurationError",
            "cannot update service 'pipeline-dev/pipeline-app-dev': ServiceNotFoundException",
        ),
        (
            "AccessDeniedException",
            "PermissionError",
            "UpdateService failed: AccessDeniedException: no",
        ),
    ],
)
def test_an_update_that_fails_fails_the_job(
    world: World, ecs: Stubber, code: str, failure_type: str, message: str
) -> None:
    ready(world)
    expect_service(ecs, deployment(TEMPLATE, state="COMPLETED"))
    expect_register(ecs)
    ecs.add_client_error("update_service", code, "no")
    failure(world, failure_type, message, job=JOB)
    run(load_event("job_success"))
    assert world.release()[0] == {"imageDigest": None}


def test_a_scan_still_running_continues_before_any_ecs_call(world: World, ecs: Stubber) -> None:
    world.put_artifact()
    world.put_image()
    world.scan("IN_PROGRESS")
    continuation(
        world,
        {"v": 1, "d": DIGEST, "s": SINCE + 60, "n": 1},
        f"waiting for the scan of {DIGEST} (poll 1)",
    )
    run(load_event("job_success"))


# --- continuations: follow the deployment ---------------------------------------------------


def earlier_release(world: World) -> dict[str, Any]:
    """A release already recorded: the new record keeps it as ``previousRelease``."""
    record = {
        "imageDigest": "sha256:" + "cd" * 32,
        "imageUri": f"111122223333.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@sha256:{'cd' * 32}",
        "releaseTag": "release-cdcdcdcdcdcd",
        "taskDefinitionArn": TEMPLATE,
        "pipelineExecutionId": "earlier",
        "recordedAt": "2025-12-31T00:00:00+00:00",
        "jobId": "earlier-job",
        "previousRelease": None,
    }
    world.client("ssm").put_parameter(Name=PARAMETER, Value=json.dumps(record), Overwrite=True)
    return record


def test_completed_records_announces_and_succeeds_with_the_task_definition(
    world: World, ecs: Stubber
) -> None:
    ready(world)
    earlier = earlier_release(world)
    expect_service(ecs, deployment(REVISION, state="COMPLETED"))
    world.expect_success(
        {
            "imageDigest": DIGEST,
            "imageUri": IMAGE,
            "releaseTag": TAG,
            "releaseParameter": PARAMETER,
            "releaseVersion": "3",
            "notification": "sent",
            "taskDefinitionArn": REVISION,
        },
        job=FOLLOW_JOB,
    )
    run(load_event("job_rollout"))
    record, version = world.release()
    assert version == 3
    assert record["taskDefinitionArn"] == REVISION
    assert record["jobId"] == FOLLOW_JOB
    assert record["previousRelease"] == {key: earlier[key] for key in releases.PREVIOUS_FIELDS}
    [(subject, message)] = world.messages()
    assert subject == f"Release {DIGEST[7:19]} recorded in {PARAMETER}"
    assert f"Running as: {REVISION}" in message


def test_a_repeated_completed_continuation_records_and_announces_once(
    world: World, ecs: Stubber
) -> None:
    ready(world)
    for _ in range(2):
        expect_service(ecs, deployment(REVISION, state="COMPLETED"))
        world.expect_success(job=FOLLOW_JOB)
        run(load_event("job_rollout"))
    assert world.release()[1] == 2
    assert len(world.messages()) == 1


ROLLED_BACK = (
    "ECS deployment circuit breaker: tasks failed to start. Rolling back to deployment ecs-svc/1."
)


def test_a_rollout_the_circuit_breaker_rolled_back_fails_and_is_announced(
    world: World, ecs: Stubber
) -> None:
    ready(world)
    expect_service(
        ecs,
        deployment(TEMPLATE, runningCount=1),
        deployment(
            REVISION,
            "ACTIVE",
            "FAILED",
            failedTasks=3,
            runningCount=0,
            rolloutStateReason=ROLLED_BACK,
        ),
    )
    reason = (
        f"not released: the rollout of {REVISION} FAILED: 0 of 2 running, 0 pending, 3 failed "
        f"({ROLLED_BACK}) failed; running again: {TEMPLATE} IN_PROGRESS: 1 of 2 running, "
        "0 pending, 0 failed (ECS deployment ecs-svc/1 in_progress.)"
    )
    failure(world, "JobFailed", reason)
    run(load_event("job_rollout"))
    assert world.release()[0] == {"imageDigest": None}
    [(subject, message)] = world.messages()
    assert subject == f"Release {DIGEST[7:19]} failed to roll out"
    assert f"Reason: {reason}" in message
    assert f"Pipeline execution: {EXECUTION}" in message


def test_a_failed_announcement_still_fails_the_job(
    world: World, ecs: Stubber, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ready(world)
    monkeypatch.setenv("TAP_TOPIC_ARN", f"arn:aws:sns:{REGION}:123456789012:missing")
    expect_service(ecs, deployment(TEMPLATE, state="COMPLETED"))
    world.expect_failure("JobFailed", job=FOLLOW_JOB)
    run(load_event("job_rollout"))
    assert "the failed rollout could not be announced: NotFound" in caplog.text
    assert world.release()[0] == {"imageDigest": None}


def test_no_time_left_to_announce_still_fails_with_the_reason(
    world: World, ecs: Stubber, caplog: pytest.LogCaptureFixture
) -> None:
    """Budget checks: the artifact, the image, the rollout, then the announcement."""
    ready(world)
    expect_service(ecs, deployment(REVISION, state="FAILED", failedTasks=2))
    world.expect_failure("JobFailed", job=FOLLOW_JOB)
    run(load_event("job_rollout"), context=LambdaContext([120_000, 120_000, 120_000, 1000]))
    assert "the failed rollout was not announced: time budget exhausted" in caplog.text
    assert world.messages() == []


def test_in_progress_within_the_wait_continues_with_the_same_start(
    world: World, ecs: Stubber
) -> None:
    ready(world)
    expect_service(ecs, deployment(REVISION), deployment(TEMPLATE, "ACTIVE", "COMPLETED"))
    continuation(
        world,
        {"v": 1, "d": DIGEST, "s": SINCE, "n": 2, "r": REVISION},
        f"rolling out {REVISION} IN_PROGRESS: 1 of 2 running, 0 pending, 0 failed "
        "(ECS deployment ecs-svc/2 in_progress.) (poll 2, 599 s)",
        job=FOLLOW_JOB,
    )
    run(load_event("job_rollout"), when=SINCE + 599.0)
    assert world.messages() == []


def test_still_in_progress_after_the_wait_fails_and_says_what_runs(
    world: World, ecs: Stubber
) -> None:
    ready(world)
    expect_service(ecs, deployment(REVISION), deployment(TEMPLATE, "ACTIVE", "COMPLETED"))
    reason = (
        f"the rollout of {REVISION} did not finish within 600 s (2 polls): {REVISION} "
        "IN_PROGRESS: 1 of 2 running, 0 pending, 0 failed (ECS deployment ecs-svc/2 "
        "in_progress.). ECS goes on with the deployment; the release is not recorded"
    )
    failure(world, "JobFailed", reason)
    run(load_event("job_rollout"), when=SINCE + 600.0)
    assert world.release()[0] == {"imageDigest": None}
    assert [s for s, _ in world.messages()] == [f"Release {DIGEST[7:19]} failed to roll out"]


def test_a_service_ecs_cannot_find_is_a_configuration_error(world: World, ecs: Stubber) -> None:
    ready(world)
    ecs.add_response(
        "describe_services",
        {
            "services": [],
            "failures": [
                {"arn": f"arn:aws:ecs:{REGION}:111122223333:service/x", "reason": "MISSING"}
            ],
        },
        {"cluster": CLUSTER, "services": [SERVICE]},
    )
    failure(world, "ConfigurationError", "service 'pipeline-dev/pipeline-app-dev' is missing")
    run(load_event("job_rollout"))


def test_a_token_revision_of_another_family_is_out_of_sync(world: World, ecs: Stubber) -> None:
    ready(world)
    event = load_event("job_rollout")
    data = event["CodePipeline.job"]["data"]
    other = REVISION.replace("pipeline-app-dev", "other")
    data["continuationToken"] = data["continuationToken"].replace(REVISION, other)
    failure(
        world,
        "RevisionOutOfSync",
        f"the continuation token's revision {other!r} is not of task-definition family "
        "pipeline-app-dev",
    )
    run(event)


# --- deployTarget none ------------------------------------------------------------------------


def test_target_none_records_without_any_ecs_call(
    world: World, ecs: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAP_DEPLOY_TARGET", "none")
    ready(world)
    world.expect_success(
        {
            "imageDigest": DIGEST,
            "imageUri": IMAGE,
            "releaseTag": TAG,
            "releaseParameter": PARAMETER,
            "releaseVersion": "2",
            "notification": "sent",
        }
    )
    run(load_event("job_success"))
    record = world.release()[0]
    assert record["taskDefinitionArn"] is None
    assert record["previousRelease"] is None


def test_a_rollout_token_with_target_none_is_not_ours(
    world: World, ecs: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TAP_DEPLOY_TARGET")
    ready(world)
    failure(
        world,
        "JobFailed",
        "the continuation token is unusable: it follows a rollout, but the deploy target is none",
    )
    run(load_event("job_rollout"))
