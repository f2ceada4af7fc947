"""IAM: the role (trust policy, session, tags, adoption, deletion with policies) and its policy."""

from __future__ import annotations

import json

from tap_cicd.local.provider import Context, iam

from .conftest import TAGS, create, delete, error_of, make_role, trust_policy, update, writes_of

ROLE = "tap-test-role"


def role_tags(ctx: Context) -> dict[str, str]:
    tags = ctx.clients("iam").list_role_tags(RoleName=ROLE)["Tags"]
    return {t["Key"]: t["Value"] for t in tags}


def test_role_is_created_with_its_trust_policy_session_and_tags(ctx: Context) -> None:
    name, outputs = create(
        iam.ROLE,
        ctx,
        {
            "name": ROLE,
            "assumeRolePolicy": trust_policy("lambda.amazonaws.com"),
            "maxSessionDuration": 7200.0,
            "tags": TAGS,
        },
    )
    assert name == ROLE
    assert outputs == {"arn": f"arn:aws:iam::{ctx.account_id}:role/{ROLE}", "name": ROLE}
    role = ctx.clients("iam").get_role(RoleName=ROLE)["Role"]
    assert role["Arn"] == outputs["arn"]
    assert role["MaxSessionDuration"] == 7200
    assert role["AssumeRolePolicyDocument"] == json.loads(trust_policy("lambda.amazonaws.com"))
    assert role_tags(ctx) == TAGS


def test_creating_an_existing_role_adopts_and_updates_it(ctx: Context) -> None:
    make_role(ctx, ROLE, "lambda.amazonaws.com")
    create(
        iam.ROLE,
        ctx,
        {
            "name": ROLE,
            "assumeRolePolicy": trust_policy("codebuild.amazonaws.com"),
            "maxSessionDuration": 7200.0,
            "tags": TAGS,
        },
    )
    role = ctx.clients("iam").get_role(RoleName=ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"] == json.loads(trust_policy("codebuild.amazonaws.com"))
    assert role["MaxSessionDuration"] == 7200
    assert role_tags(ctx) == TAGS


def test_role_update_without_tags_sends_no_tagging(ctx: Context) -> None:
    make_role(ctx, ROLE, "lambda.amazonaws.com")
    old = {"name": ROLE, "assumeRolePolicy": trust_policy("lambda.amazonaws.com")}
    update(iam.ROLE, ctx, ROLE, old, {**old, "assumeRolePolicy": trust_policy("x.amazonaws.com")})
    assert writes_of(ctx.clients, "iam:TagRole") == 0
    role = ctx.clients("iam").get_role(RoleName=ROLE)["Role"]
    assert role["MaxSessionDuration"] == 3600


def test_role_delete_removes_inline_and_detaches_managed_policies(ctx: Context) -> None:
    client = ctx.clients("iam")
    make_role(ctx, ROLE, "lambda.amazonaws.com")
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
        }
    )
    create(iam.ROLE_POLICY, ctx, {"role": ROLE, "name": "inline", "policy": document})
    managed = client.create_policy(PolicyName="managed", PolicyDocument=document)["Policy"]["Arn"]
    client.attach_role_policy(RoleName=ROLE, PolicyArn=managed)

    delete(iam.ROLE, ctx, ROLE)

    assert error_of(lambda: client.get_role(RoleName=ROLE)) == "NoSuchEntity"
    assert client.get_policy(PolicyArn=managed)["Policy"]["AttachmentCount"] == 0
    delete(iam.ROLE, ctx, ROLE)


def test_role_policy_is_put_updated_and_deleted(ctx: Context) -> None:
    client = ctx.clients("iam")
    make_role(ctx, ROLE, "lambda.amazonaws.com")

    def document(action: str) -> str:
        statement = {"Effect": "Allow", "Action": action, "Resource": "*"}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]})

    inputs = {"role": ROLE, "name": "least-privilege", "policy": document("s3:GetObject")}
    policy_id, outputs = create(iam.ROLE_POLICY, ctx, inputs)
    assert (policy_id, outputs) == (f"{ROLE}:least-privilege", {})
    update(iam.ROLE_POLICY, ctx, policy_id, inputs, {**inputs, "policy": document("s3:PutObject")})
    stored = client.get_role_policy(RoleName=ROLE, PolicyName="least-privilege")
    assert stored["PolicyDocument"]["Statement"][0]["Action"] == "s3:PutObject"
    delete(iam.ROLE_POLICY, ctx, policy_id, inputs)
    assert client.list_role_policies(RoleName=ROLE)["PolicyNames"] == []
    delete(iam.ROLE_POLICY, ctx, policy_id, inputs)
