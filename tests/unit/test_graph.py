"""The offline resource graph: recording, parents, synthesised outputs and its refusals."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from conftest import Program, run_program

from tap_cicd import graph


def test_parents_and_lookup(default_program: Program) -> None:
    nodes = default_program.by_urn()
    pipeline = default_program.one("tap:cicd:CicdPipelineStack")
    root = default_program.one("tap:index:TapStack")
    assert pipeline.parent == root.urn
    assert root.parent is not None
    assert root.parent.endswith("pulumi:pulumi:Stack::tap-unit")
    key = default_program.one("aws:kms/key:Key")
    assert nodes[key.urn] is key
    encryption = default_program.one("tap:cicd:Encryption")
    assert encryption.parent == pipeline.urn
    assert key.parent == encryption.urn
    assert key.outputs["arn"].endswith(graph.offline_key_id(key.name))
    with pytest.raises(LookupError, match="expected one aws:s3/bucket:Bucket"):
        default_program.one("aws:s3/bucket:Bucket")


def test_unknown_invoke_fails_the_run() -> None:
    def body() -> dict[str, pulumi.Output[Any]]:
        return {"vpc": aws.ec2.get_vpc_output(default=True).id}

    with pytest.raises(Exception, match="cannot answer invoke aws:ec2/getVpc:getVpc"):
        run_program(body)


def test_availability_zones_are_answered_offline_and_locally() -> None:
    """The network's subnets go to the first two zones; the local deployer answers alike."""
    result = run_program(
        lambda: {
            "names": aws.get_availability_zones_output(state="available").names,
            "ids": aws.get_availability_zones_output().zone_ids,
        }
    )
    assert result.outputs["names"] == ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    assert result.outputs["ids"] == ["euw1-az1", "euw1-az2", "euw1-az3"]
    answers = graph.invoke_answers("111122223333", "us-gov-west-1", "u")
    zones = answers["aws:index/getAvailabilityZones:getAvailabilityZones"]
    assert zones["zoneIds"][0] == "usgw1-az1"
    assert zones["names"][1] == "us-gov-west-1b"


def test_offline_defaults_are_placeholders() -> None:
    result = graph.run(lambda: {"id": aws.sns.Topic("t", name="n").arn})
    assert result.outputs == {"id": f"arn:aws:sns:us-east-1:{graph.PLACEHOLDER_ACCOUNT}:n"}
    assert [n.type for n in result.nodes] == ["aws:sns/topic:Topic"]


def test_registered_types_get_the_registry_outputs_others_only_an_id() -> None:
    def body() -> dict[str, pulumi.Output[Any]]:
        queue = aws.sqs.Queue("q", name="jobs")
        unnamed = aws.s3.Bucket("unnamed")  # left to autonaming, which the mocks do not do
        permission = aws.lambda_.Permission(
            "p", action="lambda:InvokeFunction", function="f", principal="events.amazonaws.com"
        )
        return {"url": queue.url, "bucket": unnamed.id, "permission": permission.id}

    result = graph.run(body)
    account = graph.PLACEHOLDER_ACCOUNT
    assert result.outputs == {
        "url": f"https://sqs.us-east-1.amazonaws.com/{account}/jobs",
        "bucket": "unnamed-id",
        "permission": "p-id",
    }
    assert (
        result.one("aws:sqs/queue:Queue").outputs["arn"] == f"arn:aws:sqs:us-east-1:{account}:jobs"
    )


def test_engine_warnings_are_collected() -> None:
    def body() -> dict[str, pulumi.Output[Any]]:
        pulumi.log.warn("careful")
        return {}

    assert graph.run(body).warnings == ["careful"]
