"""The records of a pipeline execution in the emulator, and how the CodePipeline API shows them.

An execution holds its stage states, one record per action run, the variables each action's
namespace exports and the artifacts each action wrote; the API shapes are the ones the
CodePipeline API reference gives (GetPipelineExecution, ListPipelineExecutions,
GetPipelineState, ListActionExecutions).
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tap_cicd.local.services import iam

IN_PROGRESS, SUCCEEDED, FAILED = "InProgress", "Succeeded", "Failed"
"""Execution, stage and action statuses (the API's PipelineExecutionStatus values).
https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_PipelineExecution.html"""
VARIABLE = re.compile(r"#\{([A-Za-z0-9@_-]+)\.([A-Za-z0-9@_-]+)\}")
"""``#{namespace.name}``: https://docs.aws.amazon.com/codepipeline/latest/userguide/reference-variables.html"""
PIPELINE_NAMESPACE = "codepipeline"
"""The namespace CodePipeline itself fills (``PipelineExecutionId``)."""
PIPELINE_VARIABLES = "variables"
"""The namespace of pipeline-level variables (V2)."""


def now() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


def stamp(moment: datetime | None) -> float | None:
    """A timestamp as the JSON protocol carries it (epoch seconds)."""
    return moment.timestamp() if moment is not None else None


class UnresolvedVariable(ValueError):
    """A ``#{...}`` reference no namespace of the execution holds."""


@dataclass
class ActionRun:
    """One run of one action in one execution."""

    stage: str
    declaration: dict[str, Any]
    """The action as the pipeline declares it (name, actionTypeId, configuration, ...)."""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = IN_PROGRESS
    started: datetime = field(default_factory=now)
    updated: datetime = field(default_factory=now)
    summary: str | None = None
    external_id: str | None = None
    external_url: str | None = None
    error: dict[str, str] | None = None
    token: str | None = None
    resolved: dict[str, str] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    session: iam.Session | None = field(default=None, repr=False)
    """The pipeline role's session the action runs as (``pipeline_actions.run_action``)."""

    @property
    def caller(self) -> iam.Session:
        """The session; only set once the action started."""
        if self.session is None:
            raise ValueError(f"the action {self.name} has not started")
        return self.session

    @property
    def name(self) -> str:
        """The action's name."""
        return str(self.declaration["name"])

    @property
    def type_id(self) -> dict[str, str]:
        """``{category, owner, provider, version}``."""
        return dict(self.declaration["actionTypeId"])

    def finish(
        self, status: str, summary: str | None = None, error: dict[str, str] | None = None
    ) -> None:
        """Record the action's end."""
        self.status, self.summary, self.error, self.updated = status, summary, error, now()

    def state(self) -> dict[str, Any]:
        """Its ``ActionExecution`` (GetPipelineState's ``latestExecution``)."""
        latest: dict[str, Any] = {
            "actionExecutionId": self.id,
            "status": self.status,
            "lastStatusChange": stamp(self.updated),
        }
        optional = {
            "summary": self.summary,
            "externalExecutionId": self.external_id,
            "externalExecutionUrl": self.external_url,
            "errorDetails": self.error,
            "token": self.token if self.status == IN_PROGRESS else None,
        }
        return latest | {key: value for key, value in optional.items() if value is not None}


@dataclass
class Execution:
    """One pipeline execution."""

    account: str
    region: str
    pipeline: str
    version: int
    trigger: dict[str, str]
    mode: str
    variables: dict[str, str] = field(default_factory=dict)
    role_arn: str = ""
    """The pipeline's service role: each action runs as a session of it."""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    status: str = IN_PROGRESS
    summary: str | None = None
    started: datetime = field(default_factory=now)
    updated: datetime = field(default_factory=now)
    stages: dict[str, str] = field(default_factory=dict)
    """The status of each stage the execution entered."""
    actions: list[ActionRun] = field(default_factory=list)
    namespaces: dict[str, dict[str, str]] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each artifact written: ``{bucket, key, revision}``."""
    revisions: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    stop_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    """StopPipelineExecution (or a reset): no further stage starts."""
    halt: threading.Event = field(default_factory=threading.Event, repr=False)
    """An abandoning stop (or a reset): the actions under way stop waiting too."""
    stop_trigger: dict[str, str] | None = None

    @property
    def arn(self) -> str:
        """The pipeline's ARN."""
        return f"arn:aws:codepipeline:{self.region}:{self.account}:{self.pipeline}"

    def finish(self, status: str, summary: str | None = None) -> None:
        """Record the execution's end."""
        self.status, self.summary, self.updated = status, summary, now()

    def resolve(self, text: str) -> str:
        """``text`` with every ``#{namespace.name}`` replaced by its value."""
        scopes = {
            PIPELINE_NAMESPACE: {"PipelineExecutionId": self.id},
            PIPELINE_VARIABLES: self.variables,
            **self.namespaces,
        }

        def value(match: re.Match[str]) -> str:
            found = scopes.get(match.group(1), {}).get(match.group(2))
            if found is None:
                raise UnresolvedVariable(match.group(0))
            return found

        return VARIABLE.sub(value, text)

    def to_dict(self) -> dict[str, Any]:
        """Its ``PipelineExecution`` (GetPipelineExecution)."""
        return {
            "pipelineName": self.pipeline,
            "pipelineVersion": self.version,
            "pipelineExecutionId": self.id,
            "status": self.status,
            **({"statusSummary": self.summary} if self.summary else {}),
            "artifactRevisions": [
                {"name": name, "revisionId": artifact["revision"], "created": stamp(self.started)}
                for name, artifact in self.artifacts.items()
                if artifact.get("revision")
            ],
            "variables": [
                {"name": name, "resolvedValue": value} for name, value in self.variables.items()
            ],
            "trigger": dict(self.trigger),
            "executionMode": self.mode,
            "executionType": "STANDARD",
        }

    def summary_dict(self) -> dict[str, Any]:
        """Its ``PipelineExecutionSummary`` (ListPipelineExecutions)."""
        return {
            "pipelineExecutionId": self.id,
            "status": self.status,
            **({"statusSummary": self.summary} if self.summary else {}),
            "startTime": stamp(self.started),
            "lastUpdateTime": stamp(self.updated),
            "sourceRevisions": list(self.revisions),
            "trigger": dict(self.trigger),
            **({"stopTrigger": dict(self.stop_trigger)} if self.stop_trigger else {}),
            "executionMode": self.mode,
            "executionType": "STANDARD",
        }

    def action_detail(self, run: ActionRun) -> dict[str, Any]:
        """An ``ActionExecutionDetail`` (ListActionExecutions)."""
        declaration = run.declaration
        result: dict[str, Any] = {
            key: value
            for key, value in {
                "externalExecutionId": run.external_id,
                "externalExecutionSummary": run.summary,
                "externalExecutionUrl": run.external_url,
                "errorDetails": run.error,
            }.items()
            if value is not None
        }
        return {
            "pipelineExecutionId": self.id,
            "actionExecutionId": run.id,
            "pipelineVersion": self.version,
            "stageName": run.stage,
            "actionName": run.name,
            "startTime": stamp(run.started),
            "lastUpdateTime": stamp(run.updated),
            "status": run.status,
            "input": {
                "actionTypeId": run.type_id,
                "configuration": dict(declaration.get("configuration") or {}),
                "resolvedConfiguration": dict(run.resolved),
                "region": declaration.get("region") or self.region,
                "inputArtifacts": run.inputs,
                **({"roleArn": declaration["roleArn"]} if declaration.get("roleArn") else {}),
                **({"namespace": declaration["namespace"]} if declaration.get("namespace") else {}),
            },
            "output": {
                "outputArtifacts": run.outputs,
                "executionResult": result,
                "outputVariables": dict(run.variables),
            },
        }
