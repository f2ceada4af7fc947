"""The buildspec's shell, run in bash the way CodeBuild runs it, with fake ``aws`` and ``docker``.

CodeBuild runs a phase's commands one after another in one shell, so variables carry over
and ``exported-variables`` are read from that shell's environment at the end of the build.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tap_cicd.pipeline.build import buildspec

DIGEST = "sha256:" + "ab" * 32
REPOSITORY_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/pipeline-images-dev"
COMMIT = "4f1e2d3c5b6a79880123456789abcdef01234567"
# The shape of an S3 object's version id (S3 user guide example): not a commit.
S3_VERSION = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo"

FAKE_AWS = f"""#!/usr/bin/env bash
case "$*" in
  *get-login-password*) echo password ;;
  *describe-images*) echo {DIGEST} ;;
  *) echo "unexpected aws $*" >&2; exit 2 ;;
esac
"""
FAKE_DOCKER = '#!/usr/bin/env bash\necho "docker $*" >> "$DOCKER_LOG"\n'

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(buildspec())
    return spec


def _run_build(tmp_path: Path, source_version: str | None) -> dict[str, str]:
    """Every phase's commands in one bash, then the exported variables as the shell has them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("aws", FAKE_AWS), ("docker", FAKE_DOCKER)):
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    spec = _spec()
    commands = [
        command
        for phase in ("install", "pre_build", "build", "post_build")
        for command in spec["phases"].get(phase, {}).get("commands", [])
    ]
    exported = spec["env"]["exported-variables"]
    # Only the environment proves a variable is exported (a plain shell variable is not).
    report = [f'printf "%s=%s\\n" {name} "$(printenv {name})"' for name in exported]
    script = "set -e\n" + "\n".join([*commands, *report])
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "DOCKER_LOG": str(tmp_path / "docker.log"),
        "AWS_DEFAULT_REGION": "us-east-1",
        "REPOSITORY_URI": REPOSITORY_URI,
        "IMAGE_REPO_NAME": "pipeline-images-dev",
        "TEST_COMMAND": "",
        "CODEBUILD_BUILD_NUMBER": "7",
    }
    if source_version is not None:
        env["CODEBUILD_RESOLVED_SOURCE_VERSION"] = source_version
    done = subprocess.run(  # noqa: S603 - a fixed bash and the repository's own buildspec
        ["bash", "-c", script],  # noqa: S607
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    values["imageDetail.json"] = (tmp_path / "imageDetail.json").read_text()
    values["docker"] = (tmp_path / "docker.log").read_text()
    return values


@pytest.mark.parametrize(
    ("source_version", "tag"),
    [
        (COMMIT, "4f1e2d3c5b6a-7"),
        # An S3 source resolves to the object's version id: no commit, so no hex soup.
        (S3_VERSION, "build-7"),
        (None, "build-7"),
        # Not a full commit id (too short, upper case): not trusted as one.
        (COMMIT[:39], "build-7"),
        (COMMIT.upper(), "build-7"),
    ],
)
def test_the_image_tag_comes_from_a_commit_id_only(
    tmp_path: Path, source_version: str | None, tag: str
) -> None:
    values = _run_build(tmp_path, source_version)
    assert values["IMAGE_TAG"] == tag
    assert f"docker push {REPOSITORY_URI}:{tag}" in values["docker"]


def test_every_exported_variable_is_in_the_environment_at_the_end(tmp_path: Path) -> None:
    values = _run_build(tmp_path, COMMIT)
    assert values["IMAGE_DIGEST"] == DIGEST
    assert values["IMAGE_URI"] == f"{REPOSITORY_URI}@{DIGEST}"
    assert values["imageDetail.json"] == f'{{"ImageURI":"{REPOSITORY_URI}@{DIGEST}"}}'


def test_each_exported_variable_is_assigned_with_export() -> None:
    spec = _spec()
    commands = [c for phase in spec["phases"].values() for c in phase.get("commands", [])]
    for name in spec["env"]["exported-variables"]:
        assignments = [c for c in commands if shlex.split(c)[:2][-1].startswith(f"{name}=")]
        assert assignments, name
        assert all(c.startswith(f"export {name}=") for c in assignments), assignments
