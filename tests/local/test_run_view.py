"""How ``tap run`` shows an execution: plain lines, the live terminal view and the JSON
document, captured; then the command itself on the emulator, through a small pipeline."""

from __future__ import annotations

import io
import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tap_cicd.local import run_view, source
from tap_cicd.local.emulator import EmulatorInfo, instance_id
from tap_cicd.local.run import (
    ActionChanged,
    ActionResult,
    LogLine,
    Note,
    RunResult,
    StageChanged,
    StageResult,
    Started,
)
from tap_cicd.local.run_view import JsonView, RichView, View, document, view_for
from tap_cicd.local.state import StackState, StateStore

from .conftest import PROJECT

EXAMPLE = PROJECT / "examples" / "service"

DIGEST = "sha256:" + "a" * 64


def result(**overrides: Any) -> RunResult:
    """An execution of Source -> Build -> Deploy, as far as ``overrides`` say."""
    stages = [
        StageResult("Source", [ActionResult("Source", "Source", "S3")]),
        StageResult("Build", [ActionResult("Build", "Build", "CodeBuild")]),
        StageResult("Deploy", [ActionResult("Deploy", "Invoke", "Lambda")]),
    ]
    return RunResult("pipeline-dev", "exec-1", stages, **overrides)


def succeeded() -> RunResult:
    done = result(status="Succeeded", seconds=12.345)
    done.source = {"bucket": "b", "key": "source.zip", "versionId": "v1", "bytes": 10}
    for stage in done.stages:
        stage.status = stage.actions[0].status = "Succeeded"
    build = done.stages[1].actions[0]
    build.external_id, build.variables = "build:1", {"IMAGE_DIGEST": DIGEST}
    done.release = {
        "imageDigest": DIGEST,
        "releaseTag": "release-aaaaaaaaaaaa",
        "releaseVersion": "2",
        "record": {"imageDigest": DIGEST},
    }
    return done


def failed() -> RunResult:
    done = result(status="Failed", summary="Deploy failed", seconds=3)
    done.stages[0].status = done.stages[0].actions[0].status = "Succeeded"
    deploy = done.stages[2]
    deploy.status = deploy.actions[0].status = "Failed"
    deploy.actions[0].message = "HIGH finding CVE-2026-0001"
    return done


def test_the_json_document_of_a_release() -> None:
    assert document(succeeded()) == {
        "pipelineName": "pipeline-dev",
        "pipelineExecutionId": "exec-1",
        "status": "Succeeded",
        "statusSummary": None,
        "seconds": 12.345,
        "timedOut": False,
        "source": {"bucket": "b", "key": "source.zip", "versionId": "v1", "bytes": 10},
        "stages": [
            {
                "name": name,
                "status": "Succeeded",
                "actions": [
                    {
                        "name": name,
                        "status": "Succeeded",
                        "summary": None,
                        "externalExecutionId": "build:1" if name == "Build" else None,
                        "outputVariables": {"IMAGE_DIGEST": DIGEST} if name == "Build" else {},
                        "errorMessage": None,
                    }
                ],
            }
            for name in ("Source", "Build", "Deploy")
        ],
        "failure": None,
        "imageDigest": DIGEST,
        "release": succeeded().release,
        "droppedDeliveries": [],
        "accessDenied": [],
    }


def test_the_json_document_of_a_failure() -> None:
    shown = document(failed())
    assert shown["failure"] == "stage Deploy, action Deploy: HIGH finding CVE-2026-0001"
    assert (shown["imageDigest"], shown["release"]) == (None, None)
    assert [s["status"] for s in shown["stages"]] == ["Succeeded", "Pending", "Failed"]
    assert document(result(timeout=5.0))["timedOut"] is True


def events(running: RunResult) -> list[Any]:
    """A run's events, the records moved on as they are reported."""
    source, build = running.stages[0], running.stages[1]
    source.status = "InProgress"
    first = [Note("uploaded s3://b/source.zip"), Started(running), StageChanged(source)]
    build.actions[0].status, build.actions[0].external_id = "InProgress", "build:1"
    return [
        *first,
        ActionChanged("Build", build.actions[0]),
        LogLine("build", "[Container] Entering phase BUILD [x]"),
        Note("Approve/Approve: approved with tap run"),
    ]


def test_plain_lines() -> None:
    written: list[str] = []
    view = View(written.append)
    with view:
        for event in events(result()):
            view.event(event)
        view.finished(succeeded())
    assert written == [
        "uploaded s3://b/source.zip",
        "pipeline pipeline-dev: execution exec-1",
        "stages: Source -> Build -> Deploy",
        "Source: InProgress",
        "Build/Build: InProgress (build:1)",
        "  build | [Container] Entering phase BUILD [x]",
        "Approve/Approve: approved with tap run",
        "execution exec-1 Succeeded after 12.3 s: image "
        f"{DIGEST}, release release-aaaaaaaaaaaa (version 2)",
    ]


def test_action_lines_say_what_the_action_says() -> None:
    action = ActionResult("Deploy", "Invoke", "Lambda", "Failed", "partial", "job-1", {}, "gate")
    assert run_view.action_line(ActionChanged("Deploy", action)) == (
        "Deploy/Deploy: Failed - partial - gate"
    )
    assert run_view.closing_line(failed()) == "execution exec-1 Failed after 3.0 s"


@pytest.mark.parametrize(("answer", "approved"), [("y\n", True), ("n\n", False)])
def test_plain_view_asks_on_stderr(
    answer: str, approved: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    view = View(lambda _text: None, io.StringIO(answer))
    assert view.ask("Approve", "Approve", "Release sha256:aaa") is approved
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Release sha256:aaa" in captured.err
    assert "Approve/Approve: approve?" in captured.err


def test_json_shows_nothing_but_the_document() -> None:
    written: list[str] = []
    view = JsonView(written.append)
    for event in events(result()):
        view.event(event)
    view.finished(failed())
    [text] = written
    assert json.loads(text) == json.loads(json.dumps(document(failed())))


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def test_the_live_view_shows_stages_actions_and_logs() -> None:
    console, out = terminal()
    running = result()
    view = RichView(console, io.StringIO("y\n"))
    with view:
        for event in events(running):
            view.event(event)
        assert view.ask("Approve", "Approve", "") is True
        view.finished(failed())
    shown = out.getvalue()
    for text in (
        "uploaded s3://b/source.zip",
        "  build | [Container] Entering phase BUILD [x]",  # not markup
        "Approve/Approve: approve? [y/n]",
        "pipeline-dev · execution exec-1",
        "✓ Source",
        "✗   Deploy Failed  HIGH finding CVE-2026-0001",
        "·   Build Pending",
        "✗ execution exec-1 Failed after 3.0 s",
    ):
        assert text in shown, text
    assert not view.live.is_started


def test_the_live_view_marks_each_status() -> None:
    view = RichView(terminal()[0])
    running = result()
    assert str(view.render()) == ""  # nothing before the execution is known
    view.result = running
    running.stages[0].actions[0].status = "InProgress"
    running.stages[1].actions[0].status = "Stopped"
    grid = view.render()
    console, out = terminal()
    console.print(grid)
    assert "-   Build Stopped" in out.getvalue()
    # One spinner per row, kept from one frame to the next so that it turns.
    assert view.render() is not grid and list(view.spinners) == ["Source/Source"]


def test_the_live_view_is_closed_on_an_error() -> None:
    view = RichView(terminal()[0])
    with pytest.raises(RuntimeError), view:
        view.event(Started(result()))
        assert view.live.is_started
        raise RuntimeError
    assert not view.live.is_started


def test_which_view(capsys: pytest.CaptureFixture[str]) -> None:
    assert type(view_for(True)) is JsonView
    assert type(view_for(False, terminal()[0])) is RichView
    plain = view_for(False, Console(file=io.StringIO()))
    assert type(plain) is View
    plain.event(Note("one line"))
    assert capsys.readouterr().out == "one line\n"


# --- the command, shown: on the session's emulator ---------------------------------------------
# A stack of two stages is built by hand (S3 source -> manual approval, as the stack's pipeline
# and source rule are): the emulator runs both without a container engine. tests/run runs the
# real stack end to end.


def mini_stack(clients: Any) -> dict[str, str]:
    """The resources ``tap run`` uses, as the stack names them in its outputs."""
    s3, iam, events = clients("s3"), clients("iam"), clients("events")
    account = clients.account_id()
    bucket, artifacts = f"mini-source-{account}", f"mini-artifacts-{account}"
    for name in (bucket, artifacts):
        s3.create_bucket(Bucket=name)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    roles = {}
    for service in ("codepipeline", "events"):
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": f"{service}.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = iam.create_role(
            RoleName=f"mini-{service}", AssumeRolePolicyDocument=json.dumps(trust)
        )
        roles[service] = role["Role"]["Arn"]
        # The emulator authorizes the roles' calls as AWS would: these may do anything.
        anything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        iam.put_role_policy(
            RoleName=f"mini-{service}",
            PolicyName="all",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [anything]}),
        )
    kind = {"owner": "AWS", "version": "1"}
    clients("codepipeline").create_pipeline(
        pipeline={
            "name": "mini-pipeline",
            "roleArn": roles["codepipeline"],
            "pipelineType": "V2",
            "executionMode": "QUEUED",
            "artifactStore": {"type": "S3", "location": artifacts},
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Source",
                            "actionTypeId": {"category": "Source", "provider": "S3", **kind},
                            "configuration": {"S3Bucket": bucket, "S3ObjectKey": "source.zip"},
                            "outputArtifacts": [{"name": "source_output"}],
                            "namespace": "SourceVariables",
                        }
                    ],
                },
                {
                    "name": "Approve",
                    "actions": [
                        {
                            "name": "Approve",
                            "actionTypeId": {"category": "Approval", "provider": "Manual", **kind},
                            "configuration": {"CustomData": "Release #{SourceVariables.VersionId}"},
                        }
                    ],
                },
            ],
        }
    )
    arn = f"arn:aws:codepipeline:us-east-1:{account}:mini-pipeline"
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket]}, "object": {"key": ["source.zip"]}},
    }
    events.put_rule(Name="mini-source-change", EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule="mini-source-change",
        Targets=[{"Id": "pipeline", "Arn": arn, "RoleArn": roles["events"]}],
    )
    return {"pipelineName": "mini-pipeline", "pipelineArn": arn, "sourceBucketName": bucket}


@pytest.fixture
def mini(home: Path, clients: Any, emulator: EmulatorInfo) -> dict[str, str]:
    """The mini stack, deployed: its state names the running emulator (emptied of earlier
    executions and deliveries: moto's reset does not reach tap's services)."""
    reset = f"{emulator.endpoint}/_tap/reset"
    request = urllib.request.Request(reset, data=b"{}", method="POST")  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 200
    outputs = mini_stack(clients)
    StateStore(home).save(StackState("mini", emulator=instance_id(clients), outputs=outputs))
    return outputs


def executions(clients: Any) -> list[dict[str, Any]]:
    found = clients("codepipeline").list_pipeline_executions(pipelineName="mini-pipeline")
    return list(found["pipelineExecutionSummaries"])


def test_tap_run_uploads_and_follows_to_the_end(tap: Any, mini: Any, clients: Any) -> None:
    done = tap("run", "--stack", "mini", "--source", str(EXAMPLE), "--approve")
    assert done.exit_code == 0, done.output
    lines = done.stdout.splitlines()
    assert lines[0].startswith("uploaded s3://mini-source-123456789012/source.zip (")
    assert "stages: Source -> Approve" in lines
    assert "Source/Source: Succeeded - Amazon S3 version id: " in done.stdout
    assert "Approve/Approve: approved with tap run" in lines
    assert lines[-1].startswith("execution ") and " Succeeded after " in lines[-1]
    [execution] = executions(clients)
    assert execution["status"] == "Succeeded"
    # What was uploaded is the example's context, as docker build would send it.
    s3 = clients("s3").get_object(Bucket=mini["sourceBucketName"], Key="source.zip")
    assert s3["Body"].read() == source.package(EXAMPLE)


def test_tap_run_json_reports_a_rejection(tap: Any, mini: Any) -> None:
    done = tap("run", "--stack", "mini", "--source", str(EXAMPLE), "--reject", "--json")
    assert done.exit_code == 11
    document = json.loads(done.stdout)
    assert document["status"] == "Failed"
    assert document["failure"] == "stage Approve, action Approve: Rejected: Rejected with tap run"
    assert [s["status"] for s in document["stages"]] == ["Succeeded", "Failed"]
    assert document["source"]["key"] == "source.zip"
    assert done.stderr == (
        f"error: execution {document['pipelineExecutionId']} of pipeline mini-pipeline Failed: "
        "stage Approve, action Approve: Rejected: Rejected with tap run\n"
    )


def test_an_approval_without_a_terminal_starts_nothing(tap: Any, mini: Any, clients: Any) -> None:
    done = tap("run", "--stack", "mini", "--source", str(EXAMPLE))
    assert done.exit_code == 2
    assert done.stderr == (
        "error: pipeline mini-pipeline waits for a manual approval (Approve/Approve) and there "
        "is no terminal to ask: run with --approve or --reject\n"
    )
    assert executions(clients) == []


def test_a_timeout_stops_waiting(tap: Any, mini: Any) -> None:
    done = tap(
        "run", "--stack", "mini", "--source", str(EXAMPLE), "--approve", "--timeout", "0.001"
    )
    assert done.exit_code == 12
    assert re.fullmatch(
        r"error: stopped waiting after 0\.001 s: execution \S+ of pipeline mini-pipeline goes "
        r"on( \(stage \w+ in progress\))?\n",
        done.stderr,
    )


def test_an_upload_that_starts_nothing(
    tap: Any, mini: Any, clients: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source, "START_SECONDS", 0.3)
    clients("s3").put_bucket_notification_configuration(
        Bucket=mini["sourceBucketName"], NotificationConfiguration={}
    )
    done = tap("run", "--stack", "mini", "--source", str(EXAMPLE), "--approve")
    assert done.exit_code == 11
    assert done.stderr == (
        "error: no execution of pipeline mini-pipeline started within 0.3 s of the upload of "
        f"s3://{mini['sourceBucketName']}/source.zip: its source rule mini-source-change did "
        "not start it (no S3 event reached it)\n"
    )


def test_a_dropped_notification_is_a_warning_in_text_mode(
    tap: Any, mini: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tap_cicd import run_command

    reason = "NO_PERMISSIONS: events.amazonaws.com kms:GenerateDataKey on key: denied"
    monkeypatch.setattr(
        run_command, "dropped_notifications", lambda _endpoint: [{"reason": reason}]
    )
    done = tap("run", "--stack", "mini", "--source", str(EXAMPLE), "--approve")
    assert done.exit_code == 0, done.output  # the execution itself succeeded
    assert done.stderr.splitlines()[-1] == f"warning: notification dropped: {reason}"


def test_calls_refused_during_the_run_are_warnings_and_listed(
    tap: Any, mini: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tap_cicd import run_command

    refused = {
        "principal": "arn:aws:sts::123456789012:assumed-role/r/s",
        "action": "sns:Publish",
        "message": "User: arn:aws:sts::123456789012:assumed-role/r/s is not authorized to "
        "perform: sns:Publish on resource: arn:aws:sns:us-east-1:123456789012:t because no "
        "statement of the identity policy allows it",
    }
    earlier = {"message": "refused before this run"}
    answers = iter([[earlier], [earlier, refused], [earlier], [earlier, refused]])
    real = run_command.read_record

    def record(endpoint: str, name: str) -> Any:
        return next(answers) if name == "iam/denials" else real(endpoint, name)

    monkeypatch.setattr(run_command, "read_record", record)
    done = tap("run", "--stack", "mini", "--source", str(EXAMPLE), "--approve")
    assert done.exit_code == 0, done.output
    assert done.stderr.splitlines()[-1] == f"warning: access denied: {refused['message']}"
    shown = tap("run", "--stack", "mini", "--source", str(EXAMPLE), "--approve", "--json")
    assert json.loads(shown.stdout)["accessDenied"] == [refused]
    assert "warning" not in shown.stderr
