"""Stacks that cannot hurt each other and a state that tells the truth, on the emulator.

Ownership (tags and states say whose a resource is), refresh (what was deleted or changed
behind tap's back) and the plan (``tap preview`` says what ``tap up`` then does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tap_cicd.errors import OwnershipError
from tap_cicd.local.clients import Clients
from tap_cicd.local.provider.model import STACK_TAG, URN_TAG
from tap_cicd.local.state import ResourceState, StackState, StateStore
from tap_cicd.local.summary import OPERATIONS, Event
from tap_cicd.local.target import LocalTarget, project_program

from .conftest import PROJECT, inventory

PROGRAM = project_program(PROJECT)
DEV = {"tap:environmentSuffix": "dev"}
CONNECTION = (
    "arn:aws:codestar-connections:us-east-1:123456789012:connection/"
    "0f3e2d1c-aaaa-bbbb-cccc-0123456789ab"
)
PROD = {"tap:environmentSuffix": "prod"}


def changed(counts: dict[str, int]) -> dict[str, int]:
    """The operations that did something."""
    return {op: n for op, n in counts.items() if n and op != "unchanged"}


def queue_url(clients: Clients, outputs: dict[str, Any], suffix: str = "dev") -> str:
    """The URL of the stack's events dead-letter queue."""
    urls = clients("sqs").list_queues(QueueNamePrefix=f"pipeline-events-dlq-{suffix}")
    return str(urls["QueueUrls"][0])


def test_every_taggable_resource_says_its_stack_and_urn(
    target: LocalTarget, clients: Clients
) -> None:
    target.up("dev", PROGRAM, DEV)
    state = StateStore(target.home).load("dev")
    repository = clients("ecr").describe_repositories()["repositories"][0]
    tags = clients("ecr").list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]
    found = {t["Key"]: t["Value"] for t in tags}
    assert found[STACK_TAG] == "dev"
    assert found[URN_TAG] in state.resources
    role_tags = clients("iam").list_role_tags(RoleName="pipeline-build-role-dev")["Tags"]
    assert {"Key": STACK_TAG, "Value": "dev"} in role_tags


def test_a_second_stack_with_a_colliding_name_is_refused_before_any_write(
    target: LocalTarget, clients: Clients
) -> None:
    first = target.up("dev", PROGRAM, DEV)
    before = inventory(clients)
    with pytest.raises(OwnershipError, match=r"belongs to stack 'dev'.*nothing was changed"):
        target.up("prod", PROGRAM, DEV)
    assert inventory(clients) == before
    assert not StateStore(target.home).load_or_new("prod").resources
    again = target.up("dev", PROGRAM, DEV)
    assert changed(again.counts) == {}
    assert again.outputs == first.outputs


def test_a_name_held_by_something_tap_does_not_know_is_refused(
    target: LocalTarget, clients: Clients
) -> None:
    clients("sqs").create_queue(QueueName="pipeline-events-dlq-dev")
    with pytest.raises(OwnershipError, match="something tap does not know"):
        target.up("dev", PROGRAM, DEV)
    assert inventory(clients)["buckets"] == []


def test_destroy_of_one_stack_leaves_another_intact(target: LocalTarget, clients: Clients) -> None:
    target.up("dev", PROGRAM, DEV)
    dev = inventory(clients)
    target.up("prod", PROGRAM, PROD)
    target.destroy("prod")
    assert inventory(clients) == dev
    assert changed(target.up("dev", PROGRAM, DEV).counts) == {}


def test_destroy_keeps_a_resource_tagged_as_another_stacks(
    target: LocalTarget, clients: Clients
) -> None:
    summary = target.up("dev", PROGRAM, DEV)
    url = queue_url(clients, summary.outputs)
    clients("sqs").tag_queue(QueueUrl=url, Tags={STACK_TAG: "prod"})
    destroyed = target.destroy("dev")
    assert url in inventory(clients)["queues"]
    assert any("pipeline-events-dlq-dev" in n and "stack 'prod'" in n for n in destroyed.notes)


def test_a_resource_deleted_behind_taps_back_is_recreated(
    target: LocalTarget, clients: Clients
) -> None:
    summary = target.up("dev", PROGRAM, DEV)
    clients("sqs").delete_queue(QueueUrl=queue_url(clients, summary.outputs))
    again = target.up("dev", PROGRAM, DEV)
    # The queue's policy went with it: both come back.
    assert changed(again.counts) == {"created": 2}
    assert {n for n in again.notes if "deleted outside tap" in n} == {
        "tap-cicd-events-dlq was deleted outside tap",
        "tap-cicd-events-dlq-policy was deleted outside tap",
    }
    assert len(inventory(clients)["queues"]) == 2


def test_a_property_changed_behind_taps_back_is_put_back(
    target: LocalTarget, clients: Clients
) -> None:
    target.up("dev", PROGRAM, DEV)
    logs = clients("logs")

    def retention() -> int:
        groups = logs.describe_log_groups(logGroupNamePrefix="/aws/codebuild/pipeline-build-dev")
        return int(groups["logGroups"][0]["retentionInDays"])

    wanted = retention()
    logs.put_retention_policy(logGroupName="/aws/codebuild/pipeline-build-dev", retentionInDays=1)
    events: list[Event] = []
    again = target.up("dev", PROGRAM, DEV, events.append)
    assert [(e.operation, e.detail) for e in events if e.operation != "unchanged"] == [
        ("updated", "changed outside tap")
    ]
    assert any("was changed outside tap" in note for note in again.notes)
    assert retention() == wanted != 1
    assert changed(target.up("dev", PROGRAM, DEV).counts) == {}


def test_without_refresh_a_deleted_resource_is_not_noticed(
    target: LocalTarget, clients: Clients
) -> None:
    summary = target.up("dev", PROGRAM, DEV)
    clients("sqs").delete_queue(QueueUrl=queue_url(clients, summary.outputs))
    assert changed(target.up("dev", PROGRAM, DEV, refresh=False).counts) == {}
    assert target.refresh("dev") == [
        "tap-cicd-events-dlq was deleted outside tap",
        "tap-cicd-events-dlq-policy was deleted outside tap",
    ]
    assert target.refresh("dev") == []


def test_an_emptied_state_adopts_what_is_provably_this_stacks(
    target: LocalTarget, clients: Clients
) -> None:
    target.up("dev", PROGRAM, DEV)
    before = inventory(clients)
    path = StateStore(target.home).path("dev")
    data = json.loads(path.read_text())
    data["resources"] = []
    path.write_text(json.dumps(data))
    adopted = target.up("dev", PROGRAM, DEV)
    assert inventory(clients) == before
    resources = StateStore(target.home).load("dev").resources.values()
    assert changed(adopted.counts) == {"created": sum(r.custom for r in resources)}
    assert adopted.writes > 0  # adopted: brought to the inputs, not made again


def test_a_state_that_claims_another_stacks_resource_lets_it_go(
    target: LocalTarget, clients: Clients
) -> None:
    summary = target.up("dev", PROGRAM, DEV)
    clients("sqs").tag_queue(QueueUrl=queue_url(clients, summary.outputs), Tags={STACK_TAG: "x"})
    notes = target.refresh("dev")
    assert any(n.startswith("dropped from the state: aws:sqs/queue:Queue") for n in notes)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"tap:logRetentionDays": "60"},
        {"tap:tags": '{"Team": "payments"}'},
        {"tap:namePrefix": "svc"},
        {
            "tap:source": "github",
            "tap:repository": "acme/service",
            "tap:connectionArn": CONNECTION,
        },
    ],
    ids=["nothing", "retention", "tags", "prefix", "github"],
)
def test_preview_plans_exactly_what_up_then_does(
    target: LocalTarget, change: dict[str, str]
) -> None:
    target.up("dev", PROGRAM, DEV)
    config = {**DEV, **change}
    plan = target.preview("dev", PROGRAM, config)
    done = target.up("dev", PROGRAM, config)
    assert {op: plan.summary.counts[op] for op in OPERATIONS} == done.counts
    assert changed(target.preview("dev", PROGRAM, config).summary.counts) == {}


def test_preview_without_state_creates_everything_offline(target: LocalTarget) -> None:
    plan = target.preview("fresh", PROGRAM, {"tap:environmentSuffix": "fresh"})
    assert changed(plan.summary.counts) == {"created": len(plan.steps)}
    assert not StateStore(target.home).exists("fresh")


def test_adopting_a_leftover_tagged_as_another_stacks_is_refused(clients: Clients) -> None:
    from tap_cicd.local.provider import HANDLERS, Context

    clients("sqs").create_queue(QueueName="leftover", tags={STACK_TAG: "prod"})
    ctx = Context(clients, clients.account_id(), "us-east-1", stack="dev")
    with pytest.raises(OwnershipError, match="leftover' exists and belongs to stack 'prod'"):
        HANDLERS["aws:sqs/queue:Queue"].create(ctx, "urn:x", {"name": "leftover"})


def test_preview_and_refresh_when_the_emulator_is_gone(tmp_path: Path) -> None:
    home = tmp_path / "tap"
    store = StateStore(home)
    state = StackState("dev", emulator="gone")
    state.resources["q"] = ResourceState("q", "aws:sqs/queue:Queue", "u", True, {"n": 1}, {}, [])
    store.save(state)
    target = LocalTarget(home)
    plan = target.preview("dev", PROGRAM, DEV)
    assert plan.notes == ["the emulator is not running: nothing of the stack is left"]
    assert changed(plan.summary.counts) == {"created": len(plan.steps)}
    assert target.refresh("dev") == ["the emulator is not running: nothing of the stack is left"]
    assert store.exists("dev")  # a preview and a refresh write nothing of it


def test_preview_without_refresh_trusts_the_state(target: LocalTarget, clients: Clients) -> None:
    summary = target.up("dev", PROGRAM, DEV)
    clients("sqs").delete_queue(QueueUrl=queue_url(clients, summary.outputs))
    trusting = target.preview("dev", PROGRAM, DEV, refresh=False)
    assert changed(trusting.summary.counts) == {}
    assert changed(target.preview("dev", PROGRAM, DEV).summary.counts) == {"created": 2}
