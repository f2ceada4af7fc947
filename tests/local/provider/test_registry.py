"""Every registered type, on the emulator: created, read back, updated in place, deleted.

One row per type: its inputs (creating what they need first), one input that changes in place
and how ``read``'s answer shows it, and where that answer holds AWS's own ARN. A type
registered without a row fails here, and so does a row for a type that is not registered.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pulumi
import pytest

from tap_cicd.local.provider import HANDLERS, REGISTRY, Context, registry
from tap_cicd.local.provider.assets import normalize

from . import test_ec2, test_ecs, test_elbv2
from .conftest import URN, make_role, trust_policy

EMULATOR_OUTPUTS = {"aws:ecr/repository:Repository": {"repositoryUrl"}}
"""Outputs that name the emulator rather than AWS when the local target creates the resource."""

Inputs = dict[str, Any]
KEY_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
)
_urns = itertools.count()


@dataclass(frozen=True)
class Row:
    """How the table exercises one type."""

    make: Callable[[Context], tuple[Inputs, Inputs | None]]
    """Creates what the type needs; answers its inputs and one in-place change (or ``None``)."""
    changed: Callable[[Any, Inputs], bool] = lambda _found, _change: False
    """Whether ``read``'s answer shows the change."""
    arn: Callable[[Any], str] | None = None
    """AWS's ARN in ``read``'s answer, held against the entry's ``arn`` output."""
    deleted: Callable[[Any], bool] = lambda found: found is None
    """What ``read`` answers once the resource is deleted."""
    gap: str = ""
    """Why the emulator cannot show the change: asserted, so that a fixed emulator shows."""


def made(token: str, ctx: Context, inputs: Inputs) -> str:
    """A resource a row needs first; its id."""
    resource_id: str = HANDLERS[token].create(ctx, f"{URN}-{next(_urns)}", inputs)[0]
    return resource_id


def bucket(ctx: Context, name: str = "tap-table-bucket") -> str:
    return made("aws:s3/bucket:Bucket", ctx, {"bucket": name})


def key(ctx: Context) -> str:
    return made("aws:kms/key:Key", ctx, {"policy": KEY_POLICY})


def topic(ctx: Context) -> str:
    return made("aws:sns/topic:Topic", ctx, {"name": "tap-table-topic"})


def queue(ctx: Context) -> str:
    return made("aws:sqs/queue:Queue", ctx, {"name": "tap-table-queue"})


def document(action: str) -> str:
    statement = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": action, "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def same_document(found: Any, change: Inputs) -> bool:
    return bool(json.loads(found) == json.loads(change["policy"]))


def logging(ctx: Context) -> tuple[Inputs, Inputs]:
    target = bucket(ctx, "tap-table-logs")
    delivery = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{target}/*",
    }
    log_policy = json.dumps({"Version": "2012-10-17", "Statement": [delivery]})
    made("aws:s3/bucketPolicy:BucketPolicy", ctx, {"bucket": target, "policy": log_policy})
    inputs = {"bucket": bucket(ctx), "targetBucket": target, "targetPrefix": "a/"}
    return inputs, {"targetPrefix": "b/"}


def project(ctx: Context) -> tuple[Inputs, Inputs]:
    environment = {"type": "LINUX_CONTAINER", "image": "i", "computeType": "BUILD_GENERAL1_SMALL"}
    inputs = {
        "name": "tap-table-build",
        "serviceRole": make_role(ctx, "tap-table-build", "codebuild.amazonaws.com"),
        "source": {"type": "CODEPIPELINE", "buildspec": "version: 0.2\n"},
        "artifacts": {"type": "CODEPIPELINE"},
        "environment": environment,
    }
    return inputs, {"description": "changed"}


def function(ctx: Context) -> Inputs:
    return {
        "name": "tap-table-deploy",
        "role": make_role(ctx, "tap-table-deploy", "lambda.amazonaws.com"),
        "handler": "test_registry.handler",
        "runtime": "python3.13",
        "code": pulumi.AssetArchive({"test_registry.py": pulumi.FileAsset(__file__)}),
    }


def pipeline(ctx: Context) -> tuple[Inputs, Inputs]:
    def action(name: str, provider: str, configuration: Inputs, **artifacts: Any) -> Inputs:
        kind = {"category": name, "owner": "AWS", "provider": provider, "version": "1"}
        return {"name": name, **kind, "configuration": configuration, **artifacts}

    location = {"S3Bucket": "b", "S3ObjectKey": "k"}
    source = action("Source", "S3", location, outputArtifacts=["o"])
    build = action("Build", "CodeBuild", {"ProjectName": "p"}, inputArtifacts=["o"])
    inputs = {
        "name": "tap-table-pipeline",
        "roleArn": make_role(ctx, "tap-table-pipeline", "codepipeline.amazonaws.com"),
        "artifactStores": [{"type": "S3", "location": "artifacts"}],
        "stages": [
            {"name": "Source", "actions": [source]},
            {"name": "Build", "actions": [build]},
        ],
    }
    return inputs, {"executionMode": "QUEUED"}


def rule(ctx: Context) -> str:
    pattern = json.dumps({"source": ["aws.s3"]})
    return made("aws:cloudwatch/eventRule:EventRule", ctx, {"name": "r", "eventPattern": pattern})


def role(ctx: Context) -> str:
    trust = trust_policy("lambda.amazonaws.com")
    return made("aws:iam/role:Role", ctx, {"name": "tap-table", "assumeRolePolicy": trust})


def queue_arn(ctx: Context) -> str:
    queue(ctx)
    return ctx.arn("sqs", "tap-table-queue")


EXPIRE = {"rulePriority": 1, "action": {"type": "expire"}}
SELECTION = {"tagStatus": "any", "countType": "imageCountMoreThan"}


def ecr_policy(count: int) -> str:
    return json.dumps({"rules": [{**EXPIRE, "selection": {**SELECTION, "countNumber": count}}]})


def lifecycle(days: float) -> list[Inputs]:
    return [{"id": "r", "status": "Enabled", "expiration": {"days": days}}]


def sse(bucket_key: bool) -> list[Inputs]:
    default = {"sseAlgorithm": "AES256"}
    return [{"applyServerSideEncryptionByDefault": default, "bucketKeyEnabled": bucket_key}]


ROWS: dict[str, Row] = {
    "aws:kms/key:Key": Row(
        lambda _ctx: ({"policy": KEY_POLICY, "description": "a"}, {"description": "b"}),
        changed=lambda found, change: found["Description"] == change["description"],
        arn=lambda found: found["Arn"],
    ),
    "aws:kms/alias:Alias": Row(
        lambda ctx: ({"name": "alias/tap", "targetKeyId": key(ctx)}, {"targetKeyId": key(ctx)}),
        changed=lambda found, change: found["TargetKeyId"] == change["targetKeyId"],
        arn=lambda found: found["AliasArn"],
    ),
    "aws:s3/bucket:Bucket": Row(
        lambda _ctx: ({"bucket": "tap-table-bucket"}, {"tags": {"Team": "a"}}),
        changed=lambda found, change: found["tags"] == change["tags"],
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": Row(
        lambda ctx: ({"bucket": bucket(ctx), "blockPublicAcls": True}, {"blockPublicPolicy": True}),
        changed=lambda found, _change: found["BlockPublicPolicy"] is True,
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": Row(
        lambda ctx: (
            {"bucket": bucket(ctx), "rule": {"objectOwnership": "BucketOwnerEnforced"}},
            {"rule": {"objectOwnership": "BucketOwnerPreferred"}},
        ),
        changed=lambda found, _change: (
            found["Rules"][0]["ObjectOwnership"] == "BucketOwnerPreferred"
        ),
    ),
    "aws:s3/bucketVersioning:BucketVersioning": Row(
        lambda ctx: (
            {"bucket": bucket(ctx), "versioningConfiguration": {"status": "Enabled"}},
            {"versioningConfiguration": {"status": "Suspended"}},
        ),
        changed=lambda found, _change: found == "Suspended",
        # A versioned bucket cannot go back to unversioned: deleting suspends it.
        deleted=lambda found: found == "Suspended",
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": Row(
        lambda ctx: ({"bucket": bucket(ctx), "rules": sse(False)}, {"rules": sse(True)}),
        changed=lambda found, _change: found["Rules"][0]["BucketKeyEnabled"] is True,
    ),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": Row(
        lambda ctx: ({"bucket": bucket(ctx), "rules": lifecycle(90.0)}, {"rules": lifecycle(30.0)}),
        changed=lambda found, _change: found[0]["Expiration"] == {"Days": 30},
    ),
    "aws:s3/bucketLogging:BucketLogging": Row(
        logging, changed=lambda found, change: found["TargetPrefix"] == change["targetPrefix"]
    ),
    "aws:s3/bucketPolicy:BucketPolicy": Row(
        lambda ctx: (
            {"bucket": bucket(ctx), "policy": document("s3:GetObject")},
            {"policy": document("s3:ListBucket")},
        ),
        changed=same_document,
    ),
    "aws:s3/bucketNotification:BucketNotification": Row(
        lambda ctx: ({"bucket": bucket(ctx), "eventbridge": False}, {"eventbridge": True}),
        changed=lambda found, _change: "EventBridgeConfiguration" in found,
        # Deleting leaves the bucket without notifications: an empty configuration.
        deleted=lambda found: found == {},
        gap="moto keeps EventBridgeConfiguration but leaves it out of its answer",
    ),
    "aws:ecr/repository:Repository": Row(
        lambda _ctx: ({"name": "tap-table"}, {"imageTagMutability": "IMMUTABLE"}),
        changed=lambda found, _change: found["imageTagMutability"] == "IMMUTABLE",
        arn=lambda found: found["repositoryArn"],
    ),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": Row(
        lambda ctx: (
            {
                "repository": made("aws:ecr/repository:Repository", ctx, {"name": "tap-table"}),
                "policy": ecr_policy(50),
            },
            {"policy": ecr_policy(20)},
        ),
        changed=lambda found, change: same_document(found["lifecyclePolicyText"], change),
    ),
    "aws:cloudwatch/logGroup:LogGroup": Row(
        lambda _ctx: ({"name": "/tap/table"}, {"retentionInDays": 30.0}),
        changed=lambda found, _change: found["retentionInDays"] == 30,
        arn=lambda found: found["logGroupArn"].removesuffix(":*"),
    ),
    "aws:iam/role:Role": Row(
        lambda _ctx: (
            {"name": "tap-table", "assumeRolePolicy": trust_policy("lambda.amazonaws.com")},
            {"maxSessionDuration": 7200.0},
        ),
        changed=lambda found, _change: found["MaxSessionDuration"] == 7200,
        arn=lambda found: found["Arn"],
    ),
    "aws:iam/rolePolicy:RolePolicy": Row(
        lambda ctx: (
            {"role": role(ctx), "name": "inline", "policy": document("s3:GetObject")},
            {"policy": document("s3:PutObject")},
        ),
        changed=lambda found, _change: (
            found["PolicyDocument"]["Statement"][0]["Action"] == "s3:PutObject"
        ),
    ),
    "aws:codebuild/project:Project": Row(
        project,
        changed=lambda found, change: found["description"] == change["description"],
        arn=lambda found: found["arn"],
    ),
    "aws:lambda/function:Function": Row(
        lambda ctx: (function(ctx), {"memorySize": 256.0}),
        changed=lambda found, _change: found["Configuration"]["MemorySize"] == 256,
        arn=lambda found: found["Configuration"]["FunctionArn"],
    ),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": Row(
        lambda ctx: (
            {"functionName": made("aws:lambda/function:Function", ctx, function(ctx))},
            {"maximumRetryAttempts": 1.0},
        ),
        changed=lambda found, _change: found["MaximumRetryAttempts"] == 1,
        gap="moto appends a second invoke config instead of replacing it, and answers the first",
    ),
    "aws:codepipeline/pipeline:Pipeline": Row(
        pipeline, changed=lambda found, _change: found["executionMode"] == "QUEUED"
    ),
    "aws:ssm/parameter:Parameter": Row(
        lambda _ctx: ({"name": "/tap/table", "value": "a"}, {"value": "b"}),
        changed=lambda found, _change: found["Value"] == "b",
        arn=lambda found: found["ARN"],
    ),
    "aws:sns/topic:Topic": Row(
        lambda ctx: ({"name": "tap-table"}, {"kmsMasterKeyId": key(ctx)}),
        changed=lambda found, change: found["KmsMasterKeyId"] == change["kmsMasterKeyId"],
        arn=lambda found: found["TopicArn"],
    ),
    "aws:sns/topicPolicy:TopicPolicy": Row(
        lambda ctx: (
            {"arn": topic(ctx), "policy": document("sns:Publish")},
            {"policy": document("sns:Subscribe")},
        ),
        changed=same_document,
        # A topic always has a policy: deleting this one restores the default.
        deleted=lambda found: "__default_statement_ID" in found,
    ),
    "aws:sns/topicSubscription:TopicSubscription": Row(
        lambda ctx: (
            {"topic": topic(ctx), "protocol": "sqs", "endpoint": queue_arn(ctx)},
            None,
        ),
        arn=lambda found: found["SubscriptionArn"],
    ),
    "aws:sqs/queue:Queue": Row(
        lambda _ctx: ({"name": "tap-table"}, {"messageRetentionSeconds": 600.0}),
        changed=lambda found, _change: found["MessageRetentionPeriod"] == "600",
        arn=lambda found: found["QueueArn"],
    ),
    "aws:sqs/queuePolicy:QueuePolicy": Row(
        lambda ctx: (
            {"queueUrl": queue(ctx), "policy": document("sqs:SendMessage")},
            {"policy": document("sqs:*")},
        ),
        changed=same_document,
    ),
    "aws:cloudwatch/eventRule:EventRule": Row(
        lambda _ctx: (
            {"name": "tap-table", "eventPattern": json.dumps({"source": ["aws.s3"]})},
            {"state": "DISABLED"},
        ),
        changed=lambda found, _change: found["State"] == "DISABLED",
        arn=lambda found: found["Arn"],
    ),
    "aws:cloudwatch/eventTarget:EventTarget": Row(
        lambda ctx: (
            {"rule": rule(ctx), "targetId": "t", "arn": topic(ctx)},
            {"arn": queue_arn(ctx)},
        ),
        changed=lambda found, change: found["Arn"] == change["arn"],
    ),
}

for _table in (test_ec2.TABLE, test_elbv2.TABLE, test_ecs.TABLE):
    ROWS.update({token: Row(*spec) for token, spec in _table.items()})


def test_every_registered_type_has_a_row_and_no_other() -> None:
    assert sorted(REGISTRY) == sorted(ROWS)
    assert len(registry.TYPES) == len(REGISTRY), "two entries share a type token"


@pytest.mark.parametrize("token", sorted(REGISTRY))
def test_type_is_created_read_updated_and_deleted(token: str, ctx: Context) -> None:
    entry, operations, row = REGISTRY[token], HANDLERS[token], ROWS[token]
    assert operations.type == entry.type == token
    inputs, change = row.make(ctx)

    resource_id, outputs = operations.create(ctx, URN, inputs)
    found = operations.read(ctx, resource_id, inputs)
    assert found is not None
    if row.arn is not None:
        assert outputs["arn"] == row.arn(found)
    offline_id, offline = registry.synthesised(token, "t", inputs, ctx.account_id, ctx.region)
    assert offline.keys() == outputs.keys()  # the offline graph forms the same outputs
    if offline_id == resource_id:
        emulated = EMULATOR_OUTPUTS.get(token, set())
        assert {k: v for k, v in offline.items() if k not in emulated} == {
            k: v for k, v in outputs.items() if k not in emulated
        }
        for key in emulated:
            # The emulator's registry, where the offline graph names ECR's host.
            assert outputs[key].startswith(urlsplit(str(ctx.clients.endpoint_url)).netloc + "/")

    # A type that updates in place has a row that changes one input in place.
    assert (change is None) == (operations.update is None)
    if change is not None:
        assert operations.update is not None
        operations.update(ctx, resource_id, normalize(inputs), {**inputs, **change})
        shown = row.changed(operations.read(ctx, resource_id, inputs), change)
        if row.gap:
            assert not shown, f"the emulator shows the change now: drop the gap ({row.gap})"
        else:
            assert shown, "the change does not show in what read answers"

    operations.delete(ctx, resource_id, inputs)
    assert row.deleted(operations.read(ctx, resource_id, inputs))
    operations.delete(ctx, resource_id, inputs)  # deleting what is gone is fine
