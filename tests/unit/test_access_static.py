"""``tap check --access``: the table authorized over the offline graph, as AWS would decide."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ACCOUNT_ID, REGION, deploy_stack
from test_access_paths import CONFIGS
from typer.testing import CliRunner

from tap_cicd import graph as graph_module
from tap_cicd.access import report, static
from tap_cicd.access.evaluation import Decision
from tap_cicd.access.static import Outcome, Report, Unneeded, check
from tap_cicd.cli import app
from tap_cicd.errors import PolicyError
from tap_cicd.graph import Graph, Node
from tap_cicd.policy.command import check_graph

ACCOUNT = "123456789012"
STATE_RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/pipeline-pipeline-state-dev"


@pytest.fixture(scope="module", autouse=True)
def unit_mocks_back() -> Iterator[None]:
    """``tap check`` builds its graphs with the placeholder account and region: the unit tests'
    own mocks are installed again after this module."""
    yield
    graph_module.install(ACCOUNT_ID, REGION, stack="unit")


@pytest.fixture(scope="module")
def default_graph() -> Graph:
    """The default configuration's graph (S3 source, ECS service)."""
    return check_graph({})


@pytest.fixture
def graph(default_graph: Graph) -> Graph:
    """A copy of it that a test may change."""
    return copy.deepcopy(default_graph)


Change = Callable[[dict[str, Any]], None]
KEY = "aws:kms/key:Key"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
EVENTS = "events.amazonaws.com"
BUILD_ROLE = "pipeline-build-role-dev"


def edit(typ: str, name: str, change: Change, attr: str = "policy") -> Callable[[Graph], None]:
    """A change of one policy document of the graph."""

    def apply(graph: Graph) -> None:
        node = graph.one(typ, name)
        doc = json.loads(node.outputs[attr])
        change(doc)
        node.outputs[attr] = json.dumps(doc)

    return apply


def statement(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    """The statement ``sid`` of a document (``#0``: the first)."""
    found: list[dict[str, Any]] = doc["Statement"]
    return found[0] if sid == "#0" else next(s for s in found if s.get("Sid") == sid)


def drop(sid: str) -> Change:
    """Remove one statement."""
    return lambda doc: doc.update(Statement=[s for s in doc["Statement"] if s.get("Sid") != sid])


def condition(sid: str, **block: dict[str, str]) -> Change:
    """Replace one statement's condition."""
    return lambda doc: statement(doc, sid).update(Condition=block)


def add(extra: dict[str, Any]) -> Change:
    """Add one statement."""
    return lambda doc: doc["Statement"].append(extra)


def denied(graph: Graph) -> dict[tuple[str, str, str], str]:
    """The denied calls, by (step, principal, action), with their reasons."""
    return {(o.call.step, o.principal, o.call.action): o.reason for o in check(graph).denied}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_call_of_the_path_is_allowed(name: str) -> None:
    result = check(check_graph(CONFIGS[name]))
    assert result.outcomes and result.denied == [], [o.message for o in result.denied]


def test_it_holds_in_another_account_and_region() -> None:
    result = check(deploy_stack({}))  # 111122223333, eu-west-1
    assert result.denied == [] and len(result.outcomes) == 80
    assert "logs.eu-west-1.amazonaws.com" in {o.principal for o in result.outcomes}


NOT_SENT = ", which AWS does not send on this path"
WEAKENED = {
    # The shipped defect: EventBridge sends no aws:SourceArn with its KMS calls for the topic.
    "key policy EventBridge statement conditioned on aws:SourceArn": (
        edit(
            KEY, "key", condition("EventBridgeDeliveries", ArnEquals={"aws:SourceArn": STATE_RULE})
        ),
        ("notify", EVENTS, "kms:GenerateDataKey"),
        "key policy allows it (statement EventBridgeDeliveries tests aws:SourceArn" + NOT_SENT,
    ),
    "key policy without the account's delegation to IAM": (
        edit(KEY, "key", drop("AccountAdministration")),
        ("build", BUILD_ROLE, "kms:Decrypt"),
        "the key policy neither allows it nor lets IAM policies allow it",
    ),
    "log group left out of the logs service's key grant": (
        edit(
            KEY,
            "key",
            condition(
                "CloudWatchLogsOfThisStack",
                ArnEquals={"kms:EncryptionContext:aws:logs:arn": "other"},
            ),
        ),
        ("build", "logs.us-east-1.amazonaws.com", "kms:GenerateDataKey"),
        "CloudWatchLogsOfThisStack's condition on kms:EncryptionContext:aws:logs:arn does not",
    ),
    "topic policy without the rule's statement": (
        edit(TOPIC_POLICY, "notifications", drop("EventBridgeRuleOfThisStack")),
        ("notify", EVENTS, "sns:Publish"),
        "no statement of the topic policy allows it",
    ),
    "topic policy naming another rule": (
        edit(
            TOPIC_POLICY,
            "notifications",
            condition("EventBridgeRuleOfThisStack", ArnEquals={"aws:SourceArn": STATE_RULE + "-x"}),
        ),
        ("notify", EVENTS, "sns:Publish"),
        "statement EventBridgeRuleOfThisStack's condition on aws:SourceArn does not match",
    ),
    "queue policy naming only the state rule": (
        edit(
            QUEUE_POLICY,
            "events-dlq",
            condition("EventBridgeDeadLetters", ArnEquals={"aws:SourceArn": STATE_RULE}),
        ),
        ("trigger", EVENTS, "sqs:SendMessage"),
        "no statement of the queue policy allows it",
    ),
    "source rule's role without its statement": (
        edit(ROLE_POLICY, "source-events", drop("StartOwnPipeline")),
        ("trigger", "pipeline-source-events-role-dev", "codepipeline:StartPipelineExecution"),
        "no statement of the identity policy allows it",
    ),
    "build role trusting another project": (
        edit(
            "aws:iam/role:Role",
            "build-role",
            condition("#0", ArnLike={"aws:SourceArn": "arn:aws:codebuild:*:*:project/x"}),
            "assumeRolePolicy",
        ),
        ("build", "codebuild.amazonaws.com", "sts:AssumeRole"),
        "no statement of the trust policy allows it (statement #0's condition on aws:SourceArn",
    ),
    "pipeline key use through SNS only": (
        edit(
            ROLE_POLICY,
            "pipeline-role",
            condition(
                "PipelineKeyThroughS3",
                StringEquals={"kms:ViaService": "sns.us-east-1.amazonaws.com"},
            ),
        ),
        ("source", "pipeline-pipeline-role-dev", "kms:Decrypt"),
        "statement PipelineKeyThroughS3's condition on kms:ViaService does not match",
    ),
    "task roles passed only to Lambda": (
        edit(
            ROLE_POLICY,
            "deploy-role",
            condition(
                "PassTaskRolesToEcsTasks",
                StringEquals={"iam:PassedToService": "lambda.amazonaws.com"},
            ),
        ),
        ("rollout", "pipeline-deploy-role-dev", "iam:PassRole"),
        "statement PassTaskRolesToEcsTasks's condition on iam:PassedToService does not",
    ),
    "access logs of the artifact bucket only": (
        edit(
            BUCKET_POLICY,
            "access-logs",
            condition(
                "S3ServerAccessLogDelivery",
                ArnLike={"aws:SourceArn": "arn:aws:s3:::pipeline-artifacts-123456789012-dev"},
            ),
        ),
        ("logs", "logging.s3.amazonaws.com", "s3:PutObject"),
        "bucket policy allows it (statement S3ServerAccessLogDelivery's condition on aws:SourceArn",
    ),
    "artifact bucket denying the build role": (
        edit(
            BUCKET_POLICY,
            "artifacts-policy",
            add(
                {
                    "Sid": "NoBuilds",
                    "Effect": "Deny",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/{BUILD_ROLE}"},
                    "Action": "s3:PutObject",
                    "Resource": "*",
                }
            ),
        ),
        ("build", BUILD_ROLE, "s3:PutObject"),
        "explicitly denied by the bucket policy (statement NoBuilds)",
    ),
}


@pytest.mark.parametrize("name", list(WEAKENED))
def test_one_weakened_grant_denies_its_call_and_names_the_cause(name: str, graph: Graph) -> None:
    change, call, reason = WEAKENED[name]
    change(graph)
    found = denied(graph)
    assert call in found, found
    assert reason in found[call]


def test_the_shipped_defect_fails_tap_check_access_with_exit_code_9(
    graph: Graph, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    WEAKENED["key policy EventBridge statement conditioned on aws:SourceArn"][0](graph)
    monkeypatch.setattr(static, "check_graph", lambda _: graph)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["check", "--access"])
    assert result.exit_code == 9 and "DENY" in result.output
    out = io.StringIO()
    with pytest.raises(PolicyError) as caught:
        static.run_access_check({}, False, out)
    assert (caught.value.code, caught.value.exit_code) == ("policy_failed", 9)
    assert str(caught.value).startswith("4 call(s) of the pipeline's path would be denied by AWS: ")
    assert (
        "events.amazonaws.com kms:GenerateDataKey on arn:aws:kms:us-east-1:123456789012:key/"
        in str(caught.value)
    )
    assert "76 of 80 calls allowed, 4 denied" in out.getvalue()  # the report comes first


def test_tap_check_access_passes_and_prints_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAP_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    text = runner.invoke(app, ["check", "--access", "-c", "deployTarget=none"])
    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[0].split() == list(report.HEADERS)
    assert "65 of 65 calls allowed, 0 denied" in text.output
    result = json.loads(runner.invoke(app, ["check", "--access", "--json"]).output)
    assert result["summary"] == {"calls": 80, "allowed": 80, "denied": 0, "unneeded": 20}
    call = next(
        c for c in result["calls"] if (c["principal"], c["action"]) == (EVENTS, "sns:Publish")
    )
    assert call["context"]["aws:SourceArn"] == STATE_RULE and call["doc"].startswith("https://")
    policy = runner.invoke(app, ["check", "--json"])  # without --access: the policy pack
    assert "results" in json.loads(policy.output)


def node(typ: str, name: str, outputs: dict[str, Any]) -> Node:
    """A resource added to the graph."""
    return Node(f"urn:{name}", typ, name, None, True, dict(outputs), dict(outputs))


def outcome(result: Report, principal: str, action: str) -> Outcome:
    """The first call of ``principal`` doing ``action``."""
    return next(o for o in result.outcomes if (o.principal, o.call.action) == (principal, action))


def test_a_repository_policy_applies_to_the_push(graph: Graph) -> None:
    refusal = {"Effect": "Deny", "Principal": "*", "Action": "ecr:PutImage", "Resource": "*"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [refusal]})
    repository = "aws:ecr/repositoryPolicy:RepositoryPolicy"
    outputs = {"repository": "pipeline-images-dev", "policy": policy}
    graph.nodes.append(node(repository, "images-policy", outputs))
    found = denied(graph)
    assert found[("build", BUILD_ROLE, "ecr:PutImage")] == (
        "explicitly denied by the repository policy (statement #0)"
    )


def test_a_lambda_permission_is_the_functions_policy(graph: Graph) -> None:
    edit(ROLE_POLICY, "pipeline-role", drop("InvokeOwnDeployFunction"))(graph)
    assert ("deploy", "pipeline-pipeline-role-dev", "lambda:InvokeFunction") in denied(graph)
    role = f"arn:aws:iam::{ACCOUNT}:role/pipeline-pipeline-role-dev"
    permission = {"function": "pipeline-deploy-dev", "action": "lambda:InvokeFunction"}
    graph.nodes.append(node(static.PERMISSION, "invoke", {**permission, "principal": role}))
    result = outcome(check(graph), "pipeline-pipeline-role-dev", "lambda:InvokeFunction")
    assert result.reason == "allowed by the function policy (statement invoke)"


def test_a_permission_for_a_service_names_its_source() -> None:
    made = static._permission(
        {"principal": EVENTS, "action": "lambda:InvokeFunction", "statementId": "s",
         "sourceArn": STATE_RULE, "sourceAccount": ACCOUNT},
        "node",
        "arn:f",
    )  # fmt: skip
    assert made == {
        "Sid": "s",
        "Effect": "Allow",
        "Principal": {"Service": EVENTS},
        "Action": "lambda:InvokeFunction",
        "Resource": "arn:f",
        "Condition": {
            "ArnLike": {"AWS:SourceArn": STATE_RULE},
            "StringEquals": {"AWS:SourceAccount": ACCOUNT},
        },
    }


def test_a_resource_missing_from_the_graph_denies_its_calls(graph: Graph) -> None:
    graph.nodes.remove(graph.one("aws:sns/topic:Topic"))
    found = check(graph)
    publish = outcome(found, EVENTS, "sns:Publish")
    assert publish.request is None and publish.resource == "aws:sns/topic:Topic *notifications* arn"
    assert publish.reason.startswith("not in the program's graph: expected one aws:sns/topic:Topic")


def test_an_output_missing_or_a_key_of_another_stack_denies_the_key_use(graph: Graph) -> None:
    topic = graph.one("aws:sns/topic:Topic")
    del topic.outputs["kmsMasterKeyId"]
    reason = denied(graph)[("notify", EVENTS, "kms:GenerateDataKey")]
    assert reason.endswith("aws:sns/topic:Topic *notifications* has no kmsMasterKeyId")
    topic.outputs["kmsMasterKeyId"] = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/other"
    reason = denied(graph)[("notify", EVENTS, "kms:GenerateDataKey")]
    assert reason == "there is no key policy, and kms:GenerateDataKey needs one to allow it"


def test_policy_documents_are_read_leniently() -> None:
    assert static.document('{"Statement": []}') == {"Statement": []}
    assert static.document({"Statement": []}) == {"Statement": []}
    assert static.document("{not json") == static.document("[]") == static.document(None) == {}
    assert static.statements({"Statement": {"Sid": "one"}}) == [{"Sid": "one"}]
    assert static._output({"a": [{"b": "c"}]}, "a.0.b") == "c"
    assert static._output({"a": [{"b": "c"}]}, "a.1.b") is None
    assert static._output({"a": "text"}, "a.b") is None


def test_least_privilege_lists_what_no_call_needs(graph: Graph) -> None:
    other = "arn:aws:ecr:*:*:repository/other"
    extra = [
        {"Effect": "Allow", "Action": "sqs:DeleteMessage", "Resource": "*"},
        {"Effect": "Deny", "Action": "xray:PutTelemetryRecords", "Resource": "*"},
        {
            "Sid": "Reads",
            "Effect": "Allow",
            "Action": ["ecr:Describe*", "ecr:List*"],
            "Resource": other,
        },
    ]
    edit(ROLE_POLICY, "deploy-role", lambda doc: doc["Statement"].extend(extra))(graph)
    found = {(u.role, u.statement, u.action) for u in check(graph).unneeded}
    deploy = "pipeline-deploy-role-dev"
    index = len(json.loads(graph.one(ROLE_POLICY, "deploy-role").outputs["policy"])["Statement"])
    assert (deploy, f"#{index - 3}", "sqs:DeleteMessage") in found  # a statement without Sid
    assert not any(sid == f"#{index - 2}" for _, sid, _ in found)  # a Deny grants nothing
    # A wildcard is listed by the table's actions it covers that no call needs through it...
    assert (deploy, "Reads", "ecr:DescribeImageScanFindings") in found
    # ...and by itself when it covers none of them.
    assert (deploy, "Reads", "ecr:List*") in found
    assert ("pipeline-pipeline-role-dev", "InvokeOwnDeployFunction", "lambda:GetFunction") in found
    assert ("pipeline-build-role-dev", "PipelineKey", "kms:ReEncrypt*") in found


def test_the_report_as_a_table_and_as_json(default_graph: Graph) -> None:
    result = check(default_graph)
    text = report.table(result)
    assert "least privilege: allowed, and no call of the path needs it (advisory):" in text
    assert text.endswith("80 of 80 calls allowed, 0 denied; 20 allowed action(s) no call needs\n")
    missing = Outcome(result.outcomes[0].call, "p", "r", Decision(False, "gone"))
    bare = Report([missing], [])
    assert "least privilege" not in report.table(bare)
    assert report.table(bare).splitlines()[1].split()[-2:] == ["DENY", "gone"]
    document = json.loads(report.as_json(bare))
    assert document["calls"][0]["context"] == {} and document["unneeded"] == []
    assert document["summary"] == {"calls": 1, "allowed": 0, "denied": 1, "unneeded": 0}
    unneeded = json.loads(report.as_json(Report([], [Unneeded("r", "S", "a:B")])))["unneeded"]
    assert unneeded == [{"role": "r", "statement": "S", "action": "a:B"}]
