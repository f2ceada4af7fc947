"""ECR: immutable, scanned, expiring, KMS-encrypted, never public (E1-E6)."""

from __future__ import annotations

from collections.abc import Sequence

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import (
    Props,
    Registry,
    Resource,
    as_list,
    document,
    linked,
    of_type,
    public_allows,
)

rules = Registry("ecr")


@rules.resource(
    "TAP-ECR-001",
    "Deploys go by digest and a tag, once pushed, never moves.",
    ("FSBP ECR.2", "CKV_AWS_51"),
    t.REPOSITORY,
)
def immutable_tags(_: str, props: Props) -> list[str]:
    """Tag immutability."""
    mutability = props.get("imageTagMutability")
    return [] if mutability == "IMMUTABLE" else [f"imageTagMutability is {mutability or 'MUTABLE'}"]


@rules.resource(
    "TAP-ECR-002",
    "Every pushed image is scanned; the deploy step gates on findings.",
    ("FSBP ECR.1", "CKV_AWS_163"),
    t.REPOSITORY,
)
def scan_on_push(_: str, props: Props) -> list[str]:
    """Scan on push."""
    scanning = props.get("imageScanningConfiguration") or {}
    return [] if scanning.get("scanOnPush") is True else ["scanOnPush is off"]


@rules.stack(
    "TAP-ECR-003",
    "Untagged and old images expire instead of piling up.",
    ("FSBP ECR.3",),
    t.REPOSITORY,
)
def lifecycle_policy(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """A lifecycle policy that expires untagged images and caps the rest."""
    problems = []
    for repo in of_type(resources, t.REPOSITORY):
        expiring = [
            rule.get("selection") or {}
            for policy in linked(resources, t.ECR_LIFECYCLE, "repository", repo)
            for rule in as_list(document(policy.props.get("policy")).get("rules"))
            if (rule.get("action") or {}).get("type") == "expire"
        ]
        if not any(s.get("tagStatus") == "untagged" for s in expiring):
            problems.append((repo.urn, "no lifecycle rule expires untagged images"))
        if not any(s.get("tagStatus") in ("any", "tagged") for s in expiring):
            problems.append((repo.urn, "no lifecycle rule expires old tagged images"))
    return problems


@rules.resource(
    "TAP-ECR-004",
    "The pipeline key controls who can pull the layers.",
    ("CKV_AWS_136",),
    t.REPOSITORY,
)
def kms_encrypted(_: str, props: Props) -> list[str]:
    """KMS encryption with a named key."""
    configs = as_list(props.get("encryptionConfigurations"))
    if any(c.get("encryptionType") in ("KMS", "KMS_DSSE") and c.get("kmsKey") for c in configs):
        return []
    return ["not encrypted with the pipeline KMS key"]


@rules.resource(
    "TAP-ECR-005",
    "A public repository policy lets anyone pull (or push) images.",
    ("NAG ECR1",),
    t.REPOSITORY_POLICY,
)
def no_public_policy(_: str, props: Props) -> list[str]:
    """No repository policy statement allows ``*``."""
    return public_allows(props.get("policy"))


@rules.resource(
    "TAP-ECR-006",
    "A stack must be destroyable with images in its repository.",
    (),
    t.REPOSITORY,
    level="advisory",
)
def force_delete(_: str, props: Props) -> list[str]:
    """``forceDelete`` on."""
    return [] if props.get("forceDelete") is True else ["forceDelete is off"]
