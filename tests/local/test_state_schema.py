"""Damaged state files: each is refused with one line (exit 3), and nothing is written."""

# The table of damages reads best one row a line.
# ruff: noqa: E501

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tap_cicd.errors import StateError
from tap_cicd.local.state import MAX_DEPTH, SCHEMA, ResourceState, StackState, StateStore


def valid() -> dict[str, Any]:
    state = StackState("dev", "emulator-1", outputs={"url": "x"})
    state.resources["c"] = ResourceState("c", "pkg:index:Component", "", False, {}, {})
    state.resources["u"] = ResourceState("u", "aws:sqs/queue:Queue", "q", True, {"n": 1}, {}, ["c"])
    data: dict[str, Any] = json.loads(state.to_json())
    return data


def changed(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    data = copy.deepcopy(valid())
    change(data)
    return data


def nested(depth: int) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for _level in range(depth):
        inputs = {"a": inputs}
    return changed(lambda d: d["resources"][1].update(inputs=inputs))


# (what is wrong, the file's content, what the message says is wrong)
DAMAGED: list[tuple[str, bytes | dict[str, Any] | list[Any], str]] = [
    ("not json", b"{not json", "not JSON: Expecting property name"),
    ("empty", b"", "not JSON: Expecting value"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\xff", "not UTF-8 text at byte 0"),
    ("latin-1", '{"stack": "d\u00e9v"}'.encode("latin-1"), "not UTF-8 text at byte 12"),
    ("NaN", b'{"version": NaN}', "not JSON: NaN is not a JSON value"),
    ("a list", [], "state: expected object, found array"),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000, f"nested deeper than {MAX_DEPTH}"),
    ("nested too deep", nested(MAX_DEPTH), f"nested deeper than {MAX_DEPTH} levels"),
    ("newer version", changed(lambda d: d.update(version=2)), "state version 2 is not 1"),
    ("no version", changed(lambda d: d.pop("version")), "state: 'version' is missing"),
    ("version true", changed(lambda d: d.update(version=True)), "state version True is not 1"),
    ("version text", changed(lambda d: d.update(version="1")), "state version '1' is not 1"),
    ("no stack", changed(lambda d: d.pop("stack")), "state: 'stack' is missing"),
    ("stack null", changed(lambda d: d.update(stack=None)), "state.stack: expected string, found null"),
    ("unknown key", changed(lambda d: d.update(extra=1)), "state: unknown key 'extra'"),
    ("outputs list", changed(lambda d: d.update(outputs=[])), "state.outputs: expected object, found array"),
    ("emulator number", changed(lambda d: d.update(emulator=1.5)), "state.emulator: expected string, found number"),
    ("resources object", changed(lambda d: d.update(resources={})), "state.resources: expected array, found object"),
    ("resource a string", changed(lambda d: d["resources"].append("u")), "state.resources[2]: expected object, found string"),
    ("inputs a string", changed(lambda d: d["resources"][1].update(inputs="oops")), "state.resources[1].inputs: expected object, found string"),
    ("custom a number", changed(lambda d: d["resources"][1].update(custom=1)), "state.resources[1].custom: expected boolean, found integer"),
    ("dependency a number", changed(lambda d: d["resources"][1]["dependencies"].append(7)), "state.resources[1].dependencies[1]: expected string, found integer"),
    ("pending a string", changed(lambda d: d["resources"][1].update(pending="no")), "state.resources[1].pending: expected boolean, found string"),
    ("observed null", changed(lambda d: d["resources"][1].update(observed=None)), "state.resources[1].observed: expected string, found null"),
    ("unknown resource key", changed(lambda d: d["resources"][1].update(extra=1)), "state.resources[1]: unknown key 'extra'"),
    ("no urn", changed(lambda d: d["resources"][1].pop("urn")), "state.resources[1]: 'urn' is missing"),
    ("empty urn", changed(lambda d: d["resources"][1].update(urn="")), "state.resources[1].urn: is empty"),
    ("empty type", changed(lambda d: d["resources"][1].update(type="")), "state.resources[1].type: is empty"),
    ("urn twice", changed(lambda d: d["resources"][1].update(urn="c")), "state.resources[1]: urn 'c' appears twice"),
    ("custom without id", changed(lambda d: d["resources"][1].update(id="")), "state.resources[1]: a custom resource without an id"),
    ("custom without inputs", changed(lambda d: d["resources"][1].update(inputs={})), "state.resources[1]: a custom resource without inputs"),
    ("pending without inputs", changed(lambda d: d["resources"][1].update(id="", pending=True, inputs={})), "state.resources[1]: a custom resource without inputs"),
    ("bad region", changed(lambda d: d.update(region="moon-1")), "state.region: 'moon-1' is not an AWS region"),
    ("empty region", changed(lambda d: d.update(region="")), "state.region: '' is not an AWS region"),
    ("another stack's", changed(lambda d: d.update(stack="prod")), "it is the state of stack 'prod', not 'dev'"),
]  # fmt: skip


def content(document: bytes | dict[str, Any] | list[Any]) -> bytes:
    return document if isinstance(document, bytes) else json.dumps(document).encode()


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


@pytest.mark.parametrize(
    ("document", "fault"), [(d, f) for _w, d, f in DAMAGED], ids=[w for w, _d, _f in DAMAGED]
)
def test_a_damaged_state_is_one_line_and_nothing_is_written(
    tmp_path: Path, document: bytes | dict[str, Any] | list[Any], fault: str
) -> None:
    store = StateStore(tmp_path)
    store.path("dev").parent.mkdir(parents=True)
    store.path("dev").write_bytes(content(document))
    before = snapshot(tmp_path / "state")
    for read in (store.load, store.load_or_new):
        with pytest.raises(StateError) as caught:
            read("dev")
        assert str(caught.value).startswith(
            f"state file {store.path('dev')} is corrupted ({fault}"
        ), str(caught.value)
        assert str(caught.value).endswith("move it away and run 'tap up' to deploy afresh")
        assert "\n" not in str(caught.value)
        assert len(str(caught.value)) < 400
        assert caught.value.exit_code == 3
    assert snapshot(tmp_path / "state") == before
    assert not (tmp_path / "state" / "prod.json").exists()


def test_the_message_names_the_backup_when_it_is_sound(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save(StackState("dev", "first"))
    store.save(StackState("dev", "second"))
    store.path("dev").write_bytes(b"\x00garbage")
    with pytest.raises(StateError) as caught:
        store.load("dev")
    assert str(caught.value) == (
        f"state file {store.path('dev')} is corrupted (not JSON: Expecting value: line 1 "
        f"column 1 (char 0)); restore it from the backup {store.backup('dev')}, or move it "
        "away and run 'tap up'"
    )
    # A damaged backup, or another stack's, is not offered.
    for backup in (b"{", json.dumps(changed(lambda d: d.update(stack="prod"))).encode()):
        store.backup("dev").write_bytes(backup)
        with pytest.raises(StateError, match=r"move it away and run 'tap up' to deploy afresh$"):
            store.load("dev")


def test_a_state_path_that_is_a_directory(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.path("dev").mkdir(parents=True)
    assert store.exists("dev")
    with pytest.raises(StateError) as caught:
        store.load_or_new("dev")
    assert str(caught.value) == (
        f"state file {store.path('dev')} cannot be read (IsADirectoryError: Is a directory); "
        "move it away and run 'tap up' to deploy afresh"
    )
    assert caught.value.exit_code == 3
    with pytest.raises(StateError, match=r"cannot be written \(IsADirectoryError"):
        store.save(StackState("dev"))
    assert store.path("dev").is_dir()


def test_a_state_directory_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(StateError, match=r"cannot be read \(NotADirectoryError"):
        StateStore(tmp_path).load("dev")


def test_an_unreadable_state_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = StateStore(tmp_path)
    store.save(StackState("dev"))

    def denied(_self: Path) -> bytes:
        # Simulated: the tests may run as root, whom file modes do not stop.
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(StateError) as caught:
        store.load("dev")
    assert str(caught.value) == (
        f"state file {store.path('dev')} cannot be read (PermissionError: Permission denied); "
        "move it away and run 'tap up' to deploy afresh"
    )


SCHEMA_FAULTS = ("expected", "missing", "unknown key", "is empty")


def test_the_schema_is_json_schema_and_agrees_with_a_validator() -> None:
    """SCHEMA is real JSON Schema: a full validator refuses what the subset check refuses."""
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert validator.is_valid(valid())
    for _what, document, fault in DAMAGED:
        if any(word in fault for word in SCHEMA_FAULTS):
            assert not validator.is_valid(document), fault
