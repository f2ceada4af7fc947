"""EventBridge delivery in the emulator: the stack's own rules and patterns, SNS fan-out to SQS
subscribers, the CodePipeline target, dead-letter queues, disabled rules and S3 uploads."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from moto.codepipeline.exceptions import PipelineNotFoundException
from moto.events.models import Rule

from tap_cicd import documents
from tap_cicd.local import services
from tap_cicd.local.services import codepipeline, events

from .conftest import ALLOW_ALL, post, service_role

REGION = "us-east-1"
ACCOUNT = services.DEFAULT_ACCOUNT
PIPELINE = "tap-pipeline-dev"
PIPELINE_ARN = f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:{PIPELINE}"
STATE_CHANGE = "CodePipeline Pipeline Execution State Change"
ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
# The stack's retry policy (pipeline/notifications.py target_delivery).
RETRY = {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600}

# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
EC2_EVENT = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
EC2_PATHS = {
    "timestamp": "$.time",
    "instance": "$.detail.instance-id",
    "state": "$.detail.state",
    "resource": "$.resources[0]",
}
EXAMPLE_RULE = "arn:aws:events:us-east-2:123456789012:rule/example"


def transformed(template: str, paths: dict[str, str] | None = None) -> str:
    target = {"InputTransformer": {"InputPathsMap": paths or EC2_PATHS, "InputTemplate": template}}
    return events.target_input(target, EC2_EVENT, EXAMPLE_RULE)


@pytest.mark.parametrize(
    ("template", "output"),
    [
        ('"instance <instance> is in <state>"', '"instance i-0123456789 is in RUNNING"'),
        (
            '"instance \\"<instance>\\" is in <state>"',
            '"instance \\"i-0123456789\\" is in RUNNING"',
        ),
        (
            '{\n  "instance" : <instance>,\n  "state": <state>\n}',
            '{"instance":"i-0123456789","state":"RUNNING"}',
        ),
        (
            '{"instance" : <instance>, "state": "<state>", '
            '"instanceStatus": "instance \\"<instance>\\" is in <state>"}',
            '{"instance":"i-0123456789","state":"RUNNING",'
            '"instanceStatus":"instance \\"i-0123456789\\" is in RUNNING"}',
        ),
        (
            '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}',
            '{"instance":"i-0123456789","state":[9,"RUNNING",true],"Transformed":"Yes"}',
        ),
        ('"<aws.events.rule-name> triggered"', '"example triggered"'),
    ],
)
def test_templates_render_as_awss_documented_examples(template: str, output: str) -> None:
    assert transformed(template) == output


def test_reserved_variables_in_json() -> None:
    text = transformed(
        '{"instance": <instance>, "ruleArn": <aws.events.rule-arn>, '
        '"ruleName": <aws.events.rule-name>, "originalEvent": <aws.events.event.json>, '
        '"envelope": <aws.events.event>, "received": "<aws.events.event.ingestion-time>"}'
    )
    assert json.loads(text) == {
        "instance": "i-0123456789",
        "ruleArn": EXAMPLE_RULE,
        "ruleName": "example",
        "originalEvent": EC2_EVENT,
        "envelope": {key: value for key, value in EC2_EVENT.items() if key != "detail"},
        "received": "2015-11-11T21:29:54Z",
    }


def test_template_edge_cases() -> None:
    # A path that matches nothing gives an empty value; a wildcard, every match.
    paths = EC2_PATHS | {"missing": "$.detail.nothing", "all": "$.detail.*"}
    assert transformed('"[<missing>] <state>"', paths) == '"[] RUNNING"'
    assert transformed('{"r": <all>, "m": <missing>}', paths) == (
        '{"r":["i-0123456789","RUNNING"],"m":""}'
    )
    # Angle brackets that name no variable are text.
    assert transformed('"<b>state</b> <state>"') == '"<b>state</b> RUNNING"'
    # EventBridge does not validate the filled template: what is not JSON passes as it is.
    assert transformed('{"state": <state>') == '{"state": "RUNNING"'


def test_input_input_path_and_whole_event() -> None:
    assert events.target_input({"Input": '{"fixed": true}'}, EC2_EVENT, EXAMPLE_RULE) == (
        '{"fixed": true}'
    )
    assert events.target_input({"InputPath": "$.detail"}, EC2_EVENT, EXAMPLE_RULE) == (
        '{"instance-id":"i-0123456789","state":"RUNNING"}'
    )
    whole = events.target_input({}, EC2_EVENT, EXAMPLE_RULE)
    assert whole == json.dumps(EC2_EVENT, separators=(",", ":"))


def test_install_twice_does_not_wrap_twice(live: str) -> None:
    events.install()
    assert Rule.send_to_targets is events._send_to_targets
    assert events._ORIGINALS["rule"] is not events._send_to_targets


# --- through the emulator ---------------------------------------------------------------------


def client(service: str) -> Any:
    return services.client(service, REGION)


def queue(name: str) -> tuple[str, str]:
    """A queue's URL and ARN."""
    url = client("sqs").create_queue(QueueName=name)["QueueUrl"]
    arn = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    arn = arn["Attributes"]["QueueArn"]
    # EventBridge sends only where the queue policy lets it (any rule of the account here).
    policy = documents.queue_policy(arn, [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/*"])
    client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def subscribe(topic: str, url: str, arn: str, **attributes: str) -> None:
    """Subscribe the queue to the topic, its policy letting the topic send, as AWS requires."""
    policy = documents.subscriber_queue_policy(arn, topic)
    client("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)


def new_topic(name: str, rule_name: str, **attributes: str) -> str:
    """A topic whose policy lets the rule ``rule_name`` publish (the stack's topic policy)."""
    arn = str(client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"])
    policy = documents.topic_policy(arn, f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}")
    client("sns").set_topic_attributes(
        TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )
    return arn


def received(url: str) -> list[dict[str, Any]]:
    """Delivery is synchronous: what a target got is in its queue when the call returns."""
    answer = client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    return list(answer.get("Messages", []))


def bodies(url: str) -> list[str]:
    return [message["Body"] for message in received(url)]


def starter_role(policy: dict[str, Any] | None = ALLOW_ALL, name: str = "starter") -> str:
    """A role EventBridge may assume to start pipelines (allowed everything by default)."""
    try:
        return str(client("iam").get_role(RoleName=name)["Role"]["Arn"])
    except client("iam").exceptions.NoSuchEntityException:
        return service_role(services.endpoint(), name, "events.amazonaws.com", policy)


def rule(name: str, pattern: dict[str, Any], *targets: dict[str, Any]) -> str:
    """A rule with ``targets``; a pipeline target without a role gets ``starter_role()``'s (AWS
    requires one: https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_Target.html)."""
    arn = client("events").put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    given = [
        {"RoleArn": starter_role(), **target} if ":codepipeline:" in target["Arn"] else target
        for target in targets
    ]
    client("events").put_targets(Rule=name, Targets=given)
    return str(arn)


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}


def state_change(state: str, execution: str = "0d5f1a2b-1111-2222-3333-444455556666") -> None:
    """What CodePipeline emits when an execution changes state.
    https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html
    """
    events.emit(
        ACCOUNT,
        REGION,
        "aws.codepipeline",
        STATE_CHANGE,
        {
            "pipeline": PIPELINE,
            "execution-id": execution,
            "execution-trigger": {"trigger-type": "CloudWatchEvent", "trigger-detail": "rule"},
            "state": state,
            "version": 1.0,
        },
        [PIPELINE_ARN],
    )


@pytest.fixture
def starts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The pipeline starter, recording what it is called with."""
    calls: list[tuple[str, ...]] = []

    def start(account: str, region: str, name: str, kind: str, detail: str) -> str:
        calls.append((account, region, name, kind, detail))
        return "execution-1"

    monkeypatch.setattr(codepipeline, "start_execution", start)
    return calls


def failing_starter(monkeypatch: pytest.MonkeyPatch, fail: Callable[[int], None]) -> list[int]:
    calls: list[int] = []

    def start(*_args: str) -> str:
        calls.append(len(calls))
        fail(len(calls))
        return "execution-1"

    monkeypatch.setattr(codepipeline, "start_execution", start)
    return calls


def test_notification_reaches_raw_and_enveloped_sqs_subscribers(live: str) -> None:
    topic = new_topic("tap-notifications-dev", "tap-pipeline-state-dev")
    raw_url, raw_arn = queue("raw")
    enveloped_url, enveloped_arn = queue("enveloped")
    dlq_url, dlq_arn = queue("events-dlq")
    subscribe(topic, raw_url, raw_arn, RawMessageDelivery="true")
    subscribe(topic, enveloped_url, enveloped_arn)
    rule_arn = rule(
        "tap-pipeline-state-dev",
        documents.pipeline_state_pattern(PIPELINE_ARN),
        {
            "Id": "notifications",
            "Arn": topic,
            "InputTransformer": {
                "InputPathsMap": documents.NOTIFICATION_INPUT_PATHS,
                "InputTemplate": documents.NOTIFICATION_TEMPLATE,
            },
            "RetryPolicy": RETRY,
            "DeadLetterConfig": {"Arn": dlq_arn},
        },
    )

    state_change("STARTED")  # not a state the rule notifies
    state_change("SUCCEEDED", execution="exec-42")

    # An email subscriber gets the message text as it is, quotes included.
    message = re.escape('"Pipeline tap-pipeline-dev execution exec-42 is SUCCEEDED (') + (
        ISO_TIME
        + re.escape(
            "). Details: https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/"
            'pipelines/tap-pipeline-dev/executions/exec-42/timeline?region=us-east-1"'
        )
    )
    [raw] = received(raw_url)
    assert re.fullmatch(message, raw["Body"])
    # https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html
    [enveloped] = received(enveloped_url)
    envelope = json.loads(enveloped["Body"])
    assert envelope["Type"] == "Notification"
    assert envelope["TopicArn"] == topic
    assert envelope["Message"] == raw["Body"]
    assert "Subject" not in envelope
    assert received(dlq_url) == []
    assert post(live, "/_tap/events/deliveries") == {
        "deliveries": [
            {
                "rule": rule_arn,
                "target": topic,
                "detail-type": STATE_CHANGE,
                "outcome": "delivered",
                "reason": "",
            }
        ]
    }


def test_s3_upload_starts_the_pipeline(live: str, starts: list[tuple[str, ...]]) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="tap-source-dev")
    s3.put_bucket_versioning(Bucket="tap-source-dev", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket="tap-source-dev", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    seen_url, seen_arn = queue("seen")
    _, dlq_arn = queue("events-dlq")
    rule_arn = rule(
        "tap-source-change-dev",
        documents.source_upload_pattern("tap-source-dev", "source.zip"),
        {
            "Id": "pipeline",
            "Arn": PIPELINE_ARN,
            "RetryPolicy": RETRY,
            "DeadLetterConfig": {"Arn": dlq_arn},
        },
        {"Id": "seen", "Arn": seen_arn},
    )

    s3.put_object(Bucket="tap-source-dev", Key="README.md", Body=b"not the source")
    assert starts == []
    version = s3.put_object(Bucket="tap-source-dev", Key="source.zip", Body=b"zip")["VersionId"]

    # https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ExecutionTrigger.html
    assert starts == [(ACCOUNT, REGION, PIPELINE, "CloudWatchEvent", rule_arn)]
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
    [message] = received(seen_url)
    event = json.loads(message["Body"])
    assert re.fullmatch(ISO_TIME, event.pop("time"))
    assert re.fullmatch(r"[0-9a-f-]{36}", event.pop("id"))
    detail = event.pop("detail")
    assert event == {
        "version": "0",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "region": REGION,
        "resources": ["arn:aws:s3:::tap-source-dev"],
    }
    assert re.fullmatch(r"[0-9A-F]+", detail["object"].pop("sequencer"))
    assert re.fullmatch(r"[0-9A-Z]{16}", detail.pop("request-id"))
    assert detail == {
        "version": "0",
        "bucket": {"name": "tap-source-dev"},
        "object": {
            "key": "source.zip",
            "size": 3,
            "etag": hashlib.md5(b"zip").hexdigest(),  # noqa: S324 - S3's ETag
            "version-id": version,
        },
        "requester": ACCOUNT,
        "source-ip-address": "127.0.0.1",
        "reason": "PutObject",
    }


def test_unversioned_uploads_and_other_s3_events(live: str) -> None:
    s3 = client("s3")
    s3.create_bucket(Bucket="plain")
    s3.put_bucket_notification_configuration(
        Bucket="plain", NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    url, arn = queue("seen")
    rule("plain", {"source": ["aws.s3"]}, {"Id": "seen", "Arn": arn})

    s3.put_object(Bucket="plain", Key="a.txt", Body=b"a")
    s3.delete_object(Bucket="plain", Key="a.txt")

    seen = {event["detail-type"]: event for event in map(json.loads, bodies(url))}
    created = seen["Object Created"]["detail"]
    assert "version-id" not in created["object"]  # the bucket is not versioned
    assert created["reason"] == "PutObject"
    # Other S3 events keep moto's shape, through the same rules.
    deleted = seen["Object Deleted"]
    assert deleted["resources"] == ["arn:aws:s3:::plain"]
    assert deleted["detail"]["object"]["key"] == "a.txt"


def test_put_events_whole_event_and_input(live: str) -> None:
    whole_url, whole_arn = queue("whole")
    fixed_url, fixed_arn = queue("fixed")
    rule(
        "custom",
        {"source": ["tap.test"]},
        {"Id": "whole", "Arn": whole_arn},
        {"Id": "fixed", "Arn": fixed_arn, "Input": '{"fixed": 1}'},
    )

    client("events").put_events(
        Entries=[{"Source": "tap.test", "DetailType": "Thing", "Detail": '{"k": "v"}'}]
    )

    [whole] = received(whole_url)
    event = json.loads(whole["Body"])
    assert re.fullmatch(ISO_TIME, event.pop("time"))
    event.pop("id")
    # The whole event, account included (moto's default template leaves it out).
    assert event == {
        "version": "0",
        "detail-type": "Thing",
        "source": "tap.test",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [],
        "detail": {"k": "v"},
    }
    assert [message["Body"] for message in received(fixed_url)] == ['{"fixed": 1}']


def test_missing_targets_go_to_their_dead_letter_queue(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(_: int) -> None:
        raise PipelineNotFoundException(f"Account '{ACCOUNT}' does not have a pipeline")

    starts = failing_starter(monkeypatch, missing)
    dlq_url, dlq_arn = queue("events-dlq")
    dead_letter = {"DeadLetterConfig": {"Arn": dlq_arn}, "RetryPolicy": RETRY}
    gone = f"arn:aws:sqs:{REGION}:{ACCOUNT}:gone"
    targets = {
        f"arn:aws:sns:{REGION}:{ACCOUNT}:gone": "Topic does not exist",
        gone: "The specified queue does not exist.",
        PIPELINE_ARN: f"Account '{ACCOUNT}' does not have a pipeline",
    }
    rule_arn = rule(
        "tap-pipeline-state-dev",
        documents.pipeline_state_pattern(PIPELINE_ARN),
        *({"Id": str(index), "Arn": arn, **dead_letter} for index, arn in enumerate(targets)),
        {"Id": "no-dlq", "Arn": gone},
    )

    state_change("FAILED")

    assert starts == [0]  # a missing resource is not retried
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
    letters = received(dlq_url)
    assert {attributes(letter)["TARGET_ARN"]: attributes(letter) for letter in letters} == {
        arn: {
            "RULE_ARN": rule_arn,
            "TARGET_ARN": arn,
            "ERROR_CODE": "NO_RESOURCE",
            "ERROR_MESSAGE": message,
            "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
            "RETRY_ATTEMPTS": "0",
        }
        for arn, message in targets.items()
    }
    event = json.loads(letters[0]["Body"])  # the event itself
    assert (event["detail-type"], event["detail"]["state"]) == (STATE_CHANGE, "FAILED")
    outcomes = [(item["target"], item["outcome"]) for item in events.deliveries()]
    assert outcomes == [*((arn, "dead-lettered") for arn in targets), (gone, "dropped")]
    assert events.deliveries()[-1]["reason"] == ("NO_RESOURCE: The specified queue does not exist.")


def test_failing_starter_is_retried_then_dead_lettered(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_: int) -> None:
        raise RuntimeError("the pipeline would not start")

    calls = failing_starter(monkeypatch, broken)
    dlq_url, dlq_arn = queue("events-dlq")
    target = {"Id": "pipeline", "Arn": PIPELINE_ARN, "RetryPolicy": RETRY}
    rule("custom", {"source": ["tap.test"]}, target | {"DeadLetterConfig": {"Arn": dlq_arn}})

    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {}, [])

    assert len(calls) == 1 + RETRY["MaximumRetryAttempts"]
    [letter] = received(dlq_url)
    assert attributes(letter) | {"RULE_ARN": ""} == {
        "RULE_ARN": "",
        "TARGET_ARN": PIPELINE_ARN,
        "ERROR_CODE": "ERROR_FROM_TARGET",
        "ERROR_MESSAGE": "the pipeline would not start",
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "RETRY_ATTEMPTS": "8",
    }


def test_retries_stop_at_the_event_age_limit(live: str, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(events, "_clock", lambda: now[0])

    def slow(_: int) -> None:
        now[0] += 30
        raise RuntimeError("timed out")

    calls = failing_starter(monkeypatch, slow)
    dlq_url, dlq_arn = queue("events-dlq")
    policy = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 60}
    target = {"Id": "p", "Arn": PIPELINE_ARN, "RetryPolicy": policy}
    rule("custom", {"source": ["tap.test"]}, target | {"DeadLetterConfig": {"Arn": dlq_arn}})

    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {}, [])

    assert len(calls) == 2
    [letter] = received(dlq_url)
    assert attributes(letter)["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert attributes(letter)["RETRY_ATTEMPTS"] == "1"


def test_a_transient_failure_is_retried_and_delivered(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def flaky(call: int) -> None:
        if call < 3:
            raise RuntimeError("throttled")

    calls = failing_starter(monkeypatch, flaky)
    rule("custom", {"source": ["tap.test"]}, {"Id": "p", "Arn": PIPELINE_ARN})

    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {}, [])

    assert len(calls) == 3
    assert [item["outcome"] for item in events.deliveries()] == ["delivered"]


def test_disabled_rule_delivers_nothing(live: str, starts: list[tuple[str, ...]]) -> None:
    url, arn = queue("seen")
    rule(
        "custom",
        {"source": ["tap.test"]},
        {"Id": "q", "Arn": arn},
        {"Id": "p", "Arn": PIPELINE_ARN},
    )
    client("events").disable_rule(Name="custom")

    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {}, [])

    assert (received(url), starts, events.deliveries()) == ([], [], [])
    client("events").enable_rule(Name="custom")
    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {}, [])
    assert len(received(url)) == len(starts) == 1


def test_a_failed_dead_letter_drops_the_event(live: str) -> None:
    gone = f"arn:aws:sqs:{REGION}:{ACCOUNT}:gone"
    target = {"Id": "t", "Arn": gone, "DeadLetterConfig": {"Arn": f"{gone}-dlq"}}
    rule("custom", {"source": ["tap.test"]}, target)

    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {}, [])

    [record] = events.deliveries()
    assert record["outcome"] == "dropped"
    assert record["reason"] == (
        "NO_RESOURCE: The specified queue does not exist.; the dead-letter queue failed too: "
        "The specified queue does not exist."
    )


def test_a_failing_subscription_does_not_fail_the_sns_target(live: str) -> None:
    topic = new_topic("topic", "custom")
    url, arn = queue("subscriber")
    subscribe(topic, url, arn)
    client("sqs").delete_queue(QueueUrl=url)
    rule("custom", {"source": ["tap.test"]}, {"Id": "t", "Arn": topic})

    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {}, [])

    [record] = events.deliveries()
    assert record["outcome"] == "delivered"
    assert record["reason"] == (
        "SNS could not deliver to a subscription: The specified queue does not exist."
    )


def test_moto_still_delivers_its_own_targets(live: str) -> None:
    logs = client("logs")
    logs.create_log_group(logGroupName="/tap/events")
    dlq_url, dlq_arn = queue("events-dlq")
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/tap/events"
    missing = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/tap/missing"
    function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:handler"
    rule(
        "custom",
        {"source": ["tap.test"]},
        {"Id": "logs", "Arn": group},
        {"Id": "missing", "Arn": missing, "DeadLetterConfig": {"Arn": dlq_arn}},
        {"Id": "lambda", "Arn": function},
    )

    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {"k": "v"}, [])

    [stream] = logs.describe_log_streams(logGroupName="/tap/events")["logStreams"]
    [logged] = logs.get_log_events(
        logGroupName="/tap/events", logStreamName=stream["logStreamName"]
    )["events"]
    assert json.loads(logged["message"])["detail"] == {"k": "v"}
    [letter] = received(dlq_url)
    assert attributes(letter)["ERROR_CODE"] == "NO_RESOURCE"
    assert [(item["outcome"], item["reason"]) for item in events.deliveries()][::2] == [
        ("delivered", ""),
        ("dropped", "the emulator does not deliver to lambda targets"),
    ]


def test_a_pipeline_target_starts_only_as_a_role_that_may_start_it(
    live: str, starts: list[tuple[str, ...]]
) -> None:
    dlq_url, dlq_arn = queue("events-dlq")
    narrow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "codepipeline:GetPipeline", "Resource": "*"}],
    }
    role = starter_role(narrow, name="narrow")
    target = {"Id": "p", "Arn": PIPELINE_ARN, "RoleArn": role, "DeadLetterConfig": {"Arn": dlq_arn}}
    rule_arn = rule("custom", {"source": ["tap.test"]}, target)

    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {}, [])

    assert starts == []
    [letter] = received(dlq_url)
    # A refusal is not retried: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
    assert attributes(letter)["ERROR_CODE"] == "NO_PERMISSIONS"
    reason = attributes(letter)["ERROR_MESSAGE"]
    assert reason.startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/narrow/")
    assert f"codepipeline:StartPipelineExecution on resource: {PIPELINE_ARN}" in reason
    # A role EventBridge may not assume: the rule's ARN it sends does not meet the trust.
    scoped_trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn + "-other"}},
            }
        ],
    }
    client("iam").update_assume_role_policy(
        RoleName="narrow", PolicyDocument=json.dumps(scoped_trust)
    )
    events.emit(ACCOUNT, REGION, "tap.test", "Thing", {}, [])
    [letter] = received(dlq_url)
    assert (
        "events.amazonaws.com is not authorized to perform: sts:AssumeRole"
        in (attributes(letter)["ERROR_MESSAGE"])
    )
