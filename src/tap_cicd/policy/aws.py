"""Known AWS constraints: what AWS refuses, drops or deletes although the emulator accepts it.

Each rule names the documented constraint in its ``why`` and carries the AWS page in its
refs (``tap check`` lists them). These are the defects a review against AWS's documentation
found; a rule here keeps each class of mistake from coming back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from tap_cicd.documents import TRUST_SOURCE_KEYS
from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import (
    Props,
    Registry,
    Resource,
    allows,
    as_list,
    dig,
    document,
    linked,
    of_type,
    principals,
    sid,
    statements,
)

rules = Registry("aws")

SNS_KMS_DOC = (
    "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html"
    "#compatibility-with-aws-services"
)
EVENTS = "events.amazonaws.com"
SOURCE_CONTEXT_KEYS = ("aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid")
"""Global source keys (compared case-insensitively, as IAM compares key names)."""
EVENTS_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


def _condition_keys(statement: Mapping[str, Any], *, if_exists: bool = True) -> set[str]:
    """The condition keys a statement tests, lower-cased; ``...IfExists`` tests left out unless
    asked (a missing key satisfies them, so they cannot make a request fail)."""
    return {
        str(key).lower()
        for operator, test in (statement.get("Condition") or {}).items()
        if if_exists or not str(operator).endswith("IfExists")
        if isinstance(test, Mapping)
        for key in test
    }


def _events_statements(policy: Any) -> list[Mapping[str, Any]]:
    return [s for s in statements(policy) if allows(s) and EVENTS in principals(s)]


@rules.resource(
    "TAP-AWS-001",
    "AWS does not support aws:SourceAccount/aws:SourceArn in a key policy for EventBridge "
    "delivery to an encrypted topic: the condition never matches and every event is dropped.",
    (SNS_KMS_DOC,),
    t.KEY,
)
def events_key_without_source_conditions(_: str, props: Props) -> list[str]:
    """No source condition on a statement that lets EventBridge use the key."""
    return [
        f"statement {sid(s)} conditions EventBridge's use of the key on "
        f"{', '.join(sorted(found))}, which EventBridge does not send to KMS"
        for s in _events_statements(props.get("policy"))
        if (found := _condition_keys(s, if_exists=False) & set(SOURCE_CONTEXT_KEYS))
    ]


def _grants_events(key: Resource) -> bool:
    for s in _events_statements(key.props.get("policy")):
        actions = {str(a) for a in as_list(s.get("Action"))}
        wildcard = bool(actions & {"*", "kms:*"})
        if wildcard or all(a in actions for a in EVENTS_KEY_ACTIONS):
            return not _condition_keys(s, if_exists=False) & set(SOURCE_CONTEXT_KEYS)
    return False


def _encrypted_destinations(resources: Sequence[Resource]) -> list[Resource]:
    """Topics and queues an EventBridge target delivers to (target or dead-letter queue)."""
    arns = {
        value
        for target in of_type(resources, t.EVENT_TARGET)
        for value in (target.props.get("arn"), dig(target.props, "deadLetterConfig", "arn"))
        if isinstance(value, str)
    }
    return [
        r
        for r in of_type(resources, t.TOPIC, t.QUEUE)
        if r.props.get("kmsMasterKeyId") and r.identifiers() & arns
    ]


@rules.stack(
    "TAP-AWS-002",
    "EventBridge encrypts what it delivers to an encrypted topic or queue with that key: without "
    "kms:GenerateDataKey and kms:Decrypt for events.amazonaws.com the delivery fails.",
    (SNS_KMS_DOC, "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html"),
    t.TOPIC,
    t.QUEUE,
)
def events_can_use_destination_keys(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """Every encrypted EventBridge destination's key lets EventBridge use it."""
    keys = of_type(resources, t.KEY)
    problems = []
    for destination in _encrypted_destinations(resources):
        key_id = destination.props.get("kmsMasterKeyId")
        owning = [k for k in keys if key_id in k.identifiers()]
        if not owning or not _grants_events(owning[0]):
            problems.append(
                (
                    destination.urn,
                    f"EventBridge delivers here but the key {key_id} does not grant "
                    "events.amazonaws.com kms:GenerateDataKey and kms:Decrypt unconditioned",
                )
            )
    return problems


@rules.resource(
    "TAP-AWS-003",
    "With enhanced (Inspector) scanning, ECR returns an image's findings only to a caller that "
    "may also inspector2:ListFindings.",
    ("https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-enhanced-iam.html",),
    t.ROLE_POLICY,
    t.POLICY,
)
def findings_readable_with_enhanced_scanning(_: str, props: Props) -> list[str]:
    """A policy that reads scan findings also allows ``inspector2:ListFindings``."""
    allowed = {
        str(a)
        for s in statements(props.get("policy"))
        if allows(s)
        for a in as_list(s.get("Action"))
    }
    if "ecr:DescribeImageScanFindings" in allowed and "inspector2:ListFindings" not in allowed:
        return ["reads ECR scan findings without inspector2:ListFindings (enhanced scanning)"]
    return []


LOGS_CONTEXT = "kms:encryptioncontext:aws:logs:arn"


@rules.resource(
    "TAP-AWS-004",
    "CloudWatch Logs uses the key with the log group's ARN as encryption context; a wildcard "
    "there lets every log group of the account use the key.",
    ("https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",),
    t.KEY,
)
def logs_key_scoped_to_log_groups(_: str, props: Props) -> list[str]:
    """The CloudWatch Logs grant names log group ARNs, without wildcards."""
    problems = []
    for s in statements(props.get("policy")):
        if not allows(s) or not any(p.startswith("logs.") for p in principals(s)):
            continue
        groups = [
            str(v)
            for test in (s.get("Condition") or {}).values()
            if isinstance(test, Mapping)
            for key, values in test.items()
            if str(key).lower() == LOGS_CONTEXT
            for v in as_list(values)
        ]
        if not groups:
            problems.append(f"statement {sid(s)} does not name the log groups it serves")
        problems += [
            f"statement {sid(s)} serves {g}: name each log group, no wildcard"
            for g in groups
            if "*" in g or "?" in g or ":log-group:" not in g
        ]
    return problems


def _source_buckets(resources: Sequence[Resource]) -> dict[str, str]:
    """Bucket name -> object key of every S3 source action of a pipeline."""
    found = {}
    for pipeline in of_type(resources, t.PIPELINE):
        for stage in as_list(pipeline.props.get("stages")):
            for action in as_list(dig(stage, "actions")):
                config = dig(action, "configuration") or {}
                if dig(action, "provider") == "S3" and config.get("S3Bucket"):
                    found[str(config["S3Bucket"])] = str(config.get("S3ObjectKey") or "")
    return found


@rules.stack(
    "TAP-AWS-005",
    "An S3 lifecycle expiration of current versions puts a delete marker on the source object; "
    "the next run of a quiet service then fails at Source. Expire noncurrent versions only.",
    ("https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html",),
    t.BUCKET_LIFECYCLE,
)
def source_object_never_expires(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """No enabled lifecycle rule expires the current version of a pipeline's source object."""
    sources = _source_buckets(resources)
    problems = []
    for bucket in of_type(resources, t.BUCKET):
        names = bucket.identifiers() & set(sources)
        if not names:
            continue
        object_key = sources[sorted(names)[0]]
        for config in linked(resources, t.BUCKET_LIFECYCLE, "bucket", bucket):
            for rule in as_list(config.props.get("rules")):
                prefix = str(dig(rule, "filter", "prefix") or dig(rule, "prefix") or "")
                expiration = dig(rule, "expiration") or {}
                expires = expiration.get("days") or expiration.get("date")
                if rule.get("status") == "Enabled" and expires and object_key.startswith(prefix):
                    problems.append(
                        (
                            config.urn,
                            f"rule {rule.get('id')} expires the current {object_key} "
                            "of the pipeline's source bucket",
                        )
                    )
    return problems


RELEASE_PREFIX = "release-"
MIN_KEPT_RELEASES = 2
"""The current release and the one before it (the rollback)."""


def _keeps_releases(rules_: list[Mapping[str, Any]]) -> bool:
    any_priority = min(
        (r.get("rulePriority", 0) for r in rules_ if dig(r, "selection", "tagStatus") == "any"),
        default=None,
    )
    for rule in rules_:
        selection = rule.get("selection") or {}
        selects_releases = selection.get("tagStatus") == "tagged" and (
            RELEASE_PREFIX in as_list(selection.get("tagPrefixList"))
            or f"{RELEASE_PREFIX}*" in as_list(selection.get("tagPatternList"))
        )
        keeps_enough = (
            selection.get("countType") == "imageCountMoreThan"
            and (selection.get("countNumber") or 0) >= MIN_KEPT_RELEASES
        )
        first = any_priority is None or rule.get("rulePriority", 0) < any_priority
        if selects_releases and keeps_enough and first:
            return True
    return False


@rules.stack(
    "TAP-AWS-006",
    "ECR's lifecycle counts every image, failed releases included; only an image matched by a "
    "higher-priority rule is safe from a lower one, so the release tags need the first rule.",
    ("https://docs.aws.amazon.com/AmazonECR/latest/userguide/LifecyclePolicies.html",),
    t.ECR_LIFECYCLE,
)
def released_images_survive(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """A rule selecting ``release-`` tags, keeping at least 2, before any ``any`` rule."""
    problems = []
    for policy in of_type(resources, t.ECR_LIFECYCLE):
        found = [
            r
            for r in as_list(document(policy.props.get("policy")).get("rules"))
            if isinstance(r, Mapping)
        ]
        if not _keeps_releases(found):
            problems.append(
                (
                    policy.urn,
                    f"no rule keeps at least {MIN_KEPT_RELEASES} '{RELEASE_PREFIX}' tagged "
                    "images ahead of the rules that count every image",
                )
            )
    return problems


def _commands(spec: Mapping[str, Any]) -> list[str]:
    phases = spec.get("phases") if isinstance(spec.get("phases"), Mapping) else {}
    return [
        str(c)
        for phase in (phases or {}).values()
        if isinstance(phase, Mapping)
        for c in as_list(phase.get("commands"))
    ]


@rules.resource(
    "TAP-AWS-007",
    "CodeBuild reads exported variables from the build's environment: a shell variable set "
    "without export is never exported, and the Deploy action gets an unresolved value.",
    ("https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html",),
    t.PROJECT,
)
def exported_variables_are_exported(_: str, props: Props) -> list[str]:
    """Every ``exported-variables`` name is assigned with ``export NAME=`` only."""
    try:
        spec = yaml.safe_load(str(dig(props, "source", "buildspec") or ""))
    except yaml.YAMLError:
        return ["the buildspec is not YAML"]
    if not isinstance(spec, Mapping):
        return []
    commands = _commands(spec)
    problems = []
    for name in as_list(dig(spec, "env", "exported-variables")):
        plain = [c for c in commands if c.lstrip().startswith(f"{name}=")]
        exported = [c for c in commands if c.lstrip().startswith(f"export {name}=")]
        if plain or not exported:
            problems.append(f"exported variable {name} is not set with 'export {name}='")
    return problems


@rules.resource(
    "TAP-AWS-008",
    "A trust condition on a source key the service does not send never matches: the service "
    "cannot assume the role (CodePipeline and Lambda document none).",
    (
        "https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-create-service-role-cli.html",
        "https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html",
    ),
    t.ROLE,
)
def trust_conditions_the_service_sends(_: str, props: Props) -> list[str]:
    """Source conditions only on keys each trusted service is documented to send."""
    problems = []
    for s in statements(props.get("assumeRolePolicy")):
        keys = _condition_keys(s, if_exists=False) & set(SOURCE_CONTEXT_KEYS)
        for service in as_list(dig(s, "Principal", "Service")):
            sent = TRUST_SOURCE_KEYS.get(str(service))
            unsent = sorted(keys - {k.lower() for k in sent}) if sent is not None else []
            if unsent:
                problems.append(
                    f"trust of {service} conditions on {', '.join(unsent)}, which it does not send"
                )
    return problems
