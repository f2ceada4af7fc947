"""The pure document builders, without Pulumi."""

from __future__ import annotations

from typing import Any

import pytest

from tap_cicd import documents as d

KEY = "arn:aws:kms:eu-west-1:111122223333:key/k"
BUCKET = "arn:aws:s3:::art"
REPOSITORY = "arn:aws:ecr:eu-west-1:111122223333:repository/r"
PARAMETER = "arn:aws:ssm:eu-west-1:111122223333:parameter/p/dev/release"
TOPIC = "arn:aws:sns:eu-west-1:111122223333:t"


def statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    assert doc["Version"] == "2012-10-17"
    return list(doc["Statement"])


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def assert_least_privilege(doc: dict[str, Any]) -> None:
    """No wildcard action; ``Resource: "*"`` only for the allow-listed actions (baseline I2)."""
    for statement in statements(doc):
        assert statement["Effect"] == "Allow"
        actions = as_list(statement["Action"])
        for action in actions:
            service, _, verb = action.partition(":")
            assert service and verb and verb != "*", action
        if "*" in as_list(statement["Resource"]):
            assert set(actions) <= set(d.STAR_ONLY_ACTIONS), statement


def role_policies() -> dict[str, dict[str, Any]]:
    return {
        "pipeline-s3": d.pipeline_role_policy(
            artifact_bucket_arn=BUCKET,
            source_bucket_arn="arn:aws:s3:::src",
            connection_arn=None,
            project_arn="arn:aws:codebuild:eu-west-1:111122223333:project/p",
            function_arn="arn:aws:lambda:eu-west-1:111122223333:function:f",
            key_arn=KEY,
            region="eu-west-1",
        ),
        "pipeline-github": d.pipeline_role_policy(
            artifact_bucket_arn=BUCKET,
            source_bucket_arn=None,
            connection_arn="arn:aws:codestar-connections:eu-west-1:111122223333:connection/c",
            project_arn="arn:aws:codebuild:eu-west-1:111122223333:project/p",
            function_arn="arn:aws:lambda:eu-west-1:111122223333:function:f",
            key_arn=KEY,
            region="eu-west-1",
        ),
        "build": d.build_role_policy(
            artifact_bucket_arn=BUCKET,
            repository_arn="arn:aws:ecr:eu-west-1:111122223333:repository/r",
            log_group_arn="arn:aws:logs:eu-west-1:111122223333:log-group:/aws/codebuild/p",
            key_arn=KEY,
            region="eu-west-1",
        ),
        "deploy": d.deploy_role_policy(
            log_group_arn="arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/f",
            failure_queue_arn="arn:aws:sqs:eu-west-1:111122223333:q",
            repository_arn=REPOSITORY,
            parameter_arn=PARAMETER,
            topic_arn=TOPIC,
            key_arn=KEY,
            region="eu-west-1",
        ),
        "events": d.start_pipeline_policy("arn:aws:codepipeline:eu-west-1:111122223333:p"),
    }


@pytest.mark.parametrize("name", sorted(role_policies()))
def test_role_policies_are_least_privilege(name: str) -> None:
    assert_least_privilege(role_policies()[name])


def test_least_privilege_check_catches_violations() -> None:
    for bad in (
        {"Effect": "Allow", "Action": "s3:*", "Resource": BUCKET},
        {"Effect": "Allow", "Action": "*", "Resource": BUCKET},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
    ):
        with pytest.raises(AssertionError):
            assert_least_privilege({"Version": "2012-10-17", "Statement": [bad]})


def test_pipeline_policy_is_scoped_to_its_own_build_and_function() -> None:
    doc = role_policies()["pipeline-s3"]
    by_sid = {s["Sid"]: s for s in statements(doc)}
    assert by_sid["StartOwnBuild"]["Resource"] == [
        "arn:aws:codebuild:eu-west-1:111122223333:project/p"
    ]
    assert by_sid["InvokeOwnDeployFunction"]["Resource"] == [
        "arn:aws:lambda:eu-west-1:111122223333:function:f"
    ]
    assert by_sid["SourceObject"]["Resource"] == ["arn:aws:s3:::src/*"]
    assert "UseOwnConnection" not in by_sid
    all_actions = [a for s in statements(doc) for a in as_list(s["Action"])]
    assert "iam:PassRole" not in all_actions
    github = {s["Sid"]: s for s in statements(role_policies()["pipeline-github"])}
    assert "SourceObject" not in github
    assert github["UseOwnConnection"]["Resource"] == [
        "arn:aws:codestar-connections:eu-west-1:111122223333:connection/c"
    ]


def test_deploy_policy_grants_exactly_the_steps_on_own_resources() -> None:
    by_sid = {s["Sid"]: s for s in statements(role_policies()["deploy"])}
    assert by_sid["VerifyImageFindingsAndTagRelease"] == {
        "Sid": "VerifyImageFindingsAndTagRelease",
        "Effect": "Allow",
        "Action": [
            "ecr:BatchGetImage",
            "ecr:BatchGetRepositoryScanningConfiguration",
            "ecr:DescribeImageScanFindings",
            "ecr:DescribeImages",
            "ecr:PutImage",
        ],
        "Resource": [REPOSITORY],
    }
    # Enhanced scanning: ECR returns findings only to a caller allowed to list Inspector's.
    assert by_sid["EnhancedScanFindings"]["Action"] == ["inspector2:ListFindings"]
    assert by_sid["EnhancedScanFindings"]["Resource"] == ["*"]
    assert "inspector2:ListFindings" in d.STAR_ONLY_ACTIONS
    assert by_sid["RecordRelease"]["Action"] == ["ssm:GetParameter", "ssm:PutParameter"]
    assert by_sid["RecordRelease"]["Resource"] == [PARAMETER]
    assert by_sid["AnnounceRelease"]["Action"] == ["sns:Publish"]
    assert by_sid["AnnounceRelease"]["Resource"] == [TOPIC]
    via = by_sid["PipelineKey"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert "sns.eu-west-1.amazonaws.com" in via
    assert "ssm.eu-west-1.amazonaws.com" not in via
    actions = {a for s in by_sid.values() for a in as_list(s["Action"])}
    assert not any(a.startswith("s3:") for a in actions)


def test_kms_use_goes_through_named_services_only() -> None:
    build = {s["Sid"]: s for s in statements(role_policies()["build"])}
    condition = build["PipelineKey"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert "s3.eu-west-1.amazonaws.com" in condition
    assert "ecr.eu-west-1.amazonaws.com" in condition
    assert build["PipelineKey"]["Resource"] == [KEY]


def test_trust_policy_single_principal_with_source_conditions() -> None:
    doc = d.trust_policy("codebuild.amazonaws.com", "111122223333", "arn:aws:codebuild:x")
    [statement] = statements(doc)
    assert statement["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111122223333"},
        "ArnLike": {"aws:SourceArn": "arn:aws:codebuild:x"},
    }
    [account_only] = statements(d.trust_policy("events.amazonaws.com", "111122223333"))
    assert account_only["Condition"] == {"StringEquals": {"aws:SourceAccount": "111122223333"}}


@pytest.mark.parametrize(
    "service", ["lambda.amazonaws.com", "codepipeline.amazonaws.com", "ecs-tasks.amazonaws.com"]
)
def test_trust_policy_conditions_only_on_keys_the_service_sends(service: str) -> None:
    """A condition on a key the service does not send would make the role unassumable."""
    [bare] = statements(d.trust_policy(service, "111122223333", f"arn:aws:{service}:x"))
    assert "Condition" not in bare


def test_trust_policy_of_an_unknown_service_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        d.trust_policy("ec2.amazonaws.com", "111122223333")


LOG_GROUPS = ["/aws/codebuild/p-build-dev", "/aws/lambda/p-deploy-dev"]


def test_key_policy_has_no_unconditioned_star_principal() -> None:
    doc = d.key_policy("111122223333", "eu-west-1", "aws", LOG_GROUPS)
    by_sid = {s["Sid"]: s for s in statements(doc)}
    assert all(s["Principal"] != "*" for s in statements(doc))
    assert by_sid["AccountAdministration"]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert set(by_sid) == {
        "AccountAdministration",
        "CloudWatchLogsOfThisStack",
        "EventBridgeDeliveries",
    }


def test_key_serves_only_the_stacks_own_log_groups() -> None:
    logs = {
        s["Sid"]: s
        for s in statements(d.key_policy("111122223333", "eu-west-1", "aws", LOG_GROUPS))
    }["CloudWatchLogsOfThisStack"]
    assert logs["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    assert logs["Condition"] == {
        "ArnEquals": {
            "kms:EncryptionContext:aws:logs:arn": [
                "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/codebuild/p-build-dev",
                "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/p-deploy-dev",
            ]
        }
    }


def test_eventbridge_gets_the_key_without_source_conditions() -> None:
    """AWS does not support aws:SourceAccount/aws:SourceArn for EventBridge-to-encrypted-topic
    delivery: with them, every notification (and dead letter) would be dropped."""
    events = {
        s["Sid"]: s
        for s in statements(d.key_policy("111122223333", "eu-west-1", "aws", LOG_GROUPS))
    }["EventBridgeDeliveries"]
    assert events == {
        "Sid": "EventBridgeDeliveries",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": "*",
    }


def test_tls_only_bucket_policy_covers_bucket_and_objects() -> None:
    [deny] = statements(d.tls_only_bucket_policy(BUCKET))
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Resource"] == [BUCKET, f"{BUCKET}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_access_log_delivery_is_scoped_to_source_buckets() -> None:
    statement = d.access_log_delivery_statement("arn:aws:s3:::logs", "111122223333", [BUCKET])
    doc = d.tls_only_bucket_policy("arn:aws:s3:::logs", statement)
    assert [s["Effect"] for s in statements(doc)] == ["Deny", "Allow"]
    assert statement["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": [BUCKET]}


def test_topic_policy_only_rule_may_publish_and_only_with_tls() -> None:
    allow, deny = statements(d.topic_policy("arn:topic", "arn:rule"))
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": "arn:rule"}}
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_queue_policy_only_rule_may_send() -> None:
    allow, deny = statements(d.queue_policy("arn:queue", ["arn:rule-a", "arn:rule-b"]))
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": ["arn:rule-a", "arn:rule-b"]}}
    assert deny["Effect"] == "Deny"


def test_a_subscriber_queue_takes_only_the_topics_deliveries() -> None:
    allow, deny = statements(d.subscriber_queue_policy("arn:queue", "arn:topic"))
    assert allow["Principal"] == {"Service": "sns.amazonaws.com"}
    assert (allow["Action"], allow["Resource"]) == ("sqs:SendMessage", "arn:queue")
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": "arn:topic"}}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_lifecycle_rules_expire_and_abort() -> None:
    rules = {r["id"]: r for r in d.bucket_lifecycle_rules(90, 30)}
    assert rules["expire-old-objects"]["expiration"] == {"days": 90}
    assert rules["expire-old-objects"]["noncurrent_version_expiration"] == {"noncurrent_days": 30}
    assert rules["abort-incomplete-uploads"]["abort_incomplete_multipart_upload"] == {
        "days_after_initiation": 7
    }


def test_source_lifecycle_expires_noncurrent_versions_only() -> None:
    rules = {r["id"]: r for r in d.bucket_lifecycle_rules(None, 30)}
    assert set(rules) == {"expire-noncurrent-versions", "abort-incomplete-uploads"}
    assert "expiration" not in rules["expire-noncurrent-versions"]
    assert rules["expire-noncurrent-versions"]["noncurrent_version_expiration"] == {
        "noncurrent_days": 30
    }


def test_ecr_lifecycle_keeps_releases_ahead_of_every_other_rule() -> None:
    rules = d.ecr_lifecycle_policy()["rules"]
    assert [r["rulePriority"] for r in rules] == [1, 2, 3]
    releases, untagged, rest = rules
    assert releases["selection"] == {
        "tagStatus": "tagged",
        "tagPrefixList": ["release-"],
        "countType": "imageCountMoreThan",
        "countNumber": 100,
    }
    assert untagged["selection"]["tagStatus"] == "untagged"
    assert rest["selection"]["tagStatus"] == "any"
    assert rest["selection"]["countType"] == "imageCountMoreThan"
    assert all(r["action"] == {"type": "expire"} for r in rules)


def test_event_patterns() -> None:
    pattern = d.pipeline_state_pattern("arn:p")
    assert pattern["resources"] == ["arn:p"]
    assert pattern["detail"]["state"] == ["FAILED", "SUCCEEDED", "STOPPED"]
    upload = d.source_upload_pattern("src-bucket", "source.zip")
    assert upload["detail"] == {
        "bucket": {"name": ["src-bucket"]},
        "object": {"key": ["source.zip"]},
    }


def test_notification_template_uses_only_declared_paths() -> None:
    import re

    used = set(re.findall(r"<([a-z]+)>", d.NOTIFICATION_TEMPLATE))
    assert used == set(d.NOTIFICATION_INPUT_PATHS)


def test_json_text_round_trips() -> None:
    import json

    doc = d.start_pipeline_policy("arn:p")
    assert json.loads(d.json_text(doc)) == doc
