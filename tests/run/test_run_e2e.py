"""The five runs of issue 13, each through the stack's real pipeline: S3 upload -> EventBridge ->
Source -> Build (the buildspec, the test command, a container build and push) -> Deploy (the
deploy function: scan gate, ECS rollout, release record) -> notifications."""

from __future__ import annotations

import json
from typing import Any

from .conftest import Deployed

CVE = "CVE-2026-0001"


def action(document: dict[str, Any], stage: str) -> dict[str, Any]:
    """The one action of ``stage`` in ``tap run --json``'s document."""
    [found] = next(s for s in document["stages"] if s["name"] == stage)["actions"]
    return dict(found)


def release(stack: Deployed) -> tuple[int, str]:
    """The release parameter's version and value."""
    parameter = stack.clients("ssm").get_parameter(Name=release_parameter(stack))
    return int(parameter["Parameter"]["Version"]), str(parameter["Parameter"]["Value"])


def release_parameter(stack: Deployed) -> str:
    """The parameter the deploy function records releases in (its own configuration)."""
    function = stack.clients("lambda").get_function_configuration(
        FunctionName=stack.outputs["deployFunctionName"]
    )
    return str(function["Environment"]["Variables"]["TAP_RELEASE_PARAMETER"])


def service(stack: Deployed) -> dict[str, Any]:
    [found] = stack.clients("ecs").describe_services(
        cluster=stack.outputs["clusterName"], services=[stack.outputs["serviceName"]]
    )["services"]
    return dict(found)


def about(execution_id: str, state: str) -> Any:
    return lambda message: execution_id in message and state in message


def test_a_clean_image_is_released_and_rolled_out(stack: Deployed) -> None:
    code, document, stderr = stack.run()
    assert code == 0, stderr
    assert document["status"] == "Succeeded"
    build = action(document, "Build")["outputVariables"]
    repository = stack.outputs["ecrRepositoryUrl"]
    # Pushed, then released, by digest.
    assert build["IMAGE_URI"] == f"{repository}@{build['IMAGE_DIGEST']}"
    assert document["imageDigest"] == build["IMAGE_DIGEST"]
    deploy = action(document, "Deploy")
    assert deploy["status"] == "Succeeded"
    # The service runs the release's task definition, whose image is the digest.
    running = service(stack)
    released = document["release"]
    assert running["taskDefinition"] == released["taskDefinitionArn"]
    definition = stack.clients("ecs").describe_task_definition(
        taskDefinition=running["taskDefinition"]
    )["taskDefinition"]
    assert [c["image"] for c in definition["containerDefinitions"]] == [build["IMAGE_URI"]]
    assert [d["rolloutState"] for d in running["deployments"]] == ["COMPLETED"]
    # Recorded: the parameter holds this execution's release.
    _version, value = release(stack)
    record = json.loads(value)
    assert record["imageDigest"] == build["IMAGE_DIGEST"]
    assert record["pipelineExecutionId"] == document["pipelineExecutionId"]
    assert released["record"] == record
    messages = stack.messages(about(document["pipelineExecutionId"], "SUCCEEDED"))
    assert any(about(document["pipelineExecutionId"], "SUCCEEDED")(m) for m in messages), messages


def test_a_high_finding_stops_the_release(stack: Deployed) -> None:
    repository = stack.outputs["ecrRepositoryName"]
    stack.control(
        "/_tap/ecr/findings",
        {"repositoryName": repository, "findings": [{"name": CVE, "severity": "HIGH"}]},
    )
    before = release(stack)
    code, document, stderr = stack.run()
    assert code == 11
    deploy = action(document, "Deploy")
    assert deploy["status"] == "Failed"
    assert CVE in deploy["errorMessage"]
    assert stderr.startswith(f"error: execution {document['pipelineExecutionId']} ")
    assert "stage Deploy, action Deploy: " in stderr and CVE in stderr
    assert release(stack) == before  # nothing recorded
    assert document["release"] is None
    messages = stack.messages(about(document["pipelineExecutionId"], "FAILED"))
    assert any(about(document["pipelineExecutionId"], "FAILED")(m) for m in messages), messages


def test_a_failing_test_command_fails_the_build(stack: Deployed) -> None:
    stack.up("-c", "testCommand=test -f site/missing.html")
    code, document, stderr = stack.run()
    assert code == 11
    build, deploy = action(document, "Build"), action(document, "Deploy")
    assert build["status"] == "Failed"
    assert "Phase: BUILD" in build["errorMessage"]
    assert "stage Build, action Build: " in stderr
    # Deploy never ran.
    assert deploy["status"] == "Pending"
    assert document["stages"][-1]["status"] == "Pending"


def test_a_failed_rollout_goes_back_to_the_previous_revision(stack: Deployed) -> None:
    code, first, stderr = stack.run()
    assert code == 0, stderr
    previous = first["release"]["taskDefinitionArn"]
    stack.control(
        "/_tap/ecs/failures",
        {"cluster": stack.outputs["clusterName"], "service": stack.outputs["serviceName"]},
    )
    code, second, stderr = stack.run()
    assert code == 11
    running = service(stack)
    assert running["taskDefinition"] == previous
    # The job failed with the reason ECS gave the failed deployment.
    [reason] = [
        d["rolloutStateReason"] for d in running["deployments"] if d["rolloutState"] == "FAILED"
    ]
    deploy = action(second, "Deploy")
    assert deploy["status"] == "Failed"
    assert reason in deploy["errorMessage"]
    assert "stage Deploy, action Deploy: " in stderr
    # The release still names the first execution.
    assert json.loads(release(stack)[1])["pipelineExecutionId"] == first["pipelineExecutionId"]


def test_the_same_source_twice_is_two_releases(stack: Deployed) -> None:
    runs = []
    for _ in range(2):
        code, document, stderr = stack.run()
        assert code == 0, stderr
        runs.append((document, release(stack)))
    (first, (version1, value1)), (second, (version2, value2)) = runs
    assert first["pipelineExecutionId"] != second["pipelineExecutionId"]
    tags = [action(d, "Build")["outputVariables"]["IMAGE_TAG"] for d in (first, second)]
    assert tags[0] != tags[1]
    # One release per execution: the parameter moved once, to the second execution.
    assert version2 == version1 + 1
    assert json.loads(value1)["pipelineExecutionId"] == first["pipelineExecutionId"]
    assert json.loads(value2)["pipelineExecutionId"] == second["pipelineExecutionId"]
    executions = stack.clients("codepipeline").list_pipeline_executions(
        pipelineName=stack.outputs["pipelineName"]
    )["pipelineExecutionSummaries"]
    assert sorted(e["pipelineExecutionId"] for e in executions) == sorted(
        d["pipelineExecutionId"] for d in (first, second)
    )
    assert {e["status"] for e in executions} == {"Succeeded"}


def test_a_key_policy_eventbridge_cannot_meet_drops_the_notification(stack: Deployed) -> None:
    # The shipped defect (issue 14): EventBridge's KMS calls for an encrypted topic carry no
    # aws:SourceArn, so a key statement conditioned on it refuses every notification.
    kms = stack.clients("kms")
    key = stack.outputs["kmsKeyArn"]
    policy = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    rule = f"arn:aws:events:{stack.outputs['region']}:{key.split(':')[4]}:rule/"
    [statement] = [s for s in policy["Statement"] if s.get("Sid") == "EventBridgeDeliveries"]
    statement["Condition"] = {"ArnLike": {"aws:SourceArn": rule + "*"}}
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(policy))

    code, document, stderr = stack.run()
    assert code == 0, stderr  # the release itself went through
    execution = document["pipelineExecutionId"]
    [dropped] = document["droppedDeliveries"]
    assert "kms:GenerateDataKey" in dropped["reason"]
    assert "EventBridgeDeliveries" in dropped["reason"] and "aws:SourceArn" in dropped["reason"]
    messages = stack.messages(about(execution, "SUCCEEDED"), wait=3)
    assert not any(about(execution, "SUCCEEDED")(m) for m in messages)
