"""The artifact and source buckets as deployed (baseline S1-S7), and their access-log bucket."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import everyone, policy_document

BUCKETS = ["artifactBucketName", "sourceBucketName"]


@pytest.fixture(params=BUCKETS)
def bucket(request: pytest.FixtureRequest, outputs: dict[str, str]) -> str:
    """Each hardened, KMS-encrypted bucket of the stack."""
    if request.param not in outputs:
        pytest.fail(f"output {request.param} missing: the tests expect the default S3 source")
    return outputs[request.param]


@pytest.fixture
def log_bucket(aws: Any, bucket: str) -> str:
    """The access-log bucket, as the bucket's logging configuration names it."""
    logging = aws("s3").get_bucket_logging(Bucket=bucket)
    assert "LoggingEnabled" in logging, f"{bucket} has no access logging"
    return str(logging["LoggingEnabled"]["TargetBucket"])


def test_versioning_is_enabled(aws: Any, bucket: str) -> None:
    assert aws("s3").get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"


def test_default_encryption_is_the_stack_key_with_bucket_key(
    aws: Any, bucket: str, key_arn: str
) -> None:
    rules = aws("s3").get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    assert len(rules) == 1
    default = rules[0]["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert default["KMSMasterKeyID"] == key_arn
    assert rules[0]["BucketKeyEnabled"] is True


def public_access_is_blocked(aws: Any, bucket: str) -> None:
    config = aws("s3").get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert config == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }


def test_all_four_public_access_flags(aws: Any, bucket: str) -> None:
    public_access_is_blocked(aws, bucket)


def acls_are_off(aws: Any, bucket: str) -> None:
    rules = aws("s3").get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_ownership_controls_disable_acls(aws: Any, bucket: str) -> None:
    acls_are_off(aws, bucket)


def denies_plain_http(aws: Any, bucket: str) -> list[dict[str, Any]]:
    """Assert the TLS-only statement; return the policy's statements."""
    policy = policy_document(aws("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    statements: list[dict[str, Any]] = policy["Statement"]
    arn = f"arn:aws:s3:::{bucket}"
    tls = [
        s
        for s in statements
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert len(tls) == 1, f"{bucket}: expected one TLS-only deny, got {statements}"
    deny = tls[0]
    assert everyone(deny["Principal"])
    assert deny["Action"] in ("s3:*", ["s3:*"])
    assert sorted(deny["Resource"]) == [arn, f"{arn}/*"]
    return statements


def test_policy_denies_requests_without_tls(aws: Any, bucket: str) -> None:
    statements = denies_plain_http(aws, bucket)
    # Nothing else is granted on a pipeline bucket: roles get access through IAM.
    assert [s["Effect"] for s in statements] == ["Deny"]


def test_lifecycle_expires_objects_versions_and_uploads(
    aws: Any, bucket: str, outputs: dict[str, str]
) -> None:
    rules = aws("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    by_id = {r["ID"]: r for r in rules}
    assert all(r["Status"] == "Enabled" for r in rules)
    if bucket == outputs["sourceBucketName"]:
        # The current source.zip never expires: a quiet service must still be able to run.
        assert set(by_id) == {"expire-noncurrent-versions", "abort-incomplete-uploads"}
        expire = by_id["expire-noncurrent-versions"]
        assert "Expiration" not in expire
    else:
        assert set(by_id) == {"expire-old-objects", "abort-incomplete-uploads"}
        expire = by_id["expire-old-objects"]
        assert expire["Expiration"] == {"Days": 90}
    assert expire["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    abort = by_id["abort-incomplete-uploads"]
    assert abort["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_access_logs_go_to_a_separate_bucket(aws: Any, bucket: str, log_bucket: str) -> None:
    logging = aws("s3").get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
    assert log_bucket != bucket
    # One prefix per source bucket keeps their logs apart.
    assert logging["TargetPrefix"] == f"{bucket}/"


def test_log_bucket_is_hardened_too(aws: Any, bucket: str, log_bucket: str) -> None:
    s3 = aws("s3")
    public_access_is_blocked(aws, log_bucket)
    acls_are_off(aws, log_bucket)
    assert s3.get_bucket_versioning(Bucket=log_bucket).get("Status") == "Enabled"
    # S3 delivers server access logs only to SSE-S3 buckets.
    rules = s3.get_bucket_encryption(Bucket=log_bucket)["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    statements = denies_plain_http(aws, log_bucket)
    delivery = [s for s in statements if s["Effect"] == "Allow"]
    assert len(delivery) == 1
    assert delivery[0]["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery[0]["Action"] in ("s3:PutObject", ["s3:PutObject"])
    sources = delivery[0]["Condition"]["ArnLike"]["aws:SourceArn"]
    assert f"arn:aws:s3:::{bucket}" in sources
