"""``--target aws``: the real Pulumi engine, through the Automation API on this project.

Imported by the ``tap`` command only when ``--target aws`` is chosen.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pulumi import automation

from tap_cicd.errors import DeployError, TargetError

INSTALL_HINT = (
    "the Pulumi CLI is not installed, and --target aws runs the real engine through it: "
    "install it (curl -fsSL https://get.pulumi.com | sh), run 'pulumi login', and retry"
)


def _stack(project_dir: Path, stack: str, config: Mapping[str, str]) -> Any:
    """A local workspace on this project and stack, with the config set."""
    if shutil.which("pulumi") is None:
        raise TargetError(INSTALL_HINT)
    if not (project_dir / "Pulumi.yaml").exists():
        raise TargetError(f"no Pulumi.yaml in {project_dir}: run tap from the project directory")
    workspace_stack = automation.create_or_select_stack(stack_name=stack, work_dir=str(project_dir))
    for key, value in config.items():
        workspace_stack.set_config(key, automation.ConfigValue(value=value))
    return workspace_stack


@contextmanager
def _engine(command: str) -> Iterator[None]:
    """The engine's own failure as one line (its full output has been echoed already)."""
    try:
        yield
    except automation.CommandError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1])
        detail = detail.removeprefix("stderr:").removeprefix("stdout:").strip()
        raise DeployError(f"pulumi {command} failed: {detail}") from None
    except automation.InvalidVersionError as error:
        # The Automation API checks the CLI's version before it runs anything.
        raise TargetError(
            f"the Pulumi CLI cannot run --target aws: {error}; "
            "upgrade it (curl -fsSL https://get.pulumi.com | sh) and retry"
        ) from None


def up(
    project_dir: Path, stack: str, config: Mapping[str, str], echo: Callable[[str], None]
) -> dict[str, Any]:
    """``pulumi up``; returns the stack outputs."""
    with _engine("up"):
        result = _stack(project_dir, stack, config).up(on_output=echo)
    return {key: output.value for key, output in result.outputs.items()}


def preview(
    project_dir: Path, stack: str, config: Mapping[str, str], echo: Callable[[str], None]
) -> None:
    """``pulumi preview``."""
    with _engine("preview"):
        _stack(project_dir, stack, config).preview(on_output=echo)


def destroy(project_dir: Path, stack: str, echo: Callable[[str], None]) -> None:
    """``pulumi destroy``."""
    with _engine("destroy"):
        _stack(project_dir, stack, {}).destroy(on_output=echo)
