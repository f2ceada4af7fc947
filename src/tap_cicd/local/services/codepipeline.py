"""CodePipeline executions that run: each stage's actions in order, artifacts in the artifact
store, variables resolved, state-change events on EventBridge, and the API to watch and answer
them (GetPipelineState, ListActionExecutions, the job and approval calls).

moto records an execution as Succeeded the moment it starts and has no job API; here
``StartPipelineExecution`` (and an EventBridge rule's pipeline target, through
``start_execution``) starts a thread that runs the execution. In QUEUED mode an execution
enters a stage only after every earlier execution has left it.
https://docs.aws.amazon.com/codepipeline/latest/userguide/concepts-how-it-works.html
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from moto.codepipeline.exceptions import PipelineNotFoundException
from moto.codepipeline.models import codepipeline_backends

from tap_cicd.local.services import events, pipeline_actions, pipeline_base, pipeline_jobs
from tap_cicd.local.services.pipeline_model import (
    FAILED,
    IN_PROGRESS,
    SUCCEEDED,
    ActionRun,
    Execution,
)

RESET_JOIN_SECONDS = 10.0
"""How long a reset waits for a stopped execution's thread (a build or function under way)."""
EVENT_SOURCE = "aws.codepipeline"
"""https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html"""
PIPELINE_EVENT = "CodePipeline Pipeline Execution State Change"
STAGE_EVENT = "CodePipeline Stage Execution State Change"
ACTION_EVENT = "CodePipeline Action Execution State Change"
STOPPED, STOPPING = "Stopped", "Stopping"
EVENT_STATES = {
    IN_PROGRESS: "STARTED",
    SUCCEEDED: "SUCCEEDED",
    FAILED: "FAILED",
    "Abandoned": "ABANDONED",
    STOPPED: "STOPPED",
    STOPPING: "STOPPING",
}


class Gate:
    """A stage that executions enter one at a time, in the order they asked (QUEUED mode)."""

    def __init__(self) -> None:
        self._turns: deque[str] = deque()
        self._changed = threading.Condition()

    def enter(self, execution_id: str, stopped: threading.Event) -> bool:
        """Wait for ``execution_id``'s turn; False when stopped while waiting."""
        with self._changed:
            self._turns.append(execution_id)
            while not stopped.is_set():
                if self._turns[0] == execution_id:
                    return True
                self._changed.wait(pipeline_base.POLL_SECONDS)
            self._turns.remove(execution_id)
            self._changed.notify_all()
            return False

    def leave(self, execution_id: str) -> None:
        """Let the next execution in."""
        with self._changed:
            self._turns.remove(execution_id)
            self._changed.notify_all()


class Pipelines:
    """Every execution the emulator started, by (account, region, pipeline name)."""

    def __init__(self) -> None:
        self.executions: dict[tuple[str, str, str], dict[str, Execution]] = {}
        self.gates: dict[tuple[str, str, str, str], Gate] = {}
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def of(self, account: str, region: str, name: str) -> dict[str, Execution]:
        """The pipeline's executions, oldest first."""
        with self.lock:
            return self.executions.setdefault((account, region, name), {})

    def gate(self, execution: Execution, stage: str) -> Gate:
        """The gate of one stage of one pipeline."""
        with self.lock:
            return self.gates.setdefault(
                (execution.account, execution.region, execution.pipeline, stage), Gate()
            )


PIPELINES = Pipelines()


def declaration_of(account: str, region: str, name: str) -> dict[str, Any]:
    pipeline = codepipeline_backends[account][region].pipelines.get(name)
    if pipeline is None:
        raise PipelineNotFoundException(
            f"Account '{account}' does not have a pipeline with name '{name}'"
        )
    return dict(pipeline.pipeline)


def start_execution(
    account: str,
    region: str,
    name: str,
    trigger_type: str,
    trigger_detail: str,
    *,
    variables: dict[str, str] | None = None,
) -> str:
    """Start an execution of pipeline ``name`` and return its id (it runs in a thread).
    https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ExecutionTrigger.html
    """
    declaration = declaration_of(account, region, name)
    defaults = {
        item["name"]: item.get("defaultValue", "") for item in declaration.get("variables") or []
    }
    execution = Execution(
        account=account,
        region=region,
        pipeline=name,
        version=int(declaration.get("version", 1)),
        trigger={"triggerType": trigger_type, "triggerDetail": trigger_detail},
        mode=str(declaration.get("executionMode") or "SUPERSEDED"),
        variables=defaults | (variables or {}),
        role_arn=str(declaration.get("roleArn") or ""),
    )
    PIPELINES.of(account, region, name)[execution.id] = execution
    thread = threading.Thread(
        target=_run,
        args=(execution, declaration, PIPELINES.stopped),
        daemon=True,
        name=f"pipeline-{execution.id}",
    )
    with PIPELINES.lock:
        PIPELINES.threads = [*(item for item in PIPELINES.threads if item.is_alive()), thread]
    thread.start()
    return execution.id


def _emit(
    execution: Execution, stopped: threading.Event, detail_type: str, detail: dict[str, Any]
) -> None:
    """Put one state-change event on the bus (nothing once the execution was stopped)."""
    if stopped.is_set():
        return
    events.emit(
        execution.account,
        execution.region,
        EVENT_SOURCE,
        detail_type,
        {
            "pipeline": execution.pipeline,
            "execution-id": execution.id,
            **detail,
            "version": float(execution.version),
        },
        [execution.arn],
    )


def _run(execution: Execution, declaration: dict[str, Any], forgotten: threading.Event) -> None:
    """Run the stages in order; the first failed stage fails the execution, a stop stops it
    before the next stage (an abandoning stop at once). ``forgotten``: a reset."""
    trigger = {
        "trigger-type": execution.trigger["triggerType"],
        "trigger-detail": execution.trigger["triggerDetail"],
    }
    _emit(execution, forgotten, PIPELINE_EVENT, {"state": "STARTED", "execution-trigger": trigger})
    store = pipeline_base.Store.of(declaration, execution.region)
    status, summary = SUCCEEDED, None
    for stage in declaration["stages"]:
        failed = None
        gate = PIPELINES.gate(execution, stage["name"]) if execution.mode != "PARALLEL" else None
        entered = gate is None or gate.enter(execution.id, execution.stop_requested)
        if forgotten.is_set():
            return
        if entered:
            try:
                failed = _run_stage(execution, stage, store, forgotten)
            finally:
                if gate is not None:
                    gate.leave(execution.id)
            if forgotten.is_set():
                return
        if execution.stop_requested.is_set():
            status, summary = STOPPED, (execution.stop_trigger or {}).get("reason")
            break
        if failed is not None:
            status = FAILED
            message = (failed.error or {}).get("message", "")
            summary = f"{stage['name']}/{failed.name}: {message}"[:2048]
            break
    # The final event is delivered (synchronously) before the execution reads as ended, so a
    # caller that saw it end also sees what became of its notification.
    _emit(
        execution,
        forgotten,
        PIPELINE_EVENT,
        {"state": EVENT_STATES[status], "execution-trigger": trigger},
    )
    execution.finish(status, summary)


def _run_stage(
    execution: Execution,
    stage: dict[str, Any],
    store: pipeline_base.Store,
    forgotten: threading.Event,
) -> ActionRun | None:
    """Run a stage's actions by run order (one at a time); return the action that failed."""
    name = stage["name"]
    execution.stages[name] = IN_PROGRESS
    _emit(execution, forgotten, STAGE_EVENT, {"stage": name, "state": "STARTED"})
    failed = None
    for declaration in sorted(stage["actions"], key=lambda action: int(action.get("runOrder", 1))):
        run = ActionRun(stage=name, declaration=declaration)
        with execution.lock:
            execution.actions.append(run)
        _emit(execution, forgotten, ACTION_EVENT, _action_detail(execution, run))
        pipeline_actions.run_action(execution, run, store, execution.halt)
        if forgotten.is_set():
            return None
        if declaration.get("namespace") and run.status == SUCCEEDED:
            execution.namespaces[declaration["namespace"]] = dict(run.variables)
        execution.updated = run.updated
        _emit(execution, forgotten, ACTION_EVENT, _action_detail(execution, run))
        if run.status != SUCCEEDED:
            failed = run
            break
    stopped = execution.stop_requested.is_set() and (failed is None or failed.status != FAILED)
    execution.stages[name] = STOPPED if stopped else FAILED if failed is not None else SUCCEEDED
    _emit(
        execution,
        forgotten,
        STAGE_EVENT,
        {"stage": name, "state": EVENT_STATES[execution.stages[name]]},
    )
    return failed


def stop_execution(
    account: str, region: str, name: str, execution_id: str, *, abandon: bool, reason: str
) -> Execution:
    """StopPipelineExecution: no further stage starts; with ``abandon`` the actions under way
    are abandoned too. https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-stop.html
    """
    execution = PIPELINES.of(account, region, name)[execution_id]
    execution.stop_trigger = {"reason": reason}
    execution.status = STOPPING
    execution.stop_requested.set()
    if abandon:
        execution.halt.set()
    _emit(execution, PIPELINES.stopped, PIPELINE_EVENT, {"state": "STOPPING"})
    return execution


def _action_detail(execution: Execution, run: ActionRun) -> dict[str, Any]:
    type_id = run.type_id
    detail: dict[str, Any] = {
        "stage": run.stage,
        "action": run.name,
        "state": EVENT_STATES[run.status],
        "region": execution.region,
        "type": {key: type_id[key] for key in ("owner", "provider", "category", "version")},
    }
    if run.error is not None:
        detail["execution-result"] = {
            "external-execution-summary": run.error["message"],
            "error-code": run.error["code"],
        }
    return detail


def reset() -> None:
    """Stop every running execution (waiting for their threads) and forget them all."""
    PIPELINES.stopped.set()
    with PIPELINES.lock:
        running = [e for executions in PIPELINES.executions.values() for e in executions.values()]
    for execution in running:
        execution.stop_requested.set()
        execution.halt.set()
    with PIPELINES.lock:
        threads, PIPELINES.threads = PIPELINES.threads, []
    for thread in threads:
        thread.join(RESET_JOIN_SECONDS)
    with PIPELINES.lock:
        PIPELINES.executions.clear()
        PIPELINES.gates.clear()
        PIPELINES.stopped = threading.Event()
    pipeline_jobs.APPROVALS.clear()
    pipeline_jobs.JOBS.clear()


def install() -> None:
    """Answer the execution, state, job and approval calls of CodePipeline's API."""
    from tap_cicd.local.services import codepipeline_api  # noqa: PLC0415 - it imports this module

    codepipeline_api.install()
