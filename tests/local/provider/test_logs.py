"""CloudWatch Logs: the log group with its key, retention and tags."""

from __future__ import annotations

import uuid
from typing import Any

from tap_cicd.local.provider import Context, logs

from .conftest import TAGS, create, delete, update

LOG_GROUP = "/aws/lambda/tap-test"


def log_group(ctx: Context) -> dict[str, Any]:
    groups = ctx.clients("logs").describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
    assert len(groups) == 1
    group: dict[str, Any] = groups[0]
    return group


def log_group_tags(ctx: Context) -> dict[str, str]:
    arn = ctx.arn("logs", f"log-group:{LOG_GROUP}")
    tags: dict[str, str] = ctx.clients("logs").list_tags_for_resource(resourceArn=arn)["tags"]
    return tags


def test_log_group_is_created_with_key_retention_and_tags(ctx: Context) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    name, outputs = create(
        logs.LOG_GROUP,
        ctx,
        {"name": LOG_GROUP, "kmsKeyId": key_arn, "retentionInDays": 365.0, "tags": TAGS},
    )
    assert name == LOG_GROUP
    assert outputs == {"arn": ctx.arn("logs", f"log-group:{LOG_GROUP}")}
    group = log_group(ctx)
    assert group["kmsKeyId"] == key_arn
    assert group["retentionInDays"] == 365
    assert log_group_tags(ctx) == TAGS


def test_minimal_log_group_has_no_key_and_never_expires(ctx: Context) -> None:
    create(logs.LOG_GROUP, ctx, {"name": LOG_GROUP})
    group = log_group(ctx)
    assert "kmsKeyId" not in group
    assert "retentionInDays" not in group


def test_creating_an_existing_log_group_adopts_it(ctx: Context) -> None:
    create(logs.LOG_GROUP, ctx, {"name": LOG_GROUP})
    name, _ = create(
        logs.LOG_GROUP, ctx, {"name": LOG_GROUP, "retentionInDays": 30.0, "tags": TAGS}
    )
    assert name == LOG_GROUP
    assert log_group(ctx)["retentionInDays"] == 30
    assert log_group_tags(ctx) == TAGS  # CreateLogGroup did not tag the adopted group


def test_log_group_update_drops_retention_and_adds_tags(ctx: Context) -> None:
    old = {"name": LOG_GROUP, "retentionInDays": 30.0}
    create(logs.LOG_GROUP, ctx, old)
    update(logs.LOG_GROUP, ctx, LOG_GROUP, old, {"name": LOG_GROUP, "tags": TAGS})
    assert "retentionInDays" not in log_group(ctx)
    assert log_group_tags(ctx) == TAGS


def test_log_group_delete_and_delete_of_a_missing_one(ctx: Context) -> None:
    create(logs.LOG_GROUP, ctx, {"name": LOG_GROUP})
    delete(logs.LOG_GROUP, ctx, LOG_GROUP)
    assert ctx.clients("logs").describe_log_groups()["logGroups"] == []
    delete(logs.LOG_GROUP, ctx, LOG_GROUP)
