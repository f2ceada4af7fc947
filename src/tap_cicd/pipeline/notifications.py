"""Pipeline state notifications: EventBridge rule -> encrypted SNS topic, with DLQs (N1, N2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from tap_cicd import documents
from tap_cicd.pipeline._context import Context, document

RESOURCE_TYPE = "tap:cicd:Notifications"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
TARGET_RETRY_ATTEMPTS = 8
TARGET_MAX_EVENT_AGE_SECONDS = 3600


@dataclass(frozen=True)
class NotificationsArgs:
    """Inputs of the notifications component."""

    context: Context
    key_arn: pulumi.Output[str]


class Notifications(pulumi.ComponentResource):
    """The encrypted topic (with an optional email subscription), both dead-letter queues and
    the rule that turns this pipeline's execution state changes into readable messages."""

    topic: aws.sns.Topic
    """The notification topic (the deploy step announces releases here too)."""
    events_dlq: aws.sqs.Queue
    """Where EventBridge dead-letters what it cannot deliver."""
    events_dlq_policy: aws.sqs.QueuePolicy
    """Lets this stack's rules dead-letter into ``events_dlq``."""
    deploy_dlq: aws.sqs.Queue
    """The deploy function's on-failure destination."""
    state_rule: aws.cloudwatch.EventRule
    """The pipeline state rule."""

    def __init__(
        self, name: str, args: NotificationsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        ctx = args.context.within(self)
        self.topic = aws.sns.Topic(
            f"{ctx.base}-notifications",
            name=ctx.naming.topic(),
            kms_master_key_id=args.key_arn,
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        if ctx.settings.notification_email:
            aws.sns.TopicSubscription(
                f"{ctx.base}-notifications-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=ctx.settings.notification_email,
                opts=ctx.opts(),
            )
        self.events_dlq, self.deploy_dlq = (
            aws.sqs.Queue(
                f"{ctx.base}-{purpose}-dlq",
                name=ctx.naming.queue(purpose),
                kms_master_key_id=args.key_arn,
                message_retention_seconds=DLQ_RETENTION_SECONDS,
                tags=ctx.tags,
                opts=ctx.opts(),
            )
            for purpose in ("events", "deploy")
        )
        # The rules' ARNs are known from their names, so the queue's policy can come first.
        rules = ["pipeline-state", *(["source-change"] if ctx.settings.source.kind == "s3" else [])]
        rule_arns = pulumi.Output.all(
            *(ctx.arn("events", f"rule/{ctx.naming.rule(r)}") for r in rules)
        )
        self.events_dlq_policy = aws.sqs.QueuePolicy(
            f"{ctx.base}-events-dlq-policy",
            queue_url=self.events_dlq.url,
            policy=document(
                documents.queue_policy, queue_arn=self.events_dlq.arn, rule_arns=rule_arns
            ),
            opts=ctx.opts(),
        )
        self.state_rule = self._state_rule(ctx)
        self.register_outputs({"topicArn": self.topic.arn, "ruleName": self.state_rule.name})

    def target_delivery(self) -> dict[str, Any]:
        """Retry policy and dead-letter queue of every EventBridge target (baseline N1)."""
        return {
            "retry_policy": {
                "maximum_retry_attempts": TARGET_RETRY_ATTEMPTS,
                "maximum_event_age_in_seconds": TARGET_MAX_EVENT_AGE_SECONDS,
            },
            "dead_letter_config": {"arn": self.events_dlq.arn},
        }

    def _state_rule(self, ctx: Context) -> aws.cloudwatch.EventRule:
        # The pipeline's ARN follows from its name: the rule needs no pipeline to exist.
        rule = aws.cloudwatch.EventRule(
            f"{ctx.base}-pipeline-state",
            name=ctx.naming.rule("pipeline-state"),
            description="Execution state changes of this pipeline",
            event_pattern=document(
                documents.pipeline_state_pattern,
                pipeline_arn=ctx.arn("codepipeline", ctx.naming.pipeline()),
            ),
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        topic_policy = aws.sns.TopicPolicy(
            f"{ctx.base}-notifications-policy",
            arn=self.topic.arn,
            policy=document(documents.topic_policy, topic_arn=self.topic.arn, rule_arn=rule.arn),
            opts=ctx.opts(),
        )
        aws.cloudwatch.EventTarget(
            f"{ctx.base}-pipeline-state-target",
            rule=rule.name,
            target_id="notifications",
            arn=self.topic.arn,
            input_transformer={
                "input_paths": documents.NOTIFICATION_INPUT_PATHS,
                "input_template": documents.NOTIFICATION_TEMPLATE,
            },
            **self.target_delivery(),
            opts=ctx.opts(depends_on=[topic_policy, self.events_dlq_policy]),
        )
        return rule
