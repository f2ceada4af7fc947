"""Resource documents: the key, bucket, topic and queue policies, and lifecycles."""

from __future__ import annotations

from typing import Any

from tap_cicd.documents._base import Document, Statement, deny_insecure_transport, policy


def key_policy(
    account_id: str, region: str, partition: str, log_group_names: list[str]
) -> Document:
    """Policy of the pipeline key (baseline K1).

    The account root keeps administration (so IAM policies can grant use, each role's
    scoped by ``kms:ViaService``); CloudWatch Logs and EventBridge act as themselves and
    are granted by service principal. CodeBuild, CodePipeline, S3, ECR and Lambda act as
    their roles, so they are granted there, not here (exempt from TAP-KMS-007 with that
    reason).
    """
    root = f"arn:{partition}:iam::{account_id}:root"
    log_groups = [
        f"arn:{partition}:logs:{region}:{account_id}:log-group:{name}" for name in log_group_names
    ]
    return policy(
        {
            "Sid": "AccountAdministration",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            # Only the stack's own log groups: CloudWatch Logs puts the group's ARN in the
            # encryption context of every call it makes with the key.
            # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
            "Sid": "CloudWatchLogsOfThisStack",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": [
                "kms:Encrypt*",
                "kms:Decrypt*",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*",
                "kms:Describe*",
            ],
            "Resource": "*",
            "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": log_groups}},
        },
        {
            # EventBridge encrypts what it delivers to the encrypted topic and to the SQS
            # dead-letter queue with this key. No aws:SourceAccount/aws:SourceArn here: AWS
            # does not support them in a key policy for EventBridge-to-encrypted-topic
            # delivery (every event would be dropped); the topic and queue policies carry
            # the rule's aws:SourceArn instead (TAP-AWS-001).
            # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
            "Sid": "EventBridgeDeliveries",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
        },
    )


def tls_only_bucket_policy(bucket_arn: str, *extra: Statement) -> Document:
    """Deny every request to the bucket and its objects made without TLS (baseline S2)."""
    return policy(deny_insecure_transport("s3:*", [bucket_arn, f"{bucket_arn}/*"]), *extra)


def access_log_delivery_statement(
    log_bucket_arn: str, account_id: str, source_bucket_arns: list[str]
) -> Statement:
    """Let S3's logging service write server access logs for the named buckets only."""
    return {
        "Sid": "S3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{log_bucket_arn}/*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": source_bucket_arns},
        },
    }


def bucket_lifecycle_rules(expire_days: int | None, noncurrent_days: int) -> list[dict[str, Any]]:
    """Lifecycle of a pipeline bucket (baseline S5), in pulumi-aws input shape.

    ``expire_days=None`` keeps current versions forever and expires only noncurrent ones:
    the source bucket's one object must never get a delete marker, or a quiet service's next
    run fails at Source (TAP-AWS-005). A rule with ``NoncurrentVersionExpiration`` and no
    ``Expiration`` never touches current versions.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-configuration-examples.html
    """
    objects: dict[str, Any] = {
        "id": "expire-old-objects" if expire_days is not None else "expire-noncurrent-versions",
        "status": "Enabled",
        "filter": {"prefix": ""},
        "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
    }
    if expire_days is not None:
        objects["expiration"] = {"days": expire_days}
    return [
        objects,
        {
            "id": "abort-incomplete-uploads",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
        },
    ]


RELEASE_TAG_PREFIX = "release-"
"""The deploy step tags every released digest ``release-<12 hex>``; the lifecycle keeps them."""


def ecr_lifecycle_policy(
    untagged_days: int = 7, keep_images: int = 50, keep_releases: int = 100
) -> Document:
    """Expire untagged and old images, never the recent releases (baseline E3, TAP-AWS-006).

    The release rule comes first: an image that matches the tagging requirements of a rule
    cannot be expired by a rule with a lower priority, so "keep the newest images" never
    counts a released digest (the current release and the one before it, the rollback).
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html
    """
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"Keep the newest {keep_releases} released images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPrefixList": [RELEASE_TAG_PREFIX],
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_releases,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Expire untagged images after {untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 3,
                "description": f"Keep only the newest {keep_images} other images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_images,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def topic_policy(topic_arn: str, rule_arn: str) -> Document:
    """Only this stack's EventBridge rule may publish, and only over TLS (baseline N2)."""
    return policy(
        {
            "Sid": "EventBridgeRuleOfThisStack",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        },
        deny_insecure_transport("sns:Publish", topic_arn),
    )


def _senders_only(queue_arn: str, sid: str, service: str, sources: str | list[str]) -> Document:
    """Only ``service`` acting for ``sources`` (its ``aws:SourceArn``) may send to the queue,
    and only over TLS."""
    return policy(
        {
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": sources}},
        },
        deny_insecure_transport("sqs:*", queue_arn),
    )


def queue_policy(queue_arn: str, rule_arns: list[str]) -> Document:
    """Only this stack's rules may dead-letter into the queue, and only over TLS."""
    return _senders_only(queue_arn, "EventBridgeDeadLetters", "events.amazonaws.com", rule_arns)


def subscriber_queue_policy(queue_arn: str, topic_arn: str) -> Document:
    """A queue subscribed to the stack's topic: only that topic may send to it (SNS sends the
    topic's ARN as ``aws:SourceArn``), and only over TLS.
    https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html"""
    return _senders_only(queue_arn, "TopicDeliveries", "sns.amazonaws.com", topic_arn)
