"""The README's examples of the local target, run as a user would type them, in order."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tap_cicd.cli import app

from .conftest import PROJECT

README = (PROJECT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)


def local_commands() -> list[str]:
    """Every ``tap`` line of the README's shell blocks that runs on the local target.

    Left out: ``--target aws`` (no Pulumi CLI here), lines with ``...`` placeholders,
    ``tap emulator`` (it would stop the emulator the whole session shares; tests/local's
    emulator tests run those commands) and ``tap run`` (it needs a container engine, which
    ``make run`` provides: tests/run runs those lines).
    """
    commands = []
    for block in BLOCKS:
        for line in block.splitlines():
            command = line.split("  #", 1)[0].strip()
            if not command.startswith("tap ") or "--target aws" in command or "..." in command:
                continue
            if command.startswith(("tap emulator", "tap run")):
                continue
            commands.append(command)
    return commands


def test_the_readme_shows_local_commands() -> None:
    assert "tap preview --stack prod" in local_commands()
    assert "tap destroy" in local_commands()


def test_every_local_example_of_the_readme_runs(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(PROJECT / name, project / name)
    monkeypatch.chdir(project)
    monkeypatch.setenv("TAP_HOME", str(home))
    monkeypatch.setenv("TAP_OUTPUTS_FILE", str(tmp_path / "flat-outputs.json"))
    runner = CliRunner()
    for command in ["tap up", *local_commands()]:  # `make up` first, as the README says
        result = runner.invoke(app, shlex.split(command)[1:])
        assert result.exit_code == 0, f"{command}: {result.output}"
