"""Whose a resource is, refresh and the ownership check, with fake handlers (no AWS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tap_cicd.errors import OwnershipError
from tap_cicd.local.deployer import Deployer
from tap_cicd.local.ownership import Whose, whose
from tap_cicd.local.plan import Planned, Registration
from tap_cicd.local.provider import Context, Handler
from tap_cicd.local.provider.model import STACK_TAG
from tap_cicd.local.reconcile import check_ownership, refresh
from tap_cicd.local.state import ResourceState, StackState, StateStore
from tap_cicd.local.summary import CREATED, REPLACED, UPDATED

CTX = Context(None, "123456789012", "us-east-1", stack="dev")  # type: ignore[arg-type]
TAGGED, PART, PLAIN, BARE = "aws:x/tagged:T", "aws:x/part:P", "aws:x/plain:L", "aws:x/bare:B"


def nothing(*_args: Any) -> Any:
    return None


class World:
    """What a fake AWS holds: tags by id (tagged type), reads by id, parents by id."""

    def __init__(self) -> None:
        self.tags: dict[str, dict[str, str]] = {}
        self.reads: dict[str, Any] = {}
        self.parents: dict[str, tuple[str, str]] = {}
        self.deleted: list[str] = []

    def handlers(self) -> dict[str, Handler]:
        def delete(_ctx: Any, rid: str, _inputs: Any) -> None:
            self.deleted.append(rid)

        def observe(_ctx: Any, rid: str, _inputs: Any) -> Any:
            if rid in self.tags:
                return f"digest-{sorted(self.tags[rid].items())}", self.tags[rid]
            return (f"digest-{self.reads[rid]}", None) if rid in self.reads else None

        identify = lambda _ctx, inputs: str(inputs.get("name", ""))  # noqa: E731
        common: dict[str, Any] = {"observe": observe, "identify": identify, "read": None}
        return {
            TAGGED: Handler(
                TAGGED,
                nothing,
                delete,
                tags_of=lambda _c, rid, _i: self.tags.get(rid),
                **common,
            ),
            PART: Handler(
                PART, nothing, delete, parent=lambda _c, rid, _i: self.parents.get(rid), **common
            ),
            PLAIN: Handler(
                PLAIN,
                nothing,
                delete,
                **{**common, "read": lambda _c, rid, _i: self.reads.get(rid)},
            ),
            BARE: Handler(BARE, nothing, delete),
        }


def resource(urn: str, typ: str, rid: str, **fields: Any) -> ResourceState:
    return ResourceState(urn, typ, rid, True, {"name": rid or urn}, {}, [], **fields)


def test_whose_reads_tags_parents_or_only_existence() -> None:
    world = World()
    handlers = world.handlers()
    world.tags["t"] = {STACK_TAG: "prod"}
    assert whose(CTX, handlers, handlers[TAGGED], "t", {}) == Whose(True, "prod")
    assert whose(CTX, handlers, handlers[TAGGED], "gone", {}) == Whose(False)
    world.reads["l"] = {}
    assert whose(CTX, handlers, handlers[PLAIN], "l", {}) == Whose(True)
    assert whose(CTX, handlers, handlers[PLAIN], "gone", {}) == Whose(False)
    assert whose(CTX, handlers, handlers[BARE], "b", {}) == Whose(True)  # the state's word
    assert whose(CTX, handlers, handlers[PART], "gone", {}) == Whose(False)
    world.parents.update(p=(TAGGED, "t"), q=("aws:x/unknown:U", "u"), r=(TAGGED, "missing"))
    assert whose(CTX, handlers, handlers[PART], "p", {}) == Whose(True, "prod", (TAGGED, "t"))
    assert whose(CTX, handlers, handlers[PART], "q", {}).owner is None
    assert whose(CTX, handlers, handlers[PART], "r", {}) == Whose(True, None, (TAGGED, "missing"))


def test_refresh_drops_the_gone_and_the_disowned_and_finds_drift(tmp_path: Path) -> None:
    world = World()
    world.tags.update(
        mine={STACK_TAG: "dev"},
        theirs={STACK_TAG: "prod"},
        untagged={},
        pending={STACK_TAG: "dev"},
        changed={STACK_TAG: "dev", "Team": "b"},
    )
    world.reads["old"] = "x"
    state = StackState("dev")
    component = ResourceState("c", "tap:x:Component", "", False, {}, {}, [])
    for item in (
        component,
        resource("mine", TAGGED, "mine", observed="digest-[('tap:stack', 'dev')]"),
        resource("theirs", TAGGED, "theirs"),
        resource("untagged", TAGGED, "untagged", observed="digest-[]"),
        resource("pending", TAGGED, "", pending=True),
        resource("lost-pending", TAGGED, "", pending=True),
        resource("gone", TAGGED, "gone"),
        resource("changed", TAGGED, "changed", observed="digest-before"),
        resource("old", PLAIN, "old"),
        resource("bare", BARE, "bare"),
        resource("unknown", "aws:x/unknown:U", "u"),
    ):
        state.resources[item.urn] = item
    found = refresh(StateStore(tmp_path), state, CTX, world.handlers())
    assert found.gone == ["gone"]
    assert found.disowned == ["aws:x/tagged:T 'theirs' exists and belongs to stack 'prod'"]
    assert found.drifted == {"untagged": "untagged", "changed": "changed"}
    assert sorted(state.resources) == sorted(
        ["c", "mine", "untagged", "pending", "changed", "old", "bare", "unknown"]
    )
    assert state.resources["old"].observed == "digest-x"  # first read: recorded
    assert StateStore(tmp_path).load("dev").resources.keys() == state.resources.keys()
    assert found.notes == [
        "gone was deleted outside tap",
        "untagged was changed outside tap",
        "changed was changed outside tap",
        "dropped from the state: aws:x/tagged:T 'theirs' exists and belongs to stack 'prod'",
    ]


def plan(*steps: tuple[str, str, str, ResourceState | None]) -> list[Planned]:
    return [
        Planned(operation, Registration(urn, typ, urn, {"name": name}, True, [], []), old=old)
        for operation, typ, name, old in ((s[0], s[1], s[2], s[3]) for s in steps)
        for urn in [f"urn-{name}"]
    ]


def test_a_create_whose_name_another_stack_holds_is_refused(tmp_path: Path) -> None:
    world = World()
    world.reads.update(held={}, mine={}, stray={})
    world.tags["parent"] = {}
    world.parents["child"] = (TAGGED, "parent")
    store = StateStore(tmp_path)
    prod = StackState("prod")
    prod.resources["p"] = resource("p", PLAIN, "held")
    store.save(prod)
    (tmp_path / "state" / "broken.json").write_text("{")  # a damaged neighbour proves nothing
    state = StackState("dev")
    state.resources["urn-mine"] = resource("urn-mine", PLAIN, "", pending=True)
    state.resources["urn-parent"] = resource("urn-parent", TAGGED, "parent")
    store.save(state)
    fine = plan(
        (CREATED, PLAIN, "mine", None),  # this stack began creating it
        (CREATED, PART, "child", None),  # part of this stack's parent
        (CREATED, PLAIN, "absent", None),
        (UPDATED, PLAIN, "held", None),
        (REPLACED, PLAIN, "held", resource("x", PLAIN, "held")),  # the one replaced
        (CREATED, BARE, "", None),  # AWS names it
        (CREATED, "aws:x/unknown:U", "u", None),
    )
    check_ownership(fine, state, store, CTX, world.handlers())
    with pytest.raises(OwnershipError) as refused:
        check_ownership(
            fine + plan((CREATED, PLAIN, "held", None), (CREATED, PLAIN, "stray", None)),
            state,
            store,
            CTX,
            world.handlers(),
        )
    assert refused.value.message == (
        "aws:x/plain:L 'held' exists and belongs to stack 'prod' (and 1 more): nothing was "
        "changed; pick another environmentSuffix or namePrefix, or destroy that stack first"
    )
    with pytest.raises(OwnershipError, match="'stray' exists and belongs to something tap"):
        check_ownership(plan((CREATED, PLAIN, "stray", None)), state, store, CTX, world.handlers())


def test_destroy_deletes_only_what_exists_and_is_not_anothers(tmp_path: Path) -> None:
    world = World()
    world.tags.update(mine={STACK_TAG: "dev"}, theirs={STACK_TAG: "prod"}, plain={})
    state = StackState("dev")
    for item in (
        resource("mine", TAGGED, "mine"),
        resource("theirs", TAGGED, "theirs"),
        resource("untagged", TAGGED, "plain"),
        resource("gone", TAGGED, "gone"),
        ResourceState("never", TAGGED, "", True, {"x": 1}, {}, [], pending=True),
    ):
        state.resources[item.urn] = item
    deployer = Deployer(StateStore(tmp_path), state, CTX, handlers=world.handlers())
    deployer.delete(list(state.resources.values()))
    assert sorted(world.deleted) == ["mine", "plain"]
    assert deployer.summary.notes == [
        "kept theirs: aws:x/tagged:T 'theirs' exists and belongs to stack 'prod'"
    ]
    assert not state.resources
