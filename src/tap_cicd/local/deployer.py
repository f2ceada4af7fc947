"""The local deployer: the real program, run through Pulumi's mock seam, applied with boto3.

Each registration the program makes reaches ``DeployMonitor.RegisterResource``; the deployer
diffs it against the stack's state and creates, updates, replaces or leaves the resource,
then writes the state before answering, so an interrupted run loses nothing. Resources in
the state that the program no longer declares are deleted after the run, dependents first.
``runner.py`` runs the program through it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tap_cicd.errors import DeployError
from tap_cicd.local.ownership import whose
from tap_cicd.local.plan import SUPERSEDED, Planned, Registration, deletion_order
from tap_cicd.local.provider import HANDLERS, Context, Handler
from tap_cicd.local.provider.assets import normalize
from tap_cicd.local.provider.engine import Observation, owner_line, ownership_tags
from tap_cicd.local.provider.registry import synthesised
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


class Deployer:
    """Applies one stack's registrations to AWS (the emulator) and keeps its state."""

    def __init__(
        self,
        store: StateStore,
        state: StackState,
        ctx: Context,
        on_event: Callable[[Event], None] = lambda _event: None,
        handlers: Mapping[str, Handler] = HANDLERS,
        *,
        plan: bool = False,
        drifted: frozenset[str] = frozenset(),
    ) -> None:
        self.plan = plan
        """Decide only: call nothing on AWS and save nothing (``tap preview``, preflight)."""
        self.drifted = drifted
        """URNs whose resources refresh found changed outside tap: put back even if unchanged."""
        self.planned: list[Planned] = []
        self.exports: dict[str, Any] = {}
        """A plan's exports: what the program exported from the state's outputs."""
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
        operation, detail = self.decide(handler, urn, old, wanted)
        if self.plan:
            return self._planned(Planned(operation, registration, detail, old))
        if operation == CREATED:
            # Recorded before AWS is asked: an interrupted run's leftover is provably ours.
            pending = ResourceState(urn, typ, "", True, wanted, {}, dependencies, pending=True)
            self._record(pending, None)
        try:
            resource_id, computed = self._converge(
                handler,
                urn,
                old,
                inputs,
                wanted=wanted,
                operation=operation,
                ignored=registration.ignore_changes,
            )
            observed = self.observe(handler, resource_id, self._owned(handler, urn, inputs))
        except (ClientError, BotoCoreError) as error:
            raise self._fail(f"{typ} {name}: {type(error).__name__}: {error}") from error
        resource = ResourceState(
            urn,
            typ,
            resource_id,
            True,
            wanted,
            computed,
            dependencies,
            observed=observed[0] if observed is not None else "",
        )
        self._record(resource, Event(operation, typ, name, time.monotonic() - started, detail))
        return resource_id, {**inputs, **computed}

    def observe(
        self, handler: Handler, resource_id: str, inputs: Mapping[str, Any]
    ) -> Observation | None:
        """What the resource looks like now (for drift), ``None`` when it is gone."""
        if handler.observe is None:
            return None
        return handler.observe(self.ctx, resource_id, inputs)

    def _owned(self, handler: Handler, urn: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """``inputs`` with the ownership tags added, for types AWS tags."""
        if handler.tags_of is None:
            return dict(inputs)
        tags = dict(inputs.get("tags") or {})
        return {**inputs, "tags": {**tags, **ownership_tags(self.ctx.stack, urn)}}

    def decide(
        self, handler: Handler, urn: str, old: ResourceState | None, wanted: Mapping[str, Any]
    ) -> tuple[str, str]:
        """The operation for one resource, and why (the changed inputs, what forces a replace)."""
        if old is None or old.type != handler.type or old.pending:
            return CREATED, ""
        changed = sorted(
            k for k in set(wanted) | set(old.inputs) if wanted.get(k) != old.inputs.get(k)
        )
        drift = "changed outside tap" if urn in self.drifted else ""
        if not changed and not drift:
            return UNCHANGED, ""
        forced = sorted(set(changed) & {*handler.replace_on, *handler.recreate_on})
        if handler.update is not None and not forced:
            return UPDATED, ", ".join(changed) or drift
        reason = f"{', '.join(forced)} cannot change in place" if forced else "no in-place update"
        return REPLACED, reason

    def _planned(self, planned: Planned) -> tuple[str | None, dict[str, Any]]:
        """Record a plan step and answer the program as the deploy would."""
        registration, old = planned.registration, planned.old
        with self._lock:
            self.planned.append(planned)
            self.summary.counts[planned.operation] += 1
        event = Event(
            planned.operation,
            registration.type,
            registration.name,
            0.0,
            planned.detail,
            inputs=registration.inputs,
        )
        self.on_event(event)
        inputs = registration.inputs
        if old is not None and planned.operation in (UPDATED, UNCHANGED):
            return old.id, {**inputs, **old.outputs}
        ctx = self.ctx
        formed = synthesised(
            registration.type, registration.name, inputs, ctx.account_id, ctx.region
        )
        resource_id, computed = formed or (f"{registration.name}-planned", {})
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
            self._save()
            return old
        return None

    def _converge(
        self,
        handler: Handler,
        urn: str,
        old: ResourceState | None,
        inputs: dict[str, Any],
        *,
        wanted: dict[str, Any],
        operation: str,
        ignored: list[str] | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Carry out ``operation``; returns the resource's id and computed outputs."""
        owned = self._owned(handler, urn, inputs)
        if old is None or operation == CREATED:
            return handler.create(self.ctx, urn, owned)
        if operation == UNCHANGED:
            return old.id, old.outputs
        if operation == UPDATED:
            assert handler.update is not None  # noqa: S101 - decide() updates only then
            # A drifted resource is brought back whole (every step runs, every tag is set),
            # except what ignore_changes leaves to others (a release's task definition).
            before = self._owned(handler, urn, old.inputs)
            if urn in self.drifted:
                before = {k: v for k, v in before.items() if k in (ignored or ())}
            return old.id, handler.update(self.ctx, old.id, before, owned)
        changed = {k for k in set(wanted) | set(old.inputs) if wanted.get(k) != old.inputs.get(k)}
        new_identity = changed & set(handler.replace_on)
        immutable = changed & set(handler.recreate_on)
        if (immutable or not changed) and not new_identity:
            # Same name: the old resource must go before the new one can take it.
            handler.delete(self.ctx, old.id, old.inputs)
            with self._lock:
                self.state.resources.pop(urn, None)
                self._save()
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
                self._save()
        return handler.create(self.ctx, urn, owned)

    def _save(self) -> None:
        """Write the state (lock held), unless this is a plan."""
        if not self.plan:
            self.store.save(self.state)

    def _record(self, resource: ResourceState, event: Event | None) -> None:
        with self._lock:
            if self.state.resources.get(resource.urn) != resource:  # unchanged: no write
                self.state.resources.pop(resource.urn, None)
                self.state.resources[resource.urn] = resource
                self._save()
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
        """Delete ``resources``, dependents first, saving the state after each.

        Only what is provably this stack's is deleted: a resource whose tags name another
        stack (or no stack) leaves the state untouched in AWS, with a note saying so.
        """
        for resource in deletion_order(resources):
            started = time.monotonic()
            name = resource.urn.split("::")[-1]
            kept = ""
            if resource.custom and not self.plan:
                handler = self.handlers.get(resource.type)
                if handler is None:
                    raise self._fail(f"the state names {resource.type}, which tap cannot delete")
                try:
                    kept = self._delete_owned(handler, resource)
                except (ClientError, BotoCoreError) as error:
                    raise self._fail(
                        f"deleting {resource.type} {name}: {type(error).__name__}: {error}"
                    ) from error
            with self._lock:
                del self.state.resources[resource.urn]
                self._save()
                if kept:
                    self.summary.notes.append(f"kept {name}: {kept}")
                elif resource.custom and SUPERSEDED not in resource.urn:
                    self.summary.counts[DELETED] += 1
                    seconds = time.monotonic() - started
                    self.on_event(Event(DELETED, resource.type, name, seconds))

    def _delete_owned(self, handler: Handler, resource: ResourceState) -> str:
        """Delete the resource if its tags say it is this stack's; otherwise say whose it is."""
        resource_id = resource.id or handler.identify(self.ctx, resource.inputs)
        if not resource_id:  # a create that never got an id: nothing to find
            return ""
        found = whose(self.ctx, self.handlers, handler, resource_id, resource.inputs)
        if not found.exists:
            return ""
        # Untagged: nothing says it is another's, and this stack's state holds it.
        if found.owner not in (None, self.ctx.stack):
            return owner_line(resource.type, resource_id, found.owner)
        handler.delete(self.ctx, resource_id, resource.inputs)
        return ""
