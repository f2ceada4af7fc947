"""Lambda: the function (code as a deterministic zip, configuration, concurrency, tags) and its
asynchronous invocation settings."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pulumi
import pytest

from tap_cicd.local.provider import Context, lambda_
from tap_cicd.local.provider.assets import ARCHIVE_DIGEST, archive_bytes, code_digest, normalize

from .conftest import TAGS, create, delete, error_of, make_role, recorded, update, writes_of

FUNCTION = "tap-deploy"


@pytest.fixture
def code(tmp_path: Path) -> pulumi.AssetArchive:
    """A one-file function archive."""
    handler = tmp_path / "handler.py"
    handler.write_text("def handler(event, context):\n    return 'v1'\n")
    return pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(handler))})


def other_code(tmp_path: Path) -> pulumi.AssetArchive:
    changed = tmp_path / "changed.py"
    changed.write_text("def handler(event, context):\n    return 'v2'\n")
    return pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(changed))})


def code_sha256(archive: pulumi.AssetArchive) -> str:
    """Lambda's CodeSha256 of the zip the provider sends for ``archive``."""
    return base64.b64encode(hashlib.sha256(archive_bytes(archive)).digest()).decode()


def function_inputs(ctx: Context, code: pulumi.AssetArchive, **extra: Any) -> dict[str, Any]:
    return {
        "name": FUNCTION,
        "role": make_role(ctx, "tap-deploy-role", "lambda.amazonaws.com"),
        "handler": "handler.handler",
        "runtime": "python3.13",
        "code": code,
        **extra,
    }


def stored(inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs as the state keeps them: the code only as its digest."""
    state: dict[str, Any] = normalize(inputs)
    return state


def function_configuration(ctx: Context) -> dict[str, Any]:
    found = ctx.clients("lambda").get_function(FunctionName=FUNCTION)["Configuration"]
    return dict(found)


def reserved_concurrency(ctx: Context) -> int | None:
    found = ctx.clients("lambda").get_function_concurrency(FunctionName=FUNCTION)
    value = found.get("ReservedConcurrentExecutions")
    return None if value is None else int(value)


def test_function_is_created_with_what_the_stack_sets(
    ctx: Context, code: pulumi.AssetArchive
) -> None:
    key_arn = ctx.arn("kms", f"key/{uuid.uuid4()}")
    inputs = function_inputs(
        ctx,
        code,
        description="deploys",
        timeout=120.0,
        memorySize=256.0,
        kmsKeyArn=key_arn,
        tracingConfig={"mode": "Active"},
        environment={"variables": {"LOG_LEVEL": "INFO"}},
        loggingConfig={"logGroup": "/aws/lambda/tap-deploy", "logFormat": "JSON"},
        architectures=["arm64"],
        reservedConcurrentExecutions=2.0,
        tags=TAGS,
    )
    sent = recorded(ctx.clients("lambda"), "lambda.CreateFunction")

    name, outputs = create(lambda_.FUNCTION, ctx, inputs)

    arn = ctx.arn("lambda", f"function:{FUNCTION}")
    assert name == FUNCTION
    assert outputs == {
        "arn": arn,
        "qualifiedArn": f"{arn}:$LATEST",
        "invokeArn": (
            f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
        ),
        "version": "$LATEST",
    }
    config = function_configuration(ctx)
    assert config["FunctionArn"] == arn
    assert (config["Handler"], config["Runtime"]) == ("handler.handler", "python3.13")
    assert (config["Timeout"], config["MemorySize"]) == (120, 256)
    assert config["KMSKeyArn"] == key_arn
    assert config["TracingConfig"] == {"Mode": "Active"}
    assert config["Environment"] == {"Variables": {"LOG_LEVEL": "INFO"}}
    # moto 5.2.5 drops LoggingConfig: checked by what was sent.
    (params,) = sent
    assert params["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": "/aws/lambda/tap-deploy"}
    assert config["Architectures"] == ["arm64"]
    assert config["CodeSha256"] == code_sha256(code)
    assert reserved_concurrency(ctx) == 2
    assert ctx.clients("lambda").list_tags(Resource=arn)["Tags"] == TAGS


def test_minimal_function_has_no_key_no_logging_config_and_no_reserved_concurrency(
    ctx: Context, code: pulumi.AssetArchive
) -> None:
    sent = recorded(ctx.clients("lambda"), "lambda.CreateFunction")
    create(lambda_.FUNCTION, ctx, function_inputs(ctx, code))
    (params,) = sent
    assert "KMSKeyArn" not in params
    assert "LoggingConfig" not in params
    assert params["Architectures"] == ["x86_64"]
    assert (params["Timeout"], params["MemorySize"]) == (3, 128)
    assert params["TracingConfig"] == {"Mode": "PassThrough"}
    assert reserved_concurrency(ctx) is None
    # A new function has no reservation: there is none to delete.
    assert writes_of(ctx.clients, "lambda:DeleteFunctionConcurrency") == 0


def test_creating_an_existing_function_adopts_and_updates_it(
    ctx: Context, code: pulumi.AssetArchive, tmp_path: Path
) -> None:
    create(lambda_.FUNCTION, ctx, function_inputs(ctx, code, reservedConcurrentExecutions=2.0))
    changed = other_code(tmp_path)
    name, outputs = create(
        lambda_.FUNCTION, ctx, function_inputs(ctx, changed, memorySize=512.0, tags=TAGS)
    )
    assert name == FUNCTION
    assert outputs["arn"] == ctx.arn("lambda", f"function:{FUNCTION}")
    config = function_configuration(ctx)
    assert config["MemorySize"] == 512
    assert config["CodeSha256"] == code_sha256(changed)
    assert reserved_concurrency(ctx) is None  # adopting sets everything, the reservation too
    assert ctx.clients("lambda").list_tags(Resource=outputs["arn"])["Tags"] == TAGS


def test_function_update_with_unchanged_code_uploads_nothing(
    ctx: Context, code: pulumi.AssetArchive
) -> None:
    inputs = function_inputs(ctx, code, reservedConcurrentExecutions=2.0)
    create(lambda_.FUNCTION, ctx, inputs)
    new = {**inputs, "memorySize": 512.0, "reservedConcurrentExecutions": None}

    update(lambda_.FUNCTION, ctx, FUNCTION, stored(inputs), new)

    assert writes_of(ctx.clients, "lambda:UpdateFunctionCode") == 0
    assert writes_of(ctx.clients, "lambda:TagResource") == 0
    assert function_configuration(ctx)["MemorySize"] == 512
    assert reserved_concurrency(ctx) is None


def test_function_update_with_changed_code_uploads_only_it(
    ctx: Context, code: pulumi.AssetArchive, tmp_path: Path
) -> None:
    inputs = function_inputs(ctx, code)
    create(lambda_.FUNCTION, ctx, inputs)
    changed = other_code(tmp_path)

    update(lambda_.FUNCTION, ctx, FUNCTION, stored(inputs), {**inputs, "code": changed})

    assert writes_of(ctx.clients, "lambda:UpdateFunctionCode") == 1
    assert writes_of(ctx.clients, "lambda:UpdateFunctionConfiguration") == 0
    assert function_configuration(ctx)["CodeSha256"] == code_sha256(changed)


def test_function_delete_and_delete_of_a_missing_function(
    ctx: Context, code: pulumi.AssetArchive
) -> None:
    create(lambda_.FUNCTION, ctx, function_inputs(ctx, code))
    delete(lambda_.FUNCTION, ctx, FUNCTION)
    assert ctx.clients("lambda").list_functions()["Functions"] == []
    delete(lambda_.FUNCTION, ctx, FUNCTION)


def test_archive_is_deterministic_and_sorted(tmp_path: Path) -> None:
    (tmp_path / "b.py").write_text("b = 1\n")
    (tmp_path / "a.py").write_text("a = 1\n")
    assets = {name: pulumi.FileAsset(str(tmp_path / name)) for name in ("b.py", "a.py")}
    first = archive_bytes(pulumi.AssetArchive(assets))
    (tmp_path / "a.py").touch()  # a newer mtime changes nothing
    assert archive_bytes(pulumi.AssetArchive(dict(reversed(assets.items())))) == first
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == ["a.py", "b.py"]


def test_code_digest_of_an_archive_and_of_a_stored_digest(code: pulumi.AssetArchive) -> None:
    digest = code_digest(code)
    assert digest == hashlib.sha256(archive_bytes(code)).hexdigest()
    assert code_digest({ARCHIVE_DIGEST: digest}) == digest


def test_archive_refuses_anything_but_an_asset_archive(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="only AssetArchive code is supported, got FileArchive"):
        archive_bytes(pulumi.FileArchive(str(tmp_path)))


def test_archive_refuses_members_other_than_file_assets() -> None:
    archive = pulumi.AssetArchive({"inline.py": pulumi.StringAsset("x = 1\n")})
    with pytest.raises(TypeError, match=r"only FileAsset members are supported, got inline\.py"):
        archive_bytes(archive)


def invoke_config(ctx: Context) -> dict[str, Any]:
    found = ctx.clients("lambda").get_function_event_invoke_config(FunctionName=FUNCTION)
    return dict(found)


def test_invoke_config_with_a_failure_destination(ctx: Context, code: pulumi.AssetArchive) -> None:
    create(lambda_.FUNCTION, ctx, function_inputs(ctx, code))
    destination = ctx.arn("sqs", "tap-dlq")
    config_id, outputs = create(
        lambda_.INVOKE_CONFIG,
        ctx,
        {
            "functionName": FUNCTION,
            "maximumRetryAttempts": 0.0,
            "maximumEventAgeInSeconds": 1200.0,
            "destinationConfig": {"onFailure": {"destination": destination}},
        },
    )
    assert (config_id, outputs) == (FUNCTION, {})
    config = invoke_config(ctx)
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == 1200
    assert config["DestinationConfig"]["OnFailure"] == {"Destination": destination}


def test_invoke_config_defaults_update_and_delete(ctx: Context, code: pulumi.AssetArchive) -> None:
    create(lambda_.FUNCTION, ctx, function_inputs(ctx, code))
    sent = recorded(ctx.clients("lambda"), "lambda.PutFunctionEventInvokeConfig")
    inputs = {"functionName": FUNCTION}
    create(lambda_.INVOKE_CONFIG, ctx, inputs)
    update(lambda_.INVOKE_CONFIG, ctx, FUNCTION, inputs, {**inputs, "maximumRetryAttempts": 1.0})
    assert sent == [
        {"FunctionName": FUNCTION, "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600},
        {"FunctionName": FUNCTION, "MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 21600},
    ]
    # moto 5.2.5 appends a second config instead of replacing the first and reports the first:
    # the update is checked by what was sent.
    delete(lambda_.INVOKE_CONFIG, ctx, FUNCTION)
    assert error_of(lambda: invoke_config(ctx)) == "ResourceNotFoundException"
    delete(lambda_.INVOKE_CONFIG, ctx, FUNCTION)
