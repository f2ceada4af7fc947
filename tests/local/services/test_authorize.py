"""EventBridge's deliveries to topics and queues authorized as AWS would, with the stack's own
key, topic and queue policies: the shipped defect (``aws:SourceArn`` on the key policy's
EventBridge statement) drops the notification to the dead-letter queue."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from moto.sns.models import Subscription

from tap_cicd import documents
from tap_cicd.local.services import authorize, events, iam

from .test_events import (
    ACCOUNT,
    PIPELINE_ARN,
    REGION,
    RETRY,
    attributes,
    client,
    new_topic,
    queue,
    received,
    rule,
    state_change,
)

RULE = "tap-pipeline-state-dev"
RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{RULE}"


def key(source_arn: bool = False) -> str:
    """The stack's key (its real policy), behind an alias; with ``source_arn``, the EventBridge
    statement also tests the rule's ``aws:SourceArn`` (TAP-AWS-001)."""
    policy: dict[str, Any] = documents.key_policy(ACCOUNT, REGION, "aws", [])
    if source_arn:
        statement = next(s for s in policy["Statement"] if s["Sid"] == "EventBridgeDeliveries")
        statement["Condition"] = {"ArnEquals": {"aws:SourceArn": RULE_ARN}}
    key_id = client("kms").create_key(Policy=json.dumps(policy))["KeyMetadata"]["KeyId"]
    client("kms").create_alias(AliasName="alias/tap-dev", TargetKeyId=key_id)
    return "alias/tap-dev"


def notify(topic: str, dlq: str) -> None:
    """The stack's state rule to ``topic``, dead-lettering to ``dlq``; then a SUCCEEDED."""
    target = {"Id": "n", "Arn": topic, "RetryPolicy": RETRY, "DeadLetterConfig": {"Arn": dlq}}
    rule(RULE, documents.pipeline_state_pattern(PIPELINE_ARN), target)
    state_change("SUCCEEDED")


def subscribed(topic: str) -> str:
    url, arn = queue("subscriber")
    policy = documents.subscriber_queue_policy(arn, topic)
    client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return url


def encrypted_dlq(key_id: str) -> tuple[str, str]:
    url, arn = queue("events-dlq")
    # moto forgets a queue's policy when other attributes are set without it.
    policy = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
    attributes = {"KmsMasterKeyId": key_id, "Policy": policy["Attributes"]["Policy"]}
    client("sqs").set_queue_attributes(QueueUrl=url, Attributes=attributes)
    return url, arn


def test_the_stacks_policies_deliver_to_the_encrypted_topic(live: str) -> None:
    key_id = key()
    topic = new_topic("tap-notifications-dev", RULE, KmsMasterKeyId=key_id)
    url = subscribed(topic)
    dlq_url, dlq_arn = encrypted_dlq(key_id)

    notify(topic, dlq_arn)

    assert [item["outcome"] for item in events.deliveries()] == ["delivered"]
    assert len(received(url)) == 1
    assert received(dlq_url) == []


def test_source_arn_on_the_key_statement_drops_the_notification(live: str) -> None:
    key_id = key(source_arn=True)
    key_arn = client("kms").describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
    topic = new_topic("tap-notifications-dev", RULE, KmsMasterKeyId=key_id)
    url = subscribed(topic)
    # The DLQ's KMS calls carry aws:SourceArn: the same key lets EventBridge dead-letter.
    dlq_url, dlq_arn = encrypted_dlq(key_id)

    notify(topic, dlq_arn)

    cause = (
        f"events.amazonaws.com kms:GenerateDataKey on {key_arn}: no statement of the key policy"
        " allows it (statement EventBridgeDeliveries tests aws:SourceArn, which AWS does not"
        " send on this path)"
    )
    [record] = events.deliveries()
    assert (record["outcome"], record["reason"]) == ("dropped", f"NO_PERMISSIONS: {cause}")
    assert received(url) == []
    [letter] = received(dlq_url)
    assert attributes(letter)["ERROR_CODE"] == "NO_PERMISSIONS"
    assert attributes(letter)["ERROR_MESSAGE"] == cause
    assert attributes(letter)["RETRY_ATTEMPTS"] == "0"


def test_a_topic_policy_without_the_rule_drops_it(live: str) -> None:
    topic = new_topic("tap-notifications-dev", "another-rule")
    _, dlq_arn = queue("events-dlq")

    notify(topic, dlq_arn)

    [record] = events.deliveries()
    assert record["outcome"] == "dropped"
    assert record["reason"] == (
        f"NO_PERMISSIONS: events.amazonaws.com sns:Publish on {topic}: no statement of the"
        " topic policy allows it (statement EventBridgeRuleOfThisStack's condition on"
        " aws:SourceArn does not match the call)"
    )


def test_a_queue_without_a_policy_refuses_target_and_dead_letters(live: str) -> None:
    bare = client("sqs").create_queue(QueueName="bare")["QueueUrl"]
    bare_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:bare"

    notify(new_topic("tap-notifications-dev", "another-rule"), bare_arn)
    rule("custom", {"source": ["tap.test"]}, {"Id": "q", "Arn": bare_arn})
    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {}, [])

    no_policy = (
        f"events.amazonaws.com sqs:SendMessage on {bare_arn}: no statement of the queue policy"
        " allows it (there is no queue policy)"
    )
    dead_letter, target = events.deliveries()
    assert dead_letter["outcome"] == "dropped"
    assert dead_letter["reason"].endswith(f"; the dead-letter queue failed too: {no_policy}")
    assert (target["outcome"], target["reason"]) == ("dropped", f"NO_PERMISSIONS: {no_policy}")
    assert client("sqs").receive_message(QueueUrl=bare).get("Messages", []) == []


def test_a_key_the_emulator_does_not_hold_is_not_checked(live: str) -> None:
    topic = new_topic("tap-notifications-dev", RULE, KmsMasterKeyId="alias/aws/sns")
    url = subscribed(topic)
    _, dlq_arn = queue("events-dlq")

    notify(topic, dlq_arn)

    assert [item["outcome"] for item in events.deliveries()] == ["delivered"]
    assert len(received(url)) == 1


# --- SNS -> SQS ---------------------------------------------------------------------------------


def denials() -> list[dict[str, str]]:
    return list(iam.denials_seen({})["denials"])


def publish(topic: str) -> None:
    client("sns").publish(TopicArn=topic, Message="hello")


def test_sns_delivers_only_where_the_queue_policy_lets_the_topic_send(live: str) -> None:
    topic = client("sns").create_topic(Name="notifications")["TopicArn"]
    url, arn = queue("reader")  # its policy lets only EventBridge send
    client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    publish(topic)
    assert received(url) == []
    [refused] = denials()
    assert (refused["principal"], refused["action"], refused["resource"]) == (
        "sns.amazonaws.com",
        "sqs:SendMessage",
        arn,
    )
    assert refused["reason"] == "no statement of the queue policy allows it"

    policy = documents.subscriber_queue_policy(arn, topic)
    client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    publish(topic)
    [message] = received(url)
    assert json.loads(message["Body"])["Message"] == "hello"


def test_an_encrypted_subscriber_needs_a_key_policy_that_lets_sns_use_the_key(live: str) -> None:
    topic = client("sns").create_topic(Name="notifications")["TopicArn"]
    url, arn = queue("reader")
    root = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}
    owner_only = {
        "Version": "2012-10-17",
        "Statement": [{**root, "Action": "kms:*", "Resource": "*"}],
    }
    kms = client("kms")
    key_id = kms.create_key(Policy=json.dumps(owner_only))["KeyMetadata"]["KeyId"]
    policy = json.dumps(documents.subscriber_queue_policy(arn, topic))
    client("sqs").set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": policy, "KmsMasterKeyId": key_id}
    )
    client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    publish(topic)
    assert received(url) == []
    [refused] = denials()
    assert refused["action"] == "kms:GenerateDataKey"
    assert refused["reason"].startswith("no statement of the key policy allows it")

    sns_use = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": "*",
        "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
    }
    both = {"Version": "2012-10-17", "Statement": [owner_only["Statement"][0], sns_use]}
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(both))
    publish(topic)
    assert len(received(url)) == 1


def test_the_subscription_patch_is_installed_once() -> None:
    authorize.install()
    authorize.install()
    assert Subscription.publish is authorize._deliver


def test_other_subscriptions_are_delivered_as_moto_delivers_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delivered: list[tuple[Any, ...]] = []
    monkeypatch.setitem(authorize._ORIGINALS, "publish", lambda *args: delivered.append(args))
    lambda_subscription = SimpleNamespace(protocol="lambda", endpoint="arn:aws:lambda:f")
    authorize._deliver(lambda_subscription, "hello", "id-1")  # type: ignore[arg-type]
    assert delivered == [(lambda_subscription, "hello", "id-1")]
