"""SNS: the topic (key, tags), its policy (reset to the default on delete) and subscriptions."""

from __future__ import annotations

import json
import uuid

from tap_cicd.local.provider import Context, sns, sqs

from .conftest import TAGS, create, delete, update, writes_of

TOPIC = "tap-notifications"


def topic_attributes(ctx: Context, arn: str) -> dict[str, str]:
    attributes: dict[str, str] = ctx.clients("sns").get_topic_attributes(TopicArn=arn)["Attributes"]
    return attributes


def topic_tags(ctx: Context, arn: str) -> dict[str, str]:
    tags = ctx.clients("sns").list_tags_for_resource(ResourceArn=arn)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def test_topic_is_created_with_its_key_and_tags(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    arn, outputs = create(sns.TOPIC, ctx, {"name": TOPIC, "kmsMasterKeyId": key_arn, "tags": TAGS})
    assert arn == ctx.arn("sns", TOPIC)
    assert outputs == {"arn": arn}
    assert topic_attributes(ctx, arn)["KmsMasterKeyId"] == key_arn
    assert topic_tags(ctx, arn) == TAGS


def test_minimal_topic_has_no_key(ctx: Context) -> None:
    arn, _ = create(sns.TOPIC, ctx, {"name": TOPIC})
    assert "KmsMasterKeyId" not in topic_attributes(ctx, arn)
    assert topic_tags(ctx, arn) == {}


def test_topic_update_sets_the_key_and_adds_tags(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    arn, _ = create(sns.TOPIC, ctx, {"name": TOPIC})
    new = {"name": TOPIC, "kmsMasterKeyId": key_arn, "tags": TAGS}
    assert update(sns.TOPIC, ctx, arn, {"name": TOPIC}, new) == {"arn": arn}
    assert topic_attributes(ctx, arn)["KmsMasterKeyId"] == key_arn
    assert topic_tags(ctx, arn) == TAGS


def test_topic_update_without_a_key_clears_it_and_sends_no_tags(ctx: Context) -> None:
    old = {"name": TOPIC, "kmsMasterKeyId": ctx.arn("kms", f"key/{uuid.uuid4()}")}
    arn, _ = create(sns.TOPIC, ctx, old)
    update(sns.TOPIC, ctx, arn, old, {"name": TOPIC})
    assert topic_attributes(ctx, arn).get("KmsMasterKeyId", "") == ""
    assert writes_of(ctx.clients, "sns:TagResource") == 0


def test_topic_delete_and_delete_of_a_missing_topic(ctx: Context) -> None:
    arn, _ = create(sns.TOPIC, ctx, {"name": TOPIC})
    delete(sns.TOPIC, ctx, arn)
    assert ctx.clients("sns").list_topics()["Topics"] == []
    delete(sns.TOPIC, ctx, arn)


def test_topic_policy_is_set_and_reset_to_the_default(ctx: Context) -> None:
    arn, _ = create(sns.TOPIC, ctx, {"name": TOPIC})
    statement = {
        "Sid": "EventBridgeRuleOfThisStack",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sns:Publish",
        "Resource": arn,
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    inputs = {"arn": arn, "policy": policy}
    policy_id, outputs = create(sns.TOPIC_POLICY, ctx, inputs)
    assert (policy_id, outputs) == (arn, {"owner": ctx.account_id})
    assert json.loads(topic_attributes(ctx, arn)["Policy"]) == json.loads(policy)
    statement["Action"] = "sns:Subscribe"
    changed = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    update(sns.TOPIC_POLICY, ctx, arn, inputs, {"arn": arn, "policy": changed})
    assert json.loads(topic_attributes(ctx, arn)["Policy"]) == json.loads(changed)
    delete(sns.TOPIC_POLICY, ctx, arn)
    default = json.loads(sns.default_topic_policy(arn, ctx.account_id))
    assert json.loads(topic_attributes(ctx, arn)["Policy"]) == default


def test_resetting_the_policy_of_a_missing_topic_is_fine(ctx: Context) -> None:
    delete(sns.TOPIC_POLICY, ctx, ctx.arn("sns", "tap-never-created"))


def test_default_topic_policy_limits_the_topic_to_its_account() -> None:
    policy = json.loads(sns.default_topic_policy("arn:aws:sns:us-east-1:1:t", "1"))
    (statement,) = policy["Statement"]
    assert statement["Resource"] == "arn:aws:sns:us-east-1:1:t"
    assert statement["Condition"] == {"StringEquals": {"AWS:SourceOwner": "1"}}


def test_subscription_is_created_and_removed(ctx: Context) -> None:
    client = ctx.clients("sns")
    topic_arn, _ = create(sns.TOPIC, ctx, {"name": TOPIC})
    create(sqs.QUEUE, ctx, {"name": "tap-dlq"})
    inputs = {"topic": topic_arn, "protocol": "sqs", "endpoint": ctx.arn("sqs", "tap-dlq")}
    arn, outputs = create(sns.SUBSCRIPTION, ctx, inputs)
    assert outputs == {"arn": arn}
    (subscription,) = client.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert subscription["SubscriptionArn"] == arn
    assert subscription["Protocol"] == "sqs"
    assert subscription["Endpoint"] == ctx.arn("sqs", "tap-dlq")
    delete(sns.SUBSCRIPTION, ctx, arn, inputs)
    assert client.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"] == []
