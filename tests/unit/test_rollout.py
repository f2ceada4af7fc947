"""The rollout's decisions, without AWS: configuration, the revision request, recognising a
job's revision, judging a deployment, the token and the release record."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest

from tap_cicd.deploy import releases, rollout, scanning
from tap_cicd.deploy.failures import JobFailure
from tap_cicd.deploy.logic import DeployConfig, Image
from tap_cicd.deploy.rollout import RolloutConfig

DIGEST = "sha256:" + "ab" * 32
TEMPLATE = "arn:aws:ecs:eu-west-1:111122223333:task-definition/pipeline-app-dev:1"
REVISION = "arn:aws:ecs:eu-west-1:111122223333:task-definition/pipeline-app-dev:2"
IMAGE = f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/pipeline-images-dev@{DIGEST}"
ENV = {
    "TAP_DEPLOY_TARGET": "ecs",
    "TAP_CLUSTER_NAME": "pipeline-dev",
    "TAP_SERVICE_NAME": "pipeline-app-dev",
    "TAP_TASK_DEFINITION": TEMPLATE,
    "TAP_CONTAINER_NAME": "app",
    "TAP_DESIRED_COUNT": "2",
    "TAP_ROLLOUT_WAIT_SECONDS": "600",
}
CONFIG = RolloutConfig("pipeline-dev", "pipeline-app-dev", TEMPLATE, "app", 2, 600)


def accepted() -> list[str]:
    """The members of the real RegisterTaskDefinition request."""
    model = botocore.session.get_session().get_service_model("ecs")
    return list(model.operation_model("RegisterTaskDefinition").input_shape.members)


def described(**extra: Any) -> dict[str, Any]:
    """A DescribeTaskDefinition ``taskDefinition`` as ECS returns it (read-only fields too)."""
    return {
        "taskDefinitionArn": TEMPLATE,
        "family": "pipeline-app-dev",
        "revision": 1,
        "status": "ACTIVE",
        "taskRoleArn": "arn:aws:iam::111122223333:role/task",
        "executionRoleArn": "arn:aws:iam::111122223333:role/execution",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "compatibilities": ["EC2", "FARGATE"],
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}],
        "cpu": "256",
        "memory": "512",
        "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        "registeredAt": "2026-01-01T00:00:00Z",
        "registeredBy": "arn:aws:iam::111122223333:role/pulumi",
        "containerDefinitions": [
            {
                "name": "app",
                "image": "public.ecr.aws/nginx/nginx:stable",
                "readonlyRootFilesystem": True,
                "privileged": False,
                "dockerLabels": {"team": "web"},
                "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            },
            {"name": "sidecar", "image": "sidecar:1"},
        ],
        **extra,
    }


# --- configuration ----------------------------------------------------------------------------


def test_no_target_and_none_mean_record_only() -> None:
    assert RolloutConfig.from_env({}) is None
    assert RolloutConfig.from_env({"TAP_DEPLOY_TARGET": "none"}) is None
    assert RolloutConfig.from_env({"TAP_DEPLOY_TARGET": " "}) is None


def test_ecs_reads_every_variable() -> None:
    assert RolloutConfig.from_env(ENV) == CONFIG
    assert CONFIG.family == "pipeline-app-dev"


def test_ecs_defaults() -> None:
    env = {k: v for k, v in ENV.items() if k not in ("TAP_CONTAINER_NAME", "TAP_DESIRED_COUNT")}
    env.pop("TAP_ROLLOUT_WAIT_SECONDS")
    config = RolloutConfig.from_env(env)
    assert config is not None
    assert (config.container, config.desired_count, config.wait_seconds) == (
        rollout.CONTAINER_NAME,
        1,
        rollout.DEFAULT_ROLLOUT_WAIT_SECONDS,
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"TAP_DEPLOY_TARGET": "eks"}, "TAP_DEPLOY_TARGET must be one of ecs, none"),
        ({"TAP_CLUSTER_NAME": ""}, "environment variable TAP_CLUSTER_NAME is unset"),
        ({"TAP_SERVICE_NAME": " "}, "environment variable TAP_SERVICE_NAME is unset"),
        ({"TAP_TASK_DEFINITION": ""}, "environment variable TAP_TASK_DEFINITION is unset"),
        (
            {"TAP_TASK_DEFINITION": "pipeline-app-dev:1"},
            "TAP_TASK_DEFINITION must be a task-definition ARN with its revision",
        ),
        (
            {"TAP_TASK_DEFINITION": TEMPLATE.removesuffix(":1")},
            "TAP_TASK_DEFINITION must be a task-definition ARN with its revision",
        ),
        ({"TAP_DESIRED_COUNT": "0"}, "TAP_DESIRED_COUNT must be 1-5000"),
        ({"TAP_DESIRED_COUNT": "5001"}, "TAP_DESIRED_COUNT must be 1-5000"),
        ({"TAP_DESIRED_COUNT": "²"}, "TAP_DESIRED_COUNT must be 1-5000"),
        ({"TAP_ROLLOUT_WAIT_SECONDS": "-1"}, "TAP_ROLLOUT_WAIT_SECONDS must be 0-86400"),
        ({"TAP_ROLLOUT_WAIT_SECONDS": "86401"}, "TAP_ROLLOUT_WAIT_SECONDS must be 0-86400"),
    ],
)
def test_invalid_rollout_settings_are_configuration_errors(
    change: dict[str, str], message: str
) -> None:
    with pytest.raises(JobFailure) as raised:
        RolloutConfig.from_env({**ENV, **change})
    assert (raised.value.failure_type, raised.value.message) == ("ConfigurationError", message)


def test_the_deploy_config_carries_the_rollout() -> None:
    base = {"TAP_TOPIC_ARN": "t", "TAP_RELEASE_PARAMETER": "p", "TAP_REPOSITORY_NAME": "r"}
    assert DeployConfig.from_env(base).rollout is None
    assert DeployConfig.from_env({**base, **ENV}).rollout == CONFIG
    with pytest.raises(JobFailure, match="TAP_SERVICE_NAME is unset"):
        DeployConfig.from_env({**base, **ENV, "TAP_SERVICE_NAME": ""})


def test_a_token_revision_must_be_of_the_stack_family() -> None:
    CONFIG.check_revision(REVISION)
    for other in (
        "arn:aws:ecs:eu-west-1:111122223333:task-definition/other:2",
        "not an arn",
    ):
        with pytest.raises(JobFailure) as raised:
            CONFIG.check_revision(other)
        assert raised.value.failure_type == "RevisionOutOfSync"
        assert "is not of task-definition family pipeline-app-dev" in raised.value.message


# --- the revision -------------------------------------------------------------------------------


def test_the_revision_keeps_every_writable_field_and_replaces_the_image() -> None:
    labels = rollout.labels_of("job-1", "execution-1")
    template = described(pidMode="task", enableFaultInjection=False)
    request = rollout.revision_request(template, accepted(), "app", IMAGE, labels)
    assert set(request).isdisjoint(rollout.READ_ONLY_FIELDS)
    assert request["family"] == "pipeline-app-dev"
    assert request["runtimePlatform"] == template["runtimePlatform"]
    assert request["pidMode"] == "task"
    assert request["enableFaultInjection"] is False
    app, sidecar = request["containerDefinitions"]
    assert app["image"] == IMAGE
    assert app["readonlyRootFilesystem"] is True
    assert app["dockerLabels"] == {
        "team": "web",
        "tap.pipeline-job-id": "job-1",
        "tap.pipeline-execution-id": "execution-1",
    }
    assert sidecar == {"name": "sidecar", "image": "sidecar:1"}
    # The template itself is untouched (the request is a copy).
    assert template["containerDefinitions"][0]["image"] == "public.ecr.aws/nginx/nginx:stable"
    # What botocore's model accepts: the whole request validates against the real API.
    model = botocore.session.get_session().get_service_model("ecs")
    shape = model.operation_model("RegisterTaskDefinition").input_shape
    from botocore.validate import ParamValidator

    assert not ParamValidator().validate(request, shape).has_errors()


def test_the_revision_drops_null_fields_and_labels_a_container_without_labels() -> None:
    template = described(ipcMode=None)
    del template["containerDefinitions"][0]["dockerLabels"]
    request = rollout.revision_request(
        template, accepted(), "app", IMAGE, rollout.labels_of("job-1", None)
    )
    assert "ipcMode" not in request
    assert request["containerDefinitions"][0]["dockerLabels"] == {"tap.pipeline-job-id": "job-1"}


def test_a_template_without_the_container_is_a_configuration_error() -> None:
    with pytest.raises(JobFailure) as raised:
        rollout.revision_request(described(), accepted(), "web", IMAGE, {})
    assert raised.value.failure_type == "ConfigurationError"
    assert raised.value.message == f"task definition {TEMPLATE!r} has no container named 'web'"


def test_a_revision_is_this_jobs_by_image_and_label() -> None:
    request = rollout.revision_request(
        described(), accepted(), "app", IMAGE, rollout.labels_of("job-1", None)
    )
    assert rollout.is_release_of(request, "app", IMAGE, "job-1")
    assert not rollout.is_release_of(request, "app", IMAGE, "job-2")
    assert not rollout.is_release_of(request, "app", IMAGE.replace("ab", "cd"), "job-1")
    assert not rollout.is_release_of(request, "web", IMAGE, "job-1")
    assert not rollout.is_release_of(described(), "app", IMAGE, "job-1")
    assert not rollout.is_release_of({}, "app", IMAGE, "job-1")


def deployment(task_definition: str, status: str = "PRIMARY", **extra: Any) -> dict[str, Any]:
    """A Deployment as DescribeServices returns it."""
    return {
        "id": f"ecs-svc/{task_definition[-1]}",
        "status": status,
        "taskDefinition": task_definition,
        "desiredCount": 2,
        "runningCount": 1,
        "pendingCount": 1,
        "failedTasks": 0,
        "rolloutState": "IN_PROGRESS",
        **extra,
    }


def service(*deployments: dict[str, Any], status: str = "ACTIVE") -> dict[str, Any]:
    return {"serviceName": "pipeline-app-dev", "status": status, "deployments": list(deployments)}


def test_candidates_are_the_familys_revisions_primary_first_and_bounded() -> None:
    other = "arn:aws:ecs:eu-west-1:111122223333:task-definition/other:7"
    revisions = [TEMPLATE.replace(":1", f":{n}") for n in range(2, 7)]
    current = service(
        deployment(revisions[0], "ACTIVE"),
        deployment(TEMPLATE, "ACTIVE"),
        deployment(other, "ACTIVE"),
        deployment(revisions[1], "PRIMARY"),
        deployment(revisions[1], "ACTIVE"),
        *(deployment(r, "ACTIVE") for r in revisions[2:]),
    )
    assert rollout.candidates(current, CONFIG) == [revisions[1], revisions[0], revisions[2]]
    assert rollout.candidates(None, CONFIG) == []
    assert rollout.candidates(service(), CONFIG) == []


# --- judging the deployment ---------------------------------------------------------------------


def test_completed_when_the_primary_deployment_of_the_revision_is() -> None:
    progress = rollout.judge(
        service(
            deployment(REVISION, rolloutState="COMPLETED", runningCount=2, pendingCount=0),
            deployment(TEMPLATE, "ACTIVE"),
        ),
        REVISION,
        CONFIG,
    )
    assert progress == rollout.Progress(
        "COMPLETED", f"{REVISION} COMPLETED: 2 of 2 running, 0 pending, 0 failed"
    )


def test_in_progress_while_the_primary_deployment_of_the_revision_is() -> None:
    progress = rollout.judge(
        service(deployment(REVISION, rolloutStateReason="ECS deployment ecs-svc/2 in progress.")),
        REVISION,
        CONFIG,
    )
    assert progress.state == "IN_PROGRESS"
    assert progress.detail == (
        f"{REVISION} IN_PROGRESS: 1 of 2 running, 1 pending, 0 failed "
        "(ECS deployment ecs-svc/2 in progress.)"
    )


ROLLED_BACK = (
    "ECS deployment circuit breaker: tasks failed to start. Rolling back to deployment ecs-svc/1."
)


def test_failed_and_rolled_back_names_the_reason_the_count_and_the_revision_running_again() -> None:
    """The circuit breaker's rollback: a new PRIMARY deployment of the last completed revision,
    ours ACTIVE and FAILED."""
    progress = rollout.judge(
        service(
            deployment(TEMPLATE, rolloutState="IN_PROGRESS", runningCount=0),
            deployment(
                REVISION,
                "ACTIVE",
                rolloutState="FAILED",
                failedTasks=3,
                runningCount=0,
                pendingCount=0,
                rolloutStateReason=ROLLED_BACK,
            ),
        ),
        REVISION,
        CONFIG,
    )
    assert progress.state == "FAILED"
    assert progress.detail == (
        f"the rollout of {REVISION} FAILED: 0 of 2 running, 0 pending, 3 failed ({ROLLED_BACK}) "
        f"failed; running again: {TEMPLATE} IN_PROGRESS: 0 of 2 running, 1 pending, 0 failed"
    )


def test_failed_without_rollback_is_still_the_primary() -> None:
    progress = rollout.judge(
        service(deployment(REVISION, rolloutState="FAILED", failedTasks=4)), REVISION, CONFIG
    )
    assert progress.state == "FAILED"
    assert "4 failed" in progress.detail
    assert "running again" not in progress.detail


def test_a_rollback_already_done_is_a_failure() -> None:
    """Our deployment gone from the list: the PRIMARY one runs another revision."""
    progress = rollout.judge(
        service(deployment(TEMPLATE, rolloutState="COMPLETED")), REVISION, CONFIG
    )
    assert progress.state == "FAILED"
    assert progress.detail.startswith(f"the rollout of {REVISION} was rolled back or replaced;")
    assert f"running again: {TEMPLATE} COMPLETED" in progress.detail


def test_a_deployment_replaced_by_another_is_a_failure() -> None:
    later = TEMPLATE.replace(":1", ":3")
    progress = rollout.judge(
        service(deployment(later), deployment(REVISION, "ACTIVE")), REVISION, CONFIG
    )
    assert progress.state == "FAILED"
    assert progress.detail.startswith(f"the rollout of {REVISION} IN_PROGRESS: 1 of 2 running")
    assert f"running again: {later}" in progress.detail


@pytest.mark.parametrize(
    ("current", "message"),
    [
        (None, "service 'pipeline-dev/pipeline-app-dev' is missing"),
        (service(status="DRAINING"), "service 'pipeline-dev/pipeline-app-dev' is DRAINING"),
        (
            service(deployment(REVISION, rolloutState=None)),
            "service 'pipeline-dev/pipeline-app-dev' reports no PRIMARY deployment with a "
            "rolloutState: it must use the rolling update (ECS) deployment controller",
        ),
        (
            service(),
            "service 'pipeline-dev/pipeline-app-dev' reports no PRIMARY deployment with a "
            "rolloutState: it must use the rolling update (ECS) deployment controller",
        ),
    ],
)
def test_a_service_that_cannot_be_followed_is_a_configuration_error(
    current: dict[str, Any] | None, message: str
) -> None:
    with pytest.raises(JobFailure) as raised:
        rollout.judge(current, REVISION, CONFIG)
    assert (raised.value.failure_type, raised.value.message) == ("ConfigurationError", message)


def test_describe_tolerates_missing_counts() -> None:
    assert (
        rollout.describe({}) == "unknown without rolloutState: 0 of 0 running, 0 pending, 0 failed"
    )


def test_the_timeout_says_what_is_running() -> None:
    progress = rollout.Progress("IN_PROGRESS", f"{REVISION} IN_PROGRESS: 1 of 2 running")
    assert rollout.timed_out_message(REVISION, progress, 600, 7) == (
        f"the rollout of {REVISION} did not finish within 600 s (7 polls): {REVISION} "
        "IN_PROGRESS: 1 of 2 running. ECS goes on with the deployment; the release is not "
        "recorded"
    )


# --- the token ------------------------------------------------------------------------------------


NOW = 1_767_225_600


def test_the_rollout_token_is_the_scan_token_with_a_revision() -> None:
    token = scanning.Waiting(DIGEST, NOW, 1, REVISION).token()
    assert json.loads(token) == {"v": 1, "d": DIGEST, "s": NOW, "n": 1, "r": REVISION}
    again = scanning.Waiting.from_token(token, DIGEST, NOW + 1000, 900, 1800)
    assert again == scanning.Waiting(DIGEST, NOW, 2, REVISION)
    # The scan token is unchanged: no "r".
    assert "r" not in json.loads(scanning.Waiting(DIGEST, NOW).token())


@pytest.mark.parametrize(
    ("revision", "rollout_wait", "now", "message"),
    [
        (7, 1800, NOW, "its revision is not a task-definition ARN"),
        ("", 1800, NOW, "its revision is not a task-definition ARN"),
        (REVISION, None, NOW, "it follows a rollout, but the deploy target is none"),
        (REVISION, 1800, NOW + 2101, "it started more than 2100 s ago, past the 1800 s rollout"),
    ],
)
def test_a_rollout_token_we_did_not_write_fails(
    revision: Any, rollout_wait: int | None, now: int, message: str
) -> None:
    token = json.dumps({"v": 1, "d": DIGEST, "s": NOW, "n": 1, "r": revision})
    with pytest.raises(JobFailure) as raised:
        scanning.Waiting.from_token(token, DIGEST, now, 900, rollout_wait)
    assert raised.value.failure_type == "JobFailed"
    assert message in raised.value.message


# --- the release record -----------------------------------------------------------------------


def release(**extra: Any) -> releases.Release:
    return releases.Release(
        image=Image(IMAGE.partition("@")[0], DIGEST),
        commit=None,
        source_version="v1",
        execution_id="execution-2",
        image_tag="0123456789ab-7",
        recorded_at="2026-01-01T00:00:00+00:00",
        job_id="job-2",
        release_tag="release-abababababab",
        **extra,
    )


def test_the_record_holds_the_task_definition_and_the_previous_release() -> None:
    earlier = release(task_definition=TEMPLATE, previous={"imageDigest": "sha256:old"})
    previous = releases.previous_of(earlier.text())
    assert previous == {
        "imageDigest": DIGEST,
        "imageUri": IMAGE,
        "releaseTag": "release-abababababab",
        "taskDefinitionArn": TEMPLATE,
        "pipelineExecutionId": "execution-2",
        "recordedAt": "2026-01-01T00:00:00+00:00",
    }
    record = release(task_definition=REVISION, previous=previous).record()
    assert record["taskDefinitionArn"] == REVISION
    assert record["previousRelease"] == previous
    # One release deep: the previous release's own previous one is not kept.
    assert "previousRelease" not in record["previousRelease"]


@pytest.mark.parametrize("stored", [None, "", "not json", "[1]", '{"imageDigest": null}'])
def test_no_previous_release_before_the_first(stored: str | None) -> None:
    assert releases.previous_of(stored) is None


def test_the_release_message_and_variables_name_the_revision() -> None:
    rolled = release(task_definition=REVISION)
    assert f"Running as: {REVISION}" in rolled.message("/p")
    assert releases.output_variables(rolled, "/p", 3, "sent")["taskDefinitionArn"] == REVISION
    assert "taskDefinitionArn" not in releases.output_variables(release(), "/p", 3, "sent")
    assert "Running as" not in release().message("/p")


def test_the_failure_announcement() -> None:
    image = Image(IMAGE.partition("@")[0], DIGEST)
    assert releases.failure_subject(image) == "Release abababababab failed to roll out"
    assert releases.failure_message(image, None, "not released: x") == (
        f"Not released: {IMAGE}\nPipeline execution: unknown\nReason: not released: x\n"
        "The release parameter is unchanged."
    )
