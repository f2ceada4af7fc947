"""The deploy function as deployed (baseline L1-L6, N3)."""

from __future__ import annotations

import re
from typing import Any

import pytest

SECRET_LOOKING = re.compile(r"SECRET|PASSWORD|TOKEN|PRIVATE|CREDENTIAL", re.IGNORECASE)


@pytest.fixture(scope="module")
def function(aws: Any, outputs: dict[str, str]) -> dict[str, Any]:
    """GetFunction of the stack's deploy function."""
    return dict(aws("lambda").get_function(FunctionName=outputs["deployFunctionName"]))


@pytest.fixture(scope="module")
def configuration(function: dict[str, Any]) -> dict[str, Any]:
    """Its configuration."""
    return dict(function["Configuration"])


def test_function_is_the_output(configuration: dict[str, Any], outputs: dict[str, str]) -> None:
    assert configuration["FunctionArn"] == outputs["deployFunctionArn"]


def test_current_runtime_and_the_package_handler(configuration: dict[str, Any]) -> None:
    assert configuration["Runtime"] == "python3.13"
    assert configuration["Handler"] == "tap_cicd.deploy.handler.handler"
    assert configuration["PackageType"] == "Zip"


def test_explicit_timeout_memory_and_active_tracing(configuration: dict[str, Any]) -> None:
    assert configuration["Timeout"] == 300
    assert configuration["MemorySize"] == 256
    assert configuration["TracingConfig"] == {"Mode": "Active"}


def test_no_reserved_concurrency_by_default(aws: Any, outputs: dict[str, str]) -> None:
    """AWS refuses a reservation that leaves fewer than 100 unreserved executions, so new
    accounts could not deploy a default one; it is opt-in (deployConcurrency)."""
    concurrency = aws("lambda").get_function_concurrency(FunctionName=outputs["deployFunctionName"])
    assert "ReservedConcurrentExecutions" not in concurrency


def test_environment_is_encrypted_with_the_stack_key_and_holds_no_secrets(
    configuration: dict[str, Any], key_arn: str
) -> None:
    assert configuration["KMSKeyArn"] == key_arn
    variables = configuration["Environment"]["Variables"]
    assert variables["LOG_LEVEL"] == "INFO"
    assert not [name for name in variables if SECRET_LOOKING.search(name)]


def test_async_invokes_are_not_retried_and_fail_to_the_queue(
    aws: Any, outputs: dict[str, str]
) -> None:
    config = aws("lambda").get_function_event_invoke_config(
        FunctionName=outputs["deployFunctionName"]
    )
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == 1200
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination.split(":")[2] == "sqs"
    queue_name = destination.split(":")[-1]
    url = aws("sqs").get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = aws("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["QueueArn"] == destination
    assert attributes["KmsMasterKeyId"] == outputs["kmsKeyArn"]


def test_log_group_has_retention_and_the_key(
    aws: Any, configuration: dict[str, Any], key_arn: str
) -> None:
    group = f"/aws/lambda/{configuration['FunctionName']}"
    found = aws("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    (log_group,) = [g for g in found if g["logGroupName"] == group]
    assert log_group["retentionInDays"] == 365
    assert log_group["kmsKeyId"] == key_arn


def test_function_logs_as_json_to_the_stack_log_group(configuration: dict[str, Any]) -> None:
    assert configuration["LoggingConfig"]["LogFormat"] == "JSON"
    assert configuration["LoggingConfig"]["LogGroup"] == (
        f"/aws/lambda/{configuration['FunctionName']}"
    )


def test_no_public_resource_policy(aws: Any, outputs: dict[str, str]) -> None:
    """The pipeline invokes it through its role: the function needs no resource policy."""
    lam = aws("lambda")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=outputs["deployFunctionName"])
