"""The emulator's Lambda Python runtime, both ends: ``execute`` (in the emulator) starts this
file as a script for one invocation, and ``main`` (in that process) runs it.

The process, ``python -I -S -u -X utf8 lambda_runtime.py <fd>``, starts in the function's code
(``LAMBDA_TASK_ROOT``) with the function's environment, and its only import path is that code,
the standard library and the SDK (boto3 and what it needs), as on Lambda's Python runtime. It
does what that runtime (the runtime interface client's ``bootstrap``) does for an invocation:
set up logging, import the handler, build the context, call the handler with the event and
marshal its answer, or describe its failure.
https://docs.aws.amazon.com/lambda/latest/dg/python-handler.html

The request arrives as JSON on stdin: ``requestId``, ``invokedFunctionArn``, ``timeoutMs``,
``runtimeDir`` (the SDK's directory) and ``event`` (the payload's JSON text). The answers leave
as JSON lines on the file descriptor ``<fd>``: ``{"initialized": true}`` once the handler is
imported, then ``{"payload": <base64>}`` or ``{"error": <error document>}``, each with the
process's peak memory (``memoryKB``). stdout and stderr are the function's log: one line per
log event, a record's own line breaks sent as ``\\r`` (the runtime frames a record as one event).

Only the standard library is imported here: the process cannot see tap_cicd.
"""

from __future__ import annotations

import base64
import contextlib
import decimal
import importlib
import json
import logging
import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any, TextIO

# The runtime's messages and error types (aws-lambda-python-runtime-interface-client).
MALFORMED_HANDLER = "Runtime.MalformedHandlerName"
BUILT_IN_CONFLICT = "Runtime.BuiltInModuleConflict"
IMPORT_ERROR = "Runtime.ImportModuleError"
SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MARSHAL_ERROR = "Runtime.MarshalError"
UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function "
    "code. However, in rare cases, a Lambda runtime update can cause unexpected function "
    "behavior. For functions using managed runtimes, runtime updates can be triggered by a "
    "function change, or can be applied automatically. To determine if the runtime has been "
    "updated, check the runtime version in the INIT_START log entry. If this error correlates "
    "with a change in the runtime version, you may be able to mitigate this error by "
    "temporarily rolling back to the previous runtime version. For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)
TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
RECORD_BREAK = "\r"
"""Stands for a line break inside one log record (``lambda_`` turns it back into ``\\n``)."""
INDENT = "\u00a0"
"""The text format's error log indents stack trace lines with no-break spaces."""
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
_RESERVED |= {"message", "asctime", "aws_request_id", "taskName"}

_request_id = ""
"""The invocation under way (empty while the handler's module is imported)."""


class Fault(Exception):
    """A failure the runtime names itself (``Runtime.*``), with the runtime's message."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class LambdaContext:
    """The context object Lambda's Python runtime passes to the handler.
    https://docs.aws.amazon.com/lambda/latest/dg/python-context.html"""

    def __init__(self, request_id: str, invoked_function_arn: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, as the runtime reads it from the environment.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.identity = SimpleNamespace(cognito_identity_id=None, cognito_identity_pool_id=None)
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function times out."""
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def load_handler(handler: str) -> Callable[..., Any]:
    """The handler named ``module.function``, or the runtime's fault for why it cannot be."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name:
        unpacked = "not enough values to unpack (expected 2, got 1)"
        raise Fault(MALFORMED_HANDLER, f"Bad handler '{handler}': {unpacked}")
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise Fault(
            BUILT_IN_CONFLICT, f"Cannot use built-in module {module_name} as a handler module"
        )
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as error:
        raise Fault(IMPORT_ERROR, f"Unable to import module '{module_name}': {error}") from error
    except SyntaxError as error:
        trace = [f'  File "{error.filename}" Line {error.lineno}\n    {error.text}']
        message = f"Syntax error in module '{module_name}': {error}"
        raise Fault(SYNTAX_ERROR, message, trace) from error
    found = getattr(module, function_name, None)
    if found is None:
        raise Fault(
            HANDLER_NOT_FOUND, f"Handler '{function_name}' missing on module '{module_name}'"
        )
    return found  # type: ignore[no-any-return]


def error_document(error: BaseException, request_id: str) -> dict[str, Any]:
    """Lambda's error document for ``error``: the frames of this file are left out."""
    if isinstance(error, Fault):
        return _document(error.message, error.error_type, error.trace, request_id)
    frames = traceback.extract_tb(error.__traceback__)
    while frames and frames[0].filename == __file__:
        frames.pop(0)
    trace = traceback.format_list(frames)
    return _document(str(error), type(error).__name__, trace, request_id)


def _document(message: str, error_type: str, trace: list[str], request_id: str) -> dict[str, Any]:
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": trace,
    }


def _default(value: object) -> Any:
    """Numbers of ``Decimal`` type (DynamoDB's) marshal as JSON numbers, as in the runtime."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def marshal(result: Any) -> bytes:
    """The handler's answer as the response payload: bytes as they are, anything else as JSON."""
    if isinstance(result, bytes):
        return result
    try:
        return json.dumps(result, default=_default).encode()
    except (TypeError, ValueError) as error:
        raise Fault(MARSHAL_ERROR, f"Unable to marshal response: {error}") from error


def _write(text: str) -> None:
    """One log event: a record's inner line breaks kept inside it."""
    sys.stdout.write(text.rstrip("\n").replace("\n", RECORD_BREAK) + "\n")


class _Handler(logging.Handler):
    """The runtime's handler on the root logger: every record is one log event."""

    def emit(self, record: logging.LogRecord) -> None:
        _write(self.format(record))


class _RequestFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _request_id
        return True


class JsonFormatter(logging.Formatter):
    """The runtime's JSON application log record (``LogFormat`` ``JSON``).
    https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html"""

    def format(self, record: logging.LogRecord) -> str:
        level = min(50, max(0, record.levelno)) // 10 * 10
        error = record.exc_info if record.exc_info and record.exc_info[0] else None
        document: dict[str, Any] = {
            "timestamp": timestamp(record.created),
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(error[2]) if error else None,
            "errorType": error[0].__name__ if error else None,
            "errorMessage": str(error[1]) if error else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if error else None,
        }
        document |= {k: v for k, v in vars(record).items() if k not in _RESERVED | document.keys()}
        shown = {key: value for key, value in document.items() if value is not None}
        return json.dumps(shown, default=str, ensure_ascii=False)


def timestamp(seconds: float) -> str:
    """An instant as Lambda writes it in logs: ISO 8601, milliseconds, UTC (``Z``)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def setup_logging(log_format: str, log_level: str) -> None:
    """The root logger's handler as the runtime sets it (``AWS_LAMBDA_LOG_FORMAT``/``_LEVEL``)."""
    logging.Formatter.converter = time.gmtime
    handler = _Handler()
    if log_format.upper() == "JSON":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT, "%Y-%m-%dT%H:%M:%S"))
    level = {"TRACE": "DEBUG"}.get(log_level.upper(), log_level.upper())
    if level in logging.getLevelNamesMapping():
        logging.getLogger().setLevel(level)
    handler.addFilter(_RequestFilter())
    logging.getLogger().addHandler(handler)


def log_error(document: dict[str, Any], log_format: str) -> None:
    """Log a failure as the runtime does: ``[ERROR] Type: message`` and the traceback, or one
    JSON record."""
    if log_format.upper() == "JSON":
        record = {"timestamp": timestamp(time.time()), "level": "ERROR", **document}
        _write(json.dumps(record))
        return
    description = "[ERROR]"
    if document["errorType"]:
        description += f" {document['errorType']}" + (":" if document["errorMessage"] else "")
    if document["errorMessage"]:
        description += f" {document['errorMessage']}"
    lines = [description, "Traceback (most recent call last):"]
    for element in document["stackTrace"]:
        for line in element.splitlines() or [""]:
            stripped = line.lstrip(" ")
            lines.append(INDENT * (len(line) - len(stripped)) + stripped)
    _write("\n".join(lines))


def high_water_kb(pid: int | str = "self") -> int:
    """A process's peak resident memory (``VmHWM``; 0 when unknown). Not ``ru_maxrss``: on
    Linux a child's counts its parent's peak before the ``exec``."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmHWM:\s*(\d+) kB", status, re.MULTILINE)
    return int(found[1]) if found else 0


def _send(control: TextIO, message: dict[str, Any]) -> None:
    control.write(json.dumps(message | {"memoryKB": high_water_kb()}) + "\n")
    control.flush()


def run(request: dict[str, Any], control: TextIO) -> int:
    """One invocation: import, call, answer on ``control``; the process's exit status."""
    global _request_id  # noqa: PLW0603 - the log filter reads the invocation under way
    log_format = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "Text")
    setup_logging(log_format, os.environ.get("AWS_LAMBDA_LOG_LEVEL", ""))
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except Exception as error:  # noqa: BLE001 - any failure of the init is the init's error
        document = error_document(error, "")
        logging.warning(UNHANDLED_WARNING)
        log_error(document, log_format)
        _send(control, {"error": document})
        return 1
    _send(control, {"initialized": True})
    request_id = str(request["requestId"])
    deadline = int(time.time() * 1000) + int(request["timeoutMs"])
    context = LambdaContext(request_id, str(request["invokedFunctionArn"]), deadline)
    _request_id = request_id
    try:
        payload = marshal(handler(json.loads(request["event"]), context))
    except Exception as error:  # noqa: BLE001 - an exception of the handler is its error
        document = error_document(error, request_id)
        log_error(document, log_format)
        _send(control, {"error": document})
        return 0
    _send(control, {"payload": base64.b64encode(payload).decode()})
    return 0


def main(argv: list[str]) -> int:
    """Read the request, put the function's code first and the SDK last on the import path
    (as ``/var/task`` and ``/var/runtime`` are), and run the invocation."""
    request = json.loads(sys.stdin.read())
    sys.path[:] = [os.getcwd(), *sys.path, str(request["runtimeDir"])]
    with os.fdopen(int(argv[1]), "w", encoding="utf-8") as control:
        return run(request, control)


# --- the emulator's end -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one process of the function did (times in epoch milliseconds)."""

    lines: list[tuple[int, str]]
    answer: dict[str, Any] | None
    """``{"payload": ...}`` or ``{"error": ...}``; ``None`` when it gave none."""
    timed_out: bool
    started: int
    initialized: int | None
    ended: int
    max_memory_mb: int
    exit_code: int


def _now() -> int:
    return int(time.time() * 1000)


def execute(
    environment: dict[str, str], task_root: Path, request: dict[str, Any], timeout: float
) -> Outcome:
    """Run one invocation in a new process; kill it (its whole process group) once it answered,
    or ``timeout`` seconds after it was initialized (or started, when it never was)."""
    control, control_out = os.pipe()
    started = _now()
    try:
        process = subprocess.Popen(  # noqa: S603 - this interpreter, on this very file
            [sys.executable, "-I", "-S", "-u", "-X", "utf8", __file__, str(control_out)],
            cwd=task_root,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(control_out,),
            start_new_session=True,
        )
    finally:
        os.close(control_out)
    lines: list[tuple[int, str]] = []
    messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
    readers = [
        threading.Thread(target=_read_log, args=(process.stdout, lines), daemon=True),
        threading.Thread(target=_read_control, args=(control, messages), daemon=True),
    ]
    for reader in readers:
        reader.start()
    with contextlib.suppress(BrokenPipeError), process.stdin:  # type: ignore[union-attr]
        process.stdin.write(json.dumps(request).encode())  # type: ignore[union-attr]
    initialized, answer, timed_out, peak = None, None, False, 0
    try:
        message = messages.get(timeout=timeout)
        if message is not None and message.get("initialized"):
            initialized, peak = _now(), message["memoryKB"]
            message = messages.get(timeout=timeout)
        answer = message
    except queue.Empty:
        timed_out, peak = True, high_water_kb(process.pid)
    ended = _now()
    # The environment is done with: whatever the function left running goes with it.
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for reader in readers:
        reader.join(timeout=5)
    peak = answer.pop("memoryKB") if answer else peak
    memory = math.ceil(peak / 1024)
    return Outcome(
        lines, answer, timed_out, started, initialized, ended, memory, process.returncode
    )


def _read_log(stream: IO[bytes], lines: list[tuple[int, str]]) -> None:
    with stream:
        for raw in stream:
            text = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append((_now(), text.replace(RECORD_BREAK, "\n")))


def _read_control(fd: int, messages: queue.Queue[dict[str, Any] | None]) -> None:
    try:
        with os.fdopen(fd, "rb") as stream:
            for line in stream:
                messages.put(json.loads(line))
    finally:
        messages.put(None)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
