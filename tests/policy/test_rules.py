"""Every rule: the default stack complies, and a weakened stack fails with the rule's message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tap_cicd.policy import tokens as t
from tap_cicd.policy.catalog import RULES
from tap_cicd.policy.model import Resource

from .stacks import Stack, failures
from .test_aws_rules import NON_COMPLIANT as AWS_NON_COMPLIANT
from .test_ecs_rules import NON_COMPLIANT as ECS_NON_COMPLIANT
from .test_elb_rules import NON_COMPLIANT as ELB_NON_COMPLIANT
from .test_network_rules import NON_COMPLIANT as NETWORK_NON_COMPLIANT

Weaken = Callable[[Stack], Any]

STAR = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
BUILDSPEC = "source.buildspec"


def _statements(change: Callable[[list[dict[str, Any]]], Any]) -> Callable[[dict[str, Any]], Any]:
    return lambda doc: change(doc["Statement"])


def _append(statement: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    return _statements(lambda s: s.append(statement))


def _clear_condition(index: int) -> Callable[[dict[str, Any]], Any]:
    return _statements(lambda s: s[index].pop("Condition"))


def _only(index: int) -> Callable[[dict[str, Any]], Any]:
    return _statements(lambda s: s.__setitem__(slice(None), [s[index]]))


ROLE = "arn:aws:iam::123456789012:role/pipeline-build-dev"
ARTIFACTS = "arn:aws:s3:::pipeline-artifacts-123456789012-dev"
TLS_SID = "DenyInsecureTransport"
TLS = f"statement {TLS_SID}"
OTHER_TOPIC = "arn:aws:sns:us-east-1:123456789012:other"
OTHER_QUEUE = "arn:aws:sqs:us-east-1:123456789012:other"


def _tls_change(change: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """Change the TLS-only Deny statement of a policy."""
    return _statements(lambda st: change(next(s for s in st if s.get("Sid") == TLS_SID)))


def _tls(**fields: Any) -> Callable[[dict[str, Any]], Any]:
    """Set fields of the TLS-only Deny statement (``None`` removes one)."""

    def change(deny: dict[str, Any]) -> None:
        for key, value in fields.items():
            if value is None:
                deny.pop(key, None)
            else:
                deny[key] = value

    return _tls_change(change)


def _tls_resources(keep: Callable[[str], bool]) -> Callable[[dict[str, Any]], Any]:
    """Keep only some Resource ARNs of the TLS-only Deny statement."""
    return _tls_change(lambda deny: deny.update(Resource=[r for r in deny["Resource"] if keep(r)]))


def _secure_transport(value: Any, op: str = "Bool", **more: Any) -> dict[str, Any]:
    return {op: {"aws:SecureTransport": value}, **more}


def _tls_narrowed(
    rule: str, policy: str, action: str, narrow: str, other: str | None = None
) -> list[tuple[str, Weaken, str]]:
    """Each narrowed variant of one policy's TLS-only Deny, failing ``rule`` with what it lacks."""
    cases: list[tuple[Callable[[dict[str, Any]], Any], str]] = [
        (_tls(Action=narrow), f"{TLS} denies only {narrow}, not {action}"),
        (_tls(Principal={"AWS": ROLE}), f"{TLS} denies only {ROLE}, not principal '*'"),
        (_tls(Principal=None, NotPrincipal={"AWS": ROLE}), f"{TLS} is narrowed by NotPrincipal"),
        (_tls(Effect="Allow"), f"{TLS} has Effect Allow, not Deny"),
        (_tls(Condition=_secure_transport("true")), f"{TLS} applies when aws:SecureTransport is true, not false"),
        (_tls(Condition=_secure_transport("false", StringEquals={"aws:PrincipalAccount": "123456789012"})), f"{TLS} is narrowed by condition StringEquals aws:PrincipalAccount"),
        (_tls(Condition=None), f"{TLS} has no Bool aws:SecureTransport condition"),
    ]  # fmt: skip
    if other is not None:
        own = f"arn:aws:{action.partition(':')[0]}:"
        cases.append((_tls(Resource=other), f"{TLS} covers {other}, not {own}"))
    return [(rule, lambda s, w=weaken: s.edit(policy, w), message) for weaken, message in cases]


def _name_key_services(policy: dict[str, Any]) -> None:
    """Name the services that use the key through their roles; a Deny names none."""
    services = [f"{svc}.amazonaws.com" for svc in ("codebuild", "codepipeline", "s3", "ecr")]
    policy["Statement"] += [
        {"Effect": "Deny", "Principal": "*", "Action": "kms:*", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "sqs.us-east-1.amazonaws.com"}}},
        {"Effect": "Allow", "Principal": {"Service": services}, "Action": "kms:Decrypt",
         "Resource": "*", "Condition": {"StringEquals": {
             "aws:SourceAccount": "123456789012",
             "kms:ViaService": "lambda.us-east-1.amazonaws.com"}}},
    ]  # fmt: skip


def _buildspec_line(line: str) -> Weaken:
    return lambda s: s.set("build", BUILDSPEC, s.props("build")["source"]["buildspec"] + line)


NON_COMPLIANT: list[tuple[str, Weaken, str]] = [
    ("TAP-KMS-001", lambda s: s.set("key", "enableKeyRotation", False), "key rotation is off"),
    ("TAP-KMS-002", lambda s: s.delete("key", "deletionWindowInDays"), "deletionWindowInDays is not set"),
    ("TAP-KMS-002", lambda s: s.set("key", "deletionWindowInDays", 45), "deletionWindowInDays 45 is outside"),
    ("TAP-KMS-003", lambda s: s.delete("key", "policy"), "no explicit key policy"),
    ("TAP-KMS-003", lambda s: s.edit("key", _append(STAR)), "allows principal '*' without a condition"),
    ("TAP-KMS-004", lambda s: s.edit("key", _append({**STAR, "Sid": "Open"})), "statement Open allows kms:* to *"),
    ("TAP-KMS-005", lambda s: s.edit("key", _clear_condition(1)), "CloudWatchLogsOfThisStack grants a service without"),
    ("TAP-KMS-006", lambda s: s.set("notifications", "kmsMasterKeyId", "alias/aws/sns"), "encrypts with alias/aws/sns, not the pipeline key"),
    ("TAP-KMS-007", lambda s: s.edit("key", _statements(lambda st: st.pop(1))), "the key policy does not name logs, codebuild"),
    ("TAP-KMS-006", lambda s: s.add(t.KEY, "second-key"), "a second customer-managed key"),
    ("TAP-S3-001", lambda s: s.drop("artifacts-public-access"), "no public access block"),
    ("TAP-S3-001", lambda s: s.set("artifacts-public-access", "blockPublicAcls", False), "leaves blockPublicAcls off"),
    ("TAP-S3-002", lambda s: s.edit("artifacts-policy", _statements(lambda st: st.clear())), "does not deny requests without TLS"),
    *_tls_narrowed("TAP-S3-002", "artifacts-policy", "s3:*", "s3:GetObject"),
    ("TAP-S3-002", lambda s: s.edit("artifacts-policy", _tls_resources(lambda r: not r.endswith("/*"))), f"{TLS} covers {ARTIFACTS}, not {ARTIFACTS}/*"),
    ("TAP-S3-002", lambda s: s.edit("artifacts-policy", _tls_resources(lambda r: r.endswith("/*"))), f"{TLS} covers {ARTIFACTS}/*, not {ARTIFACTS}"),
    ("TAP-S3-002", lambda s: s.edit("artifacts-policy", _tls(Action=None, NotAction="s3:PutObject")), f"{TLS} is narrowed by NotAction"),
    ("TAP-S3-003", lambda s: s.set("artifacts-ownership", "rule.objectOwnership", "ObjectWriter"), "not BucketOwnerEnforced"),
    ("TAP-S3-004", lambda s: s.drop("artifacts-encryption"), "no default encryption"),
    ("TAP-S3-005", lambda s: s.set("artifacts-encryption", "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "AES256"), "not encrypted with SSE-KMS"),
    ("TAP-S3-005", lambda s: s.set("artifacts-encryption", "rules.0.bucketKeyEnabled", False), "and a bucket key"),
    ("TAP-S3-006", lambda s: s.set("artifacts-versioning", "versioningConfiguration.status", "Suspended"), "versioning is not enabled"),
    ("TAP-S3-007", lambda s: s.set("artifacts-lifecycle", "rules", s.props("artifacts-lifecycle")["rules"][:1]), "lifecycle lacks abortIncompleteMultipartUpload"),
    ("TAP-S3-008", lambda s: s.drop("artifacts-logging"), "no server access logging to a separate bucket"),
    ("TAP-S3-009", lambda s: s.set("artifacts", "forceDestroy", False), "forceDestroy is off"),
    ("TAP-ECR-001", lambda s: s.set("images", "imageTagMutability", "MUTABLE"), "imageTagMutability is MUTABLE"),
    ("TAP-ECR-001", lambda s: s.delete("images", "imageTagMutability"), "imageTagMutability is MUTABLE"),
    ("TAP-ECR-002", lambda s: s.set("images", "imageScanningConfiguration.scanOnPush", False), "scanOnPush is off"),
    ("TAP-ECR-003", lambda s: s.drop("images-lifecycle"), "no lifecycle rule expires untagged images"),
    ("TAP-ECR-003", lambda s: s.drop("images-lifecycle"), "no lifecycle rule expires old tagged images"),
    ("TAP-ECR-004", lambda s: s.set("images", "encryptionConfigurations", [{"encryptionType": "AES256"}]), "not encrypted with the pipeline KMS key"),
    ("TAP-ECR-005", lambda s: s.add(t.REPOSITORY_POLICY, "images-policy", policy='{"Statement": [{"Sid": "Pull", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "ecr:BatchGetImage"}]}'), "statement Pull allows principal '*'"),
    ("TAP-ECR-006", lambda s: s.set("images", "forceDelete", False), "forceDelete is off"),
    ("TAP-CB-001", lambda s: s.set("build", "source.type", "GITHUB"), "source type is GITHUB, not CODEPIPELINE"),
    ("TAP-CB-001", lambda s: s.set("build", "secondarySources", [{"type": "S3"}]), "secondary sources"),
    ("TAP-CB-002", lambda s: s.props("build")["environment"]["environmentVariables"].append({"name": "GITHUB_TOKEN", "value": "x"}), "variable GITHUB_TOKEN looks like a secret but is PLAINTEXT"),
    ("TAP-CB-003", lambda s: s.set("build", "logsConfig.cloudwatchLogs.status", "DISABLED"), "CloudWatch logs are not enabled"),
    ("TAP-CB-004", lambda s: s.delete("build", "encryptionKey"), "encryptionKey is not set"),
    ("TAP-CB-006", lambda s: s.set("build", "environment.image", "node:latest"), "image node:latest is not a versioned aws/codebuild image"),
    ("TAP-CB-006", lambda s: s.set("build", "environment.imagePullCredentialsType", "SERVICE_ROLE"), "service-role credentials"),
    ("TAP-CB-007", lambda s: s.set("build", BUILDSPEC, "buildspec.yml"), "buildspec is not inline"),
    ("TAP-CB-008", _buildspec_line("\n      - npm test || true\n"), "swallows a failure"),
    ("TAP-CB-008", _buildspec_line("\n      - make test || echo failed\n"), "swallows a failure"),
    ("TAP-CB-008", _buildspec_line("\n    on-failure: CONTINUE\n"), "continues after a failed phase"),
    ("TAP-CB-008", _buildspec_line("\n      - printenv\n"), "prints the environment"),
    ("TAP-CB-008", _buildspec_line("\n      - env\n"), "prints the environment"),
    ("TAP-CB-008", _buildspec_line("\n      - set -eux\n"), "traces commands"),
    ("TAP-CB-009", lambda s: s.add(t.SOURCE_CREDENTIAL, "github", authType="PERSONAL_ACCESS_TOKEN", serverType="GITHUB"), "stores PERSONAL_ACCESS_TOKEN credentials for GITHUB"),
    ("TAP-CB-009", lambda s: s.set("build", "source.auth", {"type": "OAUTH"}), "the project's source carries auth"),
    ("TAP-CP-001", lambda s: s.set("pipeline", "artifactStores.0.encryptionKey", None), "is not encrypted with the key"),
    ("TAP-CP-001", lambda s: s.set("pipeline", "artifactStores", []), "artifact store (none)"),
    ("TAP-CP-002", lambda s: s.edit("pipeline-role-policy", _statements(lambda st: st[2].update(Resource="*"))), "role may codebuild:StartBuild on *"),
    ("TAP-CP-002", lambda s: s.edit("pipeline-role-policy", _statements(lambda st: st[3].update(Resource="arn:aws:lambda:us-east-1:123456789012:function:other"))), "role may lambda:InvokeFunction on arn:aws:lambda"),
    ("TAP-CP-003", lambda s: s.edit("deploy-role-policy", _append({"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})), "iam:PassRole is allowed on '*'"),
    ("TAP-CP-004", lambda s: s.set("pipeline", "executionMode", "PARALLEL"), "pipeline is V2 / PARALLEL, not V2 / QUEUED"),
    ("TAP-LAMBDA-001", lambda s: s.set("deploy", "runtime", "python3.8"), "runtime python3.8 is not current"),
    ("TAP-LAMBDA-001", lambda s: s.set("deploy", "runtime", "nodejs16.x"), "runtime nodejs16.x is not current"),
    ("TAP-LAMBDA-002", lambda s: s.add(t.PERMISSION, "deploy-public", principal="*", action="lambda:InvokeFunction"), "principal is '*'; no sourceArn; no sourceAccount"),
    ("TAP-LAMBDA-003", lambda s: s.delete("deploy", "timeout"), "timeout is not set"),
    ("TAP-LAMBDA-004", lambda s: s.set("deploy", "tracingConfig.mode", "PassThrough"), "X-Ray tracing is not Active"),
    ("TAP-LAMBDA-005", lambda s: s.set("deploy", "reservedConcurrentExecutions", 0), "reserved concurrency 0 is outside 1-900"),
    ("TAP-LAMBDA-005", lambda s: s.set("deploy", "reservedConcurrentExecutions", 950), "AWS keeps 100 executions unreserved"),
    ("TAP-LAMBDA-006", lambda s: s.set("deploy-async", "maximumRetryAttempts", 2), "no async invoke config with 0 retries"),
    ("TAP-LAMBDA-006", lambda s: s.drop("deploy-async"), "no async invoke config"),
    ("TAP-LAMBDA-007", lambda s: s.delete("deploy", "kmsKeyArn"), "environment is not encrypted with the key"),
    ("TAP-LAMBDA-008", lambda s: s.set("deploy", "environment.variables.DB_PASSWORD", "x"), "variable DB_PASSWORD looks like a secret"),
    ("TAP-IAM-001", lambda s: s.edit("build-role", _append(STAR), key="assumeRolePolicy"), "trust policy is not one statement"),
    ("TAP-IAM-001", lambda s: s.edit("build-role", _statements(lambda st: st[0].update(Principal={"AWS": "*"})), key="assumeRolePolicy"), "trust policy is not one statement"),
    ("TAP-IAM-002", lambda s: s.edit("build-role", _clear_condition(0), key="assumeRolePolicy"), "trust of codebuild.amazonaws.com has no aws:SourceAccount/aws:SourceArn"),
    ("TAP-IAM-003", lambda s: s.edit("deploy-role-policy", _append({"Sid": "All", "Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::x"})), "statement All allows *"),
    ("TAP-IAM-003", lambda s: s.edit("build-role-policy", _append({"Sid": "S3", "Effect": "Allow", "Action": ["s3:*"], "Resource": "arn:aws:s3:::x"})), "statement S3 allows s3:*"),
    ("TAP-IAM-003", lambda s: s.edit("build-role-policy", _append({"Sid": "Not", "Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::x"})), "statement Not allows NotAction"),
    ("TAP-IAM-004", lambda s: s.edit("deploy-role-policy", _append({"Sid": "Q", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"})), "statement Q allows sqs:SendMessage on '*'"),
    ("TAP-IAM-005", lambda s: s.add(t.ROLE_POLICY_ATTACHMENT, "admin", policyArn="arn:aws:iam::aws:policy/AdministratorAccess"), "attaches AWS-managed policy arn:aws:iam::aws:policy/AdministratorAccess"),
    ("TAP-IAM-005", lambda s: s.set("build-role", "managedPolicyArns", ["arn:aws:iam::aws:policy/PowerUserAccess"]), "attaches AWS-managed policy"),
    ("TAP-IAM-006", lambda s: s.edit("source-events-role", _statements(lambda st: st[0].update(Principal={"Service": "codebuild.amazonaws.com"})), key="assumeRolePolicy"), "codebuild.amazonaws.com is trusted by 2 roles"),
    ("TAP-IAM-007", lambda s: s.drop("deploy-role-policy"), "has 0 inline policies, not 1"),
    ("TAP-EVT-001", lambda s: s.edit("pipeline-state", lambda d: d.pop("resources"), key="eventPattern"), "not scoped to this pipeline's ARN"),
    ("TAP-EVT-001", lambda s: s.set("source-change", "eventPattern", '{"source": ["aws.s3"]}'), "not scoped to a source and this stack's resources"),
    ("TAP-EVT-002", lambda s: s.delete("pipeline-state-target", "retryPolicy"), "topic target has no retryPolicy"),
    ("TAP-EVT-003", lambda s: s.delete("pipeline-state-target", "inputTransformer"), "topic target has no input transformer"),
    ("TAP-EVT-004", lambda s: s.delete("pipeline-state-target", "deadLetterConfig"), "target has no dead-letter queue"),
    ("TAP-SNS-001", lambda s: s.delete("notifications", "kmsMasterKeyId"), "topic is not encrypted"),
    ("TAP-SNS-002", lambda s: s.edit("notifications-policy", _statements(lambda st: st[0].update(Principal="*"))), "lets ['*'] publish"),
    ("TAP-SNS-002", lambda s: s.edit("notifications-policy", _clear_condition(0)), "not only the rule"),
    ("TAP-SNS-002", lambda s: s.drop("notifications-policy"), "no topic policy"),
    ("TAP-SNS-003", lambda s: s.edit("notifications-policy", _only(0)), "does not deny publishing without TLS"),
    *_tls_narrowed("TAP-SNS-003", "notifications-policy", "sns:Publish", "sns:Subscribe", OTHER_TOPIC),
    ("TAP-SQS-001", lambda s: s.delete("events-dlq", "kmsMasterKeyId"), "queue is not encrypted"),
    ("TAP-SQS-002", lambda s: s.edit("events-dlq-policy", _append({**STAR, "Sid": "Open"})), "statement Open allows principal '*'"),
    ("TAP-SQS-002", lambda s: s.edit("events-dlq-policy", _only(0)), "does not deny requests without TLS"),
    *_tls_narrowed("TAP-SQS-002", "events-dlq-policy", "sqs:*", "sqs:SendMessage", OTHER_QUEUE),
    ("TAP-LOG-001", lambda s: s.delete("build-logs", "retentionInDays"), "retentionInDays is not set"),
    ("TAP-LOG-002", lambda s: s.set("build-logs", "retentionInDays", 30), "retention 30 days is under a year"),
    ("TAP-LOG-003", lambda s: s.delete("deploy-logs", "kmsKeyId"), "log group is not encrypted"),
    ("TAP-LOG-004", lambda s: s.set("build", "logsConfig.cloudwatchLogs.groupName", "/other"), "logs to /other, which the stack does not create"),
    ("TAP-LOG-004", lambda s: s.drop("deploy-logs").delete("deploy", "loggingConfig"), "logs to /aws/lambda/pipeline-deploy-dev"),
]  # fmt: skip


# Changes that keep (or make) a stack compliant, for rules the default stack does not exercise.
COMPLIANT: list[tuple[str, Weaken]] = [
    ("TAP-ELB-004", lambda s: s.set("alb", "enableDeletionProtection", True)),
    ("TAP-KMS-004", lambda s: s.edit("key", _statements(lambda st: st[0].update(Action=["kms:Describe*"])))),
    ("TAP-KMS-006", lambda s: s.set("notifications", "kmsMasterKeyId", "alias/pipeline-key-dev")),
    ("TAP-KMS-007", lambda s: s.edit("key", _name_key_services)),
    ("TAP-CB-005", lambda s: s.set("build", "environment.privilegedMode", False)),
    ("TAP-CB-002", lambda s: s.props("build")["environment"]["environmentVariables"].append({"name": "GITHUB_TOKEN", "type": "SECRETS_MANAGER", "value": "gh"})),
    ("TAP-ECR-005", lambda s: s.add(t.REPOSITORY_POLICY, "images-policy", policy='{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "ecr:BatchGetImage"}]}')),
    ("TAP-LAMBDA-001", lambda s: s.set("deploy", "runtime", "nodejs22.x")),
    ("TAP-LAMBDA-005", lambda s: s.set("deploy", "reservedConcurrentExecutions", 2)),
    ("TAP-LAMBDA-005", lambda s: s.set("deploy", "reservedConcurrentExecutions", -1)),
    # EventBridge's key grant cannot carry source conditions (TAP-AWS-001): not a KMS-005 failure.
    ("TAP-KMS-005", lambda s: s.edit("key", _statements(lambda st: st[2].pop("Condition", None)))),
    ("TAP-LAMBDA-001", lambda s: s.delete("deploy", "runtime")),
    ("TAP-LAMBDA-002", lambda s: s.add(t.PERMISSION, "deploy-s3", principal="s3.amazonaws.com", sourceArn="arn:aws:s3:::b", sourceAccount="123456789012")),
    ("TAP-IAM-005", lambda s: s.add(t.ROLE_POLICY_ATTACHMENT, "own", policyArn="arn:aws:iam::123456789012:policy/own")),
    ("TAP-SNS-002", lambda s: s.edit("notifications-policy", _statements(lambda st: st[0].update(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:events:*"}})))),
    *[
        (rule, lambda s, p=policy, c=change: s.edit(p, c))
        for rule, policy, action in (
            ("TAP-S3-002", "artifacts-policy", "s3:*"),
            ("TAP-SNS-003", "notifications-policy", "sns:*"),
            ("TAP-SQS-002", "events-dlq-policy", "sqs:*"),
        )
        for change in (
            _tls(Action="*"),
            _tls(Action=[action.upper()]),
            _tls(Principal={"AWS": "*"}),
            _tls(Principal={"AWS": ["*"]}),
            _tls(Resource="*"),
            _tls(Condition=_secure_transport(False)),
            _tls(Condition=_secure_transport(["false"], "BoolIfExists")),
        )
    ],
]  # fmt: skip


def _case_id(case: tuple[Any, ...]) -> str:
    return str(case[0])


@pytest.mark.parametrize("case", NON_COMPLIANT, ids=_case_id)
def test_weakened_stack_fails_with_the_rule_and_its_message(
    stack: Stack, case: tuple[str, Weaken, str]
) -> None:
    rule_id, weaken, message = case
    before = failures(stack.results(exemptions=()), rule_id)
    weaken(stack)
    # Without exemptions: a weakening must fail even on a resource exempt from the rule.
    found = failures(stack.results(exemptions=()), rule_id)
    assert found != before
    assert any(message in reason for reason in found), found


@pytest.mark.parametrize("case", COMPLIANT, ids=_case_id)
def test_compliant_variant_passes(stack: Stack, case: tuple[str, Weaken]) -> None:
    rule_id, change = case
    change(stack)
    mine = [r for r in stack.results() if r.rule.id == rule_id]
    assert mine and all(r.status == "pass" for r in mine), [(r.resource, r.reason) for r in mine]


def test_every_rule_has_a_compliant_and_a_non_compliant_case(
    default_resources: list[Resource],
) -> None:
    passing = {
        r.rule.id
        for r in Stack(default_resources).results()
        if r.status == "pass" and r.resource != "-"
    }
    passing |= {rule_id for rule_id, _ in COMPLIANT}
    ids = {rule.id for rule in RULES}
    assert ids <= passing
    weakened = {
        rule_id
        for rule_id, *_ in [
            *NON_COMPLIANT,
            *AWS_NON_COMPLIANT,
            *ECS_NON_COMPLIANT,
            *ELB_NON_COMPLIANT,
            *NETWORK_NON_COMPLIANT,
        ]
    }
    assert ids <= weakened | {"TAP-CB-005"}
