"""The ``tap`` command: deploy, preview, destroy and inspect a stack; run the local emulator."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from enum import StrEnum
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from tap_cicd import stack_file
from tap_cicd.config import Settings
from tap_cicd.config_command import config_app
from tap_cicd.errors import UsageError
from tap_cicd.local.summary import Summary
from tap_cicd.reporting import ReportedGroup, print_plan, print_result, progress
from tap_cicd.run_command import run_command
from tap_cicd.stack_file import DEFAULT_STACK, JsonOption, StackOption, region_of, tap_values

# Commands import what only they need (boto3, the Pulumi engine and program, the policy
# pack, and the Automation API only for --target aws) in their bodies, so that every tap
# command starts without loading all of it.

# rich_markup_mode=None: click's plain usage errors, whose last line is "Error: <message>",
# instead of a box wrapped at the terminal's width.
app = typer.Typer(
    cls=ReportedGroup,
    help="Deploy tap's CI/CD pipeline stack: to the embedded AWS emulator (default) or to AWS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
emulator_app = typer.Typer(
    help="Start, stop or inspect the local AWS emulator.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(emulator_app, name="emulator")
app.add_typer(config_app, name="config")


def show_version(wanted: bool) -> None:
    """``--version``: the installed distribution's version."""
    if wanted:
        typer.echo(f"tap {version('tap-cicd')}")
        raise typer.Exit


@app.callback()
def main(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=show_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Deploy tap's CI/CD pipeline stack: to the embedded AWS emulator (default) or to AWS."""


class Target(StrEnum):
    """Where ``up``, ``preview`` and ``destroy`` deploy."""

    LOCAL = "local"
    AWS = "aws"


OUTPUTS_FILE = Path("cfn-outputs") / "flat-outputs.json"


def check_port(value: int | None) -> int | None:
    """``--port``: 0-65535 (one line, not click's usage block)."""
    if value is not None and not 0 <= value <= 65535:
        raise UsageError(f"invalid --port {value}: expected a port number 0-65535")
    return value


ConfigOption = Annotated[
    list[str] | None,
    typer.Option("--config", "-c", help="Config value key=value (namespace tap: optional)."),
]
TargetOption = Annotated[
    Target, typer.Option("--target", "-t", help="local (the emulator) or aws (Pulumi's engine).")
]
RefreshOption = Annotated[
    bool,
    typer.Option(
        "--refresh/--no-refresh",
        help="Read the stack's resources back first (what was deleted or changed outside tap).",
    ),
]
PortOption = Annotated[
    int | None,
    typer.Option(
        "--port",
        help="Emulator port on 127.0.0.1 (0: any free port; default: the running one's or 4566).",
        callback=check_port,
    ),
]


def home() -> Path:
    """Where tap keeps the emulator's pid and the stacks' state (``TAP_HOME``, default .tap);
    a file there is refused before anything runs."""
    path = Path(os.environ.get("TAP_HOME", ".tap"))
    stack_file.check_writable(path, "TAP_HOME", directory=True)
    return path


def outputs_file() -> Path:
    """Where the flat outputs go (``TAP_OUTPUTS_FILE``, default cfn-outputs/flat-outputs.json)."""
    return Path(os.environ.get("TAP_OUTPUTS_FILE", str(OUTPUTS_FILE)))


def default_port() -> int | None:
    """The emulator port from ``TAP_EMULATOR_PORT``; ``None`` when unset (the running
    emulator's, or 4566)."""
    value = os.environ.get("TAP_EMULATOR_PORT")
    # ASCII digits only: str.isdigit also accepts "⁴⁶⁴¹", which int() refuses.
    if value is not None and (not re.fullmatch(r"[0-9]{1,5}", value) or int(value) > 65535):
        raise UsageError(f"invalid TAP_EMULATOR_PORT '{value}': expected a port number 0-65535")
    return None if value is None else int(value)


def parse_config(pairs: list[str] | None, stack: str) -> dict[str, str]:
    """``Pulumi.<stack>.yaml``'s values, overridden by ``-c key=value``; keys as ``tap:key``."""
    return {**stack_file.read_config(stack), **overrides(pairs)}


def overrides(pairs: list[str] | None) -> dict[str, str]:
    """The ``-c key=value`` pairs, keys namespaced (``tap:`` unless they name one) and known."""
    values = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid -c '{pair}': expected key=value")
        values[stack_file.namespaced(key)] = value
    return values


def validate(config: Mapping[str, str], stack: str) -> Settings:
    """Validate the config before anything starts (the program validates it again)."""
    return stack_file.validate(config, stack)


def write_outputs(outputs: Mapping[str, Any], stack: str) -> tuple[Path, str | None]:
    """Write the outputs flat (``{"name": value}``) where the integration tests read them, as
    ``stack``'s; returns the file and the stack it described before, when another one."""
    path = outputs_file()
    return path, stack_file.write_outputs(path, outputs, stack)


@app.command()
def up(  # noqa: PLR0917 - one parameter per option of the command
    stack: StackOption = DEFAULT_STACK,
    target: TargetOption = Target.LOCAL,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    port: PortOption = None,
    refresh: RefreshOption = True,
) -> None:
    """Refresh, plan and deploy the stack; print its outputs and write them to the outputs file.

    Stops before any write when a resource it would create belongs to another stack (exit 10).
    """
    console = Console(soft_wrap=True)
    values = parse_config(config, stack)
    validate(values, stack)
    # Every local path is checked before the first write, not after the whole deploy.
    stack_file.check_writable(outputs_file(), "the outputs file (TAP_OUTPUTS_FILE)")
    if target is Target.AWS:
        from tap_cicd import aws_target

        # The engine reads Pulumi.<stack>.yaml itself: hand it only the -c overrides.
        outputs = aws_target.up(Path.cwd(), stack, overrides(config), console.print)
        summary = Summary(outputs=outputs)
    else:
        from tap_cicd.local.target import LocalTarget, project_program

        def starting(chosen: int) -> None:
            typer.echo(f"starting the emulator on 127.0.0.1:{chosen}", err=as_json)

        summary = LocalTarget(home(), region_of(values)).up(
            stack,
            project_program(Path.cwd()),
            values,
            progress(console, as_json),
            port if port is not None else default_port(),
            refresh=refresh,
            on_start=starting,
        )
    path, before = write_outputs(summary.outputs, stack)
    print_result(console, summary, as_json)
    if before is not None:
        note = f"note: {path} now describes stack '{stack}' (it described '{before}')"
        typer.echo(note, err=as_json)  # stdout stays JSON
    if not as_json:
        console.print(f"Outputs written to {path}", highlight=False)


@app.command()
def destroy(
    stack: StackOption = DEFAULT_STACK,
    target: TargetOption = Target.LOCAL,
    as_json: JsonOption = False,
) -> None:
    """Delete every resource of the stack (dependents first) and forget it."""
    console = Console(soft_wrap=True)
    if target is Target.AWS:
        from tap_cicd import aws_target

        aws_target.destroy(Path.cwd(), stack, console.print)
        summary = Summary()
    else:
        from tap_cicd.local.state import StateStore
        from tap_cicd.local.target import LocalTarget

        if StateStore(home()).exists(stack):
            summary = LocalTarget(home()).destroy(stack, progress(console, as_json))
        else:
            summary = Summary(notes=[f"nothing to destroy: stack '{stack}' has no state"])
    if stack_file.remove_outputs(outputs_file(), stack):
        summary.notes.append(f"removed {outputs_file()}: it described stack '{stack}'")
    print_result(console, summary, as_json, outputs=False)


@app.command()
def outputs(stack: StackOption = DEFAULT_STACK, as_json: JsonOption = False) -> None:
    """Print the outputs of the stack's last local deploy."""
    from tap_cicd.local.target import LocalTarget

    values = LocalTarget(home()).outputs(stack)
    if as_json:
        typer.echo(json.dumps(values, indent=2, sort_keys=True))
    else:
        for key, value in sorted(values.items()):
            typer.echo(f"{key}: {value}")


@app.command()
def preview(
    stack: StackOption = DEFAULT_STACK,
    target: TargetOption = Target.LOCAL,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    refresh: RefreshOption = True,
) -> None:
    """Show what 'tap up' would do (+ create, ~ update, +- replace, - delete), writing nothing.

    The plan is made against the stack's state, refreshed from the emulator; a stack without
    state is planned offline (no emulator, no credentials).
    """
    console = Console(soft_wrap=True)
    values = parse_config(config, stack)
    validate(values, stack)
    if target is Target.AWS:
        from tap_cicd import aws_target

        aws_target.preview(Path.cwd(), stack, overrides(config), console.print)
        return
    from tap_cicd.local.target import LocalTarget, project_program

    target_ = LocalTarget(home(), region_of(values))
    plan = target_.preview(stack, project_program(Path.cwd()), values, refresh=refresh)
    print_plan(console, plan.steps, plan.summary, plan.notes, as_json)


@app.command()
def refresh(stack: StackOption = DEFAULT_STACK, as_json: JsonOption = False) -> None:
    """Read every resource of the stack back: forget what is gone, report what changed."""
    from tap_cicd.local.target import LocalTarget

    notes = LocalTarget(home()).refresh(stack)
    if as_json:
        typer.echo(json.dumps({"notes": notes}, indent=2))
        return
    for note in notes or [f"stack '{stack}' matches its state: nothing changed outside tap"]:
        typer.echo(note)


@app.command()
def check(
    stack: StackOption = DEFAULT_STACK,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    access: Annotated[
        bool,
        typer.Option(
            "--access",
            help="Instead: authorize every call of the pipeline's path as AWS would (exit 9 on "
            "a denied one), and list the allowed actions no call needs.",
        ),
    ] = False,
) -> None:
    """Check the program against the security baseline, offline; exit 9 on a mandatory failure."""
    from tap_cicd.policy.command import run_check

    values = parse_config(config, stack)
    settings = validate(values, stack)
    raw = {**tap_values(values), "environmentSuffix": settings.environment_suffix}
    if access:
        from tap_cicd.access.static import run_access_check

        run_access_check(raw, as_json, sys.stdout)
        return
    run_check(raw, as_json, sys.stdout)


@emulator_app.command("start")
def emulator_start(port: PortOption = None) -> None:
    """Start the emulator in the background on 127.0.0.1 (a no-op when it runs)."""
    from tap_cicd.local.emulator import Emulator

    info, started = Emulator(home()).start(
        port if port is not None else default_port(),
        on_start=lambda chosen: typer.echo(f"starting the emulator on 127.0.0.1:{chosen}"),
    )
    state = "started" if started else "already running"
    typer.echo(f"emulator {state} at {info.endpoint} (pid {info.pid})")


@emulator_app.command("stop")
def emulator_stop() -> None:
    """Stop the emulator (its resources are gone with it)."""
    from tap_cicd.local.emulator import Emulator

    info = Emulator(home()).stop()
    typer.echo(f"emulator stopped (pid {info.pid})" if info else "emulator is not running")


@emulator_app.command("status")
def emulator_status() -> None:
    """Say whether the emulator runs, and where (exit code 1 when it does not, or stalls)."""
    from tap_cicd.local.emulator import Emulator

    emulator = Emulator(home())
    status, info = emulator.status(), emulator.info()
    if info is None or status == "stopped":
        typer.echo("emulator is not running")
        raise typer.Exit(1)
    if status == "stalled":
        typer.echo(
            f"emulator stalled at {info.endpoint} (pid {info.pid}): not answering; "
            "'tap emulator stop' kills it"
        )
        raise typer.Exit(1)
    typer.echo(f"emulator running at {info.endpoint} (pid {info.pid})")


app.command("run")(run_command)
