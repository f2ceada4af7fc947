"""The global condition keys every request of a role's session carries (``access.context``)."""

from __future__ import annotations

from datetime import UTC, datetime

from tap_cicd.access.context import caller_context

ROLE = "arn:aws:iam::123456789012:role/pipeline-build-role-dev"


def test_a_sessions_request_names_its_role_account_region_and_time() -> None:
    moment = datetime(2026, 12, 4, 16, 0, 5, tzinfo=UTC)
    topic = "arn:aws:sns:eu-west-1:210987654321:shared"
    assert caller_context(ROLE, "eu-west-1", topic, now=moment) == {
        "aws:SecureTransport": "true",
        "aws:PrincipalArn": ROLE,
        "aws:PrincipalAccount": "123456789012",
        "aws:PrincipalType": "AssumedRole",
        "aws:RequestedRegion": "eu-west-1",
        "aws:ResourceAccount": "210987654321",
        "aws:CurrentTime": "2026-12-04T16:00:05Z",
        "aws:EpochTime": str(int(moment.timestamp())),
    }


def test_a_resource_without_an_account_in_its_arn_is_the_callers() -> None:
    for resource in ("arn:aws:s3:::artifacts/key", "*"):
        assert caller_context(ROLE, "us-east-1", resource)["aws:ResourceAccount"] == "123456789012"
    assert caller_context(ROLE, "us-east-1", "*")["aws:CurrentTime"].endswith("Z")
