"""CloudWatch Logs: log groups with retention and the key."""

from __future__ import annotations

from tap_cicd.local import quirks
from tap_cicd.local.provider.model import (
    ARN,
    ID,
    Call,
    Ref,
    ResourceType,
    Update,
    integer,
    lower_tags,
    tag_reader,
)


def _retention(ref: Ref) -> None:
    if days := ref.inputs.get("retentionInDays"):
        ref.call("put_retention_policy", logGroupName=ref.id, retentionInDays=integer(days))
    else:
        ref.call("delete_retention_policy", logGroupName=ref.id)


LOG_GROUP = ResourceType(
    type="aws:cloudwatch/logGroup:LogGroup",
    service="logs",
    create=Call(
        "create_log_group",
        lambda ref: {"kmsKeyId": ref.inputs["kmsKeyId"]} if ref.inputs.get("kmsKeyId") else {},
        logGroupName=ID,
    ),
    exists=("ResourceAlreadyExistsException",),
    read=Call(
        "describe_log_groups",
        logGroupNamePrefix=ID,
        result=lambda ref, response: next(
            (g for g in response["logGroups"] if g["logGroupName"] == ref.id), None
        ),
    ),
    volatile=("storedBytes",),  # grows as the function and the build write logs
    updates=(Update(("retentionInDays",), _retention, after_create=True),),
    delete=Call("delete_log_group", logGroupName=ID),
    tags=lower_tags({"resourceArn": ARN}, pairs=None),
    read_tags=tag_reader("list_tags_log_group", lambda r: r.get("tags"), None, logGroupName=ID),
    # The provider reports the ARN without DescribeLogGroups' trailing ":*".
    outputs=lambda ref: {"arn": ref.arn("logs", f"log-group:{ref.id}")},
    replace_on=("name",),
    recreate_on=quirks.LOG_GROUP_RECREATE_ON,
)

TYPES = (LOG_GROUP,)
