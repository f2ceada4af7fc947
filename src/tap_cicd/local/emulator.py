"""The local AWS emulator: a moto server process on 127.0.0.1, its pid and port under the home.

A failed health check never means "gone": only a dead process does. An emulator whose process
lives but does not answer (stalled: stopped with SIGSTOP, swapping, stuck) is waited for, then
reported, and nothing of it is forgotten.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from tap_cicd.errors import DeployError, EmulatorError, EmulatorLostError, UsageError
from tap_cicd.local import DEFAULT_PORT
from tap_cicd.local import process_alive as _alive
from tap_cicd.local.clients import CONNECTION_ERRORS, Clients

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 30.0
"""How long a new emulator may take to answer."""
ANSWER_TIMEOUT_SECONDS = 10.0
"""How long a running emulator that does not answer is waited for before it is reported."""
STOP_TIMEOUT_SECONDS = 5.0
"""How long a stopped emulator may take to exit on SIGTERM before it is killed."""
KILL_TIMEOUT_SECONDS = 2.0
"""How long a killed emulator may take to be gone."""
MAX_PORT = 65535
MARKER_PARAMETER = "/tap-emulator/instance-id"
"""An SSM parameter naming this emulator instance: a restarted (empty) emulator has none."""
ACCESS_KEY = "test"  # the emulator accepts any credentials; these never reach AWS
SECRET_KEY = "test"  # noqa: S105 - a dummy the emulator requires, not a secret
PRIVATE = 0o600
"""The mode of the emulator's record and log (the home is 0700)."""

Status = Literal["running", "stalled", "stopped"]
"""``running``: it answers; ``stalled``: its process lives but it does not answer;
``stopped``: no record, or its process is dead (confirmed, not guessed from a timeout)."""


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
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        # HTTPException: a server dying mid-answer (BadStatusLine, IncompleteRead).
        return False


def port_free(port: int) -> bool:
    """Whether ``port`` on 127.0.0.1 can be bound (by a server that, like werkzeug's, sets
    SO_REUSEADDR: a port whose last connections are in TIME_WAIT is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # socket(7) SO_REUSEADDR: bind succeeds unless a socket listens on the port.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


def check_port(port: int | None) -> None:
    """Refuse a port number outside 0-65535 (``None``: no preference, and 0: any free port)."""
    if port is not None and not 0 <= port <= MAX_PORT:
        raise UsageError(f"invalid port {port}: expected a port number 0-{MAX_PORT}")


def server_command(port: int) -> list[str]:
    """The emulator's command line."""
    return [sys.executable, "-m", "tap_cicd.local.server", "-H", HOST, "-p", str(port)]


def server_environment(port: int) -> dict[str, str]:
    """The emulator's environment: the caller's without its AWS settings (credentials,
    profile, config files), with dummy credentials and moto's own port."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        # Anything in moto that builds a boto3 session must not find the caller's files.
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        MOTO_PORT=str(port),  # moto builds queue URLs and callbacks from it
    )
    return environment


class Emulator:
    """Starts, stops and finds the emulator whose pid and port live under ``home``."""

    def __init__(self, home: Path, answer_timeout: float | None = None) -> None:
        self.home = home
        self.info_path = home / "emulator.json"
        self.log_path = home / "emulator.log"
        self.answer_timeout = answer_timeout
        """How long to wait for a stalled emulator (``None``: ``ANSWER_TIMEOUT_SECONDS``)."""

    def info(self) -> EmulatorInfo | None:
        """The recorded emulator while its process lives, answering or not; ``None`` when there
        is no record or its process is confirmed dead (then the stale record is removed)."""
        try:
            data = json.loads(self.info_path.read_text())
            info = EmulatorInfo(pid=int(data["pid"]), port=int(data["port"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        # A live pid that holds no listener on the port is not the emulator: the pid was
        # reused after the emulator died (a stalled emulator keeps its listening socket).
        if _alive(info.pid) and not port_free(info.port):
            return info
        self.info_path.unlink(missing_ok=True)
        return None

    def status(self) -> Status:
        """Whether the emulator answers now (a one-second check), stalls, or is stopped."""
        info = self.info()
        if info is None:
            return "stopped"
        return "running" if reachable(info.endpoint) else "stalled"

    def running(self, timeout: float | None = None) -> EmulatorInfo | None:
        """The answering emulator, or ``None`` when none runs (confirmed dead, see ``info``).

        One that lives but does not answer is waited for, up to ``timeout`` seconds, then
        ``EmulatorLostError`` says so; its record is kept."""
        info = self.info()
        if info is None:
            return None
        wait = self._answer_timeout(timeout)
        deadline = time.monotonic() + wait
        while not reachable(info.endpoint, timeout=max(0.1, min(1.0, wait))):
            if not _alive(info.pid):  # it died while we waited: as gone as never started
                self.info_path.unlink(missing_ok=True)
                return None
            if time.monotonic() >= deadline:
                raise self.stalled(info, wait)
            time.sleep(0.1)
        return info

    def require(self, timeout: float | None = None) -> EmulatorInfo:
        """The answering emulator; ``EmulatorError`` when none runs or it does not answer."""
        info = self.running(timeout)
        if info is None:
            raise EmulatorError("the emulator is not running: start it with 'tap emulator start'")
        return info

    def stalled(self, info: EmulatorInfo, waited: float) -> EmulatorLostError:
        """The error that says the emulator's process lives but does not answer."""
        return EmulatorLostError(
            f"the emulator (pid {info.pid}, port {info.port}) is not answering after "
            f"{waited:g} s (stalled?): tap kept it and its stacks as they were; see "
            f"{self.log_path}, or kill it with 'tap emulator stop' and try again"
        )

    def start(
        self, port: int | None = None, on_start: Callable[[int], None] | None = None
    ) -> tuple[EmulatorInfo, bool]:
        """Start the emulator (or find the running one); returns it and whether it is new.

        ``port``: ``None`` takes the running emulator's or else ``DEFAULT_PORT``, 0 the running
        one's or else any free port; another port than the running one's is an error.
        ``on_start`` is called with the port just before a new emulator is spawned."""
        check_port(port)
        running = self.running()
        if running is not None:
            if port not in (None, 0, running.port):
                raise EmulatorError(
                    f"the emulator already runs on {HOST}:{running.port}, not {port}: "
                    "stop it first or drop --port"
                )
            return running, False
        port = DEFAULT_PORT if port is None else port
        port = free_port() if port == 0 else port
        if not port_free(port):
            raise EmulatorError(
                f"port {port} on {HOST} is in use by another process; "
                "pick another with --port or stop that process"
            )
        if on_start is not None:
            on_start(port)
        info = EmulatorInfo(self._spawn(port), port)
        try:
            self._wait_started(info)
            self._write_record(info)
            clients = self.clients(info)
            with self.answering(clients):
                instance_id(clients)
        except BaseException:
            # A half-started emulator holds nothing yet: do not leave it behind.
            self._kill(info.pid)
            self.info_path.unlink(missing_ok=True)
            raise
        return info, True

    def stop(self) -> EmulatorInfo | None:
        """Stop the emulator, stalled or not; returns what was stopped, ``None`` when none ran."""
        info = self.info()
        if info is None:
            return None
        self._kill(info.pid)
        self.info_path.unlink(missing_ok=True)
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

    def _answer_timeout(self, timeout: float | None) -> float:
        if timeout is not None:
            return timeout
        return ANSWER_TIMEOUT_SECONDS if self.answer_timeout is None else self.answer_timeout

    def _spawn(self, port: int) -> int:
        """Spawn the server in its own session, its output appended to the private log."""
        try:
            self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
            log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE)
            try:
                os.fchmod(log, PRIVATE)  # one an older tap left may be world-readable
                # posix_spawn, not Popen: the server outlives this process, and a Popen object
                # collected while its child runs warns (ResourceWarning) for nothing.
                return os.posix_spawn(
                    sys.executable,
                    server_command(port),
                    server_environment(port),
                    file_actions=[
                        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                        (os.POSIX_SPAWN_DUP2, log, 1),
                        (os.POSIX_SPAWN_DUP2, log, 2),
                    ],
                    setsid=True,  # its own session: survives the tap command that started it
                )
            finally:
                os.close(log)
        except OSError as error:
            raise EmulatorError(f"cannot start the emulator under {self.home}: {error}") from error

    def _wait_started(self, info: EmulatorInfo) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not reachable(info.endpoint, timeout=0.5):
            if not _alive(info.pid):
                raise EmulatorError(
                    f"the emulator exited as it started on {info.endpoint}; see {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise EmulatorError(
                    f"the emulator did not start on {info.endpoint}; see {self.log_path}"
                )
            time.sleep(0.1)

    def _write_record(self, info: EmulatorInfo) -> None:
        """Write the record atomically, readable by its owner only."""
        try:
            # mkstemp creates the file 0600 in the home; replace is atomic (rename(2)).
            handle, name = tempfile.mkstemp(dir=self.home, prefix=".emulator.", suffix=".json")
            try:
                with os.fdopen(handle, "w") as record:
                    record.write(json.dumps(asdict(info)))
                os.replace(name, self.info_path)
            except OSError:
                os.unlink(name)
                raise
        except OSError as error:
            raise EmulatorError(f"cannot write {self.info_path}: {error}") from error

    @staticmethod
    def _kill(pid: int) -> None:
        """SIGTERM the emulator's process group, SIGKILL what is left after a while, and
        return once it is gone (or after a last grace period)."""
        try:
            for sent, grace in (
                (signal.SIGTERM, STOP_TIMEOUT_SECONDS),
                (signal.SIGKILL, KILL_TIMEOUT_SECONDS),
            ):
                with contextlib.suppress(ProcessLookupError):  # gone already
                    os.killpg(pid, sent)
                    # signal(7): a stopped (SIGSTOP) process acts on SIGTERM only once
                    # continued (SIGKILL needs no SIGCONT, and is harmless with one).
                    os.killpg(pid, signal.SIGCONT)
                deadline = time.monotonic() + grace
                while _alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
        except PermissionError as error:
            raise EmulatorError(f"cannot stop the emulator (pid {pid}): {error}") from error


def instance_id(clients: Clients) -> str:
    """The emulator's instance id, created on first use (a restarted emulator gets a new one)."""
    ssm = clients("ssm")
    try:
        return str(ssm.get_parameter(Name=MARKER_PARAMETER)["Parameter"]["Value"])
    except ssm.exceptions.ParameterNotFound:
        marker = str(uuid.uuid4())
        ssm.put_parameter(Name=MARKER_PARAMETER, Value=marker, Type="String")
        return marker
