"""``tap check``: the rules over the program's offline graph, as ``tap preview`` sees it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from tap_cicd import graph
from tap_cicd.config import Settings
from tap_cicd.policy.engine import evaluate
from tap_cicd.policy.report import as_json, table


def check_graph(raw: Mapping[str, str | None]) -> graph.Graph:
    """Validate the raw config and build the program's graph offline."""
    settings = Settings.from_raw(raw)
    # Imported late: the stack modules must load after the mocks are installed.
    from tap_cicd.stack import TapStack, TapStackArgs  # noqa: PLC0415

    return graph.run(lambda: TapStack("tap", TapStackArgs(settings)).outputs())


def run_check(config: Mapping[str, str | None], as_json_output: bool, out: TextIO) -> int:
    """Print the results (table or JSON); 1 on any mandatory failure, else 0."""
    results = evaluate(check_graph(config))
    out.write(as_json(results) if as_json_output else table(results))
    return 1 if any(r.blocking for r in results) else 0
