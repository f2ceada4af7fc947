"""The local target against the emulator: deploy, converge, update, delete, recover."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tap_cicd.errors import DeployError, LockError
from tap_cicd.graph import Graph
from tap_cicd.local.clients import Clients
from tap_cicd.local.emulator import EmulatorInfo
from tap_cicd.local.provider import HANDLERS, Handler
from tap_cicd.local.state import StateStore
from tap_cicd.local.summary import Event
from tap_cicd.local.target import LocalTarget, project_program

from .conftest import PROJECT, counts, declared_graph, inventory, reset

PROGRAM = project_program(PROJECT)
EMPTY = {
    "kms keys": 0,
    "kms aliases": 0,
    "buckets": 0,
    "repositories": 0,
    "log groups": 0,
    "roles": 0,
    "topics": 0,
    "queues": 0,
    "rules": 0,
    "projects": 0,
    "functions": 0,
    "pipelines": 0,
    "parameters": 0,
    "vpcs": 0,
    "security groups": 0,
    "load balancers": 0,
    "target groups": 0,
    "clusters": 0,
    "services": 0,
    "task definitions": 0,
}
DEPLOYED = {
    **EMPTY,
    "kms keys": 1,
    "kms aliases": 1,
    "buckets": 3,
    "repositories": 1,
    "log groups": 3,
    "roles": 6,
    "topics": 1,
    "queues": 2,
    "rules": 2,
    "projects": 1,
    "functions": 1,
    "pipelines": 1,
    "parameters": 1,
    "vpcs": 1,
    "security groups": 2,
    "load balancers": 1,
    "target groups": 1,
    "clusters": 1,
    "services": 1,
    "task definitions": 1,
}
AWS_RESOURCES = sum(n.custom for n in declared_graph().nodes)
"""AWS resources of the default stack, as the program declares them offline."""


@pytest.fixture(scope="module")
def declared() -> Graph:
    """What the program declares, offline."""
    graph: Graph = declared_graph()
    return graph


def test_first_deploy_creates_everything_the_program_declares(
    target: LocalTarget, clients: Clients, declared: Graph
) -> None:
    events: list[Event] = []
    summary = target.up("dev", PROGRAM, {}, events.append)
    aws_resources = [n for n in declared.nodes if n.custom]
    assert summary.counts["created"] == len(aws_resources) == len(events) == AWS_RESOURCES
    assert sorted((e.type, e.name) for e in events) == sorted(
        (n.type, n.name) for n in aws_resources
    )
    assert counts(clients) == DEPLOYED
    assert summary.outputs["pipelineName"] == "pipeline-pipeline-dev"
    assert summary.outputs["artifactBucketName"] == "pipeline-artifacts-123456789012-dev"
    assert summary.outputs["kmsKeyArn"] in {
        f"arn:aws:kms:us-east-1:123456789012:key/{k}" for k in inventory(clients)["kms keys"]
    }
    assert summary.writes > len(aws_resources)
    state = json.loads((target.home / "state" / "dev.json").read_text())
    assert len(state["resources"]) == len(declared.nodes)
    assert state["outputs"] == summary.outputs


def test_second_up_writes_nothing(target: LocalTarget, clients: Clients) -> None:
    target.up("dev", PROGRAM, {})
    summary = target.up("dev", PROGRAM, {})
    assert summary.writes == 0
    assert summary.counts["unchanged"] == AWS_RESOURCES
    assert summary.counts["created"] + summary.counts["updated"] == 0
    assert counts(clients) == DEPLOYED


def test_config_change_updates_only_what_depends_on_it(
    target: LocalTarget, clients: Clients
) -> None:
    target.up("dev", PROGRAM, {})
    events: list[Event] = []
    summary = target.up("dev", PROGRAM, {"tap:logRetentionDays": "30"}, events.append)
    assert {(e.operation, e.name) for e in events if e.operation != "unchanged"} == {
        ("updated", "tap-cicd-build-logs"),
        ("updated", "tap-cicd-deploy-logs"),
        ("updated", "tap-cicd-service-logs"),
    }
    assert summary.counts["unchanged"] == AWS_RESOURCES - 3
    retention = {
        g["logGroupName"]: g["retentionInDays"]
        for g in clients("logs").describe_log_groups()["logGroups"]
    }
    assert set(retention.values()) == {30}


def test_tag_change_updates_every_taggable_resource(
    target: LocalTarget, clients: Clients, declared: Graph
) -> None:
    target.up("dev", PROGRAM, {})
    summary = target.up("dev", PROGRAM, {"tap:tags": '{"Team": "platform"}'})
    assert summary.counts["updated"] == len([n for n in declared.nodes if "tags" in n.inputs])
    assert summary.counts["created"] == summary.counts["deleted"] == 0
    role = clients("iam").get_role(RoleName="pipeline-build-role-dev")["Role"]
    assert {"Key": "Team", "Value": "platform"} in role["Tags"]


def test_source_switch_deletes_what_is_no_longer_declared(
    target: LocalTarget, clients: Clients
) -> None:
    target.up("dev", PROGRAM, {})
    github = {
        "tap:source": "github",
        "tap:connectionArn": (
            "arn:aws:codestar-connections:us-east-1:123456789012:connection/"
            "0f3e2d1c-aaaa-bbbb-cccc-0123456789ab"
        ),
        "tap:repository": "acme/service",
        "tap:filePaths": "src/**",
    }
    summary = target.up("dev", PROGRAM, github)
    # The source bucket with its 8 configuration resources, the source-change rule, its
    # target, its role and the role's policy.
    assert summary.counts["deleted"] == 13
    assert counts(clients) == {**DEPLOYED, "buckets": 2, "roles": DEPLOYED["roles"] - 1, "rules": 1}
    pipeline = clients("codepipeline").get_pipeline(name="pipeline-pipeline-dev")["pipeline"]
    assert pipeline["stages"][0]["actions"][0]["actionTypeId"]["provider"] == (
        "CodeStarSourceConnection"
    )
    assert pipeline["triggers"][0]["gitConfiguration"]["push"] == [
        {"branches": {"includes": ["main"]}, "filePaths": {"includes": ["src/**"]}}
    ]


def test_renaming_replaces(target: LocalTarget, clients: Clients) -> None:
    target.up("dev", PROGRAM, {})
    summary = target.up("dev", PROGRAM, {"tap:environmentSuffix": "qa"})
    assert summary.counts["replaced"] > 20
    assert inventory(clients)["pipelines"] == ["pipeline-pipeline-qa"]
    assert counts(clients) == DEPLOYED


def test_destroy_leaves_nothing(target: LocalTarget, clients: Clients) -> None:
    target.up("dev", PROGRAM, {})
    events: list[Event] = []
    summary = target.destroy("dev", events.append)
    assert summary.counts["deleted"] == AWS_RESOURCES == len(events)
    assert counts(clients) == EMPTY
    assert not StateStore(target.home).exists("dev")
    first = [e.name for e in events]
    # Dependents go first: the pipeline before its role, targets before their rules.
    assert first.index("tap-cicd-pipeline") < first.index("tap-cicd-pipeline-role")
    assert first.index("tap-cicd-pipeline-state-target") < first.index("tap-cicd-pipeline-state")


def fail_once(handler: Handler, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the handler's first create call fail like AWS would."""
    calls: list[int] = []
    original = handler.create

    def create(ctx: Any, urn: str, inputs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ClientError(
                {"Error": {"Code": "InternalFailure", "Message": "injected"}}, "CreateProject"
            )
        return original(ctx, urn, inputs)

    monkeypatch.setitem(HANDLERS, handler.type, dataclasses.replace(handler, create=create))


def test_failed_call_midway_leaves_matching_state_and_converges(
    target: LocalTarget, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_once(HANDLERS["aws:codebuild/project:Project"], monkeypatch)
    with pytest.raises(DeployError, match="aws:codebuild/project:Project tap-cicd-build: "):
        target.up("dev", PROGRAM, {})
    state = StateStore(target.home).load("dev")
    deployed = inventory(clients)
    assert deployed["projects"] == []
    assert len([r for r in state.resources.values() if r.custom]) < AWS_RESOURCES
    # The state holds exactly what exists: every role the emulator has, and no other.
    assert sorted(deployed["roles"]) == sorted(
        r.id for r in state.resources.values() if r.type == "aws:iam/role:Role"
    )
    summary = target.up("dev", PROGRAM, {})
    assert summary.counts["created"] + summary.counts["unchanged"] == AWS_RESOURCES
    assert summary.counts["created"] >= 1
    assert counts(clients) == DEPLOYED


def test_killed_up_converges_without_duplicates(target: LocalTarget, clients: Clients) -> None:
    """SIGKILL a real ``tap up`` midway, then run it again: nothing doubled, nothing left over."""
    state_file = target.home / "state" / "dev.json"
    environment = {**os.environ, "TAP_HOME": str(target.home), "TAP_OUTPUTS_FILE": os.devnull}
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [str(Path(sys.executable).with_name("tap")), "up"],
        cwd=PROJECT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if state_file.exists() and len(json.loads(state_file.read_text())["resources"]) >= 12:
            break
        time.sleep(0.02)
    process.kill()
    process.wait()
    partial = len(StateStore(target.home).load("dev").resources)
    assert 0 < partial < AWS_RESOURCES + 2, "the kill came too late to interrupt the deploy"
    summary = target.up("dev", PROGRAM, {})
    assert summary.counts["created"] + summary.counts["unchanged"] == AWS_RESOURCES
    assert counts(clients) == DEPLOYED
    target.destroy("dev")
    assert counts(clients) == EMPTY


def test_destroy_after_partial_deploy_cleans_up(
    target: LocalTarget, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_once(HANDLERS["aws:lambda/function:Function"], monkeypatch)
    with pytest.raises(DeployError):
        target.up("dev", PROGRAM, {})
    assert counts(clients) != EMPTY
    target.destroy("dev")
    assert counts(clients) == EMPTY


def test_second_up_while_one_runs_is_refused(target: LocalTarget) -> None:
    with StateStore(target.home).lock("dev"), pytest.raises(LockError, match="is locked by"):
        target.up("dev", PROGRAM, {})


def test_restarted_emulator_is_deployed_afresh(
    target: LocalTarget, clients: Clients, emulator: EmulatorInfo
) -> None:
    target.up("dev", PROGRAM, {})
    reset(emulator)
    summary = target.up("dev", PROGRAM, {})
    assert summary.notes == ["the emulator was restarted since the last deploy: deploying afresh"]
    assert summary.counts["created"] == AWS_RESOURCES
    assert counts(clients) == DEPLOYED


def test_destroy_after_restart_or_stop_only_forgets(
    target: LocalTarget, emulator: EmulatorInfo, tmp_path: Path
) -> None:
    target.up("dev", PROGRAM, {})
    reset(emulator)
    summary = target.destroy("dev")
    assert summary.notes == ["the emulator was restarted: nothing of the stack is left"]
    target.up("dev", PROGRAM, {})
    stopped = LocalTarget(tmp_path / "elsewhere")
    store = StateStore(stopped.home)
    store.save(StateStore(target.home).load("dev"))
    assert stopped.destroy("dev").notes == [
        "the emulator is not running: nothing of the stack is left"
    ]
    assert not store.exists("dev")


def tags_of_every_kind(clients: Clients, outputs: dict[str, Any]) -> dict[str, set[str]]:
    """The tag keys of one resource of each taggable kind, read back from the emulator."""
    topic, queue_url = outputs["notificationTopicArn"], clients("sqs").list_queues()["QueueUrls"][0]
    function, pipeline = outputs["deployFunctionArn"], outputs["pipelineArn"]
    repository = clients("ecr").describe_repositories()["repositories"][0]["repositoryArn"]
    log_group = clients("logs").describe_log_groups()["logGroups"][0]["logGroupArn"]
    rule = clients("events").describe_rule(Name=outputs["eventRuleName"])["Arn"]
    key = outputs["kmsKeyArn"].rsplit("/", 1)[-1]
    bucket = outputs["artifactBucketName"]
    return {
        "bucket": {t["Key"] for t in clients("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]},
        "key": {t["TagKey"] for t in clients("kms").list_resource_tags(KeyId=key)["Tags"]},
        "repository": {
            t["Key"] for t in clients("ecr").list_tags_for_resource(resourceArn=repository)["tags"]
        },
        "log group": set(clients("logs").list_tags_for_resource(resourceArn=log_group)["tags"]),
        "role": {
            t["Key"]
            for t in clients("iam").list_role_tags(RoleName="pipeline-build-role-dev")["Tags"]
        },
        "topic": {
            t["Key"] for t in clients("sns").list_tags_for_resource(ResourceArn=topic)["Tags"]
        },
        "queue": set(clients("sqs").list_queue_tags(QueueUrl=queue_url)["Tags"]),
        "rule": {
            t["Key"] for t in clients("events").list_tags_for_resource(ResourceARN=rule)["Tags"]
        },
        "function": set(clients("lambda").list_tags(Resource=function)["Tags"]),
        "pipeline": {
            t["key"]
            for t in clients("codepipeline").list_tags_for_resource(resourceArn=pipeline)["tags"]
        },
    }


def test_a_tag_dropped_from_the_config_is_removed_everywhere(
    target: LocalTarget, clients: Clients
) -> None:
    two = target.up("dev", PROGRAM, {"tap:tags": '{"Team": "a", "CostCenter": "42"}'})
    assert all(
        {"Team", "CostCenter"} <= keys for keys in tags_of_every_kind(clients, two.outputs).values()
    )
    one = target.up("dev", PROGRAM, {"tap:tags": '{"Team": "a"}'})
    for kind, keys in tags_of_every_kind(clients, one.outputs).items():
        assert "Team" in keys, kind
        assert "CostCenter" not in keys, kind
