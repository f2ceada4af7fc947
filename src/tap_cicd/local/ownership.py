"""Whose a resource is: its ``tap:stack`` tag, or for a type AWS does not tag, its parent's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tap_cicd.local.provider import Context, Handler
from tap_cicd.local.provider.model import STACK_TAG, Inputs


@dataclass(frozen=True)
class Whose:
    """What AWS says of a resource's existence and owner."""

    exists: bool
    owner: str | None = None
    """The stack its (or its parent's) ``tap:stack`` tag names; ``None``: no tag says."""
    parent: tuple[str, str] | None = None
    """For a type AWS does not tag: the (type, id) of the resource it is part of."""


def whose(
    ctx: Context,
    handlers: Mapping[str, Handler],
    handler: Handler,
    resource_id: str,
    inputs: Inputs,
) -> Whose:
    """Whether the resource exists, and the stack its tags say it is.

    A type AWS does not tag (a bucket's policy, a role's inline policy, an alias) is the
    stack's whose tags its parent carries (the bucket, the role, the key the alias names).
    """
    if handler.tags_of is not None:
        tags = handler.tags_of(ctx, resource_id, inputs)
        return Whose(tags is not None, None if tags is None else tags.get(STACK_TAG))
    if handler.parent is None:
        if handler.read is None:  # nothing to read it by: the state's word is all there is
            return Whose(exists=True)
        return Whose(handler.read(ctx, resource_id, inputs) is not None)
    parent = handler.parent(ctx, resource_id, inputs)
    if parent is None:
        return Whose(exists=False)
    parent_type, parent_id = parent
    parent_handler = handlers.get(parent_type)
    if parent_handler is None or parent_handler.tags_of is None or not parent_id:
        return Whose(True, None, parent)
    tags = parent_handler.tags_of(ctx, parent_id, {})
    return Whose(True, None if tags is None else tags.get(STACK_TAG), parent)
