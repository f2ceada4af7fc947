"""SQS: the dead-letter queues and their policy."""

from __future__ import annotations

from typing import Any

from tap_cicd.local.provider.model import (
    ID,
    Call,
    Ref,
    ResourceType,
    Tags,
    Update,
    given,
    part_of,
    settable,
    tag_reader,
)


def _attributes(ref: Ref) -> dict[str, str]:
    attributes = {}
    if ref.inputs.get("kmsMasterKeyId"):
        attributes["KmsMasterKeyId"] = ref.inputs["kmsMasterKeyId"]
    if ref.inputs.get("messageRetentionSeconds"):
        attributes["MessageRetentionPeriod"] = str(int(ref.inputs["messageRetentionSeconds"]))
    return attributes


def _get(*names: str) -> Call:
    """GetQueueAttributes of ``names``, answering the attributes."""
    return Call(
        "get_queue_attributes",
        QueueUrl=ID,
        AttributeNames=list(names),
        result=lambda _ref, response: response.get("Attributes", {}),
    )


_queue_url = Call(
    "get_queue_url", QueueName=given("name"), result=lambda _ref, response: response["QueueUrl"]
)

QUEUE = ResourceType(
    type="aws:sqs/queue:Queue",
    service="sqs",
    # The URL as AWS forms it (offline); locally create and find answer the endpoint's own.
    id=lambda ref: f"https://sqs.{ref.region}.amazonaws.com/{ref.account}/{ref.inputs['name']}",
    find=_queue_url,
    create=Call(
        "create_queue",
        QueueName=given("name"),
        Attributes=_attributes,
        result=lambda _ref, response: response["QueueUrl"],
    ),
    read=_get("All"),
    # The QueuePolicy resource owns Policy (and setting it moves LastModifiedTimestamp);
    # the counters move with messages.
    volatile=(
        "Policy",
        "LastModifiedTimestamp",
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ),
    updates=(
        Update(
            ("kmsMasterKeyId", "messageRetentionSeconds"),
            Call("set_queue_attributes", QueueUrl=ID, Attributes=_attributes),
        ),
    ),
    delete=Call("delete_queue", QueueUrl=ID),
    tags=Tags({"QueueUrl": ID}, tag="tag_queue", untag="untag_queue", pairs=None, on_create="tags"),
    read_tags=tag_reader("list_queue_tags", lambda r: r.get("Tags"), None, QueueUrl=ID),
    outputs=lambda ref: {"url": ref.id, "arn": ref.arn("sqs", ref.inputs["name"])},
    replace_on=("name",),
)


def _policy(value: Any) -> Call:
    return Call("set_queue_attributes", QueueUrl=ID, Attributes=lambda ref: {"Policy": value(ref)})


QUEUE_POLICY = settable(
    "aws:sqs/queuePolicy:QueuePolicy",
    "sqs",
    _policy(given("policy")),
    of="queueUrl",
    belongs_to=part_of(QUEUE.type, "queueUrl"),
    read=Call(
        "get_queue_attributes",
        QueueUrl=ID,
        AttributeNames=["Policy"],
        result=lambda _ref, response: response.get("Attributes", {}).get("Policy") or None,
    ),
    delete=_policy(lambda _ref: ""),
)

TYPES = (QUEUE, QUEUE_POLICY)
