"""Helpers shared by the per-service provider modules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tap_cicd.local.clients import Clients

Inputs = Mapping[str, Any]
Outputs = dict[str, Any]

NOT_FOUND = {
    "NoSuchBucket",
    "NoSuchBucketPolicy",
    "NoSuchEntity",
    "NotFoundException",
    "NotFound",
    "ResourceNotFoundException",
    "RepositoryNotFoundException",
    "LifecyclePolicyNotFoundException",
    "PipelineNotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ParameterNotFound",
    "NoSuchLifecycleConfiguration",
    "ServerSideEncryptionConfigurationNotFoundError",
    "OwnershipControlsNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
}


@dataclass(frozen=True)
class Context:
    """What a provider function needs: clients, account and region."""

    clients: Clients
    account_id: str
    region: str

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        """An ARN of this account and region."""
        region = self.region if regional else ""
        return f"arn:aws:{service}:{region}:{self.account_id}:{resource}"


def error_code(error: ClientError) -> str:
    """The AWS error code of a client error."""
    return str(error.response.get("Error", {}).get("Code", ""))


def ignore_missing(call: Callable[[], object], *codes: str) -> None:
    """Run a delete call; a resource that is already gone is fine."""
    try:
        call()
    except ClientError as error:
        if error_code(error) not in NOT_FOUND | set(codes):
            raise


def integer(value: Any) -> int:
    """Pulumi numbers arrive as floats."""
    return int(value)


def stale_tags(old: Inputs, new: Inputs) -> list[str]:
    """Tag keys the old inputs had and the new ones drop: an update must remove them."""
    return sorted(set(old.get("tags") or {}) - set(new.get("tags") or {}))


def tag_list(
    tags: Mapping[str, str] | None, key: str = "Key", value: str = "Value"
) -> list[dict[str, str]]:
    """``{"k": "v"}`` as ``[{"Key": "k", "Value": "v"}]`` (the key names vary by service)."""
    return [{key: k, value: v} for k, v in (tags or {}).items()]


Create = Callable[[Context, str, Inputs], tuple[str, Outputs]]
Update = Callable[[Context, str, Inputs, Inputs], Outputs]
Delete = Callable[[Context, str, Inputs], None]


def reapply(create: Create) -> Update:
    """The update of a resource whose create is an idempotent PUT: put the new inputs again."""
    return lambda ctx, _id, _old, new: create(ctx, "", new)[1]


def delete_by_id(service: str, operation: str, key: str) -> Delete:
    """A delete that names the resource by its id as ``key``; already gone is fine."""

    def delete(ctx: Context, resource_id: str, _inputs: Inputs) -> None:
        call = getattr(ctx.clients(service), operation)
        ignore_missing(lambda: call(**{key: resource_id}))

    return delete


@dataclass(frozen=True)
class Handler:
    """How one resource type is created, updated and deleted with boto3."""

    type: str
    create: Create
    delete: Delete
    update: Update | None = None
    """Updates in place; ``None``: every change replaces the resource."""
    replace_on: tuple[str, ...] = ()
    """Identity inputs (names, parents): a change creates the new resource, then deletes the old."""
    recreate_on: tuple[str, ...] = ()
    """Immutable inputs that keep the identity: a change deletes the old resource first."""
