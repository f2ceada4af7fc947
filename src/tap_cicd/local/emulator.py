"""The local AWS emulator: a moto server process on 127.0.0.1, its pid and port under the home."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from tap_cicd.errors import DeployError, EmulatorError, EmulatorLostError
from tap_cicd.local import DEFAULT_PORT
from tap_cicd.local import process_alive as _alive
from tap_cicd.local.clients import CONNECTION_ERRORS, Clients

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
MARKER_PARAMETER = "/tap-emulator/instance-id"
"""An SSM parameter naming this emulator instance: a restarted (empty) emulator has none."""
ACCESS_KEY = "test"  # the emulator accepts any credentials; these never reach AWS
SECRET_KEY = "test"  # noqa: S105 - a dummy the emulator requires, not a secret


@dataclass(frozen=True)
class EmulatorInfo:
    """A running emulator."""

    pid: int
    port: int

    @property
    def endpoint(self) -> str:
        """Its endpoint URL (what boto3 and the AWS CLI take as ``--endpoint-url``)."""
        return f"http://{HOST}:{self.port}"


def reachable(endpoint: str, timeout: float = 1.0) -> bool:
    """Whether a moto server answers at ``endpoint``."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=timeout) as response:  # noqa: S310 - a loopback http URL we built
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def port_free(port: int) -> bool:
    """Whether ``port`` on 127.0.0.1 can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Emulator:
    """Starts, stops and finds the emulator whose pid and port live under ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.info_path = home / "emulator.json"
        self.log_path = home / "emulator.log"

    def info(self) -> EmulatorInfo | None:
        """The running emulator, or ``None`` (a stale record is removed)."""
        try:
            data = json.loads(self.info_path.read_text())
            info = EmulatorInfo(pid=int(data["pid"]), port=int(data["port"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if _alive(info.pid) and reachable(info.endpoint):
            return info
        self.info_path.unlink(missing_ok=True)
        return None

    def start(self, port: int = DEFAULT_PORT) -> tuple[EmulatorInfo, bool]:
        """Start the emulator (or find the running one); returns it and whether it is new."""
        running = self.info()
        if running is not None:
            return running, False
        port = free_port() if port == 0 else port
        if not port_free(port):
            raise EmulatorError(
                f"port {port} on {HOST} is in use by another process; "
                "pick another with --port or stop that process"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        # posix_spawn, not Popen: the server outlives this process, and a Popen object
        # collected while its child runs warns (ResourceWarning) for nothing.
        pid = os.posix_spawn(
            sys.executable,
            [sys.executable, "-m", "tap_cicd.local.server", "-H", HOST, "-p", str(port)],
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (
                    os.POSIX_SPAWN_OPEN,
                    1,
                    str(self.log_path),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                    0o644,
                ),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,  # its own session: survives the tap command that started it
        )
        info = EmulatorInfo(pid, port)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not reachable(info.endpoint, timeout=0.5):
            if not _alive(pid) or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                raise EmulatorError(
                    f"the emulator did not start on {info.endpoint}; see {self.log_path}"
                )
            time.sleep(0.1)
        self.info_path.write_text(json.dumps(asdict(info)))
        clients = self.clients(info)
        with self.answering(clients):
            instance_id(clients)
        return info, True

    def stop(self) -> EmulatorInfo | None:
        """Stop the running emulator; returns what was stopped, ``None`` when none ran."""
        info = self.info()
        self.info_path.unlink(missing_ok=True)
        if info is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _alive(info.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):  # gone already, as it should be
            os.killpg(info.pid, signal.SIGKILL)
        return info

    @contextlib.contextmanager
    def answering(self, clients: Clients) -> Iterator[None]:
        """The boundary of every command that talks to the emulator: a connection failure
        (refused, closed, timed out), raised as is or already wrapped in a ``DeployError``,
        becomes one ``EmulatorLostError`` line with what to do."""
        try:
            yield
        except CONNECTION_ERRORS as error:
            raise self.lost(clients, error) from error
        except DeployError as error:
            if clients.lost is None:  # a real AWS error: the emulator answered it
                raise
            raise self.lost(clients, clients.lost) from error

    def lost(self, clients: Clients, error: Exception) -> EmulatorLostError:
        """The error that says the emulator behind ``clients`` stopped answering."""
        return EmulatorLostError(
            f"the emulator at {clients.endpoint_url} stopped answering "
            f"({type(error).__name__}): it was stopped, crashed or stalled (see {self.log_path}); "
            "run 'tap emulator start' and try again"
        )

    @staticmethod
    def clients(info: EmulatorInfo, region: str = "us-east-1") -> Clients:
        """boto3 clients for the emulator, with its dummy credentials."""
        return Clients(info.endpoint, region, ACCESS_KEY, SECRET_KEY)


def instance_id(clients: Clients) -> str:
    """The emulator's instance id, created on first use (a restarted emulator gets a new one)."""
    ssm = clients("ssm")
    try:
        return str(ssm.get_parameter(Name=MARKER_PARAMETER)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        marker = str(uuid.uuid4())
        ssm.put_parameter(Name=MARKER_PARAMETER, Value=marker, Type="String")
        return marker
