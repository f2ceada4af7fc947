"""Pipeline state notifications: EventBridge rule -> encrypted SNS topic, with a DLQ (N1, N2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.pipeline._context import Context, document

DLQ_RETENTION_SECONDS = 14 * 24 * 3600
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE_SECONDS = 3600


@dataclass(frozen=True)
class Notifications:
    """The topic and the queues; the rule comes later, once the pipeline exists."""

    topic: aws.sns.Topic
    events_dlq: aws.sqs.Queue
    events_dlq_policy: aws.sqs.QueuePolicy
    deploy_dlq: aws.sqs.Queue

    def target_delivery(self) -> dict[str, Any]:
        """Retry policy and dead-letter queue of every EventBridge target (baseline N1)."""
        return {
            "retry_policy": {
                "maximum_retry_attempts": TARGET_RETRY_ATTEMPTS,
                "maximum_event_age_in_seconds": TARGET_MAX_EVENT_AGE_SECONDS,
            },
            "dead_letter_config": {"arn": self.events_dlq.arn},
        }


def create_topic_and_queues(ctx: Context, name: str, key_arn: pulumi.Output[str]) -> Notifications:
    """The encrypted topic (with an optional email subscription) and both dead-letter queues."""
    topic = aws.sns.Topic(
        f"{name}-notifications",
        name=ctx.naming.name("notifications"),
        kms_master_key_id=key_arn,
        tags=ctx.tags,
        opts=ctx.opts(),
    )
    if ctx.settings.notification_email:
        aws.sns.TopicSubscription(
            f"{name}-notifications-email",
            topic=topic.arn,
            protocol="email",
            endpoint=ctx.settings.notification_email,
            opts=ctx.opts(),
        )
    queues = [
        aws.sqs.Queue(
            f"{name}-{purpose}",
            name=ctx.naming.name(purpose),
            kms_master_key_id=key_arn,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        for purpose in ("events-dlq", "deploy-dlq")
    ]
    # The rules' ARNs are known from their names, so the queue's policy can come first.
    rules = ["pipeline-state", *(["source-change"] if ctx.settings.source.kind == "s3" else [])]
    rule_arns = pulumi.Output.all(*(ctx.arn("events", f"rule/{ctx.naming.name(r)}") for r in rules))
    queue_policy = aws.sqs.QueuePolicy(
        f"{name}-events-dlq-policy",
        queue_url=queues[0].url,
        policy=document(documents.queue_policy, queue_arn=queues[0].arn, rule_arns=rule_arns),
        opts=ctx.opts(),
    )
    return Notifications(topic, queues[0], queue_policy, queues[1])


def create_state_rule(
    ctx: Context, name: str, notifications: Notifications, pipeline: aws.codepipeline.Pipeline
) -> aws.cloudwatch.EventRule:
    """This pipeline's execution state changes, as readable messages on the topic."""
    rule = aws.cloudwatch.EventRule(
        f"{name}-pipeline-state",
        name=ctx.naming.name("pipeline-state"),
        description="Execution state changes of this pipeline",
        event_pattern=document(documents.pipeline_state_pattern, pipeline_arn=pipeline.arn),
        tags=ctx.tags,
        opts=ctx.opts(),
    )
    topic_policy = aws.sns.TopicPolicy(
        f"{name}-notifications-policy",
        arn=notifications.topic.arn,
        policy=document(
            documents.topic_policy, topic_arn=notifications.topic.arn, rule_arn=rule.arn
        ),
        opts=ctx.opts(),
    )
    aws.cloudwatch.EventTarget(
        f"{name}-pipeline-state-target",
        rule=rule.name,
        target_id="notifications",
        arn=notifications.topic.arn,
        input_transformer={
            "input_paths": documents.NOTIFICATION_INPUT_PATHS,
            "input_template": documents.NOTIFICATION_TEMPLATE,
        },
        **notifications.target_delivery(),
        opts=ctx.opts(depends_on=[topic_policy, notifications.events_dlq_policy]),
    )
    return rule
