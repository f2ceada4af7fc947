"""``tap run``: start one execution of the deployed local stack's pipeline from a source, and
show it as it happens."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from tap_cicd.errors import UnknownStackError, UsageError
from tap_cicd.stack_file import DEFAULT_STACK, JsonOption, StackOption

DEFAULT_TIMEOUT = 900.0


def check_timeout(value: float) -> float:
    """``--timeout``: a positive number of seconds (one line, not click's usage block)."""
    if not value > 0:
        raise UsageError(f"invalid --timeout {value:g}: expected a number of seconds above 0")
    return value


SourceOption = Annotated[
    Path,
    typer.Option(
        "--source",
        help="A directory (zipped as 'docker build' sends it, honouring .dockerignore) "
        "or a .zip file.",
    ),
]
ApproveOption = Annotated[
    bool, typer.Option("--approve", help="Approve a manual approval without asking.")
]
RejectOption = Annotated[
    bool, typer.Option("--reject", help="Reject a manual approval without asking.")
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        help="Stop waiting after this many seconds (the execution goes on).",
        callback=check_timeout,
    ),
]


def read_record(endpoint: str, name: str) -> list[dict[str, Any]] | None:
    """One of the emulator's records (``/_tap/<name>``, its list under the last part of the
    name): ``events/deliveries``, ``iam/denials``; ``None`` when it does not answer."""
    request = urllib.request.Request(  # noqa: S310 - the emulator's loopback URL
        f"{endpoint}/_tap/{name}",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return list(json.loads(response.read())[name.rsplit("/", 1)[-1]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_deliveries(endpoint: str) -> list[dict[str, Any]] | None:
    """The emulator's record of EventBridge's deliveries; ``None`` when it does not answer."""
    return read_record(endpoint, "events/deliveries")


def dropped_notifications(endpoint: str) -> list[dict[str, Any]]:
    """The dropped deliveries of CodePipeline's state-change events (the notifications)."""
    return [
        item
        for item in read_deliveries(endpoint) or []
        if item.get("outcome") == "dropped"
        and str(item.get("detail-type", "")).startswith("CodePipeline ")
    ]


def delivery_hint(endpoint: str) -> Callable[[str], str]:
    """Why an upload started nothing, as far as the emulator recorded the rule's deliveries
    (its ``/_tap/events/deliveries``): none at all, or a last one that failed."""

    def hint(rule: str) -> str:
        deliveries = read_deliveries(endpoint)
        if deliveries is None:
            return ""
        mine = [d for d in deliveries if str(d.get("rule", "")).endswith(f"/{rule}")]
        if not mine:
            return " (no S3 event reached it)"
        last = mine[-1]
        if last.get("outcome") == "delivered":
            return ""
        return f" (its last delivery was {last.get('outcome')}: {last.get('reason')})"

    return hint


def run_command(  # noqa: PLR0917 - one parameter per option of the command
    stack: StackOption = DEFAULT_STACK,
    path: SourceOption = Path(),
    approve: ApproveOption = False,
    reject: RejectOption = False,
    as_json: JsonOption = False,
    timeout: TimeoutOption = DEFAULT_TIMEOUT,
) -> None:
    """Run the stack's pipeline once on the emulator: upload the source, then follow the
    execution stage by stage (the build's log streamed) until it ends.

    Exit 0 when it succeeded; 11 when it failed (the failing stage, action and reason) or did
    not start; 12 when --timeout stopped the wait (the execution goes on).
    """
    # Imported here, as cli.py imports per command: every tap command starts without them.
    from tap_cicd import cli  # noqa: PLC0415
    from tap_cicd.local import emulator, run, run_view, source, state  # noqa: PLC0415

    if approve and reject:
        raise UsageError("--approve and --reject exclude each other: give one")
    deployed = state.StateStore(cli.home()).load(stack)
    target = source.RunTarget.from_outputs(stack, deployed.outputs)
    data = source.package(path)
    local = emulator.Emulator(cli.home())
    info = local.running()
    if info is None:
        raise not_deployed(stack, "the emulator is not running")
    clients = emulator.Emulator.clients(info, deployed.region)
    with local.answering(clients), run.refused(target.pipeline):
        if emulator.instance_id(clients) != deployed.emulator:
            raise not_deployed(stack, "the emulator was restarted since it was deployed")
        stages = run.declaration(clients, target.pipeline)
        if not (approve or reject or sys.stdin.isatty()):
            no_one_to_ask(target.pipeline, stages)
        with run_view.view_for(as_json) as view:
            seen = len(read_record(info.endpoint, "iam/denials") or [])
            execution_id, uploaded = source.upload(
                clients, target, data, hint=delivery_hint(info.endpoint)
            )
            view.event(
                run.Note(
                    f"uploaded s3://{target.bucket}/{uploaded['key']} "
                    f"({uploaded['bytes']} bytes, version {uploaded['versionId']})"
                )
            )
            result = run.RunResult(target.pipeline, execution_id, stages, source=uploaded)

            def decide(stage: str, action: str, message: str) -> bool:
                return approve if approve or reject else view.ask(stage, action, message)

            follower = run.Follower(clients, result, view.event, decide, logs=not as_json)
            follower.follow(timeout)
            result.dropped = dropped_notifications(info.endpoint)
            result.denied = (read_record(info.endpoint, "iam/denials") or [])[seen:]
            view.finished(result)
    for dropped in [] if as_json else result.dropped:
        typer.echo(f"warning: notification dropped: {dropped.get('reason')}", err=True)
    for denied in [] if as_json else result.denied:
        typer.echo(f"warning: access denied: {denied.get('message')}", err=True)
    error = result.error()
    if error is not None:
        raise error


def no_one_to_ask(pipeline: str, stages: list[Any]) -> None:
    """Refuse, before anything starts, a pipeline with a manual approval when there is neither
    --approve nor --reject nor a terminal to ask on: its execution could only wait, and in
    QUEUED mode hold up every later one."""
    for stage in stages:
        for action in stage.actions:
            if action.category == "Approval":
                raise UsageError(
                    f"pipeline {pipeline} waits for a manual approval ({stage.name}/"
                    f"{action.name}) and there is no terminal to ask: run with --approve or "
                    "--reject"
                )


def not_deployed(stack: str, why: str) -> UnknownStackError:
    """The stack has state but nothing of it is in the emulator."""
    return UnknownStackError(
        f"stack '{stack}' is not deployed: {why}; deploy it with 'tap up --stack {stack}'"
    )
