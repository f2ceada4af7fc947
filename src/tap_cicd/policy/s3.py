"""S3: every pipeline bucket blocked, TLS-only, owner-enforced, encrypted, logged (S1-S7).

A bucket's settings live in their own resources (public access block, policy, ...), so
most rules here are stack-level: they follow each setting's ``bucket`` back to its bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import (
    Props,
    Registry,
    Resource,
    as_list,
    dig,
    linked,
    of_type,
    tls_deny_gaps,
)

rules = Registry("s3")

PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)

BucketCheck = Callable[[Resource, list[Resource]], list[str]]
"""``(bucket, its settings of one type) -> violations``."""


def per_bucket(
    setting: str, check: BucketCheck
) -> Callable[[Sequence[Resource]], list[tuple[str, str]]]:
    """A stack check that judges each bucket with its settings of type ``setting``."""

    def run(resources: Sequence[Resource]) -> list[tuple[str, str]]:
        return [
            (bucket.urn, problem)
            for bucket in of_type(resources, t.BUCKET)
            for problem in check(bucket, linked(resources, setting, "bucket", bucket))
        ]

    run.__doc__ = check.__doc__
    return run


def _public_access(_: Resource, blocks: list[Resource]) -> list[str]:
    """All four public access block flags on."""
    if not blocks:
        return ["no public access block"]
    off = [f for f in PUBLIC_ACCESS_FLAGS if not any(b.props.get(f) is True for b in blocks)]
    return [f"public access block leaves {', '.join(off)} off"] if off else []


def _tls_only(bucket: Resource, policies: list[Resource]) -> list[str]:
    """The bucket policy denies every request without TLS, by anyone, on the bucket and objects."""
    arn = bucket.outputs.get("arn") or f"arn:aws:s3:::{bucket.props.get('bucket')}"
    # cdk-nag S3BucketSSLRequestsOnly; https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html
    gaps = tls_deny_gaps([p.props.get("policy") for p in policies], "s3:*", [arn, f"{arn}/*"])
    if gaps:
        return [
            "bucket policy does not deny requests without TLS on the bucket and its objects: "
            + "; ".join(gaps)
        ]
    return []


def _owner_enforced(_: Resource, controls: list[Resource]) -> list[str]:
    """Object ownership ``BucketOwnerEnforced``: ACLs are off."""
    if any(dig(c.props, "rule", "objectOwnership") == "BucketOwnerEnforced" for c in controls):
        return []
    return ["object ownership is not BucketOwnerEnforced (ACLs stay on)"]


def _defaults(configs: list[Resource]) -> list[Props]:
    return [
        {
            **(dig(r, "applyServerSideEncryptionByDefault") or {}),
            "bucketKey": r.get("bucketKeyEnabled"),
        }
        for c in configs
        for r in as_list(c.props.get("rules"))
    ]


def _encrypted(_: Resource, configs: list[Resource]) -> list[str]:
    """A default encryption configuration."""
    return (
        [] if any(d.get("sseAlgorithm") for d in _defaults(configs)) else ["no default encryption"]
    )


def _kms_encrypted(_: Resource, configs: list[Resource]) -> list[str]:
    """SSE-KMS with a named key and the bucket key on."""
    good = [
        d
        for d in _defaults(configs)
        if d.get("sseAlgorithm") == "aws:kms" and d.get("kmsMasterKeyId") and d["bucketKey"] is True
    ]
    return [] if good else ["not encrypted with SSE-KMS, the pipeline key and a bucket key"]


def _versioned(_: Resource, versionings: list[Resource]) -> list[str]:
    """Versioning enabled."""
    if any(dig(v.props, "versioningConfiguration", "status") == "Enabled" for v in versionings):
        return []
    return ["versioning is not enabled"]


LIFECYCLE_ACTIONS = ("expiration", "noncurrentVersionExpiration", "abortIncompleteMultipartUpload")


def _lifecycle(_: Resource, configs: list[Resource]) -> list[str]:
    """Enabled lifecycle rules expire objects and old versions and abort incomplete uploads."""
    enabled = [
        r for c in configs for r in as_list(c.props.get("rules")) if r.get("status") == "Enabled"
    ]
    missing = [a for a in LIFECYCLE_ACTIONS if not any(r.get(a) for r in enabled)]
    return [f"lifecycle lacks {', '.join(missing)}"] if missing else []


def _access_logged(bucket: Resource, loggings: list[Resource]) -> list[str]:
    """Server access logs go to another bucket."""
    if any(g.props.get("targetBucket") not in bucket.identifiers() for g in loggings):
        return []
    return ["no server access logging to a separate bucket"]


rules.stack(
    "TAP-S3-001",
    "A public access block stops a policy or ACL from opening the bucket.",
    ("FSBP S3.8", "CKV2_AWS_6", "NAG S2"),
    t.BUCKET,
)(per_bucket(t.PUBLIC_ACCESS_BLOCK, _public_access))
rules.stack(
    "TAP-S3-002",
    "Artifacts and credentials must never travel in clear text.",
    ("FSBP S3.5", "NAG S10"),
    t.BUCKET,
)(per_bucket(t.BUCKET_POLICY, _tls_only))
rules.stack(
    "TAP-S3-003",
    "With ACLs off, only the bucket policy decides who gets in.",
    ("FSBP S3.12",),
    t.BUCKET,
)(per_bucket(t.OWNERSHIP, _owner_enforced))
rules.stack("TAP-S3-004", "Every object is encrypted at rest.", ("CKV_AWS_19",), t.BUCKET)(
    per_bucket(t.BUCKET_ENCRYPTION, _encrypted)
)
rules.stack(
    "TAP-S3-005",
    "The pipeline key controls and audits every read of an artifact.",
    ("CKV_AWS_145",),
    t.BUCKET,
)(per_bucket(t.BUCKET_ENCRYPTION, _kms_encrypted))
rules.stack(
    "TAP-S3-006",
    "Versions let an overwritten or deleted artifact be recovered.",
    ("CKV_AWS_21",),
    t.BUCKET,
)(per_bucket(t.VERSIONING, _versioned))
rules.stack(
    "TAP-S3-007",
    "Old artifacts, versions and uploads expire instead of piling up.",
    ("CKV2_AWS_61", "CKV_AWS_300"),
    t.BUCKET,
)(per_bucket(t.BUCKET_LIFECYCLE, _lifecycle))
rules.stack(
    "TAP-S3-008",
    "Access logs record who read or wrote each artifact.",
    ("FSBP S3.9", "CKV_AWS_18"),
    t.BUCKET,
)(per_bucket(t.BUCKET_LOGGING, _access_logged))


@rules.resource(
    "TAP-S3-009",
    "A stack must be destroyable with its artifacts in it.",
    (),
    t.BUCKET,
    level="advisory",
)
def force_destroy(_: str, props: Props) -> list[str]:
    """``forceDestroy`` on."""
    return [] if props.get("forceDestroy") is True else ["forceDestroy is off"]
