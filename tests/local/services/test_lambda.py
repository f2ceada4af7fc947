"""Lambda's Invoke in the emulator: a function's own archive run by the runtime in a subprocess.

The functions are small archives built here (and the deploy function's own archive), created
in the in-process emulator and invoked through ``lambda_.invoke`` and through the Invoke API.
The runtime's own pieces are also called in this process (the subprocess is not measured).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import runpy
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from textwrap import dedent
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tap_cicd.local import services
from tap_cicd.local.services import iam, lambda_, lambda_logs
from tap_cicd.local.services import lambda_runtime as runtime

from .conftest import post, service_role

REGION = "us-east-1"
ACCOUNT = services.DEFAULT_ACCOUNT
EVENTS = Path(__file__).resolve().parents[2] / "events"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def client(service: str) -> Any:
    return services.client(service, REGION)


def archive(files: dict[str, str]) -> bytes:
    """A zip of ``files`` (path: source, dedented)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for path, source in files.items():
            zipped.writestr(path, dedent(source))
    return buffer.getvalue()


@pytest.fixture
def create(live: str) -> Callable[..., str]:
    """Create a function from files (``app.py`` by default) and return its name."""
    role = service_role(live, "fn", "lambda.amazonaws.com")

    def make(name: str, files: dict[str, str], handler: str = "app.handler", **more: Any) -> str:
        client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.13",
            Role=role,
            Handler=handler,
            Code={"ZipFile": archive(files)},
            **more,
        )
        return name

    return make


def stream_events(group: str) -> list[str]:
    """The messages of the group's only stream."""
    logs = client("logs")
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1
    name = streams[0]["logStreamName"]
    return [
        e["message"] for e in logs.get_log_events(logGroupName=group, logStreamName=name)["events"]
    ]


CONTEXT_APP = """
    import json, logging, os, sys, time
    import boto3

    logging.getLogger().info("not shown: the root logger is at WARNING in Text format")

    def handler(event, context):
        print("printed line")
        print("to stderr", file=sys.stderr)
        logging.getLogger("app").warning("two\\nlines")
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name="/from/function", Value=event["value"], Type="String")
        imports = {}
        for name in ("boto3", "botocore", "dateutil", "tap_cicd", "moto", "yaml", "pytest"):
            try:
                __import__(name)
                imports[name] = True
            except ImportError:
                imports[name] = False
        first = context.get_remaining_time_in_millis()
        time.sleep(0.05)
        return {
            "event": event,
            "env": dict(os.environ),
            "cwd": os.getcwd(),
            "imports": imports,
            "remaining": [first, context.get_remaining_time_in_millis()],
            "context": {
                key: getattr(context, key)
                for key in (
                    "function_name", "function_version", "invoked_function_arn",
                    "memory_limit_in_mb", "aws_request_id", "log_group_name", "log_stream_name",
                )
            },
        }
"""


def test_runs_the_archive_with_lambdas_environment_context_and_logs(
    create: Callable[..., str], live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAP_EMULATOR_ONLY", "must not leak")
    name = create(
        "ctx",
        {"app.py": CONTEXT_APP},
        MemorySize=256,
        Timeout=30,
        Environment={"Variables": {"GREETING": "hello"}},
    )
    result = lambda_.invoke(name, ACCOUNT, REGION, {"value": "v1"})

    assert (result.status_code, result.function_error) == (200, None)
    answer = json.loads(result.payload)
    assert answer["event"] == {"value": "v1"}
    context, env = answer["context"], answer["env"]
    request_id = context["aws_request_id"]
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ctx"
    assert context["function_name"] == "ctx"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == arn
    assert context["memory_limit_in_mb"] == "256"
    assert context["log_group_name"] == "/aws/lambda/ctx"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", context["log_stream_name"])
    first, second = answer["remaining"]
    assert 25_000 < first <= 30_000
    assert second <= first - 50
    # Lambda's defined variables, the function's own, and the emulator's endpoint; nothing else.
    assert env["GREETING"] == "hello"
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "ctx"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/ctx"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == context["log_stream_name"]
    assert env["LAMBDA_TASK_ROOT"] == answer["cwd"]
    assert env["TZ"] == ":UTC"
    assert env["AWS_ENDPOINT_URL"] == live
    assert env["AWS_REGION"] == REGION
    # The execution role's session credentials, as Lambda sets them.
    session = iam.session_of(env["AWS_ACCESS_KEY_ID"], REGION)
    assert session is not None and session.arn.endswith(":assumed-role/fn/ctx")
    assert env["AWS_SESSION_TOKEN"] == session.credentials.token
    # Python itself may add LC_CTYPE (locale coercion); nothing else is there.
    assert set(env) - {"LC_CTYPE"} == {
        "GREETING",
        *("LANG", "PATH", "TZ", "_HANDLER", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT"),
        *("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION"),
        *("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_INITIALIZATION_TYPE"),
        *("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "LAMBDA_RUNTIME_DIR"),
        *("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
        *("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"),
    }
    # The SDK is there, as on Lambda; nothing else of the emulator's packages is.
    assert answer["imports"] == {
        "boto3": True,
        "botocore": True,
        "dateutil": True,
        "tap_cicd": False,
        "moto": False,
        "yaml": False,
        "pytest": False,
    }
    # Its boto3 calls reached the emulator.
    parameter = client("ssm").get_parameter(Name="/from/function")["Parameter"]
    assert parameter["Value"] == "v1"

    lines = result.log.splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert "printed line" in lines
    assert "to stderr" in lines
    assert lines[-2] == f"END RequestId: {request_id}"
    report = (
        rf"REPORT RequestId: {request_id}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms"
        r"\tMemory Size: 256 MB\tMax Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms"
    )
    assert re.fullmatch(report, lines[-1])
    assert not any("not shown" in line for line in lines)
    # One log event per record, its line break kept inside it.
    events = stream_events("/aws/lambda/ctx")
    warning = [e for e in events if e.startswith("[WARNING]")]
    assert len(warning) == 1
    assert re.fullmatch(rf"\[WARNING\]\t\S+Z\t{request_id}\ttwo\nlines", warning[0])
    assert "".join(f"{event}\n" for event in events) == result.log


def test_the_archives_modules_win_over_the_installed_package(create: Callable[..., str]) -> None:
    # The same dotted name as the installed deploy handler; tap_cicd.naming is not in the archive.
    files = {
        "tap_cicd/__init__.py": "",
        "tap_cicd/deploy/__init__.py": "",
        "tap_cicd/deploy/handler.py": """
            def handler(event, context):
                try:
                    import tap_cicd.naming
                    naming = "importable"
                except ImportError as error:
                    naming = type(error).__name__
                return {"marker": "from the archive", "naming": naming}
        """,
    }
    name = create("shadow", files, handler="tap_cicd.deploy.handler.handler")
    result = lambda_.invoke(name, ACCOUNT, REGION, {})
    assert json.loads(result.payload) == {
        "marker": "from the archive",
        "naming": "ModuleNotFoundError",
    }


def test_a_handler_that_raises_is_an_unhandled_error(create: Callable[..., str]) -> None:
    app = """
        def handler(event, context):
            fail(event["why"])

        def fail(why):
            raise ValueError(why)
    """
    create("raises", {"app.py": app})
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:raises"
    result = lambda_.invoke(arn, ACCOUNT, REGION, {"why": "boom"})

    assert result.function_error == "Unhandled"
    document = json.loads(result.payload)
    request_id = result.log.split()[2]
    assert list(document) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert document["errorMessage"] == "boom"
    assert document["errorType"] == "ValueError"
    assert document["requestId"] == request_id
    assert re.fullmatch(UUID, request_id)
    # The handler's frames only, as the runtime formats them.
    assert [line.split(", ")[-1].split("\n")[0] for line in document["stackTrace"]] == [
        "in handler",
        "in fail",
    ]
    assert document["stackTrace"][0].startswith('  File "')
    assert '    fail(event["why"])\n' in document["stackTrace"][0]
    error = next(e for e in stream_events("/aws/lambda/raises") if e.startswith("[ERROR]"))
    lines = error.split("\n")
    assert lines[:2] == ["[ERROR] ValueError: boom", "Traceback (most recent call last):"]
    # The runtime indents the trace with no-break spaces.
    assert lines[2].startswith("\u00a0\u00a0File ")


def test_a_function_is_killed_at_its_timeout(create: Callable[..., str]) -> None:
    app = """
        import time

        def handler(event, context):
            print("remaining", context.get_remaining_time_in_millis())
            time.sleep(30)
    """
    name = create("slow", {"app.py": app}, Timeout=1)
    began = time.monotonic()
    result = lambda_.invoke(name, ACCOUNT, REGION, {})

    assert time.monotonic() - began < 5
    assert result.function_error == "Unhandled"
    request_id = result.log.split()[2]
    assert json.loads(result.payload) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
    }
    lines = result.log.splitlines()
    remaining = int(lines[1].split()[1])
    assert 0 < remaining <= 1000
    assert re.fullmatch(rf"\S+Z {request_id} Task timed out after 1.00 seconds", lines[2])
    assert lines[3] == f"END RequestId: {request_id}"
    assert lines[4].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert lines[4].endswith("\tStatus: timeout")


@pytest.mark.parametrize(
    ("handler", "files", "error_type", "message"),
    [
        (
            "missing.handler",
            {"app.py": ""},
            "Runtime.ImportModuleError",
            "Unable to import module 'missing': No module named 'missing'",
        ),
        (
            "app.handler",
            {"app.py": "def other(event, context):\n    return 1\n"},
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'app'",
        ),
    ],
)
def test_a_handler_that_cannot_be_loaded_is_the_runtimes_error(
    create: Callable[..., str], handler: str, files: dict[str, str], error_type: str, message: str
) -> None:
    name = create("broken", files, handler=handler)
    result = lambda_.invoke(name, ACCOUNT, REGION, {})

    assert result.function_error == "Unhandled"
    assert json.loads(result.payload) == {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": "",
        "stackTrace": [],
    }
    assert f"[ERROR] {error_type}: {message}" in result.log.split("\n")
    assert "LAMBDA_WARNING: Unhandled exception." in result.log
    # Never initialized: no Init Duration.
    assert "Init Duration" not in result.log.splitlines()[-1]


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("os._exit(3)", "exit status 3"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "signal: killed"),
    ],
)
def test_a_runtime_that_exits_is_an_exit_error(
    create: Callable[..., str], code: str, reason: str
) -> None:
    app = f"import os, signal\n\ndef handler(event, context):\n    {code}\n"
    name = create("exits", {"app.py": app})
    result = lambda_.invoke(name, ACCOUNT, REGION, {})

    request_id = result.log.split()[2]
    message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload) == {"errorType": "Runtime.ExitError", "errorMessage": message}
    lines = result.log.splitlines()
    assert lines[-4] == f"END RequestId: {request_id}"
    assert lines[-3].startswith(f"REPORT RequestId: {request_id}\t")
    assert lines[-2:] == [message, "Runtime.ExitError"]


ECHO_APP = """
    def handler(event, context):
        print("invoked with", event)
        if event.get("fail"):
            raise RuntimeError("asked to fail")
        return {"echo": event}
"""


def test_the_invoke_api_runs_the_function(create: Callable[..., str]) -> None:
    name = create("api", {"app.py": ECHO_APP})
    lam = client("lambda")

    answer = lam.invoke(FunctionName=name, Payload=b'{"a": 1}', LogType="Tail")
    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()) == {"echo": {"a": 1}}
    tail = base64.b64decode(answer["LogResult"]).decode()
    assert tail.startswith("START RequestId: ")
    assert "invoked with {'a': 1}\n" in tail
    assert tail.splitlines()[-1].startswith("REPORT RequestId: ")

    # By ARN, without LogType: no log in the answer.
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    failed = lam.invoke(FunctionName=arn, Payload=b'{"fail": true}')
    assert failed["FunctionError"] == "Unhandled"
    assert "LogResult" not in failed
    assert json.loads(failed["Payload"].read())["errorMessage"] == "asked to fail"

    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name, Payload=b"not json")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_invoke_api_keeps_only_the_last_4_kb_of_the_log(create: Callable[..., str]) -> None:
    app = """
        def handler(event, context):
            for n in range(200):
                print(f"line {n:03d} " + "x" * 40)
    """
    name = create("chatty", {"app.py": app})
    answer = client("lambda").invoke(FunctionName=name, LogType="Tail")
    tail = base64.b64decode(answer["LogResult"])
    assert len(tail) == 4096
    assert tail.decode().splitlines()[-1].startswith("REPORT RequestId: ")
    assert b"line 199 " in tail
    assert b"START" not in tail


def test_event_runs_in_the_background_and_dry_run_does_not_run(
    create: Callable[..., str],
) -> None:
    name = create("later", {"app.py": ECHO_APP})
    lam, logs = client("lambda"), client("logs")

    dry = lam.invoke(FunctionName=name, InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/later")["logGroups"] == []

    queued = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 7}')
    assert queued["StatusCode"] == 202
    assert queued["Payload"].read() == b""
    deadline = time.monotonic() + 10
    while True:
        groups = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/later")["logGroups"]
        events = stream_events("/aws/lambda/later") if groups else []
        if events and events[-1].startswith("REPORT"):
            break
        assert time.monotonic() < deadline, "the Event invocation never finished"
        time.sleep(0.05)
    assert "invoked with {'n': 7}" in events


def test_a_role_lambda_may_not_assume_is_refused_and_an_event_is_dropped(
    create: Callable[..., str], live: str
) -> None:
    name = create("orphan", {"app.py": ECHO_APP})
    build_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "codebuild.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    client("iam").update_assume_role_policy(RoleName="fn", PolicyDocument=json.dumps(build_only))
    lam = client("lambda")
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name, Payload=b"{}")
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert error["Message"].startswith(
        "The role defined for the function cannot be assumed by Lambda. User: "
        "lambda.amazonaws.com is not authorized to perform: sts:AssumeRole"
    )
    # An Event invocation is accepted, then dropped once Lambda is refused the role: nothing
    # runs, nothing is logged.
    refusals = trust_refusals(live)
    assert lam.invoke(FunctionName=name, InvocationType="Event")["StatusCode"] == 202
    deadline = time.monotonic() + 10
    while len(trust_refusals(live)) <= len(refusals) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(trust_refusals(live)) == len(refusals) + 1
    assert trust_refusals(live)[-1]["resource"] == f"arn:aws:iam::{ACCOUNT}:role/fn"
    groups = client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/orphan")
    assert groups["logGroups"] == []


def trust_refusals(live: str) -> list[dict[str, str]]:
    """The emulator's recorded refusals of Lambda's ``sts:AssumeRole``."""
    return [
        denial
        for denial in post(live, "/_tap/iam/denials", {})["denials"]
        if (denial["principal"], denial["action"]) == ("lambda.amazonaws.com", "sts:AssumeRole")
    ]


def test_a_default_group_another_invocation_just_created_is_used(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = client("logs")
    create_log_stream = logs.create_log_stream

    def racing(**request: Any) -> Any:
        """The group appears, made by another first invocation, once the stream is refused."""
        try:
            return create_log_stream(**request)
        except logs.exceptions.ResourceNotFoundException:
            logs.create_log_group(logGroupName=request["logGroupName"])
            raise

    monkeypatch.setattr(logs, "create_log_stream", racing)
    session: Any = SimpleNamespace(client=lambda _service: logs)
    now = int(time.time() * 1000)
    lambda_logs.publish(session, ("/aws/lambda/raced", "s"), True, [(now, "logged")])
    assert stream_events("/aws/lambda/raced") == ["logged"]


def test_a_role_that_may_not_write_logs_runs_without_them(create: Callable[..., str]) -> None:
    name = create("quiet", {"app.py": ECHO_APP})
    no_logs = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Action": "logs:*", "Resource": "*"}],
    }
    client("iam").put_role_policy(
        RoleName="fn", PolicyName="no-logs", PolicyDocument=json.dumps(no_logs)
    )
    answer = client("lambda").invoke(FunctionName=name, Payload=b'{"a": 1}')
    assert json.loads(answer["Payload"].read()) == {"echo": {"a": 1}}
    groups = client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/quiet")
    assert groups["logGroups"] == []


def test_logs_go_to_the_functions_own_log_group_in_its_format(
    create: Callable[..., str],
) -> None:
    app = """
        import logging

        LOG = logging.getLogger("deploy")

        def handler(event, context):
            LOG.info("job %s done", "j-1", extra={"step": "record"})
            try:
                raise KeyError("k")
            except KeyError:
                LOG.exception("caught")
            print("plain print")
            return None
    """
    client("logs").create_log_group(logGroupName="custom-group")
    config = {"LogFormat": "JSON", "LogGroup": "custom-group"}
    name = create("jsonlog", {"app.py": app}, LoggingConfig=config)
    configuration = client("lambda").get_function(FunctionName=name)["Configuration"]
    assert configuration["LoggingConfig"] == {
        "LogFormat": "JSON",
        "LogGroup": "custom-group",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
    }

    result = lambda_.invoke(name, ACCOUNT, REGION, {})
    assert result.payload == b"null"
    request_id = result.log.split()[2]
    logs = client("logs")
    assert logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"] == []
    streams = logs.describe_log_streams(logGroupName="custom-group")["logStreams"]
    assert re.fullmatch(
        r"\d{4}/\d\d/\d\d/jsonlog\[\$LATEST\][0-9a-f]{32}", streams[0]["logStreamName"]
    )
    events = stream_events("custom-group")
    info, error = (json.loads(e) for e in events if e.startswith("{"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", info.pop("timestamp"))
    assert info == {
        "level": "INFO",
        "message": "job j-1 done",
        "logger": "deploy",
        "requestId": request_id,
        "step": "record",
    }
    assert (error["level"], error["errorType"], error["errorMessage"]) == (
        "ERROR",
        "KeyError",
        "'k'",
    )
    assert error["location"].endswith("/app.py:handler:11")
    assert "plain print" in events

    # A custom group that does not exist is not created: the log is lost, the answer is not.
    client("lambda").update_function_configuration(
        FunctionName=name, LoggingConfig={"LogGroup": "missing-group"}
    )
    again = lambda_.invoke(name, ACCOUNT, REGION, {})
    assert again.payload == b"null"
    assert "job j-1 done" in again.log
    assert logs.describe_log_groups(logGroupNamePrefix="missing")["logGroups"] == []


def test_the_deploy_function_runs_from_its_own_archive(
    create: Callable[..., str],
) -> None:
    from tap_cicd.pipeline import deploy_function

    assets = deploy_function.code_archive().assets
    files = {path: Path(asset.path).read_text() for path, asset in assets.items()}
    assert set(files) >= {"tap_cicd/__init__.py", "tap_cicd/deploy/handler.py"}
    client("logs").create_log_group(logGroupName="deploy-logs")
    name = create(
        "pipeline-deploy-dev",
        files,
        handler=deploy_function.HANDLER,
        Timeout=deploy_function.TIMEOUT_SECONDS,
        MemorySize=deploy_function.MEMORY_MB,
        LoggingConfig={"LogFormat": "JSON", "LogGroup": "deploy-logs"},
        Environment={
            "Variables": {
                "LOG_LEVEL": "INFO",
                "TAP_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:releases",
                "TAP_RELEASE_PARAMETER": "/release",
                "TAP_REPOSITORY_NAME": "images",
                "TAP_DEPLOY_TARGET": "none",
            }
        },
    )
    event = json.loads((EVENTS / "job_malformed_parameters.json").read_text())
    result = lambda_.invoke(name, ACCOUNT, REGION, event)

    # The handler never raises: it answered (None) after reporting the job's failure.
    assert (result.function_error, result.payload) == (None, b"null")
    records = [json.loads(e) for e in stream_events("deploy-logs") if e.startswith('{"time')]
    failed = [r for r in records if r.get("logger") == "tap_cicd.deploy.handler"]
    assert failed[0]["level"] == "WARNING"
    job = "job '11111111-abcd-1111-abcd-111111111111'"
    assert failed[0]["message"] == f"{job} failed (ConfigurationError): UserParameters is not JSON"
    # The job's credentials never reach the log.
    assert "SECRET-DO-NOT-LOG" not in result.log


def test_install_is_idempotent_and_reset_removes_the_extracted_code(
    create: Callable[..., str],
) -> None:
    from moto.awslambda.models import LambdaFunction

    patched = LambdaFunction.invoke
    lambda_.install()
    assert LambdaFunction.invoke is patched

    name = create("cached", {"app.py": ECHO_APP})
    # A configuration change without LoggingConfig keeps the one the function has.
    client("lambda").update_function_configuration(FunctionName=name, Timeout=5)
    config = client("lambda").get_function(FunctionName=name)["Configuration"]
    assert config["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/cached"}
    result = lambda_.invoke(name, ACCOUNT, REGION, {"n": 1})
    assert json.loads(result.payload) == {"echo": {"n": 1}}
    (cache,) = lambda_._cache
    extracted = [p for p in cache.iterdir() if p.name.startswith("code-")]
    # Extracted once, by digest: the next invocation runs from the same directory.
    lambda_.invoke(name, ACCOUNT, REGION, {})
    assert [p for p in cache.iterdir() if p.name.startswith("code-")] == extracted
    assert len(extracted) == 1
    lambda_.reset()
    assert not cache.exists()
    assert lambda_._cache == []
    assert json.loads(lambda_.invoke(name, ACCOUNT, REGION, {}).payload) == {"echo": {}}


# --- the runtime's pieces, in this process ---------------------------------------------------


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A directory for handler modules on the import path; the root logger, the log time
    converter and the modules imported are restored afterwards."""
    root = logging.getLogger()
    handlers, level, modules = list(root.handlers), root.level, set(sys.modules)
    monkeypatch.setattr(logging.Formatter, "converter", logging.Formatter.converter)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    yield tmp_path
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in set(sys.modules) - modules:
        if str(getattr(sys.modules[name], "__file__", "")).startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.mark.parametrize(
    ("handler", "source", "error_type", "message"),
    [
        (
            "nodot",
            "",
            "Runtime.MalformedHandlerName",
            "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)",
        ),
        (
            "sys.handler",
            "",
            "Runtime.BuiltInModuleConflict",
            "Cannot use built-in module sys as a handler module",
        ),
        (
            "rt_missing.handler",
            None,
            "Runtime.ImportModuleError",
            "Unable to import module 'rt_missing': No module named 'rt_missing'",
        ),
        (
            "rt_nohandler.handler",
            "X = 1\n",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'rt_nohandler'",
        ),
        (
            "rt_syntax.handler",
            "def handler(:\n",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'rt_syntax': invalid syntax (rt_syntax.py, line 1)",
        ),
    ],
)
def test_the_runtime_names_a_handler_it_cannot_load(
    isolated: Path, handler: str, source: str | None, error_type: str, message: str
) -> None:
    if source is not None:
        (isolated / f"{handler.split('.', maxsplit=1)[0]}.py").write_text(source)
    with pytest.raises(runtime.Fault) as fault:
        runtime.load_handler(handler)
    assert (fault.value.error_type, fault.value.message) == (error_type, message)
    document = runtime.error_document(fault.value, "")
    assert document["errorType"] == error_type
    if error_type == "Runtime.UserCodeSyntaxError":
        assert document["stackTrace"] == [
            f'  File "{isolated / "rt_syntax.py"}" Line 1\n    def handler(:\n'
        ]


def test_the_runtime_loads_a_handler_by_path_and_times_its_context(isolated: Path) -> None:
    (isolated / "pkg").mkdir()
    (isolated / "pkg" / "__init__.py").write_text("")
    (isolated / "pkg" / "mod.py").write_text("def fn(event, context):\n    return event\n")
    assert runtime.load_handler("pkg/mod.fn")({"a": 1}, None) == {"a": 1}

    now = int(time.time() * 1000)
    assert 0 < runtime.LambdaContext("id", "arn", now + 1000).get_remaining_time_in_millis() <= 1000
    assert runtime.LambdaContext("id", "arn", now - 5).get_remaining_time_in_millis() == 0


def test_the_runtime_marshals_answers_as_lambda_does() -> None:
    assert runtime.marshal(b"\x00raw") == b"\x00raw"
    assert runtime.marshal({"a": [1, "é"]}) == b'{"a": [1, "\\u00e9"]}'
    assert runtime.marshal([Decimal("2"), Decimal("2.5")]) == b"[2, 2.5]"
    with pytest.raises(runtime.Fault) as fault:
        runtime.marshal({"when": object()})
    assert fault.value.error_type == "Runtime.MarshalError"
    assert fault.value.message == (
        "Unable to marshal response: Object of type object is not JSON serializable"
    )


def test_the_runtime_logs_records_and_errors_in_both_formats(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime.setup_logging("JSON", "TRACE")
    assert logging.getLogger().level == logging.DEBUG
    logging.getLogger("x").debug("line one\nline two", extra={"when": datetime(2024, 1, 2)})
    runtime.log_error(
        {"errorMessage": "m", "errorType": "T", "requestId": "r", "stackTrace": []}, "JSON"
    )
    record, error = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert record["message"] == "line one\nline two"
    assert (record["level"], record["logger"], record["when"]) == (
        "DEBUG",
        "x",
        "2024-01-02 00:00:00",
    )
    assert record["requestId"] == ""
    assert error.pop("timestamp").endswith("Z")
    assert error == {
        "level": "ERROR",
        "errorMessage": "m",
        "errorType": "T",
        "requestId": "r",
        "stackTrace": [],
    }

    logging.getLogger().handlers[:] = []
    runtime.setup_logging("Text", "NOPE")
    assert logging.getLogger().level == logging.DEBUG  # an unknown level changes nothing
    logging.getLogger("x").error("plain")
    trace = ["", '  File "/var/task/app.py", line 2, in handler\n    fail()\n']
    runtime.log_error(
        {"errorMessage": "", "errorType": "E", "requestId": "", "stackTrace": trace}, "Text"
    )
    runtime.log_error({"errorMessage": "m", "errorType": "", "stackTrace": []}, "Text")
    text, error_text, untyped = capsys.readouterr().out.rstrip("\n").split("\n")
    assert untyped == "[ERROR] m\rTraceback (most recent call last):"
    assert re.fullmatch(r"\[ERROR\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t\tplain", text)
    # One event: lambda_ turns the record's breaks back into line breaks.
    assert error_text.split("\r") == [
        "[ERROR] E",
        "Traceback (most recent call last):",
        "",
        '\u00a0\u00a0File "/var/task/app.py", line 2, in handler',
        "\u00a0\u00a0\u00a0\u00a0fail()",
    ]


RUN_APP = """
def handler(event, context):
    if event.get("raise"):
        raise KeyError("missing")
    return {"id": context.aws_request_id, "left": context.get_remaining_time_in_millis()}
"""


def test_the_runtime_runs_one_invocation_and_answers_on_its_control_channel(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated / "rt_app.py").write_text(RUN_APP)
    monkeypatch.setenv("_HANDLER", "rt_app.handler")
    request = {"requestId": "r-1", "invokedFunctionArn": "arn", "timeoutMs": 3000}

    def answers(event: str) -> tuple[int, list[dict[str, Any]]]:
        control = io.StringIO()
        status = runtime.run({**request, "event": event}, control)
        return status, [json.loads(line) for line in control.getvalue().splitlines()]

    status, (init, answer) = answers('{"n": 1}')
    assert status == 0
    assert init["initialized"] is True
    assert init["memoryKB"] > 0
    assert json.loads(base64.b64decode(answer["payload"]))["id"] == "r-1"
    assert 0 < json.loads(base64.b64decode(answer["payload"]))["left"] <= 3000

    status, (_, failed) = answers('{"raise": true}')
    assert status == 0
    assert failed["error"]["errorType"] == "KeyError"
    assert failed["error"]["requestId"] == "r-1"
    # The runtime's own frames are left out: the trace starts in the handler.
    assert "in handler" in failed["error"]["stackTrace"][0]
    assert "[ERROR] KeyError: 'missing'" in capsys.readouterr().out

    monkeypatch.setenv("_HANDLER", "rt_app.absent")
    status, (broken,) = answers("{}")
    assert status == 1
    assert broken["error"]["errorType"] == "Runtime.HandlerNotFound"
    assert broken["error"]["requestId"] == ""
    assert "LAMBDA_WARNING: Unhandled exception." in capsys.readouterr().out


def test_the_runtime_script_reads_its_request_and_puts_the_code_first(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated / "rt_script.py").write_text("def handler(event, context):\n    return event\n")
    monkeypatch.chdir(isolated)
    monkeypatch.setenv("_HANDLER", "rt_script.handler")
    request = {
        "requestId": "r-2",
        "invokedFunctionArn": "arn",
        "timeoutMs": 1000,
        "runtimeDir": "/sdk",
        "event": '{"k": "v"}',
    }
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(request)))
    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "argv", ["lambda_runtime.py", str(write_end)])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(runtime.__file__, run_name="__main__")
    assert exited.value.code == 0
    assert (sys.path[0], sys.path[-1]) == (str(isolated), "/sdk")
    with os.fdopen(read_end) as control:
        messages = [json.loads(line) for line in control]
    assert base64.b64decode(messages[-1]["payload"]) == b'{"k": "v"}'
    assert runtime.high_water_kb(2**22 + 12345) == 0
