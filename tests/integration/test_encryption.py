"""The pipeline key as deployed (baseline K1)."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import as_list, everyone, policy_document


@pytest.fixture(scope="module")
def key_id(key_arn: str) -> str:
    """The key id, from the ARN output."""
    return key_arn.rsplit("/", 1)[-1]


def test_key_is_enabled_symmetric_and_customer_managed(aws: Any, key_id: str) -> None:
    metadata = aws("kms").describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "Enabled"
    assert metadata["KeyManager"] == "CUSTOMER"
    assert metadata["KeySpec"] == "SYMMETRIC_DEFAULT"


def test_rotation_is_enabled(aws: Any, key_id: str) -> None:
    assert aws("kms").get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_key_has_its_alias(aws: Any, key_id: str) -> None:
    aliases = aws("kms").list_aliases(KeyId=key_id)["Aliases"]
    assert [a["AliasName"] for a in aliases if a.get("TargetKeyId") == key_id] != []


def test_key_policy_has_no_unconditioned_everyone(aws: Any, key_id: str) -> None:
    policy = policy_document(
        aws("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    )
    for statement in as_list(policy["Statement"]):
        principal = statement["Principal"]
        assert not everyone(principal), statement
        if "Service" in principal and principal["Service"] != "events.amazonaws.com":
            assert "Condition" in statement, f"service grant without conditions: {statement}"


def _statements_by_sid(aws: Any, key_id: str) -> dict[str, Any]:
    policy = policy_document(
        aws("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    )
    return {s.get("Sid"): s for s in as_list(policy["Statement"])}


def test_eventbridge_uses_the_key_without_source_conditions(aws: Any, key_id: str) -> None:
    """AWS does not support aws:SourceAccount/aws:SourceArn in a key policy for EventBridge
    delivery to an encrypted topic: with them every notification would be dropped."""
    events = _statements_by_sid(aws, key_id)["EventBridgeDeliveries"]
    assert events["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(as_list(events["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "Condition" not in events


def test_logs_use_the_key_for_the_stacks_log_groups_only(
    aws: Any, key_id: str, outputs: dict[str, str]
) -> None:
    logs = _statements_by_sid(aws, key_id)["CloudWatchLogsOfThisStack"]
    groups = as_list(logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"])
    names = sorted(g.split(":log-group:", 1)[1] for g in groups)
    expected = [
        f"/aws/codebuild/{outputs['codeBuildProjectName']}",
        f"/aws/lambda/{outputs['deployFunctionName']}",
    ]
    if "serviceName" in outputs:  # the service's containers log to the stack's group too
        ecs = aws("ecs")
        service = ecs.describe_services(
            cluster=outputs["clusterName"], services=[outputs["serviceName"]]
        )["services"][0]
        definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
        container = definition["taskDefinition"]["containerDefinitions"][0]
        expected.append(container["logConfiguration"]["options"]["awslogs-group"])
    assert names == sorted(expected)
    assert not any("*" in g for g in groups)
