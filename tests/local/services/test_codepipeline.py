"""CodePipeline executions in the emulator: stages in order, artifacts, variables, the job and
approval APIs, QUEUED mode and the events, with the build and the function replaced by fakes
(their own modules are tested apart)."""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tap_cicd import documents
from tap_cicd.local.services import codebuild, codepipeline, events, iam, lambda_, pipeline_jobs
from tap_cicd.local.services.pipeline_model import ActionRun, UnresolvedVariable

from .conftest import client, deny_actions, post, service_role

REGION = "us-east-1"
ACCOUNT = "123456789012"
PIPELINE = "pipeline-dev"
SOURCE_BUCKET = "tap-source-dev"
ARTIFACT_BUCKET = "tap-artifacts-dev"
KEY_ID = "arn:aws:kms:us-east-1:123456789012:key/0000"
USER_PARAMETERS = json.dumps(
    {
        "imageDigest": "#{BuildVariables.IMAGE_DIGEST}",
        "execution": "#{codepipeline.PipelineExecutionId}",
        "sourceVersion": "#{SourceVariables.VersionId}",
    }
)


def action(name: str, category: str, provider: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "actionTypeId": {
            "category": category,
            "owner": "AWS",
            "provider": provider,
            "version": "1",
        },
        "runOrder": 1,
        **extra,
    }


def stages(
    *, approval_topic: str | None = None, user_parameters: str = USER_PARAMETERS
) -> list[dict[str, Any]]:
    source = action(
        "Source",
        "Source",
        "S3",
        namespace="SourceVariables",
        configuration={
            "S3Bucket": SOURCE_BUCKET,
            "S3ObjectKey": "source.zip",
            "PollForSourceChanges": "false",
        },
        outputArtifacts=[{"name": "source_output"}],
    )
    build = action(
        "Build",
        "Build",
        "CodeBuild",
        namespace="BuildVariables",
        configuration={"ProjectName": "pipeline-build-dev"},
        inputArtifacts=[{"name": "source_output"}],
        outputArtifacts=[{"name": "build_output"}],
    )
    deploy = action(
        "Deploy",
        "Invoke",
        "Lambda",
        configuration={"FunctionName": "pipeline-deploy-dev", "UserParameters": user_parameters},
        inputArtifacts=[{"name": "build_output"}],
    )
    approve = action(
        "Approve",
        "Approval",
        "Manual",
        configuration={
            "NotificationArn": approval_topic or "",
            "CustomData": "digest #{BuildVariables.IMAGE_DIGEST}",
        },
    )
    return [
        {"name": "Source", "actions": [source]},
        {"name": "Build", "actions": [build]},
        *([{"name": "Approve", "actions": [approve]}] if approval_topic else []),
        {"name": "Deploy", "actions": [deploy]},
    ]


def pipeline_role(live: str, name: str) -> str:
    """A role CodePipeline may assume, allowed everything."""
    return service_role(live, name, "codepipeline.amazonaws.com")


def create_pipeline(live: str, mode: str = "QUEUED", **options: Any) -> None:
    role = pipeline_role(live, "pipeline-role")
    client(live, "codepipeline").create_pipeline(
        pipeline={
            "name": PIPELINE,
            "roleArn": role,
            "pipelineType": "V2",
            "executionMode": mode,
            "artifactStore": {
                "type": "S3",
                "location": ARTIFACT_BUCKET,
                "encryptionKey": {"id": KEY_ID, "type": "KMS"},
            },
            "stages": stages(**options),
        }
    )


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@dataclass
class Fakes:
    """The build and the function, as the engine sees them, with what they were given."""

    live: str
    builds: list[Any] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    build_status: str = "SUCCEEDED"
    release_build: threading.Event = field(default_factory=threading.Event)
    answer: Callable[[Any, dict[str, Any]], lambda_.Invocation] | None = None


@pytest.fixture
def fakes(live: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fakes]:
    s3 = client(live, "s3")
    for bucket in (SOURCE_BUCKET, ARTIFACT_BUCKET):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=SOURCE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    found = Fakes(live)
    found.release_build.set()
    records: dict[str, dict[str, Any]] = {}

    def start(request: Any) -> str:
        build_id = f"{request.project_name}:{len(found.builds) + 1}"
        found.builds.append(request)
        records[build_id] = {"buildStatus": "IN_PROGRESS", "phases": []}
        return build_id

    def build(build_id: str) -> dict[str, Any]:
        if found.release_build.is_set() and records[build_id]["buildStatus"] == "IN_PROGRESS":
            number = build_id.rsplit(":", 1)[1]
            if found.build_status == "SUCCEEDED":
                records[build_id] = {
                    "buildStatus": "SUCCEEDED",
                    "exportedEnvironmentVariables": [
                        {"name": "IMAGE_DIGEST", "value": f"sha256:{number * 64}"[:71]}
                    ],
                }
            else:
                records[build_id] = {
                    "buildStatus": "FAILED",
                    "currentPhase": "COMPLETED",
                    "phases": [
                        {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED"},
                        {
                            "phaseType": "BUILD",
                            "phaseStatus": "FAILED",
                            "contexts": [
                                {
                                    "statusCode": "COMMAND_EXECUTION_ERROR",
                                    "message": "Error while executing command: false. "
                                    "Reason: exit status 1",
                                }
                            ],
                        },
                    ],
                }
        return records[build_id]

    def invoke(
        function: str, account: str, region: str, event: dict[str, Any]
    ) -> lambda_.Invocation:
        assert (function, account, region) == ("pipeline-deploy-dev", ACCOUNT, REGION)
        found.jobs.append(event)
        if found.answer is not None:
            return found.answer(client(live, "codepipeline"), event)
        job = event["CodePipeline.job"]
        client(live, "codepipeline").put_job_success_result(
            jobId=job["id"],
            outputVariables={"released": "yes"},
            executionDetails={"summary": "released"},
        )
        return lambda_.Invocation(200, b"null", None, "")

    monkeypatch.setattr(codebuild, "start", start)
    monkeypatch.setattr(codebuild, "build", build)
    monkeypatch.setattr(lambda_, "invoke", invoke)
    monkeypatch.setattr(
        events,
        "emit",
        lambda _a, _r, source, kind, detail, resources: found.events.append((kind, detail)),
    )
    yield found
    # Stop what still runs before the fakes go.
    post(live, "/_tap/reset")


def upload(live: str, files: dict[str, str] | None = None) -> str:
    answer = client(live, "s3").put_object(
        Bucket=SOURCE_BUCKET, Key="source.zip", Body=zipped(files or {"Dockerfile": "FROM scratch"})
    )
    return str(answer["VersionId"])


def wait(live: str, execution_id: str, timeout: float = 10) -> dict[str, Any]:
    pipeline = client(live, "codepipeline")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = pipeline.get_pipeline_execution(
            pipelineName=PIPELINE, pipelineExecutionId=execution_id
        )["pipelineExecution"]
        if execution["status"] not in ("InProgress", "Stopping"):
            return dict(execution)
        time.sleep(0.05)
    raise AssertionError(f"execution {execution_id} still in progress")


def start(live: str) -> str:
    return str(
        client(live, "codepipeline").start_pipeline_execution(name=PIPELINE)["pipelineExecutionId"]
    )


def test_an_execution_runs_source_build_and_deploy_with_artifacts_and_variables(
    live: str, fakes: Fakes
) -> None:
    create_pipeline(live)
    version = upload(live)
    execution_id = start(live)
    execution = wait(live, execution_id)
    assert execution["status"] == "Succeeded"
    assert execution["trigger"]["triggerType"] == "StartPipelineExecution"
    assert execution["executionMode"] == "QUEUED"
    # The source artifact is the uploaded object, copied into the artifact store.
    (request,) = fakes.builds
    assert request.source[0] == ARTIFACT_BUCKET and request.source[1].startswith(
        f"{PIPELINE}/source_output/"
    )
    assert request.source_version == version
    assert request.initiator == f"codepipeline/{PIPELINE}"
    body = (
        client(live, "s3")
        .get_object(Bucket=request.source[0], Key=request.source[1])["Body"]
        .read()
    )
    assert zipfile.ZipFile(io.BytesIO(body)).read("Dockerfile") == b"FROM scratch"
    # The job carries the build's artifact and the resolved parameters.
    (event,) = fakes.jobs
    data = event["CodePipeline.job"]["data"]
    parameters = json.loads(data["actionConfiguration"]["configuration"]["UserParameters"])
    assert parameters == {
        "imageDigest": "sha256:" + "1" * 64,
        "execution": execution_id,
        "sourceVersion": version,
    }
    assert data["inputArtifacts"][0]["location"]["s3Location"]["objectKey"] == request.artifact[1]
    assert data["encryptionKey"] == {"id": KEY_ID, "type": "KMS"}
    assert event["CodePipeline.job"]["accountId"] == ACCOUNT
    # The state, per stage and action.
    state = client(live, "codepipeline").get_pipeline_state(name=PIPELINE)
    assert [
        (stage["stageName"], stage["latestExecution"]["status"]) for stage in state["stageStates"]
    ] == [
        ("Source", "Succeeded"),
        ("Build", "Succeeded"),
        ("Deploy", "Succeeded"),
    ]
    deploy = state["stageStates"][2]["actionStates"][0]["latestExecution"]
    assert deploy["summary"] == "released"
    build = state["stageStates"][1]["actionStates"][0]["latestExecution"]
    assert build["externalExecutionId"] == "pipeline-build-dev:1"
    details = client(live, "codepipeline").list_action_executions(
        pipelineName=PIPELINE, filter={"pipelineExecutionId": execution_id}
    )
    by_name = {detail["actionName"]: detail for detail in details["actionExecutionDetails"]}
    assert by_name["Source"]["output"]["outputVariables"]["VersionId"] == version
    assert by_name["Build"]["output"]["outputVariables"] == {"IMAGE_DIGEST": "sha256:" + "1" * 64}
    assert by_name["Deploy"]["output"]["outputVariables"] == {"released": "yes"}
    assert by_name["Deploy"]["input"]["resolvedConfiguration"]["UserParameters"] == json.dumps(
        parameters, separators=(", ", ": ")
    )
    summary = client(live, "codepipeline").list_pipeline_executions(pipelineName=PIPELINE)[
        "pipelineExecutionSummaries"
    ]
    assert summary[0]["sourceRevisions"] == [{"actionName": "Source", "revisionId": version}]
    # The events CodePipeline emits, in order, with their detail shapes.
    kinds = [
        (kind.split()[1], detail.get("stage"), detail.get("action"), detail["state"])
        for kind, detail in fakes.events
    ]
    assert kinds[0] == ("Pipeline", None, None, "STARTED")
    assert kinds[1:4] == [
        ("Stage", "Source", None, "STARTED"),
        ("Action", "Source", "Source", "STARTED"),
        ("Action", "Source", "Source", "SUCCEEDED"),
    ]
    assert kinds[-1] == ("Pipeline", None, None, "SUCCEEDED")
    pipeline_event = fakes.events[-1][1]
    assert pipeline_event["execution-id"] == execution_id and pipeline_event["pipeline"] == PIPELINE
    assert pipeline_event["execution-trigger"]["trigger-type"] == "StartPipelineExecution"
    action_event = fakes.events[3][1]
    assert action_event["type"] == {
        "owner": "AWS",
        "provider": "S3",
        "category": "Source",
        "version": "1",
    }


def test_a_failed_build_fails_the_execution_and_deploy_never_runs(live: str, fakes: Fakes) -> None:
    fakes.build_status = "FAILED"
    create_pipeline(live)
    upload(live)
    execution = wait(live, start(live))
    assert execution["status"] == "Failed"
    assert execution["statusSummary"].startswith(
        "Build/Build: Build terminated with state: FAILED. Phase: BUILD"
    )
    assert fakes.jobs == []
    state = client(live, "codepipeline").get_pipeline_state(name=PIPELINE)["stageStates"]
    assert "latestExecution" not in state[2]
    error = state[1]["actionStates"][0]["latestExecution"]["errorDetails"]
    assert error["code"] == "JobFailed" and "COMMAND_EXECUTION_ERROR" in error["message"]
    assert fakes.events[-1][1]["state"] == "FAILED"
    failed_action = [detail for kind, detail in fakes.events if detail.get("action") == "Build"][-1]
    assert failed_action["execution-result"]["error-code"] == "JobFailed"


def test_a_missing_source_object_fails_the_source_action(live: str, fakes: Fakes) -> None:
    create_pipeline(live)
    execution = wait(live, start(live))
    assert execution["status"] == "Failed"
    assert "s3://tap-source-dev/source.zip cannot be read" in execution["statusSummary"]
    assert fakes.builds == []


def test_an_unresolved_variable_fails_the_action_with_a_configuration_error(
    live: str, fakes: Fakes
) -> None:
    create_pipeline(live, user_parameters="#{BuildVariables.NOPE}")
    upload(live)
    execution = wait(live, start(live))
    assert execution["status"] == "Failed"
    assert "UnresolvedVariable: #{BuildVariables.NOPE}" in execution["statusSummary"]
    assert fakes.jobs == []


def test_continuation_tokens_invoke_the_function_again_until_it_answers(
    live: str, fakes: Fakes
) -> None:
    def answer(pipeline: Any, event: dict[str, Any]) -> lambda_.Invocation:
        job = event["CodePipeline.job"]
        if "continuationToken" in job["data"]:
            assert job["data"]["continuationToken"] == "r1"
            pipeline.put_job_success_result(
                jobId=job["id"], outputVariables={"taskDefinitionArn": "td:2"}
            )
        else:
            pipeline.put_job_success_result(
                jobId=job["id"],
                continuationToken="r1",
                executionDetails={"summary": "rolling out", "externalExecutionId": "td:2"},
            )
        # A job answers once.
        with pytest.raises(ClientError, match="JobNotFoundException"):
            pipeline.put_job_failure_result(
                jobId=job["id"], failureDetails={"type": "JobFailed", "message": "x"}
            )
        return lambda_.Invocation(200, b"null", None, "")

    fakes.answer = answer
    create_pipeline(live)
    upload(live)
    execution_id = start(live)
    assert wait(live, execution_id)["status"] == "Succeeded"
    assert len(fakes.jobs) == 2
    first, second = (event["CodePipeline.job"]["id"] for event in fakes.jobs)
    assert first != second
    state = client(live, "codepipeline").get_pipeline_state(name=PIPELINE)["stageStates"][2][
        "actionStates"
    ][0]
    assert state["latestExecution"]["externalExecutionId"] == "td:2"
    assert state["latestExecution"]["summary"] == "rolling out"


def test_a_job_failure_fails_the_deploy_action_with_its_type_and_message(
    live: str, fakes: Fakes
) -> None:
    def answer(pipeline: Any, event: dict[str, Any]) -> lambda_.Invocation:
        job = event["CodePipeline.job"]["id"]
        pipeline.put_job_failure_result(
            jobId=job, failureDetails={"type": "JobFailed", "message": "blocked: 1 HIGH finding"}
        )
        return lambda_.Invocation(200, b"null", None, "")

    fakes.answer = answer
    create_pipeline(live)
    upload(live)
    execution = wait(live, start(live))
    assert execution["status"] == "Failed"
    assert execution["statusSummary"] == "Deploy/Deploy: blocked: 1 HIGH finding"


@pytest.mark.parametrize(
    ("invocation", "message"),
    [
        (
            lambda_.Invocation(200, json.dumps({"errorMessage": "boom"}).encode(), "Unhandled", ""),
            "failed (Unhandled) without a job result: boom",
        ),
        (
            lambda_.Invocation(200, b"not json", "Unhandled", ""),
            "failed (Unhandled) without a job result: not json",
        ),
        (
            lambda_.Invocation(200, b"null", None, ""),
            "returned without calling PutJobSuccessResult",
        ),
    ],
)
def test_a_function_that_does_not_answer_fails_the_action_with_why(
    live: str,
    fakes: Fakes,
    monkeypatch: pytest.MonkeyPatch,
    invocation: lambda_.Invocation,
    message: str,
) -> None:
    monkeypatch.setattr(pipeline_jobs, "JOB_ANSWER_GRACE_SECONDS", 0.05)
    fakes.answer = lambda _pipeline, _event: invocation
    create_pipeline(live)
    upload(live)
    execution = wait(live, start(live))
    assert execution["status"] == "Failed"
    assert message in execution["statusSummary"]


def test_a_function_answering_forever_is_stopped(
    live: str, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_jobs, "MAX_CONTINUATIONS", 2)

    def answer(pipeline: Any, event: dict[str, Any]) -> lambda_.Invocation:
        pipeline.put_job_success_result(
            jobId=event["CodePipeline.job"]["id"], continuationToken="again"
        )
        return lambda_.Invocation(200, b"null", None, "")

    fakes.answer = answer
    create_pipeline(live)
    upload(live)
    execution = wait(live, start(live))
    assert "with a continuation token 2 times" in execution["statusSummary"]


def approval_token(live: str, execution_id: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        stage = client(live, "codepipeline").get_pipeline_state(name=PIPELINE)["stageStates"][2]
        latest = stage["actionStates"][0].get("latestExecution", {})
        if latest.get("token"):
            return str(latest["token"])
        time.sleep(0.05)
    raise AssertionError("no approval")


@pytest.mark.parametrize("status", ["Approved", "Rejected"])
def test_an_approval_is_announced_and_waits_for_its_result(
    live: str, fakes: Fakes, status: str
) -> None:
    sns, sqs = client(live, "sns"), client(live, "sqs")
    topic = sns.create_topic(Name="notifications")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = documents.subscriber_queue_policy(queue_arn, topic)
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"Policy": json.dumps(policy)})
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    create_pipeline(live, approval_topic=topic)
    upload(live)
    execution_id = start(live)
    token = approval_token(live, execution_id)
    message = json.loads(
        sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=2)["Messages"][0]["Body"]
    )
    assert message["approval"]["token"] == token
    assert message["approval"]["customData"] == "digest sha256:" + "1" * 64
    assert message["approval"]["approvalReviewLink"].endswith(f"/Approve/Approve/approve/{token}")
    pipeline = client(live, "codepipeline")
    with pytest.raises(ClientError, match="InvalidApprovalTokenException"):
        pipeline.put_approval_result(
            pipelineName=PIPELINE,
            stageName="Approve",
            actionName="Approve",
            result={"status": status, "summary": "x"},
            token="00000000-0000-0000-0000-000000000000",
        )
    with pytest.raises(ClientError, match="StageNotFoundException"):
        pipeline.put_approval_result(
            pipelineName=PIPELINE,
            stageName="Nope",
            actionName="Approve",
            result={"status": status, "summary": "x"},
            token=token,
        )
    with pytest.raises(ClientError, match="ActionNotFoundException"):
        pipeline.put_approval_result(
            pipelineName=PIPELINE,
            stageName="Approve",
            actionName="Nope",
            result={"status": status, "summary": "x"},
            token=token,
        )
    answered = pipeline.put_approval_result(
        pipelineName=PIPELINE,
        stageName="Approve",
        actionName="Approve",
        result={"status": status, "summary": "looked at it"},
        token=token,
    )
    assert "approvedAt" in answered
    execution = wait(live, execution_id)
    if status == "Approved":
        assert execution["status"] == "Succeeded"
        assert len(fakes.jobs) == 1
    else:
        assert execution["status"] == "Failed"
        assert execution["statusSummary"] == "Approve/Approve: Rejected: looked at it"
        assert fakes.jobs == []


def test_queued_executions_enter_a_stage_one_at_a_time_in_order(live: str, fakes: Fakes) -> None:
    fakes.release_build.clear()
    create_pipeline(live)
    upload(live)
    first = start(live)
    second = start(live)
    deadline = time.monotonic() + 5
    while len(fakes.builds) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    # The second waits before Build while the first builds.
    assert len(fakes.builds) == 1
    fakes.release_build.set()
    assert wait(live, first)["status"] == "Succeeded"
    assert wait(live, second)["status"] == "Succeeded"
    assert [
        event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"][
            "UserParameters"
        ].count(first)
        for event in fakes.jobs
    ] == [1, 0]
    summaries = client(live, "codepipeline").list_pipeline_executions(pipelineName=PIPELINE)[
        "pipelineExecutionSummaries"
    ]
    assert [summary["pipelineExecutionId"] for summary in summaries] == [second, first]


def test_parallel_executions_do_not_wait_for_each_other(live: str, fakes: Fakes) -> None:
    fakes.release_build.clear()
    create_pipeline(live, mode="PARALLEL")
    upload(live)
    start(live)
    start(live)
    deadline = time.monotonic() + 5
    while len(fakes.builds) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(fakes.builds) == 2


def test_an_approval_whose_topic_is_missing_fails(live: str, fakes: Fakes) -> None:
    create_pipeline(live, approval_topic="arn:aws:sns:us-east-1:123456789012:missing")
    upload(live)
    execution = wait(live, start(live))
    assert execution["status"] == "Failed"
    assert execution["statusSummary"].startswith("Approve/Approve: ")
    assert "NotFound" in execution["statusSummary"]


def test_unknown_pipelines_executions_and_jobs_are_refused(live: str, fakes: Fakes) -> None:
    pipeline = client(live, "codepipeline")
    with pytest.raises(ClientError, match="PipelineNotFoundException"):
        pipeline.start_pipeline_execution(name="nope")
    create_pipeline(live)
    with pytest.raises(ClientError, match="PipelineExecutionNotFoundException"):
        pipeline.get_pipeline_execution(
            pipelineName=PIPELINE, pipelineExecutionId="00000000-0000-0000-0000-000000000000"
        )
    with pytest.raises(ClientError, match="JobNotFoundException"):
        pipeline.put_job_success_result(jobId="00000000-0000-0000-0000-000000000000")
    assert pipeline.list_action_executions(pipelineName=PIPELINE)["actionExecutionDetails"] == []


def test_resolving_an_unknown_variable_raises() -> None:
    from tap_cicd.local.services.pipeline_model import Execution

    execution = Execution(ACCOUNT, REGION, PIPELINE, 1, {}, "QUEUED", variables={"stage": "dev"})
    assert (
        execution.resolve("#{variables.stage}/#{codepipeline.PipelineExecutionId}")
        == f"dev/{execution.id}"
    )
    with pytest.raises(UnresolvedVariable):
        execution.resolve("#{Nope.X}")


def test_unknown_action_types_and_missing_inputs_fail_their_action(live: str, fakes: Fakes) -> None:
    role = pipeline_role(live, "other-role")
    source, build, _deploy = stages()
    build["actions"][0]["inputArtifacts"] = [{"name": "nope"}]
    odd = {"name": "Odd", "actions": [action("Odd", "Deploy", "ECS", configuration={})]}
    pipeline = client(live, "codepipeline")
    declarations = (
        ("missing-input", [source, build]),
        ("odd", [source, odd]),
        ("unkeyed", stages()),
    )
    for name, declared in declarations:
        pipeline.create_pipeline(
            pipeline={
                "name": name,
                "roleArn": role,
                # The per-region form, without a key: artifacts are written without SSE-KMS.
                "artifactStores": {REGION: {"type": "S3", "location": ARTIFACT_BUCKET}},
                "stages": declared,
            }
        )
    upload(live)
    for name, message in (
        ("missing-input", "input artifact nope does not exist"),
        ("odd", "does not run ECS deploy actions"),
    ):
        execution_id = pipeline.start_pipeline_execution(name=name)["pipelineExecutionId"]
        deadline = time.monotonic() + 10
        while (
            found := pipeline.get_pipeline_execution(
                pipelineName=name, pipelineExecutionId=execution_id
            )["pipelineExecution"]
        )["status"] == "InProgress":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert found["status"] == "Failed" and message in found["statusSummary"]
        # SUPERSEDED is the default mode when a pipeline names none.
        assert found["executionMode"] == "SUPERSEDED"
    assert fakes.builds == []
    unkeyed = pipeline.start_pipeline_execution(name="unkeyed")["pipelineExecutionId"]
    deadline = time.monotonic() + 10
    while not fakes.jobs:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert "encryptionKey" not in fakes.jobs[0]["CodePipeline.job"]["data"]
    assert unkeyed


def test_a_build_that_cannot_start_fails_the_action(
    live: str, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(request: Any) -> str:
        raise KeyError(f"project {request.project_name} does not exist")

    monkeypatch.setattr(codebuild, "start", refuse)
    create_pipeline(live)
    upload(live)
    execution = wait(live, start(live))
    assert (
        "the build could not start: 'project pipeline-build-dev does not exist'"
        in execution["statusSummary"]
    )


def test_an_emulator_fault_in_an_action_fails_it_as_system_unavailable(
    live: str, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_build_id: str) -> dict[str, Any]:
        raise RuntimeError("lost the build")

    monkeypatch.setattr(codebuild, "build", broken)
    create_pipeline(live)
    upload(live)
    execution = wait(live, start(live))
    assert execution["statusSummary"] == "Build/Build: RuntimeError: lost the build"


def test_reset_stops_executions_waiting_for_approval_and_at_a_stage(
    live: str, fakes: Fakes
) -> None:
    create_pipeline(live, approval_topic="")
    # No topic: the approval waits without an announcement.
    source, build, deploy = stages()
    approve = {
        "name": "Approve",
        "actions": [action("Approve", "Approval", "Manual", configuration={"CustomData": "x"})],
    }
    pipeline = client(live, "codepipeline")
    declared = pipeline.get_pipeline(name=PIPELINE)["pipeline"]
    pipeline.update_pipeline(pipeline={**declared, "stages": [source, build, approve, deploy]})
    upload(live)
    first = start(live)
    approval_token(live, first)
    second = start(live)
    # The second waits at the Approve stage's gate, the first for its approval.
    waiting = codepipeline.PIPELINES.of(ACCOUNT, REGION, PIPELINE)[second]
    deadline = time.monotonic() + 10
    while waiting.stages.get("Build") != "Succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.2)
    assert "Approve" not in waiting.stages
    events_before = len(fakes.events)
    post(live, "/_tap/reset")
    assert codepipeline.PIPELINES.executions == {}
    time.sleep(0.2)
    assert len(fakes.events) == events_before
    assert second != first


def test_an_execution_stopped_during_its_deploy_emits_nothing_more(live: str, fakes: Fakes) -> None:
    def answer(pipeline: Any, event: dict[str, Any]) -> lambda_.Invocation:
        pipeline.put_job_success_result(jobId=event["CodePipeline.job"]["id"])
        # What a reset does first: the executions' actions stop, then nothing is emitted.
        for execution in codepipeline.PIPELINES.of(ACCOUNT, REGION, PIPELINE).values():
            execution.halt.set()
        codepipeline.PIPELINES.stopped.set()
        return lambda_.Invocation(200, b"null", None, "")

    fakes.answer = answer
    create_pipeline(live)
    upload(live)
    execution_id = start(live)
    deadline = time.monotonic() + 10
    while not fakes.jobs and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    execution = client(live, "codepipeline").get_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=execution_id
    )
    assert execution["pipelineExecution"]["status"] == "InProgress"
    assert (
        fakes.events[-1][1].get("action") == "Deploy" and fakes.events[-1][1]["state"] == "STARTED"
    )


def test_answers_go_only_to_open_jobs_and_approvals_once() -> None:
    waiter = pipeline_jobs.Waiter()
    pipeline_jobs.APPROVALS["token"] = waiter
    pipeline_jobs.JOBS["job"] = (pipeline_jobs.Waiter(), ACCOUNT, REGION)
    try:
        assert pipeline_jobs.answer_approval("token", {"status": "Approved"})
        assert not pipeline_jobs.answer_approval("token", {"status": "Rejected"})
        assert waiter.answer == {"status": "Approved"}
        assert not pipeline_jobs.answer_job("job", "111122223333", REGION, {})
        assert pipeline_jobs.answer_job("job", ACCOUNT, REGION, {})
        assert not pipeline_jobs.answer_job("job", ACCOUNT, REGION, {})
    finally:
        pipeline_jobs.APPROVALS.clear()
        pipeline_jobs.JOBS.clear()


def test_a_stopped_execution_emits_no_event(monkeypatch: pytest.MonkeyPatch) -> None:
    # A reset can land between an execution's checks and its next event: the event is dropped.
    from tap_cicd.local.services.pipeline_model import Execution

    emitted: list[str] = []
    monkeypatch.setattr(events, "emit", lambda *args: emitted.append(args[3]))
    execution = Execution(ACCOUNT, REGION, PIPELINE, 1, {}, "QUEUED")
    stopped = threading.Event()
    codepipeline._emit(execution, stopped, codepipeline.STAGE_EVENT, {"state": "STARTED"})
    stopped.set()
    codepipeline._emit(execution, stopped, codepipeline.STAGE_EVENT, {"state": "STARTED"})
    assert emitted == [codepipeline.STAGE_EVENT]


def test_a_stop_lets_the_action_under_way_finish_then_stops(live: str, fakes: Fakes) -> None:
    fakes.release_build.clear()
    create_pipeline(live)
    upload(live)
    execution_id = start(live)
    queued = start(live)
    deadline = time.monotonic() + 10
    while not fakes.builds:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pipeline = client(live, "codepipeline")
    pipeline.stop_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=execution_id, reason="not now"
    )
    with pytest.raises(ClientError, match="DuplicatedStopRequestException"):
        pipeline.stop_pipeline_execution(pipelineName=PIPELINE, pipelineExecutionId=execution_id)
    # The queued one, waiting at Build's gate, is stopped before it enters.
    waiting = codepipeline.PIPELINES.of(ACCOUNT, REGION, PIPELINE)[queued]
    while waiting.stages.get("Source") != "Succeeded":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pipeline.stop_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=queued, reason="not now"
    )
    status = pipeline.get_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=execution_id
    )
    assert status["pipelineExecution"]["status"] == "Stopping"
    fakes.release_build.set()
    execution = wait(live, execution_id)
    assert (execution["status"], execution["statusSummary"]) == ("Stopped", "not now")
    assert wait(live, queued)["status"] == "Stopped"
    assert fakes.jobs == []  # Deploy never started
    state = pipeline.get_pipeline_state(name=PIPELINE)["stageStates"]
    assert state[1]["actionStates"][0]["latestExecution"]["status"] == "Succeeded"
    summary = pipeline.list_pipeline_executions(pipelineName=PIPELINE)["pipelineExecutionSummaries"]
    assert summary[1]["stopTrigger"] == {"reason": "not now"}
    states = [
        d["state"]
        for kind, d in fakes.events
        if kind == codepipeline.PIPELINE_EVENT and d["execution-id"] == execution_id
    ]
    assert states == ["STARTED", "STOPPING", "STOPPED"]
    with pytest.raises(ClientError, match="PipelineExecutionNotStoppableException"):
        pipeline.stop_pipeline_execution(pipelineName=PIPELINE, pipelineExecutionId=execution_id)


def test_an_abandoning_stop_ends_a_waiting_approval_at_once(live: str, fakes: Fakes) -> None:
    create_pipeline(live, approval_topic="")
    source, build, deploy = stages()
    approve = {
        "name": "Approve",
        "actions": [action("Approve", "Approval", "Manual", configuration={})],
    }
    pipeline = client(live, "codepipeline")
    declared = pipeline.get_pipeline(name=PIPELINE)["pipeline"]
    pipeline.update_pipeline(pipeline={**declared, "stages": [source, build, approve, deploy]})
    upload(live)
    execution_id = start(live)
    approval_token(live, execution_id)
    pipeline.stop_pipeline_execution(
        pipelineName=PIPELINE, pipelineExecutionId=execution_id, abandon=True
    )
    assert wait(live, execution_id)["status"] == "Stopped"
    approve_state = pipeline.get_pipeline_state(name=PIPELINE)["stageStates"][2]
    assert approve_state["latestExecution"]["status"] == "Stopped"
    assert approve_state["actionStates"][0]["latestExecution"]["status"] == "Abandoned"
    assert fakes.jobs == []


# --- the pipeline role (issue 14) ---------------------------------------------------------------


def deny(live: str, *actions: str) -> None:
    """An explicit deny of ``actions`` beside the pipeline role's allow-all."""
    deny_actions(live, "pipeline-role", *actions)


def failure(execution: dict[str, Any]) -> str:
    return str(execution["statusSummary"])


@pytest.mark.parametrize(
    ("taken", "where"),
    [
        ("s3:GetObject", "Source/Source"),
        ("codebuild:StartBuild", "Build/Build"),
        ("codebuild:BatchGetBuilds", "Build/Build"),
        ("lambda:InvokeFunction", "Deploy/Deploy"),
    ],
)
def test_an_action_the_pipeline_role_may_not_carry_out_fails_with_why(
    live: str, fakes: Fakes, taken: str, where: str
) -> None:
    create_pipeline(live)
    upload(live)
    deny(live, taken)
    summary = failure(wait(live, start(live)))
    assert summary.startswith(
        f"{where}: Insufficient permissions: The provided role does not have permissions to "
        "perform this action. Underlying error: User: arn:aws:sts::123456789012:assumed-role/"
        "pipeline-role/"
    )
    assert f"is not authorized to perform: {taken} on resource: " in summary
    assert "explicitly denied by the identity policy (statement Taken)" in summary


def test_a_role_codepipeline_may_not_assume_fails_the_first_action(live: str, fakes: Fakes) -> None:
    create_pipeline(live)
    upload(live)
    other = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codebuild.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    client(live, "iam").update_assume_role_policy(
        RoleName="pipeline-role", PolicyDocument=json.dumps(other)
    )
    summary = failure(wait(live, start(live)))
    assert summary.startswith("Source/Source: Insufficient permissions: ")
    assert "User: codepipeline.amazonaws.com is not authorized to perform: sts:AssumeRole" in (
        summary
    )
    assert fakes.builds == []


def test_another_failed_call_of_an_action_is_a_system_error(live: str, fakes: Fakes) -> None:
    create_pipeline(live)
    upload(live)
    s3 = client(live, "s3")
    s3.delete_bucket_encryption(Bucket=ARTIFACT_BUCKET)
    for version in s3.list_object_versions(Bucket=ARTIFACT_BUCKET).get("Versions", []):
        s3.delete_object(Bucket=ARTIFACT_BUCKET, Key=version["Key"], VersionId=version["VersionId"])
    s3.delete_bucket(Bucket=ARTIFACT_BUCKET)
    summary = failure(wait(live, start(live)))
    assert summary.startswith("Source/Source: ClientError: An error occurred (NoSuchBucket)")


def test_an_action_run_has_no_caller_before_it_starts() -> None:
    run = ActionRun(stage="Build", declaration={"name": "Build"})
    with pytest.raises(ValueError, match="the action Build has not started"):
        assert run.caller


def test_an_approval_the_pipeline_role_may_not_announce_fails_with_why(
    live: str, fakes: Fakes
) -> None:
    topic = client(live, "sns").create_topic(Name="approvals")["TopicArn"]
    create_pipeline(live, approval_topic=topic)
    upload(live)
    deny(live, "sns:Publish")
    summary = failure(wait(live, start(live)))
    # SNS's refusal is AuthorizationError: still the role's missing permission.
    assert summary.startswith("Approve/Approve: Insufficient permissions: ")
    assert f"sns:Publish on resource: {topic}" in summary
    assert pipeline_jobs.APPROVALS == {}  # nothing left waiting


def test_a_function_role_lambda_may_not_assume_fails_the_deploy_with_lambdas_words(
    live: str, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: Any) -> lambda_.Invocation:
        raise iam.Denied("lambda.amazonaws.com", "sts:AssumeRole", "arn:role", "no statement")

    monkeypatch.setattr(lambda_, "invoke", refuse)
    create_pipeline(live)
    upload(live)
    summary = failure(wait(live, start(live)))
    assert summary.startswith(
        "Deploy/Deploy: The role defined for the function cannot be assumed by Lambda. User: "
        "lambda.amazonaws.com is not authorized to perform: sts:AssumeRole"
    )


def test_an_action_with_its_own_role_runs_as_it_once_the_pipeline_role_assumes_it(
    live: str, fakes: Fakes
) -> None:
    create_pipeline(live)
    pipeline_arn = client(live, "iam").get_role(RoleName="pipeline-role")["Role"]["Arn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": pipeline_arn}, "Action": "sts:AssumeRole"}
        ],
    }
    action_role = client(live, "iam").create_role(
        RoleName="build-action-role", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    pipeline = client(live, "codepipeline")
    declared = pipeline.get_pipeline(name=PIPELINE)["pipeline"]
    declared["stages"][1]["actions"][0]["roleArn"] = action_role
    pipeline.update_pipeline(pipeline=declared)
    upload(live)
    # The action role has no permission of its own yet: starting the build is refused to it.
    summary = failure(wait(live, start(live)))
    assert "assumed-role/build-action-role/" in summary and "codebuild:StartBuild" in summary
    everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    client(live, "iam").put_role_policy(
        RoleName="build-action-role",
        PolicyName="all",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [everything]}),
    )
    execution_id = start(live)
    assert wait(live, execution_id)["status"] == "Succeeded"
    runs = codepipeline.PIPELINES.of(ACCOUNT, REGION, PIPELINE)[execution_id].actions
    assert [run.caller.role_arn for run in runs if run.stage == "Build"] == [action_role]
    deny(live, "sts:AssumeRole")
    summary = failure(wait(live, start(live)))
    assert summary.startswith("Build/Build: Insufficient permissions: ")
    assert f"sts:AssumeRole on resource: {action_role}" in summary
