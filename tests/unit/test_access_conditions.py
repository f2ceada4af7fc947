"""Condition operators, wildcards and policy variables, on the examples of AWS's IAM reference."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from tap_cicd.access.conditions import (
    ContextValue,
    arn_match,
    conditions_match,
    glob_match,
    literal,
    normalize_context,
    resolve,
)


def holds(
    block: Mapping[str, Any], context: Mapping[str, ContextValue], *, variables: bool = True
) -> bool:
    return conditions_match(block, normalize_context(context), variables=variables)


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
class TestOperatorsPage:
    def test_string_equals_principal_tag(self) -> None:
        block = {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}}
        assert holds(block, {"aws:PrincipalTag/job-category": "iamuser-admin"})
        assert not holds(block, {"aws:PrincipalTag/job-category": "IAMUSER-ADMIN"})
        # "If a user without the tag attempts ... the condition returns false".
        assert not holds(block, {})

    def test_string_equals_ignore_case_and_not_equals(self) -> None:
        assert holds({"StringEqualsIgnoreCase": {"k": "Prod"}}, {"k": "PROD"})
        assert not holds({"StringNotEqualsIgnoreCase": {"k": "Prod"}}, {"k": "PROD"})
        assert holds({"StringNotEquals": {"k": "Prod"}}, {"k": "PROD"})

    def test_string_like_home_directory_with_a_variable(self) -> None:
        block = {"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}}
        assert holds(block, {"s3:prefix": "home/David/", "aws:username": "David"})
        assert holds(block, {"s3:prefix": "", "aws:username": "David"})
        assert not holds(block, {"s3:prefix": "home/Adele/", "aws:username": "David"})
        # Without aws:username the variable's value matches nothing; "" and "home/" still do.
        assert not holds(block, {"s3:prefix": "home/David/"})
        assert holds(block, {"s3:prefix": "home/"})

    def test_string_like_wildcards(self) -> None:
        assert holds({"StringLike": {"k": "t?.*"}}, {"k": "t2.micro"})
        assert not holds({"StringLike": {"k": "t?.*"}}, {"k": "t12.micro"})
        assert holds({"StringNotLike": {"k": "t?.*"}}, {"k": "m5.large"})

    def test_numeric_max_keys(self) -> None:
        block = {"NumericLessThanEquals": {"s3:max-keys": "10"}}
        assert holds(block, {"s3:max-keys": "10"})
        assert holds(block, {"s3:max-keys": "9.5"})
        assert not holds(block, {"s3:max-keys": "11"})
        assert not holds(block, {})

    @pytest.mark.parametrize(
        ("operator", "value", "expected"),
        [
            ("NumericEquals", "5", True),
            ("NumericNotEquals", "5", False),
            ("NumericLessThan", "5", False),
            ("NumericGreaterThan", "6", True),
            ("NumericGreaterThanEquals", "5", True),
        ],
    )
    def test_numeric_operators(self, operator: str, value: str, expected: bool) -> None:
        assert holds({operator: {"k": 5}}, {"k": value}) is expected

    def test_date_token_issue_time(self) -> None:
        block = {"DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}}
        assert holds(block, {"aws:TokenIssueTime": "2020-06-01T12:00:00Z"})
        assert not holds(block, {"aws:TokenIssueTime": "2019-12-31T23:59:59Z"})
        # "The key is not present in ... requests that are made using access keys": denied.
        assert not holds(block, {})

    @pytest.mark.parametrize(
        ("operator", "value", "expected"),
        [
            ("DateEquals", "2020-01-01T00:00:00+00:00", True),
            ("DateNotEquals", "2020-01-01T01:00:00+01:00", False),  # the same instant
            ("DateLessThan", "1577836799", True),  # epoch seconds
            ("DateLessThanEquals", "2020-01-01", True),  # a date alone is midnight UTC
            ("DateGreaterThanEquals", "2019-12-31T23:59:59", False),
        ],
    )
    def test_date_operators(self, operator: str, value: str, expected: bool) -> None:
        assert (
            holds(
                {operator: {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}, {"aws:CurrentTime": value}
            )
            is expected
        )

    def test_bool_secure_transport(self) -> None:
        block = {"Bool": {"aws:SecureTransport": "false"}}
        assert holds(block, {"aws:SecureTransport": "false"})
        assert not holds(block, {"aws:SecureTransport": "true"})
        # A JSON boolean reads as its text.
        assert holds({"Bool": {"aws:SecureTransport": False}}, {"aws:SecureTransport": "FALSE"})

    def test_binary_equals(self) -> None:
        block = {"BinaryEquals": {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="}}
        assert holds(block, {"k": "QmluYXJ5VmFsdWVJbkJhc2U2NA=="})
        assert not holds(block, {"k": "QQ=="})

    def test_ip_address_v4_and_v6(self) -> None:
        block = {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:DB8:1234:5678::/64"]}}
        assert holds(block, {"aws:SourceIp": "203.0.113.7"})
        assert holds(block, {"aws:SourceIp": "2001:db8:1234:5678::1"})
        assert not holds(block, {"aws:SourceIp": "198.51.100.1"})
        # "If you specify an IP address without the associated routing prefix, IAM uses /32".
        assert holds(
            {"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.7"}
        )
        assert not holds(
            {"IpAddress": {"aws:SourceIp": "203.0.113.7"}}, {"aws:SourceIp": "203.0.113.8"}
        )
        assert holds(
            {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, {"aws:SourceIp": "198.51.100.1"}
        )

    def test_arn_like_matches_each_segment_where_string_like_does_not(self) -> None:
        pattern = "arn:aws:someservice:*:111122223333:finance/*"
        value = (
            "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
        )
        assert holds({"StringLike": {"aws:SourceArn": pattern}}, {"aws:SourceArn": value})
        assert not holds({"ArnLike": {"aws:SourceArn": pattern}}, {"aws:SourceArn": value})
        assert holds({"ArnNotLike": {"aws:SourceArn": pattern}}, {"aws:SourceArn": value})

    def test_arn_equals_sns_to_sqs(self) -> None:
        topic = "arn:aws:sns:us-east-1:123456789012:TOPIC-ID"
        block = {"ArnEquals": {"aws:SourceArn": topic}}
        assert holds(block, {"aws:SourceArn": topic})
        assert not holds(block, {"aws:SourceArn": topic + "-other"})
        # "If an IAM user attempts to perform this operation directly, the condition returns false".
        assert not holds(block, {})
        assert holds({"ArnNotEquals": {"aws:SourceArn": topic}}, {"aws:SourceArn": topic + "-x"})

    def test_missing_key_is_false_but_true_for_negated_operators(self) -> None:
        # "If the policy condition requires that the key is not matched, such as StringNotLike or
        # ArnNotLike, and the right key is not present, the condition is true."
        assert not holds({"StringLike": {"k": "*"}}, {})
        assert holds({"StringNotLike": {"k": "x"}}, {})
        assert holds({"ArnNotLike": {"k": "arn:aws:s3:::x"}}, {})
        assert holds({"NotIpAddress": {"k": "10.0.0.0/8"}}, {})
        assert holds({"NumericNotEquals": {"k": "1"}}, {})
        assert not holds({"Bool": {"k": "true"}}, {})

    def test_if_exists_run_instances(self) -> None:
        block = {"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}}
        assert holds(block, {})  # resources without the key: "don't worry about it"
        assert holds(block, {"ec2:InstanceType": "t2.micro"})
        assert not holds(block, {"ec2:InstanceType": "c5.large"})

    def test_negated_if_exists_is_true_when_the_key_is_missing(self) -> None:
        # "If you are using an Effect: Deny element with a negated condition operator like
        # StringNotEqualsIfExists, the request is still denied even if the tag is missing."
        block = {"StringNotEqualsIfExists": {"aws:ResourceTag/team": "blue"}}
        assert holds(block, {})
        assert holds(block, {"aws:ResourceTag/team": "red"})
        assert not holds(block, {"aws:ResourceTag/team": "blue"})

    def test_null_token_issue_time(self) -> None:
        assert holds({"Null": {"aws:TokenIssueTime": "true"}}, {})
        assert not holds({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": "x"})
        assert holds({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": "x"})
        assert not holds({"Null": {"aws:TokenIssueTime": False}}, {})
        assert holds({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": []})

    def test_unknown_operators_raise(self) -> None:
        with pytest.raises(ValueError, match="'StringSorta'"):
            holds({"StringSorta": {"k": "v"}}, {"k": "v"})
        with pytest.raises(ValueError, match="'NullIfExists'"):
            holds({"NullIfExists": {"k": "true"}}, {})


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html
class TestMultipleKeysAndValues:
    def test_operators_and_keys_are_anded_values_ored(self) -> None:
        block = {
            "StringEquals": {
                "aws:PrincipalTag/team": ["blue", "red"],
                "aws:RequestedRegion": "eu-west-1",
            },
            "Bool": {"aws:SecureTransport": "true"},
        }
        context = {
            "aws:PrincipalTag/team": "red",
            "aws:RequestedRegion": "eu-west-1",
            "aws:SecureTransport": "true",
        }
        assert holds(block, context)
        assert not holds(block, {**context, "aws:RequestedRegion": "us-east-1"})
        assert not holds(block, {**context, "aws:SecureTransport": "false"})
        assert not holds(block, {**context, "aws:PrincipalTag/team": "green"})

    def test_negated_operator_nors_its_values(self) -> None:
        block = {"StringNotEquals": {"aws:PrincipalTag/team": ["blue", "red"]}}
        assert holds(block, {"aws:PrincipalTag/team": "green"})
        assert not holds(block, {"aws:PrincipalTag/team": "red"})

    def test_condition_key_names_are_case_insensitive(self) -> None:
        # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
        assert holds({"Bool": {"AWS:securetransport": "true"}}, {"aws:SecureTransport": "true"})
        assert holds({"StringEquals": {"aws:SourceAccount": "1"}}, {"AWS:SOURCEACCOUNT": "1"})

    def test_a_multivalued_key_without_a_set_operator_matches_on_any_value(self) -> None:
        assert holds({"StringEquals": {"k": "b"}}, {"k": ["a", "b"]})
        assert not holds({"StringNotEquals": {"k": "b"}}, {"k": ["a", "b"]})


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition_examples-multi-valued-context-keys.html
ALLOWED_ATTRIBUTES = {
    "ForAllValues:StringLike": {"dynamodb:requestedAttributes": ["PostDateTime", "Message", "Tags"]}
}
FORBIDDEN_ATTRIBUTES = {
    "ForAnyValue:StringLike": {"dynamodb:requestedAttributes": ["ID", "PostDateTime"]}
}


class TestSetOperators:
    def test_for_all_values_every_request_value_in_the_policy(self) -> None:
        assert holds(
            ALLOWED_ATTRIBUTES, {"dynamodb:requestedAttributes": ["PostDateTime", "Message"]}
        )
        assert not holds(
            ALLOWED_ATTRIBUTES, {"dynamodb:requestedAttributes": ["PostDateTime", "UserName"]}
        )
        # "The ForAllValues set operator also returns true if there are no context keys".
        assert holds(ALLOWED_ATTRIBUTES, {})
        assert holds(ALLOWED_ATTRIBUTES, {"dynamodb:requestedAttributes": []})

    def test_for_any_value_one_request_value_in_the_policy(self) -> None:
        attributes = ["UserName", "Message", "PostDateTime"]
        assert holds(FORBIDDEN_ATTRIBUTES, {"dynamodb:requestedAttributes": attributes})
        assert not holds(FORBIDDEN_ATTRIBUTES, {"dynamodb:requestedAttributes": ["UserName"]})
        assert not holds(FORBIDDEN_ATTRIBUTES, {})

    def test_for_all_values_string_not_like_tag_keys(self) -> None:
        block = {"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}
        assert not holds(block, {"aws:TagKeys": ["key1:legal"]})
        assert not holds(block, {"aws:TagKeys": ["key1:hr", "key1:personnel"]})
        assert holds(block, {"aws:TagKeys": ["key2:audit"]})
        assert holds(block, {})  # no aws:TagKeys in the request context: match

    def test_for_any_value_negated_needs_one_value_outside_the_policy(self) -> None:
        block = {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["a", "b"]}}
        assert holds(block, {"aws:TagKeys": ["a", "c"]})
        assert not holds(block, {"aws:TagKeys": ["a", "b"]})
        assert not holds(block, {})

    def test_if_exists_with_a_set_operator(self) -> None:
        assert holds({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "a"}}, {})


# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
class TestPolicyVariables:
    def test_substitutes_a_single_valued_key(self) -> None:
        context = normalize_context({"aws:username": "David"})
        assert resolve("arn:aws:s3:::mybucket/${aws:username}/*", context, variables=True) == (
            "arn:aws:s3:::mybucket/David/*"
        )
        assert resolve("${AWS:UserName}", context, variables=True) == "David"

    def test_unresolved_variables_match_nothing(self) -> None:
        assert resolve("home/${aws:username}/", {}, variables=True) is None
        multivalued = normalize_context({"aws:TagKeys": ["a", "b"]})
        assert resolve("${aws:TagKeys}", multivalued, variables=True) is None

    def test_default_value(self) -> None:
        pattern = "arn:aws:s3:::bucket/${aws:userid, 'anonymous'}"
        assert resolve(pattern, {}, variables=True) == "arn:aws:s3:::bucket/anonymous"
        context = normalize_context({"aws:userid": "AIDA1"})
        assert resolve(pattern, context, variables=True) == "arn:aws:s3:::bucket/AIDA1"

    def test_special_characters_are_literal(self) -> None:
        pattern = resolve("a${*}b${?}c${$}", {}, variables=True)
        assert pattern is not None
        assert literal(pattern) == "a*b?c$"
        assert glob_match(pattern, "a*b?c$")
        assert not glob_match(pattern, "axxb?c$")

    def test_a_substituted_value_has_no_wildcards(self) -> None:
        pattern = resolve("${k}", normalize_context({"k": "a*"}), variables=True)
        assert pattern is not None
        assert glob_match(pattern, "a*")
        assert not glob_match(pattern, "ab")

    def test_before_version_2012_10_17_variables_are_text(self) -> None:
        block = {"StringEquals": {"k": "${aws:username}"}}
        assert holds(block, {"k": "${aws:username}", "aws:username": "David"}, variables=False)
        assert not holds(block, {"k": "David", "aws:username": "David"}, variables=False)
        assert holds(block, {"k": "David", "aws:username": "David"})

    def test_only_string_arn_and_bool_values_take_variables(self) -> None:
        context = {"k": "5", "n": "5"}
        with pytest.raises(ValueError, match="could not convert"):
            holds({"NumericEquals": {"k": "${n}"}}, context)
        assert holds({"StringEquals": {"k": "${n}"}}, context)
        assert holds(
            {"ArnEquals": {"k": "arn:aws:sns:us-east-1:${n}:t"}},
            {"k": "arn:aws:sns:us-east-1:5:t", "n": "5"},
        )
        assert holds({"Bool": {"k": "${n}"}}, {"k": "true", "n": "true"})

    def test_backslashes_in_policy_text_are_literal(self) -> None:
        pattern = resolve("a\\b*", {}, variables=False)
        assert pattern is not None
        assert glob_match(pattern, "a\\bc")
        assert literal(pattern) == "a\\b*"


class TestMatching:
    def test_glob_ignore_case(self) -> None:
        assert glob_match("s3:Get*", "S3:getobject", ignore_case=True)
        assert not glob_match("s3:Get*", "S3:getobject")

    def test_a_trailing_lone_backslash_matches_itself(self) -> None:
        assert glob_match("a\\", "a\\")

    def test_arn_match_needs_six_parts(self) -> None:
        assert not arn_match("*", "arn:aws:s3:::b")
        assert not arn_match("arn:aws:s3:::b", "*")
        assert arn_match(
            "arn:aws:logs:*:*:log-group:/aws/codebuild/x:*",
            "arn:aws:logs:eu-west-1:1:log-group:/aws/codebuild/x:log-stream:s",
        )
