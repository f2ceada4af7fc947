"""The local target's operations: up, destroy and outputs of a stack in the emulator."""

from __future__ import annotations

import copy
import runpy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tap_cicd.errors import UsageError
from tap_cicd.graph import PLACEHOLDER_ACCOUNT
from tap_cicd.local import DEFAULT_REGION, reconcile
from tap_cicd.local.clients import Clients
from tap_cicd.local.deployer import Deployer
from tap_cicd.local.emulator import Emulator, instance_id
from tap_cicd.local.plan import Planned
from tap_cicd.local.provider import Context
from tap_cicd.local.runner import run_program
from tap_cicd.local.state import StackState, StateStore
from tap_cicd.local.summary import UNCHANGED, Event, Summary


def project_program(project_dir: Path) -> Callable[[], None]:
    """The very program ``pulumi up`` runs: the project's ``__main__.py``."""
    main = project_dir / "__main__.py"
    if not main.exists():
        raise UsageError(f"no __main__.py in {project_dir}: run tap from the project directory")

    def program() -> None:
        runpy.run_path(str(main), run_name="__main__")

    return program


class LocalTarget:
    """Stacks deployed to the emulator whose state lives under ``home``."""

    def __init__(self, home: Path, region: str = DEFAULT_REGION) -> None:
        self.home = home
        self.region = region
        self.store = StateStore(home)
        self.emulator = Emulator(home)

    def up(
        self,
        stack: str,
        program: Callable[[], None],
        config: Mapping[str, str],
        on_event: Callable[[Event], None] = lambda _e: None,
        port: int | None = None,
        *,
        refresh: bool = True,
        on_start: Callable[[int], None] | None = None,
    ) -> Summary:
        """Deploy ``program`` as ``stack``: refresh, plan, check ownership, then create,
        update and delete until the emulator matches. Nothing is written when the plan would
        take a resource that is not this stack's."""
        started = time.monotonic()
        with self.store.lock(stack):
            state = self.store.load_or_new(stack)
            if state.resources and state.region != self.region:
                raise UsageError(
                    f"stack '{stack}' is deployed in {state.region}, not {self.region}: "
                    f"run 'tap destroy --stack {stack}' first, or deploy it to {state.region}"
                )
            info, _new = self.emulator.start(port, on_start)
            clients = Emulator.clients(info, self.region)
            with self.emulator.answering(clients):
                notes: list[str] = []
                state = self._same_emulator(state, clients, notes)
                ctx = Context(clients, clients.account_id(), self.region, stack=stack)
                drifted: frozenset[str] = frozenset()
                if refresh and state.resources:
                    found = reconcile.refresh(self.store, state, ctx)
                    notes += found.notes
                    drifted = frozenset(found.drifted)
                plan = self._plan(state, ctx, program, config, drifted=drifted)
                reconcile.check_ownership(plan.planned, state, self.store, ctx)
                notes += release_notes(plan.planned)
                writes_before = len(clients.writes)
                if nothing_to_do(plan):  # the plan's run is the deploy's: no second run
                    deployer, exports = plan, plan.exports
                else:
                    deployer = Deployer(self.store, state, ctx, on_event, drifted=drifted)
                    exports = run_program(deployer, program, config)
                    deployer.delete_missing()
            state.outputs = exports
            self.store.save(state)
        summary = deployer.summary
        summary.outputs = exports
        summary.notes = notes + summary.notes
        summary.writes = len(clients.writes) - writes_before
        summary.seconds = time.monotonic() - started
        return summary

    def preview(
        self,
        stack: str,
        program: Callable[[], None],
        config: Mapping[str, str],
        *,
        refresh: bool = True,
    ) -> Plan:
        """What ``up`` would do, without writing anything: the plan against the (refreshed)
        state. Offline (no emulator) when the stack has no state or its emulator is gone."""
        notes: list[str] = []
        steps: list[Event] = []
        with self.store.lock(stack):
            state = self.store.load_or_new(stack)
            info = self.emulator.running() if state.resources else None
            if info is None:
                if state.resources:
                    notes.append("the emulator is not running: nothing of the stack is left")
                # Nothing to read back: every resource is a create, formed offline.
                offline = Context(None, PLACEHOLDER_ACCOUNT, self.region, stack=stack)  # type: ignore[arg-type]
                plan = self._plan(
                    StackState(stack), offline, program, config, on_event=steps.append
                )
                return Plan(steps, plan.summary, notes)
            clients = Emulator.clients(info, state.region)
            with self.emulator.answering(clients):
                state = self._same_emulator(state, clients, notes)
                ctx = Context(clients, clients.account_id(), state.region, stack=stack)
                drifted: frozenset[str] = frozenset()
                if refresh and state.resources:
                    found = reconcile.refresh(_ReadOnly(self.home), state, ctx)
                    notes += found.notes
                    drifted = frozenset(found.drifted)
                plan = self._plan(
                    state, ctx, program, config, drifted=drifted, on_event=steps.append
                )
        return Plan(steps, plan.summary, notes + release_notes(plan.planned))

    def refresh(self, stack: str) -> list[str]:
        """Read the stack's resources back: drop what is gone, report what changed."""
        with self.store.lock(stack):
            state = self.store.load(stack)
            info = self.emulator.running()
            if info is None:
                return ["the emulator is not running: nothing of the stack is left"]
            clients = Emulator.clients(info, state.region)
            with self.emulator.answering(clients):
                notes: list[str] = []
                state = self._same_emulator(state, clients, notes)
                ctx = Context(clients, clients.account_id(), state.region, stack=stack)
                notes += reconcile.refresh(self.store, state, ctx).notes
        return notes

    def destroy(self, stack: str, on_event: Callable[[Event], None] = lambda _e: None) -> Summary:
        """Delete every resource of ``stack`` that is provably its own, dependents first, then
        forget the stack."""
        started = time.monotonic()
        summary = Summary()
        with self.store.lock(stack):
            state = self.store.load(stack)
            info = self.emulator.running()
            if info is None:
                summary.notes.append("the emulator is not running: nothing of the stack is left")
            else:
                clients = Emulator.clients(info, state.region)
                with self.emulator.answering(clients):
                    summary = self._delete_all(state, clients, on_event)
            self.store.remove(stack)
        summary.seconds = time.monotonic() - started
        return summary

    def _same_emulator(self, state: StackState, clients: Clients, notes: list[str]) -> StackState:
        """``state``, or a fresh one when the emulator was restarted since (its resources are
        gone with the old instance)."""
        marker = instance_id(clients)
        if state.resources and state.emulator != marker:
            notes.append("the emulator was restarted since the last deploy: deploying afresh")
            state = StackState(state.stack, region=state.region)
        state.emulator = marker
        state.region = state.region if state.resources else self.region
        return state

    def _plan(
        self,
        state: StackState,
        ctx: Context,
        program: Callable[[], None],
        config: Mapping[str, str],
        *,
        drifted: frozenset[str] = frozenset(),
        on_event: Callable[[Event], None] = lambda _e: None,
    ) -> Deployer:
        """Run the program against a copy of ``state`` deciding only: the plan ``up`` follows."""
        planner = Deployer(
            _ReadOnly(self.home), copy.deepcopy(state), ctx, on_event, plan=True, drifted=drifted
        )
        planner.exports = run_program(planner, program, config)
        planner.delete_missing()
        return planner

    def _delete_all(
        self, state: StackState, clients: Clients, on_event: Callable[[Event], None]
    ) -> Summary:
        """Delete what ``state`` holds and is this stack's, unless the emulator was restarted
        since (then nothing of the stack is left)."""
        if instance_id(clients) != state.emulator:
            return Summary(notes=["the emulator was restarted: nothing of the stack is left"])
        ctx = Context(clients, clients.account_id(), state.region, stack=state.stack)
        found = reconcile.refresh(self.store, state, ctx)
        deployer = Deployer(self.store, state, ctx, on_event)
        deployer.delete(list(state.resources.values()))
        deployer.summary.notes = found.notes + deployer.summary.notes
        deployer.summary.writes = len(clients.writes)
        return deployer.summary

    def outputs(self, stack: str) -> dict[str, Any]:
        """The stack's outputs from its last ``up``."""
        return dict(self.store.load(stack).outputs)


TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"


def nothing_to_do(plan: Deployer) -> bool:
    """Whether a plan leaves every resource as it is (and no state moves under an alias)."""
    changes = sum(n for op, n in plan.summary.counts.items() if op != UNCHANGED)
    return changes == 0 and not plan.moved


def release_notes(planned: list[Planned]) -> list[str]:
    """What a plan means for the running service: the stack never rolls a release back, so a
    new task definition (cpu, memory, port) reaches the service with the next release."""
    changed = [
        p
        for p in planned
        if p.registration.type == TASK_DEFINITION and p.old is not None and p.operation != UNCHANGED
    ]
    return [
        f"{p.registration.name} changed: the service runs it from the next release "
        "(the deploy step registers each release from it)"
        for p in changed
    ]


@dataclass
class Plan:
    """What ``tap preview`` shows: each resource's planned operation, counts and notes."""

    steps: list[Event]
    summary: Summary
    notes: list[str] = field(default_factory=list)


class _ReadOnly(StateStore):
    """A store that never writes: plans and previews run against copies of the state."""

    def save(self, state: StackState) -> None:
        """Write nothing."""
