"""Following an execution (``tap_cicd.local.run``) against scripted executions whose every
request and answer is checked against botocore's API models, as ``Stubber`` checks them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.validate import ParamValidator, validate_parameters

from tap_cicd.local import run
from tap_cicd.local.run import (
    ActionChanged,
    Event,
    Follower,
    LogLine,
    Note,
    RunFailedError,
    RunResult,
    RunTimeoutError,
    StageChanged,
    Started,
    declaration,
)

from .conftest import PROJECT

EXAMPLE = PROJECT / "examples" / "service"
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
MS0 = int(T0.timestamp() * 1000)
ID = "exec-1"
BUILD = "pipeline-build-dev:0b7c"
BUILD_LOG = ("/aws/codebuild/pipeline-build-dev", "0b7c")
FUNCTION_LOG = "/aws/lambda/pipeline-deploy-dev"
TYPES = {
    "Source": ("Source", "S3"),
    "Build": ("Build", "CodeBuild"),
    "Approve": ("Approval", "Manual"),
    "Deploy": ("Invoke", "Lambda"),
}


class Fake:
    """A ``service`` client answered by ``handlers``; requests and answers are validated
    against the service's model."""

    def __init__(self, service: str, **handlers: Callable[..., dict[str, Any]]) -> None:
        self.meta = boto3.client(  # type: ignore[call-overload]
            service, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
        ).meta
        self.handlers = handlers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., dict[str, Any]]:
        if name not in self.handlers:
            raise AttributeError(f"unexpected call {name}")
        operation = self.meta.service_model.operation_model(self.meta.method_to_api_mapping[name])

        def call(**params: Any) -> dict[str, Any]:
            validate_parameters(params, operation.input_shape)
            self.calls.append((name, params))
            answer = self.handlers[name](**params)
            report = ParamValidator().validate(answer, operation.output_shape)
            assert not report.has_errors(), report.generate_report()
            return answer

        return call


def refusal(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} here"}}, operation)


def detail(stage: str, status: str, n: int = 0, **result: Any) -> dict[str, Any]:
    """An ActionExecutionDetail of the action named like its stage."""
    variables = result.pop("variables", {})
    return {
        "pipelineExecutionId": ID,
        "actionExecutionId": f"{stage}-{n}",
        "stageName": stage,
        "actionName": stage,
        "startTime": T0 + dt.timedelta(seconds=n),
        "status": status,
        "input": {
            "actionTypeId": dict(
                zip(("category", "provider"), TYPES[stage], strict=True),
                owner="AWS",
                version="1",
            ),
            "configuration": result.pop("configuration", {}),
            "resolvedConfiguration": result.pop("resolved", {}),
        },
        "output": {"executionResult": result, "outputVariables": variables},
    }


class Script:
    """An execution that moves one frame on at each sleep; ``hooks[i]`` runs on reaching frame
    ``i`` (logs written meanwhile)."""

    def __init__(self, stages: list[str], frames: list[dict[str, Any]]) -> None:
        self.stages, self.frames, self.index, self.now = stages, frames, 0, 0.0
        self.hooks: dict[int, Callable[[], None]] = {}
        self.logs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.approvals: list[dict[str, Any]] = []

    @property
    def frame(self) -> dict[str, Any]:
        return self.frames[min(self.index, len(self.frames) - 1)]

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.index += 1
        self.hooks.get(self.index, lambda: None)()

    def log(self, group: str, stream: str, *lines: str, at: int = MS0) -> None:
        self.logs.setdefault((group, stream), []).extend(
            {"timestamp": at, "message": line} for line in lines
        )

    # --- CodePipeline
    def get_pipeline(self, name: str) -> dict[str, Any]:
        stages = [
            {
                "name": stage,
                "actions": [
                    {
                        "name": stage,
                        "actionTypeId": dict(
                            zip(("category", "provider"), TYPES[stage], strict=True),
                            owner="AWS",
                            version="1",
                        ),
                    }
                ],
            }
            for stage in self.stages
        ]
        return {"pipeline": {"name": name, "roleArn": "arn:aws:iam::1:role/r", "stages": stages}}

    def get_pipeline_execution(self, pipelineName: str, pipelineExecutionId: str) -> Any:
        execution = {"pipelineName": pipelineName, "pipelineExecutionId": pipelineExecutionId}
        execution["status"] = self.frame["status"]
        if self.frame.get("summary"):
            execution["statusSummary"] = self.frame["summary"]
        return {"pipelineExecution": execution}

    def list_action_executions(self, **_: Any) -> Any:
        return {"actionExecutionDetails": list(reversed(self.frame.get("details", [])))}

    def get_pipeline_state(self, name: str) -> Any:
        states = []
        for stage, (execution, status, current) in self.frame.get("stages", {}).items():
            states.append(
                {
                    "stageName": stage,
                    "latestExecution": {"pipelineExecutionId": execution, "status": status},
                    "actionStates": [{"actionName": stage, "latestExecution": current}],
                }
            )
        return {"pipelineName": name, "stageStates": states}

    def put_approval_result(self, **params: Any) -> Any:
        self.approvals.append(params)
        return {"approvedAt": T0}

    # --- CloudWatch Logs, with AWS's forward tokens
    def get_log_events(self, logGroupName: str, logStreamName: str, **params: Any) -> Any:
        if (logGroupName, logStreamName) not in self.logs:
            raise refusal("ResourceNotFoundException", "GetLogEvents")
        events = [
            e
            for e in self.logs[(logGroupName, logStreamName)]
            if e["timestamp"] >= params.get("startTime", 0)
        ]
        start = int(params.get("nextToken", "f/0")[2:])
        return {"events": events[start:], "nextForwardToken": f"f/{len(events)}"}

    def describe_log_streams(self, logGroupName: str, **_: Any) -> Any:
        streams = [
            {
                "logStreamName": stream,
                "creationTime": events[0]["timestamp"],
                "lastEventTimestamp": events[-1]["timestamp"],
            }
            for (group, stream), events in self.logs.items()
            if group == logGroupName
        ]
        if not streams:
            raise refusal("ResourceNotFoundException", "DescribeLogStreams")
        return {"logStreams": streams}


def clients(script: Script, **extra: Any) -> Callable[[str], Any]:
    made = {
        "codepipeline": Fake(
            "codepipeline",
            get_pipeline=script.get_pipeline,
            get_pipeline_execution=script.get_pipeline_execution,
            list_action_executions=script.list_action_executions,
            get_pipeline_state=script.get_pipeline_state,
            put_approval_result=script.put_approval_result,
        ),
        "logs": Fake(
            "logs",
            get_log_events=script.get_log_events,
            describe_log_streams=script.describe_log_streams,
        ),
        "codebuild": Fake("codebuild", **extra.pop("codebuild", {})),
        "ssm": Fake("ssm", **extra.pop("ssm", {})),
    }
    return made.__getitem__


def follow(
    script: Script, timeout: float = 60, decide: Any = None, logs: bool = True, **extra: Any
) -> tuple[RunResult, list[str]]:
    """Follow the script; returns the result and the events, shown as they came (an event
    carries the live record, which changes after)."""
    made = clients(script, **extra)
    seen: list[str] = []
    result = RunResult("pipeline-dev", ID, declaration(made, "pipeline-dev"))
    follower = Follower(
        made,
        result,
        lambda event: seen.extend(shown([event])),
        decide or (lambda *_: pytest.fail("no approval expected")),
        logs=logs,
        clock=script.clock,
        sleep=script.sleep,
    )
    return follower.follow(timeout), seen


def shown(events: list[Event]) -> list[str]:
    """The events as short lines."""
    lines = []
    for event in events:
        if isinstance(event, Started):
            lines.append(f"started {event.result.execution_id}")
        elif isinstance(event, StageChanged):
            lines.append(f"{event.stage.name}: {event.stage.status}")
        elif isinstance(event, ActionChanged):
            lines.append(f"{event.stage}/{event.action.name}: {event.action.status}")
        elif isinstance(event, LogLine):
            lines.append(f"{event.source} | {event.text}")
        else:
            assert isinstance(event, Note)
            lines.append(event.text)
    return lines


def stage(status: str, current: dict[str, Any] | None = None, execution: str = ID) -> Any:
    return (execution, status, current or {"status": status})


RELEASE = {
    "imageDigest": "sha256:" + "a" * 64,
    "releaseTag": "release-aaaaaaaaaaaa",
    "releaseParameter": "/pipeline/dev/release",
    "releaseVersion": "3",
}


def clean_run() -> Script:
    """Source -> Build (its log written in two batches) -> Deploy, which records a release and
    whose log reaches CloudWatch Logs only after the execution ended."""
    source_done = detail("Source", "Succeeded", 0, externalExecutionSummary="version v1")
    building = detail("Build", "InProgress", 1, externalExecutionId=BUILD)
    built = detail("Build", "Succeeded", 1, externalExecutionId=BUILD, variables={"IMAGE_TAG": "t"})
    deploy = {"configuration": {"FunctionName": "pipeline-deploy-dev"}}
    deploying = detail("Deploy", "InProgress", 2, **deploy)
    deployed = detail("Deploy", "Succeeded", 2, variables=RELEASE, **deploy)
    building_frame = {
        "status": "InProgress",
        "details": [source_done, building],
        "stages": {"Source": stage("Succeeded"), "Build": stage("InProgress")},
    }
    script = Script(
        ["Source", "Build", "Deploy"],
        [
            {"status": "InProgress", "details": [detail("Source", "InProgress")]},
            building_frame,  # BatchGetBuilds: no such build yet
            building_frame,  # the build, without its log yet
            building_frame,  # its log named, the stream not created yet
            building_frame,  # its first lines
            {
                "status": "InProgress",
                "details": [source_done, built, deploying],
                "stages": {"Build": stage("Succeeded"), "Deploy": stage("InProgress")},
            },
            {
                "status": "Succeeded",
                "details": [source_done, built, deployed],
                "stages": {"Build": stage("Succeeded"), "Deploy": stage("Succeeded")},
            },
        ],
    )
    script.hooks[4] = lambda: script.log(*BUILD_LOG, "[Container] Entering phase BUILD", "step 1")
    script.hooks[5] = lambda: script.log(*BUILD_LOG, "Pushed sha256:aaa\n")
    # An older invocation's stream: left out. Ours arrives after the end, REPORT last.
    script.hooks[6] = lambda: script.log(FUNCTION_LOG, "old", "REPORT old", at=MS0 - 60_000)
    script.hooks[8] = lambda: script.log(
        FUNCTION_LOG,
        "new",
        "START RequestId: r",
        "gate passed\nrecorded",
        "REPORT RequestId: r",
        at=MS0 + 5000,
    )
    return script


def test_a_clean_run_is_followed_to_its_release() -> None:
    script = clean_run()
    logged = {"groupName": BUILD_LOG[0], "streamName": BUILD_LOG[1]}
    # Not found at first, then found without its log, then with it.
    answers = iter([{"builds": [], "buildsNotFound": [BUILD]}, {"builds": [{"id": BUILD}]}])

    def batch_get_builds(ids: list[str]) -> Any:
        return next(answers, {"builds": [{"id": ids[0], "logs": logged}]})

    record = '{"imageDigest": "sha256:aaa", "pipelineExecutionId": "exec-1"}'
    parameters: list[str] = []

    def get_parameter(Name: str) -> Any:
        parameters.append(Name)
        return {"Parameter": {"Name": Name, "Value": record, "Version": 3}}

    result, events = follow(
        script,
        codebuild={"batch_get_builds": batch_get_builds},
        ssm={"get_parameter": get_parameter},
    )
    assert events == [
        "started exec-1",
        "Source/Source: InProgress",
        "Source/Source: Succeeded",
        "Source: Succeeded",
        "Build: InProgress",
        "Build/Build: InProgress",
        "build | [Container] Entering phase BUILD",
        "build | step 1",
        "Build/Build: Succeeded",
        "Build: Succeeded",
        "Deploy: InProgress",
        "Deploy/Deploy: InProgress",
        "build | Pushed sha256:aaa",
        "Deploy/Deploy: Succeeded",
        "Deploy: Succeeded",
        "deploy | START RequestId: r",
        "deploy | gate passed",
        "deploy | recorded",
        "deploy | REPORT RequestId: r",
    ]
    assert result.error() is None
    assert result.status == "Succeeded"
    assert result.release == {
        **RELEASE,
        "record": {"imageDigest": "sha256:aaa", "pipelineExecutionId": "exec-1"},
    }
    # The record of this release, not whatever a later execution wrote since.
    assert parameters == ["/pipeline/dev/release:3"]
    assert result.stages[1].actions[0].variables == {"IMAGE_TAG": "t"}
    assert result.stages[1].actions[0].external_id == BUILD
    assert result.seconds == pytest.approx(script.now)


def test_json_reads_no_log() -> None:
    """With logs off (``--json``), neither CodeBuild nor CloudWatch Logs is called."""

    def get_parameter(Name: str) -> Any:
        raise refusal("ParameterNotFound", "GetParameter")

    result, events = follow(clean_run(), logs=False, ssm={"get_parameter": get_parameter})
    assert result.status == "Succeeded"
    assert not [line for line in events if " | " in line]
    assert result.release is not None and result.release["record"] is None


def test_a_failed_build_names_stage_action_and_reason() -> None:
    message = "Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR"
    failed = detail(
        "Build",
        "Failed",
        1,
        externalExecutionId=BUILD,
        errorDetails={"code": "JobFailed", "message": message},
    )
    script = Script(
        ["Source", "Build", "Deploy"],
        [
            {
                "status": "Failed",
                "summary": "Build/Build failed",
                "details": [detail("Source", "Succeeded"), failed],
                "stages": {"Build": stage("Failed")},
            }
        ],
    )
    result, _events = follow(script)
    error = result.error()
    assert isinstance(error, RunFailedError) and error.exit_code == 11
    assert str(error) == (
        f"execution exec-1 of pipeline pipeline-dev Failed: stage Build, action Build: {message}"
    )
    assert [a.status for s in result.stages for a in s.actions] == [
        "Succeeded",
        "Failed",
        "Pending",
    ]
    assert result.release is None


def test_the_error_message_may_come_from_the_pipeline_state() -> None:
    """Where ListActionExecutions has no errorDetails, GetPipelineState's action has them."""
    current = {"status": "Failed", "errorDetails": {"code": "JobFailed", "message": "gate: HIGH"}}
    script = Script(
        ["Deploy", "Build"],
        [
            {
                "status": "Failed",
                "details": [detail("Deploy", "Failed")],
                "stages": {"Deploy": stage("Failed", current)},
            }
        ],
    )
    result, _events = follow(script)
    assert result.failure() == "stage Deploy, action Deploy: gate: HIGH"


@pytest.mark.parametrize(
    ("summary", "reason"), [("stopped by a user", "stopped by a user"), (None, "no reason given")]
)
def test_a_stopped_execution_says_why(summary: str | None, reason: str) -> None:
    script = Script(["Source", "Build"], [{"status": "Stopped", "summary": summary}])
    result, _events = follow(script)
    assert str(result.error()) == f"execution exec-1 of pipeline pipeline-dev Stopped: {reason}"


def test_another_executions_stage_is_not_ours() -> None:
    """QUEUED: the stage's latest execution may be another one; ours waits, pending."""
    script = Script(
        ["Source", "Build"],
        [
            {
                "status": "InProgress",
                "details": [detail("Source", "Succeeded")],
                "stages": {"Build": stage("InProgress", execution="exec-0")},
            },
            {"status": "Succeeded", "details": [detail("Source", "Succeeded")]},
        ],
    )
    result, events = follow(script)
    assert "Build: InProgress" not in events
    assert result.stages[1].status == "Pending"


@pytest.mark.parametrize(("approve", "status"), [(True, "Approved"), (False, "Rejected")])
def test_an_approval_is_answered_once_with_its_token(approve: bool, status: str) -> None:
    waiting = {"status": "InProgress", "token": "tok-1"}
    resolved = {"CustomData": "Release sha256:aaa of repo"}
    asking = detail("Approve", "InProgress", 1, resolved=resolved)
    script = Script(
        ["Source", "Approve"],
        [
            {
                "status": "InProgress",
                "details": [asking],
                "stages": {"Approve": stage("InProgress", waiting)},
            },
            # Still shown waiting at the next look: not answered twice.
            {
                "status": "InProgress",
                "details": [asking],
                "stages": {"Approve": stage("InProgress", waiting)},
            },
            {"status": "Succeeded", "details": [detail("Approve", "Succeeded", 1)]},
        ],
    )
    asked: list[tuple[str, str, str]] = []

    def decide(stage_name: str, action: str, message: str) -> bool:
        asked.append((stage_name, action, message))
        return approve

    _result, events = follow(script, decide=decide)
    assert asked == [("Approve", "Approve", "Release sha256:aaa of repo")]
    assert script.approvals == [
        {
            "pipelineName": "pipeline-dev",
            "stageName": "Approve",
            "actionName": "Approve",
            "result": {"summary": f"{status} with tap run", "status": status},
            "token": "tok-1",
        }
    ]
    assert f"Approve/Approve: {status.lower()} with tap run" in events


def test_a_timeout_leaves_the_execution_running() -> None:
    script = Script(
        ["Source", "Build"],
        [
            {
                "status": "InProgress",
                "details": [detail("Build", "InProgress")],
                "stages": {"Source": stage("Succeeded"), "Build": stage("InProgress")},
            }
        ],
    )
    result, _events = follow(script, timeout=1, codebuild={})
    error = result.error()
    assert isinstance(error, RunTimeoutError) and error.exit_code == 12
    assert str(error) == (
        "stopped waiting after 1 s: execution exec-1 of pipeline pipeline-dev goes on "
        "(stage Build in progress)"
    )
    assert result.timeout == 1
    result.stages[1].status = "Pending"
    assert str(result.error()).endswith("goes on")


def test_a_function_log_without_report_is_waited_for_a_while() -> None:
    """The end waits REPORT_SECONDS for Lambda's REPORT line, then stops waiting."""
    deploy = detail("Deploy", "Succeeded", 0, configuration={"FunctionName": "pipeline-deploy-dev"})
    running = {**deploy, "status": "InProgress"}
    script = Script(
        ["Deploy", "Build"],
        [
            {
                "status": "InProgress",
                "details": [running],
                "stages": {"Deploy": stage("InProgress")},
            },
            {"status": "Failed", "details": [deploy]},
        ],
    )
    script.hooks[1] = lambda: script.log(FUNCTION_LOG, "s", "START RequestId: r")
    result, events = follow(script)
    assert "deploy | START RequestId: r" in events
    assert script.now - 0.25 >= run.REPORT_SECONDS
    assert result.release is None


def test_a_release_without_its_parameter_is_the_variables_alone() -> None:
    variables = {"imageDigest": "sha256:bbb"}
    script = Script(
        ["Deploy", "Build"],
        [{"status": "Succeeded", "details": [detail("Deploy", "Succeeded", variables=variables)]}],
    )
    result, _events = follow(script, logs=False)
    assert result.release == variables
