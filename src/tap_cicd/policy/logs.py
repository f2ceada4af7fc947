"""Logs: the stack creates its log groups, with retention and the key (N3, B2)."""

from __future__ import annotations

from collections.abc import Sequence

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import Props, Registry, Resource, dig, of_type

rules = Registry("logs")

ONE_YEAR = 365


@rules.resource(
    "TAP-LOG-001",
    "Logs kept forever cost forever; logs kept by default are unmanaged.",
    ("CKV_AWS_66",),
    t.LOG_GROUP,
)
def retention_set(_: str, props: Props) -> list[str]:
    """``retentionInDays`` set."""
    return [] if props.get("retentionInDays") else ["retentionInDays is not set"]


@rules.resource(
    "TAP-LOG-002",
    "A year of logs covers an audit of last year's releases.",
    ("CKV_AWS_338",),
    t.LOG_GROUP,
    level="advisory",
)
def retention_one_year(_: str, props: Props) -> list[str]:
    """Retention of at least a year."""
    days = props.get("retentionInDays") or 0
    return [] if days >= ONE_YEAR else [f"retention {days:g} days is under a year"]


@rules.resource(
    "TAP-LOG-003",
    "Build and deploy logs can show internals; the key guards them.",
    ("CKV_AWS_158",),
    t.LOG_GROUP,
)
def encrypted_logs(_: str, props: Props) -> list[str]:
    """``kmsKeyId`` set."""
    return [] if props.get("kmsKeyId") else ["log group is not encrypted with the key"]


def log_group_of(resource: Resource) -> str:
    """The log group a project or function writes to (Lambda's default when unset)."""
    if resource.type == t.PROJECT:
        return str(dig(resource.props, "logsConfig", "cloudwatchLogs", "groupName"))
    return str(
        dig(resource.props, "loggingConfig", "logGroup")
        or f"/aws/lambda/{resource.props.get('name')}"
    )


@rules.stack(
    "TAP-LOG-004",
    "A group the service creates itself has no retention and no key.",
    ("CKV_AWS_338", "CKV_AWS_158"),
    t.PROJECT,
    t.FUNCTION,
)
def stack_created_groups(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """CodeBuild and Lambda write to log groups this stack creates."""
    groups = {g.props.get("name") for g in of_type(resources, t.LOG_GROUP)}
    return [
        (r.urn, f"logs to {log_group_of(r)}, which the stack does not create")
        for r in of_type(resources, t.PROJECT, t.FUNCTION)
        if log_group_of(r) not in groups
    ]
