"""SNS, SQS and EventBridge: the topic, the queues, the rules and their targets."""

from __future__ import annotations

import json
from typing import Any

from tap_cicd.local.provider._common import (
    Context,
    Handler,
    Inputs,
    Outputs,
    delete_by_id,
    ignore_missing,
    integer,
    reapply,
    stale_tags,
    tag_list,
)


def create_topic(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    attributes = {}
    if inputs.get("kmsMasterKeyId"):
        attributes["KmsMasterKeyId"] = inputs["kmsMasterKeyId"]
    # CreateTopic is idempotent for the same name and attributes.
    arn = ctx.clients("sns").create_topic(
        Name=inputs["name"], Attributes=attributes, Tags=tag_list(inputs.get("tags"))
    )["TopicArn"]
    return str(arn), {"arn": arn}


def update_topic(ctx: Context, arn: str, old: Inputs, new: Inputs) -> Outputs:
    sns = ctx.clients("sns")
    sns.set_topic_attributes(
        TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue=new.get("kmsMasterKeyId", "")
    )
    if stale := stale_tags(old, new):
        sns.untag_resource(ResourceArn=arn, TagKeys=stale)
    if new.get("tags"):
        sns.tag_resource(ResourceArn=arn, Tags=tag_list(new["tags"]))
    return {"arn": arn}


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


def set_topic_policy(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    ctx.clients("sns").set_topic_attributes(
        TopicArn=inputs["arn"], AttributeName="Policy", AttributeValue=inputs["policy"]
    )
    return str(inputs["arn"]), {"owner": ctx.account_id}


def reset_topic_policy(ctx: Context, arn: str, _inputs: Inputs) -> None:
    ignore_missing(
        lambda: ctx.clients("sns").set_topic_attributes(
            TopicArn=arn,
            AttributeName="Policy",
            AttributeValue=default_topic_policy(arn, ctx.account_id),
        )
    )


def subscribe(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    arn = ctx.clients("sns").subscribe(
        TopicArn=inputs["topic"],
        Protocol=inputs["protocol"],
        Endpoint=inputs["endpoint"],
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return str(arn), {"arn": arn}


def _queue_attributes(inputs: Inputs) -> dict[str, str]:
    attributes = {}
    if inputs.get("kmsMasterKeyId"):
        attributes["KmsMasterKeyId"] = inputs["kmsMasterKeyId"]
    if inputs.get("messageRetentionSeconds"):
        attributes["MessageRetentionPeriod"] = str(integer(inputs["messageRetentionSeconds"]))
    return attributes


def create_queue(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    url = ctx.clients("sqs").create_queue(
        QueueName=inputs["name"],
        Attributes=_queue_attributes(inputs),
        tags=dict(inputs.get("tags") or {}),
    )["QueueUrl"]
    return str(url), {"url": url, "arn": ctx.arn("sqs", inputs["name"])}


def update_queue(ctx: Context, url: str, old: Inputs, new: Inputs) -> Outputs:
    sqs = ctx.clients("sqs")
    sqs.set_queue_attributes(QueueUrl=url, Attributes=_queue_attributes(new))
    if stale := stale_tags(old, new):
        sqs.untag_queue(QueueUrl=url, TagKeys=stale)
    if new.get("tags"):
        sqs.tag_queue(QueueUrl=url, Tags=dict(new["tags"]))
    return {"url": url, "arn": ctx.arn("sqs", new["name"])}


def set_queue_policy(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    ctx.clients("sqs").set_queue_attributes(
        QueueUrl=inputs["queueUrl"], Attributes={"Policy": inputs["policy"]}
    )
    return str(inputs["queueUrl"]), {}


def put_rule(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    return str(inputs["name"]), update_rule(ctx, inputs["name"], {}, inputs)


def update_rule(ctx: Context, _name: str, old: Inputs, inputs: Inputs) -> Outputs:
    events = ctx.clients("events")
    arn = events.put_rule(
        Name=inputs["name"],
        EventPattern=inputs["eventPattern"],
        Description=inputs.get("description", ""),
        State=inputs.get("state", "ENABLED"),
    )["RuleArn"]
    if stale := stale_tags(old, inputs):
        events.untag_resource(ResourceARN=arn, TagKeys=stale)
    if inputs.get("tags"):
        events.tag_resource(ResourceARN=arn, Tags=tag_list(inputs["tags"]))
    return {"arn": arn}


def delete_rule(ctx: Context, name: str, _inputs: Inputs) -> None:
    events = ctx.clients("events")

    def delete() -> None:
        targets = events.list_targets_by_rule(Rule=name)["Targets"]
        if targets:
            events.remove_targets(Rule=name, Ids=[t["Id"] for t in targets])
        events.delete_rule(Name=name)

    ignore_missing(delete)


def target(inputs: Inputs) -> dict[str, Any]:
    """One EventBridge target in the API's shape."""
    api: dict[str, Any] = {"Id": inputs["targetId"], "Arn": inputs["arn"]}
    if inputs.get("roleArn"):
        api["RoleArn"] = inputs["roleArn"]
    if inputs.get("inputTransformer"):
        transformer = inputs["inputTransformer"]
        api["InputTransformer"] = {
            "InputPathsMap": dict(transformer.get("inputPaths", {})),
            "InputTemplate": transformer["inputTemplate"],
        }
    if inputs.get("retryPolicy"):
        retry = inputs["retryPolicy"]
        api["RetryPolicy"] = {
            "MaximumRetryAttempts": integer(retry["maximumRetryAttempts"]),
            "MaximumEventAgeInSeconds": integer(retry["maximumEventAgeInSeconds"]),
        }
    if inputs.get("deadLetterConfig"):
        api["DeadLetterConfig"] = {"Arn": inputs["deadLetterConfig"]["arn"]}
    return api


def put_target(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    response = ctx.clients("events").put_targets(Rule=inputs["rule"], Targets=[target(inputs)])
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge refused target: {response['FailedEntries']}")
    return f"{inputs['rule']}-{inputs['targetId']}", {}


HANDLERS = [
    Handler(
        "aws:sns/topic:Topic",
        create_topic,
        delete_by_id("sns", "delete_topic", "TopicArn"),
        update_topic,
        replace_on=("name",),
    ),
    Handler(
        "aws:sns/topicPolicy:TopicPolicy",
        set_topic_policy,
        reset_topic_policy,
        reapply(set_topic_policy),
        replace_on=("arn",),
    ),
    Handler(
        "aws:sns/topicSubscription:TopicSubscription",
        subscribe,
        delete_by_id("sns", "unsubscribe", "SubscriptionArn"),
    ),
    Handler(
        "aws:sqs/queue:Queue",
        create_queue,
        delete_by_id("sqs", "delete_queue", "QueueUrl"),
        update_queue,
        replace_on=("name",),
    ),
    Handler(
        "aws:sqs/queuePolicy:QueuePolicy",
        set_queue_policy,
        lambda ctx, url, _i: ignore_missing(
            lambda: ctx.clients("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
        ),
        reapply(set_queue_policy),
        replace_on=("queueUrl",),
    ),
    Handler(
        "aws:cloudwatch/eventRule:EventRule",
        put_rule,
        delete_rule,
        update_rule,
        replace_on=("name",),
    ),
    Handler(
        "aws:cloudwatch/eventTarget:EventTarget",
        put_target,
        lambda ctx, _id, inputs: ignore_missing(
            lambda: ctx.clients("events").remove_targets(
                Rule=inputs["rule"], Ids=[inputs["targetId"]]
            )
        ),
        reapply(put_target),
        replace_on=("rule", "targetId"),
    ),
]
