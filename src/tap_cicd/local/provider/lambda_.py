"""Lambda: the deploy function and its asynchronous invocation settings."""

from __future__ import annotations

from typing import Any

from tap_cicd.local.provider.assets import archive_bytes
from tap_cicd.local.provider.model import (
    ANY,
    ARN,
    ID,
    Call,
    Outputs,
    Ref,
    ResourceType,
    Tags,
    Update,
    given,
    integer,
    part_of,
    settable,
    tag_reader,
)


def _configuration(ref: Ref) -> dict[str, Any]:
    inputs = ref.inputs
    config: dict[str, Any] = {
        "FunctionName": ref.id,
        "Role": inputs["role"],
        "Handler": inputs["handler"],
        "Runtime": inputs["runtime"],
        "Description": inputs.get("description", ""),
        "Timeout": integer(inputs.get("timeout", 3)),
        "MemorySize": integer(inputs.get("memorySize", 128)),
        "TracingConfig": {"Mode": inputs.get("tracingConfig", {}).get("mode", "PassThrough")},
        "Environment": {"Variables": dict(inputs.get("environment", {}).get("variables", {}))},
    }
    if inputs.get("kmsKeyArn"):
        config["KMSKeyArn"] = inputs["kmsKeyArn"]
    if logging := inputs.get("loggingConfig"):
        config["LoggingConfig"] = {
            "LogFormat": logging.get("logFormat", "Text"),
            "LogGroup": logging["logGroup"],
        }
    return config


def _create(ref: Ref) -> dict[str, Any]:
    return {**_configuration(ref), "Code": {"ZipFile": archive_bytes(ref.inputs["code"])}}


_architectures = given("architectures", None, lambda a: list(a or ["x86_64"]))


def _concurrency(ref: Ref) -> None:
    reserved = ref.inputs.get("reservedConcurrentExecutions")
    if reserved is not None and integer(reserved) >= 0:
        ref.call(
            "put_function_concurrency",
            FunctionName=ref.id,
            ReservedConcurrentExecutions=integer(reserved),
        )
    else:
        ref.call("delete_function_concurrency", FunctionName=ref.id)


def _function_outputs(ref: Ref) -> Outputs:
    arn = ref.arn("lambda", f"function:{ref.id}")
    return {
        "arn": arn,
        "qualifiedArn": f"{arn}:$LATEST",
        "invokeArn": (
            f"arn:{ref.partition}:apigateway:{ref.region}:lambda:path/2015-03-31/functions/"
            f"{arn}/invocations"
        ),
        "version": "$LATEST",
    }


FUNCTION = ResourceType(
    type="aws:lambda/function:Function",
    service="lambda",
    create=Call("create_function", _create, Architectures=_architectures),
    exists=("ResourceConflictException",),
    read=Call("get_function", FunctionName=ID),
    updates=(
        Update((ANY,), Call("update_function_configuration", _configuration)),
        # Inputs hold the code's digest (assets.normalize): unchanged code is not uploaded.
        Update(
            ("code", "architectures"),
            Call(
                "update_function_code",
                FunctionName=ID,
                ZipFile=given("code", then=archive_bytes),
                Architectures=_architectures,
            ),
        ),
        Update(("reservedConcurrentExecutions",), _concurrency, after_create=True),
    ),
    delete=Call("delete_function", FunctionName=ID),
    tags=Tags({"Resource": ARN}, pairs=None, on_create="Tags"),
    read_tags=tag_reader("list_tags", lambda r: r["Tags"], None, Resource=ARN),
    outputs=_function_outputs,
    replace_on=("name",),
)


def _destination(ref: Ref) -> dict[str, Any]:
    if on_failure := ref.inputs.get("destinationConfig", {}).get("onFailure"):
        return {"DestinationConfig": {"OnFailure": {"Destination": on_failure["destination"]}}}
    return {}


_put_invoke_config = Call(
    "put_function_event_invoke_config",
    _destination,
    FunctionName=ID,
    MaximumRetryAttempts=given("maximumRetryAttempts", 2, integer),
    MaximumEventAgeInSeconds=given("maximumEventAgeInSeconds", 21600, integer),
)
INVOKE_CONFIG = settable(
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
    "lambda",
    _put_invoke_config,
    of="functionName",
    belongs_to=part_of(FUNCTION.type, "functionName"),
    read=Call("get_function_event_invoke_config", FunctionName=ID),
    delete=Call("delete_function_event_invoke_config", FunctionName=ID),
)

TYPES = (FUNCTION, INVOKE_CONFIG)
