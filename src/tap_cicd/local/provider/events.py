"""EventBridge: the rules and their targets."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tap_cicd.local.provider.model import (
    ARN,
    ID,
    Call,
    Inputs,
    Ref,
    Tags,
    given,
    integer,
    part_of,
    settable,
    tag_reader,
)

_put_rule = Call(
    "put_rule",
    Name=ID,
    EventPattern=given("eventPattern"),
    Description=given("description", ""),
    State=given("state", "ENABLED"),
)


def _delete_rule(ref: Ref) -> None:
    # EventBridge refuses to delete a rule that still has targets.
    targets = ref.call("list_targets_by_rule", Rule=ref.id)["Targets"]
    if targets:
        ref.call("remove_targets", Rule=ref.id, Ids=[t["Id"] for t in targets])
    ref.call("delete_rule", Name=ref.id)


RULE = settable(
    "aws:cloudwatch/eventRule:EventRule",
    "events",
    _put_rule,  # creates and updates alike; its Tags apply on create only
    of="name",
    read=Call("describe_rule", Name=ID),
    delete=_delete_rule,
    tags=Tags({"ResourceARN": ARN}, on_create="Tags"),
    read_tags=tag_reader("list_tags_for_resource", lambda r: r["Tags"], ResourceARN=ARN),
    outputs=lambda ref: {"arn": ref.arn("events", f"rule/{ref.id}")},
)


def target(inputs: Inputs) -> dict[str, Any]:
    """One EventBridge target in the API's shape."""
    api: dict[str, Any] = {"Id": inputs["targetId"], "Arn": inputs["arn"]}
    if inputs.get("roleArn"):
        api["RoleArn"] = inputs["roleArn"]
    if transformer := inputs.get("inputTransformer"):
        api["InputTransformer"] = {
            "InputPathsMap": dict(transformer.get("inputPaths", {})),
            "InputTemplate": transformer["inputTemplate"],
        }
    if retry := inputs.get("retryPolicy"):
        api["RetryPolicy"] = {
            "MaximumRetryAttempts": integer(retry["maximumRetryAttempts"]),
            "MaximumEventAgeInSeconds": integer(retry["maximumEventAgeInSeconds"]),
        }
    if inputs.get("deadLetterConfig"):
        api["DeadLetterConfig"] = {"Arn": inputs["deadLetterConfig"]["arn"]}
    return api


def _accepted(_ref: Ref, response: Any) -> Any:
    """PutTargets answers 200 with the targets it refused: a refusal is an AWS error."""
    if response.get("FailedEntryCount"):
        (first, *_) = response["FailedEntries"]
        code = str(first.get("ErrorCode", "FailedEntry"))
        message = f"EventBridge refused target: {response['FailedEntries']}"
        raise ClientError({"Error": {"Code": code, "Message": message}}, "PutTargets")
    return response


_rule = given("rule")
_put_target = Call(
    "put_targets", Rule=_rule, Targets=lambda ref: [target(ref.inputs)], result=_accepted
)
TARGET = settable(
    "aws:cloudwatch/eventTarget:EventTarget",
    "events",
    _put_target,
    of=("rule", "targetId"),
    belongs_to=part_of(RULE.type, "rule"),
    id=lambda ref: f"{ref.inputs['rule']}-{ref.inputs['targetId']}",
    read=Call(
        "list_targets_by_rule",
        Rule=_rule,
        result=lambda ref, response: next(
            (t for t in response["Targets"] if t["Id"] == ref.inputs["targetId"]), None
        ),
    ),
    delete=Call("remove_targets", Rule=_rule, Ids=given("targetId", then=lambda i: [i])),
)

TYPES = (RULE, TARGET)
