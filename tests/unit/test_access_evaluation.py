"""AWS's evaluation of identity, resource, key and trust policies, on AWS's documented examples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from tap_cicd.access.evaluation import (
    UNKNOWN_RESOURCE,
    Decision,
    Document,
    Policies,
    Request,
    evaluate,
    matching_statements,
)

ACCOUNT = "123456789012"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/build"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/build/AWSCodeBuild-1"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/deploy"
BUCKET = "arn:aws:s3:::artifacts"
OBJECT = f"{BUCKET}/build/out.zip"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:notifications"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/pipeline-state"
EVENTS = "events.amazonaws.com"

Statement = dict[str, Any]


def policy(*statements: Mapping[str, Any]) -> Document:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(sid: str, action: str | list[str], resource: Any = "*", **more: Any) -> Statement:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource, **more}


def deny(sid: str, action: str | list[str], resource: Any = "*", **more: Any) -> Statement:
    return {**allow(sid, action, resource, **more), "Effect": "Deny"}


def get_object(
    principal: str = ROLE,
    *,
    identity: Sequence[Statement] = (),
    bucket: Sequence[Statement] | None = None,
    **context: str,
) -> Decision:
    """s3:GetObject on OBJECT, with one identity policy (if any) and the bucket policy (if any)."""
    return evaluate(
        Request(principal, "s3:GetObject", OBJECT, context),
        Policies(
            identity=[policy(*identity)] if identity else (),
            resource=None if bucket is None else policy(*bucket),
            resource_kind="bucket policy",
        ),
    )


READS = allow("Reads", "s3:GetObject", f"{BUCKET}/*")


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
class TestSameAccountLogic:
    def test_an_identity_policy_allow_suffices(self) -> None:
        group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/codebuild/x"
        request = Request(ROLE, "logs:PutLogEvents", f"{group}:log-stream:s")
        logs = allow("AllowLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], f"{group}:*")
        assert evaluate(request, Policies(identity=[policy(logs)])) == Decision(
            True, "allowed by the identity policy (statement AllowLogs)", "AllowLogs"
        )

    def test_by_default_every_request_is_denied(self) -> None:
        assert get_object() == Decision(False, "no statement of the identity policy allows it")
        assert get_object(bucket=[]) == Decision(
            False, "no statement of the identity policy or the bucket policy allows it"
        )

    def test_an_explicit_deny_in_the_resource_policy_overrides_the_allow(self) -> None:
        insecure = {"Bool": {"aws:SecureTransport": "false"}}
        secure_only = deny("DenyInsecureTransport", "s3:*", [BUCKET, f"{BUCKET}/*"])
        bucket = [{**secure_only, "Principal": "*", "Condition": insecure}]
        decision = get_object(identity=[READS], bucket=bucket, **{"aws:SecureTransport": "false"})
        assert decision == Decision(
            False,
            "explicitly denied by the bucket policy (statement DenyInsecureTransport)",
            "DenyInsecureTransport",
        )
        assert get_object(identity=[READS], bucket=bucket, **{"aws:SecureTransport": "true"}) == (
            Decision(True, "allowed by the identity policy (statement Reads)", "Reads")
        )

    def test_an_explicit_deny_in_an_identity_policy_overrides_a_resource_allow(self) -> None:
        bucket_allow = allow("Role", "s3:GetObject", OBJECT, Principal={"AWS": ROLE})
        identities = [policy(allow("All", "s3:*")), policy(deny("NoReads", "s3:Get*"))]
        policies = Policies(identity=identities, resource=policy(bucket_allow))
        assert evaluate(Request(ROLE, "s3:GetObject", OBJECT), policies) == Decision(
            False, "explicitly denied by the identity policy (statement NoReads)", "NoReads"
        )

    @pytest.mark.parametrize(
        ("named", "caller", "allowed"),
        [
            ([OTHER_ROLE, ROLE], ROLE, True),
            # "the principal making the request is the IAM role session ARN": its role is named.
            ([OTHER_ROLE, ROLE], SESSION, True),
            ([ROLE], f"arn:aws:sts::{ACCOUNT}:assumed-role/test/s", False),
            ([f"arn:aws:iam::{ACCOUNT}:role/service-role/build"], SESSION, True),
            ([f"arn:aws:iam::{ACCOUNT}:role/service-role/build"], ROLE, False),
            ([f"arn:aws:iam::{ACCOUNT}:user/build"], SESSION, False),
            ([SESSION], SESSION, True),
            ([SESSION], f"{SESSION}-2", False),
            ([SESSION], ROLE, False),  # given as its role, the caller's session is unknown
            (["*"], ROLE, True),
        ],
    )
    def test_a_resource_policy_naming_the_caller_allows_alone(
        self, named: list[str], caller: str, allowed: bool
    ) -> None:
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
        bucket = [allow("BuildReads", "s3:GetObject", f"{BUCKET}/*", Principal={"AWS": named})]
        expected = Decision(
            True, "allowed by the bucket policy (statement BuildReads)", "BuildReads"
        )
        assert (get_object(caller, bucket=bucket) == expected) is allowed

    @pytest.mark.parametrize("account", [ACCOUNT, ROOT])
    def test_naming_the_account_delegates_to_identity_policies(self, account: str) -> None:
        bucket = [allow("Account", "s3:GetObject", OBJECT, Principal={"AWS": account})]
        assert get_object(bucket=bucket) == Decision(
            False, "no statement of the identity policy or the bucket policy allows it"
        )
        assert get_object(identity=[READS], bucket=bucket).allowed

    def test_a_deny_naming_the_account_denies_its_roles(self) -> None:
        bucket = [deny("NoAccount", "s3:GetObject", OBJECT, Principal={"AWS": ROOT})]
        assert not get_object(identity=[READS], bucket=bucket).allowed

    @pytest.mark.parametrize("principal", ["*", {"AWS": "*"}])
    def test_everyone_is_star_or_aws_star(self, principal: Any) -> None:
        bucket = [allow("Public", "s3:GetObject", f"{BUCKET}/*", Principal=principal)]
        assert get_object(bucket=bucket).allowed
        assert get_object(EVENTS, bucket=bucket).allowed

    def test_a_resource_statement_needs_a_principal(self) -> None:
        assert not get_object(bucket=[allow("NoPrincipal", "s3:GetObject")]).allowed
        assert not get_object(bucket=[allow("Odd", "s3:GetObject", Principal=ROLE)]).allowed

    @pytest.mark.parametrize(
        ("caller", "message"),
        [
            (f"arn:aws:iam::{ACCOUNT}:user/bob", "unsupported principal"),
            (f"arn:aws:sts::{ACCOUNT}:assumed-role/build", "unsupported principal"),
            ("arn:aws:iam", "unsupported principal"),
            ("arn:aws:iam::999999999999:role/build", "cross-account"),
        ],
    )
    def test_unsupported_and_cross_account_callers_raise(self, caller: str, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            get_object(caller)


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html
EVERYONE = allow("Everyone", "s3:GetObject", OBJECT, Principal="*")


class TestNotPrincipal:
    def spare(self, caller: str, not_principal: Any) -> Decision:
        statement = {"Effect": "Deny", "NotPrincipal": not_principal, "Action": "s3:*"}
        return get_object(caller, bucket=[EVERYONE, {**statement, "Resource": "*"}])

    @pytest.mark.parametrize(
        ("caller", "listed"), [(SESSION, [SESSION, ROLE, ROOT]), (ROLE, [ROLE, ACCOUNT])]
    )
    def test_the_session_its_role_and_account_listed_are_spared(
        self, caller: str, listed: list[str]
    ) -> None:
        assert self.spare(caller, {"AWS": listed}).allowed

    @pytest.mark.parametrize(
        "listed", [[SESSION, ROLE], [SESSION, ROOT], [ROLE, ROOT, f"{SESSION}-2"]]
    )
    def test_a_missing_link_of_the_chain_is_denied(self, listed: list[str]) -> None:
        assert self.spare(SESSION, {"AWS": listed}) == Decision(
            False, "explicitly denied by the bucket policy (statement #1)", "#1"
        )

    def test_services_and_wildcards(self) -> None:
        logs = "delivery.logs.amazonaws.com"
        assert self.spare(logs, {"Service": logs}).allowed
        assert not self.spare("sns.amazonaws.com", {"Service": logs}).allowed
        assert self.spare(ROLE, "*").allowed
        assert self.spare(ROLE, {"AWS": "*"}).allowed
        assert not self.spare(ROLE, ROLE).allowed  # malformed: spares no one

    @pytest.mark.parametrize(
        ("listed", "caller", "allowed"),
        [([OTHER_ROLE], ROLE, True), ([OTHER_ROLE], OTHER_ROLE, False), ([ROOT], SESSION, False)],
    )
    def test_not_principal_with_allow_leaves_out_any_listed_link(
        self, listed: list[str], caller: str, allowed: bool
    ) -> None:
        statement = {"Effect": "Allow", "NotPrincipal": {"AWS": listed}}
        bucket = [{**statement, "Action": "s3:GetObject", "Resource": OBJECT}]
        assert get_object(caller, bucket=bucket).allowed is allowed


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
class TestStatementMatching:
    @pytest.mark.parametrize(
        ("statement", "allowed"),
        [
            (allow("Reads", "S3:getobject", f"{BUCKET}/*"), True),  # actions: case-insensitive
            (allow("Reads", "s3:GetObject", "arn:aws:s3:::Artifacts/*"), False),  # ARNs are not
            (allow("Reads", "s3:Get*", "arn:aws:s3:::artifact?/build/*"), True),
            (allow("Reads", "s3:Put*", f"{BUCKET}/*"), False),
            ({"Effect": "Allow", "NotAction": "iam:*", "NotResource": f"{BUCKET}/x/*"}, True),
            ({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}, False),
            ({"Effect": "Allow", "Action": "*", "NotResource": f"{BUCKET}/build/*"}, False),
            ({"Effect": "Allow", "Resource": "*"}, False),  # no Action: applies to nothing
            ({"Effect": "Allow", "Action": "s3:*"}, False),  # an identity statement needs one
        ],
    )
    def test_action_and_resource(self, statement: Statement, allowed: bool) -> None:
        assert get_object(identity=[statement]).allowed is allowed

    def test_an_action_without_a_resource_needs_resource_star(self) -> None:
        token = Request(ROLE, "ecr:GetAuthorizationToken", "*")
        repositories = f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/*"
        for resource, allowed in (("*", True), (repositories, False)):
            statement = allow("Token", "ecr:GetAuthorizationToken", resource)
            assert evaluate(token, Policies(identity=[policy(statement)])).allowed is allowed

    def test_policy_variables_in_resources(self) -> None:
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
        queue, variable = f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq", "${aws:PrincipalAccount}"
        statement = allow("Dlq", "sqs:SendMessage", queue.replace(ACCOUNT, variable))
        send = Request(ROLE, "sqs:SendMessage", queue, {"aws:PrincipalAccount": ACCOUNT})
        assert evaluate(send, Policies(identity=[policy(statement)])).allowed
        without_key = Request(ROLE, "sqs:SendMessage", queue)
        assert not evaluate(without_key, Policies(identity=[policy(statement)])).allowed
        old = {"Version": "2008-10-17", "Statement": [statement]}  # variables are text there
        assert not evaluate(send, Policies(identity=[old])).allowed

    def test_matching_statements_names_each_by_sid_or_index(self) -> None:
        request = Request(ROLE, "s3:GetObject", OBJECT)
        elsewhere = allow("Elsewhere", "s3:GetObject", "arn:aws:s3:::other/*")
        everything = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
        document = policy(everything, deny("NoObjects", "s3:GetObject", f"{BUCKET}/*"), elsewhere)
        matching = matching_statements(document, request, as_resource_policy=False)
        assert matching == [("Allow", "#0"), ("Deny", "NoObjects")]
        assert matching_statements(document, request, as_resource_policy=True) == []
        one = allow("One", "s3:GetObject", Principal={"AWS": ROLE})
        single = {"Version": "2012-10-17", "Statement": one}
        assert matching_statements(single, request, as_resource_policy=True) == [("Allow", "One")]


class TestServicePrincipals:
    PUBLISH = Request(EVENTS, "sns:Publish", TOPIC, {"aws:SourceArn": RULE})

    def test_a_topic_policy_naming_the_service_allows_it(self) -> None:
        from_rule = {"ArnEquals": {"aws:SourceArn": RULE}}
        statement = allow("EventsPublish", "sns:Publish", TOPIC, Principal={"Service": EVENTS})
        topic = policy({**statement, "Condition": from_rule})
        assert evaluate(self.PUBLISH, Policies(resource=topic, resource_kind="topic policy")) == (
            Decision(True, "allowed by the topic policy (statement EventsPublish)", "EventsPublish")
        )

    def test_only_the_resource_policy_applies_to_a_service(self) -> None:
        identity = [policy(allow("Everything", "*"))]
        s3 = allow("S3", "sns:Publish", TOPIC, Principal={"Service": "s3.amazonaws.com"})
        account = allow("Account", "sns:Publish", TOPIC, Principal={"AWS": ACCOUNT})
        topic = Policies(identity, policy(s3, account), "topic policy")
        assert evaluate(self.PUBLISH, topic) == Decision(
            False, "no statement of the topic policy allows it"
        )
        assert evaluate(self.PUBLISH, Policies(identity, None, "topic policy")) == Decision(
            False, "no statement of the topic policy allows it (there is no topic policy)"
        )


# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#key-policy-default-allow-root-enable-iam
ENABLE_IAM = {
    "Sid": "Enable IAM policies",
    "Effect": "Allow",
    "Principal": {"AWS": ROOT},
    "Action": "kms:*",
    "Resource": "*",
}


def decrypt(
    *key: Statement, identity: Sequence[Statement] = (), context: Mapping[str, str] | None = None
) -> Decision:
    identities = [policy(*identity)] if identity else []
    request = Request(ROLE, "kms:Decrypt", KEY, context or {})
    return evaluate(request, Policies(identity=identities, key=policy(*key)))


USE_KEY = allow("UseKey", ["kms:Decrypt", "kms:GenerateDataKey"], KEY)


class TestKeyPolicies:
    def test_the_default_key_policy_lets_iam_policies_allow(self) -> None:
        assert decrypt(ENABLE_IAM, identity=[USE_KEY]) == Decision(
            True,
            "allowed by the identity policy (statement UseKey), as the key policy lets IAM"
            " policies allow it (statement Enable IAM policies)",
            "UseKey",
        )

    def test_the_default_key_policy_alone_allows_no_role(self) -> None:
        # "the policy statement doesn't give any IAM users or roles permission to use the KMS key".
        assert decrypt(ENABLE_IAM) == Decision(
            False,
            "no statement of the identity policy allows it (the key policy lets IAM policies"
            " allow it: statement Enable IAM policies)",
        )

    def test_without_the_root_statement_iam_allows_are_ineffective(self) -> None:
        # "Without this permission, IAM policies that allow access to the key are ineffective".
        users = allow("Allow use of the key", "kms:Decrypt", Principal={"AWS": OTHER_ROLE})
        assert decrypt(users, identity=[USE_KEY]) == Decision(
            False,
            "the key policy neither allows it nor lets IAM policies allow it"
            f" (no statement for {ROOT})",
        )

    def test_a_key_user_statement_allows_directly_and_iam_denies_still_apply(self) -> None:
        users = allow("Allow use of the key", "kms:Decrypt", Principal={"AWS": [ROLE]})
        assert decrypt(ENABLE_IAM, users) == Decision(
            True,
            "allowed by the key policy (statement Allow use of the key)",
            "Allow use of the key",
        )
        # "... although IAM policies that deny access to the key are still effective."
        assert decrypt(users, identity=[deny("NoDecrypt", "kms:Decrypt")]) == Decision(
            False, "explicitly denied by the identity policy (statement NoDecrypt)", "NoDecrypt"
        )

    def test_kms_needs_a_key_policy_and_ignores_the_resource_policy(self) -> None:
        everyone = policy(allow("Everyone", "*", Principal="*"))
        request = Request(ROLE, "kms:Decrypt", KEY)
        assert evaluate(request, Policies(identity=[everyone], resource=everyone)) == Decision(
            False, "there is no key policy, and kms:Decrypt needs one to allow it"
        )

    def test_kms_via_service(self) -> None:
        via_sns = {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}
        users = allow("ViaSns", "kms:Decrypt", Principal={"AWS": ROLE}, Condition=via_sns)
        assert not decrypt(users).allowed
        assert decrypt(users, context={"kms:ViaService": "sns.us-east-1.amazonaws.com"}).allowed

    def test_eventbridge_to_an_encrypted_topic_with_a_source_arn_condition_is_refused(self) -> None:
        # The shipped defect of issue 14: EventBridge's KMS calls for an encrypted topic carry no
        # aws:SourceArn, so a key statement conditioned on it never applies: the event is dropped.
        generate = Request(EVENTS, "kms:GenerateDataKey", KEY, {})
        actions = ["kms:Decrypt", "kms:GenerateDataKey*"]
        plain = allow("EventsUseKey", actions, Principal={"Service": EVENTS})
        assert evaluate(generate, Policies(key=policy(ENABLE_IAM, plain))).allowed
        conditioned = {**plain, "Condition": {"ArnEquals": {"aws:SourceArn": RULE}}}
        assert evaluate(generate, Policies(key=policy(ENABLE_IAM, conditioned))) == Decision(
            False, "no statement of the key policy allows it"
        )


# Trust policies, like key policies, "must explicitly allow access for principals" (the
# evaluation logic page); naming the account delegates to the caller's identity policies.
class TestTrustPolicies:
    ASSUME = Request(ROLE, "sts:AssumeRole", OTHER_ROLE)
    IDENTITY = (policy(allow("Assume", "sts:AssumeRole", OTHER_ROLE)),)

    def trust(self, principal: Any, identity: Sequence[Document] = ()) -> Policies:
        statement = {"Sid": "Trust", "Effect": "Allow", "Principal": principal}
        return Policies(identity, policy({**statement, "Action": "sts:AssumeRole"}), "trust policy")

    def test_a_trust_policy_naming_the_caller_allows(self) -> None:
        assert evaluate(self.ASSUME, self.trust({"AWS": ROLE})) == Decision(
            True, "allowed by the trust policy (statement Trust)", "Trust"
        )
        service = Request("codebuild.amazonaws.com", "sts:AssumeRole", OTHER_ROLE)
        assert evaluate(service, self.trust({"Service": "codebuild.amazonaws.com"})).allowed
        assert not evaluate(service, self.trust({"Service": "lambda.amazonaws.com"})).allowed

    def test_a_trust_policy_naming_the_account_needs_an_identity_allow(self) -> None:
        assert not evaluate(self.ASSUME, self.trust({"AWS": ROOT})).allowed
        assert evaluate(self.ASSUME, self.trust({"AWS": ROOT}, self.IDENTITY)).allowed

    def test_an_identity_allow_alone_does_not_assume_a_role(self) -> None:
        policies = Policies(self.IDENTITY, None, "trust policy")
        assert evaluate(self.ASSUME, policies) == Decision(
            False, "there is no trust policy, and sts:AssumeRole needs one to allow it"
        )


def test_a_call_whose_resource_is_unknown_takes_any_statement_for_its_action() -> None:
    table = "arn:aws:dynamodb:us-east-1:123456789012:table/releases"
    request = Request(SESSION, "dynamodb:PutItem", UNKNOWN_RESOURCE)
    scoped = Policies(identity=[policy(allow("Releases", "dynamodb:PutItem", table))])
    assert evaluate(request, scoped).allowed
    others = Policies(identity=[policy(allow("Except", "dynamodb:PutItem", NotResource=table))])
    assert evaluate(request, others).allowed
    unrelated = Policies(identity=[policy(allow("Reads", "dynamodb:GetItem", table))])
    assert not evaluate(request, unrelated).allowed
