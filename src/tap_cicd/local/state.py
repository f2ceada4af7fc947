"""Per-stack state: ``<home>/state/<stack>.json``, written after every resource, and a lock."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tap_cicd.errors import LockError, StateError, UnknownStackError, UsageError
from tap_cicd.local import DEFAULT_REGION
from tap_cicd.local import process_alive as _alive

VERSION = 1
T = TypeVar("T")
_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass
class ResourceState:
    """What tap knows about one deployed resource."""

    urn: str
    type: str
    id: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)


@dataclass
class StackState:
    """Everything deployed for one stack, in registration order."""

    stack: str
    emulator: str = ""
    """Instance id of the emulator the resources live in (a restarted emulator has another)."""
    resources: dict[str, ResourceState] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    region: str = DEFAULT_REGION
    """The region the stack was deployed to: destroy and outputs must look there."""

    def to_json(self) -> str:
        """The file's text."""
        data = {
            "version": VERSION,
            "stack": self.stack,
            "emulator": self.emulator,
            "region": self.region,
            "resources": [asdict(r) for r in self.resources.values()],
            "outputs": self.outputs,
        }
        return json.dumps(data, indent=1, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> StackState:
        """Parse the file's text; a malformed one raises ValueError, KeyError or TypeError."""
        data = json.loads(text)
        if data["version"] != VERSION:
            raise ValueError(f"state version {data['version']} is not {VERSION}")
        resources = [_resource(r) for r in data["resources"]]
        return cls(
            stack=_typed(data["stack"], str),
            emulator=_typed(data["emulator"], str),
            resources={r.urn: r for r in resources},
            outputs=_typed(data["outputs"], dict),
            region=_typed(data["region"], str),
        )


def _typed(value: Any, kind: type[T]) -> T:
    if not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, found {type(value).__name__}")
    return value


def _resource(data: Any) -> ResourceState:
    resource = ResourceState(**_typed(data, dict))
    kinds: dict[str, type] = {
        "urn": str,
        "type": str,
        "id": str,
        "custom": bool,
        "inputs": dict,
        "outputs": dict,
        "dependencies": list,
    }
    for name, kind in kinds.items():
        _typed(getattr(resource, name), kind)
    return resource


def check_stack_name(stack: str) -> str:
    """Stack names become file names: letters, digits, ``_.-``, at most 100."""
    if not _STACK_NAME.fullmatch(stack):
        raise UsageError(
            f"invalid stack name '{stack}': use 1-100 letters, digits, '_', '.' or '-'"
        )
    return stack


class StateStore:
    """The state files and locks under one home directory."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.directory = home / "state"

    def path(self, stack: str) -> Path:
        """Where the stack's state lives."""
        return self.directory / f"{check_stack_name(stack)}.json"

    def exists(self, stack: str) -> bool:
        """Whether the stack has state."""
        return self.path(stack).exists()

    def load(self, stack: str) -> StackState:
        """The stack's state; ``UnknownStackError`` when it has none."""
        path = self.path(stack)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UnknownStackError(
                f"unknown stack '{stack}': no state at {path}; "
                f"deploy it with 'tap up --stack {stack}'"
            ) from None
        try:
            return StackState.from_json(text)
        except (ValueError, KeyError, TypeError) as error:
            raise StateError(
                f"state file {path} is corrupted ({type(error).__name__}: {error}); "
                "restore it from a backup or move it away and run 'tap up' to deploy afresh"
            ) from None

    def load_or_new(self, stack: str) -> StackState:
        """The stack's state, or an empty one."""
        return self.load(stack) if self.exists(stack) else StackState(stack)

    def save(self, state: StackState) -> None:
        """Write atomically: a crash leaves the previous or the new file, never half of one."""
        path = self.path(state.stack)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".json.{os.getpid()}.tmp")
        temporary.write_text(state.to_json(), encoding="utf-8")
        os.replace(temporary, path)

    def remove(self, stack: str) -> None:
        """Forget the stack."""
        self.path(stack).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, stack: str) -> Iterator[None]:
        """Hold the stack's lock; a live holder makes this refuse, a dead one is taken over."""
        path = self.directory / f"{check_stack_name(stack)}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        for _attempt in range(2):
            try:
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = _read_pid(path)
                if holder is not None and _alive(holder):
                    raise LockError(
                        f"stack '{stack}' is locked by process {holder} (another tap up or "
                        f"destroy is running); wait for it, or delete {path} if it is gone"
                    ) from None
                path.unlink(missing_ok=True)  # the holder died: take the lock over
                continue
            with os.fdopen(descriptor, "w") as handle:
                handle.write(str(os.getpid()))
            break
        else:
            raise LockError(f"stack '{stack}' is locked: {path} keeps reappearing")
        try:
            yield
        finally:
            path.unlink(missing_ok=True)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
