"""CloudWatch Logs: log groups with retention and the key."""

from __future__ import annotations

import contextlib

from tap_cicd.local import quirks
from tap_cicd.local.provider._common import (
    Context,
    Handler,
    Inputs,
    Outputs,
    delete_by_id,
    integer,
    stale_tags,
)


def _outputs(ctx: Context, name: str) -> Outputs:
    # The provider reports the ARN without DescribeLogGroups' trailing ":*".
    return {"arn": ctx.arn("logs", f"log-group:{name}")}


def create_log_group(ctx: Context, _urn: str, inputs: Inputs) -> tuple[str, Outputs]:
    logs = ctx.clients("logs")
    name = inputs["name"]
    params = {"logGroupName": name, "tags": dict(inputs.get("tags") or {})}
    if inputs.get("kmsKeyId"):
        params["kmsKeyId"] = inputs["kmsKeyId"]
    # An interrupted run may have created it: adopt it.
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(**params)
    return name, update_log_group(ctx, name, {}, inputs)


def update_log_group(ctx: Context, name: str, old: Inputs, new: Inputs) -> Outputs:
    logs = ctx.clients("logs")
    if new.get("retentionInDays"):
        logs.put_retention_policy(
            logGroupName=name, retentionInDays=integer(new["retentionInDays"])
        )
    else:
        logs.delete_retention_policy(logGroupName=name)
    if stale := stale_tags(old, new):
        logs.untag_resource(resourceArn=_outputs(ctx, name)["arn"], tagKeys=stale)
    if new.get("tags"):  # also when adopting: CreateLogGroup did not tag then
        logs.tag_resource(resourceArn=_outputs(ctx, name)["arn"], tags=dict(new["tags"]))
    return _outputs(ctx, name)


HANDLERS = [
    Handler(
        "aws:cloudwatch/logGroup:LogGroup",
        create_log_group,
        delete_by_id("logs", "delete_log_group", "logGroupName"),
        update_log_group,
        replace_on=("name",),
        recreate_on=quirks.LOG_GROUP_RECREATE_ON,
    )
]
