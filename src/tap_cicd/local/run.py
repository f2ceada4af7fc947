"""``tap run``'s logic: follow one pipeline execution through the standard APIs until it ends
(``source`` uploads the source and finds the execution its upload started).

Nothing here prints: every change is an event handed to a callback (``run_view`` renders
them), and the outcome is a ``RunResult``. ``clients`` is any callable that returns a boto3
client by service name (``Clients``), so the logic runs against the emulator, AWS or fakes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from tap_cicd.errors import RunFailedError, RunTimeoutError, TapError

POLL_SECONDS = 0.25
REPORT_SECONDS = 2.0
"""How long the end waits for a function's log to close with Lambda's ``REPORT`` line."""
TERMINAL = ("Succeeded", "Failed", "Stopped", "Superseded", "Cancelled")
"""The end states of a pipeline execution.
https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PipelineExecution.html"""
PENDING = "Pending"
"""An action or stage the execution has not entered yet (no API value)."""

Clients = Callable[[str], Any]
Detail = Mapping[str, Any]
"""An API answer's object (an ActionExecutionDetail, an ActionExecution)."""
Decide = Callable[[str, str, str], bool]
"""Asked when an approval waits: (stage, action, its resolved ``CustomData``) -> approve?"""


@contextmanager
def refused(pipeline: str) -> Iterator[None]:
    """An AWS error while running ``pipeline`` is one ``RunFailedError`` line."""
    try:
        yield
    except ClientError as error:
        raise RunFailedError(f"cannot run pipeline {pipeline}: {error}") from error


@dataclass
class ActionResult:
    """One action of the execution, as ListActionExecutions and GetPipelineState show it."""

    name: str
    category: str
    provider: str
    status: str = PENDING
    summary: str | None = None
    external_id: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    """The error message of a failed action."""


@dataclass
class StageResult:
    name: str
    actions: list[ActionResult]
    status: str = PENDING


@dataclass
class RunResult:
    """Where the execution is, or how it ended (``status`` is the execution's own)."""

    pipeline: str
    execution_id: str
    stages: list[StageResult]
    status: str = "InProgress"
    summary: str | None = None
    seconds: float = 0.0
    source: dict[str, Any] = field(default_factory=dict)
    release: dict[str, Any] | None = None
    """The release the function action recorded: its output variables and ``record``."""
    timeout: float | None = None
    """Set when ``tap run`` stopped waiting after this many seconds."""
    dropped: list[dict[str, Any]] = field(default_factory=list)
    """The emulator's dropped deliveries of the pipeline's state-change notifications."""
    denied: list[dict[str, Any]] = field(default_factory=list)
    """The calls the emulator refused during the run, as AWS would (principal, action,
    resource, reason, message)."""

    def failure(self) -> str | None:
        """``stage S, action A: reason`` of the first failed action; ``None`` when none."""
        for stage in self.stages:
            for action in stage.actions:
                if action.status == "Failed":
                    return f"stage {stage.name}, action {action.name}: {action.message}"
        return None

    def error(self) -> TapError | None:
        """What ``tap run`` ends with: ``None`` when the execution succeeded."""
        if self.status == "Succeeded":
            return None
        where = f"execution {self.execution_id} of pipeline {self.pipeline}"
        if self.timeout is not None:
            running = [s.name for s in self.stages if s.status == "InProgress"]
            at = f" (stage {running[-1]} in progress)" if running else ""
            return RunTimeoutError(f"stopped waiting after {self.timeout:g} s: {where} goes on{at}")
        reason = self.failure() or self.summary or "no reason given"
        return RunFailedError(f"{where} {self.status}: {reason}")


# Events, in the order they happen; each carries the live record it is about.
@dataclass(frozen=True)
class Started:
    result: RunResult


@dataclass(frozen=True)
class StageChanged:
    stage: StageResult


@dataclass(frozen=True)
class ActionChanged:
    stage: str
    action: ActionResult


@dataclass(frozen=True)
class LogLine:
    source: str
    """The action's name in lower case (``build``, ``deploy``)."""
    text: str


@dataclass(frozen=True)
class Note:
    text: str


Event = Started | StageChanged | ActionChanged | LogLine | Note


def declaration(clients: Clients, pipeline: str) -> list[StageResult]:
    """The pipeline's stages and actions, all pending (GetPipeline)."""
    stages = clients("codepipeline").get_pipeline(name=pipeline)["pipeline"]["stages"]
    return [
        StageResult(
            stage["name"],
            [
                ActionResult(
                    a["name"], a["actionTypeId"]["category"], a["actionTypeId"]["provider"]
                )
                for a in stage["actions"]
            ],
        )
        for stage in stages
    ]


class LogTails:
    """The logs of the execution's build and function actions, read forward as they grow:
    GetLogEvents from the last ``nextForwardToken`` (the same token back: nothing new).
    https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html
    """

    def __init__(self, clients: Clients, on_event: Callable[[Event], None]) -> None:
        self.clients, self.emit = clients, on_event
        self.tails: dict[tuple[str, str, str], dict[str, Any]] = {}
        """(source, group, stream) -> the GetLogEvents arguments that continue it."""
        self.functions: dict[str, tuple[str, int]] = {}
        """source -> (log group, start in ms) of each function action that ran."""

    def watch(self, source: str, action: ActionResult, detail: Mapping[str, Any]) -> None:
        """Find the log of a running action: its build's (BatchGetBuilds' ``logs``), or its
        function's streams written since it started (Lambda's default log group)."""
        if action.provider == "CodeBuild" and action.external_id:
            if not any(key[0] == source for key in self.tails):
                # https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BatchGetBuilds.html
                builds = self.clients("codebuild").batch_get_builds(ids=[action.external_id])
                logs = (builds["builds"] or [{}])[0].get("logs") or {}
                if logs.get("groupName") and logs.get("streamName"):
                    self._tail(source, logs["groupName"], logs["streamName"], 0)
        elif action.provider == "Lambda":
            configuration = (detail.get("input") or {}).get("configuration") or {}
            started = int(detail["startTime"].timestamp() * 1000)
            group = f"/aws/lambda/{configuration.get('FunctionName')}"
            self.functions[source] = (group, started)

    def _tail(self, source: str, group: str, stream: str, start: int) -> None:
        arguments = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
        self.tails.setdefault((source, group, stream), arguments | {"startTime": start})

    def _streams(self) -> None:
        """The functions' streams with events since the action started (newest first)."""
        logs = self.clients("logs")
        for source, (group, start) in self.functions.items():
            try:
                # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_DescribeLogStreams.html
                streams = logs.describe_log_streams(
                    logGroupName=group, orderBy="LastEventTime", descending=True, limit=5
                )["logStreams"]
            except ClientError:  # the group is created with the function's first log
                continue
            for stream in streams:
                if stream.get("lastEventTimestamp", stream["creationTime"]) >= start:
                    self._tail(source, group, stream["logStreamName"], start)

    def read(self) -> list[str]:
        """Send every new line of every log; returns them."""
        self._streams()
        logs, lines = self.clients("logs"), []
        for (source, _group, _stream), arguments in self.tails.items():
            while True:
                try:
                    page = logs.get_log_events(**arguments)
                except ClientError:  # the stream is not there yet
                    break
                for event in page["events"]:
                    for text in event["message"].rstrip("\n").splitlines() or [""]:
                        lines.append(text)
                        self.emit(LogLine(source, text))
                if not page["events"] or page["nextForwardToken"] == arguments.get("nextToken"):
                    break
                arguments["nextToken"] = page["nextForwardToken"]
        return lines

    def drain(self, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        """Read what is left; a function's log reaches CloudWatch Logs after the function
        returns, so wait a little for the ``REPORT`` line that closes each invocation."""
        deadline = clock() + REPORT_SECONDS
        seen = self.read()
        while self.functions and not any(t.startswith("REPORT ") for t in seen):
            if clock() >= deadline:
                return
            sleep(POLL_SECONDS)
            seen += self.read()


class Follower:
    """Follows one execution: polls its state, reports each change, answers approvals with
    ``decide`` and (unless ``logs`` is false) streams its build's and function's logs."""

    def __init__(
        self,
        clients: Clients,
        result: RunResult,
        on_event: Callable[[Event], None],
        decide: Decide,
        *,
        logs: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clients, self.pipeline = clients, clients("codepipeline")
        self.result, self.emit, self.decide = result, on_event, decide
        self.clock, self.sleep = clock, sleep
        self.answered: set[str] = set()
        self.logs = LogTails(clients, on_event) if logs else None

    def follow(self, timeout: float) -> RunResult:
        """Poll until the execution ends or ``timeout`` seconds have passed."""
        started, result = self.clock(), self.result
        self.emit(Started(result))
        while True:
            self.poll()
            if result.status in TERMINAL:
                break
            if self.clock() - started >= timeout:
                result.timeout = timeout
                break
            if self.logs:
                self.logs.read()
            self.sleep(POLL_SECONDS)
        if self.logs:
            self.logs.drain(self.clock, self.sleep)
        if result.status == "Succeeded":
            result.release = self._release()
        result.seconds = self.clock() - started
        return result

    def poll(self) -> None:
        """One look at the execution, then its stages, then its actions: each answer is at
        least as new as the one before, so a stage never looks done before its actions."""
        name, execution_id = self.result.pipeline, self.result.execution_id
        # https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_GetPipelineExecution.html
        execution = self.pipeline.get_pipeline_execution(
            pipelineName=name, pipelineExecutionId=execution_id
        )["pipelineExecution"]
        # GetPipelineState: the stages' latest executions, and an approval's token.
        # https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_GetPipelineState.html
        states = self.pipeline.get_pipeline_state(name=name).get("stageStates") or []
        # https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListActionExecutions.html
        details = self.pipeline.list_action_executions(
            pipelineName=name, filter={"pipelineExecutionId": execution_id}, maxResults=100
        )["actionExecutionDetails"]
        latest = {(d["stageName"], d["actionName"]): d for d in details[::-1]}  # newest wins
        by_stage = {s["stageName"]: s for s in states}
        for stage in self.result.stages:
            self._stage(stage, by_stage.get(stage.name) or {}, latest)
        self.result.status = execution["status"]
        self.result.summary = execution.get("statusSummary")

    def _stage(
        self, stage: StageResult, state: Mapping[str, Any], latest: Mapping[Any, Any]
    ) -> None:
        """A stage's actions, reported after the stage starts and before it ends."""
        mine = state.get("latestExecution") or {}
        ours = mine.get("pipelineExecutionId") == self.result.execution_id
        changed = ours and mine["status"] != stage.status
        if changed and mine["status"] == "InProgress":
            stage.status = mine["status"]
            self.emit(StageChanged(stage))
        actions = {
            a["actionName"]: a.get("latestExecution") or {} for a in state.get("actionStates") or []
        }
        for action in stage.actions:
            detail = latest.get((stage.name, action.name))
            if detail is None:
                continue
            current = actions.get(action.name, {}) if ours else {}
            self._action(stage.name, action, detail, current)
            if action.status == "InProgress":
                self._approval(stage.name, action, current, detail)
            if action.status == "InProgress" and self.logs:
                self.logs.watch(action.name.lower(), action, detail)
        if changed and mine["status"] != "InProgress":
            stage.status = mine["status"]
            self.emit(StageChanged(stage))

    def _action(self, stage: str, action: ActionResult, detail: Detail, current: Detail) -> None:
        output = detail.get("output") or {}
        outcome = output.get("executionResult") or {}
        error = outcome.get("errorDetails") or current.get("errorDetails") or {}
        before = (action.status, action.summary, action.external_id, action.message)
        action.status = detail["status"]
        action.summary = outcome.get("externalExecutionSummary") or current.get("summary")
        action.external_id = outcome.get("externalExecutionId") or current.get(
            "externalExecutionId"
        )
        action.message = error.get("message")
        action.variables = dict(output.get("outputVariables") or {})
        if before != (action.status, action.summary, action.external_id, action.message):
            self.emit(ActionChanged(stage, action))

    def _approval(self, stage: str, action: ActionResult, current: Detail, detail: Detail) -> None:
        """Answer a waiting manual approval, once, with GetPipelineState's token."""
        token = current.get("token")
        if action.category != "Approval" or not token or token in self.answered:
            return
        self.answered.add(token)
        resolved = (detail.get("input") or {}).get("resolvedConfiguration") or {}
        approved = self.decide(stage, action.name, resolved.get("CustomData", ""))
        status = "Approved" if approved else "Rejected"
        # https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PutApprovalResult.html
        self.pipeline.put_approval_result(
            pipelineName=self.result.pipeline,
            stageName=stage,
            actionName=action.name,
            result={"summary": f"{status} with tap run", "status": status},
            token=token,
        )
        self.emit(Note(f"{stage}/{action.name}: {status.lower()} with tap run"))

    def _release(self) -> dict[str, Any] | None:
        """The release the last function action recorded: its output variables, and the
        ``record`` it wrote (the ``releaseParameter`` at ``releaseVersion``)."""
        recorded = [
            action.variables
            for stage in self.result.stages
            for action in stage.actions
            if action.provider == "Lambda" and "imageDigest" in action.variables
        ]
        if not recorded:
            return None
        release: dict[str, Any] = dict(recorded[-1])
        parameter, version = release.get("releaseParameter"), release.get("releaseVersion")
        if parameter and version:
            try:
                # https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html
                found = self.clients("ssm").get_parameter(Name=f"{parameter}:{version}")
                release["record"] = json.loads(found["Parameter"]["Value"])
            except (ClientError, ValueError):
                release["record"] = None
        return release
