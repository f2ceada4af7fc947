"""How every ``tap`` command reports failure: a ``TapError`` is one line on stderr and its exit
code; any other exception is a bug, shown with its traceback (exit code 70); Ctrl-C exits 130."""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from tap_cicd.errors import INTERRUPTED, InternalError, TapError

PASSED_THROUGH = (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError)
"""How typer ends a command on purpose (exit codes, usage errors), and a closed stdout
(``tap preview --json | head``), which typer ends quietly: not tap's to report."""


@contextmanager
def interrupts() -> Iterator[list[int]]:
    """Note every Ctrl-C (then interrupt as Python does): Pulumi's engine can turn the
    KeyboardInterrupt into another exception, which is then no bug of tap's."""
    seen: list[int] = []

    def note(signum: int, frame: Any) -> None:
        seen.append(signum)
        signal.default_int_handler(signum, frame)

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def reported() -> Iterator[None]:
    """The one error reporting of every command: a ``TapError`` is one line on stderr and its
    exit code; any other exception is a bug, shown with its traceback (exit code 70)."""
    with interrupts() as interrupted:
        try:
            yield
        except TapError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except PASSED_THROUGH:
            raise
        except Exception as error:  # noqa: BLE001 - reported with its traceback, not swallowed
            if interrupted:
                raise typer.Exit(INTERRUPTED) from None
            report_bug(error)


def report_bug(error: Exception) -> NoReturn:
    """The traceback, then one ``internal_error`` line, then exit code 70."""
    traceback.print_exception(error, file=sys.stderr)
    internal = InternalError(
        f"internal error: {type(error).__name__}: {error} "
        "(a bug in tap: please report it with the traceback above)"
    )
    typer.echo(f"error: {internal}", err=True)
    raise typer.Exit(internal.exit_code) from None


class ReportedGroup(TyperGroup):
    """The ``tap`` group: every command and subcommand runs inside ``reported()``."""

    def invoke(self, ctx: Any) -> Any:  # typer's click Context (its module is private)
        """Run the chosen (sub)command, with tap's error reporting around it."""
        with reported():
            return super().invoke(ctx)
