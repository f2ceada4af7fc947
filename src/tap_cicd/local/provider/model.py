"""The registry's vocabulary: what one entry says about an AWS resource type.

An entry is data: the type token, the calls that create, read, update, delete and tag the
resource (each an operation of the type's boto3 client and how the Pulumi inputs map to its
parameters), which input changes replace it, and how its id and outputs (ARN, URL) are
formed. ``engine.py`` runs entries against an endpoint; ``graph.py`` forms the same ids and
outputs offline. Nothing here calls AWS or imports boto3.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

Inputs = Mapping[str, Any]
Outputs = dict[str, Any]

URN_TAG = "tap:urn"
"""Tagged on every resource that takes tags: the URN it was created for (a KMS key, which AWS
names itself, is found by it after an interrupted run)."""
STACK_TAG = "tap:stack"
"""Tagged on every resource that takes tags: the stack that owns it (adoption and destroy
check it, so one stack never takes or deletes another's resource)."""

ANY = "*"
"""In ``Update.on``: every changed input that no other update of the type claims."""


def arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    """An ARN; ``region`` is empty for global services (IAM)."""
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def placeholder_id(logical_name: str) -> str:
    """A stable stand-in, offline, for an id AWS generates (a KMS key id, a subscription)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tap:{logical_name}"))


def integer(value: Any) -> int:
    """Pulumi numbers arrive as floats."""
    return int(value)


@dataclass(frozen=True)
class Ref:
    """One resource as its calls see it: type, id, inputs, where it lives and its client."""

    type: ResourceType
    id: str
    inputs: Inputs
    account: str
    region: str
    partition: str = "aws"
    urn: str = ""
    client: Any = None
    """The type's boto3 client; ``None`` offline, where nothing is called."""

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        """An ARN in this resource's account and (unless global) region."""
        return arn(self.partition, service, self.region if regional else "", self.account, resource)

    @property
    def outputs(self) -> Outputs:
        """The provider-computed outputs: the type's ``outputs`` of this resource."""
        return self.type.outputs(self)

    def call(self, operation: str, **params: Any) -> Any:
        """One operation of the type's client."""
        return getattr(self.client, operation)(**params)


Step = Callable[[Ref], Any]
"""Something done to one resource: a ``Call``, or a function where one call is not enough."""
Fields = Mapping[str, Any]
"""API parameters by name: each a constant, or a function of the resource (``ID``, ``given``)."""


def ID(ref: Ref) -> str:
    """The parameter is the resource's id (in capitals, as it reads in entries: ``KeyId=ID``)."""
    return ref.id


def ARN(ref: Ref) -> str:
    """The parameter is the resource's ``arn`` output."""
    return str(ref.outputs["arn"])


_REQUIRED: Any = object()


def given(name: str, default: Any = _REQUIRED, then: Callable[[Any], Any] | None = None) -> Step:
    """The parameter is the input ``name`` (``default`` when absent), ``then`` converted."""

    def value(ref: Ref) -> Any:
        found = ref.inputs[name] if default is _REQUIRED else ref.inputs.get(name, default)
        return found if then is None else then(found)

    return value


def resolve(fields: Fields, ref: Ref) -> dict[str, Any]:
    """The parameters ``fields`` form for ``ref``."""
    return {k: v(ref) if callable(v) else v for k, v in fields.items()}


class Call:
    """One API call: an operation of the type's client and how the inputs map to parameters.

    The parameters are ``fields`` (``Call("get_role", RoleName=ID)``), plus what ``params``
    forms where the mapping is more than one field each.
    """

    def __init__(
        self,
        operation: str,
        params: Callable[[Ref], Mapping[str, Any]] | None = None,
        *,
        result: Callable[[Ref, Any], Any] | None = None,
        **fields: Any,
    ) -> None:
        self.operation = operation
        self.params = params
        self.result = result
        """What the call answers: a created id, the state read (``None``: gone). Default: all."""
        self.fields: Fields = fields

    def __call__(self, ref: Ref, **extra: Any) -> Any:
        formed = dict(self.params(ref)) if self.params is not None else {}
        response = ref.call(self.operation, **formed, **resolve(self.fields, ref), **extra)
        return response if self.result is None else self.result(ref, response)


@dataclass(frozen=True)
class Update:
    """Inputs that change in place, and what changes them."""

    on: tuple[str, ...]
    """The inputs this step sets; ``(ANY,)``: every changed input no other step claims."""
    step: Step
    after_create: bool = False
    """The create call cannot set these: run the step after it when the inputs set them."""


@dataclass(frozen=True)
class Tags:
    """How the ``tags`` input is applied: tag and untag calls (never a type's update step)."""

    target: Fields
    """The parameters both calls name the resource with."""
    tag: str = "tag_resource"
    untag: str = "untag_resource"
    param: str = "Tags"
    keys: str = "TagKeys"
    pairs: tuple[str, str] | None = ("Key", "Value")
    """Tags as a list of pairs with these key names; ``None``: as a plain map."""
    on_create: str | None = None
    """The create call's tags parameter; ``None``: tagged right after the create."""

    def encode(self, tags: Mapping[str, str]) -> Any:
        """``{"k": "v"}`` in the service's shape."""
        if self.pairs is None:
            return dict(tags)
        key, value = self.pairs
        return [{key: k, value: v} for k, v in tags.items()]


def tag_reader(
    operation: str,
    answer: Callable[[Any], Any],
    pairs: tuple[str, str] | None = ("Key", "Value"),
    **fields: Any,
) -> Step:
    """Reads a resource's tags as a plain map: ``answer`` picks them out of the response, as
    a list of ``pairs`` or (``pairs=None``) as a map already."""

    def read(ref: Ref) -> dict[str, str]:
        found = answer(ref.call(operation, **resolve(fields, ref))) or ()
        if pairs is None:
            return {str(k): str(v) for k, v in dict(found).items()}
        key, value = pairs
        return {str(tag[key]): str(tag[value]) for tag in found}

    return read


def lower_tags(target: Fields, **options: Any) -> Tags:
    """The tag calls of the services that spell their parameters ``tags`` and ``tagKeys``."""
    return Tags(target, param="tags", keys="tagKeys", on_create="tags", **options)


def by_input(name: str) -> Callable[[Ref], str]:
    """An id (or a name) that is one of the inputs."""
    return lambda ref: str(ref.inputs[name])


BY_NAME = by_input("name")
"""Most types' id: their ``name`` input."""


def no_outputs(_ref: Ref) -> Outputs:
    """A type whose provider computes no outputs beyond its id."""
    return {}


@dataclass(frozen=True)
class ResourceType:
    """Everything tap knows about one AWS resource type: one entry of the registry."""

    type: str
    """The Pulumi type token, e.g. ``aws:sqs/queue:Queue``."""
    service: str
    """The boto3 client every call of the type goes to."""
    create: Call
    """Creates it; its result is the physical id when AWS forms the id (``id`` gives none)."""
    read: Step
    """The current state, or ``None`` (or a not-found error) when it is gone."""
    delete: Step
    outputs: Callable[[Ref], Outputs] = no_outputs
    """The provider-computed outputs (ARN, URL, ...) formed from id, inputs, account, region."""
    id: Callable[[Ref], str] | None = BY_NAME
    """The physical id formed from the inputs; ``None``: AWS generates it."""
    updates: tuple[Update, ...] = ()
    tags: Tags | None = None
    replace_on: tuple[str, ...] = ()
    """Identity inputs (names, parents): a change creates the new resource, then deletes the old."""
    recreate_on: tuple[str, ...] = ()
    """Immutable inputs that keep the identity: a change deletes the old resource first."""
    exists: tuple[str, ...] = ()
    """Error codes of the create call that mean it exists (an interrupted run made it): adopt it."""
    find: Step | None = None
    """Looks for an existing one before creating, where no error code tells: its id or ``None``."""
    gone: tuple[str, ...] = ()
    """Error codes, besides the common not-found ones, that mean it is gone already."""
    read_tags: Step | None = None
    """Its current tags as a map; ``None``: AWS takes no tags on it (the state proves ownership)."""
    belongs_to: Callable[[Ref, Any], tuple[str, str]] | None = None
    """For a type AWS does not tag: the (type token, id) of the resource it is part of, from
    its inputs and its read; whose that one is, this one is."""
    volatile: tuple[str, ...] = ()
    """Keys of the read that change without anyone changing the resource (counters, dates, what
    the deploy step writes): left out when refresh compares reads to find drift."""

    def locate(
        self,
        inputs: Inputs,
        account: str,
        region: str,
        *,
        resource_id: str | None = None,
        logical_name: str = "",
        **where: Any,
    ) -> Ref:
        """The resource of these inputs: its id given, formed from the inputs, or a placeholder."""
        ref = Ref(self, resource_id or "", inputs, account, region, **where)
        if resource_id is not None:
            return ref
        if self.id is not None:
            return replace(ref, id=self.id(ref))
        return replace(ref, id=placeholder_id(logical_name) if logical_name else "")


def part_of(token: str, name: str) -> Callable[[Ref, Any], tuple[str, str]]:
    """``belongs_to``: the resource of type ``token`` whose id is the input ``name``."""
    return lambda ref, _read: (token, str(ref.inputs[name]))


def settable(
    type: str,
    service: str,
    put: Call,
    *,
    read: Step,
    delete: Step,
    of: str | tuple[str, ...],
    **more: Any,
) -> ResourceType:
    """A type whose create and every update are the same idempotent PUT (a policy, a setting).

    It belongs to the resource its ``of`` inputs name: their change is a new resource. With one
    such input, that input is its id.
    """
    keys = (of,) if isinstance(of, str) else of
    identity: dict[str, Any] = {"id": by_input(keys[0])} if len(keys) == 1 else {}
    updates = (Update((ANY,), put),)
    return ResourceType(
        type, service, put, read, delete, updates=updates, replace_on=keys, **identity, **more
    )
