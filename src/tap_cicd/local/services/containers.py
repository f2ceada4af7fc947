"""The build container: the shell its commands share, its log in CloudWatch Logs, and the
container engine behind a privileged build's ``docker`` commands.

CodeBuild runs Docker-in-Docker only in privileged mode; the emulator runs the machine's own
engine instead: Docker when its daemon answers, else Podman behind a ``docker`` shim, so a
buildspec's plain ``docker login``/``build``/``push`` work with either.
https://docs.aws.amazon.com/codebuild/latest/userguide/sample-docker.html
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError
from moto.utilities.utils import get_partition

from tap_cicd.local import services

FLUSH_SECONDS = 0.5
"""How often a build's new log lines go to CloudWatch Logs (and at each phase's end)."""
_MAX_EVENT = 200_000  # a log event holds at most 256 KB
_MAX_BATCH = 800_000  # a PutLogEvents call at most 1 MB
ENGINE_MISSING = "no container engine: install Docker (with its daemon running) or Podman"
INFO_TIMEOUT = 5.0
"""How long ``docker info`` may take to prove that a daemon answers, in seconds."""


class NoEngine(RuntimeError):
    """Neither a Docker daemon nor Podman is available."""

    def __init__(self) -> None:
        super().__init__(ENGINE_MISSING)


@dataclass(frozen=True)
class Engine:
    """A container engine: its name (``docker`` or ``podman``) and executable."""

    name: str
    executable: str
    environment: Mapping[str, str] = field(default_factory=dict)
    """What the engine's client needs from the emulator's own environment (where the
    daemon listens, where rootless Podman keeps its storage)."""

    def prepare(self, directory: Path, registry: str) -> tuple[list[str], dict[str, str]]:
        """Set up a build's use of the engine in ``directory`` (the build's own, removed
        after it): the PATH entries to put first and the variables to add, so that
        ``docker`` reaches the engine and pushes to ``registry`` over plain HTTP."""
        directory.mkdir(parents=True, exist_ok=True)
        if self.name == "docker":
            # Docker treats registries on 127.0.0.0/8 as insecure without configuration.
            # https://docs.docker.com/reference/cli/dockerd/#insecure-registries
            return [str(Path(self.executable).parent)], dict(self.environment)
        shim = directory / "docker"
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(self.executable)} "$@"\n')
        shim.chmod(0o755)
        registries = directory / "registries.conf"
        # https://github.com/containers/image/blob/main/docs/containers-registries.conf.5.md
        registries.write_text(f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n')
        return [str(directory)], {
            **self.environment,
            "CONTAINERS_REGISTRIES_CONF": str(registries),
        }


def _answers(command: list[str]) -> bool:
    try:
        done = subprocess.run(  # noqa: S603 - an engine found on PATH, fixed arguments
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=INFO_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _docker_host(docker: str) -> dict[str, str]:
    """Where the daemon that answered listens: a build has its own ``DOCKER_CONFIG``, so the
    user's current context (Docker Desktop, colima) would be lost without it."""
    if os.environ.get("DOCKER_HOST"):
        return {"DOCKER_HOST": os.environ["DOCKER_HOST"]}
    try:
        done = subprocess.run(  # noqa: S603 - the docker client found on PATH
            [docker, "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=INFO_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    host = done.stdout.strip()
    return {"DOCKER_HOST": host} if done.returncode == 0 and host else {}


def _podman_environment() -> dict[str, str]:
    """Rootless Podman keeps its storage and runtime files under the user's XDG directories;
    a build's own HOME must not move them (nor leave files the user cannot delete)."""
    if os.geteuid() == 0:
        return {}
    home = Path.home()
    found = {
        "XDG_DATA_HOME": os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share"),
        "XDG_CONFIG_HOME": os.environ.get("XDG_CONFIG_HOME") or str(home / ".config"),
    }
    if os.environ.get("XDG_RUNTIME_DIR"):
        found["XDG_RUNTIME_DIR"] = os.environ["XDG_RUNTIME_DIR"]
    return found


def find(path: str | None = None) -> Engine:
    """The engine on ``path`` (default: the process's PATH): ``docker`` when ``docker info``
    succeeds (a client without a running daemon does not count), else ``podman``."""
    docker = shutil.which("docker", path=path)
    if docker and _answers([docker, "info"]):
        return Engine("docker", docker, _docker_host(docker))
    podman = shutil.which("podman", path=path)
    if podman:
        return Engine("podman", podman, _podman_environment())
    raise NoEngine


# Each command runs in a fresh shell that first restores the state the previous command left
# (every variable, exported with set -a, and the working directory) and saves it on exit,
# whatever the exit. That is version 0.2's "one shell instance" without a long-lived shell a
# command could read the next commands from, or kill with ``exit``. In 0.1 nothing is saved.
_RESTORE = '. "$0.state" || exit 125\ncd "$PWD" || exit 125\n'
_SAVE = (
    'tap_save() { export PWD; export -p > "$0.state"; exit "$1"; }\ntrap \'tap_save "$?"\' EXIT\n'
)
_DUMP = (
    f'. "$0.state" && exec {shlex.quote(sys.executable)} '
    '-c "import json, os; print(json.dumps(dict(os.environ)))"'
)
READ_GRACE = 0.5
"""How long to wait for a command's last output once it has exited, in seconds: a process it
left in the background may hold its output open (as ``nohup dockerd &`` does)."""


def _forward(stream: IO[bytes], output: Callable[[str], None]) -> None:
    with stream:
        for line in stream:
            output(line.decode(errors="replace").rstrip("\r\n"))


class Shell:
    """The shell the build's commands share: ``run`` one command at a time."""

    def __init__(
        self,
        shell: str,
        directory: Path,
        environment: Mapping[str, str],
        workdir: Path,
        shared: bool = True,
    ) -> None:
        self.shell = shutil.which(shell) or shell
        self.base, self.shared = directory / "shell", shared
        self.current: subprocess.Popen[bytes] | None = None
        self.killed = False
        self.lingering: list[tuple[int, threading.Thread]] = []
        directory.mkdir(parents=True, exist_ok=True)
        self.base.with_suffix(".state").write_text("")
        for name, value in {**environment, "PWD": str(workdir)}.items():
            self.set(name, value)

    def set(self, name: str, value: str) -> None:
        """Set a variable for the commands that follow."""
        if name.isidentifier():
            with self.base.with_suffix(".state").open("a") as state:
                state.write(f"export {name}={shlex.quote(value)}\n")

    def run(self, command: str, output: Callable[[str], None]) -> int:
        """Run ``command``, passing each line it prints (stdout and stderr, in order) to
        ``output``; its exit status."""
        script = _RESTORE + (_SAVE if self.shared else "") + "set -a\n" + command + "\n"
        process = subprocess.Popen(  # noqa: S603 - the buildspec's commands are the build
            [self.shell, "-c", script, str(self.base)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={},
            start_new_session=True,  # its own process group: a timeout kills it all
        )
        self.current = process
        if self.killed:  # killed while it was starting
            _kill_group(process.pid)
        assert process.stdout is not None  # noqa: S101 - stdout=PIPE
        reader = threading.Thread(target=_forward, args=(process.stdout, output), daemon=True)
        reader.start()
        status = process.wait()
        self.current = None
        reader.join(READ_GRACE)
        if reader.is_alive():
            self.lingering.append((process.pid, reader))
        return status

    def kill(self) -> None:
        """Kill the running command and everything it started, and any command run after."""
        self.killed = True
        process = self.current
        if process is not None:
            _kill_group(process.pid)

    def close(self) -> None:
        """The build's container ends: kill the commands' background processes that still hold
        their output open (others cannot be told from processes that are not the build's)."""
        for group, reader in self.lingering:
            if reader.is_alive():  # something of the group still holds its output open
                _kill_group(group)
                reader.join(READ_GRACE)

    def variables(self, names: Iterable[str]) -> dict[str, str]:
        """The current values of ``names`` (unset ones are empty)."""
        done = subprocess.run(  # noqa: S603 - reads back the saved state
            [self.shell, "-c", _DUMP, str(self.base)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={},
            check=False,
        )
        current: dict[str, str] = json.loads(done.stdout) if done.returncode == 0 else {}
        return {name: current.get(name, "") for name in names}


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has just ended
        os.killpg(group, signal.SIGKILL)


SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin")


def environment(
    record: Mapping[str, Any],
    workspace: Path,
    variables: Mapping[str, str],
    engine: Engine | None,
    log_stream: str,
    *,
    credentials: services.Credentials = services.OWN,
) -> dict[str, str]:
    """A build's environment (``record`` is its BatchGetBuilds record): PATH (the engine's
    shim, the venv's ``aws`` CLI, the system), a HOME and Docker/Podman configuration of its
    own, its ``variables``, CodeBuild's and what reaches the emulator as the build's role
    (``credentials``); nothing else of the
    emulator's own. https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-env-vars.html
    """
    path: list[str] = []
    own: dict[str, str] = {}
    if engine is not None:
        path, own = engine.prepare(workspace / "engine", services.registry_host())
    home, region, image = workspace / "home", record["arn"].split(":")[3], record["environment"]
    codebuild = {
        "CODEBUILD_BUILD_ARN": record["arn"],
        "CODEBUILD_BUILD_ID": record["id"],
        "CODEBUILD_BUILD_IMAGE": image.get("image", ""),
        "CODEBUILD_BUILD_NUMBER": str(record["buildNumber"]),
        "CODEBUILD_BUILD_SUCCEEDING": "1",
        "CODEBUILD_INITIATOR": record["initiator"],
        "CODEBUILD_KMS_KEY_ID": record["encryptionKey"],
        "CODEBUILD_LOG_PATH": log_stream,
        "CODEBUILD_PROJECT_ARN": record["arn"].split(":build/")[0]
        + ":project/"
        + record["projectName"],
        "CODEBUILD_RESOLVED_SOURCE_VERSION": record["resolvedSourceVersion"],
        "CODEBUILD_SOURCE_VERSION": record["sourceVersion"],
        "CODEBUILD_SRC_DIR": str(workspace / "src"),
        "CODEBUILD_START_TIME": str(int(record["startTime"].timestamp() * 1000)),
    }
    return {
        "PATH": ":".join([*path, str(Path(sys.executable).parent), *SYSTEM_PATH]),
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / ".docker"),
        "REGISTRY_AUTH_FILE": str(home / "containers-auth.json"),
        **own,
        **variables,
        **codebuild,
        **services.call_environment(region, credentials),
    }


def log_location(
    config: Mapping[str, Any], project: str, build_id: str, region: str, account: str
) -> dict[str, Any]:
    """Where a build's log goes (a LogsLocation): the project's group (by default
    ``/aws/codebuild/<project>``), a stream named by the build id's uuid after the project's
    stream prefix, if any. https://docs.aws.amazon.com/codebuild/latest/APIReference/API_LogsLocation.html
    """
    stream = "/".join(part for part in (config.get("streamName"), build_id.split(":")[1]) if part)
    if config.get("status") == "DISABLED":
        return {"streamName": stream, "cloudWatchLogs": dict(config)}
    group = config.get("groupName") or f"/aws/codebuild/{project}"
    return {
        "groupName": group,
        "streamName": stream,
        "deepLink": f"https://console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logEvent:group={group};stream={stream}",
        "cloudWatchLogsArn": f"arn:{get_partition(region)}:logs:{region}:{account}"
        f":log-group:{group}:log-stream:{stream}",
        "cloudWatchLogs": {"status": "ENABLED", **config},
    }


class Log:
    """A build's log in CloudWatch Logs: lines batched, sent every FLUSH_SECONDS and on
    ``flush``. Without a group (logs disabled) lines are dropped."""

    def __init__(self, client: Any, location: Mapping[str, Any]) -> None:
        self.client, self.group = client, location.get("groupName")
        self.stream: str = location["streamName"]
        self.lines: list[dict[str, Any]] = []
        self.lock, self.sending = threading.Lock(), threading.Lock()

    def open(self) -> None:
        """Create the stream (and the group when it is missing, as CodeBuild does: a role that
        may not create groups still writes to one that exists). A group another build created
        meanwhile (two first builds of a project) is used."""
        if self.group is None:
            return
        try:
            self.client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        except self.client.exceptions.ResourceNotFoundException:
            with contextlib.suppress(self.client.exceptions.ResourceAlreadyExistsException):
                self.client.create_log_group(logGroupName=self.group)
            self.client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)

    def line(self, text: str) -> None:
        """Add one line (CloudWatch Logs refuses an empty message)."""
        event = {"timestamp": int(time.time() * 1000), "message": text[:_MAX_EVENT] or " "}
        with self.lock:
            self.lines.append(event)

    def container(self, text: str) -> None:
        """Add one of CodeBuild's own lines."""
        self.line(f"[Container] {datetime.now(UTC):%Y/%m/%d %H:%M:%S.%f} {text}")

    def flush(self) -> None:
        """Send what has not been sent; a log that is gone (after a reset) drops its lines."""
        with self.sending:
            with self.lock:
                lines, self.lines = self.lines, []
            while lines and self.group is not None:
                size, count = 0, 0
                while count < min(len(lines), 1000) and size < _MAX_BATCH:
                    size, count = size + len(lines[count]["message"]) + 26, count + 1
                batch, lines = lines[:count], lines[count:]
                try:
                    self.client.put_log_events(
                        logGroupName=self.group, logStreamName=self.stream, logEvents=batch
                    )
                except (ClientError, BotoCoreError):
                    return

    def send_until(self, done: threading.Event) -> None:
        """Flush every FLUSH_SECONDS until ``done``."""
        while not done.wait(FLUSH_SECONDS):
            self.flush()
