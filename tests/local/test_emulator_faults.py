"""The emulator stalls, dies or lingers: what tap reads of it, and that it forgets nothing it
cannot confirm is gone (issue 11)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tap_cicd.errors import EmulatorError, EmulatorLostError
from tap_cicd.local import emulator as emulator_module
from tap_cicd.local.emulator import HOST, Emulator, EmulatorInfo, free_port, port_free, reachable

LISTENER = textwrap.dedent(
    """
    import signal, socket, sys, time
    port, lifetime, ignore_term = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "1"
    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server = socket.socket()
    server.bind(("127.0.0.1", port))
    server.listen()  # accepts (the kernel does), never answers: a stalled server
    time.sleep(lifetime)
    """
)


@pytest.fixture
def processes() -> Iterator[list[int]]:
    """Process groups the test started, stopped (continued, then killed) whatever happens."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        for sent in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.killpg(pid, sent)
            except ProcessLookupError:
                break
        emulator_module._alive(pid)  # reaps it


def listener(
    processes: list[int], home: Path, *, lifetime: float = 60, ignore_term: bool = False
) -> EmulatorInfo:
    """A process that listens on a port and never answers, recorded as the emulator of
    ``home``."""
    port = free_port()
    # posix_spawn, as the emulator is started: a Popen would warn when collected.
    pid = os.posix_spawn(
        sys.executable,
        [sys.executable, "-c", LISTENER, str(port), str(lifetime), "1" if ignore_term else "0"],
        os.environ,
        setsid=True,
    )
    processes.append(pid)
    deadline = time.monotonic() + 10
    while port_free(port):
        assert time.monotonic() < deadline, "the listener did not listen"
        time.sleep(0.02)
    info = EmulatorInfo(pid, port)
    home.mkdir(parents=True, exist_ok=True)
    (home / "emulator.json").write_text(json.dumps({"pid": info.pid, "port": info.port}))
    return info


def stalled_message(home: Path, info: EmulatorInfo, waited: str) -> str:
    return (
        f"the emulator (pid {info.pid}, port {info.port}) is not answering after {waited} s "
        f"(stalled?): tap kept it and its stacks as they were; see {home / 'emulator.log'}, "
        "or kill it with 'tap emulator stop' and try again"
    )


def test_a_stalled_emulator_is_waited_for_reported_and_kept(
    tmp_path: Path, processes: list[int]
) -> None:
    emulator = Emulator(tmp_path, answer_timeout=0.5)
    info, _new = emulator.start(port=0)
    processes.append(info.pid)
    record = (tmp_path / "emulator.json").read_text()
    os.kill(info.pid, signal.SIGSTOP)  # signal(7): it keeps its socket, and answers nothing
    assert emulator.status() == "stalled"
    assert emulator.info() == info  # alive: not gone, whatever the health check says
    began = time.monotonic()
    with pytest.raises(EmulatorLostError) as caught:
        emulator.running()
    assert time.monotonic() - began >= 0.5
    assert str(caught.value) == stalled_message(tmp_path, info, "0.5")
    assert (caught.value.code, caught.value.exit_code) == ("emulator_lost", 6)
    with pytest.raises(EmulatorLostError, match=r"after 0\.2 s"):
        emulator.require(timeout=0.2)
    # start() neither spawns a second emulator nor forgets the first.
    with pytest.raises(EmulatorLostError) as again:
        emulator.start(port=0, on_start=lambda _port: pytest.fail("spawned a second emulator"))
    assert str(again.value) == stalled_message(tmp_path, info, "0.5")
    assert (tmp_path / "emulator.json").read_text() == record
    os.kill(info.pid, signal.SIGCONT)  # it recovers: the same emulator, with its resources
    assert emulator.running() == info
    assert emulator.start() == (info, False)
    assert emulator.stop() == info


def test_stopping_a_stalled_emulator_kills_it(tmp_path: Path, processes: list[int]) -> None:
    emulator = Emulator(tmp_path)
    info, _new = emulator.start(port=0)
    processes.append(info.pid)
    os.kill(info.pid, signal.SIGSTOP)
    began = time.monotonic()
    assert emulator.stop() == info
    # SIGCONT lets it act on SIGTERM at once: no wait for the SIGKILL.
    assert time.monotonic() - began < emulator_module.STOP_TIMEOUT_SECONDS
    assert not emulator_module._alive(info.pid)
    assert not (tmp_path / "emulator.json").exists()
    assert emulator.status() == "stopped"


def test_one_that_ignores_sigterm_is_killed(
    tmp_path: Path, processes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator_module, "STOP_TIMEOUT_SECONDS", 0.3)
    info = listener(processes, tmp_path, ignore_term=True)
    assert Emulator(tmp_path).stop() == info
    assert not emulator_module._alive(info.pid)
    assert not (tmp_path / "emulator.json").exists()


def test_one_that_dies_while_waited_for_is_gone(tmp_path: Path, processes: list[int]) -> None:
    info = listener(processes, tmp_path, lifetime=0.5)
    emulator = Emulator(tmp_path, answer_timeout=30)
    began = time.monotonic()
    assert emulator.running() is None
    assert time.monotonic() - began < 10
    assert not (tmp_path / "emulator.json").exists()
    # Now that it is confirmed gone, a new one may start on its port.
    assert port_free(info.port)


def test_the_default_wait_is_the_module_setting(
    tmp_path: Path, processes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator_module, "ANSWER_TIMEOUT_SECONDS", 0.1)
    info = listener(processes, tmp_path)
    with pytest.raises(EmulatorLostError) as caught:
        Emulator(tmp_path).running()
    assert str(caught.value) == stalled_message(tmp_path, info, "0.1")


def test_a_reused_pid_is_not_the_emulator(tmp_path: Path) -> None:
    # The pid lives (it is this test's), but nothing listens on the recorded port: the
    # emulator died and its pid went to another process. Never kill that one.
    (tmp_path / "emulator.json").write_text(json.dumps({"pid": os.getpid(), "port": free_port()}))
    emulator = Emulator(tmp_path)
    assert emulator.info() is None
    assert not (tmp_path / "emulator.json").exists()
    (tmp_path / "emulator.json").write_text(json.dumps({"pid": os.getpid(), "port": free_port()}))
    assert emulator.stop() is None
    assert not (tmp_path / "emulator.json").exists()


def test_require_without_an_emulator_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(EmulatorError) as caught:
        Emulator(tmp_path).require()
    assert str(caught.value) == "the emulator is not running: start it with 'tap emulator start'"
    assert caught.value.code == "emulator_unavailable"


def test_an_emulator_tap_may_not_signal_is_an_error(
    tmp_path: Path, processes: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    info = listener(processes, tmp_path)

    def denied(_pid: int, _signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(emulator_module.os, "killpg", denied)
    with pytest.raises(EmulatorError) as caught:
        Emulator(tmp_path).stop()
    assert str(caught.value) == (
        f"cannot stop the emulator (pid {info.pid}): [Errno 1] Operation not permitted"
    )
    assert (tmp_path / "emulator.json").exists()


def test_a_server_that_garbles_its_answer_is_not_reachable() -> None:
    # A server dying mid-answer: no HTTP status line (http.client.BadStatusLine).
    with socket.socket() as server:
        server.bind((HOST, 0))
        server.listen()

        def garble() -> None:
            connection, _address = server.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HELLO THERE\r\n\r\n")

        thread = threading.Thread(target=garble, daemon=True)
        thread.start()
        assert not reachable(f"http://{HOST}:{server.getsockname()[1]}", timeout=5)
        thread.join(5)
