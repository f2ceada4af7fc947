"""Buildspec semantics: the file parsed, the phase transitions, a phase's commands and finally
block, the variables' precedence and resolution, and the source and output artifacts."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from tap_cicd.local.services import buildspec, iam
from tap_cicd.local.services.buildspec import Artifacts, Buildspec, Phase, PhaseFailed

from .conftest import client, deny_actions, service_role

REGION = "us-east-1"
FULL = """
version: 0.2
env:
  shell: bash
  variables:
    PLAIN: value
    NUMBER: 3
    FLAG: yes
  parameter-store:
    FROM_SSM: /tap/param
  exported-variables:
    - IMAGE_URI
phases:
  install:
    commands: echo one command
  pre_build:
    on-failure: ABORT
    commands:
      - echo a
      - "echo b: c"
    finally:
      - echo done
  build:
    on-failure: CONTINUE
    commands:
      - make
artifacts:
  files:
    - '**/*'
  base-directory: out
  discard-paths: yes
"""


# --- parsing ----------------------------------------------------------------------------


def test_parse_a_buildspec() -> None:
    spec = buildspec.parse(FULL)
    assert spec == Buildspec(  # noqa: S604 - a buildspec's shell, nothing run
        version="0.2",
        shell="bash",
        variables={"PLAIN": "value", "NUMBER": "3", "FLAG": "true"},
        parameter_store={"FROM_SSM": "/tap/param"},
        exported_variables=("IMAGE_URI",),
        phases={
            "INSTALL": Phase(commands=("echo one command",)),
            "PRE_BUILD": Phase(("echo a", "echo b: c"), ("echo done",), "ABORT"),
            "BUILD": Phase(("make",), on_failure="CONTINUE"),
            "POST_BUILD": Phase(),
        },
        artifacts=Artifacts(("**/*",), "out", discard_paths=True),
    )
    assert spec.phase("UPLOAD_ARTIFACTS") == Phase()


def test_defaults_and_version_0_1() -> None:
    spec = buildspec.parse("version: 0.1\nphases:\n  build:\n    commands: [true]\n")
    assert (spec.version, spec.shell, spec.artifacts) == ("0.1", "/bin/sh", None)
    assert spec.phase("BUILD").commands == ("true",)
    assert (spec.variables, spec.exported_variables) == ({}, ())


def test_the_tap_buildspec_parses() -> None:
    text = resources.files("tap_cicd").joinpath("buildspec.yml").read_text()
    spec = buildspec.parse(text)
    assert spec.shell == "bash"
    assert spec.exported_variables == ("IMAGE_DIGEST", "IMAGE_URI", "IMAGE_TAG")
    assert {spec.phase(name).on_failure for name in ("PRE_BUILD", "BUILD", "POST_BUILD")} == {
        "ABORT"
    }
    assert spec.artifacts == Artifacts(("imageDetail.json",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: [0.2", "the buildspec is not valid YAML"),
        ("- a list", "the buildspec must be a mapping"),
        ("phases: {}", "invalid buildspec version ''"),
        ("version: 0.3", "invalid buildspec version '0.3'"),
        ("version: 0.2\nenv: [a]", "env must be a mapping"),
        ("version: 0.2\nenv:\n  shell: powershell.exe", "env.shell 'powershell.exe' is not"),
        ("version: 0.2\nenv:\n  variables: [a]", "env.variables must be a mapping"),
        ("version: 0.2\nphases:\n  build: [a]", "phases.BUILD must be a mapping"),
        ("version: 0.2\nphases:\n  build:\n    commands: 5", "phases.BUILD.commands must be a"),
        (
            "version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b",
            "phases.BUILD.commands[0] is not a string (quote a command that contains ': ')",
        ),
        ("version: 0.2\nphases:\n  build:\n    finally:\n      -", "phases.BUILD.finally[0]"),
        (
            "version: 0.2\nphases:\n  build:\n    on-failure: RETRY-3",
            "phases.BUILD.on-failure 'RETRY-3' is not supported by the emulator "
            "(use one of ABORT, CONTINUE)",
        ),
        ("version: 0.2\nartifacts: [a]", "artifacts must be a mapping"),
        ("version: 0.2\nartifacts:\n  name: x", "artifacts.files is required"),
    ],
)
def test_a_bad_buildspec_is_a_yaml_file_error(text: str, message: str) -> None:
    with pytest.raises(buildspec.BuildspecError) as raised:
        buildspec.parse(text)
    assert raised.value.code == "YAML_FILE_ERROR"
    assert raised.value.message.startswith(message)


@pytest.mark.parametrize(
    ("declared", "expected"), [(True, True), ("yes", True), ("no", False), (False, False)]
)
def test_discard_paths(declared: object, expected: bool) -> None:
    text = f"version: 0.2\nartifacts:\n  files: [a]\n  discard-paths: {json.dumps(declared)}"
    assert buildspec.parse(text).artifacts == Artifacts(("a",), discard_paths=expected)


def test_load_inline_or_from_the_source(tmp_path: Path) -> None:
    (tmp_path / "buildspec.yml").write_text("version: 0.2\nenv:\n  shell: bash\n")
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "spec.yml").write_text("version: 0.1\n")
    assert buildspec.load("", tmp_path).shell == "bash"
    assert buildspec.load("ci/spec.yml", tmp_path).version == "0.1"
    assert buildspec.load("version: 0.2\n", tmp_path).version == "0.2"
    with pytest.raises(buildspec.BuildspecError, match="the buildspec cannot be read"):
        buildspec.load("missing.yml", tmp_path)


# --- transitions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "failed", "on_failure", "following"),
    [
        ("PROVISIONING", False, None, "DOWNLOAD_SOURCE"),
        ("DOWNLOAD_SOURCE", False, None, "INSTALL"),
        ("POST_BUILD", False, "ABORT", "UPLOAD_ARTIFACTS"),
        ("UPLOAD_ARTIFACTS", False, None, "FINALIZING"),
        ("FINALIZING", False, None, "COMPLETED"),
        # Without on-failure: the transitions of the phases diagram.
        ("PROVISIONING", True, None, "FINALIZING"),
        ("DOWNLOAD_SOURCE", True, None, "FINALIZING"),
        ("INSTALL", True, None, "FINALIZING"),
        ("PRE_BUILD", True, None, "FINALIZING"),
        ("BUILD", True, None, "POST_BUILD"),
        ("POST_BUILD", True, None, "UPLOAD_ARTIFACTS"),
        ("UPLOAD_ARTIFACTS", True, None, "FINALIZING"),
        # ABORT ends the build, CONTINUE goes on.
        ("BUILD", True, "ABORT", "FINALIZING"),
        ("POST_BUILD", True, "ABORT", "FINALIZING"),
        ("INSTALL", True, "CONTINUE", "PRE_BUILD"),
        ("PRE_BUILD", True, "CONTINUE", "BUILD"),
    ],
)
def test_after(phase: str, failed: bool, on_failure: str | None, following: str) -> None:
    assert buildspec.after(phase, failed, on_failure) == following


# --- a phase's commands -------------------------------------------------------------------


class FakeShell:
    """Runs nothing: prints the command, exits with the status the script gives."""

    def __init__(self, statuses: dict[str, int]) -> None:
        self.statuses, self.ran = statuses, []

    def run(self, command: str, output: Callable[[str], None]) -> int:
        self.ran.append(command)
        output(f"ran {command}")
        return self.statuses.get(command, 0)


def run_phase(
    phase: Phase, statuses: dict[str, int], interrupted: Callable[[], bool] = lambda: False
) -> tuple[str | None, list[str], list[str]]:
    shell, lines = FakeShell(statuses), []
    failure = buildspec.run_phase(
        phase, shell, lines.append, lambda text: lines.append(f"[Container] {text}"), interrupted
    )
    return failure, shell.ran, lines


def test_a_phase_that_succeeds() -> None:
    assert run_phase(Phase(("a", "b"), ("c",)), {}) == (
        None,
        ["a", "b", "c"],
        [
            "[Container] Running command a",
            "ran a",
            "[Container] Running command b",
            "ran b",
            "[Container] Running command c",
            "ran c",
        ],
    )


def test_a_failed_command_skips_the_rest_but_not_finally() -> None:
    failure, ran, lines = run_phase(Phase(("a", "b", "c"), ("d", "e")), {"a": 2, "d": 1})
    assert failure == "Error while executing command: a. Reason: exit status 2"
    assert ran == ["a", "d"]  # the first failure in finally skips the rest of finally
    assert "[Container] Command did not exit successfully a exit status 2" in lines


def test_a_failed_finally_fails_the_phase() -> None:
    failure, ran, _ = run_phase(Phase(("a",), ("b",)), {"b": 127})
    assert (failure, ran) == (
        "Error while executing command: b. Reason: exit status 127",
        ["a", "b"],
    )


def test_nothing_runs_once_interrupted() -> None:
    calls = iter([False, True])
    failure, ran, _ = run_phase(Phase(("a", "b"), ("c",)), {"a": 1}, lambda: next(calls))
    assert (failure, ran) == ("Error while executing command: a. Reason: exit status 1", ["a"])


# --- variables ----------------------------------------------------------------------------


def test_variables_precedence_and_resolution(live: str) -> None:
    ssm, secrets = client(live, "ssm"), client(live, "secretsmanager")
    ssm.put_parameter(Name="/tap/param", Value="from ssm", Type="SecureString")
    ssm.put_parameter(Name="/tap/project", Value="project ssm", Type="String")
    secrets.create_secret(Name="tap-secret", SecretString=json.dumps({"token": "t0k"}))
    secrets.create_secret(Name="tap-raw", SecretString="raw")
    spec = buildspec.parse(
        "version: 0.2\nenv:\n  variables: {A: spec, B: spec, C: spec}\n"
        "  parameter-store: {FROM_SSM: /tap/param}\n  exported-variables: [A, P, AWS_X, S]\n"
    )
    project = [
        {"name": "B", "value": "project", "type": "PLAINTEXT"},
        {"name": "C", "value": "project"},
        {"name": "P", "value": "/tap/project", "type": "PARAMETER_STORE"},
        {"name": "S", "value": "tap-secret:token", "type": "SECRETS_MANAGER"},
        {"name": "R", "value": "tap-raw", "type": "SECRETS_MANAGER"},
    ]
    found, hidden = buildspec.variables(spec, project, {"C": "start"}, REGION)
    assert found == {
        "A": "spec",
        "B": "project",
        "C": "start",
        "FROM_SSM": "from ssm",
        "P": "project ssm",
        "S": "t0k",
        "R": "raw",
    }
    assert hidden == {"P", "S", "R"}
    assert buildspec.exported(spec, hidden) == ["A"]


def test_a_missing_parameter_or_secret_fails_the_phase(live: str) -> None:
    with pytest.raises(PhaseFailed) as raised:
        buildspec.resolve("PARAMETER_STORE", "/nope", REGION)
    assert (raised.value.code, raised.value.message) == (
        "Decrypted Variables Error",
        "parameter does not exist: /nope",
    )
    client(live, "secretsmanager").create_secret(Name="plain", SecretString="not json")
    for name in ("nope", "plain:key"):
        with pytest.raises(PhaseFailed) as raised:
            buildspec.resolve("SECRETS_MANAGER", name, REGION)
        assert raised.value.code == "Secrets Manager Error"
        assert raised.value.message.startswith(f"{name}: ")


@pytest.mark.parametrize(
    ("kind", "name", "code", "action"),
    [
        ("PARAMETER_STORE", "/tap/param", "Decrypted Variables Error", "ssm:GetParameters"),
        ("SECRETS_MANAGER", "tap-secret", "Secrets Manager Error", "secretsmanager:GetSecretValue"),
    ],
)
def test_a_denied_read_fails_with_its_kinds_code_and_awss_words(
    live: str, kind: str, name: str, code: str, action: str
) -> None:
    client(live, "ssm").put_parameter(Name="/tap/param", Value="v", Type="String")
    client(live, "secretsmanager").create_secret(Name="tap-secret", SecretString="s")
    role = service_role(live, "build", "codebuild.amazonaws.com")
    deny_actions(live, "build", action)
    session = iam.assume("codebuild.amazonaws.com", role, REGION, "denied")
    with pytest.raises(PhaseFailed) as raised:
        buildspec.resolve(kind, name, REGION, session.credentials)
    assert raised.value.code == code
    assert f"is not authorized to perform: {action} on resource: " in raised.value.message


# --- artifacts ----------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("top.txt", "out/a.txt", "out/sub/b.txt", "out-2/c.txt", "outfile"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    return tmp_path


@pytest.mark.parametrize(
    ("artifacts", "names"),
    [
        (Artifacts(("top.txt",)), ["top.txt"]),
        (Artifacts(("./top.txt", "missing", "out")), ["top.txt"]),
        (
            Artifacts(("**/*",)),
            ["out-2/c.txt", "out/a.txt", "out/sub/b.txt", "outfile", "top.txt"],
        ),
        (Artifacts(("out/**/*",)), ["out/a.txt", "out/sub/b.txt"]),
        (Artifacts(("**/*",), base_directory="out"), ["a.txt", "sub/b.txt"]),
        (Artifacts(("**/*",), base_directory="./out"), ["a.txt", "sub/b.txt"]),
        (Artifacts(("*",), base_directory="out*"), ["a.txt", "c.txt"]),
        (Artifacts(("**/*",), base_directory="out", discard_paths=True), ["a.txt", "b.txt"]),
        (Artifacts((".",), base_directory="."), []),
    ],
)
def test_collect(tree: Path, artifacts: Artifacts, names: list[str]) -> None:
    assert sorted(artifacts.collect(tree)) == names


def test_an_absolute_artifact_path_is_refused(tree: Path) -> None:
    with pytest.raises(PhaseFailed, match="invalid artifact path /etc/passwd"):
        Artifacts(("/etc/passwd",)).collect(tree)


def test_upload_zips_and_encrypts(live: str, tree: Path) -> None:
    s3 = client(live, "s3")
    s3.create_bucket(Bucket="tap-artifacts")
    (tree / "out" / "run.sh").write_text("#!/bin/sh\n")
    (tree / "out" / "run.sh").chmod(0o755)
    found = buildspec.upload(
        Artifacts(("**/*",), base_directory="out"),
        tree,
        REGION,
        ("tap-artifacts", "pipe/BuildArtif/abc"),
        ("arn:aws:kms:us-east-1:123456789012:key/k", "arn:aws:codebuild:us-east-1:1:build/p:1"),
    )
    stored = s3.get_object(Bucket="tap-artifacts", Key="pipe/BuildArtif/abc")
    body = stored["Body"].read()
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["SSEKMSKeyId"].endswith("key/k")
    assert stored["Metadata"] == {"codebuild-buildarn": "arn:aws:codebuild:us-east-1:1:build/p:1"}
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert sorted(archive.namelist()) == ["a.txt", "run.sh", "sub/b.txt"]
    assert archive.getinfo("run.sh").external_attr >> 16 & 0o777 == 0o755
    assert found["location"] == "arn:aws:s3:::tap-artifacts/pipe/BuildArtif/abc"
    assert len(found["md5sum"]) == 32
    assert len(found["sha256sum"]) == 64


@pytest.mark.parametrize(
    ("artifacts", "message"),
    [
        (None, "no definition for primary artifact in buildspec"),
        (Artifacts(("nothing/*",)), "no matching artifact paths found"),
    ],
)
def test_upload_without_files_fails(tree: Path, artifacts: Artifacts | None, message: str) -> None:
    with pytest.raises(PhaseFailed) as raised:
        buildspec.upload(artifacts, tree, REGION, ("b", "k"), ("key", "arn"))
    assert (raised.value.code, raised.value.message) == ("CLIENT_ERROR", message)


def zipped(**files: tuple[str, int]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, (text, mode) in files.items():
            info = zipfile.ZipInfo(name.replace("__", "/"))
            info.external_attr = mode << 16
            archive.writestr(info, text)
        archive.writestr(zipfile.ZipInfo("empty/"), "")
    return buffer.getvalue()


def test_download_unzips_with_executable_bits(live: str, tmp_path: Path) -> None:
    s3 = client(live, "s3")
    s3.create_bucket(Bucket="tap-source")
    body = zipped(build__sh=("#!/bin/sh\n", 0o755), readme=("hi", 0o644), plain=("x", 0))
    s3.put_object(Bucket="tap-source", Key="source.zip", Body=body)
    buildspec.download(REGION, ("tap-source", "source.zip"), tmp_path / "src")
    assert (tmp_path / "src" / "build" / "sh").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "src" / "readme").stat().st_mode & 0o111 == 0
    assert (tmp_path / "src" / "plain").read_text() == "x"
    assert (tmp_path / "src" / "empty").is_dir()


def test_download_failures(live: str, tmp_path: Path) -> None:
    s3 = client(live, "s3")
    s3.create_bucket(Bucket="tap-source")
    s3.put_object(Bucket="tap-source", Key="not-a-zip", Body=b"plain text")
    for key in ("missing.zip", "not-a-zip"):
        with pytest.raises(PhaseFailed) as raised:
            buildspec.download(REGION, ("tap-source", key), tmp_path / key)
        assert raised.value.code == "CLIENT_ERROR"
        assert raised.value.message.startswith(f"error while downloading s3://tap-source/{key}: ")
