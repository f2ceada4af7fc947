"""State files: round trip, backups, private modes, temporary files and the list of stacks.

Damaged files are in ``test_state_schema.py``, the lock in ``test_state_lock.py``.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from tap_cicd.errors import StateError, UnknownStackError, UsageError
from tap_cicd.local import state as state_module
from tap_cicd.local.state import SCHEMA, ResourceState, StackState, StateStore


def sample(stack: str = "dev", emulator: str = "emulator-1") -> StackState:
    saved = StackState(stack, emulator, outputs={"a": "b"}, region="eu-west-1")
    saved.resources["u"] = ResourceState("u", "t", "id", True, {"k": 1}, {"arn": "x"}, ["p"])
    saved.resources["v"] = ResourceState("v", "t", "", True, {"k": 2}, {}, [], True, "sha256:1")
    saved.resources["c"] = ResourceState("c", "pkg:index:Component", "", False, {}, {})
    return saved


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    saved = sample()
    store.save(saved)
    assert store.load("dev") == saved
    assert store.load("dev").resources["v"].pending
    assert store.load("dev").resources["v"].observed == "sha256:1"
    assert names(tmp_path / "state") == ["dev.json"]
    store.remove("dev")
    assert not store.exists("dev")


def test_the_schema_names_every_field_of_a_resource() -> None:
    """One place per fact: a field added to ResourceState must be added to the schema."""
    resource = SCHEMA["properties"]["resources"]["items"]
    assert list(resource["properties"]) == [f.name for f in dataclasses.fields(ResourceState)]
    defaulted = {
        f.name
        for f in dataclasses.fields(ResourceState)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }
    assert set(resource["properties"]) - set(resource["required"]) <= defaulted


def test_a_file_written_before_pending_and_observed_still_loads(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.path("dev").parent.mkdir(parents=True)
    store.path("dev").write_text(
        '{"version": 1, "stack": "dev", "emulator": "e", "region": "us-east-1", "outputs": {},'
        ' "resources": [{"urn": "u", "type": "t", "id": "i", "custom": true,'
        ' "inputs": {"k": 1}, "outputs": {}, "dependencies": []}]}'
    )
    resource = store.load("dev").resources["u"]
    assert (resource.pending, resource.observed) == (False, "")


def test_load_or_new(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    assert store.load_or_new("dev") == StackState("dev")
    store.save(sample())
    assert store.load_or_new("dev") == sample()


def test_unknown_stack(tmp_path: Path) -> None:
    with pytest.raises(UnknownStackError) as caught:
        StateStore(tmp_path).load("prod")
    assert caught.value.exit_code == 4
    assert "unknown stack 'prod'" in str(caught.value)
    assert "tap up --stack prod" in str(caught.value)


@pytest.mark.parametrize("name", ["", "../escape", "a b", "x" * 101])
def test_stack_names_are_checked(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="invalid stack name"):
        StateStore(tmp_path).path(name)


def test_each_save_keeps_the_previous_state_as_the_backup(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    first, second = sample(emulator="first"), sample(emulator="second")
    store.save(first)
    assert not store.backup("dev").exists()
    store.save(second)
    assert store.backup("dev") == tmp_path / "state" / "dev.json.bak"
    assert StackState.from_json(store.backup("dev").read_text()) == first
    assert store.load("dev") == second
    assert names(tmp_path / "state") == ["dev.json", "dev.json.bak"]
    store.remove("dev")
    assert names(tmp_path / "state") == []
    store.remove("dev")  # nothing left to remove: no error


def test_state_backup_lock_and_directory_are_private(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the most permissive umask: the modes must not depend on it
    try:
        store = StateStore(tmp_path / "home")
        store.save(sample())
        store.save(sample())
        with store.lock("dev"):
            pass
    finally:
        os.umask(old_umask)
    assert mode(tmp_path / "home" / "state") == 0o700
    for name in ("dev.json", "dev.json.bak", "dev.lock"):
        assert mode(tmp_path / "home" / "state" / name) == 0o600, name


def test_existing_files_are_made_private(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(sample())
    store.save(sample())
    with store.lock("dev"):
        pass
    directory = tmp_path / "state"
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)
    store.save(sample())
    with store.lock("dev"):
        pass
    assert mode(directory) == 0o700
    assert {p.name: mode(p) for p in directory.iterdir()} == dict.fromkeys(
        ["dev.json", "dev.json.bak", "dev.lock"], 0o600
    )


def test_stacks(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    assert store.stacks() == []
    for stack in ("prod", "dev", "x.bak", "a.json"):
        store.save(sample(stack))
        store.save(sample(stack))  # and a backup
    with store.lock("qa"):  # a lock alone is no state
        pass
    (tmp_path / "state" / "not a stack.json").write_text("{}")
    (tmp_path / "state" / "dev.json.123.abcd.tmp").write_text("{}")
    assert store.stacks() == ["a.json", "dev", "prod", "x.bak"]
    assert [store.load(s).stack for s in store.stacks()] == store.stacks()


def test_stacks_when_state_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    assert StateStore(tmp_path).stacks() == []


DEAD_PID = 2**22 + 1  # above Linux's pid_max limit (proc(5)): no process has it


def test_a_killed_writers_temporary_files_are_removed(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(sample())
    directory = tmp_path / "state"
    dead = [f"dev.json.{DEAD_PID}.0a1b.tmp", f"dev.json.bak.{DEAD_PID}.ff.tmp"]
    kept = [
        f"dev.json.{os.getpid()}.0a1b.tmp",  # a live writer's: not ours to remove
        f"prod.json.{DEAD_PID}.0a1b.tmp",  # another stack's: its own load or save removes it
        f"dev.json.{DEAD_PID}.tmp",  # not a name tap writes
    ]
    for name in dead + kept:
        (directory / name).write_text("half a state")
    store.load("dev")
    assert names(directory) == sorted(["dev.json", *kept])
    for name in dead:
        (directory / name).write_text("half a state")
    store.save(sample())
    assert names(directory) == sorted(["dev.json", "dev.json.bak", *kept])


def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path)
    store.save(sample(emulator="first"))

    def no_space(_source: object, _target: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(state_module.os, "replace", no_space)
    with pytest.raises(StateError) as caught:
        store.save(sample(emulator="second"))
    assert str(caught.value) == (
        f"state file {store.path('dev')} cannot be written (OSError: No space left on device); "
        f"free space or fix permissions in {tmp_path / 'state'}"
    )
    assert caught.value.exit_code == 3
    assert names(tmp_path / "state") == ["dev.json"]
    monkeypatch.undo()
    assert store.load("dev").emulator == "first"


def test_stale_files_are_not_tidied_when_the_directory_cannot_be_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StateStore(tmp_path)
    store.save(sample())

    def denied(_self: Path) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", denied)
    assert store.load("dev") == sample()  # the tidying is best effort; the read still works


def test_stacks_when_the_directory_cannot_be_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(_self: Path) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "iterdir", denied)
    with pytest.raises(StateError) as caught:
        StateStore(tmp_path).stacks()
    assert str(caught.value) == (
        f"state directory {tmp_path / 'state'} cannot be listed (PermissionError: "
        "Permission denied); fix its permissions"
    )
