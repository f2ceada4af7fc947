"""State files and locks: what can go wrong with them, and the one-line errors that say so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tap_cicd.errors import LockError, StateError, UnknownStackError, UsageError
from tap_cicd.local import state as state_module
from tap_cicd.local.state import ResourceState, StackState, StateStore


def test_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    saved = StackState("dev", "emulator-1", outputs={"a": "b"})
    saved.resources["u"] = ResourceState("u", "t", "id", True, {"k": 1}, {"arn": "x"}, ["p"])
    store.save(saved)
    assert store.load("dev") == saved
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["dev.json"]
    store.remove("dev")
    assert not store.exists("dev")


def test_unknown_stack(tmp_path: Path) -> None:
    with pytest.raises(UnknownStackError) as caught:
        StateStore(tmp_path).load("prod")
    assert caught.value.exit_code == 4
    assert "unknown stack 'prod'" in str(caught.value)
    assert "tap up --stack prod" in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"version": 2}',
        '{"version": 1, "stack": "dev"}',
        "[]",
        '{"version": 1, "stack": "dev", "emulator": "e", "region": "r", "outputs": [],'
        ' "resources": []}',
        '{"version": 1, "stack": "dev", "emulator": "e", "region": "r", "outputs": {},'
        ' "resources": [{"urn": "u", "type": "t", "id": "i", "custom": true,'
        ' "inputs": "oops", "outputs": {}}]}',
    ],
)
def test_corrupted_state_says_what_to_do(tmp_path: Path, text: str) -> None:
    store = StateStore(tmp_path)
    store.path("dev").parent.mkdir(parents=True)
    store.path("dev").write_text(text)
    with pytest.raises(StateError) as caught:
        store.load("dev")
    message = str(caught.value)
    assert message.startswith(f"state file {store.path('dev')} is corrupted")
    assert "move it away" in message
    assert "\n" not in message
    assert caught.value.exit_code == 3


@pytest.mark.parametrize("name", ["", "../escape", "a b", "x" * 101])
def test_stack_names_are_checked(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="invalid stack name"):
        StateStore(tmp_path).path(name)


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    lock = tmp_path / "state" / "dev.lock"
    with store.lock("dev"):
        assert lock.read_text() == str(os.getpid())
        with pytest.raises(LockError, match=f"locked by process {os.getpid()}"), store.lock("dev"):
            pass
    assert not lock.exists()
    lock.write_text("999999999")  # a holder that died without cleaning up
    with store.lock("dev"):
        assert lock.read_text() == str(os.getpid())
    lock.write_text("garbage")
    with store.lock("dev"):
        pass


def test_lock_gives_up_when_the_file_keeps_coming_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_taken(*_args: object) -> int:
        raise FileExistsError

    monkeypatch.setattr(state_module.os, "open", always_taken)
    with pytest.raises(LockError, match="keeps reappearing"), StateStore(tmp_path).lock("dev"):
        pass


def test_a_holder_of_another_user_counts_as_alive(monkeypatch: pytest.MonkeyPatch) -> None:
    def denied(_pid: int, _signal: int) -> None:
        raise PermissionError

    monkeypatch.setattr(state_module.os, "kill", denied)
    assert state_module._alive(1)
