"""The deployer's diffing and ordering, with recording handlers instead of AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from botocore.exceptions import ClientError

from tap_cicd.errors import DeployError
from tap_cicd.local.deployer import (
    SUPERSEDED,
    Deployer,
    deletion_order,
    normalize,
    run_program,
)
from tap_cicd.local.provider import Context, Handler
from tap_cicd.local.state import ResourceState, StackState, StateStore

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


def deploy(
    tmp_path: Path,
    recorder: Recorder,
    program: Any,
    state: StackState | None = None,
    **options: Any,
) -> Deployer:
    store = StateStore(tmp_path)
    deployer = Deployer(
        store,
        state or store.load_or_new("t"),
        Context(None, "123456789012", "us-east-1"),  # type: ignore[arg-type]
        handlers={QUEUE: recorder.handler(**options)},
    )
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
        aws.get_availability_zones_output().names.apply(lambda _n: None)

    with pytest.raises(DeployError, match="cannot answer invoke aws:index/getAvailabilityZones"):
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


def test_secrets_are_revealed_for_the_api() -> None:
    from tap_cicd.local.deployer import reveal

    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s"}
    assert reveal({"a": [secret, "plain"]}) == {"a": ["s", "plain"]}


def test_no_work_is_taken_after_settling(tmp_path: Path) -> None:
    from tap_cicd.local.deployer import Registration

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
