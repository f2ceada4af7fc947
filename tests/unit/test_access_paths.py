"""The table of the pipeline's calls: well-formed rows, all found in every configuration's graph."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from conftest import ACCOUNT_ID, REGION

from tap_cicd import graph as graph_module
from tap_cicd.access import paths
from tap_cicd.access.paths import TABLE, Call, Ref
from tap_cicd.access.static import Resolver, applicable
from tap_cicd.graph import Graph
from tap_cicd.policy.command import check_graph

GITHUB = {
    "source": "github",
    "connectionArn": "arn:aws:codestar-connections:us-east-1:123456789012:connection/"
    "0f3e2d1c-aaaa-bbbb-cccc-0123456789ab",
    "repository": "acme/service",
}
CONFIGS = {
    "default": {},
    "github": GITHUB,
    "record only": {"deployTarget": "none"},
    "approval": {"requireApproval": "true"},
    "github, record only, approval": {**GITHUB, "deployTarget": "none", "requireApproval": "true"},
}
ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z]+")
CONDITION_KEY = re.compile(r"(aws|kms|iam):[A-Za-z]+(:[A-Za-z0-9:]+)?")
STEPS = ["trigger", "source", "build", "approval", "deploy", "rollout", "notify", "logs"]
STACK_ROLES = {"pipeline-role", "build-role", "deploy-role", "source-events-role"}


@pytest.fixture(scope="module", autouse=True)
def unit_mocks_back() -> Iterator[None]:
    """``tap check`` builds its graphs with the placeholder account and region: the unit tests'
    own mocks are installed again after this module."""
    yield
    graph_module.install(ACCOUNT_ID, REGION, stack="unit")


@pytest.fixture(scope="module", params=list(CONFIGS))
def configured(request: pytest.FixtureRequest) -> tuple[str, Graph]:
    """Each configuration's offline graph, as ``tap check`` builds it."""
    return request.param, check_graph(CONFIGS[request.param])


def refs(call: Call) -> list[Ref]:
    """Every graph reference of a row: principal, resource and context values."""
    values = [call.principal, call.resource, *call.context.values()]
    return [value for value in values if isinstance(value, Ref)]


@pytest.mark.parametrize("call", TABLE, ids=lambda c: f"{c.step}-{c.action}")
def test_every_row_is_well_formed(call: Call) -> None:
    assert call.step in STEPS
    assert ACTION.fullmatch(call.action), call.action
    assert call.doc.startswith("https://docs.aws.amazon.com/"), call.doc
    assert call.when in ("", *paths.CONDITIONS)
    assert all(CONDITION_KEY.fullmatch(key) for key in call.context), call.context
    principal = call.principal
    if isinstance(principal, Ref):
        assert principal.type == paths.ROLE
    else:
        assert principal.endswith(".amazonaws.com")
    if call.action.startswith("kms:"):
        # A KMS row names the key through the encrypted resource, and its encryption context.
        assert isinstance(call.resource, Ref) and call.resource.attr != "arn"
        assert any(key.startswith("kms:EncryptionContext:") for key in call.context)
    if isinstance(principal, Ref) and call.action.startswith("kms:"):
        # A role uses a key only through a service of the stack's region.
        assert re.fullmatch(
            r"[a-z0-9]+\.\{region\}\.amazonaws\.com", str(call.context["kms:ViaService"])
        )


def test_the_table_covers_every_role_of_the_stack_and_every_step() -> None:
    principals = {c.principal.name for c in TABLE if isinstance(c.principal, Ref)}
    assert principals >= STACK_ROLES | {"task-execution-role"}
    steps = [c.step for c in TABLE]
    assert sorted(steps, key=STEPS.index) == steps  # in the order of the path
    assert len(TABLE) == 84


def test_every_row_is_found_in_every_configuration(configured: tuple[str, Graph]) -> None:
    name, graph = configured
    resolver = Resolver(graph)
    for call in applicable(graph):
        for ref in refs(call):
            assert resolver.value(ref), (name, call)
        assert "{" not in resolver.value(call.principal)


def test_each_configuration_makes_its_own_part_of_the_path(
    configured: tuple[str, Graph],
) -> None:
    name, graph = configured
    made = {call.when for call in applicable(graph)}
    assert (paths.S3_SOURCE in made) == ("github" not in name)
    assert (paths.GITHUB_SOURCE in made) == ("github" in name)
    assert (paths.ECS_SERVICE in made) == ("record only" not in name)
    assert (paths.MANUAL_APPROVAL in made) == ("approval" in name)


def test_eventbridge_sends_the_rule_to_sns_and_sqs_but_nothing_to_the_topics_key() -> None:
    def rows(action: str, resource: Ref) -> list[Call]:
        return [
            c
            for c in TABLE
            if c.principal == paths.EVENTS and c.action == action and c.resource == resource
        ]

    (publish,) = rows("sns:Publish", paths.TOPIC_ARN)
    assert publish.context == {"aws:SourceArn": paths.STATE_RULE, "aws:SourceAccount": "{account}"}
    topic_key = rows("kms:GenerateDataKey", paths.TOPIC_KEY)
    assert [c.context for c in topic_key] == [
        {"kms:EncryptionContext:aws:sns:topicArn": paths.TOPIC_ARN}
    ]
    dead_letters = rows("sqs:SendMessage", paths.EVENTS_DLQ)
    assert {c.context["aws:SourceArn"] for c in dead_letters} == {
        paths.STATE_RULE,
        paths.SOURCE_RULE,
    }


def test_row_makes_one_call_per_action() -> None:
    made = paths.row(paths.BUILD_ROLE, "a:B  c:D", "*", "https://docs", {"k:K": "v"})
    assert [c.action for c in made] == ["a:B", "c:D"]
    assert made[0].context == {"k:K": "v"} and made[0].context is not made[1].context


def test_key_use_as_a_role_sends_the_service_and_the_callers_account() -> None:
    (call,) = paths.key_use(
        paths.BUILD_ROLE, "kms:Decrypt", paths.ARTIFACTS_KEY, ("aws:s3:arn", "x"), "d", via="s3"
    )
    assert call.context == {
        "kms:EncryptionContext:aws:s3:arn": "x",
        "kms:ViaService": "s3.{region}.amazonaws.com",
        "kms:CallerAccount": "{account}",
    }
    (service,) = paths.key_use(paths.EVENTS, "kms:Decrypt", paths.TOPIC_KEY, ("c", "v"), "d")
    assert service.context == {"kms:EncryptionContext:c": "v"}


def test_stage_and_only_stamp_the_step_and_the_condition() -> None:
    made = paths.stage(
        "build",
        paths.row(paths.BUILD_ROLE, "a:B", "*", "d"),
        paths.only(paths.S3_SOURCE, paths.row(paths.BUILD_ROLE, "c:D", "*", "d")),
    )
    assert [(c.step, c.when) for c in made] == [("build", ""), ("build", paths.S3_SOURCE)]
    forced = paths.stage("x", paths.row(paths.BUILD_ROLE, "a:B", "*", "d"), when="ecs service")
    assert forced[0].when == paths.ECS_SERVICE


def test_an_object_read_decrypts_and_a_write_generates_a_data_key() -> None:
    made = paths.s3_object(
        paths.BUILD_ROLE, "s3:GetObject s3:PutObject", paths.ARTIFACT, paths.ARTIFACTS_KEY, "d"
    )
    assert [c.action for c in made] == [
        "s3:GetObject",
        "s3:PutObject",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    ]
    assert made[2].context["kms:EncryptionContext:aws:s3:arn"] == paths.ARTIFACTS
