"""``tap check --access``'s report: a plain-text table or JSON, like ``tap check``'s."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tap_cicd.access.static import Report

HEADERS = ("step", "principal", "action", "resource", "status", "reason")


def summary(report: Report) -> dict[str, int]:
    """Counts: the calls checked, allowed and denied, and the unneeded grants."""
    denied = len(report.denied)
    return {
        "calls": len(report.outcomes),
        "allowed": len(report.outcomes) - denied,
        "denied": denied,
        "unneeded": len(report.unneeded),
    }


def _columns(lines: Sequence[tuple[str, ...]]) -> list[str]:
    """Fixed-width columns, the last one unpadded."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(line, widths, strict=False)), line[-1]])
        for line in lines
    ]


def table(report: Report) -> str:
    """Every call with AWS's decision, the unneeded grants, and a summary line."""
    calls = [
        (
            o.call.step,
            o.principal,
            o.call.action,
            o.resource,
            "allow" if o.decision.allowed else "DENY",
            o.reason,
        )
        for o in report.outcomes
    ]
    text = _columns([HEADERS, *calls])
    if report.unneeded:
        text.append("least privilege: allowed, and no call of the path needs it (advisory):")
        found = [("role", "statement", "action")]
        found += [(u.role, u.statement, u.action) for u in report.unneeded]
        text += [f"  {line}" for line in _columns(found)]
    counts = summary(report)
    text.append(
        f"{counts['allowed']} of {counts['calls']} calls allowed, {counts['denied']} denied; "
        f"{counts['unneeded']} allowed action(s) no call needs"
    )
    return "\n".join(line.rstrip() for line in text) + "\n"


def as_json(report: Report) -> str:
    """The calls, the unneeded grants and the summary as a JSON document."""
    document: dict[str, Any] = {
        "calls": [
            {
                "step": o.call.step,
                "principal": o.principal,
                "action": o.call.action,
                "resource": o.resource,
                "context": dict(o.request.context) if o.request is not None else {},
                "allowed": o.decision.allowed,
                "reason": o.reason,
                "statement": o.decision.statement,
                "doc": o.call.doc,
            }
            for o in report.outcomes
        ],
        "unneeded": [
            {"role": u.role, "statement": u.statement, "action": u.action} for u in report.unneeded
        ],
        "summary": summary(report),
    }
    return json.dumps(document, indent=2) + "\n"
