"""tap config, the stack name as the default suffix, tap --version, and the flat outputs
file's owner, through the command line."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tap_cicd import cli
from tap_cicd.cli import app

from .conftest import PROJECT

LOCAL = (PROJECT / "Pulumi.local.yaml").read_text()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project (program, Pulumi.yaml, Pulumi.local.yaml) as the current directory."""
    directory = tmp_path / "project"
    directory.mkdir()
    for name in ("__main__.py", "Pulumi.yaml", "Pulumi.local.yaml"):
        shutil.copy(PROJECT / name, directory / name)
    monkeypatch.chdir(directory)
    return directory


def tap(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def names(*args: str) -> set[str]:
    """The AWS names of the resources ``tap preview`` shows."""
    result = tap("preview", "--json", *args)
    assert result.exit_code == 0, result.output
    return {str(r["inputs"].get("name")) for r in json.loads(result.stdout)["steps"]}


def test_version() -> None:
    result = tap("--version")
    assert (result.exit_code, result.stdout) == (0, f"tap {version('tap-cicd')}\n")


def test_set_get_list_rm(project: Path) -> None:
    assert tap("config", "list").stdout == "Pulumi.dev.yaml sets no config\n"
    assert tap("config", "list", "--json").stdout == "{}\n"
    assert tap("config", "set", "environmentSuffix", "qa").stdout == (
        "set tap:environmentSuffix in Pulumi.dev.yaml\n"
    )
    assert tap("config", "set", "aws:region", "eu-west-1").exit_code == 0
    assert (project / "Pulumi.dev.yaml").read_text() == (
        "config:\n  tap:environmentSuffix: qa\n  aws:region: eu-west-1\n"
    )
    assert tap("config", "get", "tap:environmentSuffix").stdout == "qa\n"
    assert tap("config", "list").stdout == (
        "tap:environmentSuffix  qa\naws:region             eu-west-1\n"
    )
    assert json.loads(tap("config", "list", "--json").stdout) == {
        "tap:environmentSuffix": "qa",
        "aws:region": "eu-west-1",
    }
    assert "pipeline-pipeline-qa" in names()
    # A -c override wins over the file, for that command only.
    assert "pipeline-pipeline-ci" in names("-c", "environmentSuffix=ci")
    assert tap("config", "rm", "environmentSuffix").stdout == (
        "removed tap:environmentSuffix from Pulumi.dev.yaml\n"
    )
    assert tap("config", "rm", "environmentSuffix").stdout == (
        "tap:environmentSuffix is not set in Pulumi.dev.yaml: nothing to remove\n"
    )
    unset = tap("config", "get", "environmentSuffix")
    assert unset.exit_code == 2
    assert unset.stderr == (
        "error: config 'tap:environmentSuffix' is not set in Pulumi.dev.yaml: its default or "
        "environment variable applies\n"
    )


def test_set_keeps_the_rest_of_pulumis_file(project: Path) -> None:
    assert tap("config", "set", "namePrefix", "shop", "--stack", "local").exit_code == 0
    text = (project / "Pulumi.local.yaml").read_text()
    assert text == LOCAL.replace(
        "  tap:environmentSuffix: local\n",
        "  tap:environmentSuffix: local\n  tap:namePrefix: shop\n",
    )
    assert tap("config", "rm", "namePrefix", "-s", "local").exit_code == 0
    assert (project / "Pulumi.local.yaml").read_text() == LOCAL


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scanWaitSeconds", "²"], "error: invalid config 'scanWaitSeconds': must be a whole"),
        (["aws:regoin", "eu-west-1"], "error: invalid config 'aws:regoin': unknown key"),
        (["foo:bar", "1"], "error: invalid config 'foo:bar': unknown namespace 'foo'"),
        (["repository", "acme/x"], "error: invalid config 'repository': is only valid with"),
        (["aws:region", "mars-1"], "error: invalid config 'aws:region': 'mars-1'"),
        (["tags", '{"k": "a\\nb"}'], "error: invalid config 'tags': value of 'k'"),
    ],
)
def test_set_refuses_what_would_not_validate(project: Path, args: list[str], message: str) -> None:
    (project / "Pulumi.dev.yaml").write_text("config:\n  tap:namePrefix: shop  # ours\n")
    result = tap("config", "set", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert (project / "Pulumi.dev.yaml").read_text() == "config:\n  tap:namePrefix: shop  # ours\n"


def test_set_validates_with_the_stack_name(project: Path) -> None:
    bad = tap("config", "set", "namePrefix", "shop", "--stack", "Prod_1")
    assert bad.exit_code == 2
    assert "it defaults to the stack name 'Prod_1'" in bad.stderr
    assert not (project / "Pulumi.Prod_1.yaml").exists()
    assert tap("config", "set", "environmentSuffix", "prod", "--stack", "Prod_1").exit_code == 0
    assert tap("check", "--stack", "Prod_1").exit_code == 0


def test_rm_removes_a_broken_key(project: Path) -> None:
    (project / "Pulumi.dev.yaml").write_text("config:\n  tap:colour: blue\n")
    assert tap("preview").exit_code == 2
    assert tap("config", "rm", "colour").stdout == "removed tap:colour from Pulumi.dev.yaml\n"
    assert (project / "Pulumi.dev.yaml").read_text() == "config:\n"


def test_the_stack_name_is_the_default_suffix(project: Path) -> None:
    assert "pipeline-pipeline-prod" in names("--stack", "prod")
    assert "pipeline-pipeline-dev" in names()
    assert "pipeline-pipeline-local" in names("--stack", "local")  # Pulumi.local.yaml says so
    assert "pipeline-pipeline-qa" in names("--stack", "prod", "-c", "environmentSuffix=qa")


def test_yaml_numbers_are_accepted_for_integer_keys(project: Path) -> None:
    (project / "Pulumi.dev.yaml").write_text("config:\n  tap:logRetentionDays: 30\n")
    graph = json.loads(tap("preview", "--json").stdout)
    groups = [r for r in graph["steps"] if r["type"] == "aws:cloudwatch/logGroup:LogGroup"]
    assert {g["inputs"]["retentionInDays"] for g in groups} == {30}


@pytest.mark.parametrize("as_json", [False, True])
def test_destroy_of_a_stack_without_state(home: Path, as_json: bool, monkeypatch: Any) -> None:
    monkeypatch.setenv("TAP_HOME", str(home))
    result = tap("destroy", "--stack", "nope", *(["--json"] if as_json else []))
    assert result.exit_code == 0
    if as_json:
        assert json.loads(result.stdout)["notes"] == [
            "nothing to destroy: stack 'nope' has no state"
        ]
    else:
        assert result.stdout.startswith("note: nothing to destroy: stack 'nope' has no state\n")


def test_the_outputs_file_belongs_to_one_stack(
    project: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outputs = tmp_path / "out" / "flat-outputs.json"
    monkeypatch.setenv("TAP_HOME", str(home))
    monkeypatch.setenv("TAP_OUTPUTS_FILE", str(outputs))
    assert tap("up").exit_code == 0
    assert json.loads(outputs.read_text())["pipelineName"] == "pipeline-pipeline-dev"
    assert (outputs.parent / ".flat-outputs.stack").read_text() == "dev\n"
    other = tap("up", "--stack", "prod", "-c", "environmentSuffix=prod", "--json")
    assert other.exit_code == 0, other.output
    assert other.stderr == f"note: {outputs} now describes stack 'prod' (it described 'dev')\n"
    assert json.loads(other.stdout)["outputs"] == json.loads(outputs.read_text())
    kept = tap("destroy")
    assert kept.exit_code == 0
    assert outputs.exists()  # it describes prod
    again = tap("up", "--stack", "dev")
    assert f"note: {outputs} now describes stack 'dev' (it described 'prod')" in again.stdout
    gone = tap("destroy", "--stack", "dev")
    assert f"note: removed {outputs}: it described stack 'dev'" in gone.stdout
    assert not outputs.exists()
    assert not (outputs.parent / ".flat-outputs.stack").exists()
    assert tap("destroy", "--stack", "prod").exit_code == 0


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("up", "interrupted: the state keeps what was done; run 'tap up' to resume\n"),
        ("destroy", "interrupted: the state keeps what was done; run 'tap destroy' to finish\n"),
    ],
)
def test_an_interrupted_deploy_says_how_to_resume(
    command: str, message: str, home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tap_cicd.local.state import StackState, StateStore
    from tap_cicd.local.target import LocalTarget

    def interrupt(*_args: Any, **_kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.chdir(PROJECT)
    monkeypatch.setenv("TAP_HOME", str(home))
    monkeypatch.setenv("TAP_OUTPUTS_FILE", str(tmp_path / "flat-outputs.json"))
    StateStore(home).save(StackState("dev"))
    monkeypatch.setattr(LocalTarget, command, interrupt)
    result = CliRunner().invoke(app, [command])
    assert (result.exit_code, result.stderr) == (130, message)


def test_outputs_that_cannot_be_written_late_are_one_line(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tap_cicd.errors import UsageError

    def refuse(*_args: Any) -> Any:
        raise UsageError("cannot write x: No space left on device")

    monkeypatch.chdir(PROJECT)
    monkeypatch.setenv("TAP_HOME", str(home))
    monkeypatch.setenv("TAP_OUTPUTS_FILE", str(tmp_path / "flat-outputs.json"))
    monkeypatch.setattr(cli.stack_file, "write_outputs", refuse)
    result = CliRunner().invoke(app, ["up"])
    assert (result.exit_code, result.stderr) == (
        2,
        "error: cannot write x: No space left on device\n",
    )
    assert tap("destroy").exit_code == 0


def test_a_github_source_is_set_key_by_key(project: Path) -> None:
    arn = "arn:aws:codestar-connections:eu-west-1:123456789012:connection/" + "0" * 36
    first = tap("config", "set", "source", "github")
    assert first.exit_code == 0
    assert first.stderr == (
        "note: the config is not complete yet: invalid config 'connectionArn': must be the ARN "
        "of an existing CodeStar connection "
        "(arn:aws:codestar-connections:<region>:<account>:connection/<uuid>)\n"
    )
    assert tap("preview").exit_code == 2  # incomplete until connectionArn and repository
    second = tap("config", "set", "connectionArn", arn)
    assert second.stderr.startswith("note: the config is not complete yet: invalid config 'repo")
    assert tap("config", "set", "repository", "acme/service").stderr == ""
    assert tap("preview").exit_code == 0
    bad = tap("config", "set", "connectionArn", "arn:aws:s3:::bucket")
    assert bad.exit_code == 2  # the value being set breaks its rule: refused
    assert tap("config", "get", "connectionArn").stdout == arn + "\n"
