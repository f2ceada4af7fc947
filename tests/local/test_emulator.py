"""The emulator process: start, find, stop, and the errors around them."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from tap_cicd.errors import DeployError, EmulatorError, EmulatorLostError
from tap_cicd.local import clients as clients_module
from tap_cicd.local import emulator as emulator_module
from tap_cicd.local.clients import Clients
from tap_cicd.local.emulator import (
    HOST,
    Emulator,
    EmulatorInfo,
    free_port,
    port_free,
    reachable,
)


def test_running_emulator_is_found_not_restarted(
    emulator_home: Path, emulator: EmulatorInfo
) -> None:
    info, started = Emulator(emulator_home).start(port=0)
    assert (info, started) == (emulator, False)
    assert emulator.endpoint.startswith(f"http://{HOST}:")
    assert reachable(emulator.endpoint)


def test_start_stop_and_status(tmp_path: Path) -> None:
    emulator = Emulator(tmp_path)
    assert emulator.info() is None
    assert emulator.status() == "stopped"
    assert emulator.running() is None
    assert emulator.stop() is None
    info, started = emulator.start(port=0)
    assert started
    assert emulator.info() == info
    assert emulator.status() == "running"
    assert emulator.running() == emulator.require() == info
    assert json.loads((tmp_path / "emulator.json").read_text()) == {
        "pid": info.pid,
        "port": info.port,
    }
    assert emulator.stop() == info
    assert not reachable(info.endpoint)
    assert not emulator_module._alive(info.pid)
    assert emulator.info() is None
    assert emulator.status() == "stopped"


def test_stale_record_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "emulator.json").write_text(json.dumps({"pid": 999999999, "port": 1}))
    assert Emulator(tmp_path).info() is None
    assert not (tmp_path / "emulator.json").exists()


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert not port_free(port)
        with pytest.raises(EmulatorError) as caught:
            Emulator(tmp_path).start(port=port)
    assert str(caught.value) == (
        f"port {port} on {HOST} is in use by another process; "
        "pick another with --port or stop that process"
    )
    assert caught.value.exit_code == 6


def test_emulator_that_never_answers_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator_module, "START_TIMEOUT_SECONDS", 0.0)
    monkeypatch.setattr(emulator_module, "reachable", lambda *_a, **_k: False)
    with pytest.raises(EmulatorError, match=r"the emulator did not start on http://127\.0\.0\.1:"):
        Emulator(tmp_path).start(port=0)
    assert not (tmp_path / "emulator.json").exists()


def test_process_of_another_user_counts_as_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(_pid: int, _signal: int) -> None:
        raise PermissionError

    monkeypatch.setattr(emulator_module.os, "kill", denied)
    assert emulator_module._alive(1)


@pytest.fixture
def impatient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients that try once and wait 0.3 s for an answer (the defaults retry for a minute)."""
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=0.3, read_timeout=0.3)
    monkeypatch.setattr(clients_module, "CLIENT_CONFIG", config)


@pytest.fixture(params=["gone", "hangs up", "stalled"])
def broken_endpoint(request: pytest.FixtureRequest) -> Iterator[tuple[str, type[Exception]]]:
    """An endpoint on 127.0.0.1 that fails as a dead, crashing or stalled emulator would, and
    the botocore error a call to it raises."""
    if request.param == "gone":
        yield f"http://{HOST}:{free_port()}", EndpointConnectionError
        return
    server = socket.socket()
    server.bind((HOST, 0))
    server.listen()
    server.settimeout(0.05)
    held: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                connection, _address = server.accept()
            except TimeoutError:
                continue
            if request.param == "hangs up":
                connection.close()
            else:
                held.append(connection)  # accepted, never answered

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    expected = ConnectionClosedError if request.param == "hangs up" else ReadTimeoutError
    yield f"http://{HOST}:{server.getsockname()[1]}", expected
    done.set()
    thread.join(5)
    server.close()
    for connection in held:
        connection.close()


def lost_message(tmp_path: Path, endpoint: str, name: str) -> str:
    return (
        f"the emulator at {endpoint} stopped answering ({name}): it was stopped, crashed or "
        f"stalled (see {tmp_path / 'emulator.log'}); run 'tap emulator start' and try again"
    )


@pytest.mark.usefixtures("impatient")
def test_a_connection_failure_is_an_emulator_lost_error(
    tmp_path: Path, broken_endpoint: tuple[str, type[Exception]]
) -> None:
    endpoint, expected = broken_endpoint
    clients = Clients(endpoint, "us-east-1", "test", "test")
    with pytest.raises(EmulatorLostError) as caught, Emulator(tmp_path).answering(clients):
        clients("sts").get_caller_identity()
    assert isinstance(clients.lost, expected)
    assert isinstance(caught.value.__cause__, expected)
    assert str(caught.value) == lost_message(tmp_path, endpoint, expected.__name__)
    assert (caught.value.code, caught.value.exit_code) == ("emulator_lost", 6)


@pytest.mark.usefixtures("impatient")
def test_a_lost_connection_wrapped_in_a_deploy_error_is_still_the_emulator(
    tmp_path: Path,
) -> None:
    endpoint = f"http://{HOST}:{free_port()}"
    clients = Clients(endpoint, "us-east-1", "test", "test")
    with pytest.raises(EmulatorLostError) as caught, Emulator(tmp_path).answering(clients):
        try:
            clients("sns").create_topic(Name="t")
        except BotoCoreError as error:  # what the deployer does with it
            raise DeployError(f"aws:sns/topic:Topic t: {error}") from error
    assert str(caught.value) == lost_message(tmp_path, endpoint, "EndpointConnectionError")
    assert isinstance(caught.value.__cause__, DeployError)


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1/"),
        ConnectionClosedError(endpoint_url="http://127.0.0.1:1/"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1/"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1/"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_each_connection_error_raised_as_is_is_reported(tmp_path: Path, error: Exception) -> None:
    clients = Emulator.clients(EmulatorInfo(pid=1, port=1))
    with (
        pytest.raises(EmulatorLostError, match=type(error).__name__),
        Emulator(tmp_path).answering(clients),
    ):
        raise error


def test_an_aws_error_stays_a_deploy_error(tmp_path: Path, clients: Clients) -> None:
    ssm = clients("ssm")
    with (
        pytest.raises(DeployError, match="ParameterNotFound"),
        Emulator(tmp_path).answering(clients),
    ):
        try:
            ssm.get_parameter(Name="/nothing/here")
        except ssm.exceptions.ParameterNotFound as error:
            raise DeployError(f"aws:ssm/parameter:Parameter p: {error}") from error
    assert clients.lost is None


def test_other_transport_failures_are_not_a_lost_emulator() -> None:
    clients = Clients(f"http://{HOST}:1", "us-east-1", "test", "test")
    sts = clients("sts")

    def refuse(**_kwargs: object) -> None:
        raise RuntimeError("an SSL or proxy failure, say")

    sts.meta.events.register("before-send.sts.GetCallerIdentity", refuse)
    with pytest.raises(RuntimeError, match="an SSL or proxy failure"):
        sts.get_caller_identity()
    assert clients.lost is None


def test_the_callers_aws_profile_is_not_read(
    emulator: EmulatorInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "a-profile-that-does-not-exist")
    clients = Emulator.clients(emulator)
    assert clients("sts").get_caller_identity()["Account"] == "123456789012"
