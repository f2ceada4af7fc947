"""The build container: engine detection (with fake ``docker``/``podman`` on PATH), the shell
the commands share, the build's environment and its log in CloudWatch Logs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from tap_cicd.local import services
from tap_cicd.local.services import containers

REGION = "us-east-1"


def script(directory: Path, name: str, body: str) -> Path:
    """An executable ``name`` in ``directory`` running ``body`` with sh."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def docker(directory: Path, info: str = "exit 0", context: str = "exit 1") -> Path:
    return script(directory, "docker", f'case "$1" in info) {info} ;; context) {context} ;; esac')


# --- engine detection ---------------------------------------------------------------------


def test_a_docker_client_without_a_daemon_does_not_count(tmp_path: Path) -> None:
    docker(tmp_path, info="echo 'Cannot connect to the Docker daemon' >&2; exit 1")
    podman = script(tmp_path, "podman", "exit 0")
    engine = containers.find(str(tmp_path))
    assert (engine.name, engine.executable) == ("podman", str(podman))


def test_docker_wins_when_its_daemon_answers_and_keeps_its_endpoint(tmp_path: Path) -> None:
    found = docker(tmp_path, context="echo unix:///run/user/1000/docker.sock")
    script(tmp_path, "podman", "exit 0")
    engine = containers.find(str(tmp_path))
    assert engine == containers.Engine(
        "docker", str(found), {"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}
    )


def test_docker_host_from_the_environment_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker(tmp_path, context="echo unix:///elsewhere.sock")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert containers.find(str(tmp_path)).environment == {"DOCKER_HOST": "tcp://127.0.0.1:2375"}


@pytest.mark.parametrize("context", ["exit 1", "echo", "exec sleep 5"])
def test_docker_without_a_known_endpoint_keeps_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, context: str
) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(containers, "INFO_TIMEOUT", 0.3)
    docker(tmp_path, context=context)
    engine = containers.find(str(tmp_path))
    assert (engine.name, engine.environment) == ("docker", {})


@pytest.mark.parametrize(
    "info",
    [
        "exec sleep 5",  # a daemon that does not answer in time
        None,  # a client that cannot even start
    ],
)
def test_a_docker_that_does_not_answer_falls_back_to_podman(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, info: str | None
) -> None:
    monkeypatch.setattr(containers, "INFO_TIMEOUT", 0.3)
    if info is None:
        broken = tmp_path / "docker"
        broken.write_text("#!/nonexistent/interpreter\n")
        broken.chmod(0o755)
    else:
        docker(tmp_path, info=info)
    script(tmp_path, "podman", "exit 0")
    started = time.monotonic()
    assert containers.find(str(tmp_path)).name == "podman"
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("with_docker", [True, False])
def test_no_engine_names_both(tmp_path: Path, with_docker: bool) -> None:
    tmp_path.mkdir(exist_ok=True)
    if with_docker:
        docker(tmp_path, info="exit 1")
    with pytest.raises(containers.NoEngine) as raised:
        containers.find(str(tmp_path))
    assert str(raised.value) == (
        "no container engine: install Docker (with its daemon running) or Podman"
    )
    assert "\n" not in str(raised.value)


def test_rootless_podman_keeps_the_users_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script(tmp_path, "podman", "exit 0")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", "/home/someone")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/home/someone/.cfg")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    assert containers.find(str(tmp_path)).environment == {
        "XDG_DATA_HOME": "/home/someone/.local/share",
        "XDG_CONFIG_HOME": "/home/someone/.cfg",
        "XDG_RUNTIME_DIR": "/run/user/1000",
    }
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert "XDG_RUNTIME_DIR" not in containers.find(str(tmp_path)).environment
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert containers.find(str(tmp_path)).environment == {}


def test_podman_gets_a_docker_shim_and_an_insecure_registry(tmp_path: Path) -> None:
    podman = script(tmp_path / "bin", "podman", 'echo "podman $*"')
    engine = containers.Engine("podman", str(podman), {"XDG_RUNTIME_DIR": "/run/user/1000"})
    path, environment = engine.prepare(tmp_path / "engine", "127.0.0.1:4566")
    assert path == [str(tmp_path / "engine")]
    assert environment == {
        "XDG_RUNTIME_DIR": "/run/user/1000",
        "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "engine" / "registries.conf"),
    }
    conf = (tmp_path / "engine" / "registries.conf").read_text()
    assert conf == '[[registry]]\nlocation = "127.0.0.1:4566"\ninsecure = true\n'
    shim = tmp_path / "engine" / "docker"
    assert os.access(shim, os.X_OK)
    done = subprocess.run(  # noqa: S603 - the shim just written
        [str(shim), "login", "--password-stdin", "a b"], capture_output=True, text=True, check=True
    )
    assert done.stdout == "podman login --password-stdin a b\n"


def test_docker_needs_only_its_directory_on_path(tmp_path: Path) -> None:
    engine = containers.Engine("docker", "/opt/docker/bin/docker", {"DOCKER_HOST": "unix:///d"})
    assert engine.prepare(tmp_path / "engine", "127.0.0.1:4566") == (
        ["/opt/docker/bin"],
        {"DOCKER_HOST": "unix:///d"},
    )
    assert list((tmp_path / "engine").iterdir()) == []


# --- the shell ----------------------------------------------------------------------------


def shell(tmp_path: Path, kind: str = "bash", shared: bool = True, **variables: str) -> Any:
    (tmp_path / "src").mkdir(exist_ok=True)
    environment = {"PATH": "/usr/bin:/bin", **variables}
    return containers.Shell(kind, tmp_path / "shell", environment, tmp_path / "src", shared)


def run(target: Any, command: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    return target.run(command, lines.append), lines


@pytest.mark.parametrize("kind", ["bash", "/bin/sh"])
def test_commands_share_variables_and_directory(tmp_path: Path, kind: str) -> None:
    target = shell(tmp_path, kind, GONE="x", QUOTED='it\'s "odd"\n$HOME')
    assert run(target, "mkdir sub && cd sub; PLAIN=1; export EXPORTED=2; unset GONE") == (0, [])
    assert run(target, 'pwd; echo "$PLAIN $EXPORTED ${GONE-unset}"; printf "%s\\n" "$QUOTED"') == (
        0,
        [str(tmp_path / "src" / "sub"), "1 2 unset", 'it\'s "odd"', "$HOME"],
    )
    assert target.variables(["PLAIN", "EXPORTED", "GONE", "QUOTED"]) == {
        "PLAIN": "1",
        "EXPORTED": "2",
        "GONE": "",
        "QUOTED": 'it\'s "odd"\n$HOME',
    }


def test_exit_and_errors_keep_the_state_and_give_the_status(tmp_path: Path) -> None:
    target = shell(tmp_path)
    assert run(target, "A=1; echo out; echo err >&2; exit 3") == (3, ["out", "err"])
    status, lines = run(target, "if")  # a syntax error
    assert status == 2
    assert "syntax error" in lines[0]
    assert run(target, "echo $A") == (0, ["1"])


def test_the_environment_is_only_the_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAP_EMULATOR_SECRET", "leak")
    target = shell(tmp_path, ONLY="this")
    status, lines = run(target, "env")
    names = {line.split("=", 1)[0] for line in lines}
    assert status == 0
    assert "TAP_EMULATOR_SECRET" not in names
    assert {"PATH", "ONLY", "PWD"} <= names
    target.set("LATER", "set by the build")
    target.set("not-a-name", "ignored")
    assert run(target, "echo $LATER") == (0, ["set by the build"])


def test_version_0_1_runs_each_command_on_its_own(tmp_path: Path) -> None:
    target = shell(tmp_path, shared=False, KEPT="yes")
    assert run(target, "A=1; cd /") == (0, [])
    assert run(target, "echo ${A-unset} $KEPT; pwd") == (0, ["unset yes", str(tmp_path / "src")])


def test_kill_ends_the_command_and_what_it_started(tmp_path: Path) -> None:
    target = shell(tmp_path)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(run(target, "sleep 30 & sleep 30")[0]))
    worker.start()
    deadline = time.monotonic() + 5
    while target.current is None and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    target.kill()
    worker.join(5)
    assert result == [-9]
    target.kill()  # nothing runs: nothing more to kill
    assert run(target, "sleep 30") == (-9, [])  # once killed, nothing more runs
    assert time.monotonic() - started < 2


def test_background_processes_do_not_hold_the_build(tmp_path: Path) -> None:
    target = shell(tmp_path)
    started = time.monotonic()
    assert run(target, "sleep 30 & echo started") == (0, ["started"])
    assert run(target, "(sleep 0.7; echo late) & echo early")[0] == 0
    assert time.monotonic() - started < containers.READ_GRACE * 2 + 1
    assert len(target.lingering) == 2
    time.sleep(0.9)  # the second one ends by itself, the first is killed
    started = time.monotonic()
    target.close()
    assert time.monotonic() - started < 1.5
    assert not any(reader.is_alive() for _, reader in target.lingering)


def test_an_unreadable_state_reads_as_empty(tmp_path: Path) -> None:
    target = shell(tmp_path, A="1")
    (tmp_path / "shell" / "shell.state").write_text("exit 4\n")
    assert target.variables(["A"]) == {"A": ""}


# --- the environment ------------------------------------------------------------------------

RECORD = {
    "arn": "arn:aws:codebuild:eu-west-1:123456789012:build/proj:0000",
    "id": "proj:0000",
    "projectName": "proj",
    "buildNumber": 7,
    "initiator": "codepipeline/pipe",
    "encryptionKey": "arn:aws:kms:eu-west-1:123456789012:key/k",
    "resolvedSourceVersion": "abc123",
    "sourceVersion": "arn:aws:s3:::bucket/key",
    "startTime": datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    "environment": {"image": "aws/codebuild/amazonlinux-x86_64-standard:5.0"},
}


def test_the_environment_of_a_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_PORT", "4999")
    monkeypatch.setenv("TAP_OWN", "not for builds")
    found = containers.environment(
        RECORD, tmp_path, {"PATH": "/custom", "MINE": "1", "AWS_REGION": "x"}, None, "0000"
    )
    home = str(tmp_path / "home")
    assert found == {
        "PATH": "/custom",
        "HOME": home,
        "DOCKER_CONFIG": f"{home}/.docker",
        "REGISTRY_AUTH_FILE": f"{home}/containers-auth.json",
        "MINE": "1",
        "CODEBUILD_BUILD_ARN": RECORD["arn"],
        "CODEBUILD_BUILD_ID": "proj:0000",
        "CODEBUILD_BUILD_IMAGE": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
        "CODEBUILD_BUILD_NUMBER": "7",
        "CODEBUILD_BUILD_SUCCEEDING": "1",
        "CODEBUILD_INITIATOR": "codepipeline/pipe",
        "CODEBUILD_KMS_KEY_ID": RECORD["encryptionKey"],
        "CODEBUILD_LOG_PATH": "0000",
        "CODEBUILD_PROJECT_ARN": "arn:aws:codebuild:eu-west-1:123456789012:project/proj",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": "abc123",
        "CODEBUILD_SOURCE_VERSION": "arn:aws:s3:::bucket/key",
        "CODEBUILD_SRC_DIR": str(tmp_path / "src"),
        "CODEBUILD_START_TIME": "1767323045678",
        **services.call_environment("eu-west-1"),
    }
    assert found["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4999"


def test_the_engine_comes_first_on_path(tmp_path: Path) -> None:
    engine = containers.Engine("podman", "/usr/bin/podman", {"XDG_RUNTIME_DIR": "/run/user/1"})
    found = containers.environment(RECORD, tmp_path, {}, engine, "0000")
    venv = str(Path(sys.executable).parent)
    assert found["PATH"] == f"{tmp_path / 'engine'}:{venv}:/usr/local/bin:/usr/bin:/bin"
    assert found["XDG_RUNTIME_DIR"] == "/run/user/1"
    assert found["CONTAINERS_REGISTRIES_CONF"] == str(tmp_path / "engine" / "registries.conf")


# --- the log ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {},
            {
                "groupName": "/aws/codebuild/proj",
                "streamName": "0000",
                "deepLink": "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
                "#logEvent:group=/aws/codebuild/proj;stream=0000",
                "cloudWatchLogsArn": "arn:aws:logs:eu-west-1:123456789012:log-group:"
                "/aws/codebuild/proj:log-stream:0000",
                "cloudWatchLogs": {"status": "ENABLED"},
            },
        ),
        (
            {"status": "ENABLED", "groupName": "/tap/build", "streamName": "runs"},
            {
                "groupName": "/tap/build",
                "streamName": "runs/0000",
                "deepLink": "https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
                "#logEvent:group=/tap/build;stream=runs/0000",
                "cloudWatchLogsArn": "arn:aws:logs:eu-west-1:123456789012:log-group:"
                "/tap/build:log-stream:runs/0000",
                "cloudWatchLogs": {
                    "status": "ENABLED",
                    "groupName": "/tap/build",
                    "streamName": "runs",
                },
            },
        ),
        (
            {"status": "DISABLED"},
            {"streamName": "0000", "cloudWatchLogs": {"status": "DISABLED"}},
        ),
    ],
)
def test_log_location(config: dict[str, str], expected: dict[str, Any]) -> None:
    assert containers.log_location(config, "proj", "proj:0000", "eu-west-1", "123456789012") == (
        expected
    )


def logs(live: str) -> Any:
    return boto3.client(
        "logs",
        endpoint_url=live,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def messages(live: str, group: str, stream: str) -> list[str]:
    found = logs(live).get_log_events(logGroupName=group, logStreamName=stream)
    return [event["message"] for event in found["events"]]


def test_the_log_goes_to_cloudwatch_in_batches(live: str) -> None:
    client = logs(live)
    client.create_log_group(logGroupName="/tap/build")  # an existing group is kept
    log = containers.Log(client, {"groupName": "/tap/build", "streamName": "s"})
    log.open()
    log.line("first")
    log.line("")
    log.line("x" * 300_000)
    log.container("Entering phase BUILD")
    for index in range(1500):
        log.line(f"line {index}")
    log.flush()
    log.flush()  # nothing new: nothing sent
    found = client.get_log_events(
        logGroupName="/tap/build", logStreamName="s", startFromHead=True, limit=10_000
    )["events"]
    assert [event["message"] for event in found[:2]] == ["first", " "]
    assert len(found[2]["message"]) == 200_000
    assert found[3]["message"].startswith("[Container] ")
    assert found[3]["message"].endswith(" Entering phase BUILD")
    datetime.strptime(found[3]["message"][12:38], "%Y/%m/%d %H:%M:%S.%f")
    assert len(found) == 1504
    assert found[-1]["message"] == "line 1499"


def test_the_log_is_sent_as_it_goes(live: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(containers, "FLUSH_SECONDS", 0.05)
    log = containers.Log(logs(live), {"groupName": "/aws/codebuild/p", "streamName": "s"})
    log.open()  # the group is created when missing
    done = threading.Event()
    sender = threading.Thread(target=log.send_until, args=(done,))
    sender.start()
    log.line("soon")
    deadline = time.monotonic() + 5
    while not messages(live, "/aws/codebuild/p", "s") and time.monotonic() < deadline:
        time.sleep(0.02)
    done.set()
    sender.join(5)
    assert messages(live, "/aws/codebuild/p", "s") == ["soon"]


def test_a_log_that_is_gone_or_disabled_drops_lines(live: str) -> None:
    client = logs(live)
    disabled = containers.Log(client, {"streamName": "s"})
    disabled.open()
    disabled.line("dropped")
    disabled.flush()
    assert disabled.lines == []
    gone = containers.Log(client, {"groupName": "/gone", "streamName": "s"})
    gone.open()
    client.delete_log_group(logGroupName="/gone")
    gone.line("dropped")
    gone.flush()
    assert gone.lines == []


def another_build_creates_the_group_first(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race of two first builds of a project: the group is created by the other build
    between this one's stream being refused and its own CreateLogGroup."""
    create_log_stream = client.create_log_stream

    def racing(**request: Any) -> Any:
        try:
            return create_log_stream(**request)
        except client.exceptions.ResourceNotFoundException:
            client.create_log_group(logGroupName=request["logGroupName"])  # the other build
            raise

    monkeypatch.setattr(client, "create_log_stream", racing)


def test_a_group_another_build_just_created_is_used(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = logs(live)
    another_build_creates_the_group_first(client, monkeypatch)
    log = containers.Log(client, {"groupName": "/aws/codebuild/p", "streamName": "s"})
    log.open()
    log.line("raced")
    log.flush()
    assert messages(live, "/aws/codebuild/p", "s") == ["raced"]
