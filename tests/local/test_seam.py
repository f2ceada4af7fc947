"""Pulumi's mock seam: what tap relies on, pinned, and the alias URNs derived through it.

The contract tests name the Pulumi attribute, signature or behaviour each part of
``tap_cicd.local.seam`` uses: after a Pulumi upgrade, a failure here says which one changed.
"""

from __future__ import annotations

import inspect
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.proto import alias_pb2, resource_pb2
from pulumi.runtime.stack import Stack

from tap_cicd.local import seam

STACK, PROJECT = "dev", "tap"
ROOT = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack::{PROJECT}-{STACK}"
PARENT = f"urn:pulumi:{STACK}::{PROJECT}::pulumi:pulumi:Stack$my:index:Parent::p"


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.names: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.names.append(args.name)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


@pytest.fixture
def mocks() -> Recorder:
    recorder = Recorder()
    seam.install(recorder, seam.Monitor(recorder), project=PROJECT, stack=STACK)
    return recorder


# --- the contract ------------------------------------------------------------------------------


def test_set_mocks_takes_a_monitor_and_a_logger() -> None:
    parameters = inspect.signature(pulumi.runtime.set_mocks).parameters
    assert {"mocks", "project", "stack", "preview", "logger", "monitor"} <= parameters.keys()


def test_each_install_starts_a_new_root_stack(mocks: Recorder) -> None:
    first = pulumi.runtime.get_root_resource()
    pulumi.export("left", "over")
    seam.install(mocks, seam.Monitor(mocks), project=PROJECT, stack=STACK)
    assert pulumi.runtime.get_root_resource() is not first
    assert seam.exports() == {}


def test_the_mock_monitor_is_the_base_tap_overrides() -> None:
    assert seam.Monitor is MockMonitor
    assert list(inspect.signature(MockMonitor.RegisterResource).parameters) == ["self", "request"]
    assert list(inspect.signature(MockMonitor.make_urn).parameters) == [
        "self",
        "parent",
        "type_",
        "name",
    ]
    assert "resources" in MockMonitor.__annotations__
    assert callable(rpc.deserialize_properties)


def test_secrets_are_revealed_in_the_wire_form_pulumi_uses() -> None:
    assert (rpc._special_sig_key, rpc._special_secret_sig) == (seam.SECRET_SIG_KEY, seam.SECRET_SIG)
    secret = {seam.SECRET_SIG_KEY: seam.SECRET_SIG, "value": "s"}
    assert seam.reveal({"a": [secret, "plain"], "b": (1,)}) == {"a": ["s", "plain"], "b": [1]}


def test_register_resource_requests_carry_the_fields_tap_reads() -> None:
    fields = set(resource_pb2.RegisterResourceRequest.DESCRIPTOR.fields_by_name)
    assert {"type", "name", "parent", "custom", "object", "dependencies"} <= fields
    assert {"ignoreChanges", "aliases", "aliasURNs"} <= fields
    assert set(alias_pb2.Alias.DESCRIPTOR.oneofs_by_name) == {"alias"}
    assert set(alias_pb2.Alias.DESCRIPTOR.fields_by_name) == {"urn", "spec"}
    spec = set(alias_pb2.Alias.Spec.DESCRIPTOR.fields_by_name)
    assert spec == {"name", "type", "stack", "project", "parentUrn", "noParent"}


def test_the_mock_monitor_asks_for_alias_specs() -> None:
    """With the feature on, the SDK sends ``aliases`` as specs rather than computed URNs."""
    features = MockMonitor(Recorder()).GetDeploymentInfo(None).supportedFeatures
    assert resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS in features


def test_run_waits_for_every_registration_and_exports(mocks: Recorder) -> None:
    def body() -> None:
        topic = aws.sns.Topic("first", name="first")
        # Registered only once the first resolves, and never returned: run still waits.
        topic.arn.apply(lambda _arn: aws.sns.Topic("second", name="second"))
        pulumi.export("exported", topic.name)

    seam.run(body)
    assert mocks.names == ["first", "second"]
    assert list(seam.exports()) == ["exported"]
    assert isinstance(pulumi.runtime.get_root_resource(), Stack)


def test_run_raises_the_programs_error(mocks: Recorder) -> None:
    def body() -> None:
        raise ValueError("broken program")

    with pytest.raises(ValueError, match="broken program"):
        seam.run(body)


def test_exports_need_the_root_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pulumi.runtime, "get_root_resource", lambda: None)
    with pytest.raises(TypeError, match="the root resource is a NoneType, not a Stack"):
        seam.exports()


@pytest.mark.parametrize("parent", ["", ROOT, PARENT])
def test_make_urn_is_the_mock_monitors(mocks: Recorder, parent: str) -> None:
    expected = seam.Monitor(mocks).make_urn(parent, "aws:sqs/queue:Queue", "q")
    assert seam.make_urn(STACK, PROJECT, parent, "aws:sqs/queue:Queue", "q") == expected


# --- aliases ----------------------------------------------------------------------------------

QUEUE = "aws:sqs/queue:Queue"
NEW_PARENT = f"urn:pulumi:{STACK}::{PROJECT}::my:index:Parent$my:index:Child::p-child"


def request(
    *aliases: alias_pb2.Alias, parent: str = NEW_PARENT, name: str = "q", **more: Any
) -> Any:
    return resource_pb2.RegisterResourceRequest(
        type=QUEUE, name=name, parent=parent, aliases=list(aliases), **more
    )


def spec(**fields: Any) -> alias_pb2.Alias:
    return alias_pb2.Alias(spec=alias_pb2.Alias.Spec(**fields))


def urn(parent: str, name: str = "q", typ: str = QUEUE) -> str:
    return seam.make_urn(STACK, PROJECT, parent, typ, name)


def test_a_spec_alias_defaults_to_the_resource_itself(mocks: Recorder) -> None:
    assert seam.alias_urns(request(spec(parentUrn=PARENT)), {}) == [urn(PARENT)]
    assert seam.alias_urns(request(spec(name="old")), {}) == [urn(NEW_PARENT, "old")]
    other = spec(
        name="old", type="aws:sns/topic:Topic", stack="prod", project="x", parentUrn=PARENT
    )
    expected = seam.make_urn("prod", "x", PARENT, "aws:sns/topic:Topic", "old")
    assert seam.alias_urns(request(other), {}) == [expected]


def test_no_parent_means_the_root_stack_as_the_mock_parents_it(mocks: Recorder) -> None:
    assert seam.alias_urns(request(spec(noParent=True)), {}) == [urn(ROOT)]


def test_urn_aliases_are_taken_as_they_are_once_each(mocks: Recorder) -> None:
    old = urn(PARENT)
    aliases = request(alias_pb2.Alias(urn=old), spec(parentUrn=PARENT), aliasURNs=["u:2"])
    assert seam.alias_urns(aliases, {}) == ["u:2", old]


def test_a_child_of_a_moved_parent_may_be_under_its_old_urn(mocks: Recorder) -> None:
    moved = {NEW_PARENT: PARENT}
    assert seam.alias_urns(request(), moved) == [urn(PARENT)]
    # Named after its parent: named after the parent's old name.
    assert seam.alias_urns(request(name="p-child-q"), moved) == [urn(PARENT, "p-q")]
    renamed = seam.alias_urns(request(spec(name="old")), moved)
    assert renamed == [urn(NEW_PARENT, "old"), urn(PARENT), urn(PARENT, "old")]


def test_a_spec_naming_a_moved_parent_means_its_old_urn(mocks: Recorder) -> None:
    moved = {NEW_PARENT: PARENT}
    assert seam.alias_urns(request(spec(parentUrn=NEW_PARENT), parent=ROOT), moved) == [urn(PARENT)]
