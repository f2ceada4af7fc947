"""The registry: every AWS resource type tap deploys, by type token, one entry each.

The local provider deploys by these entries, the offline graph forms its outputs from them
and the policy pack takes its type tokens from them. Adding a type is one entry in its
service's module (listed here) and one row in ``tests/local/provider/test_registry.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_cicd.local.provider import (
    codebuild,
    codepipeline,
    ec2,
    ecr,
    ecs,
    elbv2,
    events,
    iam,
    kms,
    lambda_,
    logs,
    s3,
    sns,
    sqs,
    ssm,
)
from tap_cicd.local.provider.engine import Handler, handler
from tap_cicd.local.provider.model import Outputs, ResourceType

SERVICES = (
    kms,
    s3,
    ecr,
    logs,
    iam,
    codebuild,
    lambda_,
    codepipeline,
    ssm,
    sns,
    sqs,
    events,
    ec2,
    elbv2,
    ecs,
)
TYPES: tuple[ResourceType, ...] = tuple(t for service in SERVICES for t in service.TYPES)
REGISTRY: dict[str, ResourceType] = {t.type: t for t in TYPES}
HANDLERS: dict[str, Handler] = {t.type: handler(t) for t in TYPES}
"""The deployer's operations by token (tests swap one in to inject failures)."""


def synthesised(
    token: str,
    logical_name: str,
    inputs: Mapping[str, Any],
    account: str,
    region: str,
    *,
    partition: str = "aws",
) -> tuple[str, Outputs] | None:
    """The id and outputs a resource gets offline, formed as the provider forms them.

    ``None`` for a type tap does not deploy, or a resource without the inputs its id needs.
    """
    entry = REGISTRY.get(token)
    if entry is None:
        return None
    try:
        ref = entry.locate(inputs, account, region, logical_name=logical_name, partition=partition)
        return ref.id, ref.outputs
    except KeyError:  # no name input: left to Pulumi's autonaming, which the mocks do not do
        return None
