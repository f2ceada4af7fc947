"""Pulumi's mock seam: everything tap relies on to run a program without the engine, in one place.

The offline graph and the local deployer run the real program with a monitor of their own
answering each registration. Pulumi has no public API for that, only its unit-testing support:
``set_mocks`` (public) installs a ``MockMonitor`` (``pulumi.runtime.mocks``, not exported by
``pulumi.runtime``), and ``pulumi.runtime.test`` (a testing helper) runs a function until every
registration it started has been answered. ``run_in_stack``, the language host's entry, would
register a second root stack and is documented as internal. ``tests/local/test_seam.py`` pins
each thing used here, so a Pulumi upgrade that changes one of them fails there, by name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import rpc, settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import Stack

Monitor = MockMonitor
"""The base of tap's monitors: they override ``RegisterResource`` and call it."""
ROOT_TYPE = "pulumi:pulumi:Stack"


def install(
    mocks: pulumi.runtime.Mocks,
    monitor: MockMonitor,
    *,
    project: str,
    stack: str,
    logger: logging.Logger | None = None,
) -> None:
    """Make ``monitor`` (over ``mocks``) the runtime's, as ``pulumi up`` would (not a preview).

    Each install starts a new root stack: ``set_mocks`` keeps the previous one otherwise, and
    with it every export of the programs run before in this process.
    """
    # Typed as taking a Resource; None is the root's own default (no stack yet).
    settings.set_root_resource(None)  # type: ignore[arg-type]
    pulumi.runtime.set_mocks(
        mocks, project=project, stack=stack, preview=False, logger=logger, monitor=monitor
    )


def run(body: Callable[[], Any]) -> None:
    """Run ``body`` and wait until every registration, invoke and output it started settles.

    ``body`` may return an Output; its errors, and the program's, are raised here.
    """
    wait_for_all: Callable[[], None] = pulumi.runtime.test(body)  # type: ignore[no-untyped-call]
    wait_for_all()


def exports() -> dict[str, Any]:
    """What the program has exported (``pulumi.export``): the root stack's outputs."""
    root = pulumi.runtime.get_root_resource()
    if not isinstance(root, Stack):
        raise TypeError(f"the root resource is a {type(root).__name__}, not a Stack")
    return dict(root.outputs)


SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d"  # noqa: S105 - a wire-format marker
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 - a wire-format marker
"""Pulumi's wire form of a secret: ``{SECRET_SIG_KEY: SECRET_SIG, "value": ...}``."""


def reveal(value: Any) -> Any:
    """``value`` with secrets unwrapped: the mock seam hands secret inputs over in their wire
    form (pulumi-aws marks ``aws.ssm.Parameter.value`` secret), and AWS wants the plain value."""
    if isinstance(value, Mapping):
        if value.get(SECRET_SIG_KEY) == SECRET_SIG:
            return reveal(value.get("value"))
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reveal(v) for v in value]
    return value


def make_urn(stack: str, project: str, parent: str, typ: str, name: str) -> str:
    """A URN as ``MockMonitor.make_urn`` forms it (for another stack or project too).

    The mock prefixes a child's type with its parent's type only (the engine uses the whole
    chain): state written through the seam holds these URNs, so aliases must match them.
    """
    if parent:
        typ = f"{parent.split('::')[2].rsplit('$', maxsplit=1)[-1]}${typ}"
    return f"urn:pulumi:{stack}::{project}::{typ}::{name}"


def _type_and_name(urn: str) -> tuple[str, str]:
    parts = urn.split("::")
    return parts[2].rsplit("$", maxsplit=1)[-1], parts[3]


@dataclass(frozen=True)
class Request:
    """What tap reads of one ``RegisterResourceRequest``."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    dependencies: list[str]
    ignore_changes: list[str]


def read(monitor: MockMonitor, request: Any) -> Request:
    """The request's fields tap uses, and the URN the monitor gives it."""
    return Request(
        urn=monitor.make_urn(request.parent, request.type, request.name),
        type=request.type,
        name=request.name,
        parent=request.parent,
        custom=bool(request.custom),
        dependencies=list(request.dependencies),
        ignore_changes=list(request.ignoreChanges),
    )


def inputs(request: Any) -> dict[str, Any]:
    """The request's inputs, deserialized."""
    return dict(rpc.deserialize_properties(request.object))


def registered_outputs(monitor: MockMonitor, urn: str) -> dict[str, Any]:
    """The outputs the monitor answered for ``urn``."""
    return dict(monitor.resources[urn].state)


def alias_urns(request: Any, moved: Mapping[str, str]) -> list[str]:
    """The URNs the resource may have had before, as the engine derives them from ``aliases``.

    Each alias is a URN or a spec (name, type, parent, stack, project; each defaults to the
    resource's own). ``moved`` maps the URN of each resource found under one of its aliases
    to that old URN: a child of a moved parent may have been under the parent's old URN, and
    a spec naming a moved parent means its old URN (the engine's ``generateAliases``).
    """
    stack, project = pulumi.get_stack(), pulumi.get_project()
    root = make_urn(stack, project, "", ROOT_TYPE, f"{project}-{stack}")
    own = list(request.aliasURNs)
    for alias in request.aliases:
        if alias.WhichOneof("alias") == "urn":
            own.append(alias.urn)
            continue
        spec = alias.spec
        # Without a parent the mock (unlike the engine) parents a resource to the root stack.
        parent = root if spec.noParent else moved.get(spec.parentUrn, spec.parentUrn)
        own.append(
            make_urn(
                spec.stack or stack,
                spec.project or project,
                parent or request.parent,
                spec.type or request.type,
                spec.name or request.name,
            )
        )
    found = list(own)
    parent_before = moved.get(request.parent)
    if parent_before is not None:
        parent_name, name_before = request.parent.split("::")[-1], parent_before.split("::")[-1]
        for typ, name in [(request.type, request.name), *map(_type_and_name, own)]:
            # A child named after its parent ("{parent}-x") was named after the old one.
            was = name_before + name[len(parent_name) :] if name.startswith(parent_name) else name
            found.append(make_urn(stack, project, parent_before, typ, was))
    return list(dict.fromkeys(found))
