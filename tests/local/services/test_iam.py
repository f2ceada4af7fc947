"""Role sessions and the run-time decision on each call (``services.iam``), against the
policies the emulator holds."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tap_cicd.local.services import iam

from .conftest import client, service_role

ACCOUNT = "123456789012"
REGION = "us-east-1"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str, resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def session(live: str, statements: list[dict[str, Any]], name: str = "caller") -> iam.Session:
    role = service_role(live, name, "codebuild.amazonaws.com", policy(*statements))
    return iam.assume("codebuild.amazonaws.com", role, REGION, "build-1")


def test_a_service_its_role_trusts_gets_a_session_moto_knows(live: str) -> None:
    role = service_role(live, "builder", "codebuild.amazonaws.com")
    found = iam.assume("codebuild.amazonaws.com", role, REGION, "build-1")
    assert found.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/builder/build-1"
    assert found.role_arn == role and found.credentials.token
    assert iam.session_of(found.credentials.access_key, REGION) == found
    assert iam.session_of("test", REGION) is None
    caller = found.client("sts").get_caller_identity()
    assert caller["Arn"] == found.arn
    assert found.environment()["AWS_SESSION_TOKEN"] == found.credentials.token


def test_a_trust_policy_that_names_another_service_refuses(live: str) -> None:
    role = service_role(live, "builder", "codebuild.amazonaws.com")
    with pytest.raises(iam.Denied) as denied:
        iam.assume("lambda.amazonaws.com", role, REGION, "fn")
    assert str(denied.value).startswith(
        f"User: lambda.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: "
        f"{role} because no statement of the trust policy allows it"
    )
    with pytest.raises(iam.Denied, match="the role does not exist"):
        iam.assume("lambda.amazonaws.com", f"arn:aws:iam::{ACCOUNT}:role/none", REGION, "fn")


def test_a_trust_condition_on_the_source_is_met_only_by_that_source(live: str) -> None:
    project = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:project/build"
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceArn": project}},
        }
    )
    role = client(live, "iam").create_role(
        RoleName="scoped", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    iam.assume("codebuild.amazonaws.com", role, REGION, "a", {"aws:SourceArn": project})
    with pytest.raises(iam.Denied, match=r"tests aws:SourceArn, which AWS does not send"):
        iam.assume("codebuild.amazonaws.com", role, REGION, "b")


def test_the_roles_inline_and_attached_policies_decide(live: str) -> None:
    caller = session(live, [allow("s3:GetObject", "arn:aws:s3:::bucket/*")])
    managed = client(live, "iam").create_policy(
        PolicyName="publish", PolicyDocument=json.dumps(policy(allow("sns:Publish")))
    )["Policy"]["Arn"]
    client(live, "iam").attach_role_policy(RoleName="caller", PolicyArn=managed)
    iam.authorize(caller, "s3:GetObject", "arn:aws:s3:::bucket/key")
    iam.authorize(caller, "sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:topic")
    with pytest.raises(iam.Denied) as denied:
        iam.authorize(caller, "s3:PutObject", "arn:aws:s3:::bucket/key")
    assert str(denied.value) == (
        f"User: {caller.arn} is not authorized to perform: s3:PutObject on resource: "
        "arn:aws:s3:::bucket/key because no statement of the identity policy allows it"
    )
    client(live, "iam").delete_role_policy(RoleName="caller", PolicyName="inline")
    client(live, "iam").detach_role_policy(RoleName="caller", PolicyArn=managed)
    client(live, "iam").delete_role(RoleName="caller")
    assert iam.identity(caller) == []


def test_a_bucket_policy_deny_wins_and_a_tls_only_deny_passes(live: str) -> None:
    caller = session(live, [allow("s3:*")])
    s3 = client(live, "s3")
    s3.create_bucket(Bucket="artifacts")
    tls_only = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::artifacts", "arn:aws:s3:::artifacts/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    s3.put_bucket_policy(Bucket="artifacts", Policy=json.dumps(policy(tls_only)))
    iam.authorize(caller, "s3:GetObject", "arn:aws:s3:::artifacts/key")
    refuse = {**tls_only, "Sid": "NoReads", "Action": "s3:GetObject", "Condition": {}}
    s3.put_bucket_policy(Bucket="artifacts", Policy=json.dumps(policy(tls_only, refuse)))
    with pytest.raises(iam.Denied, match="explicitly denied by the bucket policy"):
        iam.authorize(caller, "s3:GetObject", "arn:aws:s3:::artifacts/key")


def test_a_function_policy_alone_may_allow_an_invocation(live: str) -> None:
    caller = session(live, [allow("s3:ListAllMyBuckets")])
    function = client(live, "lambda")
    role = service_role(live, "fn", "lambda.amazonaws.com")
    function.create_function(
        FunctionName="deploy",
        Runtime="python3.13",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:deploy"
    with pytest.raises(iam.Denied, match="no statement of the identity policy allows it"):
        iam.authorize(caller, "lambda:InvokeFunction", arn)
    function.add_permission(
        FunctionName="deploy",
        StatementId="Pipeline",
        Action="lambda:InvokeFunction",
        Principal=caller.role_arn,
    )
    iam.authorize(caller, "lambda:InvokeFunction", arn)
    # Principals as AWS writes them (moto keeps AddPermission's bare strings).
    for sid, principal in (("Anyone", "*"), ("Events", "events.amazonaws.com")):
        function.add_permission(
            FunctionName="deploy", StatementId=sid, Action="lambda:GetFunction", Principal=principal
        )
    document, kind = iam.resource_policy(arn)
    assert kind == "function policy" and document is not None
    assert [s["Principal"] for s in document["Statement"]] == [
        {"AWS": caller.role_arn},
        "*",
        {"Service": "events.amazonaws.com"},
    ]


@pytest.mark.parametrize(
    ("service", "kind"),
    [("sns", "topic policy"), ("sqs", "queue policy"), ("ecr", "repository policy")],
)
def test_topic_queue_and_repository_policies_are_read(live: str, service: str, kind: str) -> None:
    deny = {"Sid": "No", "Effect": "Deny", "Principal": "*", "Action": "*"}
    if service == "sns":
        arn = client(live, "sns").create_topic(Name="t")["TopicArn"]
        client(live, "sns").set_topic_attributes(
            TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(policy(deny))
        )
    elif service == "sqs":
        url = client(live, "sqs").create_queue(
            QueueName="q", Attributes={"Policy": json.dumps(policy(deny))}
        )["QueueUrl"]
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
        assert url.endswith("/q")
    else:
        arn = client(live, "ecr").create_repository(repositoryName="repo")["repository"][
            "repositoryArn"
        ]
        client(live, "ecr").set_repository_policy(
            repositoryName="repo", policyText=json.dumps(policy(deny))
        )
    assert iam.resource_policy(arn) == (policy(deny), kind)
    assert iam.resource_policy(arn + "-missing")[0] is None
    assert iam.resource_policy("*") == (None, "resource policy")
    assert iam.resource_policy(f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/p") == (
        None,
        "resource policy",
    )


def key_with(live: str, statements: list[dict[str, Any]]) -> str:
    kms = client(live, "kms")
    return str(kms.create_key(Policy=json.dumps(policy(*statements)))["KeyMetadata"]["Arn"])


def test_a_key_policy_must_allow_or_let_iam_policies_allow(live: str) -> None:
    caller = session(live, [allow("kms:Decrypt")])
    root = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}
    delegating = key_with(live, [{**root, "Action": "kms:*", "Resource": "*"}])
    iam.authorize(caller, "kms:Decrypt", delegating)
    silent = key_with(live, [{**root, "Action": "kms:Describe*", "Resource": "*"}])
    with pytest.raises(iam.Denied, match="the key policy neither allows it nor lets IAM"):
        iam.authorize(caller, "kms:Decrypt", silent)
    # A key the emulator does not hold (an AWS managed key): its policy is not known.
    iam.authorize(caller, "kms:Decrypt", "alias/aws/sns")


def test_a_service_using_a_key_for_itself_needs_the_key_policy(live: str) -> None:
    logs = {"Service": f"logs.{REGION}.amazonaws.com"}
    group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:build"
    context = {"kms:EncryptionContext:aws:logs:arn": group}
    scoped = {
        "Effect": "Allow",
        "Principal": logs,
        "Action": "kms:GenerateDataKey",
        "Resource": "*",
        "Condition": {"ArnEquals": {"kms:EncryptionContext:aws:logs:arn": group}},
    }
    key = key_with(live, [scoped])
    service = f"logs.{REGION}.amazonaws.com"
    iam.authorize_service(
        service, "kms:GenerateDataKey", key, where=(ACCOUNT, REGION), context=context
    )
    other = {"kms:EncryptionContext:aws:logs:arn": group + "-other"}
    with pytest.raises(iam.Denied, match="does not match the call"):
        iam.authorize_service(
            service, "kms:GenerateDataKey", key, where=(ACCOUNT, REGION), context=other
        )
    iam.authorize_service(
        service, "kms:GenerateDataKey", "alias/none", where=(ACCOUNT, REGION), context=other
    )


def test_a_session_assumes_a_role_whose_trust_names_its_role(live: str) -> None:
    caller = session(live, [allow("sts:AssumeRole")])
    trust = policy(
        {"Effect": "Allow", "Principal": {"AWS": caller.role_arn}, "Action": "sts:AssumeRole"}
    )
    target = client(live, "iam").create_role(
        RoleName="deployer", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    assert iam.resource_policy(target) == (trust, "trust policy")
    iam.authorize(caller, "sts:AssumeRole", target)
    assumed = caller.client("sts").assume_role(RoleArn=target, RoleSessionName="next")
    assert assumed["AssumedRoleUser"]["Arn"].endswith(":assumed-role/deployer/next")
    other = client(live, "iam").create_role(
        RoleName="stranger", AssumeRolePolicyDocument=json.dumps(policy())
    )["Role"]["Arn"]
    with pytest.raises(iam.Denied, match="the trust policy neither allows it"):
        iam.authorize(caller, "sts:AssumeRole", other)


def test_the_global_keys_aws_always_sends_meet_deny_unless_statements(live: str) -> None:
    caller = session(live, [allow("s3:*")])
    s3 = client(live, "s3")
    s3.create_bucket(Bucket="own")
    outsiders = {
        "Sid": "OnlyThisAccountsRole",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "arn:aws:s3:::own/*",
        "Condition": {
            "StringNotEquals": {"aws:PrincipalAccount": ACCOUNT},
            "ArnNotEquals": {"aws:PrincipalArn": caller.role_arn},
        },
    }
    s3.put_bucket_policy(Bucket="own", Policy=json.dumps(policy(outsiders)))
    iam.authorize(caller, "s3:GetObject", "arn:aws:s3:::own/key")
    # AWS's CodePipeline role template conditions its S3 statements on the resource's account.
    scoped = allow("s3:PutObject", Condition={"StringEquals": {"aws:ResourceAccount": ACCOUNT}})
    regional = allow("sns:Publish", Condition={"StringEquals": {"aws:RequestedRegion": REGION}})
    other = session(live, [scoped, regional], name="templated")
    iam.authorize(other, "s3:PutObject", "arn:aws:s3:::own/key")
    iam.authorize(other, "sns:Publish", f"arn:aws:sns:{REGION}:{ACCOUNT}:topic")
