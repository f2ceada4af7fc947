"""Lambda's Invoke in the emulator: the deployed function's own code archive, run by Lambda's
Python runtime (``lambda_runtime``) in a subprocess, its log written to CloudWatch Logs.

moto runs functions in Docker, which the emulator does not have: ``install()`` puts this runner
behind moto's ``Invoke`` instead. The archive moto keeps for the function (``code_bytes``) is
extracted once per digest into a cache directory; every invocation is a new process (a cold
start) with the function's handler, environment and timeout. The process sees the function's
code, the standard library and the SDK (boto3 and what it requires), as on Lambda's Python
runtime: nothing else of the emulator, tap_cicd included, so an archive's own modules always
win. Its AWS calls reach the emulator as its execution role (``iam.Session.environment``).
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import importlib.metadata
import io
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.models import LambdaFunction
from moto.awslambda.utils import get_backend

from tap_cicd.local.services import iam, lambda_logs
from tap_cicd.local.services.lambda_runtime import Outcome, execute

SDK = "boto3"
"""What Lambda's Python runtime provides besides the standard library (with its requirements).
https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html"""
TAIL_BYTES = 4096
"""``LogType`` ``Tail``: the last 4 KB of the log (``X-Amz-Log-Result``).
https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html"""
UNHANDLED = "Unhandled"
ROLE_NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."
"""Lambda's words for a role it cannot assume (CreateFunction's error):
https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-deployment.html"""

_LOCK = threading.RLock()
_ORIGINAL: dict[str, Any] = {}
_cache: list[Path] = []
"""The cache directory, once made (``reset`` removes it)."""


@dataclass(frozen=True)
class Invocation:
    """What one invocation answered."""

    status_code: int
    payload: bytes
    """The handler's JSON result, or the error document."""
    function_error: str | None
    """``Unhandled`` when the handler raised, timed out or the runtime failed."""
    log: str
    """What the invocation logged, ``START``, ``END`` and ``REPORT`` lines included."""


def invoke(function_name: str, account: str, region: str, event: Mapping[str, Any]) -> Invocation:
    """Invoke the function (a name or an ARN) with ``event``, in the caller's thread; moto's
    ``UnknownFunctionException`` when there is no such function."""
    function = get_backend(account, region).get_function(function_name)
    return run(function, json.dumps(event))


def reset() -> None:
    """Remove the extracted archives (and the SDK's directory)."""
    with _LOCK:
        for root in _cache:
            shutil.rmtree(root, ignore_errors=True)
        _cache.clear()


def assume(function: LambdaFunction) -> iam.Session:
    """Lambda assumes the function's execution role (its trust policy must allow
    ``lambda.amazonaws.com``); ``iam.Denied`` when it may not.
    https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html"""
    return iam.assume(
        "lambda.amazonaws.com", str(function.role), function.region, function.function_name
    )


def run(function: LambdaFunction, event: str) -> Invocation:
    """One invocation of ``function`` with the JSON text ``event``, as its execution role
    (``iam.Denied`` when Lambda may not assume it); its log goes to CloudWatch."""
    session = assume(function)
    request_id = str(uuid.uuid4())
    group, stream, default_group = _log_target(function)
    code = function.code_bytes
    task_root = _prepared(f"code-{hashlib.sha256(code).hexdigest()}", _extractor(code))
    sdk = _prepared("runtime", _link_sdk)
    request = {
        "requestId": request_id,
        "invokedFunctionArn": function.function_arn,
        "timeoutMs": int(function.timeout) * 1000,
        "runtimeDir": str(sdk),
        "event": event,
    }
    environment = _environment(function, (group, stream), task_root, sdk, session)
    outcome = execute(environment, task_root, request, float(function.timeout))
    document = _error(outcome, request_id, float(function.timeout))
    if document is None:
        payload, error = base64.b64decode(outcome.answer["payload"]), None  # type: ignore[index]
    else:
        payload, error = json.dumps(document).encode(), UNHANDLED
    events = lambda_logs.events_of(function, outcome, request_id, document)
    lambda_logs.publish(session, (group, stream), default_group, events)
    return Invocation(200, payload, error, "".join(f"{message}\n" for _, message in events))


def _prepared(name: str, fill: Callable[[Path], None]) -> Path:
    """The cache's directory ``name``, filled once by ``fill``."""
    with _LOCK:
        if not _cache:
            _cache.append(Path(tempfile.mkdtemp(prefix="tap-lambda-")))
            atexit.register(reset)
        target = _cache[0] / name
        if not target.is_dir():
            staging = Path(tempfile.mkdtemp(dir=_cache[0]))
            fill(staging)
            staging.rename(target)
        return target


def _extractor(code: bytes) -> Callable[[Path], None]:
    def extract(target: Path) -> None:
        # zipfile drops absolute paths and ".." from member names.
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            archive.extractall(target)

    return extract


def _sdk_modules() -> dict[str, Path]:
    """The top-level modules of boto3 and of what it requires (extras aside), by name."""
    found: dict[str, Path] = {}
    pending, seen = [SDK], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        distribution = importlib.metadata.distribution(name)
        for file in distribution.files or []:
            top = file.parts[0]
            if top not in ("..", "__pycache__") and not top.endswith((".dist-info", ".data")):
                found[top] = Path(str(distribution.locate_file(top)))
        for requirement in distribution.requires or []:
            if "extra ==" not in requirement:
                pending.append(re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0])
    return found


def _link_sdk(target: Path) -> None:
    """The SDK's directory (``LAMBDA_RUNTIME_DIR``): links to the SDK's modules only."""
    for name, path in _sdk_modules().items():
        (target / name).symlink_to(path)


def _logging_config(function: LambdaFunction) -> dict[str, str]:
    """The function's ``LoggingConfig`` with Lambda's defaults.
    https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html"""
    stored: dict[str, str] = getattr(function, "_tap_logging", {})
    config = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function.function_name}"}
    if stored.get("LogFormat") == "JSON":
        config |= {"ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO"}
    return config | stored


def _log_target(function: LambdaFunction) -> tuple[str, str, bool]:
    """The log group, a new log stream, and whether the group is the default one.
    https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-loggroups.html"""
    group = _logging_config(function)["LogGroup"]
    default = group == f"/aws/lambda/{function.function_name}"
    # In a custom group the stream names the function too.
    owner = "" if default else function.function_name
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    return group, f"{day}/{owner}[{function.version}]{uuid.uuid4().hex}", default


def _environment(
    function: LambdaFunction,
    log: tuple[str, str],
    task_root: Path,
    sdk: Path,
    session: iam.Session,
) -> dict[str, str]:
    """The function's variables, then Lambda's defined ones (reserved: they win), then what
    reaches the emulator: the execution role's session credentials, as Lambda sets them.
    Nothing of the emulator's own environment.
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime"""
    logging_config, (group, stream) = _logging_config(function), log
    variables = {
        "LANG": "en_US.UTF-8",
        "PATH": f"{Path(sys.base_prefix) / 'bin'}:/usr/local/bin:/usr/bin/:/bin",
        **{str(key): str(value) for key, value in (function.environment_vars or {}).items()},
        "_HANDLER": str(function.handler),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.run_time}",
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": group,
        "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(sdk),
        "TZ": ":UTC",
        # The emulator machine's own AWS configuration stays out, as there is none on Lambda.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        **session.environment(),
    }
    if logging_config["LogFormat"] == "JSON":
        # https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html
        variables["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        variables["AWS_LAMBDA_LOG_LEVEL"] = logging_config["ApplicationLogLevel"]
    return variables


def _error(outcome: Outcome, request_id: str, timeout: float) -> dict[str, Any] | None:
    """The invocation's error document; ``None`` when the handler answered."""
    if outcome.answer is not None:
        return outcome.answer.get("error")
    if outcome.timed_out:
        # https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts
        message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
        return {"errorType": "Sandbox.Timedout", "errorMessage": message}
    # https://repost.aws/knowledge-center/lambda-runtime-error
    code = outcome.exit_code
    reason = f"exit status {code}" if code >= 0 else f"signal: {signal.strsignal(-code)}".lower()
    message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
    return {"errorType": "Runtime.ExitError", "errorMessage": message}


# --- moto -------------------------------------------------------------------------------------


def _event_of(body: str | bytes | None) -> str:
    """The request's payload as JSON text (none: ``{}``); not JSON is the API's 400."""
    text = (body.decode() if isinstance(body, bytes) else body) or "{}"
    try:
        json.loads(text)
    except ValueError as error:
        # https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors
        message = f"Could not parse request body into json: {error}"
        raise LambdaClientError("InvalidRequestContentException", message) from error
    return text


def _invoke_api(
    self: LambdaFunction, body: str, request_headers: Any, response_headers: dict[str, Any]
) -> bytes:
    """``Invoke`` of ``self``: RequestResponse runs it and answers its payload (202 Event runs
    it in the background, 204 DryRun does not run it: moto's responses set those codes).
    https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html"""
    event = _event_of(body)
    kind = request_headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if kind == "DryRun":
        return b""
    if kind == "Event":
        threading.Thread(target=_run_in_background, args=(self, event), daemon=True).start()
        return b""
    try:
        result = run(self, event)
    except iam.Denied as denied:
        message = f"{ROLE_NOT_ASSUMABLE} {denied}"
        raise LambdaClientError("InvalidParameterValueException", message) from denied
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    tail = result.log.encode()[-TAIL_BYTES:]
    # moto drops the header unless the request asked for LogType Tail.
    response_headers["x-amz-log-result"] = base64.b64encode(tail).decode()
    response_headers["x-amz-executed-version"] = str(self.version)
    return result.payload


def _run_in_background(function: LambdaFunction, event: str) -> None:
    """An ``Event`` invocation: one Lambda cannot make (its role) is dropped."""
    with contextlib.suppress(iam.Denied):
        run(function, event)


def _init(
    self: LambdaFunction, account_id: str, spec: dict[str, Any], *args: Any, **kw: Any
) -> None:
    _ORIGINAL["init"](self, account_id, spec, *args, **kw)
    self._tap_logging = dict(spec.get("LoggingConfig") or {})  # type: ignore[attr-defined]


def _update_configuration(self: LambdaFunction, updates: dict[str, Any]) -> dict[str, Any]:
    if "LoggingConfig" in updates:
        stored = getattr(self, "_tap_logging", {})
        self._tap_logging = {**stored, **updates["LoggingConfig"]}  # type: ignore[attr-defined]
    return _ORIGINAL["update"](self, updates)  # type: ignore[no-any-return]


def _get_configuration(self: LambdaFunction, on_create: bool = False) -> dict[str, Any]:
    configuration: dict[str, Any] = _ORIGINAL["configuration"](self, on_create)
    return configuration | {"LoggingConfig": _logging_config(self)}


def install() -> None:
    """Run functions with this module's runner behind moto's ``Invoke``, and keep each
    function's ``LoggingConfig`` (moto drops it). Idempotent."""
    if _ORIGINAL:
        return
    _ORIGINAL.update(
        init=LambdaFunction.__init__,
        update=LambdaFunction.update_configuration,
        configuration=LambdaFunction.get_configuration,
        invoke=LambdaFunction.invoke,
    )
    LambdaFunction.__init__ = _init  # type: ignore[method-assign]
    LambdaFunction.update_configuration = _update_configuration  # type: ignore[method-assign,assignment]
    LambdaFunction.get_configuration = _get_configuration  # type: ignore[method-assign]
    LambdaFunction.invoke = _invoke_api  # type: ignore[method-assign]
