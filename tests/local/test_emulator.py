"""The emulator process: start, find, stop, and the errors around them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tap_cicd.errors import EmulatorError
from tap_cicd.local import emulator as emulator_module
from tap_cicd.local.emulator import HOST, Emulator, EmulatorInfo, port_free, reachable


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
    assert emulator.stop() is None
    info, started = emulator.start(port=0)
    assert started
    assert emulator.info() == info
    assert json.loads((tmp_path / "emulator.json").read_text()) == {
        "pid": info.pid,
        "port": info.port,
    }
    assert emulator.stop() == info
    assert not reachable(info.endpoint)
    assert emulator.info() is None


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
