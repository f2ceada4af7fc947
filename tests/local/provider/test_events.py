"""EventBridge: the rule (pattern, tags, deletion with its targets) and its targets."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tap_cicd.local.provider import Context, events

from .conftest import TAGS, create, delete, update, writes_of

RULE = "tap-source-change"
PATTERN = json.dumps({"source": ["aws.s3"], "detail-type": ["Object Created"]})


def rule_tags(ctx: Context, arn: str) -> dict[str, str]:
    tags = ctx.clients("events").list_tags_for_resource(ResourceARN=arn)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def test_rule_is_put_with_its_pattern_description_and_tags(ctx: Context) -> None:
    inputs = {"name": RULE, "eventPattern": PATTERN, "description": "source upload", "tags": TAGS}
    name, outputs = create(events.RULE, ctx, inputs)
    assert name == RULE
    assert outputs == {"arn": ctx.arn("events", f"rule/{RULE}")}
    rule = ctx.clients("events").describe_rule(Name=RULE)
    assert json.loads(rule["EventPattern"]) == json.loads(PATTERN)
    assert rule["Description"] == "source upload"
    assert rule["State"] == "ENABLED"
    assert rule_tags(ctx, outputs["arn"]) == TAGS


def test_rule_update_puts_it_again_without_tagging(ctx: Context) -> None:
    old = {"name": RULE, "eventPattern": PATTERN}
    create(events.RULE, ctx, old)
    outputs = update(events.RULE, ctx, RULE, old, {**old, "state": "DISABLED"})
    assert outputs == {"arn": ctx.arn("events", f"rule/{RULE}")}
    assert ctx.clients("events").describe_rule(Name=RULE)["State"] == "DISABLED"
    assert writes_of(ctx.clients, "events:TagResource") == 0


def test_target_is_put_in_the_api_shape(ctx: Context) -> None:
    create(events.RULE, ctx, {"name": RULE, "eventPattern": PATTERN})
    inputs = {
        "rule": RULE,
        "targetId": "notify",
        "arn": ctx.arn("sns", "tap-notifications"),
        "roleArn": f"arn:aws:iam::{ctx.account_id}:role/events",
        "inputTransformer": {
            "inputPaths": {"state": "$.detail.state"},
            "inputTemplate": '"<state>"',
        },
        "retryPolicy": {"maximumRetryAttempts": 8.0, "maximumEventAgeInSeconds": 3600.0},
        "deadLetterConfig": {"arn": ctx.arn("sqs", "tap-dlq")},
    }
    target_id, outputs = create(events.TARGET, ctx, inputs)
    assert (target_id, outputs) == (f"{RULE}-notify", {})
    (stored,) = ctx.clients("events").list_targets_by_rule(Rule=RULE)["Targets"]
    assert stored == {
        "Id": "notify",
        "Arn": ctx.arn("sns", "tap-notifications"),
        "RoleArn": f"arn:aws:iam::{ctx.account_id}:role/events",
        "InputTransformer": {
            "InputPathsMap": {"state": "$.detail.state"},
            "InputTemplate": '"<state>"',
        },
        "RetryPolicy": {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600},
        "DeadLetterConfig": {"Arn": ctx.arn("sqs", "tap-dlq")},
    }


def test_minimal_target_is_its_id_and_arn() -> None:
    assert events.target({"targetId": "t", "arn": "arn:x"}) == {"Id": "t", "Arn": "arn:x"}


def test_target_refused_by_eventbridge_is_an_aws_error(ctx: Context) -> None:
    client = ctx.clients("events")
    refused = [{"TargetId": "t", "ErrorCode": "ValidationException", "ErrorMessage": "bad arn"}]
    inputs = {"rule": RULE, "targetId": "t", "arn": "arn:aws:sns:us-east-1:1:t"}
    with Stubber(client) as stub:
        stub.add_response(
            "put_targets",
            {"FailedEntryCount": 1, "FailedEntries": refused},
            {"Rule": RULE, "Targets": [{"Id": "t", "Arn": "arn:aws:sns:us-east-1:1:t"}]},
        )
        with pytest.raises(ClientError, match=r"EventBridge refused target: .*bad arn") as raised:
            create(events.TARGET, ctx, inputs)
        stub.assert_no_pending_responses()
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_target_update_and_delete(ctx: Context) -> None:
    client = ctx.clients("events")
    create(events.RULE, ctx, {"name": RULE, "eventPattern": PATTERN})
    inputs = {"rule": RULE, "targetId": "t", "arn": ctx.arn("sns", "tap-notifications")}
    create(events.TARGET, ctx, inputs)
    update(events.TARGET, ctx, f"{RULE}-t", inputs, {**inputs, "arn": ctx.arn("sqs", "tap-dlq")})
    (stored,) = client.list_targets_by_rule(Rule=RULE)["Targets"]
    assert stored["Arn"] == ctx.arn("sqs", "tap-dlq")
    delete(events.TARGET, ctx, f"{RULE}-t", inputs)
    assert client.list_targets_by_rule(Rule=RULE)["Targets"] == []
    client.delete_rule(Name=RULE)
    delete(events.TARGET, ctx, f"{RULE}-t", inputs)  # its rule is gone too


def test_rule_delete_removes_its_targets_first(ctx: Context) -> None:
    create(events.RULE, ctx, {"name": RULE, "eventPattern": PATTERN})
    target = {"rule": RULE, "targetId": "t", "arn": ctx.arn("sns", "tap-notifications")}
    create(events.TARGET, ctx, target)
    delete(events.RULE, ctx, RULE)
    assert ctx.clients("events").list_rules()["Rules"] == []
    assert writes_of(ctx.clients, "events:RemoveTargets") == 1


def test_rule_without_targets_is_deleted_directly(ctx: Context) -> None:
    create(events.RULE, ctx, {"name": RULE, "eventPattern": PATTERN})
    delete(events.RULE, ctx, RULE)
    assert ctx.clients("events").list_rules()["Rules"] == []
    assert writes_of(ctx.clients, "events:RemoveTargets") == 0
    delete(events.RULE, ctx, RULE)
