"""The program's resource graph, offline: run ``TapStack`` under recording mocks.

This is what ``tap preview`` shows and what the policy rules check: every resource with its
type, name, parent and inputs, resolved the way ``pulumi preview`` would see them, without
credentials or an endpoint. Provider-computed outputs (ARNs, URLs) are formed by the same
registry entries the local provider uses, for a placeholder account and region.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from tap_cicd.local import seam
from tap_cicd.local.provider import registry
from tap_cicd.local.provider.model import placeholder_id

PLACEHOLDER_ACCOUNT = "123456789012"
PLACEHOLDER_REGION = "us-east-1"
PARTITION = "aws"
KNOWN_INVOKES = (
    "aws:index/getCallerIdentity:getCallerIdentity",
    "aws:index/getRegion:getRegion",
    "aws:index/getPartition:getPartition",
    "aws:index/getAvailabilityZones:getAvailabilityZones",
)
ZONE_LETTERS = ("a", "b", "c")
"""Zones answered offline (and by the local deployer): ``<region>a`` .. ``<region>c``."""


@dataclass(frozen=True)
class Node:
    """One resource of the graph."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    ignore_changes: list[str] = field(default_factory=list)
    """The ``ignore_changes`` resource option, as registered."""


@dataclass
class Graph:
    """Every resource one run of the program registered, in registration order."""

    nodes: list[Node]
    outputs: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    invokes: list[str] = field(default_factory=list)

    def of(self, typ: str) -> list[Node]:
        """All resources of one type token."""
        return [n for n in self.nodes if n.type == typ]

    def one(self, typ: str, name_part: str = "") -> Node:
        """The one resource of ``typ`` whose logical name contains ``name_part``."""
        found = [n for n in self.of(typ) if name_part in n.name]
        if len(found) != 1:
            names = [n.name for n in found]
            raise LookupError(f"expected one {typ} named *{name_part}*, found {names}")
        return found[0]

    def by_urn(self) -> dict[str, Node]:
        """The nodes, by URN."""
        return {n.urn: n for n in self.nodes}


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers registrations with synthesised outputs and the invokes the program uses."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self.invokes: list[str] = []

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        """Outputs are the inputs plus synthesised ARNs and URLs; components get nothing."""
        if not args.custom:
            return None, {}
        physical, computed = synthesised_outputs(
            args.typ, args.name, args.inputs, self.account_id, self.region
        )
        return physical, {**args.inputs, **computed}

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        """Answer the invokes of ``KNOWN_INVOKES`` (camelCase wire names)."""
        self.invokes.append(args.token)
        answers = invoke_answers(self.account_id, self.region, "AIDATAPOFFLINE")
        if args.token not in answers:
            # A failure, not a raise: the engine turns it into the program's error.
            return {}, [("token", f"the offline graph cannot answer invoke {args.token}")]
        return answers[args.token], []


def invoke_answers(account_id: str, region: str, user_id: str) -> dict[str, dict[str, Any]]:
    """getCallerIdentity, getRegion, getPartition and getAvailabilityZones results, by token
    (camelCase wire names)."""
    return {
        KNOWN_INVOKES[0]: {
            "accountId": account_id,
            "arn": f"arn:{PARTITION}:iam::{account_id}:user/tap",
            "userId": user_id,
            "id": account_id,
        },
        KNOWN_INVOKES[1]: {
            "region": region,
            "id": region,
            "description": region,
            "endpoint": f"ec2.{region}.amazonaws.com",
        },
        KNOWN_INVOKES[2]: {
            "partition": PARTITION,
            "id": PARTITION,
            "dnsSuffix": "amazonaws.com",
            "reverseDnsPrefix": "com.amazonaws",
        },
        # Zone ids are account-specific in AWS; offline they only need to be well formed.
        KNOWN_INVOKES[3]: {
            "id": region,
            "region": region,
            "names": [f"{region}{letter}" for letter in ZONE_LETTERS],
            "zoneIds": [
                f"{_zone_id_prefix(region)}-az{i}" for i in range(1, len(ZONE_LETTERS) + 1)
            ],
            "groupNames": [region],
            "state": "available",
        },
    }


def _zone_id_prefix(region: str) -> str:
    """``use1`` for ``us-east-1``, ``euw1`` for ``eu-west-1`` (the shape of AWS zone ids)."""
    parts = region.split("-")
    return parts[0] + "".join(p[0] for p in parts[1:-1]) + parts[-1]


def synthesised_outputs(
    typ: str, name: str, inputs: Mapping[str, Any], account_id: str, region: str
) -> tuple[str, dict[str, Any]]:
    """The physical id and provider-computed outputs (camelCase), as the registry forms them."""
    formed = registry.synthesised(typ, name, inputs, account_id, region, partition=PARTITION)
    if formed is None:  # a type tap does not deploy: the policy pack may still judge it
        return str(inputs.get("name") or f"{name}-id"), {}
    return formed


def offline_key_id(name: str) -> str:
    """The stand-in id of the KMS key of logical name ``name`` (AWS generates key ids)."""
    return placeholder_id(name)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass
class Runtime:
    """Mocks installed as the Pulumi runtime, with what they have seen so far."""

    mocks: RecordingMocks
    monitor: RecordingMonitor
    collector: _Collect


def install(
    account_id: str = PLACEHOLDER_ACCOUNT,
    region: str = PLACEHOLDER_REGION,
    project: str = "tap",
    stack: str = "offline",
) -> Runtime:
    """Install fresh recording mocks as the Pulumi runtime (``preview=False``)."""
    mocks = RecordingMocks(account_id, region)
    monitor = RecordingMonitor(mocks)
    collector = _Collect()
    logger = logging.getLogger(f"tap.graph.engine.{id(collector)}")
    logger.propagate = False
    logger.addHandler(collector)
    seam.install(mocks, monitor, project=project, stack=stack, logger=logger)
    return Runtime(mocks, monitor, collector)


def run(
    body: Callable[[], Mapping[str, pulumi.Output[Any]]],
    account_id: str = PLACEHOLDER_ACCOUNT,
    region: str = PLACEHOLDER_REGION,
    stack: str = "offline",
) -> Graph:
    """Run ``body`` (a program returning its outputs) under fresh mocks and return its graph."""
    runtime = install(account_id, region, stack=stack)
    outputs: dict[str, Any] = {}

    def program() -> pulumi.Output[None]:
        return pulumi.Output.all(**body()).apply(outputs.update)

    seam.run(program)
    return Graph(
        list(runtime.monitor.nodes),
        outputs,
        list(runtime.collector.messages),
        list(runtime.mocks.invokes),
    )


class RecordingMonitor(seam.Monitor):
    """A mock monitor that keeps every registration: URN, type, name, parent, inputs, outputs."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.nodes: list[Node] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        """Register through the mocks, then record the resource."""
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != seam.ROOT_TYPE:
            seen = seam.read(self, request)
            node = Node(
                urn=seen.urn,
                type=seen.type,
                name=seen.name,
                parent=seen.parent or None,
                custom=seen.custom,
                inputs=seam.inputs(request),
                outputs=seam.registered_outputs(self, seen.urn),
                ignore_changes=seen.ignore_changes,
            )
            with self._lock:
                self.nodes.append(node)
        return response
