"""``tap check``: the rules over the program's offline graph, as ``tap preview`` sees it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from tap_cicd import graph
from tap_cicd.config import Settings
from tap_cicd.errors import PolicyError
from tap_cicd.policy.engine import evaluate
from tap_cicd.policy.report import as_json, table


def check_graph(raw: Mapping[str, str | None]) -> graph.Graph:
    """Validate the raw config and build the program's graph offline."""
    settings = Settings.from_raw(raw)
    # Imported late: the stack modules must load after the mocks are installed.
    from tap_cicd.stack import TapStack, TapStackArgs  # noqa: PLC0415

    return graph.run(lambda: TapStack("tap", TapStackArgs(settings)).outputs())


def run_check(config: Mapping[str, str | None], as_json_output: bool, out: TextIO) -> None:
    """Print the results (table or JSON); a mandatory failure then raises ``PolicyError``."""
    results = evaluate(check_graph(config))
    out.write(as_json(results) if as_json_output else table(results))
    blocking = [r for r in results if r.blocking]
    if blocking:
        rules = ", ".join(sorted({r.rule.id for r in blocking}))
        raise PolicyError(
            f"{len(blocking)} mandatory policy failure(s), the stack must not ship: {rules}"
        )
