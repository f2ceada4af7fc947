"""Per-stack state: ``<home>/state/<stack>.json``, written after every resource, and a lock.

Next to each state file: ``<stack>.json.bak``, the version before the last save (as Pulumi's
file backend keeps one), and ``<stack>.lock``, the lock file, which is never deleted. All of
them are private to the user (directory 0700, files 0600): the state holds resource inputs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from tap_cicd.config import validate_region
from tap_cicd.errors import (
    ConfigError,
    LockError,
    StateError,
    UnknownStackError,
    UsageError,
)
from tap_cicd.local import DEFAULT_REGION
from tap_cicd.local import process_alive as _alive

VERSION = 1
MAX_DEPTH = 100
"""How deeply a state file may nest; deeper documents are refused (saving one would recurse)."""
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
_STACK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")

_RESOURCE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "urn": {"type": "string", "minLength": 1},
        "type": {"type": "string", "minLength": 1},
        "id": {"type": "string"},
        "custom": {"type": "boolean"},
        "inputs": {"type": "object"},
        "outputs": {"type": "object"},
        "dependencies": {"type": "array", "items": {"type": "string"}},
        "pending": {"type": "boolean"},
        "observed": {"type": "string"},
    },
    # pending and observed came later: files written before them are still version 1.
    "required": ["urn", "type", "id", "custom", "inputs", "outputs", "dependencies"],
    "additionalProperties": False,
}
SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "version": {"type": "integer"},
        "stack": {"type": "string"},
        "emulator": {"type": "string"},
        "region": {"type": "string"},
        "resources": {"type": "array", "items": _RESOURCE_SCHEMA},
        "outputs": {"type": "object"},
    },
    "required": ["version", "stack", "emulator", "region", "resources", "outputs"],
    "additionalProperties": False,
}
"""The state file's shape, as JSON Schema (the subset ``_conform`` checks). Rules that span
fields (a custom resource has an id and inputs; the region is an AWS region code) are in
``_rules``."""

_JSON_TYPES: Final[tuple[tuple[type, str], ...]] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


class StateFileError(ValueError):
    """A state file's text breaks the schema or a rule (says where, in one line)."""


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
    pending: bool = False
    """A create was started and not confirmed: the resource may exist without tap knowing its id."""
    observed: str = ""
    """A digest of what AWS described after the last write (for drift detection); '' if none."""


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
        return json.dumps(data, indent=1, sort_keys=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> StackState:
        """Parse and validate the file's text; a malformed one raises ``StateFileError``."""
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except RecursionError:  # the C parser's own limit, far below the stack's
            raise StateFileError(f"nested deeper than {MAX_DEPTH} levels") from None
        except ValueError as error:  # JSONDecodeError is a ValueError
            raise StateFileError(f"not JSON: {error}") from None
        _validate(data)
        return cls(
            stack=data["stack"],
            emulator=data["emulator"],
            resources={r["urn"]: ResourceState(**r) for r in data["resources"]},
            outputs=data["outputs"],
            region=data["region"],
        )


def _no_constant(name: str) -> None:
    raise StateFileError(f"{name} is not a JSON value")


def _validate(data: Any) -> None:
    if isinstance(data, dict) and "version" in data:
        version = data["version"]
        if type(version) is not int or version != VERSION:
            raise StateFileError(f"state version {version!r} is not {VERSION} (a newer tap's?)")
    _check_depth(data)
    _conform(data, SCHEMA, "state")
    _rules(data)


def _check_depth(data: Any) -> None:
    """Refuse deep nesting without recursing (``asdict`` and ``json.dumps`` would)."""
    level: list[Any] = [data]
    for _depth in range(MAX_DEPTH):
        level = [
            child
            for value in level
            if isinstance(value, dict | list)
            for child in (value.values() if isinstance(value, dict) else value)
        ]
        if not level:
            return
    raise StateFileError(f"nested deeper than {MAX_DEPTH} levels")


def _conform(value: Any, schema: Mapping[str, Any], where: str) -> None:
    """Check ``value`` against the JSON Schema subset ``SCHEMA`` uses."""
    found = _json_type(value)
    if found != schema["type"]:
        raise StateFileError(f"{where}: expected {schema['type']}, found {found}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        raise StateFileError(f"{where}: is empty")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _conform(item, schema["items"], f"{where}[{index}]")
    if isinstance(value, dict) and "properties" in schema:
        _conform_object(value, schema, where)


def _conform_object(value: dict[str, Any], schema: Mapping[str, Any], where: str) -> None:
    properties: Mapping[str, Any] = schema["properties"]
    unknown = sorted(set(value) - set(properties))
    if unknown and schema.get("additionalProperties", True) is False:
        raise StateFileError(f"{where}: unknown key '{unknown[0]}'")
    missing = [key for key in schema.get("required", []) if key not in value]
    if missing:
        raise StateFileError(f"{where}: '{missing[0]}' is missing")
    for key, value_schema in properties.items():
        if key in value:
            _conform(value[key], value_schema, f"{where}.{key}")


def _json_type(value: Any) -> str:
    """The JSON Schema type of a parsed JSON value (bool before int: a bool is an int here)."""
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return "null"


def _rules(data: dict[str, Any]) -> None:
    """The rules the schema cannot say: a known region, and real custom resources."""
    try:
        validate_region(data["region"], DEFAULT_REGION)
    except ConfigError:
        raise StateFileError(f"state.region: '{data['region']}' is not an AWS region") from None
    seen: set[str] = set()
    for index, resource in enumerate(data["resources"]):
        where = f"state.resources[{index}]"
        if resource["urn"] in seen:
            raise StateFileError(f"{where}: urn '{resource['urn']}' appears twice")
        seen.add(resource["urn"])
        if not resource["custom"]:
            continue
        # A pending create may not have been answered with an id; any other custom one has.
        if not resource["id"] and not resource.get("pending", False):
            raise StateFileError(f"{where}: a custom resource without an id")
        if not resource["inputs"]:
            raise StateFileError(f"{where}: a custom resource without inputs")


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

    def backup(self, stack: str) -> Path:
        """Where the stack's previous state lives (written by each save before replacing)."""
        return self.directory / f"{check_stack_name(stack)}.json.bak"

    def exists(self, stack: str) -> bool:
        """Whether the stack has state."""
        return self.path(stack).exists()

    def stacks(self) -> list[str]:
        """The names of all stacks with state here, sorted."""
        try:
            entries = [entry.name for entry in self.directory.iterdir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as error:
            raise StateError(
                f"state directory {self.directory} cannot be listed ({type(error).__name__}: "
                f"{error.strerror}); fix its permissions"
            ) from None
        names = (name.removesuffix(".json") for name in entries if name.endswith(".json"))
        return sorted(name for name in names if _STACK_NAME.fullmatch(name))

    def load(self, stack: str) -> StackState:
        """The stack's state; ``UnknownStackError`` when it has none, ``StateError`` when it
        cannot be read or is damaged (nothing is written then)."""
        path = self.path(stack)
        self._remove_stale(stack)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise UnknownStackError(
                f"unknown stack '{stack}': no state at {path}; "
                f"deploy it with 'tap up --stack {stack}'"
            ) from None
        except OSError as error:  # a directory, no permission, an I/O error
            raise StateError(
                f"state file {path} cannot be read ({type(error).__name__}: "
                f"{error.strerror}); {self._remedy(stack)}"
            ) from None
        try:
            state = _parse(data)
            if state.stack != stack:
                raise StateFileError(f"it is the state of stack '{state.stack}', not '{stack}'")
        except StateFileError as error:
            raise StateError(
                f"state file {path} is corrupted ({error}); {self._remedy(stack)}"
            ) from None
        return state

    def _remedy(self, stack: str) -> str:
        backup = self.backup(stack)
        with contextlib.suppress(OSError, StateFileError):
            if _parse(backup.read_bytes()).stack == stack:
                return f"restore it from the backup {backup}, or move it away and run 'tap up'"
        return "move it away and run 'tap up' to deploy afresh"

    def load_or_new(self, stack: str) -> StackState:
        """The stack's state, or an empty one."""
        return self.load(stack) if self.exists(stack) else StackState(stack)

    def save(self, state: StackState) -> None:
        """Write atomically: a crash leaves the previous or the new file, never half of one.

        The file it replaces becomes the backup first (a crash in between leaves both)."""
        path = self.path(state.stack)
        try:
            self._directory()
            self._remove_stale(state.stack)
            # Pulumi's file backend does the same: backupTarget copies <file> to <file>.bak
            # before each write (pulumi/pulumi pkg/backend/diy/state.go).
            with contextlib.suppress(FileNotFoundError):
                self._write(self.backup(state.stack), path.read_bytes())
            self._write(path, state.to_json().encode("utf-8"))
        except OSError as error:
            raise StateError(
                f"state file {path} cannot be written ({type(error).__name__}: "
                f"{error.strerror}); free space or fix permissions in {self.directory}"
            ) from None

    def _directory(self) -> None:
        self.directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        # mkdir's mode is filtered by the umask and ignored for an existing directory (mkdir(2)).
        os.chmod(self.directory, DIRECTORY_MODE)

    def _write(self, path: Path, data: bytes) -> None:
        """Replace ``path`` atomically with a private file holding ``data``."""
        # A unique name per write: two writers never share one, and the pid in it tells
        # ``_remove_stale`` whether its writer is gone.
        temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)  # open(2)'s mode is filtered by the umask
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())  # the data is on disk before the name points at it
            # rename(2): "If newpath already exists, it will be atomically replaced".
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def _remove_stale(self, stack: str) -> None:
        """Delete the temporary files of the stack's writes whose writer died mid-write."""
        stale = re.compile(
            rf"{re.escape(check_stack_name(stack))}\.json(?:\.bak)?\.(\d+)\.[0-9a-f]+\.tmp"
        )
        with contextlib.suppress(OSError):  # tidying only: the read or write reports errors
            for entry in self.directory.iterdir():
                match = stale.fullmatch(entry.name)
                if match and not _alive(int(match.group(1))):
                    entry.unlink(missing_ok=True)

    def remove(self, stack: str) -> None:
        """Forget the stack (its state and its backup; the lock file stays, see ``lock``)."""
        self.path(stack).unlink(missing_ok=True)
        self.backup(stack).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, stack: str) -> Iterator[None]:
        """Hold the stack's lock; a live holder makes this refuse, a dead one holds nothing.

        An OS lock (flock(2)) on ``<stack>.lock``: the kernel grants it to one open file at a
        time and drops it when its holder exits, however it exits. The file is never deleted:
        deleting it would let a second process lock a new file while the first holds the old.
        The pid in it is written after locking, only to name the holder in the error.
        """
        descriptor = self._open_lock(stack)
        try:
            try:
                # flock(2): "LOCK_NB: ... fail with EWOULDBLOCK" if another open file holds it,
                # even one opened by this same process.
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(descriptor)
                by = f"process {holder}" if holder is not None else "another process"
                raise LockError(
                    f"stack '{stack}' is locked by {by} (another tap up, refresh or destroy "
                    "is running); wait for it to finish and try again"
                ) from None
            os.ftruncate(descriptor, 0)
            os.pwrite(descriptor, str(os.getpid()).encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(descriptor, 0)  # no stale pid for the next refusal to name
        finally:
            os.close(descriptor)  # closing releases the flock (flock(2))

    def _open_lock(self, stack: str) -> int:
        path = self.directory / f"{check_stack_name(stack)}.lock"
        try:
            self._directory()
            # os.open's descriptors are not inherited by exec'd children (PEP 446), so an
            # emulator started under the lock does not keep holding it.
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as error:
            raise self._unlockable(stack, path, error) from None
        try:
            os.fchmod(descriptor, FILE_MODE)  # open(2)'s mode is filtered by the umask
        except OSError as error:  # another user's file
            os.close(descriptor)
            raise self._unlockable(stack, path, error) from None
        return descriptor

    def _unlockable(self, stack: str, path: Path, error: OSError) -> LockError:
        return LockError(
            f"stack '{stack}' cannot be locked: {path} cannot be opened "
            f"({type(error).__name__}: {error.strerror}); fix permissions in {self.directory}"
        )


def _parse(data: bytes) -> StackState:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise StateFileError(f"not UTF-8 text at byte {error.start}") from None
    return StackState.from_json(text)


def _read_pid(descriptor: int) -> int | None:
    try:
        return int(os.pread(descriptor, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None
