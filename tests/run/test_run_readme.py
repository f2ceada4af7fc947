"""The README's `tap run` example, typed as a user would, in a project of its own."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from .conftest import PROJECT, post, tap

README = (PROJECT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("### Run the pipeline: `tap run`", 1)[1].split("\n### ", 1)[0]


def example() -> list[str]:
    """The ``tap`` lines of the section's first shell block."""
    block = re.findall(r"```bash\n(.*?)```", SECTION, re.S)[0]
    return [
        line.split("  #", 1)[0].strip() for line in block.splitlines() if line.startswith("tap ")
    ]


def test_the_readme_example_runs_the_pipeline(session_home: Path, tmp_path: Path) -> None:
    commands = example()
    assert commands[-1] == "tap run --source examples/service"
    project = tmp_path / "project"
    project.mkdir()
    for name in ("__main__.py", "Pulumi.yaml"):
        shutil.copy(PROJECT / name, project / name)
    (project / "examples").symlink_to(PROJECT / "examples")
    home = tmp_path / "tap"
    home.mkdir()
    shutil.copy(session_home / "emulator.json", home / "emulator.json")
    endpoint = post_endpoint(home)
    post(endpoint, "/moto-api/reset", {})
    post(endpoint, "/_tap/reset", {})
    for command in commands:
        done = tap(home, *shlex.split(command)[1:], cwd=project)
        assert done.returncode == 0, f"{command}: {done.stderr}"
    assert "Succeeded" in done.stdout


def post_endpoint(home: Path) -> str:
    """The emulator's endpoint, from the home's record."""
    from tap_cicd.local.emulator import Emulator

    info = Emulator(home).info()
    assert info is not None
    return info.endpoint
