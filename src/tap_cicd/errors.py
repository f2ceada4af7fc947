"""One exception class per kind of failure, each with a stable code.

The CLI maps ``TapError.exit_code`` to the process exit code and prints ``str(error)``,
which is always a single line.
"""

from __future__ import annotations


class TapError(Exception):
    """Base class of every error tap raises on purpose."""

    code = "tap_error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
        self.message = " ".join(message.split())


class ConfigError(TapError):
    """A configuration value broke a rule. Raised before any resource is registered."""

    code = "config_invalid"
    exit_code = 2

    def __init__(self, key: str, rule: str) -> None:
        super().__init__(f"invalid config '{key}': {rule}")
        self.key = key
        self.rule = rule


class StateError(TapError):
    """A stack's state file cannot be read."""

    code = "state_corrupt"
    exit_code = 3


class UnknownStackError(TapError):
    """A command names a stack that has no state."""

    code = "unknown_stack"
    exit_code = 4


class LockError(TapError):
    """Another ``tap up`` or ``tap destroy`` holds the stack's lock."""

    code = "stack_locked"
    exit_code = 5


class EmulatorError(TapError):
    """The local emulator cannot be started or reached."""

    code = "emulator_unavailable"
    exit_code = 6


class DeployError(TapError):
    """An AWS call failed in the middle of a deploy or destroy; the state matches what exists."""

    code = "deploy_failed"
    exit_code = 7


class TargetError(TapError):
    """The chosen target cannot be used here (for example, no Pulumi CLI for ``--target aws``)."""

    code = "target_unavailable"
    exit_code = 8


class UsageError(TapError):
    """A command-line value is malformed."""

    code = "usage"
    exit_code = 2
