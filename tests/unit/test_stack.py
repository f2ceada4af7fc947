"""The whole program under Pulumi's runtime mocks: security settings, names and wiring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import yaml
from conftest import (
    ACCOUNT_ID,
    RECORD_ONLY,
    REGION,
    Program,
    deploy_stack,
    deprecated_inputs,
    run_program,
)

import tap_cicd
from tap_cicd import documents
from tap_cicd.config import Settings
from tap_cicd.graph import offline_key_id
from tap_cicd.pipeline import CicdPipelineStack, CicdPipelineStackArgs
from tap_cicd.pipeline.build import buildspec
from tap_cicd.pipeline.delivery import user_parameters

KEY_ID = offline_key_id("tap-cicd-key")
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/{KEY_ID}"
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
PARAMETER = "aws:ssm/parameter:Parameter"


def statements_by_sid(program: Program, role_purpose: str) -> dict[str, dict[str, Any]]:
    """The statements of one role's inline policy, by Sid."""
    policy = json.loads(program.one(ROLE_POLICY, role_purpose).inputs["policy"])
    return {s["Sid"]: s for s in policy["Statement"]}


def by_bucket(program: Program, typ: str) -> dict[str, dict[str, Any]]:
    return {r.inputs["bucket"]: r.inputs for r in program.of(typ)}


def test_resource_inventory(default_program: Program, github_program: Program) -> None:
    def count(p: Program) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in p.nodes:
            counts[r.type] = counts.get(r.type, 0) + 1
        return counts

    default = count(default_program)
    assert default[BUCKET] == 3
    assert default[ROLE] == 4
    assert default[ROLE_POLICY] == 4
    assert default["aws:cloudwatch/eventRule:EventRule"] == 2
    assert default["aws:s3/bucketNotification:BucketNotification"] == 1
    assert "aws:sns/topicSubscription:TopicSubscription" not in default
    assert default[PARAMETER] == 1
    # Every custom resource of the S3-source stack is one of these kinds (nothing unplanned).
    assert {t for t in default if not t.startswith("tap:")} <= PLANNED_TYPES
    github = count(github_program)
    assert github[BUCKET] == 2
    assert github[ROLE] == 3
    assert github["aws:cloudwatch/eventRule:EventRule"] == 1
    assert github["aws:sns/topicSubscription:TopicSubscription"] == 1
    assert "aws:s3/bucketNotification:BucketNotification" not in github


COMPONENT_CHILDREN = {
    "tap:cicd:Encryption": {"aws:kms/key:Key", "aws:kms/alias:Alias"},
    "tap:cicd:HardenedBucket": {
        BUCKET,
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLogging:BucketLogging",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketNotification:BucketNotification",
    },
    "tap:cicd:Registry": {
        "aws:ecr/repository:Repository",
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
    },
    "tap:cicd:Notifications": {
        "aws:sns/topic:Topic",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:sqs/queue:Queue",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/eventTarget:EventTarget",
    },
    "tap:cicd:Build": {
        "aws:cloudwatch/logGroup:LogGroup",
        ROLE,
        ROLE_POLICY,
        "aws:codebuild/project:Project",
    },
    "tap:cicd:DeployStep": {
        "aws:cloudwatch/logGroup:LogGroup",
        PARAMETER,
        ROLE,
        ROLE_POLICY,
        "aws:lambda/function:Function",
        "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
    },
    "tap:cicd:Delivery": {
        ROLE,
        ROLE_POLICY,
        "aws:codepipeline/pipeline:Pipeline",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/eventTarget:EventTarget",
    },
}
PLANNED_TYPES = set().union(*COMPONENT_CHILDREN.values())


def test_every_resource_belongs_to_the_component_of_its_concern(program: Program) -> None:
    """Each part owns its resources, role and policy; the parts are the pipeline's children."""
    nodes = program.by_urn()
    pipeline = program.one("tap:cicd:CicdPipelineStack")
    assert pipeline.parent == program.one("tap:index:TapStack").urn
    parts = [n for n in program.nodes if not n.custom and n.type in COMPONENT_CHILDREN]
    assert {p.type for p in parts} == set(COMPONENT_CHILDREN)
    assert all(p.parent == pipeline.urn for p in parts)
    custom = [n for n in program.nodes if n.custom]
    for resource in custom:
        assert resource.parent is not None
        owner = nodes[resource.parent]
        assert resource.type in COMPONENT_CHILDREN.get(owner.type, set()), resource.urn
    # Each role sits with the service that uses it: one role per part that has one.
    roles = {nodes[r.parent].type for r in custom if r.type == ROLE and r.parent}
    assert roles == {"tap:cicd:Build", "tap:cicd:DeployStep", "tap:cicd:Delivery"}


def test_no_deprecation_reported_and_only_known_invokes(program: Program) -> None:
    assert [w for w in program.warnings if "deprecated" in w] == []
    assert deprecated_inputs(program.nodes) == []
    assert set(program.invokes) == {
        "aws:index/getCallerIdentity:getCallerIdentity",
        "aws:index/getRegion:getRegion",
        "aws:index/getPartition:getPartition",
    }


def test_names_follow_the_convention(default_program: Program) -> None:
    physical = {r.type: r.inputs.get("name") for r in default_program.nodes if "name" in r.inputs}
    assert physical["aws:ecr/repository:Repository"] == "pipeline-images-dev"
    assert physical["aws:codebuild/project:Project"] == "pipeline-build-dev"
    assert physical["aws:codepipeline/pipeline:Pipeline"] == "pipeline-pipeline-dev"
    assert physical["aws:lambda/function:Function"] == "pipeline-deploy-dev"
    assert physical["aws:sns/topic:Topic"] == "pipeline-notifications-dev"
    assert physical["aws:kms/alias:Alias"] == "alias/pipeline-key-dev"
    roles = sorted(r.inputs["name"] for r in default_program.of(ROLE))
    assert roles == [
        "pipeline-build-role-dev",
        "pipeline-deploy-role-dev",
        "pipeline-pipeline-role-dev",
        "pipeline-source-events-role-dev",
    ]
    buckets = sorted(r.inputs["bucket"] for r in default_program.of(BUCKET))
    assert buckets == [
        f"pipeline-access-logs-{ACCOUNT_ID}-dev",
        f"pipeline-artifacts-{ACCOUNT_ID}-dev",
        f"pipeline-source-{ACCOUNT_ID}-dev",
    ]


def test_custom_prefix_and_suffix_reach_every_name() -> None:
    program = deploy_stack({**RECORD_ONLY, "namePrefix": "shop", "environmentSuffix": "pr-7"})
    for resource in program.nodes:
        name = resource.inputs.get("name") or resource.inputs.get("bucket")
        if isinstance(name, str) and resource.type not in (ROLE_POLICY, PARAMETER):
            assert "shop-" in name, name
            assert name.endswith("-pr-7"), name
    # SSM names are paths: the prefix and suffix are its segments.
    assert program.one(PARAMETER).inputs["name"] == "/shop/pr-7/release"
    assert program.outputs["pipelineName"] == "shop-pipeline-pr-7"


def test_tags_on_every_taggable_resource(github_program: Program) -> None:
    expected = {"Project": "pipeline", "Environment": "dev", "ManagedBy": "tap", "CostCenter": "42"}
    tagged = [r for r in github_program.nodes if "tags" in r.inputs]
    assert len(tagged) >= 12
    for resource in tagged:
        assert resource.inputs["tags"] == expected, resource.name
    taggable = {
        BUCKET,
        ROLE,
        "aws:kms/key:Key",
        "aws:lambda/function:Function",
        "aws:ecr/repository:Repository",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:codebuild/project:Project",
        "aws:codepipeline/pipeline:Pipeline",
        "aws:sns/topic:Topic",
        "aws:sqs/queue:Queue",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:ssm/parameter:Parameter",
    }
    # Every resource of a taggable type carries the tags, not only some of them.
    for resource in github_program.nodes:
        if resource.type in taggable:
            assert resource.inputs.get("tags") == expected, resource.name


def test_kms_key(program: Program) -> None:
    key = program.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    policy = json.loads(key.inputs["policy"])
    for statement in policy["Statement"]:
        assert statement["Principal"] != "*"
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
    by_sid = {st["Sid"]: st for st in policy["Statement"]}
    # EventBridge's delivery to the encrypted topic and queue sends KMS no source context.
    assert "Condition" not in by_sid["EventBridgeDeliveries"]
    assert by_sid["EventBridgeDeliveries"]["Principal"] == {"Service": "events.amazonaws.com"}
    logs = by_sid["CloudWatchLogsOfThisStack"]["Condition"]["ArnEquals"]
    assert logs["kms:EncryptionContext:aws:logs:arn"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}"
        for group in ("/aws/codebuild/pipeline-build-dev", "/aws/lambda/pipeline-deploy-dev")
    ]
    assert program.one("aws:kms/alias:Alias").inputs["targetKeyId"] == KEY_ID
    assert len(program.of("aws:kms/key:Key")) == 1


def test_buckets_are_hardened(program: Program) -> None:
    buckets = [r.inputs["bucket"] for r in program.of(BUCKET)]
    blocks = by_bucket(program, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    ownership = by_bucket(program, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    versioning = by_bucket(program, "aws:s3/bucketVersioning:BucketVersioning")
    encryption = by_bucket(
        program,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    lifecycle = by_bucket(
        program, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    )
    policies = by_bucket(program, "aws:s3/bucketPolicy:BucketPolicy")
    logging_ = by_bucket(program, "aws:s3/bucketLogging:BucketLogging")
    log_bucket = f"pipeline-access-logs-{ACCOUNT_ID}-dev"
    for bucket in buckets:
        resource = next(r for r in program.of(BUCKET) if r.inputs["bucket"] == bucket)
        assert resource.inputs["forceDestroy"] is True
        flags = (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
        assert all(blocks[bucket][f] is True for f in flags)
        assert ownership[bucket]["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        assert versioning[bucket]["versioningConfiguration"] == {"status": "Enabled"}
        [rule] = encryption[bucket]["rules"]
        default = rule["applyServerSideEncryptionByDefault"]
        if bucket == log_bucket:
            assert default == {"sseAlgorithm": "AES256"}
            assert rule["bucketKeyEnabled"] is False  # a bucket key is for SSE-KMS only
        else:
            assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}
            assert rule["bucketKeyEnabled"] is True
            assert logging_[bucket]["targetBucket"] == log_bucket
            assert logging_[bucket]["targetPrefix"] == f"{bucket}/"
        rules = {r["id"]: r for r in lifecycle[bucket]["rules"]}
        if bucket.startswith("pipeline-source-"):
            # The current source.zip never expires: a quiet service must still be able to run.
            assert not any("expiration" in r for r in rules.values())
            objects = rules["expire-noncurrent-versions"]
        else:
            objects = rules["expire-old-objects"]
            assert objects["expiration"]["days"] in (90, 365)
        assert objects["noncurrentVersionExpiration"]["noncurrentDays"] == 30
        assert "abortIncompleteMultipartUpload" in rules["abort-incomplete-uploads"]
        deny = json.loads(policies[bucket]["policy"])["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert deny["Resource"] == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    assert log_bucket not in logging_
    log_policy = json.loads(policies[log_bucket]["policy"])["Statement"]
    assert log_policy[1]["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    logged = sorted(f"arn:aws:s3:::{b}" for b in buckets if b != log_bucket)
    assert sorted(log_policy[1]["Condition"]["ArnLike"]["aws:SourceArn"]) == logged


def test_ecr_repository(program: Program) -> None:
    repo = program.one("aws:ecr/repository:Repository").inputs
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo["encryptionConfigurations"] == [{"encryptionType": "KMS", "kmsKey": KEY_ARN}]
    assert repo["forceDelete"] is True
    policy = program.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs
    assert policy["repository"] == "pipeline-images-dev"
    rules = json.loads(policy["policy"])["rules"]
    assert [(r["rulePriority"], r["selection"]) for r in rules] == [
        (
            1,
            {
                "tagStatus": "tagged",
                "tagPrefixList": ["release-"],
                "countType": "imageCountMoreThan",
                "countNumber": 100,
            },
        ),
        (
            2,
            {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 7,
            },
        ),
        (3, {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 50}),
    ]
    assert all(r["action"] == {"type": "expire"} for r in rules)
    assert "aws:ecr/repositoryPolicy:RepositoryPolicy" not in {r.type for r in program.nodes}


def test_log_groups(program: Program) -> None:
    groups = {r.inputs["name"]: r.inputs for r in program.of("aws:cloudwatch/logGroup:LogGroup")}
    assert set(groups) == {"/aws/codebuild/pipeline-build-dev", "/aws/lambda/pipeline-deploy-dev"}
    for group in groups.values():
        assert group["retentionInDays"] == 365
        assert group["kmsKeyId"] == KEY_ARN


def test_log_retention_is_configurable() -> None:
    program = deploy_stack({**RECORD_ONLY, "logRetentionDays": "30"})
    groups = program.of("aws:cloudwatch/logGroup:LogGroup")
    assert [g.inputs["retentionInDays"] for g in groups] == [30, 30]


def test_codebuild_project_default(default_program: Program) -> None:
    project = default_program.one("aws:codebuild/project:Project").inputs
    assert project["source"]["type"] == "CODEPIPELINE"
    # The buildspec versioned in the package, not one taken from the source being built.
    packaged = (Path(tap_cicd.__file__).parent / "buildspec.yml").read_text(encoding="utf-8")
    assert project["source"]["buildspec"] == packaged
    assert "export IMAGE_DIGEST=" in packaged
    assert project["artifacts"] == {"type": "CODEPIPELINE"}
    assert project["encryptionKey"] == KEY_ARN
    assert project["serviceRole"] == f"arn:aws:iam::{ACCOUNT_ID}:role/pipeline-build-role-dev"
    env = project["environment"]
    assert env["privilegedMode"] is True
    assert env["computeType"] == "BUILD_GENERAL1_SMALL"
    assert env["type"] == "LINUX_CONTAINER"
    assert env["image"] == "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    assert env["imagePullCredentialsType"] == "CODEBUILD"
    variables = {v["name"]: v for v in env["environmentVariables"]}
    assert {v["type"] for v in variables.values()} == {"PLAINTEXT"}
    assert variables["REPOSITORY_URI"]["value"] == (
        f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/pipeline-images-dev"
    )
    assert variables["AWS_ACCOUNT_ID"]["value"] == ACCOUNT_ID
    assert variables["AWS_DEFAULT_REGION"]["value"] == REGION
    assert variables["IMAGE_REPO_NAME"]["value"] == "pipeline-images-dev"
    assert variables["TEST_COMMAND"]["value"] == ""
    assert project["cache"] == {
        "type": "LOCAL",
        "modes": ["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE"],
    }
    assert project["logsConfig"]["cloudwatchLogs"] == {
        "status": "ENABLED",
        "groupName": "/aws/codebuild/pipeline-build-dev",
    }


def test_codebuild_project_arm64_and_compute() -> None:
    program = deploy_stack(
        {
            **RECORD_ONLY,
            "buildArchitecture": "arm64",
            "codeBuildComputeType": "BUILD_GENERAL1_LARGE",
            "testCommand": "make check",
        }
    )
    env = program.one("aws:codebuild/project:Project").inputs["environment"]
    assert env["type"] == "ARM_CONTAINER"
    assert env["image"] == "aws/codebuild/amazonlinux-aarch64-standard:3.0"
    assert env["computeType"] == "BUILD_GENERAL1_LARGE"
    variables = {v["name"]: v["value"] for v in env["environmentVariables"]}
    assert variables["TEST_COMMAND"] == "make check"


def test_pipeline_default_s3_source(default_program: Program) -> None:
    pipeline = default_program.one("aws:codepipeline/pipeline:Pipeline").inputs
    assert pipeline["pipelineType"] == "V2"
    assert pipeline["executionMode"] == "QUEUED"
    assert isinstance(pipeline["artifactStores"], list)
    assert pipeline["artifactStores"] == [
        {
            "location": f"pipeline-artifacts-{ACCOUNT_ID}-dev",
            "type": "S3",
            "encryptionKey": {"id": KEY_ARN, "type": "KMS"},
        }
    ]
    stages = pipeline["stages"]
    assert [s["name"] for s in stages] == ["Source", "Build", "Deploy"]
    [source], [build], [deploy] = (s["actions"] for s in stages)
    assert (source["category"], source["provider"]) == ("Source", "S3")
    assert source["configuration"] == {
        "S3Bucket": f"pipeline-source-{ACCOUNT_ID}-dev",
        "S3ObjectKey": "source.zip",
        "PollForSourceChanges": "false",
    }
    assert (build["category"], build["provider"]) == ("Build", "CodeBuild")
    assert build["configuration"] == {"ProjectName": "pipeline-build-dev"}
    assert build["inputArtifacts"] == source["outputArtifacts"]
    assert (deploy["category"], deploy["provider"]) == ("Invoke", "Lambda")
    assert deploy["inputArtifacts"] == build["outputArtifacts"]
    assert deploy["configuration"]["FunctionName"] == "pipeline-deploy-dev"
    params = json.loads(deploy["configuration"]["UserParameters"])
    assert params == user_parameters("pipeline-images-dev", "dev", "HIGH", "s3")
    assert params["imageDigest"] == "#{BuildVariables.IMAGE_DIGEST}"
    assert params["pipelineExecutionId"] == "#{codepipeline.PipelineExecutionId}"
    assert params["sourceVersion"] == "#{SourceVariables.VersionId}"
    assert "commit" not in params
    assert build["namespace"] == "BuildVariables"
    assert "triggers" not in pipeline


def test_s3_source_starts_pipeline_through_eventbridge(default_program: Program) -> None:
    notification = default_program.one("aws:s3/bucketNotification:BucketNotification").inputs
    assert notification == {"bucket": f"pipeline-source-{ACCOUNT_ID}-dev", "eventbridge": True}
    rule = default_program.one("aws:cloudwatch/eventRule:EventRule", "source-change").inputs
    assert json.loads(rule["eventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [f"pipeline-source-{ACCOUNT_ID}-dev"]},
            "object": {"key": ["source.zip"]},
        },
    }
    target = default_program.one("aws:cloudwatch/eventTarget:EventTarget", "source-change").inputs
    pipeline_arn = f"arn:aws:codepipeline:{REGION}:{ACCOUNT_ID}:pipeline-pipeline-dev"
    assert target["arn"] == pipeline_arn
    assert target["roleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/pipeline-source-events-role-dev"
    # A lost start would go unnoticed: retried, then dead-lettered like notifications.
    assert target["retryPolicy"] == {"maximumRetryAttempts": 8, "maximumEventAgeInSeconds": 3600}
    assert target["deadLetterConfig"] == {
        "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:pipeline-events-dlq-dev"
    }
    role = default_program.one(ROLE, "source-events-role").inputs
    trust = json.loads(role["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"] == (
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/pipeline-source-change-dev"
    )
    policy = json.loads(default_program.one(ROLE_POLICY, "source-events").inputs["policy"])
    assert policy["Statement"] == [
        {
            "Sid": "StartOwnPipeline",
            "Effect": "Allow",
            "Action": ["codepipeline:StartPipelineExecution"],
            "Resource": [pipeline_arn],
        }
    ]


def test_pipeline_github_source_and_trigger(github_program: Program) -> None:
    pipeline = github_program.one("aws:codepipeline/pipeline:Pipeline").inputs
    [source] = pipeline["stages"][0]["actions"]
    assert source["provider"] == "CodeStarSourceConnection"
    assert source["configuration"]["FullRepositoryId"] == "acme/service"
    assert source["configuration"]["BranchName"] == "release"
    assert source["configuration"]["ConnectionArn"].startswith("arn:aws:codestar-connections:")
    assert pipeline["triggers"] == [
        {
            "providerType": "CodeStarSourceConnection",
            "gitConfiguration": {
                "sourceActionName": "Source",
                "pushes": [
                    {
                        "branches": {"includes": ["release"]},
                        "filePaths": {"includes": ["src/**", "Dockerfile"]},
                    }
                ],
            },
        }
    ]
    assert "sourceBucketName" not in github_program.outputs
    [deploy] = pipeline["stages"][2]["actions"]
    params = json.loads(deploy["configuration"]["UserParameters"])
    assert params["commit"] == "#{SourceVariables.CommitId}"
    assert "sourceVersion" not in params


def test_github_trigger_without_file_paths() -> None:
    from conftest import GITHUB

    program = deploy_stack({**RECORD_ONLY, **GITHUB, "filePaths": None})
    [trigger] = program.one("aws:codepipeline/pipeline:Pipeline").inputs["triggers"]
    assert trigger["gitConfiguration"]["pushes"] == [{"branches": {"includes": ["release"]}}]


def test_deploy_concurrency_is_reserved_only_when_configured() -> None:
    program = deploy_stack({**RECORD_ONLY, "deployConcurrency": "2"})
    function = program.one("aws:lambda/function:Function").inputs
    assert function["reservedConcurrentExecutions"] == 2


def test_deploy_function(program: Program) -> None:
    function = program.one("aws:lambda/function:Function").inputs
    assert function["runtime"] == "python3.13"
    assert function["handler"] == "tap_cicd.deploy.handler.handler"
    assert function["timeout"] == 300
    assert function["memorySize"] == 256
    # Opt-in only: AWS refuses a reservation leaving fewer than 100 unreserved executions.
    assert "reservedConcurrentExecutions" not in function
    assert function["tracingConfig"] == {"mode": "Active"}
    assert function["kmsKeyArn"] == KEY_ARN
    assert function["loggingConfig"]["logGroup"] == "/aws/lambda/pipeline-deploy-dev"
    code = function["code"]
    assert isinstance(code, pulumi.AssetArchive)
    deploy_package = Path(tap_cicd.__file__).parent / "deploy"
    # The deploy package whole (the rollout's modules included), and nothing else.
    assert set(code.assets) == {
        "tap_cicd/__init__.py",
        *(f"tap_cicd/deploy/{p.name}" for p in deploy_package.glob("*.py")),
    }
    assert set(code.assets) >= {
        "tap_cicd/deploy/__init__.py",
        "tap_cicd/deploy/aws.py",
        "tap_cicd/deploy/events.py",
        "tap_cicd/deploy/handler.py",
        "tap_cicd/deploy/failures.py",
        "tap_cicd/deploy/logic.py",
        "tap_cicd/deploy/releases.py",
        "tap_cicd/deploy/scanning.py",
    }
    assert function["environment"]["variables"] == {
        "LOG_LEVEL": "INFO",
        "TAP_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:pipeline-notifications-dev",
        "TAP_RELEASE_PARAMETER": "/pipeline/dev/release",
        "TAP_REPOSITORY_NAME": "pipeline-images-dev",
        "TAP_FAIL_ON_SEVERITY": "HIGH",
        "TAP_ALLOWED_FINDINGS": "",
        "TAP_SCAN_WAIT_SECONDS": "900",
        "TAP_DEPLOY_TARGET": "none",
    }
    invoke = program.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig").inputs
    assert invoke["maximumRetryAttempts"] == 0
    assert invoke["maximumEventAgeInSeconds"] <= 1200
    assert invoke["destinationConfig"]["onFailure"]["destination"] == (
        f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:pipeline-deploy-dlq-dev"
    )
    assert "aws:lambda/permission:Permission" not in {r.type for r in program.nodes}


def test_release_parameter_is_created_by_the_stack_and_owned_by_the_function(
    program: Program,
) -> None:
    parameter = program.one(PARAMETER)
    assert parameter.inputs["name"] == "/pipeline/dev/release"
    assert parameter.inputs["type"] == "String"
    # pulumi-aws marks ``value`` secret: the mock sees the secret wrapper.
    value = parameter.inputs["value"]
    assert json.loads(value["value"] if isinstance(value, dict) else value) == {"imageDigest": None}
    assert parameter.ignore_changes == ["value"]
    assert "tap:cicd:DeployStep$" in parameter.urn


def test_deploy_settings_reach_the_function() -> None:
    program = deploy_stack(
        {
            **RECORD_ONLY,
            "failOnSeverity": "CRITICAL",
            "allowedFindings": '["CVE-2024-1", "CVE-2024-2"]',
        }
    )
    variables = program.one("aws:lambda/function:Function").inputs["environment"]["variables"]
    assert variables["TAP_FAIL_ON_SEVERITY"] == "CRITICAL"
    assert variables["TAP_ALLOWED_FINDINGS"] == "CVE-2024-1,CVE-2024-2"


def test_deploy_role_is_scoped_to_the_steps_resources(program: Program) -> None:
    by_sid = statements_by_sid(program, "deploy-role")
    assert by_sid["VerifyImageFindingsAndTagRelease"]["Resource"] == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT_ID}:repository/pipeline-images-dev"
    ]
    assert by_sid["RecordRelease"]["Resource"] == [
        f"arn:aws:ssm:{REGION}:{ACCOUNT_ID}:parameter/pipeline/dev/release"
    ]
    assert by_sid["AnnounceRelease"]["Resource"] == [
        f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:pipeline-notifications-dev"
    ]
    star = [s for s in by_sid.values() if "*" in s["Resource"]]
    assert {a for s in star for a in s["Action"]} <= set(documents.STAR_ONLY_ACTIONS)


def test_roles_trust_one_service_with_conditions(program: Program) -> None:
    expected = {
        "pipeline-role": "codepipeline.amazonaws.com",
        "build-role": "codebuild.amazonaws.com",
        "deploy-role": "lambda.amazonaws.com",
    }
    for purpose, service in expected.items():
        role = program.one(ROLE, f"-{purpose}").inputs
        [statement] = json.loads(role["assumeRolePolicy"])["Statement"]
        assert statement["Principal"] == {"Service": service}
        if purpose == "build-role":
            assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}
            project = f"arn:aws:codebuild:{REGION}:{ACCOUNT_ID}:project/pipeline-build-dev"
            assert statement["Condition"]["ArnLike"] == {"aws:SourceArn": project}
        else:
            # Lambda and CodePipeline send no source keys: a condition would lock them out.
            assert "Condition" not in statement
        assert "managedPolicyArns" not in role
    assert "aws:iam/rolePolicyAttachment:RolePolicyAttachment" not in {
        r.type for r in program.nodes
    }


def test_every_role_policy_is_least_privilege(program: Program) -> None:
    policies = program.of(ROLE_POLICY)
    assert policies
    for resource in policies:
        for statement in json.loads(resource.inputs["policy"])["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"]
            assert all(not a.endswith(":*") and a != "*" for a in actions), actions
            if "*" in statement["Resource"]:
                assert set(actions) <= set(documents.STAR_ONLY_ACTIONS), statement
            assert "iam:PassRole" not in actions


def test_pipeline_role_scoped_to_own_resources(default_program: Program) -> None:
    by_sid = statements_by_sid(default_program, "pipeline-role")
    assert by_sid["StartOwnBuild"]["Resource"] == [
        f"arn:aws:codebuild:{REGION}:{ACCOUNT_ID}:project/pipeline-build-dev"
    ]
    assert by_sid["InvokeOwnDeployFunction"]["Resource"] == [
        f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:pipeline-deploy-dev"
    ]


def test_notifications(program: Program) -> None:
    topic = program.one("aws:sns/topic:Topic").inputs
    assert topic["kmsMasterKeyId"] == KEY_ARN
    rule = program.one("aws:cloudwatch/eventRule:EventRule", "pipeline-state").inputs
    pipeline_arn = f"arn:aws:codepipeline:{REGION}:{ACCOUNT_ID}:pipeline-pipeline-dev"
    assert json.loads(rule["eventPattern"]) == {
        "source": ["aws.codepipeline"],
        "detail-type": ["CodePipeline Pipeline Execution State Change"],
        "resources": [pipeline_arn],
        "detail": {"state": ["FAILED", "SUCCEEDED", "STOPPED"]},
    }
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/pipeline-pipeline-state-dev"
    policy = json.loads(program.one("aws:sns/topicPolicy:TopicPolicy").inputs["policy"])
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:pipeline-notifications-dev"
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeRuleOfThisStack",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }
    target = program.one("aws:cloudwatch/eventTarget:EventTarget", "pipeline-state").inputs
    assert target["arn"] == topic_arn
    assert target["retryPolicy"] == {"maximumRetryAttempts": 8, "maximumEventAgeInSeconds": 3600}
    dlq_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:pipeline-events-dlq-dev"
    assert target["deadLetterConfig"] == {"arn": dlq_arn}
    template = target["inputTransformer"]["inputTemplate"]
    assert template.startswith('"Pipeline <pipeline> execution <execution> is <state> (<time>).')
    assert target["inputTransformer"]["inputPaths"] == {
        "pipeline": "$.detail.pipeline",
        "execution": "$.detail.execution-id",
        "state": "$.detail.state",
        "time": "$.time",
        "region": "$.region",
    }
    for queue in program.of("aws:sqs/queue:Queue"):
        assert queue.inputs["kmsMasterKeyId"] == KEY_ARN
    queue_policy = json.loads(program.one("aws:sqs/queuePolicy:QueuePolicy").inputs["policy"])
    source_rule = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/pipeline-source-change-dev"
    rules = (
        [rule_arn, source_rule]
        if program.of("aws:s3/bucketNotification:BucketNotification")
        else [rule_arn]
    )
    assert queue_policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "EventBridgeDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": dlq_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rules}},
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": dlq_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def test_email_subscription(github_program: Program) -> None:
    subscription = github_program.one("aws:sns/topicSubscription:TopicSubscription").inputs
    assert subscription["protocol"] == "email"
    assert subscription["endpoint"] == "team@example.com"


def test_outputs(default_program: Program) -> None:
    outputs = default_program.outputs
    assert outputs == {
        "artifactBucketName": f"pipeline-artifacts-{ACCOUNT_ID}-dev",
        "sourceBucketName": f"pipeline-source-{ACCOUNT_ID}-dev",
        "ecrRepositoryName": "pipeline-images-dev",
        "ecrRepositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/pipeline-images-dev",
        "codeBuildProjectName": "pipeline-build-dev",
        "pipelineName": "pipeline-pipeline-dev",
        "pipelineArn": f"arn:aws:codepipeline:{REGION}:{ACCOUNT_ID}:pipeline-pipeline-dev",
        "deployFunctionName": "pipeline-deploy-dev",
        "deployFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:pipeline-deploy-dev",
        "notificationTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:pipeline-notifications-dev",
        "eventRuleName": "pipeline-pipeline-state-dev",
        "kmsKeyArn": KEY_ARN,
        "region": REGION,
    }


@pulumi.runtime.test
def test_component_attributes_resolve() -> pulumi.Output[None]:
    component = CicdPipelineStack("direct", CicdPipelineStackArgs(Settings.from_raw({})))

    def check(values: list[Any]) -> None:
        name, url, region = values
        assert name == "pipeline-pipeline-dev"
        assert url.endswith("/pipeline-images-dev")
        assert region == REGION

    return pulumi.Output.all(
        component.pipeline_name, component.ecr_repository_url, component.region
    ).apply(check)


def test_buildspec_is_valid_and_strict() -> None:
    text = buildspec()
    spec = yaml.safe_load(text)
    assert spec["version"] == 0.2
    assert list(spec["phases"]) == ["pre_build", "build", "post_build"]
    assert all(phase["on-failure"] == "ABORT" for phase in spec["phases"].values())
    assert spec["env"]["exported-variables"] == ["IMAGE_DIGEST", "IMAGE_URI", "IMAGE_TAG"]
    assert spec["artifacts"]["files"] == ["imageDetail.json"]
    commands = [c for phase in spec["phases"].values() for c in phase["commands"]]
    assert "|| echo" not in text
    assert "|| true" not in text
    assert any("docker login" in c for c in commands)
    assert any("TEST_COMMAND" in c for c in commands)
    assert any(c.startswith("docker build") for c in commands)
    assert any(c.startswith("docker push") for c in commands)
    assert any("imageDetail.json" in c and "ImageURI" in c for c in commands)
    assert any(c.startswith("export IMAGE_URI=") and "@${IMAGE_DIGEST}" in c for c in commands)


def test_deprecation_guards_can_fail() -> None:
    """A deprecated resource reaches the engine log; a deprecated input is found by its marker."""
    import warnings

    import pulumi_aws as aws

    def body() -> dict[str, pulumi.Output[Any]]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            legacy = aws.s3.BucketV2("legacy")
            acl = aws.s3.Bucket("acl", acl="private")
        return {"legacy": legacy.id, "acl": acl.id}

    program = run_program(body)
    assert any("BucketV2 is deprecated" in w for w in program.warnings)
    assert deprecated_inputs(program.nodes) == ["aws:s3/bucket:Bucket acl: acl is deprecated"]
