"""Bad input to the tap command: one line naming the key and the rule, exit code 2, nothing
created (no state, no emulator resource, no outputs file)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from typer.testing import CliRunner

from tap_cicd.cli import app

from .conftest import PROJECT, counts

Setup = Callable[[Path], dict[str, str]]
"""Prepares the project directory; returns environment variables to set."""


def nothing(_project: Path) -> dict[str, str]:
    return {}


def stack_file(text: str | bytes, stack: str = "dev") -> Setup:
    def write(project: Path) -> dict[str, str]:
        path = project / f"Pulumi.{stack}.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return {}

    return write


def directory_stack_file(project: Path) -> dict[str, str]:
    (project / "Pulumi.dev.yaml").mkdir()
    return {}


def looping_stack_file(project: Path) -> dict[str, str]:
    os.symlink("Pulumi.dev.yaml", project / "Pulumi.dev.yaml")  # unreadable: ELOOP
    return {}


def variable(name: str, value: str) -> Setup:
    return lambda _project: {name: value}


def home_is_a_file(project: Path) -> dict[str, str]:
    (project / "home-file").write_text("")
    return {"TAP_HOME": str(project / "home-file")}


def outputs_under_a_file(project: Path) -> dict[str, str]:
    (project / "blocker").write_text("")
    return {"TAP_OUTPUTS_FILE": str(project / "blocker" / "out" / "flat-outputs.json")}


def outputs_is_a_directory(project: Path) -> dict[str, str]:
    (project / "outputs-dir").mkdir()
    return {"TAP_OUTPUTS_FILE": str(project / "outputs-dir")}


class Case(NamedTuple):
    args: list[str]
    setup: Setup
    message: str
    """What the one line on stderr says (the key and the rule)."""


DEEP = "config:\n  tap:tags: " + "[" * 5000 + "]" * 5000 + "\n"
CASES = {
    "superscript number": Case(
        ["up", "-c", "scanWaitSeconds=²"],
        nothing,
        "error: invalid config 'scanWaitSeconds': must be a whole number of seconds, 0-86400",
    ),
    "superscript port": Case(
        ["up"],
        variable("TAP_EMULATOR_PORT", "⁴⁶⁴¹"),
        "error: invalid TAP_EMULATOR_PORT '⁴⁶⁴¹': expected a port number 0-65535",
    ),
    "region mars-1": Case(
        ["up", "-c", "aws:region=mars-1"],
        nothing,
        "error: invalid config 'aws:region': 'mars-1' is not an AWS region code",
    ),
    "region empty": Case(
        ["up", "-c", "aws:region="], nothing, "error: invalid config 'aws:region': '' is not"
    ),
    "region with spaces": Case(
        ["up", "-c", "aws:region=us east 1"], nothing, "error: invalid config 'aws:region'"
    ),
    "region star": Case(
        ["up", "-c", "aws:region=*"], nothing, "error: invalid config 'aws:region'"
    ),
    "region in check": Case(
        ["check", "-c", "aws:region=mars-1"], nothing, "error: invalid config 'aws:region'"
    ),
    "region in preview": Case(
        ["preview", "-c", "aws:region=*"], nothing, "error: invalid config 'aws:region'"
    ),
    "binary stack file": Case(
        ["up"], stack_file(bytes(range(256))), "error: Pulumi.dev.yaml is not valid YAML"
    ),
    "control characters in the stack file": Case(
        ["up"], stack_file("config:\n  tap:a: \x00\n"), "error: Pulumi.dev.yaml is not valid YAML"
    ),
    "5000-deep stack file": Case(
        ["up"], stack_file(DEEP), "error: Pulumi.dev.yaml is not valid YAML for tap: it is nested"
    ),
    "stack file is a directory": Case(
        ["up"], directory_stack_file, "error: Pulumi.dev.yaml is a directory"
    ),
    "stack file unreadable": Case(
        ["up"], looping_stack_file, "error: cannot read Pulumi.dev.yaml: Too many levels"
    ),
    "TAP_HOME is a file": Case(["up"], home_is_a_file, "error: TAP_HOME "),
    "TAP_HOME is a file for outputs": Case(["outputs"], home_is_a_file, "error: TAP_HOME "),
    "port too high": Case(
        ["up", "--port", "70000"],
        nothing,
        "error: invalid --port 70000: expected a port number 0-65535",
    ),
    "port negative": Case(["up", "--port", "-5"], nothing, "error: invalid --port -5"),
    "outputs file under a file": Case(
        ["up"], outputs_under_a_file, "error: the outputs file (TAP_OUTPUTS_FILE) "
    ),
    "outputs file is a directory": Case(
        ["up"], outputs_is_a_directory, "error: the outputs file (TAP_OUTPUTS_FILE) "
    ),
    "aws key typo": Case(
        ["up", "-c", "aws:regoin=eu-west-1"],
        nothing,
        "error: invalid config 'aws:regoin': unknown key; did you mean aws:region?",
    ),
    "unknown namespace": Case(
        ["up", "-c", "foo:bar=1"],
        nothing,
        "error: invalid config 'foo:bar': unknown namespace 'foo'",
    ),
    "unknown tap key": Case(
        ["up", "-c", "tap:enviromentSuffix=qa"],
        nothing,
        "error: invalid config 'enviromentSuffix': unknown key; did you mean "
        "tap:environmentSuffix?",
    ),
    "unknown key in the stack file": Case(
        ["up"],
        stack_file("config:\n  aws:regoin: eu-west-1\n"),
        "error: invalid config 'aws:regoin'",
    ),
    "tag value with a newline": Case(
        ["up", "-c", 'tags={"Team": "a\\nb"}'],
        nothing,
        "error: invalid config 'tags': value of 'Team' must be 0-256 letters",
    ),
    "tag value with a newline in YAML": Case(
        ["up"],
        stack_file('config:\n  tap:tags:\n    Team: "a\\nb"\n'),
        "error: invalid config 'tags': value of 'Team'",
    ),
    "test command with a carriage return": Case(
        ["up", "-c", "testCommand=make test\r"],
        nothing,
        "error: invalid config 'testCommand': must be a single line",
    ),
    "YAML key without a value": Case(
        ["up"],
        stack_file("config:\n  tap:namePrefix:\n"),
        "error: invalid config 'namePrefix': has no value in Pulumi.dev.yaml (YAML null)",
    ),
    "YAML true as the suffix": Case(
        ["up"],
        stack_file("config:\n  tap:environmentSuffix: true\n"),
        "error: invalid config 'environmentSuffix': must be a string, but YAML reads it as a "
        "boolean (true): quote it ('true')",
    ),
    "YAML number for a string key": Case(
        ["preview"],
        stack_file("config:\n  tap:namePrefix: 12\n"),
        "error: invalid config 'namePrefix': must be a string, but YAML reads it as a number",
    ),
    "YAML date for a string key": Case(
        ["check"],
        stack_file("config:\n  tap:branch: 2026-01-01\n"),
        "error: invalid config 'branch': must be a string, but YAML reads it as a date",
    ),
    "YAML float for an integer key": Case(
        ["up"],
        stack_file("config:\n  tap:scanWaitSeconds: 1.5\n"),
        "error: invalid config 'scanWaitSeconds': must be a string, but YAML reads it as a number",
    ),
    "YAML mapping for the region": Case(
        ["up"],
        stack_file("config:\n  aws:region: {a: 1}\n"),
        "error: invalid config 'aws:region': must be a string, but YAML reads it as a mapping",
    ),
    "Pulumi secret": Case(
        ["up"],
        stack_file("config:\n  tap:notificationEmail:\n    secure: AAABAHk=\n"),
        "error: invalid config 'notificationEmail': is a Pulumi secret (secure:) in "
        "Pulumi.dev.yaml: secrets are not supported by the local target",
    ),
    "stack name that is no suffix": Case(
        ["up", "--stack", "Prod_1"],
        nothing,
        "error: invalid config 'environmentSuffix': must match ^[a-z0-9-]+$ without leading, "
        "trailing or doubled hyphens (it defaults to the stack name 'Prod_1'); set "
        "tap:environmentSuffix (tap config set environmentSuffix <suffix> --stack Prod_1)",
    ),
    "stack name too long for the names": Case(
        ["check", "--stack", "s" * 40],
        nothing,
        "error: invalid config 'environmentSuffix': too long for the names derived from it "
        f"(it defaults to the stack name '{'s' * 40}')",
    ),
    "bad stack name for up": Case(["up", "--stack", "a b"], nothing, "error: invalid stack name"),
    "bad stack name for destroy": Case(
        ["destroy", "--stack", "../x"], nothing, "error: invalid stack name '../x'"
    ),
    "bad stack name for outputs": Case(
        ["outputs", "--stack", ""], nothing, "error: invalid stack name ''"
    ),
    "bad stack name for config": Case(
        ["config", "list", "--stack", "a/b"], nothing, "error: invalid stack name 'a/b'"
    ),
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project (program and Pulumi.yaml) as the current directory."""
    directory = tmp_path / "project"
    directory.mkdir()
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(PROJECT / name, directory / name)
    monkeypatch.chdir(directory)
    return directory


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_one_line_and_creates_nothing(
    case: Case, project: Path, home: Path, tmp_path: Path, clients: Any
) -> None:
    outputs = tmp_path / "flat-outputs.json"
    environment = {"TAP_HOME": str(home), "TAP_OUTPUTS_FILE": str(outputs)}
    environment.update(case.setup(project))
    before = sorted(p.name for p in home.iterdir())
    result = CliRunner().invoke(app, case.args, env=environment)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(case.message), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""
    assert sorted(p.name for p in home.iterdir()) == before  # no state, no lock
    assert not outputs.exists()
    assert counts(clients) == dict.fromkeys(counts(clients), 0)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_stack_file_is_one_line(project: Path) -> None:
    (project / "Pulumi.dev.yaml").write_text("config: {}\n")
    (project / "Pulumi.dev.yaml").chmod(0)
    result = CliRunner().invoke(app, ["preview"])
    assert result.exit_code == 2
    assert result.stderr == "error: cannot read Pulumi.dev.yaml: Permission denied\n"
