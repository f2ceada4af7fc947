"""What the deployer works on: the program's registrations, the plan's steps, and the order
in which resources are deleted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tap_cicd.local.state import ResourceState

SUPERSEDED = "#superseded:"
"""State key suffix of a replaced resource that still exists until the end of the run."""


def base_urn(key: str) -> str:
    """The URN a state key belongs to (superseded resources keep their URN as a prefix)."""
    return key.split(SUPERSEDED, 1)[0]


@dataclass(frozen=True)
class Registration:
    """One resource the program registered, with what the engine knows about it."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    custom: bool
    dependencies: list[str]
    ignore_changes: list[str]
    aliases: list[str] = field(default_factory=list)
    """URNs the resource may have had before (``aliases``): its state moves from there."""


@dataclass(frozen=True)
class Planned:
    """What a plan (``tap preview``, and ``tap up`` before its first write) decided for one
    resource."""

    operation: str
    registration: Registration
    detail: str = ""
    old: ResourceState | None = None
    """The resource the state holds under its URN (``None`` for a create)."""


def deletion_order(resources: list[ResourceState]) -> list[ResourceState]:
    """Dependents before what they depend on (reverse topological order)."""
    remaining = {r.urn: r for r in resources}
    order: list[ResourceState] = []
    while remaining:
        needed = {d for r in remaining.values() for d in r.dependencies}
        ready = [r for urn, r in remaining.items() if base_urn(urn) not in needed]
        if not ready:  # a cycle cannot come from Pulumi; fall back to reverse registration
            ready = [list(remaining.values())[-1]]
        for resource in reversed(ready):
            order.append(resource)
            del remaining[resource.urn]
    return order
