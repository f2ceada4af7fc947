"""The local deployer: the real program, run through Pulumi's mock seam, applied with boto3.

Each registration the program makes reaches ``DeployMonitor.RegisterResource``; the deployer
diffs it against the stack's state and creates, updates, replaces or leaves the resource,
then writes the state before answering, so an interrupted run loses nothing. Resources in
the state that the program no longer declares are deleted after the run, dependents first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from botocore.exceptions import BotoCoreError, ClientError

from tap_cicd.errors import DeployError
from tap_cicd.graph import invoke_answers
from tap_cicd.local import seam
from tap_cicd.local.provider import HANDLERS, Context, Handler
from tap_cicd.local.provider.assets import normalize
from tap_cicd.local.state import ResourceState, StackState, StateStore
from tap_cicd.local.summary import (
    CREATED,
    DELETED,
    REPLACED,
    UNCHANGED,
    UPDATED,
    Event,
    Summary,
)

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


class Deployer:
    """Applies one stack's registrations to AWS (the emulator) and keeps its state."""

    def __init__(
        self,
        store: StateStore,
        state: StackState,
        ctx: Context,
        on_event: Callable[[Event], None] = lambda _event: None,
        handlers: Mapping[str, Handler] = HANDLERS,
    ) -> None:
        self.store = store
        self.state = state
        self.ctx = ctx
        self.on_event = on_event
        self.handlers = handlers
        self.summary = Summary()
        self.seen: set[str] = set()
        self.moved: dict[str, str] = {}
        """URN -> the alias URN its state was found under (and moved from) in this run."""
        self.errors: list[str] = []
        self.crash: Exception | None = None
        """The first programming error a registration raised (not an AWS error)."""
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._active = 0
        self._closed = False

    def apply(self, registration: Registration) -> tuple[str | None, dict[str, Any]]:
        """Bring one resource to its declared inputs; returns its id and outputs."""
        with self._lock:
            if self._closed:
                raise DeployError(f"{registration.name}: not deployed, the run was aborted")
            self._active += 1
        try:
            return self._apply(registration)
        finally:
            with self._settled:
                self._active -= 1
                self._settled.notify_all()

    def stop(self) -> None:
        """Take no new work: later registrations are refused."""
        with self._lock:
            self._closed = True

    def settle(self, timeout: float = 120.0) -> None:
        """Take no new work and wait for the registrations in flight (after a failure)."""
        with self._settled:
            self._closed = True
            self._settled.wait_for(lambda: self._active == 0, timeout=timeout)

    def _apply(self, registration: Registration) -> tuple[str | None, dict[str, Any]]:
        urn, typ, name = registration.urn, registration.type, registration.name
        inputs, dependencies = registration.inputs, registration.dependencies
        started = time.monotonic()
        with self._lock:
            self.seen.add(urn)
            old = self.state.resources.get(urn) or self._follow(registration)
        if not registration.custom:
            self._record(ResourceState(urn, typ, "", False, {}, {}, dependencies), None)
            return None, {}
        handler = self.handlers.get(typ)
        if handler is None:
            raise self._fail(f"the local target cannot deploy {typ} ({name})")
        wanted = normalize(inputs)
        if old is not None and old.type == typ:
            for key in registration.ignore_changes:  # ignore_changes: keep what was deployed
                if key in old.inputs:
                    wanted[key] = old.inputs[key]
                    inputs[key] = old.inputs[key]
        try:
            operation, resource_id, computed = self._converge(handler, urn, old, inputs, wanted)
        except (ClientError, BotoCoreError) as error:
            raise self._fail(f"{typ} {name}: {type(error).__name__}: {error}") from error
        resource = ResourceState(urn, typ, resource_id, True, wanted, computed, dependencies)
        self._record(resource, Event(operation, typ, name, time.monotonic() - started))
        return resource_id, {**inputs, **computed}

    def _follow(self, registration: Registration) -> ResourceState | None:
        """Move the state found under one of the resource's aliases to its URN (lock held).

        Every other resource's dependency on the old URN follows, so the resource is diffed
        (unchanged or updated) and never replaced or deleted. A custom resource of another
        type is not the same resource: it stays, and is deleted as no longer declared.
        """
        urn = registration.urn
        for alias in registration.aliases:
            old = self.state.resources.get(alias)
            if old is None or alias in self.seen:
                continue
            if old.custom and old.type != registration.type:
                continue
            old.urn = urn
            self.state.resources = {
                (urn if key == alias else key): value for key, value in self.state.resources.items()
            }
            for resource in self.state.resources.values():
                resource.dependencies = [urn if d == alias else d for d in resource.dependencies]
            self.moved[urn] = alias
            self.store.save(self.state)
            return old
        return None

    def _converge(
        self,
        handler: Handler,
        urn: str,
        old: ResourceState | None,
        inputs: dict[str, Any],
        wanted: dict[str, Any],
    ) -> tuple[str, str, dict[str, Any]]:
        if old is None or old.type != handler.type:
            resource_id, computed = handler.create(self.ctx, urn, inputs)
            return CREATED, resource_id, computed
        changed = {k for k in set(wanted) | set(old.inputs) if wanted.get(k) != old.inputs.get(k)}
        if not changed:
            return UNCHANGED, old.id, old.outputs
        new_identity = changed & set(handler.replace_on)
        immutable = changed & set(handler.recreate_on)
        if handler.update is not None and not new_identity and not immutable:
            return UPDATED, old.id, handler.update(self.ctx, old.id, old.inputs, inputs)
        if immutable and not new_identity:
            # Same name: the old resource must go before the new one can take it.
            handler.delete(self.ctx, old.id, old.inputs)
            with self._lock:
                self.state.resources.pop(urn, None)
                self.store.save(self.state)
        else:
            # A new identity: create the new resource now and delete the old one after
            # the run, dependents first, as Pulumi does. Until then the state keeps it.
            with self._lock:
                superseded = ResourceState(
                    f"{urn}{SUPERSEDED}{old.id}",
                    old.type,
                    old.id,
                    True,
                    old.inputs,
                    old.outputs,
                    old.dependencies,
                )
                self.state.resources[superseded.urn] = superseded
                self.store.save(self.state)
        resource_id, computed = handler.create(self.ctx, urn, inputs)
        return REPLACED, resource_id, computed

    def _record(self, resource: ResourceState, event: Event | None) -> None:
        with self._lock:
            if self.state.resources.get(resource.urn) != resource:  # unchanged: no write
                self.state.resources.pop(resource.urn, None)
                self.state.resources[resource.urn] = resource
                self.store.save(self.state)
            if event is not None:
                self.summary.counts[event.operation] += 1
                self.on_event(event)

    def _fail(self, message: str) -> DeployError:
        error = DeployError(message)
        with self._lock:
            self.errors.append(error.message)
        return error

    def crashed(self, error: Exception) -> None:
        """Keep the first programming error a registration raised, and take no new work."""
        with self._lock:
            if self.crash is None:
                self.crash = error
        self.stop()

    def check(self, cause: BaseException | None = None) -> None:
        """Raise the run's first failure once the registrations in flight have finished.

        A programming error comes back as itself, with its traceback; AWS errors (and invokes
        the target cannot answer) as the first one's ``DeployError``.
        """
        if self.crash is None and not self.errors:
            return
        self.settle()
        if self.crash is not None:
            raise self.crash
        raise DeployError(self.errors[0]) from cause

    def delete_missing(self) -> None:
        """Delete what the state holds but the program no longer declares."""
        stale = [r for urn, r in self.state.resources.items() if urn not in self.seen]
        self.delete(stale)

    def delete(self, resources: list[ResourceState]) -> None:
        """Delete ``resources``, dependents first, saving the state after each."""
        for resource in deletion_order(resources):
            started = time.monotonic()
            if resource.custom:
                handler = self.handlers.get(resource.type)
                if handler is None:
                    raise self._fail(f"the state names {resource.type}, which tap cannot delete")
                try:
                    handler.delete(self.ctx, resource.id, resource.inputs)
                except (ClientError, BotoCoreError) as error:
                    name = resource.urn.split("::")[-1]
                    raise self._fail(
                        f"deleting {resource.type} {name}: {type(error).__name__}: {error}"
                    ) from error
            with self._lock:
                del self.state.resources[resource.urn]
                self.store.save(self.state)
                if resource.custom and SUPERSEDED not in resource.urn:
                    self.summary.counts[DELETED] += 1
                    name = resource.urn.split("::")[-1]
                    seconds = time.monotonic() - started
                    self.on_event(Event(DELETED, resource.type, name, seconds))


class DeployMonitor(seam.Monitor):
    """A mock monitor whose registrations are deployed by a ``Deployer``."""

    def __init__(self, mocks: DeployMocks) -> None:
        super().__init__(mocks)
        self.deploy_mocks = mocks

    def RegisterResource(self, request: Any) -> Any:
        """Hand URN, dependencies, ignore_changes and aliases to the mocks, then register."""
        seen = seam.read(self, request)
        parent = [seen.parent] if seen.parent else []
        self.deploy_mocks.pending.request = (
            seen.urn,
            sorted({*seen.dependencies, *parent}),
            seen.ignore_changes,
            seam.alias_urns(request, self.deploy_mocks.deployer.moved),
        )
        return super().RegisterResource(request)  # type: ignore[no-untyped-call]


class DeployMocks(pulumi.runtime.Mocks):
    """Mocks that deploy each resource and answer the invokes from the endpoint itself."""

    def __init__(self, deployer: Deployer) -> None:
        self.deployer = deployer
        self.pending = threading.local()

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        """Deploy the resource the monitor is registering on this thread."""
        urn, dependencies, ignore_changes, aliases = self.pending.request
        registration = Registration(
            urn,
            args.typ,
            args.name,
            dict(seam.reveal(dict(args.inputs))),
            bool(args.custom),
            dependencies,
            ignore_changes,
            aliases,
        )
        # The first failure stops the deploy: this and every later registration is answered
        # without touching AWS, and run_program raises the failure once the engine is done.
        # Raising here would only make the engine's worker threads format tracebacks
        # concurrently (which CPython 3.11's ast module dislikes).
        try:
            return self.deployer.apply(registration)
        except DeployError:
            self.deployer.stop()
        except Exception as error:  # noqa: BLE001 - a programming error: check() re-raises it
            self.deployer.crashed(error)
        return f"{args.name}-not-deployed", dict(args.inputs)

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        """getCallerIdentity, getRegion and getPartition, as the endpoint answers them."""
        ctx = self.deployer.ctx
        answers = invoke_answers(ctx.account_id, ctx.region, "AIDATAPLOCAL")
        if args.token not in answers:
            message = f"the local target cannot answer invoke {args.token}"
            self.deployer._fail(message)
            return {}, [("token", message)]
        return answers[args.token], []


def run_program(
    deployer: Deployer,
    program: Callable[[], None],
    config: Mapping[str, str],
    project: str = "tap",
) -> dict[str, Any]:
    """Run ``program`` with ``config`` through the deployer; returns the stack's exports.

    An AWS error stops the deploy as a ``DeployError``; a programming error (a ``TypeError``
    in a handler, say) is raised as itself, and so is the program's own.
    """
    mocks = DeployMocks(deployer)
    seam.install(mocks, DeployMonitor(mocks), project=project, stack=deployer.state.stack)
    pulumi.runtime.set_all_config(dict(config))
    exports: dict[str, Any] = {}

    def body() -> pulumi.Output[None]:
        program()
        return pulumi.Output.all(**seam.exports()).apply(exports.update)

    try:
        seam.run(body)
    except Exception as error:
        # Other registrations may still be running in the engine's threads: let them finish
        # (and record what they did) before anyone reads or writes the state again. A deploy
        # failure is the cause; the program's error is then only its echo.
        deployer.check(cause=error)
        deployer.settle()
        raise
    finally:
        pulumi.runtime.set_all_config({})
    deployer.check()
    return exports
