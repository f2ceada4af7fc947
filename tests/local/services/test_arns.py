"""arns: the IAM actions and resource ARNs AWS authorizes calls on.

Each case is a request boto3 builds (never sent), identified by ``operations.identify``; the
rules are cited, service by service, in ``arns``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tap_cicd.local.services import arns

from .test_operations import ACCOUNT, ENDPOINT, REGION, call, grants, recorder

OTHER = "444455556666"
S3 = "arn:aws:s3:::artifacts"
B, K = {"Bucket": "artifacts"}, {"Bucket": "artifacts", "Key": "k"}
UP = {**K, "UploadId": "u"}
PIPE = "arn:aws:codepipeline:us-east-1:111122223333:deploy"
FN = "arn:aws:lambda:us-east-1:444455556666:function:deploy"
TOPIC = "arn:aws:sns:us-east-1:111122223333:releases"
GROUP = "arn:aws:logs:us-east-1:111122223333:log-group:/aws/codebuild/app"
G = {"logGroupName": "/aws/codebuild/app"}
KEY_ARN = "arn:aws:kms:us-east-1:444455556666:key/1234abcd"
BLOB = {"CiphertextBlob": b"blob"}
EVENT = {"Source": "tap", "DetailType": "release", "Detail": "{}"}
TASK = {"family": "app", "containerDefinitions": [{"name": "app", "image": "app:1"}]}
ROLE = "arn:aws:iam::111122223333:role/deploy"
SECRET = "arn:aws:secretsmanager:us-east-1:111122223333:secret:db"
APPROVAL = {"result": {"summary": "ok", "status": "Approved"}, "token": "t"}
FAILURE = {"type": "JobFailed", "message": "m"}
OTHER_BUILD = f"arn:aws:codebuild:{REGION}:{OTHER}:build/web:3"


def r(resource: str) -> str:
    """A resource of the test account and region: ``r("ecr:repository/app")``."""
    service, _, rest = resource.partition(":")
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"


# (service.method, params, ["action resource", ...])
CASES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("s3.put_object", {**B, "Key": "a/b c.txt", "Body": b"x"}, [f"s3:PutObject {S3}/a/b c.txt"]),
    ("s3.get_object", K, [f"s3:GetObject {S3}/k"]),
    ("s3.get_object", {**K, "VersionId": "v1"}, [f"s3:GetObjectVersion {S3}/k"]),
    ("s3.get_object", {**B, "Key": "dir/"}, [f"s3:GetObject {S3}/dir/"]),
    ("s3.head_object", K, [f"s3:GetObject {S3}/k"]),
    ("s3.head_object", {**K, "VersionId": "v"}, [f"s3:GetObjectVersion {S3}/k"]),
    ("s3.copy_object", {**K, "CopySource": {"Bucket": "src", "Key": "a b", "VersionId": "v2"}},
     ["s3:GetObjectVersion arn:aws:s3:::src/a b", f"s3:PutObject {S3}/k"]),
    ("s3.copy_object", {**K, "CopySource": "/src/dir/a"},
     ["s3:GetObject arn:aws:s3:::src/dir/a", f"s3:PutObject {S3}/k"]),
    ("s3.upload_part_copy", {**UP, "CopySource": "src/a", "PartNumber": 1},
     ["s3:GetObject arn:aws:s3:::src/a", f"s3:PutObject {S3}/k"]),
    ("s3.list_objects_v2", B, [f"s3:ListBucket {S3}"]),
    ("s3.list_objects", B, [f"s3:ListBucket {S3}"]),
    ("s3.head_bucket", B, [f"s3:ListBucket {S3}"]),
    ("s3.list_object_versions", B, [f"s3:ListBucketVersions {S3}"]),
    ("s3.get_bucket_versioning", B, [f"s3:GetBucketVersioning {S3}"]),
    ("s3.get_bucket_acl", B, [f"s3:GetBucketAcl {S3}"]),
    ("s3.get_bucket_location", B, [f"s3:GetBucketLocation {S3}"]),
    ("s3.get_bucket_encryption", B, [f"s3:GetEncryptionConfiguration {S3}"]),
    ("s3.create_multipart_upload", K, [f"s3:PutObject {S3}/k"]),
    ("s3.upload_part", {**UP, "PartNumber": 1, "Body": b"x"}, [f"s3:PutObject {S3}/k"]),
    ("s3.list_parts", UP, [f"s3:ListMultipartUploadParts {S3}/k"]),
    ("s3.abort_multipart_upload", UP, [f"s3:AbortMultipartUpload {S3}/k"]),
    ("s3.delete_object", {**K, "VersionId": "v"}, [f"s3:DeleteObjectVersion {S3}/k"]),
    ("s3.delete_objects", {**B, "Delete": {"Objects": [{"Key": "k"}]}},
     [f"s3:DeleteObject {S3}/*"]),
    ("s3.get_object_tagging", {**K, "VersionId": "v"}, [f"s3:GetObjectVersionTagging {S3}/k"]),
    ("s3.put_object_tagging", {**K, "Tagging": {"TagSet": []}}, [f"s3:PutObjectTagging {S3}/k"]),
    ("s3.list_buckets", {}, ["s3:ListAllMyBuckets *"]),
    ("codebuild.start_build", {"projectName": "app"},
     [f"codebuild:StartBuild {r('codebuild:project/app')}"]),
    ("codebuild.batch_get_builds", {"ids": ["app:1", "app:2", OTHER_BUILD]},
     [f"codebuild:BatchGetBuilds {r('codebuild:project/app')}",
      f"codebuild:BatchGetBuilds arn:aws:codebuild:{REGION}:{OTHER}:project/web"]),
    ("codebuild.stop_build", {"id": "app:1"},
     [f"codebuild:StopBuild {r('codebuild:project/app')}"]),
    ("codebuild.batch_get_projects", {"names": ["app", r("codebuild:project/web")]},
     [f"codebuild:BatchGetProjects {r('codebuild:project/app')}",
      f"codebuild:BatchGetProjects {r('codebuild:project/web')}"]),
    ("codebuild.list_projects", {}, ["codebuild:ListProjects *"]),
    ("codepipeline.put_job_success_result", {"jobId": "j"},
     ["codepipeline:PutJobSuccessResult *"]),
    ("codepipeline.put_job_failure_result", {"jobId": "j", "failureDetails": FAILURE},
     ["codepipeline:PutJobFailureResult *"]),
    ("codepipeline.start_pipeline_execution", {"name": "deploy"},
     [f"codepipeline:StartPipelineExecution {PIPE}"]),
    ("codepipeline.get_pipeline_execution", {"pipelineName": "deploy", "pipelineExecutionId": "e"},
     [f"codepipeline:GetPipelineExecution {PIPE}"]),
    ("codepipeline.put_approval_result",
     {"pipelineName": "deploy", "stageName": "A", "actionName": "B", **APPROVAL},
     [f"codepipeline:PutApprovalResult {PIPE}/A/B"]),
    ("ecr.get_authorization_token", {}, ["ecr:GetAuthorizationToken *"]),
    ("ecr.describe_images", {"repositoryName": "app"},
     [f"ecr:DescribeImages {r('ecr:repository/app')}"]),
    ("ecr.put_image", {"repositoryName": "app", "imageManifest": "{}", "registryId": OTHER},
     [f"ecr:PutImage arn:aws:ecr:{REGION}:{OTHER}:repository/app"]),
    ("ecr.batch_get_image", {"repositoryName": "app", "imageIds": [{"imageTag": "v1"}]},
     [f"ecr:BatchGetImage {r('ecr:repository/app')}"]),
    ("ecr.describe_image_scan_findings", {"repositoryName": "app", "imageId": {"imageTag": "v"}},
     [f"ecr:DescribeImageScanFindings {r('ecr:repository/app')}"]),
    ("ecr.batch_get_repository_scanning_configuration", {"repositoryNames": ["app", "web"]},
     [f"ecr:BatchGetRepositoryScanningConfiguration {r('ecr:repository/app')}",
      f"ecr:BatchGetRepositoryScanningConfiguration {r('ecr:repository/web')}"]),
    ("logs.create_log_group", G, [f"logs:CreateLogGroup {GROUP}"]),
    ("logs.create_log_stream", {**G, "logStreamName": "s"},
     [f"logs:CreateLogStream {GROUP}:log-stream:s"]),
    ("logs.put_log_events",
     {**G, "logStreamName": "s", "logEvents": [{"timestamp": 1, "message": "m"}]},
     [f"logs:PutLogEvents {GROUP}:log-stream:s"]),
    ("logs.describe_log_streams", {"logGroupIdentifier": f"{GROUP}:*"},
     [f"logs:DescribeLogStreams {GROUP}"]),
    ("logs.describe_log_groups", {}, ["logs:DescribeLogGroups *"]),
    ("ssm.get_parameter", {"Name": "/tap/release"},
     [f"ssm:GetParameter {r('ssm:parameter/tap/release')}"]),
    ("ssm.put_parameter", {"Name": "release", "Value": "v1", "Type": "String"},
     [f"ssm:PutParameter {r('ssm:parameter/release')}"]),
    ("ssm.get_parameters", {"Names": ["/a/b", "c:3", r("ssm:parameter/d")]},
     [f"ssm:GetParameters {r('ssm:parameter/a/b')}", f"ssm:GetParameters {r('ssm:parameter/c')}",
      f"ssm:GetParameters {r('ssm:parameter/d')}"]),
    ("ssm.get_parameters_by_path", {"Path": "/tap"},
     [f"ssm:GetParametersByPath {r('ssm:parameter/tap')}"]),
    ("ssm.describe_parameters", {}, ["ssm:DescribeParameters *"]),
    ("sns.publish", {"TopicArn": TOPIC, "Message": "m"}, [f"sns:Publish {TOPIC}"]),
    ("sns.publish", {"TargetArn": TOPIC, "Message": "m"}, [f"sns:Publish {TOPIC}"]),
    ("sns.publish_batch",
     {"TopicArn": TOPIC, "PublishBatchRequestEntries": [{"Id": "1", "Message": "m"}]},
     [f"sns:Publish {TOPIC}"]),
    ("sns.create_topic", {"Name": "releases"}, [f"sns:CreateTopic {TOPIC}"]),
    ("sns.list_topics", {}, ["sns:ListTopics *"]),
    ("sqs.send_message", {"QueueUrl": f"{ENDPOINT}/{OTHER}/dlq", "MessageBody": "m"},
     [f"sqs:SendMessage arn:aws:sqs:{REGION}:{OTHER}:dlq"]),
    ("sqs.send_message_batch",
     {"QueueUrl": "https://q/dlq", "Entries": [{"Id": "1", "MessageBody": "m"}]},
     [f"sqs:SendMessage {r('sqs:dlq')}"]),
    ("sqs.get_queue_url", {"QueueName": "dlq", "QueueOwnerAWSAccountId": OTHER},
     [f"sqs:GetQueueUrl arn:aws:sqs:{REGION}:{OTHER}:dlq"]),
    ("sqs.list_queues", {}, ["sqs:ListQueues *"]),
    ("kms.decrypt", {**BLOB, "KeyId": "alias/pipeline"},
     [f"kms:Decrypt {r('kms:alias/pipeline')}"]),
    ("kms.decrypt", BLOB, ["kms:Decrypt *"]),
    ("kms.generate_data_key", {"KeyId": "1234abcd"},
     [f"kms:GenerateDataKey {r('kms:key/1234abcd')}"]),
    ("kms.generate_data_key", {"KeyId": KEY_ARN}, [f"kms:GenerateDataKey {KEY_ARN}"]),
    ("kms.re_encrypt", {**BLOB, "DestinationKeyId": "alias/b"},
     ["kms:ReEncryptFrom *", f"kms:ReEncryptTo {r('kms:alias/b')}"]),
    ("lambda.invoke", {"FunctionName": "deploy"},
     [f"lambda:InvokeFunction {r('lambda:function:deploy')}"]),
    ("lambda.invoke", {"FunctionName": FN}, [f"lambda:InvokeFunction {FN}"]),
    ("lambda.invoke", {"FunctionName": FN, "Qualifier": "live"},
     [f"lambda:InvokeFunction {FN}:live"]),
    ("lambda.invoke", {"FunctionName": f"{FN}:3"}, [f"lambda:InvokeFunction {FN}:3"]),
    ("lambda.invoke", {"FunctionName": "deploy:live"},
     [f"lambda:InvokeFunction {r('lambda:function:deploy:live')}"]),
    ("lambda.invoke", {"FunctionName": f"{OTHER}:function:deploy"},
     [f"lambda:InvokeFunction {FN}"]),
    ("lambda.invoke_async", {"FunctionName": "deploy", "InvokeArgs": b"{}"},
     [f"lambda:InvokeFunction {r('lambda:function:deploy')}"]),
    ("lambda.get_function", {"FunctionName": "deploy"},
     [f"lambda:GetFunction {r('lambda:function:deploy')}"]),
    ("lambda.create_event_source_mapping", {"FunctionName": "deploy", "EventSourceArn": TOPIC},
     ["lambda:CreateEventSourceMapping *"]),
    ("lambda.list_functions", {}, ["lambda:ListFunctions *"]),
    ("ecs.describe_services", {"cluster": "tap", "services": ["web", r("ecs:service/tap/api")]},
     [f"ecs:DescribeServices {r('ecs:service/tap/web')}",
      f"ecs:DescribeServices {r('ecs:service/tap/api')}"]),
    ("ecs.describe_services", {"services": ["web"]},
     [f"ecs:DescribeServices {r('ecs:service/default/web')}"]),
    ("ecs.update_service", {"cluster": r("ecs:cluster/tap"), "service": "web"},
     [f"ecs:UpdateService {r('ecs:service/tap/web')}"]),
    ("ecs.register_task_definition", TASK, ["ecs:RegisterTaskDefinition *"]),
    ("ecs.describe_task_definition", {"taskDefinition": "app:3"},
     ["ecs:DescribeTaskDefinition *"]),
    ("ecs.describe_clusters", {"clusters": ["tap", r("ecs:cluster/web")]},
     [f"ecs:DescribeClusters {r('ecs:cluster/tap')}",
      f"ecs:DescribeClusters {r('ecs:cluster/web')}"]),
    ("ecs.describe_clusters", {}, [f"ecs:DescribeClusters {r('ecs:cluster/default')}"]),
    ("sts.get_caller_identity", {}, []),
    ("sts.assume_role", {"RoleArn": ROLE, "RoleSessionName": "ss"}, [f"sts:AssumeRole {ROLE}"]),
    ("xray.put_trace_segments", {"TraceSegmentDocuments": ["{}"]}, ["xray:PutTraceSegments ?"]),
    ("xray.put_telemetry_records", {"TelemetryRecords": []}, ["xray:PutTelemetryRecords ?"]),
    ("inspector2.list_findings", {}, ["inspector2:ListFindings ?"]),
    ("events.put_events",
     {"Entries": [EVENT, {**EVENT, "EventBusName": "x"}, {**EVENT, "EventBusName": TOPIC}]},
     [f"events:PutEvents {r('events:event-bus/default')}",
      f"events:PutEvents {r('events:event-bus/x')}", f"events:PutEvents {TOPIC}"]),
    ("events.put_rule", {"Name": "r", "EventPattern": "{}"}, ["events:PutRule *"]),
    ("secretsmanager.get_secret_value", {"SecretId": "db"},
     [f"secretsmanager:GetSecretValue {SECRET}"]),
    ("secretsmanager.get_secret_value", {"SecretId": f"{SECRET}-AbCdEf"},
     [f"secretsmanager:GetSecretValue {SECRET}-AbCdEf"]),
    ("secretsmanager.create_secret", {"Name": "db"}, [f"secretsmanager:CreateSecret {SECRET}"]),
    ("secretsmanager.list_secrets", {}, ["secretsmanager:ListSecrets *"]),
    # CloudWatch signs as "monitoring"; its IAM prefix is "cloudwatch".
    ("cloudwatch.put_metric_data", {"Namespace": "tap", "MetricData": [{"MetricName": "m"}]},
     ["cloudwatch:PutMetricData ?"]),
]  # fmt: skip


@pytest.mark.parametrize(("method", "params", "expected"), CASES, ids=[c[0] for c in CASES])
def test_what_iam_authorizes_each_call_on(
    method: str, params: dict[str, Any], expected: list[str]
) -> None:
    service, _, name = method.partition(".")
    operation = call(service, name, **params)
    api = recorder(service).client.meta.method_to_api_mapping[name]
    assert (operation.service, operation.name) == (service, api)
    assert [f"{action} {resource}" for action, resource in grants(operation)] == expected


def resolve(service: str, name: str, **params: Any) -> list[tuple[str, str]]:
    return arns.resolve(arns.Call(service, service, name, params, ACCOUNT, REGION))


def test_members_sdks_do_not_send_as_these() -> None:
    # A malformed function ARN is read as a name; a queue URL without a path as the name.
    assert resolve("lambda", "GetFunction", FunctionName="arn:x") == [
        ("lambda:GetFunction", r("lambda:function:arn:x"))
    ]
    assert resolve("sqs", "SendMessage", QueueUrl="dlq") == [("sqs:SendMessage", r("sqs:dlq"))]
    assert resolve("sqs", "GetQueueUrl") == [("sqs:GetQueueUrl", "*")]
    assert resolve("sns", "CreateTopic") == [("sns:CreateTopic", "*")]
    assert resolve("codepipeline", "PutApprovalResult", stageName="A") == [
        ("codepipeline:PutApprovalResult", "*")
    ]
    assert resolve("codepipeline", "PutApprovalResult", pipelineName="p") == [
        ("codepipeline:PutApprovalResult", r("codepipeline:p//"))
    ]
    assert resolve("events", "PutEvents", Entries="x") == [
        ("events:PutEvents", r("events:event-bus/default"))
    ]
    assert resolve("events", "PutEvents", Entries=["x"]) == [
        ("events:PutEvents", r("events:event-bus/default"))
    ]
    assert resolve("s3", "CopyObject", Bucket="b", Key="k") == [
        ("s3:PutObject", "arn:aws:s3:::b/k")
    ]
    assert resolve("s3", "ListBuckets", Key="k") == [("s3:ListAllMyBuckets", "*")]
    assert resolve("logs", "GetLogEvents", logGroupName="g") == [
        ("logs:GetLogEvents", r("logs:log-group:g"))
    ]
    assert resolve("secretsmanager", "GetSecretValue") == [("secretsmanager:GetSecretValue", "*")]
    assert resolve("sts", "AssumeRole") == [("sts:AssumeRole", "*")]
    assert resolve("ssm", "GetParameters", Names=["a", "", 3]) == [
        ("ssm:GetParameters", r("ssm:parameter/a"))
    ]


def test_iam_prefixes() -> None:
    assert arns.iam_prefix("monitoring") == "cloudwatch"
    assert arns.iam_prefix("ecr") == "ecr"
