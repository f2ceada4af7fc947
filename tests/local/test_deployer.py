"""The deployer's diffing, ordering, aliases and failures: with recording handlers instead of
AWS, and on the emulator where AWS must see nothing happen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from botocore.exceptions import ClientError

from tap_cicd.errors import DeployError
from tap_cicd.local.clients import Clients
from tap_cicd.local.deployer import Deployer
from tap_cicd.local.plan import SUPERSEDED, deletion_order
from tap_cicd.local.provider import Context, Handler
from tap_cicd.local.provider.assets import normalize
from tap_cicd.local.runner import run_program
from tap_cicd.local.state import ResourceState, StackState, StateStore
from tap_cicd.local.target import LocalTarget

from .conftest import counts

QUEUE = "aws:sqs/queue:Queue"


class Recorder:
    """Handlers that record what they were asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_delete = False

    def handler(self, **options: Any) -> Handler:
        def create(_ctx: Any, _urn: str, inputs: Any) -> tuple[str, dict[str, Any]]:
            self.calls.append(("create", inputs["name"]))
            return inputs["name"], {"arn": f"arn:{inputs['name']}", "url": inputs["name"]}

        def update(_ctx: Any, rid: str, _old: Any, new: Any) -> dict[str, Any]:
            self.calls.append(("update", rid))
            return {"arn": f"arn:{rid}", "url": rid}

        def delete(_ctx: Any, rid: str, _inputs: Any) -> None:
            if self.fail_delete:
                raise ClientError({"Error": {"Code": "Throttling", "Message": "x"}}, "DeleteQueue")
            self.calls.append(("delete", rid))

        return Handler(QUEUE, create, delete, update, **options)


def deployer_for(tmp_path: Path, handler: Handler, state: StackState | None = None) -> Deployer:
    """A deployer of stack ``t`` with one handler (of queues) and no AWS behind it."""
    store = StateStore(tmp_path)
    ctx = Context(None, "123456789012", "us-east-1")  # type: ignore[arg-type]
    return Deployer(store, state or store.load_or_new("t"), ctx, handlers={QUEUE: handler})


def deploy(
    tmp_path: Path,
    recorder: Recorder,
    program: Any,
    state: StackState | None = None,
    **options: Any,
) -> Deployer:
    deployer = deployer_for(tmp_path, recorder.handler(**options), state)
    run_program(deployer, program, {})
    deployer.delete_missing()
    return deployer


def queue(name: str, retention: int = 60, **opts: Any) -> aws.sqs.Queue:
    return aws.sqs.Queue(
        "q", name=name, message_retention_seconds=retention, opts=pulumi.ResourceOptions(**opts)
    )


def test_create_then_unchanged_then_update(tmp_path: Path) -> None:
    recorder = Recorder()
    first = deploy(tmp_path, recorder, lambda: queue("a"))
    assert first.summary.counts["created"] == 1
    again = deploy(tmp_path, recorder, lambda: queue("a"))
    assert again.summary.counts["unchanged"] == 1
    changed = deploy(tmp_path, recorder, lambda: queue("a", retention=120))
    assert changed.summary.counts["updated"] == 1
    assert recorder.calls == [("create", "a"), ("update", "a")]


def test_new_identity_creates_first_and_deletes_the_old_one_after_the_run(tmp_path: Path) -> None:
    recorder = Recorder()
    deploy(tmp_path, recorder, lambda: queue("a"), replace_on=("name",))
    replaced = deploy(tmp_path, recorder, lambda: queue("b"), replace_on=("name",))
    assert replaced.summary.counts["replaced"] == 1
    assert replaced.summary.counts["deleted"] == 0  # the old one is part of the replacement
    assert recorder.calls == [("create", "a"), ("create", "b"), ("delete", "a")]
    assert not any(SUPERSEDED in urn for urn in StateStore(tmp_path).load("t").resources)


def test_immutable_change_deletes_first(tmp_path: Path) -> None:
    recorder = Recorder()
    deploy(tmp_path, recorder, lambda: queue("a"), recreate_on=("messageRetentionSeconds",))
    deploy(tmp_path, recorder, lambda: queue("a", 5), recreate_on=("messageRetentionSeconds",))
    assert recorder.calls == [("create", "a"), ("delete", "a"), ("create", "a")]


def test_ignore_changes_keeps_what_was_deployed(tmp_path: Path) -> None:
    recorder = Recorder()
    deploy(tmp_path, recorder, lambda: queue("a", ignore_changes=["messageRetentionSeconds"]))
    again = deploy(
        tmp_path,
        recorder,
        lambda: queue("a", 999, ignore_changes=["messageRetentionSeconds", "delaySeconds"]),
    )
    assert again.summary.counts["unchanged"] == 1
    state = StateStore(tmp_path).load("t")
    assert [r.inputs.get("messageRetentionSeconds") for r in state.resources.values()][-1] == 60


def test_unknown_type_fails_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=r"cannot deploy aws:sns/topic:Topic \(t\)"):
        deploy(tmp_path, Recorder(), lambda: aws.sns.Topic("t", name="t"))


def test_unknown_invoke_fails(tmp_path: Path) -> None:
    def program() -> None:
        aws.get_arn_output(arn="arn:aws:s3:::b").service.apply(lambda _n: None)

    with pytest.raises(DeployError, match="cannot answer invoke aws:index/getArn"):
        deploy(tmp_path, Recorder(), program)


def test_program_errors_pass_through(tmp_path: Path) -> None:
    def program() -> None:
        raise ValueError("broken program")

    with pytest.raises(ValueError, match="broken program"):
        deploy(tmp_path, Recorder(), program)


def test_failed_delete_keeps_the_resource_in_state(tmp_path: Path) -> None:
    recorder = Recorder()
    deploy(tmp_path, recorder, lambda: queue("a"))
    recorder.fail_delete = True
    with pytest.raises(DeployError, match="deleting aws:sqs/queue:Queue q: ClientError"):
        deploy(tmp_path, recorder, lambda: None)
    assert [r.id for r in StateStore(tmp_path).load("t").resources.values() if r.custom] == ["a"]


def test_deletion_order_puts_dependents_first_and_survives_a_cycle() -> None:
    def res(urn: str, *deps: str) -> ResourceState:
        return ResourceState(urn, QUEUE, urn, True, {}, {}, list(deps))

    chain = [res("a"), res("b", "a"), res("c", "b"), res(f"a{SUPERSEDED}x", "c")]
    assert [r.urn for r in deletion_order(chain)] == [f"a{SUPERSEDED}x", "c", "b", "a"]
    cycle = [res("x", "y"), res("y", "x")]
    assert sorted(r.urn for r in deletion_order(cycle)) == ["x", "y"]


def test_normalize_keeps_data_and_digests_archives(tmp_path: Path) -> None:
    code = tmp_path / "a.py"
    code.write_text("x = 1\n")
    archive = pulumi.AssetArchive({"a.py": pulumi.FileAsset(str(code))})
    normalized = normalize({"code": archive, "list": (1, {"k": "v"})})
    assert normalized["list"] == [1, {"k": "v"}]
    assert len(normalized["code"]["__archive_sha256"]) == 64


def test_no_work_is_taken_after_settling(tmp_path: Path) -> None:
    from tap_cicd.local.plan import Registration

    store = StateStore(tmp_path)
    deployer = Deployer(store, StackState("t"), Context(None, "1", "r"))  # type: ignore[arg-type]
    deployer.settle(timeout=1)
    with pytest.raises(DeployError, match="the run was aborted"):
        deployer.apply(Registration("urn", QUEUE, "q", {}, True, [], []))


def test_state_naming_an_unknown_type_fails_to_delete(tmp_path: Path) -> None:
    state = StackState("t")
    state.resources["u"] = ResourceState("u", "aws:made/up:Thing", "x", True, {}, {}, [])
    deployer = Deployer(StateStore(tmp_path), state, Context(None, "1", "r"))  # type: ignore[arg-type]
    with pytest.raises(DeployError, match="the state names aws:made/up:Thing"):
        deployer.delete(list(state.resources.values()))


@pytest.mark.parametrize("error", [TypeError("bad argument"), KeyError("missing")])
def test_a_programming_error_is_raised_as_itself_and_stops_the_deploy(
    tmp_path: Path, error: Exception
) -> None:
    recorder = Recorder()
    broken = recorder.handler()

    def create(_ctx: Any, _urn: str, inputs: Any) -> tuple[str, dict[str, Any]]:
        if inputs["name"] == "b":
            raise error
        return broken.create(_ctx, _urn, inputs)

    deployer = deployer_for(tmp_path, Handler(QUEUE, create, broken.delete, broken.update))

    def program() -> None:
        first = queue("a")
        second = aws.sqs.Queue("b", name="b", opts=pulumi.ResourceOptions(depends_on=[first]))
        aws.sqs.Queue("c", name="c", opts=pulumi.ResourceOptions(depends_on=[second]))

    with pytest.raises(type(error), match=str(error.args[0])):
        run_program(deployer, program, {})
    assert recorder.calls == [("create", "a")]  # nothing after the bug
    assert not deployer.errors
    # "b" stays pending: its create was started, so its leftover is provably this stack's.
    found = [(r.id, r.pending) for r in deployer.store.load("t").resources.values() if r.custom]
    assert found == [("a", False), ("", True)]


def test_an_aws_error_is_still_a_deploy_failure(tmp_path: Path) -> None:
    recorder = Recorder()
    handler = recorder.handler()

    def refuse(*_args: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CreateQueue")

    deployer = deployer_for(tmp_path, Handler(QUEUE, refuse, handler.delete, handler.update))
    with pytest.raises(DeployError, match=r"aws:sqs/queue:Queue q: ClientError: .*AccessDenied"):
        run_program(deployer, lambda: queue("a"), {})


def test_a_programming_error_wins_over_an_aws_error(tmp_path: Path) -> None:
    deployer = Deployer(StateStore(tmp_path), StackState("t"), Context(None, "1", "r"))  # type: ignore[arg-type]
    deployer._fail("an AWS error")
    deployer.crashed(TypeError("a bug"))
    deployer.crashed(KeyError("a later bug"))
    with pytest.raises(TypeError, match="a bug"):
        deployer.check()


class Part(pulumi.ComponentResource):
    """A component to move resources between (the mock's URNs name only the parent's type)."""

    def __init__(
        self, name: str, kind: str = "Part", opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(f"tap:test:{kind}", name, None, opts)
        self.register_outputs({})


STACK_URN = "urn:pulumi:t::tap::pulumi:pulumi:Stack"


def test_an_aliased_resource_keeps_its_state_and_its_dependents_follow(tmp_path: Path) -> None:
    recorder = Recorder()

    def before() -> None:
        old = Part("old")
        first = queue("a", parent=old)
        aws.sqs.Queue("user", name="user", opts=pulumi.ResourceOptions(depends_on=[first]))

    def after() -> None:
        old = Part("old")
        new = Part("new", "Child", opts=pulumi.ResourceOptions(parent=old))
        queue("a", parent=new, aliases=[pulumi.Alias(parent=old)])

    deploy(tmp_path, recorder, before)
    old_urn = f"{STACK_URN}$tap:test:Part::old"
    moved_from = "urn:pulumi:t::tap::tap:test:Part$aws:sqs/queue:Queue::q"
    assert moved_from in StateStore(tmp_path).load("t").resources
    deployer = deployer_for(tmp_path, recorder.handler())
    deployer.delete = lambda resources: None  # type: ignore[method-assign] - keep what is missing
    run_program(deployer, after, {})
    moved_to = "urn:pulumi:t::tap::tap:test:Child$aws:sqs/queue:Queue::q"
    state = deployer.state.resources
    assert moved_from not in state
    assert state[moved_to].id == "a"
    user = next(r for r in state.values() if r.id == "user")
    assert moved_to in user.dependencies
    assert deployer.moved == {moved_to: moved_from}
    assert recorder.calls == [("create", "a"), ("create", "user")]
    assert deployer.summary.counts["unchanged"] == 1
    assert old_urn in state


def test_an_alias_to_another_type_or_a_urn_seen_already_is_not_followed(tmp_path: Path) -> None:
    from tap_cicd.local.plan import Registration

    state = StackState("t")
    state.resources["topic"] = ResourceState("topic", "aws:sns/topic:Topic", "t", True, {}, {}, [])
    state.resources["seen"] = ResourceState("seen", QUEUE, "s", True, {"name": "s"}, {}, [])
    recorder = Recorder()
    deployer = deployer_for(tmp_path, recorder.handler(), state)
    deployer.seen.add("seen")
    deployer.apply(Registration("new", QUEUE, "q", {"name": "q"}, True, [], [], ["topic", "seen"]))
    assert recorder.calls == [("create", "q")]
    assert set(state.resources) == {"topic", "seen", "new"}


def test_a_child_follows_its_aliased_parent_without_an_alias_of_its_own(tmp_path: Path) -> None:
    recorder = Recorder()
    deploy(tmp_path, recorder, lambda: queue("a", parent=Part("p")))

    def renamed() -> None:
        part = Part(
            "p",
            "Renamed",
            opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="tap:test:Part")]),
        )
        queue("a", parent=part)

    deployer = deploy(tmp_path, recorder, renamed)
    assert deployer.summary.counts["unchanged"] == 1
    assert recorder.calls == [("create", "a")]
    assert sorted(StateStore(tmp_path).load("t").resources) == [
        "urn:pulumi:t::tap::pulumi:pulumi:Stack$tap:test:Renamed::p",
        "urn:pulumi:t::tap::tap:test:Renamed$aws:sqs/queue:Queue::q",
    ]


def test_aliases_move_deployed_resources_without_a_write(
    target: LocalTarget, clients: Clients
) -> None:
    """The same resources under a new parent: aliased by parent and by URN, nothing changes."""
    old_topic = "urn:pulumi:dev::tap::tap:test:Part$aws:sns/topic:Topic::t"

    def before() -> None:
        old = Part("old")
        aws.sqs.Queue("q", name="tap-alias-q", opts=pulumi.ResourceOptions(parent=old))
        aws.sns.Topic("t", name="tap-alias-t", opts=pulumi.ResourceOptions(parent=old))

    def after() -> None:
        old = Part("old")
        new = Part("new", "Child", opts=pulumi.ResourceOptions(parent=old))
        by_parent = pulumi.ResourceOptions(parent=new, aliases=[pulumi.Alias(parent=old)])
        aws.sqs.Queue("q", name="tap-alias-q", opts=by_parent)
        by_urn = pulumi.ResourceOptions(parent=new, aliases=[old_topic])
        aws.sns.Topic("t", name="tap-alias-t", opts=by_urn)

    assert target.up("dev", before, {}).counts["created"] == 2
    moved = target.up("dev", after, {})
    assert dict(moved.counts) == {
        "created": 0,
        "updated": 0,
        "replaced": 0,
        "deleted": 0,
        "unchanged": 2,
    }
    assert moved.writes == 0
    urns = list(StateStore(target.home).load("dev").resources)
    assert "urn:pulumi:dev::tap::tap:test:Child$aws:sqs/queue:Queue::q" in urns
    assert "urn:pulumi:dev::tap::tap:test:Child$aws:sns/topic:Topic::t" in urns
    assert old_topic not in urns
    assert not any(urn.startswith("urn:pulumi:dev::tap::tap:test:Part$aws") for urn in urns)
    assert (counts(clients)["queues"], counts(clients)["topics"]) == (1, 1)
    target.destroy("dev")
    assert (counts(clients)["queues"], counts(clients)["topics"]) == (0, 0)
