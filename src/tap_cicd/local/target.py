"""The local target's operations: up, destroy and outputs of a stack in the emulator."""

from __future__ import annotations

import runpy
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tap_cicd.errors import UsageError
from tap_cicd.local import DEFAULT_PORT, DEFAULT_REGION
from tap_cicd.local.clients import Clients
from tap_cicd.local.deployer import Deployer, run_program
from tap_cicd.local.emulator import Emulator, instance_id
from tap_cicd.local.provider import Context
from tap_cicd.local.state import StackState, StateStore
from tap_cicd.local.summary import Event, Summary


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
        port: int = DEFAULT_PORT,
    ) -> Summary:
        """Deploy ``program`` as ``stack``: create, update and delete until the emulator matches."""
        started = time.monotonic()
        with self.store.lock(stack):
            state = self.store.load_or_new(stack)
            if state.resources and state.region != self.region:
                raise UsageError(
                    f"stack '{stack}' is deployed in {state.region}, not {self.region}: "
                    f"run 'tap destroy --stack {stack}' first, or deploy it to {state.region}"
                )
            info, _new = self.emulator.start(port)
            clients = Emulator.clients(info, self.region)
            with self.emulator.answering(clients):
                marker = instance_id(clients)
                notes = []
                if state.resources and state.emulator != marker:
                    notes.append(
                        "the emulator was restarted since the last deploy: deploying afresh"
                    )
                    state = StackState(stack)
                state.emulator = marker
                state.region = self.region
                ctx = Context(clients, clients.account_id(), self.region)
                writes_before = len(clients.writes)
                deployer = Deployer(self.store, state, ctx, on_event)
                exports = run_program(deployer, program, config)
                deployer.delete_missing()
            state.outputs = exports
            self.store.save(state)
        summary = deployer.summary
        summary.outputs = exports
        summary.notes = notes
        summary.writes = len(clients.writes) - writes_before
        summary.seconds = time.monotonic() - started
        return summary

    def destroy(self, stack: str, on_event: Callable[[Event], None] = lambda _e: None) -> Summary:
        """Delete every resource of ``stack``, dependents first, then forget the stack."""
        started = time.monotonic()
        summary = Summary()
        with self.store.lock(stack):
            state = self.store.load(stack)
            info = self.emulator.info()
            if info is None:
                summary.notes.append("the emulator is not running: nothing of the stack is left")
            else:
                clients = Emulator.clients(info, state.region)
                with self.emulator.answering(clients):
                    summary = self._delete_all(state, clients, on_event)
            self.store.remove(stack)
        summary.seconds = time.monotonic() - started
        return summary

    def _delete_all(
        self, state: StackState, clients: Clients, on_event: Callable[[Event], None]
    ) -> Summary:
        """Delete what ``state`` holds, unless the emulator was restarted since (then nothing
        of the stack is left)."""
        if instance_id(clients) != state.emulator:
            return Summary(notes=["the emulator was restarted: nothing of the stack is left"])
        ctx = Context(clients, clients.account_id(), state.region)
        deployer = Deployer(self.store, state, ctx, on_event)
        deployer.delete(list(state.resources.values()))
        deployer.summary.writes = len(clients.writes)
        return deployer.summary

    def outputs(self, stack: str) -> dict[str, Any]:
        """The stack's outputs from its last ``up``."""
        return dict(self.store.load(stack).outputs)
