"""The program, run through Pulumi's mock seam, with every registration applied by a deployer.

``DeployMonitor`` hands each registration's URN, dependencies, ``ignore_changes`` and aliases
to ``DeployMocks``, whose ``new_resource`` deploys it (or, for a plan, decides it) and answers
the program with the resource's id and outputs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from tap_cicd.errors import DeployError
from tap_cicd.graph import invoke_answers
from tap_cicd.local import seam
from tap_cicd.local.deployer import Deployer
from tap_cicd.local.plan import Registration


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
        """The invokes the program makes (caller identity, region, partition, zones), answered for
        the endpoint."""
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
