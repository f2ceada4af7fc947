"""How ``tap run`` shows an execution: rich progress on a terminal (stages and actions updated in
place, the logs scrolling above them), plain lines otherwise (one per change, log lines
prefixed ``  build | ``), or with ``--json`` nothing until one JSON document at the end.

A view takes ``run``'s events as they come (``event``), asks about approvals (``ask``) and
shows the result (``finished``); it is a context manager, so a live display is always closed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.prompt import Confirm
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from tap_cicd.local.run import (
    PENDING,
    ActionChanged,
    ActionResult,
    Event,
    LogLine,
    Note,
    RunResult,
    StageChanged,
    Started,
)

ICONS = {
    "Succeeded": ("✓", "green"),
    "Failed": ("✗", "red"),
    PENDING: ("·", "dim"),
}
"""Each status's mark; InProgress spins, and any other status (Stopped, Abandoned...) is a
yellow ``-``."""


def document(result: RunResult) -> dict[str, Any]:
    """The one document ``tap run --json`` prints."""
    release = result.release or {}
    return {
        "pipelineName": result.pipeline,
        "pipelineExecutionId": result.execution_id,
        "status": result.status,
        "statusSummary": result.summary,
        "seconds": round(result.seconds, 3),
        "timedOut": result.timeout is not None,
        "source": result.source,
        "stages": [
            {
                "name": stage.name,
                "status": stage.status,
                "actions": [
                    {
                        "name": action.name,
                        "status": action.status,
                        "summary": action.summary,
                        "externalExecutionId": action.external_id,
                        "outputVariables": action.variables,
                        "errorMessage": action.message,
                    }
                    for action in stage.actions
                ],
            }
            for stage in result.stages
        ],
        "failure": result.failure(),
        "imageDigest": release.get("imageDigest"),
        "release": result.release,
        "droppedDeliveries": result.dropped,
        "accessDenied": result.denied,
    }


def closing_line(result: RunResult) -> str:
    """The last line of the text views: the outcome, and for a release its digest and tag."""
    line = f"execution {result.execution_id} {result.status} after {result.seconds:.1f} s"
    if result.release:
        line += (
            f": image {result.release.get('imageDigest')}, "
            f"release {result.release.get('releaseTag')} "
            f"(version {result.release.get('releaseVersion')})"
        )
    return line


def action_line(event: ActionChanged) -> str:
    """``Stage/Action: Status`` with what the action says about itself."""
    action: ActionResult = event.action
    parts = [f"{event.stage}/{action.name}: {action.status}"]
    if action.external_id and action.status == "InProgress":
        parts.append(f"({action.external_id})")
    for said in (action.summary, action.message):
        if said:
            parts.append(f"- {said}")
    return " ".join(parts)


def ask(console: Console, stage: str, action: str, message: str, stream: TextIO) -> bool:
    """Ask on ``console`` whether to approve the waiting approval (yes or no)."""
    if message:
        console.print(Text(message))
    return Confirm.ask(f"{stage}/{action}: approve?", console=console, stream=stream)


class View:
    """Plain lines through ``write`` (one per change); approvals asked on stderr."""

    def __init__(self, write: Callable[[str], None], stdin: TextIO | None = None) -> None:
        self.write, self.stdin = write, stdin or sys.stdin

    def __enter__(self) -> View:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Nothing to close."""

    def event(self, event: Event) -> None:
        """One line for the change."""
        if isinstance(event, Started):
            stages = " -> ".join(stage.name for stage in event.result.stages)
            self.write(f"pipeline {event.result.pipeline}: execution {event.result.execution_id}")
            self.write(f"stages: {stages}")
        elif isinstance(event, StageChanged):
            self.write(f"{event.stage.name}: {event.stage.status}")
        elif isinstance(event, ActionChanged):
            self.write(action_line(event))
        elif isinstance(event, LogLine):
            self.write(f"  {event.source} | {event.text}")
        else:
            self.write(event.text)

    def ask(self, stage: str, action: str, message: str) -> bool:
        """Ask on stderr (stdout may be a pipe)."""
        return ask(Console(stderr=True), stage, action, message, self.stdin)

    def finished(self, result: RunResult) -> None:
        """The closing line."""
        self.write(closing_line(result))


class JsonView(View):
    """Nothing while the execution runs; its document at the end."""

    def event(self, event: Event) -> None:
        """Nothing: stdout holds one JSON document."""

    def finished(self, result: RunResult) -> None:
        """The document."""
        self.write(json.dumps(document(result), indent=2, sort_keys=True, default=str))


class RichView(View):
    """Stages and actions updated in place under the scrolling logs (a terminal)."""

    def __init__(self, console: Console, stdin: TextIO | None = None) -> None:
        super().__init__(lambda text: console.print(Text(text)), stdin)
        self.console = console
        self.result: RunResult | None = None
        self.spinners: dict[str, Spinner] = {}
        # Transient: the display is erased when it stops (for a question, at the end), and the
        # last state printed once, for good.
        self.live = Live(
            console=console, refresh_per_second=8, transient=True, get_renderable=self.render
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        """Close the live display."""
        self.live.stop()

    def event(self, event: Event) -> None:
        """Start the display, or print a log line or note above it."""
        if isinstance(event, Started):
            self.result = event.result
            self.live.start()
        elif isinstance(event, LogLine):
            self.console.print(Text(f"  {event.source} | ", style="dim") + Text(event.text))
        elif isinstance(event, Note):
            self.console.print(Text(event.text, style="cyan"))
        if self.result is not None:
            self.live.refresh()

    def ask(self, stage: str, action: str, message: str) -> bool:
        """Ask on the terminal, the display paused meanwhile."""
        self.live.stop()
        try:
            return ask(self.console, stage, action, message, self.stdin)
        finally:
            self.live.start()

    def finished(self, result: RunResult) -> None:
        """The last state, then the closing line."""
        self.result = result
        self.live.stop()
        self.console.print(self.render())
        mark, style = ICONS.get(result.status, ("-", "yellow"))
        self.console.print(Text(f"{mark} {closing_line(result)}", style=f"bold {style}"))

    def render(self) -> RenderableType:
        """Each stage and its actions with their state."""
        if self.result is None:
            return Text("")
        grid = Table.grid(padding=(0, 1))
        for stage in self.result.stages:
            grid.add_row(self._mark(stage.name, stage.status), Text(stage.name, style="bold"))
            for action in stage.actions:
                said = action.message or action.summary or action.external_id or ""
                text = Text(f"  {action.name} ") + Text(action.status, style="dim")
                grid.add_row(
                    self._mark(f"{stage.name}/{action.name}", action.status),
                    text + Text(f"  {said}" if said else "", style="dim"),
                )
        title = Text(f"{self.result.pipeline} · execution {self.result.execution_id}")
        return Group(title, grid)

    def _mark(self, key: str, status: str) -> RenderableType:
        if status == "InProgress":
            return self.spinners.setdefault(key, Spinner("dots", style="yellow"))
        mark, style = ICONS.get(status, ("-", "yellow"))
        return Text(mark, style=style)


def line(text: str) -> None:
    """Print one line now (stdout may be a pipe, which Python buffers)."""
    print(text, flush=True)


def view_for(as_json: bool, console: Console | None = None) -> View:
    """``--json``: the document only; a terminal: live progress; else plain lines."""
    console = console or Console()
    if as_json:
        return JsonView(line)
    return RichView(console) if console.is_terminal else View(line)
