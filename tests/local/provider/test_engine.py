"""What every entry shares (adopt, update, tag, delete, read), on a fake client: no emulator."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tap_cicd.local.clients import Clients
from tap_cicd.local.provider import Context, engine
from tap_cicd.local.provider.model import (
    ANY,
    ARN,
    ID,
    URN_TAG,
    Call,
    Ref,
    ResourceType,
    Tags,
    Update,
    given,
    lower_tags,
)

from .conftest import URN, client_error


class Fake:
    """A client that records every call and fails the ones it is told to, once."""

    def __init__(self, **failures: str) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.failures = failures

    def __getattr__(self, operation: str) -> Any:
        def call(**params: Any) -> dict[str, Any]:
            self.calls.append((operation, params))
            if operation in self.failures:
                raise client_error(self.failures.pop(operation))
            return {"Id": "generated-1"}

        return call

    def names(self) -> list[str]:
        return [operation for operation, _ in self.calls]


def context(client: Fake) -> Context:
    clients: Any = lambda _service: client  # noqa: E731 - a stand-in for Clients
    return Context(clients, "123456789012", "eu-west-1")


TAGS = Tags({"Name": ID}, tag="tag", untag="untag", on_create="Tags")
THING = ResourceType(
    type="test:index:Thing",
    service="test",
    create=Call("make", Name=ID),
    read=Call("describe", Name=ID),
    delete=Call("remove", Name=ID),
    updates=(
        Update(("size",), Call("resize", Size=given("size"))),
        Update(("mode",), Call("switch", Name=ID), after_create=True),
        Update((ANY,), Call("reconfigure", Name=ID)),
    ),
    tags=TAGS,
    exists=("AlreadyThere",),
    outputs=lambda ref: {"arn": ref.arn("test", ref.id)},
)


def test_error_code_of_a_response_without_error_is_empty() -> None:
    assert engine.error_code(ClientError({}, "Operation")) == ""
    assert engine.error_code(client_error("NoSuchBucket")) == "NoSuchBucket"


def test_ignore_missing_swallows_not_found_and_the_extra_codes() -> None:
    def fail(code: str) -> Any:
        def call() -> None:
            raise client_error(code)

        return call

    engine.ignore_missing(fail("NoSuchEntity"))
    engine.ignore_missing(fail("KMSInvalidStateException"), "KMSInvalidStateException")
    with pytest.raises(ClientError, match="AccessDenied"):
        engine.ignore_missing(fail("AccessDenied"))
    with pytest.raises(ClientError, match="KMSInvalidStateException"):
        engine.ignore_missing(fail("KMSInvalidStateException"))


def test_context_builds_regional_and_global_arns(clients: Clients) -> None:
    ctx = Context(clients, "123456789012", "eu-west-1")
    assert ctx.arn("sqs", "q") == "arn:aws:sqs:eu-west-1:123456789012:q"
    assert ctx.arn("iam", "role/r", regional=False) == "arn:aws:iam::123456789012:role/r"


def test_tags_are_encoded_in_the_service_shape() -> None:
    assert TAGS.encode({"a": "1"}) == [{"Key": "a", "Value": "1"}]
    assert lower_tags({"x": ID}).encode({"a": "1"}) == [{"Key": "a", "Value": "1"}]
    pairs = lower_tags({"x": ID}, pairs=("key", "value"))
    assert (pairs.param, pairs.keys, pairs.on_create) == ("tags", "tagKeys", "tags")
    assert pairs.encode({"a": "1"}) == [{"key": "a", "value": "1"}]
    assert Tags({"x": ID}, pairs=None).encode({"a": "1"}) == {"a": "1"}


def test_create_sends_the_tags_and_runs_only_the_steps_create_cannot_do() -> None:
    client = Fake()
    inputs = {"name": "t", "size": 1, "mode": "fast", "tags": {"a": "1"}}
    resource_id, outputs = engine.create(THING, context(client), URN, inputs)
    assert (resource_id, outputs) == ("t", {"arn": "arn:aws:test:eu-west-1:123456789012:t"})
    assert client.calls == [
        ("make", {"Name": "t", "Tags": [{"Key": "a", "Value": "1"}]}),
        ("switch", {"Name": "t"}),
    ]


def test_create_without_tags_or_late_inputs_is_one_call() -> None:
    client = Fake()
    engine.create(THING, context(client), URN, {"name": "t", "size": 1})
    assert client.names() == ["make"]


def test_a_create_that_finds_it_exists_adopts_it_and_sets_everything() -> None:
    client = Fake(make="AlreadyThere")
    inputs = {"name": "t", "size": 1, "tags": {"a": "1"}}
    assert engine.create(THING, context(client), URN, inputs)[0] == "t"
    assert client.names() == ["make", "resize", "switch", "reconfigure", "tag"]


def test_a_create_failing_otherwise_raises() -> None:
    with pytest.raises(ClientError, match="AccessDenied"):
        engine.create(THING, context(Fake(make="AccessDenied")), URN, {"name": "t"})


def test_update_runs_the_steps_of_what_changed_and_diffs_the_tags() -> None:
    client = Fake()
    ctx = context(client)
    old = {"name": "t", "size": 1, "mode": "a", "tags": {"a": "1", "b": "2"}}
    engine.update(THING, ctx, "t", old, {**old, "size": 2, "tags": {"a": "9"}})
    assert client.calls == [
        ("resize", {"Size": 2}),
        ("untag", {"Name": "t", "TagKeys": ["b"]}),
        ("tag", {"Name": "t", "Tags": [{"Key": "a", "Value": "9"}]}),
    ]
    client.calls.clear()
    engine.update(THING, ctx, "t", old, {**old, "description": "new"})
    assert client.names() == ["reconfigure"]  # an input no step claims
    client.calls.clear()
    engine.update(THING, ctx, "t", old, {**old, "tags": {}})
    assert client.names() == ["untag"]


def test_a_type_without_updates_or_tags_is_replaced_on_every_change() -> None:
    plain = ResourceType(
        type="test:index:Plain",
        service="test",
        create=Call("make", Name=ID),
        read=Call("describe", Name=ID),
        delete=Call("remove", Name=ID),
    )
    assert engine.handler(plain).update is None
    assert engine.handler(THING).update is not None


GENERATED = ResourceType(
    type="test:index:Generated",
    service="test",
    id=None,
    create=Call("make", result=lambda _ref, response: response["Id"]),
    find=Call("lookup", Name=ID, result=lambda _ref, response: response.get("Found")),
    read=Call("describe", Name=ID),
    delete=Call("remove", Name=ID),
    tags=TAGS,
)


def test_a_generated_id_comes_from_create_with_the_urn_tag() -> None:
    client = Fake(lookup="NotFound")
    resource_id, _ = engine.create(GENERATED, context(client), URN, {})
    assert resource_id == "generated-1"
    assert client.calls[-1] == ("make", {"Tags": [{"Key": URN_TAG, "Value": URN}]})


def test_find_adopts_what_it_finds() -> None:
    class Finds(Fake):
        def lookup(self, **_params: Any) -> dict[str, Any]:
            return {"Found": "existing-7"}

    client = Finds()
    assert engine.create(GENERATED, context(client), URN, {"tags": {"a": "1"}})[0] == "existing-7"
    assert client.names() == ["tag"]


def test_find_failing_otherwise_raises() -> None:
    with pytest.raises(ClientError, match="Throttling"):
        engine.create(GENERATED, context(Fake(lookup="Throttling")), URN, {})


def test_read_answers_none_when_gone_and_raises_otherwise() -> None:
    assert engine.read(THING, context(Fake()), "t", {}) == {"Id": "generated-1"}
    assert engine.read(THING, context(Fake(describe="NotFound")), "t", {}) is None
    with pytest.raises(ClientError, match="AccessDenied"):
        engine.read(THING, context(Fake(describe="AccessDenied")), "t", {})


def test_delete_of_what_is_gone_is_fine() -> None:
    engine.delete(THING, context(Fake(remove="NotFound")), "t", {})
    with pytest.raises(ClientError, match="AccessDenied"):
        engine.delete(THING, context(Fake(remove="AccessDenied")), "t", {})


def test_a_call_takes_fields_constants_and_formed_parameters() -> None:
    client = Fake()
    ref = THING.locate({"name": "n", "size": 2}, "1", "r", client=client)
    call = Call("op", lambda r: {"Formed": r.inputs["size"]}, Name=ID, Fixed=1, Size=given("size"))
    call(ref, Extra=True)
    assert client.calls == [
        ("op", {"Formed": 2, "Name": "n", "Fixed": 1, "Size": 2, "Extra": True})
    ]
    assert given("absent", 5, str)(ref) == "5"
    assert ARN(ref) == "arn:aws:test:r:1:n"


def test_locate_forms_ids_offline() -> None:
    named = THING.locate({"name": "n"}, "1", "r")
    assert (named.id, named.outputs) == ("n", {"arn": "arn:aws:test:r:1:n"})
    placeholder = GENERATED.locate({}, "1", "r", logical_name="logical")
    assert len(placeholder.id) == 36
    assert GENERATED.locate({}, "1", "r").id == ""
    given = THING.locate({"name": "n"}, "1", "r", resource_id="given")
    assert isinstance(given, Ref)
    assert given.id == "given"
