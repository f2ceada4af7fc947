"""A stack's local files: its config in ``Pulumi.<stack>.yaml`` and the flat outputs file.

``Pulumi.<stack>.yaml`` is read and written in Pulumi's own format: a ``config:`` mapping
whose keys are namespaced, ``tap:<key>`` for the program's own keys (``tap`` is the project
name in ``Pulumi.yaml``) and ``aws:<key>`` for the AWS provider's. Every other namespace, an
unknown key, a YAML value of the wrong type, ``null`` and a ``secure:`` value are refused
with one line naming the key. A write keeps the other keys, their order and the comments,
and replaces the file atomically.

The flat outputs file (``{"name": "value"}``, what the integration tests read) belongs to
one stack: its owner is recorded next to it, in ``.<name>.stack`` (``cfn-outputs/
.flat-outputs.stack``), so that ``tap destroy`` of that stack removes both and a ``tap up``
of another stack can say that the file changed hands.
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from tap_cicd.config import ENV_VARS, Settings, read_raw, validate_region
from tap_cicd.errors import ConfigError, UsageError
from tap_cicd.local import DEFAULT_REGION
from tap_cicd.local.state import check_stack_name

NAMESPACE = "tap"
"""The project's config namespace: the ``name`` in ``Pulumi.yaml``."""

# The keys of the pulumi-aws provider's config (pulumi_aws/config/vars.py; a test keeps
# the two in step). tap itself reads only aws:region; the others are for the Pulumi engine.
AWS_KEYS = (
    "accessKey", "allowedAccountIds", "assumeRoleWithWebIdentity", "assumeRoles",
    "customCaBundle", "defaultTags", "ec2MetadataServiceEndpoint",
    "ec2MetadataServiceEndpointMode", "endpoints", "forbiddenAccountIds", "httpProxy",
    "httpsProxy", "ignoreTags", "insecure", "maxRetries", "noProxy", "profile", "region",
    "retryMode", "s3UsEast1RegionalEndpoint", "s3UsePathStyle", "secretKey",
    "sharedConfigFiles", "sharedCredentialsFiles", "skipCredentialsValidation",
    "skipMetadataApiCheck", "skipRegionValidation", "skipRequestingAccountId", "stsRegion",
    "tagPolicyCompliance", "token", "tokenBucketRateLimiterCapacity", "useDualstackEndpoint",
    "useFipsEndpoint", "userAgents",
)  # fmt: skip
INTEGER_KEYS = ("logRetentionDays", "scanWaitSeconds", "deployConcurrency")
"""tap keys a YAML number may give (``scanWaitSeconds: 60``)."""
STRUCTURED_KEYS: dict[str, type] = {"tags": dict, "filePaths": list, "allowedFindings": list}
"""tap keys a YAML mapping or list may give (read as its JSON)."""
_YAML_KINDS = {bool: "a boolean", int: "a number", float: "a number", list: "a list"}
_KEY_LINE = re.compile(r"(?P<indent> +)(?P<key>[^\s#'\"\-{\[][^\s]*?):(?=\s|$)")

DEFAULT_STACK = "dev"
StackOption = Annotated[
    str, typer.Option("--stack", "-s", help="Stack name.", callback=check_stack_name)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def path_of(stack: str) -> Path:
    """The stack's config file, in the current (project) directory."""
    return Path(f"Pulumi.{check_stack_name(stack)}.yaml")


def qualified(key: str) -> str:
    """``key`` in its namespace: ``tap:`` unless it names one."""
    return key if ":" in key else f"{NAMESPACE}:{key}"


def namespaced(key: str) -> str:
    """``key`` in its namespace, checked: one line for an unknown namespace or key."""
    full = qualified(key)
    namespace, _, name = full.partition(":")
    if namespace == NAMESPACE:
        known: tuple[str, ...] = tuple(ENV_VARS)
    elif namespace == "aws":
        known = AWS_KEYS
    else:
        raise ConfigError(
            full,
            f"unknown namespace '{namespace}': tap reads {NAMESPACE}:<key> (the project's "
            "keys) and aws:<key> (the AWS provider's)",
        )
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {namespace}:{close[0]}? " if close else ""
        listed = ", ".join(known) if namespace == NAMESPACE else "the pulumi-aws provider's keys"
        raise ConfigError(label(full), f"unknown key; {hint}known keys: {listed}")
    return full


def label(key: str) -> str:
    """How messages name a key: tap's own without their namespace, as ``Settings`` does."""
    return key.removeprefix(f"{NAMESPACE}:")


def read_config(stack: str) -> dict[str, str]:
    """The ``config:`` of ``Pulumi.<stack>.yaml`` (none when there is no file), as strings by
    namespaced key; mappings and lists as their JSON."""
    path = path_of(stack)
    config = _config_of(path, _parse(path, _read_text(path)))
    return {namespaced(str(k)): _as_string(namespaced(str(k)), v, path) for k, v in config.items()}


def tap_values(config: Mapping[str, str]) -> dict[str, str | None]:
    """The ``tap:`` keys without their namespace, with the environment filling the gaps."""
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")}
    values = read_raw(raw.get)
    values.update({key: raw[key] for key in raw.keys() - values.keys()})  # validation names them
    return values


def validate(config: Mapping[str, str], stack: str) -> Settings:
    """The whole config of ``stack`` (its name is the default suffix), region included."""
    for key in config:
        namespaced(key)
    region_of(config)
    return Settings.from_raw(tap_values(config), stack)


def region_of(config: Mapping[str, str]) -> str:
    """``aws:region`` from the config (validated), or the local default."""
    return validate_region(config.get("aws:region"), DEFAULT_REGION)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return ""
    except IsADirectoryError:
        raise UsageError(f"{path} is a directory, not a stack config file") from None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not valid YAML: it is not UTF-8 text") from None


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        problem = " ".join(str(error).split())
        raise UsageError(f"{path} is not valid YAML: {problem}") from None
    except RecursionError:
        raise UsageError(f"{path} is not valid YAML for tap: it is nested too deeply") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"{path}: expected a mapping with a 'config' key")
    return loaded


def _config_of(path: Path, document: Mapping[str, Any]) -> dict[Any, Any]:
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise UsageError(f"{path}: 'config' must be a mapping")
    return config


def _as_string(key: str, value: Any, path: Path) -> str:
    """One YAML value as the string tap validates; the wrong YAML type is refused."""
    name = label(key)
    if isinstance(value, str):
        return value
    if value is None:
        raise ConfigError(
            name, f"has no value in {path} (YAML null): give it one, or remove it for the default"
        )
    if isinstance(value, dict) and set(value) == {"secure"}:
        raise ConfigError(
            name,
            f"is a Pulumi secret (secure:) in {path}: secrets are not supported by the local "
            "target (it has no secrets provider); set the value in plain text",
        )
    if key in (f"{NAMESPACE}:{name}", "aws:region"):
        if name in INTEGER_KEYS and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, STRUCTURED_KEYS.get(name, type(None))):
            return _json(name, value)
        raise ConfigError(name, f"must be a string, but YAML reads it as {_kind(value)}")
    return _json(name, value)  # another aws: key: the engine's to read, not tap's


def _json(name: str, value: Any) -> str:
    try:
        return json.dumps(value, default=str)
    except (RecursionError, ValueError):
        raise ConfigError(name, "is nested too deeply") from None


def _kind(value: Any) -> str:
    if isinstance(value, list | dict):
        return "a list" if isinstance(value, list) else "a mapping"
    shown = yaml.safe_dump(value).removesuffix("\n...\n").strip()
    kind = "a date" if isinstance(value, datetime.date) else _YAML_KINDS.get(type(value), "")
    return f"{kind or 'a value'} ({shown}): quote it ('{shown}')"


def write_value(stack: str, key: str, value: str | None) -> bool:
    """Set (``value``) or remove (``None``) the namespaced ``key`` in ``Pulumi.<stack>.yaml``;
    returns whether the key was set before. Other keys, their order and comments are kept."""
    path = path_of(stack)
    text = _read_text(path)
    document = _parse(path, text)
    config = _config_of(path, document)
    was_set = any(qualified(str(k)) == key for k in config)
    expected = {k: v for k, v in config.items() if qualified(str(k)) != key}
    if value is not None:
        expected[key] = value
    elif not was_set:
        return False
    edited = _edit_lines(text, config, key, value)
    if edited is None or _config_of(path, _parse(path, edited)) != expected:
        # A layout the line editor does not know (flow style, quoted keys): a plain dump,
        # which keeps the order but not the comments.
        edited = yaml.safe_dump(
            {**document, "config": expected}, sort_keys=False, allow_unicode=True, width=2**16
        )
    _atomic_write(path, edited)
    return was_set


def _edit_lines(text: str, config: Mapping[Any, Any], key: str, value: str | None) -> str | None:
    """``text`` with the ``key`` entry of its block-style ``config:`` replaced, added or
    removed; ``None`` when the file's layout is not one it recognises."""
    entry = yaml.safe_dump({key: value}, allow_unicode=True, width=2**16)
    if text and not text.endswith("\n"):
        text += "\n"
    lines = text.splitlines(keepends=True)
    top = next((i for i, line in enumerate(lines) if re.match(r"config:\s*$", line)), None)
    if top is None:
        return None if config else f"{text}config:\n  {entry}"
    end = top + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " #"):
        end += 1
    while end > top + 1 and (not lines[end - 1].strip() or lines[end - 1][0] == "#"):
        end -= 1  # blank lines and comments before the next top-level key are not config's
    keyed = [(i, *_key_at(lines[i])) for i in range(top + 1, end) if _key_at(lines[i])[0]]
    indent = keyed[0][1] if keyed else "  "
    entries = [(i, k) for i, space, k in keyed if space == indent]
    if sorted(k for _, k in entries) != sorted(map(str, config)):
        return None
    ends = [i for i, _ in entries[1:]] + [end]
    for (first, name), last in zip(entries, ends, strict=False):
        if qualified(name) == key:
            new = [] if value is None else [indent + entry]
            return "".join([*lines[:first], *new, *lines[last:]])
    return "".join([*lines[:end], indent + entry, *lines[end:]])


def _key_at(line: str) -> tuple[str, str]:
    """The indentation and key of a ``  key: value`` line (empty strings for another line)."""
    match = _KEY_LINE.match(line)
    return (match["indent"], match["key"]) if match else ("", "")


def _atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` whole: a crash leaves the old or the new file, never half of one."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {error.strerror}") from None


def owner_file(outputs: Path) -> Path:
    """Where the stack the flat outputs file describes is recorded."""
    return outputs.with_name(f".{outputs.stem}.stack")


def owner_of(outputs: Path) -> str | None:
    """The stack the flat outputs file describes (``None``: no file, or no record)."""
    try:
        return owner_file(outputs).read_text(encoding="utf-8").strip() if outputs.exists() else None
    except (OSError, UnicodeDecodeError):
        return None


def check_writable(path: Path, what: str, directory: bool = False) -> None:
    """Refuse, before anything is written, a ``path`` tap cannot create or write (a file in
    the way, a directory where a file goes, no write permission)."""
    if path.exists() and path.is_dir() != directory:
        kind = "not a directory" if directory else "a directory"
        raise UsageError(f"{what} {path} is {kind}")
    existing = path if path.exists() else path.parent
    while not existing.exists():
        existing = existing.parent
    if existing != path and not existing.is_dir():
        raise UsageError(f"{what} {path} cannot be created: {existing} is not a directory")
    if not os.access(existing, os.W_OK):
        raise UsageError(f"{what} {path} cannot be written: {existing} is not writable")


def write_outputs(outputs: Path, values: Mapping[str, Any], stack: str) -> str | None:
    """Write ``values`` flat (``{"name": value}``) as ``stack``'s; returns the stack the file
    described before, when another one."""
    before = owner_of(outputs)
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    try:
        outputs.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {outputs.parent}: {error.strerror}") from None
    _atomic_write(outputs, json.dumps(flat, indent=2, sort_keys=True) + "\n")
    _atomic_write(owner_file(outputs), stack + "\n")
    return before if before not in (None, stack) else None


def remove_outputs(outputs: Path, stack: str) -> bool:
    """Remove the flat outputs file when it describes ``stack``; returns whether it did."""
    if owner_of(outputs) != stack:
        return False
    try:
        outputs.unlink(missing_ok=True)
        owner_file(outputs).unlink(missing_ok=True)
    except OSError as error:
        raise UsageError(f"cannot remove {outputs}: {error.strerror}") from None
    return True
