"""``tap config``: a stack's config in ``Pulumi.<stack>.yaml``, kept as ``pulumi config`` keeps it.

``set`` validates the whole resulting config (the stack name as the default suffix, the
environment filling the gaps: what ``tap up`` would see) before it writes anything; the one
exception is a GitHub source set key by key (``source``, then ``connectionArn``, then
``repository``), which is written with a note saying what it still lacks. ``get``
of a key the file does not set is one line on stderr and exit code 2 (``usage``: the default
or the environment applies). ``rm`` never refuses, so that a broken key can always be
removed (the next command validates what is left); ``rm`` of a key that is not set is no
error. A ``-c key=value`` of another command still wins over the file, for that command.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tap_cicd import stack_file
from tap_cicd.errors import ConfigError, UsageError
from tap_cicd.stack_file import DEFAULT_STACK, JsonOption, StackOption

config_app = typer.Typer(
    help="Read and write a stack's config (Pulumi.<stack>.yaml, in Pulumi's format).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

KeyArgument = Annotated[
    str,
    typer.Argument(help="Config key, namespace tap: optional (environmentSuffix, aws:region)."),
]
ValueArgument = Annotated[str, typer.Argument(help="The value (a string, as Pulumi keeps it).")]
GITHUB_REQUIRED = ("connectionArn", "repository")
"""What ``source github`` requires: ``set`` writes the keys one by one, so a config that
lacks only these is written, with a note."""


@config_app.command("set")
def config_set(key: KeyArgument, value: ValueArgument, stack: StackOption = DEFAULT_STACK) -> None:
    """Set KEY to VALUE in Pulumi.<stack>.yaml once the whole resulting config validates."""
    full = stack_file.namespaced(key)
    config = {**stack_file.read_config(stack), full: value}
    try:
        stack_file.validate(config, stack)
    except ConfigError as error:
        # A GitHub source is set one key at a time: what it still lacks is said, not refused.
        if error.key not in GITHUB_REQUIRED or stack_file.qualified(error.key) in config:
            raise
        typer.echo(f"note: the config is not complete yet: {error}", err=True)
    stack_file.write_value(stack, full, value)
    typer.echo(f"set {full} in {stack_file.path_of(stack)}")


@config_app.command("get")
def config_get(key: KeyArgument, stack: StackOption = DEFAULT_STACK) -> None:
    """Print the value Pulumi.<stack>.yaml sets for KEY; exit code 2 when it sets none."""
    full = stack_file.namespaced(key)
    config = stack_file.read_config(stack)
    if full not in config:
        raise UsageError(
            f"config '{full}' is not set in {stack_file.path_of(stack)}: its default or "
            "environment variable applies"
        )
    typer.echo(config[full])


@config_app.command("rm")
def config_rm(key: KeyArgument, stack: StackOption = DEFAULT_STACK) -> None:
    """Remove KEY from Pulumi.<stack>.yaml (no error when it is not set)."""
    full = stack_file.qualified(key)
    path = stack_file.path_of(stack)
    if stack_file.write_value(stack, full, None):
        typer.echo(f"removed {full} from {path}")
    else:
        typer.echo(f"{full} is not set in {path}: nothing to remove")


@config_app.command("list")
def config_list(stack: StackOption = DEFAULT_STACK, as_json: JsonOption = False) -> None:
    """Every key Pulumi.<stack>.yaml sets, with its value."""
    config = stack_file.read_config(stack)
    if as_json:
        typer.echo(json.dumps(config, indent=2))
        return
    if not config:
        typer.echo(f"{stack_file.path_of(stack)} sets no config")
    width = max(map(len, config), default=0)
    for key, value in config.items():
        typer.echo(f"{key:<{width}}  {value}")
