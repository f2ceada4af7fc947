"""Provider tests call the deployer's operations with inputs in Pulumi's wire shape (camelCase,
numbers as floats) and check what the emulator holds afterwards, or what a call sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tap_cicd.local.clients import Clients
from tap_cicd.local.provider import HANDLERS, Context
from tap_cicd.local.provider import iam as iam_types
from tap_cicd.local.provider.engine import error_code
from tap_cicd.local.provider.model import Inputs, ResourceType

URN = "urn:pulumi:dev::tap::aws:test/thing:Thing::tap-test"
TAGS = {"Project": "pipeline", "Environment": "dev", "ManagedBy": "tap"}


@pytest.fixture
def ctx(home: Path, clients: Clients) -> Context:
    """A provider context in us-east-1 on an empty emulator (``home`` resets it)."""
    return Context(clients, clients.account_id(), "us-east-1")


def create(entry: ResourceType, ctx: Context, inputs: Inputs, urn: str = URN) -> Any:
    """The deployer's create of ``entry``: (id, outputs)."""
    return HANDLERS[entry.type].create(ctx, urn, inputs)


def update(entry: ResourceType, ctx: Context, resource_id: str, old: Inputs, new: Inputs) -> Any:
    """The deployer's update of ``entry``: its outputs."""
    operation = HANDLERS[entry.type].update
    assert operation is not None
    return operation(ctx, resource_id, old, new)


def delete(
    entry: ResourceType, ctx: Context, resource_id: str, inputs: Inputs | None = None
) -> None:
    """The deployer's delete of ``entry``."""
    HANDLERS[entry.type].delete(ctx, resource_id, inputs or {})


def error_of(call: Callable[[], object]) -> str:
    """The AWS error code ``call`` fails with."""
    with pytest.raises(ClientError) as raised:
        call()
    return error_code(raised.value)


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "Operation")


def writes_of(clients: Clients, operation: str) -> int:
    """How many times ``operation`` (``service:Name``) was called."""
    return clients.writes.count(operation)


def recorded(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every later ``operation`` call (``service.Name``) through ``client``."""
    sent: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params))

    client.meta.events.register(f"before-parameter-build.{operation}", record)
    return sent


def trust_policy(service: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def make_role(ctx: Context, name: str, service: str) -> str:
    """A role ``service`` may assume; returns its ARN."""
    _, outputs = create(
        iam_types.ROLE, ctx, {"name": name, "assumeRolePolicy": trust_policy(service)}
    )
    return str(outputs["arn"])
