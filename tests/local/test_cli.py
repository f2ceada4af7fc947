"""The tap command, end to end on the emulator: output, files, exit codes and one-line errors."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from tap_cicd import aws_target, cli, stack_file
from tap_cicd.cli import app, parse_config
from tap_cicd.errors import EXIT_CODES, StateError, TapError, markdown_table
from tap_cicd.reporting import ReportedGroup

from .conftest import PROJECT, counts, declared_graph

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


@pytest.fixture(scope="module")
def declared() -> int:
    """How many AWS resources the default program declares, offline."""
    return sum(n.custom for n in declared_graph().nodes)


def test_up_outputs_destroy(tap: Any, tmp_path: Path, clients: Any, declared: int) -> None:
    first = tap("up")
    assert first.exit_code == 0, first.output
    assert " + created  aws:kms/key:Key tap-cicd-key" in first.output
    assert (
        f"Resources: {declared} created, 0 updated, 0 replaced, 0 deleted, 0 unchanged."
        in first.output
    )
    assert "pipelineName: pipeline-pipeline-dev" in first.output
    flat = json.loads((tmp_path / "flat-outputs.json").read_text())
    assert flat["pipelineName"] == "pipeline-pipeline-dev"
    assert set(flat) >= {"artifactBucketName", "sourceBucketName", "kmsKeyArn", "region"}

    again = tap("up", "--json")
    summary = json.loads(again.output)
    assert summary["counts"]["unchanged"] == declared
    assert summary["writes"] == 0
    assert summary["outputs"] == flat

    shown = tap("outputs")
    assert "ecrRepositoryName: pipeline-images-dev" in shown.output
    assert json.loads(tap("outputs", "--json").output) == flat

    gone = json.loads(tap("destroy", "--json").output)
    assert gone["counts"]["deleted"] == declared
    assert counts(clients) == dict.fromkeys(counts(clients), 0)

    assert tap("up", "-c", "source=s3").exit_code == 0
    text = tap("destroy")
    assert text.exit_code == 0
    assert " - deleted  aws:codepipeline/pipeline:Pipeline tap-cicd-pipeline" in text.output
    assert f"Resources: 0 created, 0 updated, 0 replaced, {declared} deleted" in text.output
    assert counts(clients) == dict.fromkeys(counts(clients), 0)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["up", "-c", "environmentSuffix=Bad"], 2, "error: invalid config 'environmentSuffix'"),
        (["up", "-c", "nonsense"], 2, "error: invalid -c 'nonsense': expected key=value"),
        (["up", "-c", "colour=blue"], 2, "error: invalid config 'colour': unknown key"),
        (["up", "--stack", "a b"], 2, "error: invalid stack name 'a b'"),
        (["outputs", "--stack", "nope"], 4, "error: unknown stack 'nope'"),
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

    from tap_cicd.local.provider import HANDLERS

    original = HANDLERS["aws:sns/topic:Topic"]

    def refuse(*_args: Any) -> Any:
        raise ClientError({"Error": {"Code": "AuthorizationError", "Message": "no"}}, "CreateTopic")

    monkeypatch.setitem(HANDLERS, original.type, dataclasses.replace(original, create=refuse))
    result = tap("up")
    assert result.exit_code == 7
    assert result.output.splitlines()[-1].startswith(
        "error: aws:sns/topic:Topic tap-cicd-notifications: ClientError"
    )


def test_preview_without_state_plans_every_create_offline(
    tap: Any, clients: Any, declared: int
) -> None:
    text = tap("preview")
    assert text.exit_code == 0
    assert " + create  aws:kms/key:Key tap-cicd-key" in text.output
    assert f"Plan: {declared} to create, 0 to update, 0 to replace, 0 to delete, 0 unchanged." in (
        text.output
    )
    plan = json.loads(tap("preview", "--json", *GITHUB).output)
    types = [s["type"] for s in plan["steps"]]
    assert "aws:s3/bucketNotification:BucketNotification" not in types
    pipeline = next(s for s in plan["steps"] if s["type"].endswith(":Pipeline"))
    assert pipeline["inputs"]["pipelineType"] == "V2"
    assert {s["operation"] for s in plan["steps"]} == {"created"}
    assert counts(clients) == dict.fromkeys(counts(clients), 0)


def test_preview_of_a_deployed_stack_is_a_diff(tap: Any, declared: int) -> None:
    assert tap("up").exit_code == 0
    same = tap("preview")
    assert same.output.splitlines()[-1] == (
        f"Plan: 0 to create, 0 to update, 0 to replace, 0 to delete, {declared} unchanged."
    )
    changed = tap("preview", "-c", "logRetentionDays=60")
    assert " ~ update  aws:cloudwatch/logGroup:LogGroup tap-cicd-build-logs (retentionInDays)" in (
        changed.output
    )
    renamed = json.loads(tap("preview", "--json", "-c", "namePrefix=svc").output)
    replaced = [s for s in renamed["steps"] if s["operation"] == "replaced"]
    assert replaced and all("cannot change in place" in s["detail"] for s in replaced)


def test_refresh_reports_what_changed_outside_tap(tap: Any, clients: Any) -> None:
    assert tap("up").exit_code == 0
    assert tap("refresh").output == "stack 'dev' matches its state: nothing changed outside tap\n"
    clients("logs").delete_log_group(logGroupName="/aws/codebuild/pipeline-build-dev")
    assert tap("refresh", "--json").output == (
        '{\n  "notes": [\n    "tap-cicd-build-logs was deleted outside tap"\n  ]\n}\n'
    )
    assert "+ created  aws:cloudwatch/logGroup:LogGroup tap-cicd-build-logs" in tap("up").output


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
    started = runner.invoke(app, ["emulator", "start"]).output.splitlines()
    assert started[0].startswith("starting the emulator on 127.0.0.1:")
    assert started[1].startswith("emulator started at http://127.0.0.1:")
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
    assert stack_file.read_config("dev") == {}
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


def one_line_error(result: Any, code: int, message: str) -> None:
    """``result`` exited with ``code`` and said exactly one line on stderr, starting ``message``."""
    assert result.exit_code == code, result.output
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def leaves(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the click tree under ``command``, as the words that run it."""
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return [path]
    return [
        leaf for name, sub in sorted(subcommands.items()) for leaf in leaves(sub, (*path, name))
    ]


COMMANDS = leaves(typer.main.get_command(app))


def test_the_command_tree_is_the_documented_one() -> None:
    assert isinstance(typer.main.get_command(app), ReportedGroup)
    assert set(COMMANDS) == {
        ("up",), ("preview",), ("refresh",), ("check",), ("destroy",), ("outputs",), ("run",),
        ("emulator", "start"), ("emulator", "stop"), ("emulator", "status"),
        ("config", "get"), ("config", "list"), ("config", "rm"), ("config", "set"),
    }  # fmt: skip


ARGUMENTS = {("config", "get"): ["branch"], ("config", "rm"): ["branch"],
             ("config", "set"): ["branch", "main"]}  # fmt: skip
"""What the commands that take arguments are given."""


def invoke(command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, error: Exception) -> Any:
    """Run ``command`` with every way in (the tap home, the stack's config) raising ``error``."""
    for name in ("home", "parse_config"):
        monkeypatch.setattr(cli, name, broken(error))
    monkeypatch.setattr(stack_file, "path_of", broken(error))
    return CliRunner().invoke(app, [*command, *ARGUMENTS.get(command, [])])


def broken(error: Exception) -> Any:
    """A stand-in that raises ``error``."""

    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise error

    return fail


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_reports_a_tap_error_in_one_line(
    command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every command starts from the tap home or the stack's config.
    result = invoke(command, monkeypatch, StateError("the  state\nis gone"))
    one_line_error(result, 3, "error: the state is gone")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_shows_a_bug_with_its_traceback(
    command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = invoke(command, monkeypatch, KeyError("resources"))
    assert result.exit_code == 70
    assert result.stdout == ""
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "raise error\nKeyError: 'resources'" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "error: internal error: KeyError: 'resources' "
        "(a bug in tap: please report it with the traceback above)"
    )


def test_a_bug_under_the_local_target_is_not_disguised(
    tap: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tap_cicd.local import target

    monkeypatch.setattr(target, "run_program", broken(AttributeError("no attribute 'urn'")))
    result = tap("up")
    assert result.exit_code == 70
    assert "Traceback (most recent call last):" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "error: internal error: AttributeError: no attribute 'urn' "
        "(a bug in tap: please report it with the traceback above)"
    )


def test_a_closed_stdout_is_not_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "parse_config", broken(BrokenPipeError(errno.EPIPE, "Broken pipe")))
    result = CliRunner().invoke(app, ["preview", "--json"])
    assert result.exit_code == 1  # typer's answer to EPIPE: no traceback, no message
    assert result.output == ""


def test_ctrl_c_is_an_interruption_not_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    handler = signal.getsignal(signal.SIGINT)

    def interrupted_and_confused(*_args: Any) -> Any:
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            # What Pulumi's engine can make of it: a half-imported module, another error.
            raise AttributeError("module 'pulumi_aws' has no attribute 'kms'") from None

    monkeypatch.setattr(cli, "parse_config", interrupted_and_confused)
    result = CliRunner().invoke(app, ["preview"])
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "interrupted\n")
    monkeypatch.setattr(cli, "parse_config", broken(KeyboardInterrupt()))
    result = CliRunner().invoke(app, ["preview"])
    assert (result.exit_code, result.stdout, result.stderr) == (130, "", "interrupted\n")
    assert signal.getsignal(signal.SIGINT) is handler


def test_a_bug_in_the_deployer_is_not_a_failed_deploy(
    tap: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tap_cicd.local.provider import HANDLERS

    topic = HANDLERS["aws:sns/topic:Topic"]
    bug = broken(TypeError("create() got an unexpected keyword argument 'Nmae'"))
    monkeypatch.setitem(HANDLERS, topic.type, dataclasses.replace(topic, create=bug))
    result = tap("up")
    assert result.exit_code == 70
    assert "Traceback (most recent call last):" in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "error: internal error: TypeError: create() got an unexpected keyword argument 'Nmae' "
        "(a bug in tap: please report it with the traceback above)"
    )


@pytest.mark.parametrize("command", ["up", "preview", "destroy"])
@pytest.mark.parametrize("value", ["gcp", "AWS", ""])
def test_an_unknown_target_is_a_usage_error(
    tap: Any, command: str, value: str, clients: Any
) -> None:
    result = tap(command, "--target", value)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--target' / '-t': Value error, '{value}' is not one of "
        "'local', 'aws'."
    )
    assert result.stdout == ""
    assert counts(clients) == dict.fromkeys(counts(clients), 0)


def test_a_locked_stack_is_one_line(tap: Any, home: Path) -> None:
    from tap_cicd.local.state import StateStore

    with StateStore(home).lock("dev"):
        result = tap("up")
    one_line_error(result, 5, f"error: stack 'dev' is locked by process {os.getpid()}")


def test_an_emulator_lost_midway_is_one_line(
    tap: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tap_cicd.local.emulator import Emulator
    from tap_cicd.local.provider import HANDLERS

    own = tmp_path / "own"
    monkeypatch.setenv("TAP_HOME", str(own))
    emulator = Emulator(own)
    topic = HANDLERS["aws:sns/topic:Topic"]

    def crash_then_create(*args: Any) -> Any:
        emulator.stop()  # the emulator dies in the middle of the deploy
        return topic.create(*args)

    monkeypatch.setitem(HANDLERS, topic.type, dataclasses.replace(topic, create=crash_then_create))
    try:
        result = tap("up", "--port", "0")
    finally:
        emulator.stop()
    one_line_error(result, 6, "error: the emulator at http://127.0.0.1:")
    assert result.stderr.rstrip().endswith(
        f"stopped answering (EndpointConnectionError): it was stopped, crashed or stalled "
        f"(see {own / 'emulator.log'}); run 'tap emulator start' and try again"
    )


def test_destroy_without_an_answering_emulator_keeps_the_stack(
    tap: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tap_cicd.local import emulator as emulator_module
    from tap_cicd.local.emulator import Emulator, EmulatorInfo, free_port
    from tap_cicd.local.state import StackState, StateStore

    StateStore(home).save(StackState("dev", emulator="an-emulator"))
    port = free_port()  # nothing listens there: the connection is refused
    monkeypatch.setattr(Emulator, "info", lambda _self: EmulatorInfo(pid=os.getpid(), port=port))
    monkeypatch.setattr(emulator_module, "ANSWER_TIMEOUT_SECONDS", 0.2)
    result = tap("destroy")
    one_line_error(result, 6, "error: the emulator ")
    assert "is not answering after 0.2 s (stalled?)" in result.stderr
    assert str(port) in result.stderr
    assert StateStore(home).exists("dev")


KMS_FAILURES = "TAP-KMS-001, TAP-KMS-002, TAP-KMS-003"


@pytest.mark.parametrize("as_json", [False, True])
def test_a_mandatory_policy_failure_has_its_own_exit_code(
    tap: Any, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    from tap_cicd.policy import command
    from tap_cicd.policy import tokens as t
    from tap_cicd.policy.engine import evaluate
    from tap_cicd.policy.model import Resource

    bare_key = [Resource("urn:key", t.KEY, "tap-cicd-key", {})]
    monkeypatch.setattr(command, "evaluate", lambda _graph: evaluate(bare_key))
    result = tap("check", *(["--json"] if as_json else []))
    one_line_error(
        result,
        9,
        f"error: 3 mandatory policy failure(s), the stack must not ship: {KMS_FAILURES}",
    )
    if as_json:
        assert json.loads(result.stdout)["summary"]["blocking"] == 3
    else:
        assert "3 failed (3 mandatory)" in result.stdout.splitlines()[-1]


def test_a_pulumi_cli_too_old_is_one_line(tap: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    old = aws_target.automation.InvalidVersionError("Minimum version requirement failed.")
    monkeypatch.setattr(aws_target.shutil, "which", lambda _name: "/usr/bin/pulumi")
    monkeypatch.setattr(aws_target.automation, "create_or_select_stack", broken(old))
    one_line_error(
        tap("preview", "--target", "aws"),
        8,
        "error: the Pulumi CLI cannot run --target aws: Minimum version requirement failed.; "
        "upgrade it (curl -fsSL https://get.pulumi.com | sh) and retry",
    )


PROBE = """
import json, sys
from typer.testing import CliRunner
from tap_cicd.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
loaded = [m for m in ("tap_cicd.aws_target", "pulumi") if m in sys.modules]
print(json.dumps({"exit": result.exit_code, "loaded": loaded}))
"""


@pytest.mark.parametrize(
    ("args", "loaded"),
    [
        # `import pulumi` loads pulumi.automation itself: only aws_target can stay out.
        (["up"], ["pulumi"]),
        (["preview"], ["pulumi"]),
        (["emulator", "status"], []),
        (["preview", "--target", "aws"], ["tap_cicd.aws_target", "pulumi"]),
    ],
    ids=" ".join,
)
def test_the_automation_api_is_loaded_only_for_target_aws(
    args: list[str], loaded: list[str], home: Path, tmp_path: Path
) -> None:
    environment = {
        **os.environ,
        "TAP_HOME": str(home),
        "TAP_OUTPUTS_FILE": str(tmp_path / "flat-outputs.json"),
        "PATH": str(Path(sys.executable).parent),  # no Pulumi CLI: --target aws stops early
    }
    probe = subprocess.run(  # noqa: S603 - this interpreter, our own probe
        [sys.executable, "-c", PROBE, *args],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(probe.stdout.splitlines()[-1])
    assert report["loaded"] == loaded
    assert report["exit"] == (8 if "aws" in args else 0)


def test_the_exit_code_table_names_every_error_class() -> None:
    import tap_cicd.policy.exemptions  # noqa: F401 - defines a TapError of its own

    def kinds(base: type[TapError]) -> list[type[TapError]]:
        return [k for sub in base.__subclasses__() for k in (sub, *kinds(sub))]

    rows = {(row.exit_code, row.code) for row in EXIT_CODES}
    classes = {(k.exit_code, k.code) for k in kinds(TapError)}
    assert classes <= rows
    assert {row for row in rows if row[1] != "-"} == classes
    assert len({row.code for row in EXIT_CODES if row.code != "-"}) == len(classes)
    table = markdown_table().splitlines()
    assert table[:2] == ["| Exit code | Error code | Meaning |", "| --- | --- | --- |"]
    assert "| 9 | `policy_failed` | tap check: a mandatory policy rule failed |" in table
    assert "| 0 | - | success |" in table


def test_a_stalled_emulator_is_reported_by_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tap_cicd.local.emulator import Emulator, EmulatorInfo

    monkeypatch.setenv("TAP_HOME", str(tmp_path))
    monkeypatch.setattr(Emulator, "info", lambda _self: EmulatorInfo(pid=42, port=4566))
    monkeypatch.setattr(Emulator, "status", lambda _self: "stalled")
    result = CliRunner().invoke(app, ["emulator", "status"])
    assert (result.exit_code, result.output) == (
        1,
        "emulator stalled at http://127.0.0.1:4566 (pid 42): not answering; "
        "'tap emulator stop' kills it\n",
    )


def test_preview_says_when_the_deployed_stack_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tap_cicd.local.state import ResourceState, StackState, StateStore

    state = StackState("dev", emulator="gone")
    state.resources["q"] = ResourceState("q", "aws:sqs/queue:Queue", "u", True, {"n": 1}, {}, [])
    StateStore(tmp_path).save(state)
    monkeypatch.setenv("TAP_HOME", str(tmp_path))
    monkeypatch.chdir(PROJECT)
    result = CliRunner().invoke(app, ["preview"])
    assert result.output.startswith(
        "note: the emulator is not running: nothing of the stack is left\n  + create  "
    )
