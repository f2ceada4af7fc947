"""Issue 14 at run time: each principal on the pipeline's path is authorized as AWS would, so a
permission taken from the deployed stack fails ``tap run`` where AWS would fail it, with a
message naming the principal, the action, the resource and the cause."""

from __future__ import annotations

import json
from typing import Any

from .conftest import EXAMPLE, STACK, Deployed, tap
from .test_run_e2e import action


def without(stack: Deployed, role_part: str, removed: str) -> str:
    """Take ``removed`` out of every inline policy of the stack's role whose name holds
    ``role_part`` (the deployed stack otherwise unchanged); the role's name."""
    iam = stack.clients("iam")
    [role] = [r["RoleName"] for r in iam.list_roles()["Roles"] if role_part in r["RoleName"]]
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        kept: list[dict[str, Any]] = []
        for statement in document["Statement"]:
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if removed in actions:
                statement["Action"] = [a for a in actions if a != removed]
            if statement.get("Action") != []:
                kept.append(statement)
        document["Statement"] = kept
        if not kept:
            iam.delete_role_policy(RoleName=role, PolicyName=name)
            continue
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    return str(role)


def denials(stack: Deployed) -> list[dict[str, str]]:
    return list(stack.control("/_tap/iam/denials", {})["denials"])


def test_the_whole_path_is_allowed_as_deployed(stack: Deployed) -> None:
    code, document, stderr = stack.run()
    assert code == 0, stderr
    assert document["status"] == "Succeeded"
    assert denials(stack) == []


def test_a_build_role_that_may_not_push_fails_the_build_at_the_push(stack: Deployed) -> None:
    role = without(stack, "build-role", "ecr:PutImage")
    code, document, _stderr = stack.run()
    assert code == 11
    build = action(document, "Build")
    assert build["status"] == "Failed" and "Phase: BUILD" in build["errorMessage"]
    assert "docker push" in build["errorMessage"]
    [denied] = denials(stack)
    assert denied["action"] == "ecr:PutImage"
    assert f"assumed-role/{role}/" in denied["principal"]
    assert denied["resource"].endswith(f":repository/{stack.outputs['ecrRepositoryName']}")
    assert denied["reason"].startswith("no statement of the identity policy")


def test_a_pipeline_role_that_may_not_start_builds_fails_the_build_action(
    stack: Deployed,
) -> None:
    role = without(stack, "pipeline-role", "codebuild:StartBuild")
    code, document, stderr = stack.run()
    assert code == 11
    build = action(document, "Build")
    assert build["status"] == "Failed"
    assert build["errorMessage"].startswith("Insufficient permissions")
    assert f"assumed-role/{role}/" in build["errorMessage"]
    assert "codebuild:StartBuild on resource: arn:aws:codebuild:" in build["errorMessage"]
    assert "stage Build, action Build: " in stderr


def test_a_deploy_role_that_may_not_record_the_release_fails_the_deploy(stack: Deployed) -> None:
    without(stack, "deploy-role", "ssm:PutParameter")
    code, document, _stderr = stack.run()
    assert code == 11
    deploy = action(document, "Deploy")
    assert deploy["status"] == "Failed"
    assert deploy["errorMessage"].startswith("PutParameter failed: AccessDeniedException: User: ")
    assert "ssm:PutParameter on resource: arn:aws:ssm:" in deploy["errorMessage"]
    assert [d["action"] for d in denials(stack)] == ["ssm:PutParameter"]
    assert document["release"] is None


def test_a_source_rule_role_that_may_not_start_the_pipeline_starts_nothing(
    stack: Deployed,
) -> None:
    role = without(stack, "source-events-role", "codepipeline:StartPipelineExecution")
    done = tap(stack.home, "run", "--stack", STACK, "--source", str(EXAMPLE))
    assert done.returncode == 11
    assert "did not start it (its last delivery was dropped: NO_PERMISSIONS: User: " in (
        done.stderr
    )
    assert f"assumed-role/{role}/" in done.stderr
    assert "codepipeline:StartPipelineExecution on resource: arn:aws:codepipeline:" in done.stderr
