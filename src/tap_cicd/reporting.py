"""How every ``tap`` command reports: progress and results on stdout; a ``TapError`` as one line
on stderr and its exit code; any other exception as a bug, with its traceback (exit code 70);
Ctrl-C as one line saying what a rerun does (exit code 130)."""

from __future__ import annotations

import json
import signal
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from typer.core import TyperGroup

from tap_cicd.errors import INTERRUPTED, InternalError, TapError
from tap_cicd.local.summary import OPERATIONS, UNCHANGED, Event, Summary

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


RESUMED_BY = {"up": "tap up", "destroy": "tap destroy"}
"""The commands whose state keeps what an interrupted run did, and what finishes the work."""


def interrupted(command: str | None) -> NoReturn:
    """One line on stderr saying what an interrupted ``command`` leaves, then exit code 130."""
    rerun = RESUMED_BY.get(command or "")
    if rerun is None:
        typer.echo("interrupted", err=True)
    else:
        typer.echo(
            f"interrupted: the state keeps what was done; run '{rerun}' to "
            f"{'resume' if command == 'up' else 'finish'}",
            err=True,
        )
    raise typer.Exit(INTERRUPTED)


@contextmanager
def reported(command: Callable[[], str | None] = lambda: None) -> Iterator[None]:
    """The one error reporting of every command: a ``TapError`` is one line on stderr and its
    exit code; any other exception is a bug, shown with its traceback (exit code 70).
    ``command`` names the command that ran (known only once it is chosen)."""
    with interrupts() as seen:
        try:
            yield
        except TapError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except PASSED_THROUGH:
            raise
        except KeyboardInterrupt:
            interrupted(command())
        except Exception as error:  # noqa: BLE001 - reported with its traceback, not swallowed
            if seen:
                interrupted(command())
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
        with reported(lambda: ctx.invoked_subcommand):
            return super().invoke(ctx)


def progress(console: Console, quiet: bool) -> Callable[[Event], None]:
    """One line per resource as it completes (unchanged ones are only counted)."""
    symbols = {"created": "+", "updated": "~", "replaced": "+-", "deleted": "-"}

    def show(event: Event) -> None:
        if quiet or event.operation == UNCHANGED:
            return
        console.print(
            f" {symbols[event.operation]:>2} {event.operation:<8} {event.type} "
            f"[bold]{event.name}[/bold] [dim]({event.seconds:.2f}s)[/dim]",
            highlight=False,
        )

    return show


def summary_line(summary: Summary) -> str:
    """Pulumi-style closing summary."""
    counts = ", ".join(f"{summary.counts[op]} {op}" for op in OPERATIONS)
    return (
        f"Resources: {counts}. Duration: {summary.seconds:.1f}s. AWS write calls: {summary.writes}."
    )


def print_result(console: Console, summary: Summary, as_json: bool, outputs: bool = True) -> None:
    """The notes, the summary and the outputs, as text or JSON."""
    if as_json:
        payload = {
            "counts": summary.counts,
            "seconds": round(summary.seconds, 3),
            "writes": summary.writes,
            "notes": summary.notes,
            "outputs": summary.outputs,
        }
        typer.echo(json.dumps(payload, indent=2, sort_keys=True))
        return
    for note in summary.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(summary_line(summary), highlight=False)
    if outputs and summary.outputs:
        console.print("Outputs:")
        for key, value in sorted(summary.outputs.items()):
            console.print(f"  {key}: {value}", highlight=False)


PLAN_SYMBOLS = {"created": "+", "updated": "~", "replaced": "+-", "deleted": "-"}
PLAN_VERBS = {"created": "create", "updated": "update", "replaced": "replace", "deleted": "delete"}


def print_plan(
    console: Console, steps: list[Event], summary: Summary, notes: list[str], as_json: bool
) -> None:
    """A plan as ``pulumi preview`` shows one: each change (names never cut, in a stable
    order: by name, deletes last) and the unchanged count; as JSON, the same plan."""
    changes = sorted(
        (s for s in steps if s.operation != UNCHANGED),
        key=lambda s: (s.operation == "deleted", s.name, s.type),
    )
    if as_json:
        payload = {
            "steps": [
                {
                    "operation": s.operation,
                    "type": s.type,
                    "name": s.name,
                    "detail": s.detail,
                    "inputs": s.inputs,
                }
                for s in changes
            ],
            "counts": summary.counts,
            "notes": notes,
        }
        typer.echo(json.dumps(payload, indent=2, sort_keys=True, default=str))
        return
    for note in notes:
        console.print(f"note: {note}", highlight=False)
    for step in changes:
        detail = f" [dim]({step.detail})[/dim]" if step.detail else ""
        console.print(
            f" {PLAN_SYMBOLS[step.operation]:>2} {PLAN_VERBS[step.operation]:<7} {step.type} "
            f"[bold]{step.name}[/bold]{detail}",
            highlight=False,
        )
    counts = summary.counts
    console.print(
        f"Plan: {counts['created']} to create, {counts['updated']} to update, "
        f"{counts['replaced']} to replace, {counts['deleted']} to delete, "
        f"{counts['unchanged']} unchanged.",
        highlight=False,
    )
