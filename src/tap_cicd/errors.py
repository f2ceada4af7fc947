"""One exception class per kind of failure, each with a stable code and an exit code.

Every ``tap`` command runs inside the same error reporting (``tap_cicd.cli.reported``): a
``TapError`` prints ``error: <message>`` (always one line) on stderr and exits with its
``exit_code``; any other exception is a bug in tap and exits with ``InternalError.exit_code``
after its traceback. ``EXIT_CODES`` is the whole list; the README mirrors it.
"""

from __future__ import annotations

from typing import NamedTuple


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


class UsageError(TapError):
    """A command-line value is malformed."""

    code = "usage"
    exit_code = 2


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
    """The local emulator cannot be started (its port is taken, or it does not come up)."""

    code = "emulator_unavailable"
    exit_code = 6


class EmulatorLostError(EmulatorError):
    """The emulator stopped answering in the middle of a command: it died, stalled or was
    stopped (a botocore connection error or timeout at the local target's boundary)."""

    code = "emulator_lost"
    exit_code = 6


class DeployError(TapError):
    """An AWS call failed in the middle of a deploy or destroy; the state matches what exists."""

    code = "deploy_failed"
    exit_code = 7


class TargetError(TapError):
    """The chosen target cannot be used here (for example, no Pulumi CLI for ``--target aws``)."""

    code = "target_unavailable"
    exit_code = 8


class PolicyError(TapError):
    """``tap check`` found a mandatory policy failure: the stack must not ship."""

    code = "policy_failed"
    exit_code = 9


class OwnershipError(TapError):
    """A resource tap would create or delete is not provably this stack's: its name is held by
    another stack, or by something tap does not know."""

    code = "not_owned"
    exit_code = 10


class RunFailedError(TapError):
    """``tap run``: the execution did not succeed, or no execution started."""

    code = "run_failed"
    exit_code = 11


class RunTimeoutError(TapError):
    """``tap run`` stopped waiting (``--timeout``); the execution goes on."""

    code = "run_timeout"
    exit_code = 12


class InternalError(TapError):
    """An exception tap did not expect (``TypeError``, ``KeyError``, ...): a bug in tap.

    Never raised; the CLI reports any such exception with its traceback under this code."""

    code = "internal_error"
    exit_code = 70  # EX_SOFTWARE in sysexits.h


INTERRUPTED = 130
"""The exit code of a command stopped by Ctrl-C (as shells report a SIGINT)."""


class ExitCode(NamedTuple):
    """One row of the exit-code table."""

    exit_code: int
    code: str
    """The error class's ``code`` (``-`` where no ``TapError`` is involved)."""
    meaning: str


EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(0, "-", "success"),
    ExitCode(1, "-", "tap emulator status: the emulator is not running, or not answering"),
    ExitCode(2, "-", "a usage error from the command line parser (unknown option, bad --target)"),
    ExitCode(2, UsageError.code, "a malformed -c, stack name, TAP_EMULATOR_PORT or stack file"),
    ExitCode(2, ConfigError.code, "a config value breaks a rule"),
    ExitCode(2, "policy_exemption_invalid", "a policy exemption without a reason or rule"),
    ExitCode(3, StateError.code, "a stack's state file is corrupted"),
    ExitCode(4, UnknownStackError.code, "no such stack"),
    ExitCode(5, LockError.code, "the stack is locked by another tap up or tap destroy"),
    ExitCode(6, EmulatorError.code, "the emulator's port is in use, or it does not start"),
    ExitCode(6, EmulatorLostError.code, "the emulator stopped answering (died, stalled, stopped)"),
    ExitCode(7, DeployError.code, "an AWS call failed in the middle of a deploy or destroy"),
    ExitCode(8, TargetError.code, "--target aws cannot run here (no or an old Pulumi CLI)"),
    ExitCode(9, PolicyError.code, "tap check: a mandatory policy rule failed"),
    ExitCode(
        10, OwnershipError.code, "tap up would take a resource another stack (or no stack) owns"
    ),
    ExitCode(
        11,
        RunFailedError.code,
        "tap run: the execution failed or stopped (the failing stage, action and reason), "
        "or no execution started",
    ),
    ExitCode(
        12, RunTimeoutError.code, "tap run: --timeout stopped the wait; the execution goes on"
    ),
    ExitCode(70, InternalError.code, "a bug in tap: the traceback is printed"),
    ExitCode(INTERRUPTED, "-", "interrupted (Ctrl-C)"),
)
"""Every exit code of ``tap``, with the error code behind it. ``policy_exemption_invalid``
is ``tap_cicd.policy.exemptions.ExemptionError`` (it cannot be imported here)."""


def markdown_table() -> str:
    """``EXIT_CODES`` as the Markdown table the README shows."""
    lines = ["| Exit code | Error code | Meaning |", "| --- | --- | --- |"]
    for row in EXIT_CODES:
        code = "-" if row.code == "-" else f"`{row.code}`"
        lines.append(f"| {row.exit_code} | {code} | {row.meaning} |")
    return "\n".join(lines) + "\n"
