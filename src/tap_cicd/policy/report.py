"""The results as a plain-text table or as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tap_cicd.policy.engine import Result

HEADERS = ("rule", "level", "resource", "status", "reason")


def rows(results: Sequence[Result]) -> list[tuple[str, str, str, str, str]]:
    """One row per result."""
    return [(r.rule.id, r.rule.level, r.resource, r.status, r.reason) for r in results]


def summary(results: Sequence[Result]) -> dict[str, int]:
    """Counts by status, and the mandatory failures."""
    counts = {
        status: sum(r.status == status for r in results) for status in ("pass", "fail", "exempt")
    }
    return {**counts, "blocking": sum(r.blocking for r in results)}


def docs(refs: Sequence[str]) -> list[str]:
    """The documentation links among a rule's refs."""
    return [ref for ref in refs if ref.startswith("https://")]


def table(results: Sequence[Result]) -> str:
    """A fixed-width table with a summary line."""
    lines = [HEADERS, *rows(results)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS) - 1)]
    text = [
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(line, widths, strict=False)), line[-1]]
        ).rstrip()
        for line in lines
    ]
    counts = summary(results)
    documented = {r.rule.id: docs(r.rule.refs) for r in results if docs(r.rule.refs)}
    if documented:
        text.append("documented AWS constraints:")
        text += [f"  {rule}  {' '.join(links)}" for rule, links in documented.items()]
    text.append(
        f"{counts['pass']} passed, {counts['fail']} failed "
        f"({counts['blocking']} mandatory), {counts['exempt']} exempt"
    )
    return "\n".join(text) + "\n"


def as_json(results: Sequence[Result]) -> str:
    """The results and the summary as a JSON document."""
    document: dict[str, Any] = {
        "results": [
            {
                "rule": r.rule.id,
                "service": r.rule.service,
                "level": r.rule.level,
                "refs": list(r.rule.refs),
                "resource": r.resource,
                "type": r.type,
                "status": r.status,
                "reason": r.reason,
            }
            for r in results
        ],
        "summary": summary(results),
    }
    return json.dumps(document, indent=2) + "\n"
