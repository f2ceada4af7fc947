"""The stack's IAM roles as deployed (baseline I1-I3), found through what uses them."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import as_list, policy_document

STAR_ONLY_ACTIONS = {
    # Baseline I2: the only actions AWS accepts on nothing narrower than "*".
    "ecr:GetAuthorizationToken",
    "codepipeline:PutJobSuccessResult",
    "codepipeline:PutJobFailureResult",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    # Enhanced (Inspector) scanning: ECR returns findings only to a caller allowed this,
    # and Inspector findings have no resource-level scope.
    "inspector2:ListFindings",
    # ECS lists no resource type for these: the deploy step reads the stack's task definition
    # and registers each release's revision from it.
    "ecs:DescribeTaskDefinition",
    "ecs:RegisterTaskDefinition",
}
ROLE_USERS = ["build", "deploy", "pipeline", "source-events"]
SERVICES = {
    "build": "codebuild.amazonaws.com",
    "deploy": "lambda.amazonaws.com",
    "pipeline": "codepipeline.amazonaws.com",
    "source-events": "events.amazonaws.com",
}


def role_name_of(arn: str) -> str:
    """``arn:aws:iam::123:role/path/name`` -> ``name``."""
    return arn.rsplit("/", 1)[-1]


def source_events_role(aws: Any, outputs: dict[str, str]) -> str:
    """The role of the rule that starts the pipeline on a source upload."""
    events = aws("events")
    rules = events.list_rule_names_by_target(TargetArn=outputs["pipelineArn"])["RuleNames"]
    assert len(rules) == 1, f"expected one rule starting the pipeline, got {rules}"
    (target,) = events.list_targets_by_rule(Rule=rules[0])["Targets"]
    return role_name_of(target["RoleArn"])


@pytest.fixture(scope="module")
def role_names(aws: Any, outputs: dict[str, str]) -> dict[str, str]:
    """Each role by its user, read from the deployed resource that assumes it."""
    project = aws("codebuild").batch_get_projects(names=[outputs["codeBuildProjectName"]])
    function = aws("lambda").get_function_configuration(FunctionName=outputs["deployFunctionName"])
    pipeline = aws("codepipeline").get_pipeline(name=outputs["pipelineName"])["pipeline"]
    return {
        "build": role_name_of(project["projects"][0]["serviceRole"]),
        "deploy": role_name_of(function["Role"]),
        "pipeline": role_name_of(pipeline["roleArn"]),
        "source-events": source_events_role(aws, outputs),
    }


@pytest.fixture(params=ROLE_USERS)
def user(request: pytest.FixtureRequest) -> str:
    """Which service's role."""
    return str(request.param)


@pytest.fixture
def role(aws: Any, role_names: dict[str, str], user: str) -> dict[str, Any]:
    """GetRole of that role."""
    return dict(aws("iam").get_role(RoleName=role_names[user])["Role"])


def inline_statements(aws: Any, role_name: str) -> list[dict[str, Any]]:
    """Every statement of every inline policy of the role."""
    iam = aws("iam")
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    assert names, f"{role_name} has no inline policy"
    statements: list[dict[str, Any]] = []
    for name in names:
        raw = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        statements.extend(as_list(policy_document(raw)["Statement"]))
    return statements


def test_one_role_per_service(role_names: dict[str, str]) -> None:
    assert len(set(role_names.values())) == len(ROLE_USERS)


def test_trust_policy_names_exactly_one_service(role: dict[str, Any], user: str) -> None:
    (statement,) = policy_document(role["AssumeRolePolicyDocument"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] in ("sts:AssumeRole", ["sts:AssumeRole"])
    assert statement["Principal"] == {"Service": SERVICES[user]}


def test_trust_is_limited_to_this_account_and_source(
    role: dict[str, Any], user: str, outputs: dict[str, str]
) -> None:
    (statement,) = policy_document(role["AssumeRolePolicyDocument"])["Statement"]
    if user in ("deploy", "pipeline"):
        # Lambda and CodePipeline are documented to send no source account or ARN when they
        # assume a role: a condition on them would make the role unusable.
        assert "Condition" not in statement
        return
    account = outputs["kmsKeyArn"].split(":")[4]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": account}
    source = statement["Condition"]["ArnLike"]["aws:SourceArn"]
    expected = {
        "build": f"project/{outputs['codeBuildProjectName']}",
        "source-events": ":rule/",
    }[user]
    assert expected in source
    assert "*" not in source


def test_no_wildcard_actions(aws: Any, role_names: dict[str, str], user: str) -> None:
    for statement in inline_statements(aws, role_names[user]):
        assert "NotAction" not in statement
        for action in as_list(statement["Action"]):
            name = action.partition(":")[2]
            assert action != "*", statement
            assert name != "*", f"service-wide wildcard {action} in {role_names[user]}"


def test_star_resource_only_for_the_allow_listed_actions(
    aws: Any, role_names: dict[str, str], user: str
) -> None:
    for statement in inline_statements(aws, role_names[user]):
        assert statement["Effect"] == "Allow"
        assert "NotResource" not in statement
        if "*" in as_list(statement["Resource"]):
            assert as_list(statement["Resource"]) == ["*"]
            assert set(as_list(statement["Action"])) <= STAR_ONLY_ACTIONS, statement


def test_resources_are_this_account_arns(
    aws: Any, role_names: dict[str, str], user: str, outputs: dict[str, str]
) -> None:
    account = outputs["kmsKeyArn"].split(":")[4]
    for statement in inline_statements(aws, role_names[user]):
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                continue
            assert resource.startswith("arn:aws"), resource
            # S3 ARNs carry no account; every other ARN must be this account's.
            assert resource.startswith("arn:aws:s3:::") or f":{account}:" in resource, resource


def test_no_managed_policies_attached(aws: Any, role_names: dict[str, str], user: str) -> None:
    attached = aws("iam").list_attached_role_policies(RoleName=role_names[user])
    assert attached["AttachedPolicies"] == []
