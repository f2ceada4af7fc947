"""Starting the emulator: ports, its environment, its private files, and failures on the way
(issue 11)."""

from __future__ import annotations

import errno
import os
import signal
import socket
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import EndpointConnectionError

from tap_cicd.errors import EmulatorError, EmulatorLostError, UsageError
from tap_cicd.local import DEFAULT_PORT
from tap_cicd.local import emulator as emulator_module
from tap_cicd.local.clients import Clients
from tap_cicd.local.emulator import (
    HOST,
    Emulator,
    EmulatorInfo,
    check_port,
    port_free,
    reachable,
    server_environment,
)


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Emulator]:
    """An emulator home of the test's own; whatever runs there is stopped after it."""
    emulator = Emulator(tmp_path / "tap")
    yield emulator
    info = emulator.info()
    if info is not None:
        os.killpg(info.pid, signal.SIGCONT)
    emulator.stop()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- ports --------------------------------------------------------------------------------------


def test_a_port_that_disagrees_with_the_running_emulator_is_refused(
    emulator_home: Path, emulator: EmulatorInfo
) -> None:
    other = emulator.port + 1 if emulator.port < 65535 else emulator.port - 1
    with pytest.raises(EmulatorError) as caught:
        Emulator(emulator_home).start(other)
    assert str(caught.value) == (
        f"the emulator already runs on 127.0.0.1:{emulator.port}, not {other}: "
        "stop it first or drop --port"
    )
    assert caught.value.exit_code == 6


@pytest.mark.parametrize("port", [None, 0, "its own"])
def test_no_preference_any_port_or_its_own_takes_the_running_emulator(
    emulator_home: Path, emulator: EmulatorInfo, port: int | str | None
) -> None:
    wanted = emulator.port if port == "its own" else port
    assert isinstance(wanted, int | None)
    assert Emulator(emulator_home).start(wanted) == (emulator, False)


@pytest.mark.parametrize("port", [-1, 65536, 100000])
def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path, port: int) -> None:
    with pytest.raises(UsageError) as caught:
        Emulator(tmp_path).start(port)
    assert str(caught.value) == f"invalid port {port}: expected a port number 0-65535"
    assert (caught.value.code, caught.value.exit_code) == ("usage", 2)
    assert not tmp_path.joinpath("emulator.json").exists()


@pytest.mark.parametrize("port", [None, 0, 1, 4566, 65535])
def test_ports_in_range_pass(port: int | None) -> None:
    check_port(port)


def test_no_preference_starts_on_the_default_port(
    own: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[int] = []

    def spawn(port: int) -> int:
        spawned.append(port)
        raise EmulatorError("not this time")

    monkeypatch.setattr(emulator_module, "port_free", lambda _port: True)
    monkeypatch.setattr(own, "_spawn", spawn)
    with pytest.raises(EmulatorError, match="not this time"):
        own.start()
    assert spawned == [DEFAULT_PORT]


def test_restart_on_the_same_port_while_its_connections_linger(own: Emulator) -> None:
    info, _new = own.start(0)
    # moto answers "Connection: close" and closes: once the client has read to the end of
    # the answer, the server's end of the connection waits in TIME_WAIT for about a minute.
    with socket.create_connection((HOST, info.port), timeout=5) as client:
        client.sendall(b"GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
        while client.recv(65536):
            pass  # the server closed first
    assert own.stop() == info
    with socket.socket() as plain, pytest.raises(OSError) as caught:
        plain.bind((HOST, info.port))  # without SO_REUSEADDR: "address in use"
    assert caught.value.errno == errno.EADDRINUSE
    assert port_free(info.port)
    again, new = own.start(info.port)
    assert (again.port, new) == (info.port, True)
    assert reachable(again.endpoint)


# --- what the emulator gets and leaves ----------------------------------------------------------


AWS_SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAREALKEY",
    "AWS_SECRET_ACCESS_KEY": "real-secret",
    "AWS_SESSION_TOKEN": "real-token",
    "AWS_PROFILE": "production",
    "AWS_SHARED_CREDENTIALS_FILE": "/home/someone/.aws/credentials",
}


def test_the_environment_drops_the_callers_aws_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in AWS_SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MOTO_PORT", "5000")
    monkeypatch.setenv("TAP_UNRELATED", "kept")
    environment = server_environment(4570)
    assert {k: v for k, v in environment.items() if k.startswith("AWS_")} == {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    assert (environment["MOTO_PORT"], environment["TAP_UNRELATED"]) == ("4570", "kept")


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_a_started_emulator_has_private_files_and_none_of_the_callers_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in AWS_SECRETS.items():
        monkeypatch.setenv(key, value)
    # tap's own clients look the profile up (only the emulator must not see it).
    (tmp_path / "config").write_text("[profile production]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    home = tmp_path / "new" / "tap"
    emulator = Emulator(home)
    info, _new = emulator.start(0)
    try:
        raw = Path(f"/proc/{info.pid}/environ").read_bytes().split(b"\0")
        environment = dict(item.decode().split("=", 1) for item in raw if item)
        assert environment["AWS_ACCESS_KEY_ID"] == "test"
        assert "AWS_SESSION_TOKEN" not in environment
        assert "AWS_PROFILE" not in environment
        assert not any(secret.encode() in b"\0".join(raw) for secret in AWS_SECRETS.values())
        assert mode(home) == 0o700
        assert mode(home / "emulator.json") == 0o600
        assert mode(home / "emulator.log") == 0o600
        assert sorted(p.name for p in home.iterdir()) == ["emulator.json", "emulator.log"]
    finally:
        emulator.stop()


def test_a_log_left_readable_is_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "emulator.log").write_text("an older tap's log\n")
    (tmp_path / "emulator.log").chmod(0o644)
    monkeypatch.setattr(
        emulator_module, "server_command", lambda _port: [sys.executable, "-c", "pass"]
    )
    with pytest.raises(EmulatorError, match="exited as it started"):
        Emulator(tmp_path).start(0)
    assert mode(tmp_path / "emulator.log") == 0o600
    assert (tmp_path / "emulator.log").read_text() == "an older tap's log\n"


# --- failures on the way up: one line each, nothing left behind ---------------------------------


def test_an_emulator_that_exits_as_it_starts_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        emulator_module,
        "server_command",
        lambda _port: [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
    )
    announced: list[int] = []
    with pytest.raises(EmulatorError) as caught:
        Emulator(tmp_path).start(0, on_start=announced.append)
    [port] = announced
    assert str(caught.value) == (
        f"the emulator exited as it started on http://127.0.0.1:{port}; "
        f"see {tmp_path / 'emulator.log'}"
    )
    assert (tmp_path / "emulator.log").read_text() == "boom\n"
    assert not (tmp_path / "emulator.json").exists()


def answering_dummy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Start a plain HTTP server instead of moto: it answers the readiness check only."""
    (tmp_path / "site" / "moto-api").mkdir(parents=True)
    monkeypatch.setattr(
        emulator_module,
        "server_command",
        lambda port: [
            sys.executable,
            "-m",
            "http.server",
            "-b",
            HOST,
            "-d",
            str(tmp_path / "site"),
            str(port),
        ],
    )


def test_an_emulator_that_dies_as_it_is_first_asked_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering_dummy(tmp_path, monkeypatch)
    spawned: list[int] = []

    def gone(clients: Clients) -> str:
        spawned.append(Emulator(tmp_path).info().pid)  # type: ignore[union-attr]
        raise EndpointConnectionError(endpoint_url=f"{clients.endpoint_url}/")

    monkeypatch.setattr(emulator_module, "instance_id", gone)
    with pytest.raises(EmulatorLostError) as caught:
        Emulator(tmp_path).start(0)
    assert "stopped answering (EndpointConnectionError)" in str(caught.value)
    assert "\n" not in str(caught.value)
    [pid] = spawned
    assert not emulator_module._alive(pid)  # a half-started emulator is not left behind
    assert not (tmp_path / "emulator.json").exists()


def test_a_record_that_cannot_be_written_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering_dummy(tmp_path, monkeypatch)

    def full(**_kwargs: object) -> tuple[int, str]:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(emulator_module.tempfile, "mkstemp", full)
    with pytest.raises(EmulatorError) as caught:
        Emulator(tmp_path).start(0)
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'emulator.json'}: [Errno 28] No space left on device"
    )
    assert list(tmp_path.glob("*.json")) == []


def test_a_record_that_cannot_be_put_in_place_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answering_dummy(tmp_path, monkeypatch)

    def denied(_source: str, _target: Path) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(emulator_module.os, "replace", denied)
    with pytest.raises(EmulatorError, match=r"cannot write .*: \[Errno 13\] Permission denied"):
        Emulator(tmp_path).start(0)
    assert list(tmp_path.glob("*.json")) == list(tmp_path.glob(".emulator.*")) == []


def test_a_home_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(EmulatorError) as caught:
        Emulator(tmp_path / "file" / "tap").start(0)
    assert str(caught.value).startswith(
        f"cannot start the emulator under {tmp_path / 'file' / 'tap'}: [Errno 20] Not a directory"
    )
