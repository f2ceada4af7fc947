"""What every registry entry shares, written once: adopt, update, tag, delete and read.

``handler(entry)`` turns an entry into the operations the deployer calls. Creating adopts
what an interrupted run left behind (by the entry's ``exists`` codes or ``find``); updating runs
only the steps whose inputs changed, then diffs the tags; deleting and reading treat a resource
that is already gone as fine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from tap_cicd.errors import OwnershipError
from tap_cicd.local.provider.assets import normalize
from tap_cicd.local.provider.model import (
    ANY,
    STACK_TAG,
    URN_TAG,
    Inputs,
    Outputs,
    Ref,
    ResourceType,
    Step,
    arn,
    resolve,
)

if TYPE_CHECKING:
    from tap_cicd.local.clients import Clients

NOT_FOUND = frozenset(
    {
        "404",
        "NoSuchBucket",
        "NoSuchBucketPolicy",
        "NoSuchEntity",
        "NotFoundException",
        "NotFound",
        "ResourceNotFound",
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
        # EC2: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidRoute.NotFound",
        "InvalidAssociationID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidSecurityGroupRuleId.NotFound",
        # Elastic Load Balancing v2 and ECS
        "LoadBalancerNotFound",
        "TargetGroupNotFound",
        "ListenerNotFound",
        "ClusterNotFoundException",
        "ServiceNotFoundException",
    }
)
"""Error codes that mean the resource (or the configuration asked for) does not exist."""


@dataclass(frozen=True)
class Context:
    """Where the provider works: clients of one endpoint, its account and region."""

    clients: Clients
    account_id: str
    region: str
    partition: str = "aws"
    stack: str = field(default="", kw_only=True)
    """The stack deploying: what ownership tags say, and what adoption requires them to say."""

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        """An ARN of this account and (unless global) region."""
        return arn(
            self.partition, service, self.region if regional else "", self.account_id, resource
        )

    def ref(self, entry: ResourceType, inputs: Inputs, **known: Any) -> Ref:
        """A resource of ``entry`` here, with its client."""
        client = self.clients(entry.service)
        where = {"partition": self.partition, "client": client}
        return entry.locate(inputs, self.account_id, self.region, **known, **where)


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


Create = Callable[[Context, str, Inputs], tuple[str, Outputs]]
Update = Callable[[Context, str, Inputs, Inputs], Outputs]
Delete = Callable[[Context, str, Inputs], None]
Read = Callable[[Context, str, Inputs], Any]
Observation = tuple[str, "dict[str, str] | None"]
"""A digest of what AWS describes, and the tags (``None`` for types AWS does not tag)."""
Observe = Callable[[Context, str, Inputs], "Observation | None"]
TagsOf = Callable[[Context, str, Inputs], "dict[str, str] | None"]


def ownership_tags(stack: str, urn: str) -> dict[str, str]:
    """The tags that say which stack (and which of its resources) a resource is."""
    return {STACK_TAG: stack, URN_TAG: urn}


def owner_line(type_token: str, resource_id: str, owner: str | None) -> str:
    """One line naming a resource that is not this stack's, and whose it is."""
    whose = f"stack '{owner}'" if owner else "something tap does not know (no tap:stack tag)"
    return f"{type_token} '{resource_id}' exists and belongs to {whose}"


@dataclass(frozen=True)
class Handler:
    """The operations the deployer calls for one resource type."""

    type: str
    create: Create
    delete: Delete
    update: Update | None = None
    """Updates in place; ``None``: every change replaces the resource."""
    replace_on: tuple[str, ...] = ()
    """Identity inputs (names, parents): a change creates the new resource, then deletes the old."""
    recreate_on: tuple[str, ...] = ()
    """Immutable inputs that keep the identity: a change deletes the old resource first."""
    read: Read | None = None
    """The resource's current state, ``None`` when it is gone (for refresh)."""
    observe: Observe | None = None
    """A digest of what AWS describes (volatile keys left out) and its tags; ``None`` when
    it is gone."""
    tags_of: TagsOf | None = None
    """Its current tags (``None`` when gone); absent for types AWS does not tag."""
    identify: Callable[[Context, Inputs], str] = lambda _ctx, _inputs: ""
    """The id the inputs give it; ``""`` when AWS names it."""
    parent: Read | None = None
    """For a type AWS does not tag: the (type, id) of the resource it is part of, as it is
    now (``None`` when it is gone); absent when it is part of nothing tap tags."""


def handler(entry: ResourceType) -> Handler:
    """The deployer's operations for a registry entry."""
    updatable = bool(entry.updates) or entry.tags is not None
    return Handler(
        type=entry.type,
        create=partial(create, entry),
        delete=partial(delete, entry),
        update=partial(update, entry) if updatable else None,
        replace_on=entry.replace_on,
        recreate_on=entry.recreate_on,
        read=partial(read, entry),
        observe=partial(observe, entry),
        tags_of=partial(tags_of, entry) if entry.read_tags is not None else None,
        identify=lambda ctx, inputs: ctx.ref(entry, inputs).id,
        parent=partial(parent, entry) if entry.belongs_to is not None else None,
    )


def create(entry: ResourceType, ctx: Context, urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    """Create the resource, or adopt the one an interrupted run left, and bring it to ``inputs``."""
    draft = ctx.ref(entry, inputs, urn=urn)
    found = _unless_gone(entry, entry.find, draft) if entry.find is not None else None
    if found is None:
        tags = _create_tags(draft)
        try:
            answer = entry.create(draft, **tags)
        except ClientError as error:
            if error_code(error) not in entry.exists:
                raise
            found = draft.id
        else:
            made = replace(draft, id=answer if isinstance(answer, str) else draft.id)
            old = {"tags": inputs.get("tags")} if tags else {}
            converge(made, old, after_create=True)
            return made.id, made.outputs
    adopted = replace(draft, id=str(found))
    if entry.read_tags is not None:
        # The plan checked whose it is before the first write; tagged as another stack's
        # since then, it is still not taken.
        owner = (entry.read_tags(adopted) or {}).get(STACK_TAG)
        if owner not in (None, ctx.stack):
            raise OwnershipError(owner_line(entry.type, adopted.id, owner))
    converge(adopted, {}, force=True)
    return adopted.id, adopted.outputs


def _create_tags(draft: Ref) -> dict[str, Any]:
    """The create call's tags parameter, when it takes one (with the URN tag for AWS's names)."""
    spec = draft.type.tags
    if spec is None or spec.on_create is None:
        return {}
    tags = dict(draft.inputs.get("tags") or {})
    if draft.type.id is None:
        tags[URN_TAG] = draft.urn
    return {spec.on_create: spec.encode(tags)} if tags else {}


def update(
    entry: ResourceType, ctx: Context, resource_id: str, old: Inputs, new: Inputs
) -> Outputs:
    """Run the update steps whose inputs changed from ``old`` to ``new``, then retag."""
    ref = ctx.ref(entry, new, resource_id=resource_id)
    converge(ref, old)
    return ref.outputs


def converge(ref: Ref, old: Inputs, *, force: bool = False, after_create: bool = False) -> None:
    """Run the steps of what changed (every step with ``force``), then tag and untag."""
    entry, new = ref.type, ref.inputs
    changed = {k for k in {*old, *new} if normalize(new.get(k)) != old.get(k)}
    if entry.tags is not None:
        changed.discard("tags")
    claimed = {name for step in entry.updates for name in step.on}
    for step in entry.updates:
        if after_create and not step.after_create:
            continue
        wanted = changed & set(step.on) or (ANY in step.on and changed - claimed)
        if force or wanted:
            step.step(ref)
    _retag(ref, old, force=force)


def _retag(ref: Ref, old: Inputs, *, force: bool) -> None:
    spec = ref.type.tags
    if spec is None:
        return
    old_tags, new_tags = dict(old.get("tags") or {}), dict(ref.inputs.get("tags") or {})
    if stale := sorted(set(old_tags) - set(new_tags)):
        ref.call(spec.untag, **resolve(spec.target, ref), **{spec.keys: stale})
    if new_tags and (force or new_tags != old_tags):
        ref.call(spec.tag, **resolve(spec.target, ref), **{spec.param: spec.encode(new_tags)})


def delete(entry: ResourceType, ctx: Context, resource_id: str, inputs: Inputs) -> None:
    """Delete the resource; one that is gone already is fine."""
    ref = ctx.ref(entry, inputs, resource_id=resource_id)
    ignore_missing(lambda: entry.delete(ref), *entry.gone)


def read(entry: ResourceType, ctx: Context, resource_id: str, inputs: Inputs) -> Any:
    """The resource's current state as AWS describes it; ``None`` when it is gone."""
    return _unless_gone(entry, entry.read, ctx.ref(entry, inputs, resource_id=resource_id))


def tags_of(entry: ResourceType, ctx: Context, resource_id: str, inputs: Inputs) -> Any:
    """The resource's current tags as a map; ``None`` when it is gone."""
    assert entry.read_tags is not None  # noqa: S101 - handler() offers this only then
    ref = ctx.ref(entry, inputs, resource_id=resource_id)
    return _unless_gone(entry, entry.read_tags, ref)


def parent(entry: ResourceType, ctx: Context, resource_id: str, inputs: Inputs) -> Any:
    """The (type, id) of the resource this one is part of, as AWS has it; ``None`` when gone."""
    assert entry.belongs_to is not None  # noqa: S101 - handler() offers this only then
    ref = ctx.ref(entry, inputs, resource_id=resource_id)
    found = _unless_gone(entry, entry.read, ref)
    return None if found is None else entry.belongs_to(ref, found)


def observe(
    entry: ResourceType, ctx: Context, resource_id: str, inputs: Inputs
) -> Observation | None:
    """A digest of the resource as AWS describes it, tags included, and its tags; ``None``
    when it is gone.

    The entry's ``volatile`` keys (and every response's metadata) are left out, so the digest
    changes only when someone changes the resource.
    """
    ref = ctx.ref(entry, inputs, resource_id=resource_id)
    found = _unless_gone(entry, entry.read, ref)
    if found is None:
        return None
    tags = _unless_gone(entry, entry.read_tags, ref) if entry.read_tags is not None else None
    stable = _without({"read": found, "tags": tags}, {"ResponseMetadata", *entry.volatile})
    text = json.dumps(stable, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest(), tags


def _without(value: Any, keys: set[str]) -> Any:
    """``value`` with every mapping's ``keys`` removed, at any depth."""
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [_without(v, keys) for v in value]
    return value


def _unless_gone(entry: ResourceType, step: Step, ref: Ref) -> Any:
    """What ``step`` answers; ``None`` when it fails because the resource does not exist."""
    try:
        return step(ref)
    except ClientError as error:
        if error_code(error) in NOT_FOUND | set(entry.gone):
            return None
        raise
