"""The actions that wait for an answer from outside: a manual approval (PutApprovalResult)
and a Lambda invoke (the function's PutJobSuccessResult or PutJobFailureResult).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tap_cicd.local.services import iam, lambda_
from tap_cicd.local.services.pipeline_base import (
    POLL_SECONDS,
    ActionError,
    Store,
    artifact_location,
    inputs_of,
)
from tap_cicd.local.services.pipeline_model import SUCCEEDED, ActionRun, Execution

JOB_ANSWER_GRACE_SECONDS = 5.0
"""How long a job may stay unanswered after its function returned (AWS waits for the action's
timeout; the emulator reports the function's outcome instead of hanging for an hour)."""
MAX_CONTINUATIONS = 1000
"""A function that keeps answering with a continuation token is stopped after this many."""


@dataclass
class Waiter:
    """Something an action waits for from outside: an approval or a job's answer."""

    answered: threading.Event = field(default_factory=threading.Event)
    answer: dict[str, Any] = field(default_factory=dict)


APPROVALS: dict[str, Waiter] = {}
"""Open approvals by token."""
JOBS: dict[str, tuple[Waiter, str, str]] = {}
"""Open jobs by id: the waiter, the account and the region the job belongs to."""


def approval(execution: Execution, run: ActionRun, stopped: threading.Event) -> None:
    """Wait for PutApprovalResult; announce the request on the configured topic first.
    https://docs.aws.amazon.com/codepipeline/latest/userguide/approvals-json-format.html
    """
    run.token = str(uuid.uuid4())
    waiter = APPROVALS[run.token] = Waiter()
    topic = run.resolved.get("NotificationArn")
    try:
        if topic:
            _announce(execution, run, topic)
        while not waiter.answered.wait(POLL_SECONDS):
            if stopped.is_set():
                return
    finally:
        APPROVALS.pop(run.token, None)
    result = waiter.answer
    if result["status"] != "Approved":
        raise ActionError("JobFailed", f"Rejected: {result.get('summary') or 'no summary'}")
    run.finish(SUCCEEDED, result.get("summary"))


def _announce(execution: Execution, run: ActionRun, topic: str) -> None:
    """Publish the approval request on ``topic``, as the pipeline role."""
    console = f"https://console.aws.amazon.com/codepipeline/home?region={execution.region}#/view/{execution.pipeline}"
    message = {
        "region": execution.region,
        "consoleLink": console,
        "approval": {
            "pipelineName": execution.pipeline,
            "stageName": run.stage,
            "actionName": run.name,
            "token": run.token,
            "expires": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() + 7 * 86400)),
            "externalEntityLink": run.resolved.get("ExternalEntityLink", ""),
            "approvalReviewLink": f"{console}/{run.stage}/{run.name}/approve/{run.token}",
            "customData": run.resolved.get("CustomData", ""),
        },
    }
    subject = f"APPROVAL NEEDED: AWS CodePipeline {execution.pipeline} for action {run.name}"
    run.caller.client("sns").publish(
        TopicArn=topic, Subject=subject[:100], Message=json.dumps(message)
    )


def _job_event(
    execution: Execution, run: ActionRun, store: Store, job_id: str, continuation: str | None
) -> dict[str, Any]:
    """The event CodePipeline invokes the function with.
    https://docs.aws.amazon.com/codepipeline/latest/userguide/actions-invoke-lambda-function.html#actions-invoke-lambda-function-json-event-example
    """
    artifact = [
        {
            "name": item["name"],
            "revision": None,
            "location": {
                "type": "S3",
                "s3Location": {
                    "bucketName": item["s3location"]["bucket"],
                    "objectKey": item["s3location"]["key"],
                },
            },
        }
        for item in run.inputs
    ]
    data: dict[str, Any] = {
        "actionConfiguration": {"configuration": dict(run.resolved)},
        "inputArtifacts": artifact,
        "outputArtifacts": [],
        # The pipeline role's session: the function reads the artifacts as the pipeline.
        "artifactCredentials": {
            "accessKeyId": run.caller.credentials.access_key,
            "secretAccessKey": run.caller.credentials.secret_key,
            "sessionToken": run.caller.credentials.token,
        },
    }
    if store.key_id is not None:
        data["encryptionKey"] = {"id": store.key_id, "type": "KMS"}
    if continuation is not None:
        data["continuationToken"] = continuation
    return {"CodePipeline.job": {"id": job_id, "accountId": execution.account, "data": data}}


def invoke(execution: Execution, run: ActionRun, store: Store, stopped: threading.Event) -> None:
    """Invoke the function with a job and wait for its answer; a continuation token invokes it
    again. https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-Lambda.html
    """
    run.inputs = [artifact_location(artifact) for artifact in inputs_of(execution, run)]
    function = run.resolved["FunctionName"]
    # The pipeline role invokes the function (the function's policy may allow it too):
    # https://docs.aws.amazon.com/lambda/latest/dg/services-codepipeline.html
    arn = (
        function
        if function.startswith("arn:")
        else (f"arn:aws:lambda:{execution.region}:{execution.account}:function:{function}")
    )
    iam.authorize(run.caller, "lambda:InvokeFunction", arn)
    continuation: str | None = None
    for _ in range(MAX_CONTINUATIONS):
        job_id = str(uuid.uuid4())
        waiter = Waiter()
        JOBS[job_id] = (waiter, execution.account, execution.region)
        try:
            outcome = _invoke(
                function, execution, _job_event(execution, run, store, job_id, continuation)
            )
            if not waiter.answered.wait(JOB_ANSWER_GRACE_SECONDS):
                raise ActionError("JobFailed", unanswered(function, outcome))
        finally:
            JOBS.pop(job_id, None)
        if stopped.is_set():
            return
        answer = waiter.answer
        details = answer.get("executionDetails") or answer.get("failureDetails") or {}
        run.external_id = details.get("externalExecutionId") or run.external_id
        run.summary = details.get("summary") or details.get("message") or run.summary
        if "failureDetails" in answer:
            raise ActionError(details.get("type", "JobFailed"), details.get("message", ""))
        run.variables |= answer.get("outputVariables") or {}
        continuation = answer.get("continuationToken")
        if not continuation:
            run.finish(SUCCEEDED, run.summary)
            return
    raise ActionError(
        "JobFailed", f"the function answered with a continuation token {MAX_CONTINUATIONS} times"
    )


def _invoke(function: str, execution: Execution, event: dict[str, Any]) -> lambda_.Invocation:
    """Invoke the function with a job; a role Lambda cannot assume fails the action with
    Lambda's words (the function's fault, not the pipeline role's)."""
    try:
        return lambda_.invoke(function, execution.account, execution.region, event)
    except iam.Denied as denied:
        raise ActionError("JobFailed", f"{lambda_.ROLE_NOT_ASSUMABLE} {denied}") from denied


def unanswered(function: str, outcome: lambda_.Invocation) -> str:
    """Why a job got no answer: the function failed, or returned without one."""
    if outcome.function_error:
        try:
            error = json.loads(outcome.payload).get("errorMessage", "")
        except (ValueError, AttributeError):
            error = outcome.payload.decode(errors="replace")
        return (
            f"the function {function} failed ({outcome.function_error}) without a job result: "
            f"{error}"
        )
    return (
        f"the function {function} returned without calling PutJobSuccessResult or "
        "PutJobFailureResult"
    )


def answer_job(job_id: str, account: str, region: str, answer: dict[str, Any]) -> bool:
    """Give a job its answer; False when no such job is open in that account and region."""
    found = JOBS.get(job_id)
    if found is None or found[1:] != (account, region) or found[0].answered.is_set():
        return False
    found[0].answer = answer
    found[0].answered.set()
    return True


def answer_approval(token: str, result: dict[str, Any]) -> bool:
    """Give an approval its result; False when the token is not an open approval."""
    waiter = APPROVALS.get(token)
    if waiter is None or waiter.answered.is_set():
        return False
    waiter.answer = result
    waiter.answered.set()
    return True
