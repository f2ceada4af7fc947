"""Pipeline state notifications as deployed (baseline N1, N2): rule, target, topic, queue."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .helpers import as_list, everyone, on_aws, policy_document


def failure_event(pipeline_arn: str) -> dict[str, Any]:
    """A CodePipeline execution failure, shaped as EventBridge delivers it."""
    _, _, _, region, account, name = pipeline_arn.split(":", 5)
    return {
        "version": "0",
        "id": "01234567-0123-0123-0123-012345678912",
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "source": "aws.codepipeline",
        "account": account,
        "time": "2025-01-01T12:00:00Z",
        "region": region,
        "resources": [pipeline_arn],
        "detail": {
            "pipeline": name,
            "execution-id": "12345678-1234-1234-1234-123456789012",
            "execution-trigger": {"trigger-type": "PutActionRevision"},
            "state": "FAILED",
            "version": 1.0,
            "pipeline-execution-attempt": 1.0,
        },
    }


def matches(aws: Any, pattern: str, event: dict[str, Any]) -> bool:
    """Whether EventBridge would route ``event`` through ``pattern``.

    AWS answers with TestEventPattern. moto 5.2.5 accepts that call but answers without a
    ``Result``, so on the emulator the question goes to moto's own pattern engine, the one
    its PutEvents routes with.
    """
    if on_aws():
        return bool(
            aws("events").test_event_pattern(EventPattern=pattern, Event=json.dumps(event))[
                "Result"
            ]
        )
    from moto.events.models import EventPattern

    return bool(EventPattern.load(pattern).matches_event(event))


@pytest.fixture(scope="module")
def rule(aws: Any, outputs: dict[str, str]) -> dict[str, Any]:
    """The stack's pipeline state rule."""
    return dict(aws("events").describe_rule(Name=outputs["eventRuleName"]))


@pytest.fixture(scope="module")
def target(aws: Any, outputs: dict[str, str]) -> dict[str, Any]:
    """Its one target."""
    (found,) = aws("events").list_targets_by_rule(Rule=outputs["eventRuleName"])["Targets"]
    return dict(found)


def test_rule_is_enabled(rule: dict[str, Any]) -> None:
    assert rule["State"] == "ENABLED"


def test_pattern_matches_a_failure_of_this_pipeline(
    aws: Any, rule: dict[str, Any], outputs: dict[str, str]
) -> None:
    assert matches(aws, rule["EventPattern"], failure_event(outputs["pipelineArn"]))


def test_pattern_ignores_another_pipeline(
    aws: Any, rule: dict[str, Any], outputs: dict[str, str]
) -> None:
    other = outputs["pipelineArn"].rsplit(":", 1)[0] + ":someone-elses-pipeline"
    event = failure_event(other)
    assert not matches(aws, rule["EventPattern"], event)


def test_pattern_ignores_states_that_need_no_alert(
    aws: Any, rule: dict[str, Any], outputs: dict[str, str]
) -> None:
    event = failure_event(outputs["pipelineArn"])
    event["detail"]["state"] = "STARTED"
    assert not matches(aws, rule["EventPattern"], event)


def test_target_is_the_topic_with_retries_and_a_dead_letter_queue(
    aws: Any, target: dict[str, Any], outputs: dict[str, str]
) -> None:
    assert target["Arn"] == outputs["notificationTopicArn"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600}
    dlq = target["DeadLetterConfig"]["Arn"]
    url = aws("sqs").get_queue_url(QueueName=dlq.split(":")[-1])["QueueUrl"]
    attributes = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == dlq
    assert attributes["KmsMasterKeyId"] == outputs["kmsKeyArn"]
    (allow,) = [
        s for s in policy_document(attributes["Policy"])["Statement"] if s["Effect"] == "Allow"
    ]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    sources = as_list(allow["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert any(arn.endswith(f":rule/{outputs['eventRuleName']}") for arn in sources)
    # Only this stack's rules: the state rule and, with an S3 source, the source rule.
    assert all(":rule/" in arn and arn.split(":")[4] == dlq.split(":")[4] for arn in sources)


def test_source_upload_target_is_retried_and_dead_lettered(
    aws: Any, target: dict[str, Any], outputs: dict[str, str]
) -> None:
    """A lost pipeline start would go unnoticed: the source rule's target retries, then DLQs."""
    events = aws("events")
    rules = events.list_rule_names_by_target(TargetArn=outputs["pipelineArn"])["RuleNames"]
    assert rules, "with an S3 source a rule starts the pipeline"
    for rule in rules:
        (start,) = events.list_targets_by_rule(Rule=rule)["Targets"]
        assert start["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert start["DeadLetterConfig"]["Arn"] == target["DeadLetterConfig"]["Arn"]


def test_message_is_readable(target: dict[str, Any]) -> None:
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"]["state"] == "$.detail.state"
    assert transformer["InputPathsMap"]["pipeline"] == "$.detail.pipeline"
    assert "<pipeline>" in transformer["InputTemplate"]
    assert "<state>" in transformer["InputTemplate"]


@pytest.fixture(scope="module")
def topic(aws: Any, outputs: dict[str, str]) -> dict[str, str]:
    """The notification topic's attributes."""
    found = aws("sns").get_topic_attributes(TopicArn=outputs["notificationTopicArn"])
    return dict(found["Attributes"])


def test_topic_is_encrypted_with_the_stack_key(topic: dict[str, str], key_arn: str) -> None:
    assert topic["KmsMasterKeyId"] == key_arn


def test_only_this_rule_may_publish_and_only_over_tls(
    topic: dict[str, str], rule: dict[str, Any], outputs: dict[str, str]
) -> None:
    statements = policy_document(topic["Policy"])["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    denies = [s for s in statements if s["Effect"] == "Deny"]
    (allow,) = allows
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] in ("sns:Publish", ["sns:Publish"])
    assert allow["Resource"] == outputs["notificationTopicArn"]
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": rule["Arn"]}}
    (deny,) = denies
    assert everyone(deny["Principal"])
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
