"""SQS: the queue (key, retention, tags, adoption) and its policy."""

from __future__ import annotations

import json
import uuid

from tap_cicd.local.provider import Context, sqs

from .conftest import TAGS, create, delete, update, writes_of

QUEUE = "tap-dlq"


def queue_attributes(ctx: Context, url: str) -> dict[str, str]:
    found = ctx.clients("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    attributes: dict[str, str] = found["Attributes"]
    return attributes


def queue_tags(ctx: Context, url: str) -> dict[str, str]:
    tags: dict[str, str] = ctx.clients("sqs").list_queue_tags(QueueUrl=url).get("Tags", {})
    return tags


def test_queue_is_created_with_key_retention_and_tags(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    url, outputs = create(
        sqs.QUEUE,
        ctx,
        {
            "name": QUEUE,
            "kmsMasterKeyId": key_arn,
            "messageRetentionSeconds": 1209600.0,
            "tags": TAGS,
        },
    )
    assert outputs == {"url": url, "arn": ctx.arn("sqs", QUEUE)}
    attributes = queue_attributes(ctx, url)
    assert attributes["QueueArn"] == outputs["arn"]
    assert attributes["KmsMasterKeyId"] == key_arn
    assert attributes["MessageRetentionPeriod"] == "1209600"
    assert queue_tags(ctx, url) == TAGS


def test_minimal_queue_keeps_the_defaults(ctx: Context) -> None:
    url, _ = create(sqs.QUEUE, ctx, {"name": QUEUE})
    attributes = queue_attributes(ctx, url)
    assert "KmsMasterKeyId" not in attributes
    assert attributes["MessageRetentionPeriod"] == "345600"  # four days, the SQS default
    assert queue_tags(ctx, url) == {}


def test_creating_an_existing_queue_adopts_it_with_other_attributes(ctx: Context) -> None:
    # CreateQueue refuses a name taken with other attributes (QueueAlreadyExists).
    first, _ = create(sqs.QUEUE, ctx, {"name": QUEUE, "messageRetentionSeconds": 600.0})
    again, _ = create(
        sqs.QUEUE, ctx, {"name": QUEUE, "messageRetentionSeconds": 700.0, "tags": TAGS}
    )
    assert again == first
    assert queue_attributes(ctx, first)["MessageRetentionPeriod"] == "700"
    assert queue_tags(ctx, first) == TAGS


def test_queue_update_sets_attributes_and_tags(ctx: Context) -> None:
    url, _ = create(sqs.QUEUE, ctx, {"name": QUEUE})
    new = {"name": QUEUE, "messageRetentionSeconds": 600.0, "tags": TAGS}
    outputs = update(sqs.QUEUE, ctx, url, {"name": QUEUE}, new)
    assert outputs == {"url": url, "arn": ctx.arn("sqs", QUEUE)}
    assert queue_attributes(ctx, url)["MessageRetentionPeriod"] == "600"
    assert queue_tags(ctx, url) == TAGS


def test_queue_update_without_tags_sends_no_tagging(ctx: Context) -> None:
    url, _ = create(sqs.QUEUE, ctx, {"name": QUEUE})
    update(sqs.QUEUE, ctx, url, {"name": QUEUE}, {"name": QUEUE, "messageRetentionSeconds": 600.0})
    assert writes_of(ctx.clients, "sqs:TagQueue") == 0


def test_queue_delete_and_delete_of_a_missing_queue(ctx: Context) -> None:
    url, _ = create(sqs.QUEUE, ctx, {"name": QUEUE})
    delete(sqs.QUEUE, ctx, url)
    assert ctx.clients("sqs").list_queues().get("QueueUrls", []) == []
    delete(sqs.QUEUE, ctx, url)


def test_queue_policy_is_set_updated_and_removed(ctx: Context) -> None:
    url, _ = create(sqs.QUEUE, ctx, {"name": QUEUE})
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": ctx.arn("sqs", QUEUE),
    }
    inputs = {
        "queueUrl": url,
        "policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    }
    assert create(sqs.QUEUE_POLICY, ctx, inputs) == (url, {})
    assert json.loads(queue_attributes(ctx, url)["Policy"]) == json.loads(inputs["policy"])
    statement["Action"] = "sqs:*"
    changed = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    update(sqs.QUEUE_POLICY, ctx, url, inputs, {"queueUrl": url, "policy": changed})
    assert json.loads(queue_attributes(ctx, url)["Policy"]) == json.loads(changed)
    delete(sqs.QUEUE_POLICY, ctx, url)
    assert queue_attributes(ctx, url).get("Policy", "") == ""
