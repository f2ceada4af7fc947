"""What each action of a pipeline execution does in the emulator: the S3 source, the CodeBuild
build, the manual approval and the Lambda invoke (with CodePipeline's job API).

Each runner takes the execution, the action's run record and the pipeline's artifact store,
and ends the run Succeeded or Failed; nothing escapes a runner.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from tap_cicd.local.services import codebuild, denials, iam
from tap_cicd.local.services.pipeline_base import (
    POLL_SECONDS,
    ActionError,
    Store,
    artifact_location,
    inputs_of,
    outputs_of,
)
from tap_cicd.local.services.pipeline_jobs import approval, invoke
from tap_cicd.local.services.pipeline_model import (
    FAILED,
    IN_PROGRESS,
    SUCCEEDED,
    ActionRun,
    Execution,
)


def source_s3(execution: Execution, run: ActionRun, store: Store) -> None:
    """Copy the newest version of the source object into the artifact store; export ``ETag``
    and ``VersionId``. https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-S3.html
    """
    s3 = run.caller.client("s3")
    bucket, key = run.resolved["S3Bucket"], run.resolved["S3ObjectKey"]
    try:
        source = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if denials.is_denied(error):
            raise
        raise ActionError(
            "ConfigurationError", f"the object s3://{bucket}/{key} cannot be read: {error}"
        ) from error
    body = source["Body"].read()
    version = source.get("VersionId") or source["ETag"].strip('"')
    for output in outputs_of(execution, run, store):
        s3.put_object(Bucket=output["bucket"], Key=output["key"], Body=body, **store.encryption())
        execution.artifacts[output["name"]] = {
            "bucket": output["bucket"],
            "key": output["key"],
            "revision": version,
        }
        run.outputs.append(artifact_location(output))
    run.variables = {"ETag": source["ETag"].strip('"'), "VersionId": version}
    execution.revisions.append({"actionName": run.name, "revisionId": version})
    run.finish(SUCCEEDED, f"Amazon S3 version id: {version}")


def _source_revision(execution: Execution) -> str:
    return str(execution.revisions[0]["revisionId"]) if execution.revisions else ""


def build(execution: Execution, run: ActionRun, store: Store, stopped: threading.Event) -> None:
    """Run the project's build on the first input artifact; export the build's exported
    variables. https://docs.aws.amazon.com/codepipeline/latest/userguide/action-reference-CodeBuild.html
    """
    inputs = inputs_of(execution, run)
    outputs = outputs_of(execution, run, store)
    run.inputs = [artifact_location(artifact) for artifact in inputs]
    overrides = json.loads(run.resolved.get("EnvironmentVariables") or "[]")
    request = codebuild.BuildRequest(
        project_name=run.resolved["ProjectName"],
        account=execution.account,
        region=execution.region,
        source=(inputs[0]["bucket"], inputs[0]["key"]),
        artifact=(outputs[0]["bucket"], outputs[0]["key"]) if outputs else None,
        source_version=_source_revision(execution),
        initiator=f"codepipeline/{execution.pipeline}",
        environment={item["name"]: item["value"] for item in overrides},
    )
    # CodePipeline starts the build and reads it as the pipeline role:
    # https://docs.aws.amazon.com/codepipeline/latest/userguide/security-iam.html#how-to-update-role-new-services
    project = f"arn:aws:codebuild:{execution.region}:{execution.account}:project/"
    for action in ("codebuild:StartBuild", "codebuild:BatchGetBuilds"):
        iam.authorize(run.caller, action, project + request.project_name)
    try:
        build_id = codebuild.start(request)
    except (KeyError, ValueError) as error:
        raise ActionError("ConfigurationError", f"the build could not start: {error}") from error
    run.external_id = build_id
    run.external_url = (
        f"https://{execution.region}.console.aws.amazon.com/codesuite/codebuild/projects/"
        f"{request.project_name}/build/{build_id}"
    )
    record = codebuild.build(build_id)
    while record["buildStatus"] == "IN_PROGRESS":
        if stopped.wait(POLL_SECONDS):
            return
        record = codebuild.build(build_id)
    if record["buildStatus"] != "SUCCEEDED":
        raise ActionError("JobFailed", build_failure(record))
    for output in outputs:
        execution.artifacts[output["name"]] = {
            "bucket": output["bucket"],
            "key": output["key"],
            "revision": None,
        }
        run.outputs.append(artifact_location(output))
    run.variables = {
        item["name"]: item.get("value", "")
        for item in record.get("exportedEnvironmentVariables") or []
    }
    run.finish(SUCCEEDED)


def build_failure(record: Mapping[str, Any]) -> str:
    """The console's message for a failed build: its state, and the failed phase's context."""
    failed: Mapping[str, Any] = next(
        (
            phase
            for phase in record.get("phases") or []
            if phase.get("phaseStatus") not in (None, "SUCCEEDED")
        ),
        {},
    )
    context = (failed.get("contexts") or [{}])[0]
    return (
        f"Build terminated with state: {record['buildStatus']}. "
        f"Phase: {failed.get('phaseType', record.get('currentPhase', ''))}, "
        f"Code: {context.get('statusCode', '')}, Message: {context.get('message', '')}"
    )


def permissions(reason: str) -> dict[str, str]:
    """CodePipeline's error for an action its role may not carry out (the console's wording,
    seen in its output; no reference page gives it)."""
    return {
        "code": "JobFailed",
        "message": "Insufficient permissions: The provided role does not have permissions to"
        f" perform this action. Underlying error: {reason}"[:5000],
    }


Runner = Callable[[Execution, ActionRun, Store, threading.Event], None]

RUNNERS: dict[tuple[str, str], Runner] = {
    ("Source", "S3"): lambda execution, run, store, _stopped: source_s3(execution, run, store),
    ("Build", "CodeBuild"): build,
    ("Approval", "Manual"): lambda execution, run, _store, stopped: approval(
        execution, run, stopped
    ),
    ("Invoke", "Lambda"): invoke,
}
"""The action types the emulator runs, by (category, provider)."""


def run_action(
    execution: Execution, run: ActionRun, store: Store, stopped: threading.Event
) -> None:
    """Run one action; any failure ends it Failed with its reason."""
    kind = (run.type_id["category"], run.type_id["provider"])
    try:
        runner = RUNNERS.get(kind)
        if runner is None:
            raise ActionError(
                "ConfigurationError",
                f"the emulator does not run {kind[1]} {kind[0].lower()} actions",
            )
        run.resolved = {
            key: execution.resolve(str(value))
            for key, value in (run.declaration.get("configuration") or {}).items()
        }
        # CodePipeline acts as its service role (its trust policy names no source keys):
        # https://docs.aws.amazon.com/codepipeline/latest/userguide/security-iam.html#how-to-custom-role
        run.session = iam.assume(
            "codepipeline.amazonaws.com", execution.role_arn, execution.region, run.id
        )
        if role := run.declaration.get("roleArn"):
            # An action's own role, assumed by the pipeline role (it needs sts:AssumeRole):
            # https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ActionDeclaration.html
            run.session = iam.assume_as(run.session, str(role), run.id)
        runner(execution, run, store, stopped)
    except iam.Denied as error:
        run.finish(FAILED, run.summary, permissions(str(error)))
    except ClientError as error:  # a call the runner made as the pipeline role
        message = str(error.response.get("Error", {}).get("Message", error))
        unavailable = {"code": "SystemUnavailable", "message": f"ClientError: {error}"}
        run.finish(
            FAILED, run.summary, permissions(message) if denials.is_denied(error) else unavailable
        )
    except ActionError as error:
        run.finish(FAILED, run.summary, {"code": error.code, "message": error.message[:5000]})
    except ValueError as error:  # an unresolved variable, a malformed configuration
        run.finish(
            FAILED,
            run.summary,
            {"code": "ConfigurationError", "message": f"{type(error).__name__}: {error}"},
        )
    except Exception as error:  # noqa: BLE001 - an emulator fault ends the action, not the process
        run.finish(
            FAILED,
            run.summary,
            {"code": "SystemUnavailable", "message": f"{type(error).__name__}: {error}"},
        )
    if run.status == IN_PROGRESS:  # stopped while waiting
        run.finish("Abandoned")
