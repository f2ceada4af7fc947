"""What tap reads back before it writes: refresh (the state against AWS) and ownership.

``refresh`` reads every resource of a stack's state from the target: what is gone leaves the
state, what changed outside tap is reported as drift (``tap up`` puts it back), and what is
tagged as another stack's leaves this stack's state. ``check_ownership`` stops a plan before
its first write when a resource it would create exists already and is not provably this
stack's (by its ``tap:stack`` tag, or for types AWS does not tag, by a stack's state).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tap_cicd.errors import OwnershipError, StateError
from tap_cicd.local.ownership import Whose, whose
from tap_cicd.local.plan import Planned
from tap_cicd.local.provider import HANDLERS, Context, Handler
from tap_cicd.local.provider.engine import owner_line
from tap_cicd.local.provider.model import STACK_TAG
from tap_cicd.local.state import StackState, StateStore
from tap_cicd.local.summary import CREATED, REPLACED


@dataclass
class Refreshed:
    """What a refresh found."""

    gone: list[str] = field(default_factory=list)
    """Names of resources deleted outside tap (they left the state)."""
    drifted: dict[str, str] = field(default_factory=dict)
    """URN -> name of resources changed outside tap (or missing their ownership tags)."""
    disowned: list[str] = field(default_factory=list)
    """Lines naming resources tagged as another stack's (they left this stack's state)."""

    @property
    def notes(self) -> list[str]:
        """One line per finding, for the command's summary."""
        notes = [f"{name} was deleted outside tap" for name in self.gone]
        notes += [f"{name} was changed outside tap" for name in self.drifted.values()]
        notes += [f"dropped from the state: {line}" for line in self.disowned]
        return notes


def _name(urn: str) -> str:
    return urn.rsplit("::", maxsplit=1)[-1]


def refresh(
    store: StateStore,
    state: StackState,
    ctx: Context,
    handlers: Mapping[str, Handler] = HANDLERS,
) -> Refreshed:
    """Read every resource of ``state`` back from the target and save what was found."""
    found = Refreshed()
    for urn, resource in list(state.resources.items()):
        handler = handlers.get(resource.type)
        if not resource.custom or handler is None or handler.observe is None:
            continue
        resource_id = resource.id or handler.identify(ctx, resource.inputs)
        seen = handler.observe(ctx, resource_id, resource.inputs) if resource_id else None
        if seen is None:
            del state.resources[urn]
            if not resource.pending:
                found.gone.append(_name(urn))
            continue
        digest, tags = seen
        owner = tags.get(STACK_TAG) if tags is not None else state.stack
        if owner is not None and owner != state.stack:
            del state.resources[urn]
            found.disowned.append(owner_line(resource.type, resource_id, owner))
        elif resource.pending:
            continue  # a create that was interrupted: the next up adopts it
        elif owner is None or (resource.observed and digest != resource.observed):
            found.drifted[urn] = _name(urn)
        elif not resource.observed:
            resource.observed = digest  # first read of a resource deployed before refresh
    store.save(state)
    return found


def owners(store: StateStore, stack: str) -> dict[tuple[str, str], str]:
    """(type, id) -> stack, for every resource of the other stacks' states under the home."""
    held: dict[tuple[str, str], str] = {}
    for other in store.stacks():
        if other == stack:
            continue
        try:
            state = store.load(other)
        except StateError:  # a damaged neighbour proves nothing; its own commands say so
            continue
        for resource in state.resources.values():
            held[(resource.type, resource.id)] = other
    return held


def held(state: StackState, ctx: Context, handlers: Mapping[str, Handler]) -> set[tuple[str, str]]:
    """(type, id) of every resource the state holds, pending creates by the id their inputs
    give them."""
    found = set()
    for resource in state.resources.values():
        handler = handlers.get(resource.type)
        resource_id = resource.id or (handler.identify(ctx, resource.inputs) if handler else "")
        found.add((resource.type, resource_id))
    return found


def check_ownership(
    planned: list[Planned],
    state: StackState,
    store: StateStore,
    ctx: Context,
    handlers: Mapping[str, Handler] = HANDLERS,
) -> None:
    """Refuse, before any write, a plan that would take a resource that is not this stack's."""
    judge = _Judge(state, store, ctx, handlers)
    taken = [line for step in planned if (line := judge.taken(step))]
    if taken:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise OwnershipError(
            f"{taken[0]}{more}: nothing was changed; pick another environmentSuffix or "
            "namePrefix, or destroy that stack first"
        )


@dataclass
class _Judge:
    """Decides, step by step, whether a plan's create would take what is not this stack's."""

    state: StackState
    store: StateStore
    ctx: Context
    handlers: Mapping[str, Handler]
    _mine: set[tuple[str, str]] | None = None
    _neighbours: dict[tuple[str, str], str] | None = None

    def taken(self, step: Planned) -> str:
        """A line naming the resource and its owner when the step would take it; else ``""``."""
        registration = step.registration
        handler = self.handlers.get(registration.type)
        if step.operation not in (CREATED, REPLACED) or handler is None:
            return ""
        resource_id = handler.identify(self.ctx, registration.inputs)
        if not resource_id or (step.old is not None and step.old.id == resource_id):
            return ""  # AWS names it (found by its URN tag), or it is the one replaced
        found = whose(self.ctx, self.handlers, handler, resource_id, registration.inputs)
        if not found.exists:
            return ""
        owner = found.owner or self._owner(
            registration.urn, found, (registration.type, resource_id)
        )
        return (
            "" if owner == self.state.stack else owner_line(registration.type, resource_id, owner)
        )

    def _owner(self, urn: str, found: Whose, identity: tuple[str, str]) -> str | None:
        """Whose an untagged resource is: this stack's when its state began creating it or
        holds what it is part of; else the stack whose state holds it, if any."""
        if urn in self.state.resources:
            return self.state.stack  # a create this stack began, not tagged yet
        if self._mine is None:
            self._mine = held(self.state, self.ctx, self.handlers)
        if found.parent in self._mine:
            return self.state.stack
        if self._neighbours is None:
            self._neighbours = owners(self.store, self.state.stack)
        return self._neighbours.get(identity)
