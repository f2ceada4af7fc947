"""The condition keys AWS puts in the context of every request a role's session makes.

Besides the keys of its path (``paths``' rows), a request made with a role's credentials
carries global keys AWS always sets: who calls (the role, its account, the principal's type),
where (the requested region, the resource's account), when, and over what (TLS). A policy
that tests one of them (``aws:PrincipalArn`` in a deny-unless statement, ``aws:ResourceAccount``
in AWS's own CodePipeline role template) decides the same way here as on AWS.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
"""

from __future__ import annotations

from datetime import UTC, datetime

from tap_cicd.access.paths import ROLE_CONTEXT


def caller_context(
    role_arn: str, region: str, resource: str, *, now: datetime | None = None
) -> dict[str, str]:
    """The global keys of a request by a session of ``role_arn`` on ``resource`` in
    ``region``: ``ROLE_CONTEXT``, the principal's ARN (the role's, for a session), account and
    type, the requested region, the resource's account (the caller's for an ARN without one,
    such as a bucket's), the time."""
    account = role_arn.split(":")[4]
    parts = resource.split(":")
    owner = parts[4] if len(parts) > 4 and parts[4] else account
    moment = now or datetime.now(UTC)
    return {
        **ROLE_CONTEXT,
        "aws:PrincipalArn": role_arn,
        "aws:PrincipalAccount": account,
        "aws:PrincipalType": "AssumedRole",
        "aws:RequestedRegion": region,
        "aws:ResourceAccount": owner,
        "aws:CurrentTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(moment.timestamp())),
    }
