"""The CodePipeline API calls the emulator answers beyond moto: executions that run, their
state, their action executions, and the job and approval answers.
https://docs.aws.amazon.com/codepipeline/latest/APIReference/Welcome.html
"""

from __future__ import annotations

import json
import time
from typing import Any

from moto.codepipeline.exceptions import PipelineExecutionNotFoundException
from moto.codepipeline.responses import CodePipelineResponse
from moto.core.exceptions import JsonRESTError

from tap_cicd.local.services import pipeline_jobs
from tap_cicd.local.services.codepipeline import (
    PIPELINES,
    STOPPING,
    declaration_of,
    start_execution,
    stop_execution,
)
from tap_cicd.local.services.pipeline_model import Execution


class _NotFound(JsonRESTError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)


def _execution(account: str, region: str, name: str, execution_id: str) -> Execution:
    declaration_of(account, region, name)
    execution = PIPELINES.of(account, region, name).get(execution_id)
    if execution is None:
        raise PipelineExecutionNotFoundException(
            f"Account '{account}' does not have an execution with id '{execution_id}' "
            f"for pipeline '{name}'"
        )
    return execution


def _state(account: str, region: str, name: str) -> dict[str, Any]:
    """GetPipelineState: each stage's latest execution and each action's latest run.
    https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_GetPipelineState.html
    """
    declaration = declaration_of(account, region, name)
    executions = list(PIPELINES.of(account, region, name).values())
    stages = []
    for stage in declaration["stages"]:
        entered = [execution for execution in executions if stage["name"] in execution.stages]
        state: dict[str, Any] = {
            "stageName": stage["name"],
            "inboundTransitionState": {"enabled": True},
            "actionStates": [],
        }
        latest = entered[-1] if entered else None
        if latest is not None:
            state["latestExecution"] = {
                "pipelineExecutionId": latest.id,
                "status": latest.stages[stage["name"]],
            }
        for action in stage["actions"]:
            action_state: dict[str, Any] = {"actionName": action["name"]}
            runs = [
                run
                for execution in entered
                for run in execution.actions
                if run.stage == stage["name"] and run.name == action["name"]
            ]
            if runs:
                action_state["latestExecution"] = runs[-1].state()
            state["actionStates"].append(action_state)
        stages.append(state)
    return {
        "pipelineName": name,
        "pipelineVersion": declaration.get("version", 1),
        "stageStates": stages,
    }


def _action_executions(
    account: str, region: str, name: str, execution_id: str | None
) -> list[dict[str, Any]]:
    """ListActionExecutions, newest first, optionally of one execution."""
    declaration_of(account, region, name)
    executions = list(PIPELINES.of(account, region, name).values())
    if execution_id is not None:
        executions = [_execution(account, region, name, execution_id)]
    details = [
        execution.action_detail(run) for execution in executions for run in list(execution.actions)
    ]
    return sorted(details, key=lambda detail: detail["startTime"], reverse=True)


def _approve(account: str, region: str, body: dict[str, Any]) -> None:
    state = _state(account, region, body["pipelineName"])
    stage = next(
        (item for item in state["stageStates"] if item["stageName"] == body["stageName"]), None
    )
    if stage is None:
        raise _NotFound("StageNotFoundException", f"stage {body['stageName']} does not exist")
    action = next(
        (item for item in stage["actionStates"] if item["actionName"] == body["actionName"]), None
    )
    if action is None:
        raise _NotFound("ActionNotFoundException", f"action {body['actionName']} does not exist")
    token = (action.get("latestExecution") or {}).get("token")
    if token != body["token"] or not pipeline_jobs.answer_approval(token, body["result"]):
        raise _NotFound(
            "InvalidApprovalTokenException", f"the approval token {body['token']} is not valid"
        )


def _answer(response: CodePipelineResponse, answer: dict[str, Any]) -> str:
    job_id = response._get_param("jobId")
    if not pipeline_jobs.answer_job(job_id, response.current_account, response.region, answer):
        raise _NotFound(
            "JobNotFoundException", f"job {job_id} does not exist or is not in progress"
        )
    return ""


def _stop(
    account: str, region: str, name: str, execution_id: str, *, abandon: bool, reason: str
) -> None:
    """Stop an execution in progress (again, to abandon what a first stop let finish).
    https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_StopPipelineExecution.html
    """
    execution = _execution(account, region, name, execution_id)
    if execution.status == STOPPING and not abandon:
        raise _NotFound("DuplicatedStopRequestException", f"{execution_id} is already stopping")
    if execution.status not in ("InProgress", STOPPING):
        raise _NotFound(
            "PipelineExecutionNotStoppableException",
            f"{execution_id} is {execution.status}: only an execution in progress stops",
        )
    stop_execution(account, region, name, execution_id, abandon=abandon, reason=reason)


def handlers() -> dict[str, Any]:
    """The API calls this module answers, as ``CodePipelineResponse`` methods."""

    def start_pipeline_execution(self: CodePipelineResponse) -> str:
        variables = {item["name"]: item["value"] for item in self._get_param("variables") or []}
        caller = f"arn:aws:iam::{self.current_account}:root"
        execution_id = start_execution(
            self.current_account,
            self.region,
            self._get_param("name"),
            "StartPipelineExecution",
            caller,
            variables=variables,
        )
        return json.dumps({"pipelineExecutionId": execution_id})

    def get_pipeline_execution(self: CodePipelineResponse) -> str:
        execution = _execution(
            self.current_account,
            self.region,
            self._get_param("pipelineName"),
            self._get_param("pipelineExecutionId"),
        )
        return json.dumps({"pipelineExecution": execution.to_dict()})

    def list_pipeline_executions(self: CodePipelineResponse) -> str:
        name = self._get_param("pipelineName")
        declaration_of(self.current_account, self.region, name)
        executions = list(reversed(PIPELINES.of(self.current_account, self.region, name).values()))
        limit = self._get_param("maxResults") or 100
        return json.dumps(
            {"pipelineExecutionSummaries": [item.summary_dict() for item in executions[:limit]]}
        )

    def get_pipeline_state(self: CodePipelineResponse) -> str:
        return json.dumps(_state(self.current_account, self.region, self._get_param("name")))

    def list_action_executions(self: CodePipelineResponse) -> str:
        execution_id = (self._get_param("filter") or {}).get("pipelineExecutionId")
        details = _action_executions(
            self.current_account, self.region, self._get_param("pipelineName"), execution_id
        )
        return json.dumps(
            {"actionExecutionDetails": details[: self._get_param("maxResults") or 100]}, default=str
        )

    def put_job_success_result(self: CodePipelineResponse) -> str:
        answer = {
            key: self._get_param(key)
            for key in (
                "continuationToken",
                "executionDetails",
                "outputVariables",
                "currentRevision",
            )
        }
        return _answer(self, {key: value for key, value in answer.items() if value is not None})

    def put_job_failure_result(self: CodePipelineResponse) -> str:
        return _answer(self, {"failureDetails": self._get_param("failureDetails")})

    def put_approval_result(self: CodePipelineResponse) -> str:
        body = {
            key: self._get_param(key)
            for key in ("pipelineName", "stageName", "actionName", "result", "token")
        }
        _approve(self.current_account, self.region, body)
        return json.dumps({"approvedAt": time.time()})

    def stop_pipeline_execution(self: CodePipelineResponse) -> str:
        name, execution_id = self._get_param("pipelineName"), self._get_param("pipelineExecutionId")
        abandon, reason = bool(self._get_param("abandon")), self._get_param("reason") or ""
        _stop(self.current_account, self.region, name, execution_id, abandon=abandon, reason=reason)
        return json.dumps({"pipelineExecutionId": execution_id})

    return {
        handler.__name__: handler
        for handler in (
            start_pipeline_execution,
            get_pipeline_execution,
            list_pipeline_executions,
            get_pipeline_state,
            list_action_executions,
            put_job_success_result,
            put_job_failure_result,
            put_approval_result,
            stop_pipeline_execution,
        )
    }


def install() -> None:
    """Answer the execution, state, job and approval calls of CodePipeline's API."""
    for name, handler in handlers().items():
        setattr(CodePipelineResponse, name, handler)
