"""Pure builders for every JSON document of the stack.

Each function takes plain strings and returns a ``dict`` (serialise with ``json.dumps``).
The components pass Pulumi Outputs in through ``.apply`` only, so everything here is
tested without Pulumi.
"""

from __future__ import annotations

import json
from typing import Any

Document = dict[str, Any]
Statement = dict[str, Any]

STAR_ONLY_ACTIONS: dict[str, str] = {
    "ecr:GetAuthorizationToken": "ECR issues registry tokens per account; no resource-level scope",
    "codepipeline:PutJobSuccessResult": "job results have no resource ARN; the job id is the scope",
    "codepipeline:PutJobFailureResult": "job results have no resource ARN; the job id is the scope",
    "xray:PutTraceSegments": "X-Ray accepts trace data only on '*'",
    "xray:PutTelemetryRecords": "X-Ray accepts telemetry only on '*'",
    # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-enhanced-iam.html
    "inspector2:ListFindings": "Inspector findings have no resource-level scope; ECR reads "
    "enhanced-scanning findings with the caller's permission",
}
"""The only actions allowed on ``Resource: "*"`` (baseline I2), each with its reason."""

KMS_USE = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
    "kms:DescribeKey",
]


def _policy(*statements: Statement) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(sid: str, actions: list[str], resources: list[str], **condition: Any) -> Statement:
    statement: Statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def _kms_via(sid: str, key_arn: str, region: str, *services: str) -> Statement:
    """Use of the pipeline key, only through the named services of this region."""
    return _allow(
        sid,
        KMS_USE,
        [key_arn],
        StringEquals={"kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in services]},
    )


TRUST_SOURCE_KEYS: dict[str, tuple[str, ...]] = {
    # https://docs.aws.amazon.com/codebuild/latest/userguide/setting-up-service-role.html
    "codebuild.amazonaws.com": ("aws:SourceAccount", "aws:SourceArn"),
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html
    "events.amazonaws.com": ("aws:SourceAccount", "aws:SourceArn"),
    # AWS documents the pipeline's trust policy without conditions, and no source keys for it.
    # https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-create-service-role-cli.html
    "codepipeline.amazonaws.com": (),
    # https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html
    "lambda.amazonaws.com": (),
}
"""The source keys each service is documented to send when it assumes a role. A condition on a
key the service does not send never matches, and the role cannot be assumed (TAP-AWS-008)."""


def trust_policy(service: str, account_id: str, source_arn: str | None = None) -> Document:
    """A role trusting exactly one service principal, from this account (and source) only.

    Only the source keys the service documents sending are conditioned on (see
    ``TRUST_SOURCE_KEYS``; an unknown service is a programming error).
    """
    keys = TRUST_SOURCE_KEYS[service]
    statement: Statement = {
        "Effect": "Allow",
        # A plain string principal: the form AWS itself writes, and the one moto requires.
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    condition: dict[str, Any] = {}
    if "aws:SourceAccount" in keys:
        condition["StringEquals"] = {"aws:SourceAccount": account_id}
    if "aws:SourceArn" in keys and source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    if condition:
        statement["Condition"] = condition
    return _policy(statement)


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
    return _policy(
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


def deny_insecure_transport(action: str, resource: str | list[str]) -> Statement:
    """Deny ``action`` on ``resource`` to everyone when the request is not over TLS.

    The one shape every TLS rule checks (TAP-S3-002, TAP-SNS-003, TAP-SQS-002): Deny,
    principal ``*``, the whole service or action, every resource, only ``aws:SecureTransport``.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html
    """
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def tls_only_bucket_policy(bucket_arn: str, *extra: Statement) -> Document:
    """Deny every request to the bucket and its objects made without TLS (baseline S2)."""
    return _policy(deny_insecure_transport("s3:*", [bucket_arn, f"{bucket_arn}/*"]), *extra)


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


def pipeline_role_policy(
    *,
    artifact_bucket_arn: str,
    source_bucket_arn: str | None,
    connection_arn: str | None,
    project_arn: str,
    function_arn: str,
    key_arn: str,
    region: str,
) -> Document:
    """CodePipeline's role: its artifacts, its source, its own project and function (P2)."""
    statements = [
        _allow(
            "ArtifactObjects",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            [f"{artifact_bucket_arn}/*"],
        ),
        _allow(
            "ArtifactBucket",
            ["s3:GetBucketVersioning", "s3:GetBucketLocation"],
            [artifact_bucket_arn],
        ),
        _allow(
            "StartOwnBuild", ["codebuild:StartBuild", "codebuild:BatchGetBuilds"], [project_arn]
        ),
        _allow(
            "InvokeOwnDeployFunction",
            ["lambda:InvokeFunction", "lambda:GetFunction"],
            [function_arn],
        ),
        _kms_via("PipelineKeyThroughS3", key_arn, region, "s3"),
    ]
    if source_bucket_arn is not None:
        statements.append(
            _allow(
                "SourceObject",
                ["s3:GetObject", "s3:GetObjectVersion"],
                [f"{source_bucket_arn}/*"],
            )
        )
        statements.append(_allow("SourceBucket", ["s3:GetBucketVersioning"], [source_bucket_arn]))
    if connection_arn is not None:
        statements.append(
            _allow(
                "UseOwnConnection",
                ["codestar-connections:UseConnection", "codeconnections:UseConnection"],
                [connection_arn],
            )
        )
    return _policy(*statements)


def build_role_policy(
    *,
    artifact_bucket_arn: str,
    repository_arn: str,
    log_group_arn: str,
    key_arn: str,
    region: str,
) -> Document:
    """CodeBuild's role: read/write pipeline artifacts, push to its repository, write its logs."""
    return _policy(
        _allow(
            "OwnLogGroup",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [log_group_arn, f"{log_group_arn}:*"],
        ),
        _allow(
            "ArtifactObjects",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            [f"{artifact_bucket_arn}/*"],
        ),
        _allow(
            "ArtifactBucket", ["s3:GetBucketAcl", "s3:GetBucketLocation"], [artifact_bucket_arn]
        ),
        _allow("RegistryLogin", ["ecr:GetAuthorizationToken"], ["*"]),
        _allow(
            "PushToOwnRepository",
            [
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:CompleteLayerUpload",
                "ecr:DescribeImages",
                "ecr:GetDownloadUrlForLayer",
                "ecr:InitiateLayerUpload",
                "ecr:PutImage",
                "ecr:UploadLayerPart",
            ],
            [repository_arn],
        ),
        _kms_via("PipelineKey", key_arn, region, "s3", "ecr", "logs", "codebuild"),
    )


def deploy_role_policy(
    *,
    log_group_arn: str,
    failure_queue_arn: str,
    repository_arn: str,
    parameter_arn: str,
    topic_arn: str,
    key_arn: str,
    region: str,
) -> Document:
    """The deploy function's role: exactly what its steps call, on its own resources.

    The input artifact is read with the job's artifact credentials, so no S3 grant here.
    """
    return _policy(
        _allow(
            "OwnLogGroup",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [log_group_arn, f"{log_group_arn}:*"],
        ),
        _allow(
            "ReportJobResult",
            ["codepipeline:PutJobFailureResult", "codepipeline:PutJobSuccessResult"],
            ["*"],
        ),
        _allow("Tracing", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"]),
        _allow("OnFailureDestination", ["sqs:SendMessage"], [failure_queue_arn]),
        _allow(
            "VerifyImageFindingsAndTagRelease",
            [
                "ecr:BatchGetImage",
                "ecr:BatchGetRepositoryScanningConfiguration",
                "ecr:DescribeImageScanFindings",
                "ecr:DescribeImages",
                "ecr:PutImage",
            ],
            [repository_arn],
        ),
        # With enhanced (Inspector) scanning, DescribeImageScanFindings needs this too.
        # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-enhanced-iam.html
        _allow("EnhancedScanFindings", ["inspector2:ListFindings"], ["*"]),
        _allow("RecordRelease", ["ssm:GetParameter", "ssm:PutParameter"], [parameter_arn]),
        _allow("AnnounceRelease", ["sns:Publish"], [topic_arn]),
        # The topic is encrypted with the pipeline key: publishing uses it through SNS.
        _kms_via("PipelineKey", key_arn, region, "lambda", "sqs", "sns"),
    )


def start_pipeline_policy(pipeline_arn: str) -> Document:
    """EventBridge's role for the S3 source rule: start this pipeline and nothing else."""
    return _policy(
        _allow("StartOwnPipeline", ["codepipeline:StartPipelineExecution"], [pipeline_arn])
    )


def topic_policy(topic_arn: str, rule_arn: str) -> Document:
    """Only this stack's EventBridge rule may publish, and only over TLS (baseline N2)."""
    return _policy(
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


def queue_policy(queue_arn: str, rule_arns: list[str]) -> Document:
    """Only this stack's rules may dead-letter into the queue, and only over TLS."""
    return _policy(
        {
            "Sid": "EventBridgeDeadLetters",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
        },
        deny_insecure_transport("sqs:*", queue_arn),
    )


PIPELINE_STATES = ("FAILED", "SUCCEEDED", "STOPPED")
"""Pipeline execution states worth a notification."""


def pipeline_state_pattern(pipeline_arn: str) -> Document:
    """Execution state changes of this pipeline only (baseline N1)."""
    return {
        "source": ["aws.codepipeline"],
        "detail-type": ["CodePipeline Pipeline Execution State Change"],
        "resources": [pipeline_arn],
        "detail": {"state": list(PIPELINE_STATES)},
    }


def source_upload_pattern(bucket_name: str, object_key: str) -> Document:
    """An upload of the source object (S3 EventBridge notifications)."""
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket_name]}, "object": {"key": [object_key]}},
    }


NOTIFICATION_INPUT_PATHS = {
    "pipeline": "$.detail.pipeline",
    "execution": "$.detail.execution-id",
    "state": "$.detail.state",
    "time": "$.time",
    "region": "$.region",
}
NOTIFICATION_TEMPLATE = (
    '"Pipeline <pipeline> execution <execution> is <state> (<time>). '
    "Details: https://<region>.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
    '<pipeline>/executions/<execution>/timeline?region=<region>"'
)
"""A readable message (a JSON string, as SNS email delivers it verbatim)."""


def json_text(doc: Document) -> str:
    """The canonical JSON text of a document."""
    return json.dumps(doc)
