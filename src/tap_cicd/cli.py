"""The ``tap`` command: deploy, preview, destroy and inspect a stack; run the local emulator."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.tree import Tree

from tap_cicd.config import ENV_VARS, Settings, read_raw
from tap_cicd.errors import UsageError
from tap_cicd.local import DEFAULT_PORT, DEFAULT_REGION
from tap_cicd.local.summary import OPERATIONS, UNCHANGED, Event, Summary
from tap_cicd.reporting import ReportedGroup

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


class Target(StrEnum):
    """Where ``up``, ``preview`` and ``destroy`` deploy."""

    LOCAL = "local"
    AWS = "aws"


DEFAULT_STACK = "dev"
OUTPUTS_FILE = Path("cfn-outputs") / "flat-outputs.json"

StackOption = Annotated[str, typer.Option("--stack", "-s", help="Stack name.")]
ConfigOption = Annotated[
    list[str] | None,
    typer.Option("--config", "-c", help="Config value key=value (namespace tap: optional)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
TargetOption = Annotated[
    Target, typer.Option("--target", "-t", help="local (the emulator) or aws (Pulumi's engine).")
]
PortOption = Annotated[
    int | None,
    typer.Option("--port", help="Emulator port on 127.0.0.1 (0: any free port; default 4566)."),
]


def home() -> Path:
    """Where tap keeps the emulator's pid and the stacks' state (``TAP_HOME``, default .tap)."""
    return Path(os.environ.get("TAP_HOME", ".tap"))


def outputs_file() -> Path:
    """Where the flat outputs go (``TAP_OUTPUTS_FILE``, default cfn-outputs/flat-outputs.json)."""
    return Path(os.environ.get("TAP_OUTPUTS_FILE", str(OUTPUTS_FILE)))


def default_port() -> int:
    """The emulator port (``TAP_EMULATOR_PORT``, default 4566)."""
    value = os.environ.get("TAP_EMULATOR_PORT", str(DEFAULT_PORT))
    if not value.isdigit() or int(value) > 65535:
        raise UsageError(f"invalid TAP_EMULATOR_PORT '{value}': expected a port number 0-65535")
    return int(value)


def parse_config(pairs: list[str] | None, stack: str) -> dict[str, str]:
    """``Pulumi.<stack>.yaml``'s values, overridden by ``-c key=value``; keys as ``tap:key``."""
    return {**stack_file_config(stack), **overrides(pairs)}


def overrides(pairs: list[str] | None) -> dict[str, str]:
    """The ``-c key=value`` pairs, keys namespaced (``tap:`` unless they name one)."""
    values = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid -c '{pair}': expected key=value")
        values[key if ":" in key else f"tap:{key}"] = value
    return values


def stack_file_config(stack: str) -> dict[str, str]:
    """The ``config:`` of ``Pulumi.<stack>.yaml`` in the current directory, if there is one."""
    path = Path(f"Pulumi.{stack}.yaml")
    if not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        problem = " ".join(str(error).split())
        raise UsageError(f"{path} is not valid YAML: {problem}") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"{path}: expected a mapping with a 'config' key")
    config = loaded.get("config") or {}
    if not isinstance(config, dict):
        raise UsageError(f"{path}: 'config' must be a mapping")
    return {
        str(k): v if isinstance(v, str) else json.dumps(v)
        for k, v in config.items()
        if isinstance(v, str | int | float | bool | list | dict)
    }


def tap_values(config: Mapping[str, str]) -> dict[str, str | None]:
    """The ``tap:`` keys without their namespace, with the environment filling the gaps."""
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("tap:")}
    unknown = sorted(set(raw) - set(ENV_VARS))
    values = read_raw(raw.get)
    values.update({key: raw[key] for key in unknown})  # so validation names them
    return values


def validate(config: Mapping[str, str]) -> Settings:
    """Validate the tap config before anything starts (the program validates it again)."""
    return Settings.from_raw(tap_values(config))


def region_of(config: Mapping[str, str]) -> str:
    """``aws:region`` from the config, or the local default."""
    return config.get("aws:region", DEFAULT_REGION)


def write_outputs(outputs: Mapping[str, Any]) -> Path:
    """Write the outputs flat (``{"name": value}``) where the integration tests read them."""
    path = outputs_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in outputs.items()}
    path.write_text(json.dumps(flat, indent=2, sort_keys=True) + "\n")
    return path


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


@app.command()
def up(
    stack: StackOption = DEFAULT_STACK,
    target: TargetOption = Target.LOCAL,
    config: ConfigOption = None,
    as_json: JsonOption = False,
    port: PortOption = None,
) -> None:
    """Deploy the stack, then print its outputs and write them to cfn-outputs/flat-outputs.json."""
    console = Console(soft_wrap=True)
    values = parse_config(config, stack)
    validate(values)
    if target is Target.AWS:
        from tap_cicd import aws_target

        # The engine reads Pulumi.<stack>.yaml itself: hand it only the -c overrides.
        outputs = aws_target.up(Path.cwd(), stack, overrides(config), console.print)
        summary = Summary(outputs=outputs)
    else:
        from tap_cicd.local.target import LocalTarget, project_program

        summary = LocalTarget(home(), region_of(values)).up(
            stack,
            project_program(Path.cwd()),
            values,
            progress(console, as_json),
            port if port is not None else default_port(),
        )
    path = write_outputs(summary.outputs)
    print_result(console, summary, as_json)
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
        from tap_cicd.local.target import LocalTarget

        summary = LocalTarget(home()).destroy(stack, progress(console, as_json))
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
) -> None:
    """Show the resource tree the program declares (offline: no emulator, no credentials)."""
    console = Console(soft_wrap=True)
    values = parse_config(config, stack)
    settings = validate(values)
    if target is Target.AWS:
        from tap_cicd import aws_target

        aws_target.preview(Path.cwd(), stack, overrides(config), console.print)
        return
    graph = offline_graph(settings, region_of(values), stack)
    if as_json:
        typer.echo(json.dumps(graph_json(graph), indent=2, default=str))
        return
    console.print(resource_tree(graph))
    custom = sum(1 for n in graph.nodes if n.custom)
    console.print(
        f"{len(graph.nodes)} resources ({custom} AWS resources, "
        f"{len(graph.nodes) - custom} components) would be created.",
        highlight=False,
    )


@app.command()
def check(
    stack: StackOption = DEFAULT_STACK,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check the program against the security baseline, offline; exit 9 on a mandatory failure."""
    from tap_cicd.policy.command import run_check

    values = parse_config(config, stack)
    validate(values)
    run_check(tap_values(values), as_json, sys.stdout)


def offline_graph(settings: Settings, region: str, stack: str) -> Any:
    """The program's graph, as ``pulumi preview`` would see it."""
    from tap_cicd import graph
    from tap_cicd.stack import TapStack, TapStackArgs

    return graph.run(
        lambda: TapStack("tap", TapStackArgs(settings)).outputs(),
        region=region,
        stack=stack,
    )


def graph_json(graph: Any) -> dict[str, Any]:
    """The whole graph, with inputs, as JSON-able data."""
    return {
        "resources": [
            {
                "urn": n.urn,
                "type": n.type,
                "name": n.name,
                "parent": n.parent,
                "custom": n.custom,
                "inputs": n.inputs,
            }
            for n in graph.nodes
        ],
        "outputs": graph.outputs,
    }


def resource_tree(graph: Any) -> Tree:
    """Type and name of every resource, under its parent."""
    root = Tree("[bold]stack[/bold]")
    branches: dict[str, Tree] = {}
    for node in graph.nodes:
        parent = branches.get(node.parent or "", root)
        branches[node.urn] = parent.add(f"{node.type} [bold]{node.name}[/bold]")
    return root


@emulator_app.command("start")
def emulator_start(port: PortOption = None) -> None:
    """Start the emulator in the background on 127.0.0.1 (a no-op when it runs)."""
    from tap_cicd.local.emulator import Emulator

    info, started = Emulator(home()).start(port if port is not None else default_port())
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
    """Say whether the emulator runs, and where (exit code 1 when it does not)."""
    from tap_cicd.local.emulator import Emulator

    info = Emulator(home()).info()
    if info is None:
        typer.echo("emulator is not running")
        raise typer.Exit(1)
    typer.echo(f"emulator running at {info.endpoint} (pid {info.pid})")
