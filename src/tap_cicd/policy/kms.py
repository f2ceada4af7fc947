"""KMS: one customer-managed key, rotated, with an explicit, conditioned policy (baseline K1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import (
    Props,
    Registry,
    Resource,
    allows,
    as_list,
    dig,
    principals,
    sid,
    statements,
)

rules = Registry("kms")

MIN_DELETION_WINDOW = 7
MAX_DELETION_WINDOW = 30
EVENTS_PRINCIPAL = "events.amazonaws.com"
SOURCE_CONDITION_KEYS = ("aws:SourceAccount", "aws:SourceArn", "kms:ViaService")


@rules.resource(
    "TAP-KMS-001",
    "Rotation limits what one leaked key version exposes.",
    ("CKV_AWS_7", "FSBP KMS.4"),
    t.KEY,
)
def rotation_enabled(_: str, props: Props) -> list[str]:
    """Key rotation is on."""
    return [] if props.get("enableKeyRotation") is True else ["key rotation is off"]


@rules.resource(
    "TAP-KMS-002",
    "A deletion window lets an accidental deletion be cancelled.",
    ("FSBP KMS.3",),
    t.KEY,
)
def deletion_window(_: str, props: Props) -> list[str]:
    """An explicit deletion window of 7 to 30 days."""
    days = props.get("deletionWindowInDays")
    if days is None:
        return ["deletionWindowInDays is not set"]
    if not MIN_DELETION_WINDOW <= days <= MAX_DELETION_WINDOW:
        return [f"deletionWindowInDays {days:g} is outside 7-30"]
    return []


@rules.resource(
    "TAP-KMS-003",
    "A key without an explicit policy, or open to '*', is anyone's.",
    ("CKV_AWS_33",),
    t.KEY,
)
def explicit_policy(_: str, props: Props) -> list[str]:
    """An explicit key policy with no unconditioned ``*`` principal."""
    found = statements(props.get("policy"))
    if not found:
        return ["no explicit key policy"]
    return [
        f"statement {sid(s)} allows principal '*' without a condition"
        for s in found
        if allows(s) and "*" in principals(s) and not s.get("Condition")
    ]


@rules.resource(
    "TAP-KMS-004",
    "kms:* lets the grantee disable or schedule deletion of the key.",
    ("NAG IAM5",),
    t.KEY,
)
def no_wildcard_key_actions(_: str, props: Props) -> list[str]:
    """No key policy statement allows every KMS action."""
    return [
        f"statement {sid(s)} allows kms:* to {', '.join(principals(s))}"
        for s in statements(props.get("policy"))
        if allows(s) and {"kms:*", "*"} & set(as_list(s.get("Action")))
    ]


@rules.resource(
    "TAP-KMS-005",
    "A service principal without source conditions serves any account (confused deputy).",
    ("CKV_AWS_33",),
    t.KEY,
)
def conditioned_service_principals(_: str, props: Props) -> list[str]:
    """Services are granted with source or encryption-context conditions."""
    problems = []
    for s in statements(props.get("policy")):
        services = as_list(dig(s, "Principal", "Service"))
        # EventBridge's delivery to an encrypted topic sends no source context to KMS, so
        # its grant cannot be conditioned (TAP-AWS-001); the topic and queue policies carry
        # the rule's aws:SourceArn instead.
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
        if not allows(s) or not services or services == [EVENTS_PRINCIPAL]:
            continue
        keys = {k for test in (s.get("Condition") or {}).values() for k in test}
        conditioned = keys & set(SOURCE_CONDITION_KEYS) or any(
            k.startswith("kms:EncryptionContext:") for k in keys
        )
        if not conditioned:
            problems.append(f"statement {sid(s)} grants a service without a source condition")
    return problems


KEY_SERVICES = ("logs", "events", "codebuild", "codepipeline", "s3", "ecr", "lambda")
"""The services baseline K1 wants named in the key policy."""


@rules.resource(
    "TAP-KMS-007",
    "Naming each service in the key policy keeps who may use the key in one reviewable place.",
    ("CKV_AWS_33", "FSBP KMS.1"),
    t.KEY,
)
def services_named(_: str, props: Props) -> list[str]:
    """Each pipeline service is granted by service principal (or ``kms:ViaService``)."""
    named: list[str] = []
    for s in statements(props.get("policy")):
        if allows(s):
            named += as_list(dig(s, "Principal", "Service"))
            named += [
                str(v)
                for test in (s.get("Condition") or {}).values()
                for v in as_list(test.get("kms:ViaService"))
            ]
    missing = [svc for svc in KEY_SERVICES if not any(n.startswith(f"{svc}.") for n in named)]
    return [f"the key policy does not name {', '.join(missing)}"] if missing else []


# Where each type names the key it encrypts with.
KEY_REFERENCES: dict[str, Callable[[Props], list[Any]]] = {
    t.LOG_GROUP: lambda p: [p.get("kmsKeyId")],
    t.TOPIC: lambda p: [p.get("kmsMasterKeyId")],
    t.QUEUE: lambda p: [p.get("kmsMasterKeyId")],
    t.PROJECT: lambda p: [p.get("encryptionKey")],
    t.FUNCTION: lambda p: [p.get("kmsKeyArn")],
    t.REPOSITORY: lambda p: [dig(c, "kmsKey") for c in as_list(p.get("encryptionConfigurations"))],
    t.PIPELINE: lambda p: [dig(s, "encryptionKey", "id") for s in as_list(p.get("artifactStores"))],
    t.BUCKET_ENCRYPTION: lambda p: [
        dig(r, "applyServerSideEncryptionByDefault", "kmsMasterKeyId")
        for r in as_list(p.get("rules"))
    ],
}


@rules.stack(
    "TAP-KMS-006",
    "One key for the pipeline: one policy to review, one to rotate.",
    ("CKV_AWS_7",),
    t.KEY,
    *KEY_REFERENCES,
)
def one_pipeline_key(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """Exactly one customer-managed key, and every encryption setting names it."""
    keys = [r for r in resources if r.type == t.KEY]
    problems = [(k.urn, "a second customer-managed key; the pipeline uses one") for k in keys[1:]]
    ids: set[Any] = set()
    for key in keys[:1]:
        ids = set(key.identifiers())
        ids |= {
            a.props.get("name")
            for a in resources
            if a.type == t.ALIAS and a.props.get("targetKeyId") in ids
        }
    for r in resources:
        references = KEY_REFERENCES.get(r.type)
        for value in references(r.props) if references else []:
            if value is not None and value not in ids:
                problems.append((r.urn, f"encrypts with {value}, not the pipeline key"))
    return problems
