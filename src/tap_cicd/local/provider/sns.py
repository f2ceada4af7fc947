"""SNS: the notification topic, its policy and its subscriptions."""

from __future__ import annotations

import json
from typing import Any

from tap_cicd.local.provider.model import (
    ID,
    Call,
    ResourceType,
    Tags,
    Update,
    given,
    part_of,
    settable,
    tag_reader,
)


def _set(attribute: str, value: Any) -> Call:
    """SetTopicAttributes of one attribute."""
    return Call("set_topic_attributes", TopicArn=ID, AttributeName=attribute, AttributeValue=value)


def _attribute(name: str | None) -> Call:
    """GetTopicAttributes, answering one attribute (``None``: all of them)."""

    def pick(_ref: Any, response: Any) -> Any:
        attributes = response["Attributes"]
        return attributes if name is None else attributes.get(name)

    return Call("get_topic_attributes", TopicArn=ID, result=pick)


TOPIC = ResourceType(
    type="aws:sns/topic:Topic",
    service="sns",
    id=lambda ref: ref.arn("sns", ref.inputs["name"]),
    # CreateTopic is idempotent for the same name and attributes.
    create=Call(
        "create_topic",
        Name=given("name"),
        Attributes=lambda ref: (
            {"KmsMasterKeyId": ref.inputs["kmsMasterKeyId"]}
            if ref.inputs.get("kmsMasterKeyId")
            else {}
        ),
        result=lambda _ref, response: response["TopicArn"],
    ),
    read=_attribute(None),
    # The TopicPolicy resource owns Policy; the counters move with subscriptions.
    volatile=("Policy", "SubscriptionsConfirmed", "SubscriptionsPending", "SubscriptionsDeleted"),
    updates=(Update(("kmsMasterKeyId",), _set("KmsMasterKeyId", given("kmsMasterKeyId", ""))),),
    delete=Call("delete_topic", TopicArn=ID),
    tags=Tags({"ResourceArn": ID}, on_create="Tags"),
    read_tags=tag_reader("list_tags_for_resource", lambda r: r["Tags"], ResourceArn=ID),
    outputs=lambda ref: {"arn": ref.id},
    replace_on=("name",),
)


def default_topic_policy(topic_arn: str, account_id: str) -> str:
    """The policy SNS gives a new topic: only the owning account may use it."""
    return json.dumps(
        {
            "Version": "2008-10-17",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:GetTopicAttributes"],
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": account_id}},
                }
            ],
        }
    )


TOPIC_POLICY = settable(
    "aws:sns/topicPolicy:TopicPolicy",
    "sns",
    _set("Policy", given("policy")),
    of="arn",
    belongs_to=part_of(TOPIC.type, "arn"),
    read=_attribute("Policy"),
    # A topic always has a policy: deleting this one restores the default.
    delete=_set("Policy", lambda ref: default_topic_policy(ref.id, ref.account)),
    outputs=lambda ref: {"owner": ref.account},
)

SUBSCRIPTION = ResourceType(
    type="aws:sns/topicSubscription:TopicSubscription",
    service="sns",
    id=None,
    create=Call(
        "subscribe",
        TopicArn=given("topic"),
        Protocol=given("protocol"),
        Endpoint=given("endpoint"),
        ReturnSubscriptionArn=True,
        result=lambda _ref, response: response["SubscriptionArn"],
    ),
    read=Call(
        "get_subscription_attributes",
        SubscriptionArn=ID,
        result=lambda _ref, response: response["Attributes"],
    ),
    delete=Call("unsubscribe", SubscriptionArn=ID),
    outputs=lambda ref: {"arn": ref.id},
)

TYPES = (TOPIC, TOPIC_POLICY, SUBSCRIPTION)
