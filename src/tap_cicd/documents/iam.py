"""Identity documents: each role's trust policy and inline policy (baseline I1-I3, P2)."""

from __future__ import annotations

from typing import Any

from tap_cicd.documents._base import Document, Statement, allow, kms_via, policy

STAR_ONLY_ACTIONS: dict[str, str] = {
    "ecr:GetAuthorizationToken": "ECR issues registry tokens per account; no resource-level scope",
    "codepipeline:PutJobSuccessResult": "job results have no resource ARN; the job id is the scope",
    "codepipeline:PutJobFailureResult": "job results have no resource ARN; the job id is the scope",
    "xray:PutTraceSegments": "X-Ray accepts trace data only on '*'",
    "xray:PutTelemetryRecords": "X-Ray accepts telemetry only on '*'",
    # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-enhanced-iam.html
    "inspector2:ListFindings": "Inspector findings have no resource-level scope; ECR reads "
    "enhanced-scanning findings with the caller's permission",
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html
    "ecs:DescribeTaskDefinition": "ECS lists no resource type for it: task definitions are "
    "read only on '*'",
    "ecs:RegisterTaskDefinition": "ECS lists no resource type for it: a new revision can only "
    "be registered on '*' (iam:PassRole limits which roles it may name)",
}
"""The only actions allowed on ``Resource: "*"`` (baseline I2), each with its reason."""

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
    # The task execution role is documented with a bare trust policy; the Fargate agent that
    # assumes it is not documented to send source keys (the same trust serves the task role).
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html
    "ecs-tasks.amazonaws.com": (),
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
    return policy(statement)


def pipeline_role_policy(
    *,
    artifact_bucket_arn: str,
    source_bucket_arn: str | None,
    connection_arn: str | None,
    project_arn: str,
    function_arn: str,
    key_arn: str,
    region: str,
    approval_topic_arn: str | None = None,
) -> Document:
    """CodePipeline's role: its artifacts, its source, its own project and function (P2), and
    with a manual approval the topic it notifies approvers on."""
    statements = [
        allow(
            "ArtifactObjects",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            [f"{artifact_bucket_arn}/*"],
        ),
        allow(
            "ArtifactBucket",
            ["s3:GetBucketVersioning", "s3:GetBucketLocation"],
            [artifact_bucket_arn],
        ),
        allow("StartOwnBuild", ["codebuild:StartBuild", "codebuild:BatchGetBuilds"], [project_arn]),
        allow(
            "InvokeOwnDeployFunction",
            ["lambda:InvokeFunction", "lambda:GetFunction"],
            [function_arn],
        ),
        kms_via("PipelineKeyThroughS3", key_arn, region, "s3"),
    ]
    if source_bucket_arn is not None:
        statements.append(
            allow(
                "SourceObject",
                ["s3:GetObject", "s3:GetObjectVersion"],
                [f"{source_bucket_arn}/*"],
            )
        )
        statements.append(allow("SourceBucket", ["s3:GetBucketVersioning"], [source_bucket_arn]))
    if connection_arn is not None:
        statements.append(
            allow(
                "UseOwnConnection",
                ["codestar-connections:UseConnection", "codeconnections:UseConnection"],
                [connection_arn],
            )
        )
    if approval_topic_arn is not None:
        # The approval notification is published with the pipeline's service role; the topic
        # is encrypted with the pipeline key, which SNS uses on the publisher's behalf.
        # https://docs.aws.amazon.com/codepipeline/latest/userguide/approvals-service-role-permissions.html
        statements.append(allow("NotifyApprovers", ["sns:Publish"], [approval_topic_arn]))
        statements.append(kms_via("PipelineKeyThroughSns", key_arn, region, "sns"))
    return policy(*statements)


def build_role_policy(
    *,
    artifact_bucket_arn: str,
    repository_arn: str,
    log_group_arn: str,
    key_arn: str,
    region: str,
) -> Document:
    """CodeBuild's role: read/write pipeline artifacts, push to its repository, write its logs."""
    return policy(
        allow(
            "OwnLogGroup",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [log_group_arn, f"{log_group_arn}:*"],
        ),
        allow(
            "ArtifactObjects",
            ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"],
            [f"{artifact_bucket_arn}/*"],
        ),
        allow("ArtifactBucket", ["s3:GetBucketAcl", "s3:GetBucketLocation"], [artifact_bucket_arn]),
        allow("RegistryLogin", ["ecr:GetAuthorizationToken"], ["*"]),
        allow(
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
        kms_via("PipelineKey", key_arn, region, "s3", "ecr", "logs", "codebuild"),
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
    service_arn: str | None = None,
    task_role_arns: list[str] | None = None,
) -> Document:
    """The deploy function's role: exactly what its steps call, on its own resources.

    The input artifact is read with the job's artifact credentials, so no S3 grant here.
    With ``service_arn`` (``deployTarget`` ``ecs``) it also rolls releases out to the service:
    revisions of its task definition naming only ``task_role_arns``.
    """
    statements = [
        allow(
            "OwnLogGroup",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [log_group_arn, f"{log_group_arn}:*"],
        ),
        allow(
            "ReportJobResult",
            ["codepipeline:PutJobFailureResult", "codepipeline:PutJobSuccessResult"],
            ["*"],
        ),
        allow("Tracing", ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"]),
        allow("OnFailureDestination", ["sqs:SendMessage"], [failure_queue_arn]),
        allow(
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
        allow("EnhancedScanFindings", ["inspector2:ListFindings"], ["*"]),
        allow("RecordRelease", ["ssm:GetParameter", "ssm:PutParameter"], [parameter_arn]),
        allow("AnnounceRelease", ["sns:Publish"], [topic_arn]),
        # The topic is encrypted with the pipeline key: publishing uses it through SNS.
        kms_via("PipelineKey", key_arn, region, "lambda", "sqs", "sns"),
    ]
    if service_arn is not None:
        statements.extend(rollout_statements(service_arn, task_role_arns or []))
    return policy(*statements)


def rollout_statements(service_arn: str, task_role_arns: list[str]) -> list[Statement]:
    """Register a revision of the stack's task definition and update the stack's service;
    pass only the two task roles. No ecs:TagResource: the deploy step registers untagged
    revisions (it marks them with docker labels)."""
    return [
        # Neither takes a resource-level scope (see STAR_ONLY_ACTIONS); PassRole below limits
        # what a registered revision can do.
        # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonelasticcontainerservice.html
        allow(
            "RegisterTaskDefinitionRevisions",
            ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"],
            ["*"],
        ),
        allow(
            "RollOutOwnService",
            ["ecs:DescribeServices", "ecs:UpdateService"],
            [service_arn],
        ),
        # Only the two task roles, and only to ECS tasks.
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_PassedToService
        allow(
            "PassTaskRolesToEcsTasks",
            ["iam:PassRole"],
            list(task_role_arns),
            StringEquals={"iam:PassedToService": "ecs-tasks.amazonaws.com"},
        ),
    ]


def task_execution_role_policy(
    *, repository_arn: str, log_group_arn: str, key_arn: str, region: str
) -> Document:
    """The ECS agent's role for the service's tasks: pull from this repository, write this
    log group, nothing else.
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html
    """
    return policy(
        allow("RegistryLogin", ["ecr:GetAuthorizationToken"], ["*"]),
        allow(
            "PullFromOwnRepository",
            ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
            [repository_arn],
        ),
        allow(
            "OwnLogGroup",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [log_group_arn, f"{log_group_arn}:*"],
        ),
        # The repository is encrypted with the pipeline key; pulls decrypt it through ECR.
        # https://docs.aws.amazon.com/AmazonECR/latest/userguide/encryption-at-rest.html
        kms_via("PipelineKeyThroughEcr", key_arn, region, "ecr"),
    )


def start_pipeline_policy(pipeline_arn: str) -> Document:
    """EventBridge's role for the S3 source rule: start this pipeline and nothing else."""
    return policy(
        allow("StartOwnPipeline", ["codepipeline:StartPipelineExecution"], [pipeline_arn])
    )
