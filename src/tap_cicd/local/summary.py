"""What a deploy or destroy reports: one event per resource and a closing summary.

Kept apart from the deployer so the ``tap`` command can print them without loading boto3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CREATED, UPDATED, REPLACED, DELETED, UNCHANGED = (
    "created",
    "updated",
    "replaced",
    "deleted",
    "unchanged",
)
OPERATIONS = (CREATED, UPDATED, REPLACED, DELETED, UNCHANGED)


@dataclass(frozen=True)
class Event:
    """One resource finished: what happened to it and how long it took."""

    operation: str
    type: str
    name: str
    seconds: float
    detail: str = ""
    """Why: the properties an update changes, what forces a replacement, a drift found."""
    inputs: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    """A plan's step only: the inputs the resource would get."""


@dataclass
class Summary:
    """What one ``up`` or ``destroy`` did."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPERATIONS, 0))
    seconds: float = 0.0
    writes: int = 0
    outputs: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
