"""The tap command, end to end on the emulator: output, files, exit codes and one-line errors."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tap_cicd import aws_target
from tap_cicd.cli import app, parse_config, stack_file_config

from .conftest import PROJECT, counts

GITHUB = [
    "-c",
    "source=github",
    "-c",
    "connectionArn=arn:aws:codestar-connections:us-east-1:123456789012:connection/"
    "0f3e2d1c-aaaa-bbbb-cccc-0123456789ab",
    "-c",
    "repository=acme/service",
]


@pytest.fixture
def tap(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run ``tap`` in the project directory with this test's home and outputs file."""
    monkeypatch.chdir(PROJECT)
    monkeypatch.setenv("TAP_HOME", str(home))
    monkeypatch.setenv("TAP_OUTPUTS_FILE", str(tmp_path / "flat-outputs.json"))
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run


def test_up_outputs_destroy(tap: Any, tmp_path: Path, clients: Any) -> None:
    first = tap("up")
    assert first.exit_code == 0, first.output
    assert " + created  aws:kms/key:Key tap-cicd-key" in first.output
    assert "Resources: 52 created, 0 updated, 0 replaced, 0 deleted, 0 unchanged." in first.output
    assert "pipelineName: pipeline-pipeline-dev" in first.output
    flat = json.loads((tmp_path / "flat-outputs.json").read_text())
    assert flat["pipelineName"] == "pipeline-pipeline-dev"
    assert set(flat) >= {"artifactBucketName", "sourceBucketName", "kmsKeyArn", "region"}

    again = tap("up", "--json")
    summary = json.loads(again.output)
    assert summary["counts"]["unchanged"] == 52
    assert summary["writes"] == 0
    assert summary["outputs"] == flat

    shown = tap("outputs")
    assert "ecrRepositoryName: pipeline-images-dev" in shown.output
    assert json.loads(tap("outputs", "--json").output) == flat

    gone = json.loads(tap("destroy", "--json").output)
    assert gone["counts"]["deleted"] == 52
    assert counts(clients) == dict.fromkeys(counts(clients), 0)

    assert tap("up", "-c", "source=s3").exit_code == 0
    text = tap("destroy")
    assert text.exit_code == 0
    assert " - deleted  aws:codepipeline/pipeline:Pipeline tap-cicd-pipeline" in text.output
    assert "Resources: 0 created, 0 updated, 0 replaced, 52 deleted" in text.output
    assert counts(clients) == dict.fromkeys(counts(clients), 0)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["up", "-c", "environmentSuffix=Bad"], 2, "error: invalid config 'environmentSuffix'"),
        (["up", "-c", "nonsense"], 2, "error: invalid -c 'nonsense': expected key=value"),
        (["up", "-c", "colour=blue"], 2, "error: invalid config 'colour': unknown key"),
        (["up", "--target", "gcp"], 2, "error: invalid --target 'gcp': use local or aws"),
        (["up", "--stack", "a b"], 2, "error: invalid stack name 'a b'"),
        (["outputs", "--stack", "nope"], 4, "error: unknown stack 'nope'"),
        (["destroy", "--stack", "nope"], 4, "error: unknown stack 'nope'"),
    ],
)
def test_bad_input_is_one_line_with_its_exit_code(
    tap: Any, args: list[str], code: int, message: str, clients: Any
) -> None:
    result = tap(*args)
    assert result.exit_code == code
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1
    assert counts(clients) == dict.fromkeys(counts(clients), 0)


def test_corrupted_state_is_reported(tap: Any, home: Path) -> None:
    (home / "state").mkdir()
    (home / "state" / "dev.json").write_text("{oops")
    result = tap("up")
    assert result.exit_code == 3
    assert "is corrupted" in result.output
    assert (home / "state" / "dev.json").read_text() == "{oops"


def test_aws_error_midway_is_reported(tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ClientError

    from tap_cicd.local.provider import HANDLERS, Handler

    original = HANDLERS["aws:sns/topic:Topic"]

    def refuse(*_args: Any) -> Any:
        raise ClientError({"Error": {"Code": "AuthorizationError", "Message": "no"}}, "CreateTopic")

    monkeypatch.setitem(
        HANDLERS, original.type, Handler(original.type, refuse, original.delete, original.update)
    )
    result = tap("up")
    assert result.exit_code == 7
    assert result.output.splitlines()[-1].startswith(
        "error: aws:sns/topic:Topic tap-cicd-notifications: ClientError"
    )


def test_preview_is_offline(tap: Any, clients: Any) -> None:
    text = tap("preview")
    assert text.exit_code == 0
    assert "tap:cicd:CicdPipelineStack tap-cicd" in text.output
    assert "54 resources (52 AWS resources, 2 components) would be created." in text.output
    graph = json.loads(tap("preview", "--json", *GITHUB).output)
    types = [r["type"] for r in graph["resources"]]
    assert "aws:s3/bucketNotification:BucketNotification" not in types
    pipeline = next(r for r in graph["resources"] if r["type"].endswith(":Pipeline"))
    assert pipeline["inputs"]["pipelineType"] == "V2"
    assert counts(clients) == dict.fromkeys(counts(clients), 0)


def test_check_runs_the_policy_pack(tap: Any) -> None:
    text = tap("check")
    assert text.exit_code == 0
    assert "TAP-S3-001" in text.output
    results = json.loads(tap("check", "--json", *GITHUB).output)
    assert results


def test_emulator_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAP_HOME", str(tmp_path / "own"))
    monkeypatch.setenv("TAP_EMULATOR_PORT", "0")
    runner = CliRunner()
    assert runner.invoke(app, ["emulator", "status"]).exit_code == 1
    started = runner.invoke(app, ["emulator", "start"])
    assert started.output.startswith("emulator started at http://127.0.0.1:")
    assert "already running" in runner.invoke(app, ["emulator", "start"]).output
    assert runner.invoke(app, ["emulator", "status"]).output.startswith("emulator running at")
    assert runner.invoke(app, ["emulator", "stop"]).output.startswith("emulator stopped (pid ")
    assert runner.invoke(app, ["emulator", "stop"]).output == "emulator is not running\n"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        bad = runner.invoke(app, ["emulator", "start", "--port", str(busy.getsockname()[1])])
    assert bad.exit_code == 6
    assert bad.output.startswith("error: port ")


def test_stack_file_config_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert stack_file_config("dev") == {}
    Path("Pulumi.dev.yaml").write_text(
        "config:\n  tap:environmentSuffix: qa\n  tap:tags:\n    Team: a\n  aws:region: eu-west-1\n"
    )
    assert parse_config(["namePrefix=shop", "tap:branch=x"], "dev") == {
        "tap:environmentSuffix": "qa",
        "tap:tags": '{"Team": "a"}',
        "aws:region": "eu-west-1",
        "tap:namePrefix": "shop",
        "tap:branch": "x",
    }
    Path("Pulumi.bad.yaml").write_text("config: [1]\n")
    runner = CliRunner()
    result = runner.invoke(app, ["preview", "--stack", "bad"])
    assert result.exit_code == 2
    assert result.output == "error: Pulumi.bad.yaml: 'config' must be a mapping\n"


class FakeStack:
    """The part of an Automation API stack tap uses."""

    def __init__(self) -> None:
        self.config: dict[str, str] = {}
        self.ran: list[str] = []

    def set_config(self, key: str, value: Any) -> None:
        self.config[key] = value.value

    def up(self, on_output: Any) -> Any:
        self.ran.append("up")
        on_output("engine says up")

        result = type("UpResult", (), {})()
        result.outputs = {"pipelineName": type("O", (), {"value": "pipeline-pipeline-dev"})()}
        return result

    def preview(self, on_output: Any) -> None:
        self.ran.append("preview")
        on_output("engine says preview")

    def destroy(self, on_output: Any) -> None:
        self.ran.append("destroy")
        on_output("engine says destroy")


def test_aws_target_needs_the_pulumi_cli(tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_target.shutil, "which", lambda _name: None)
    for command in ("up", "preview", "destroy"):
        result = tap(command, "--target", "aws")
        assert result.exit_code == 8
        assert result.output.startswith("error: the Pulumi CLI is not installed")
        assert "get.pulumi.com" in result.output


def test_aws_target_runs_the_engine(
    tap: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeStack()
    calls: list[dict[str, Any]] = []

    def create_or_select_stack(**kwargs: Any) -> FakeStack:
        calls.append(kwargs)
        return fake

    monkeypatch.setattr(aws_target.shutil, "which", lambda _name: "/usr/bin/pulumi")
    monkeypatch.setattr(aws_target.automation, "create_or_select_stack", create_or_select_stack)
    up = tap("up", "--target", "aws", "-c", "environmentSuffix=prod", "-c", "aws:region=eu-west-1")
    assert up.exit_code == 0, up.output
    assert "engine says up" in up.output
    assert json.loads((tmp_path / "flat-outputs.json").read_text()) == {
        "pipelineName": "pipeline-pipeline-dev"
    }
    assert fake.config == {"tap:environmentSuffix": "prod", "aws:region": "eu-west-1"}
    assert calls[0] == {"stack_name": "dev", "work_dir": str(PROJECT)}
    assert tap("preview", "--target", "aws").exit_code == 0
    assert tap("destroy", "--target", "aws").exit_code == 0
    assert fake.ran == ["up", "preview", "destroy"]
    monkeypatch.chdir(tmp_path)
    outside = tap("up", "--target", "aws")
    assert outside.exit_code == 8
    assert "no Pulumi.yaml in" in outside.output


def test_notes_are_printed(tap: Any, home: Path) -> None:
    from tap_cicd.local.state import StackState, StateStore

    StateStore(home).save(StackState("dev", emulator="an-emulator-long-gone"))
    result = tap("destroy")
    assert result.exit_code == 0
    assert "note: the emulator was restarted: nothing of the stack is left" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("config: [unclosed", "is not valid YAML"),
        ("- just\n- a list\n", "expected a mapping with a 'config' key"),
    ],
)
def test_broken_stack_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("Pulumi.dev.yaml").write_text(text)
    result = CliRunner().invoke(app, ["preview"])
    assert result.exit_code == 2
    assert result.output.startswith("error: Pulumi.dev.yaml")
    assert message in result.output
    assert result.output.count("\n") == 1


def test_bad_emulator_port_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAP_HOME", str(tmp_path))
    monkeypatch.setenv("TAP_EMULATOR_PORT", "abc")
    result = CliRunner().invoke(app, ["emulator", "start"])
    assert result.exit_code == 2
    assert result.output == (
        "error: invalid TAP_EMULATOR_PORT 'abc': expected a port number 0-65535\n"
    )


def test_up_outside_the_project_starts_nothing(
    tap: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clients: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    result = tap("up")
    assert result.exit_code == 2
    assert result.output.startswith(f"error: no __main__.py in {tmp_path}")
    assert counts(clients) == dict.fromkeys(counts(clients), 0)


def test_engine_failure_is_one_line(tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from pulumi.automation import CommandError
    from pulumi.automation._cmd import CommandResult

    class FailingStack(FakeStack):
        def up(self, on_output: Any) -> Any:
            on_output("Updating (dev)")
            raise CommandError(
                CommandResult(
                    "Updating (dev)\n", "error: update failed\n  aws: AccessDenied\n", 255
                )
            )

    monkeypatch.setattr(aws_target.shutil, "which", lambda _name: "/usr/bin/pulumi")
    monkeypatch.setattr(
        aws_target.automation, "create_or_select_stack", lambda **_kw: FailingStack()
    )
    result = tap("up", "--target", "aws")
    assert result.exit_code == 7
    assert result.output.splitlines()[-1] == "error: pulumi up failed: error: update failed"


def test_stack_in_another_region_is_destroyed_there(tap: Any, emulator: Any) -> None:
    from tap_cicd.local.emulator import Emulator

    elsewhere = Emulator.clients(emulator, region="eu-west-1")
    assert tap("up", "-c", "aws:region=eu-west-1").exit_code == 0
    assert counts(elsewhere)["functions"] == 1
    moved = tap("up")
    assert moved.exit_code == 2
    assert "is deployed in eu-west-1, not us-east-1" in moved.output
    assert tap("destroy").exit_code == 0
    assert counts(elsewhere) == dict.fromkeys(counts(elsewhere), 0)
