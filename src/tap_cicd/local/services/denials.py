"""AWS's access-denied answer to a refused call, in the protocol the call was made in.

The error code is the service's own access-denied error shape in its botocore model when it
has one (SNS's ``AuthorizationError``, S3's ``AccessDenied``, ``AccessDeniedException``),
else ``AccessDeniedException`` for the JSON protocols and ``AccessDenied`` for the XML ones.
Each shape is the one botocore's parsers read (``botocore.parsers``), so an SDK or the CLI
raises ``ClientError`` with that code and the message.
"""

from __future__ import annotations

import functools
import json
import uuid
from http import HTTPStatus
from xml.sax.saxutils import escape

from tap_cicd.local.services.operations import CBOR, Operation, service_model

Response = tuple[str, list[tuple[str, str]], bytes]
"""A WSGI status line, headers and body."""

DENIED_SHAPES = ("AccessDeniedException", "AccessDenied", "AuthorizationErrorException")
"""Names of services' access-denied error shapes (SNS's is AuthorizationErrorException)."""
JSON_PROTOCOLS = frozenset({"json", "rest-json", CBOR})
QUERY_CODE = "AccessDenied"
"""The query-protocol code of a JSON service that was a query service (SQS)."""
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/query-api-troubleshooting.html
EC2_CODE = "UnauthorizedOperation"


def message(principal_arn: str, action: str, resource: str, reason: str) -> str:
    """AWS's text: ``User: <arn> is not authorized to perform: <action> on resource:
    <resource> because <reason>`` (without the ``because`` clause when no reason is given)."""
    text = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    return f"{text} because {reason}" if reason else text


REFUSAL_CODES = frozenset({"AuthorizationError", EC2_CODE, "Forbidden", "403"})
"""Codes an SDK raises for a refusal besides ``AccessDenied*``: SNS's, EC2's, and what a HEAD
request's empty 403 body becomes."""


def is_denied(error: Exception) -> bool:
    """Whether a botocore ``ClientError`` is an access denial, in any service's words."""
    response = getattr(error, "response", None)
    code = (
        str((response or {}).get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    )
    return code.startswith("AccessDenied") or code in REFUSAL_CODES


def access_denied(operation: Operation, message: str) -> Response:
    """(status line, headers, body) of AWS's access-denied error for ``operation``'s
    service and protocol, with a fresh request id."""
    code, status = error_code(operation.service, operation.protocol)
    request_id = str(uuid.uuid4())
    if operation.protocol == "ec2":
        headers, body = _ec2(message, request_id)
    elif operation.protocol in JSON_PROTOCOLS:
        headers, body = _json(operation, code, message)
        headers.append(("x-amzn-RequestId", request_id))
    elif operation.protocol == "rest-xml":
        headers, body = _rest_xml(operation, code, message, request_id)
    else:
        headers, body = _query(operation, code, message, request_id)
    headers.append(("Content-Length", str(len(body))))
    return f"{status} {HTTPStatus(status).phrase}", headers, body


@functools.cache
def error_code(service: str, protocol: str) -> tuple[str, int]:
    """The code and HTTP status of ``service``'s access-denied error in ``protocol``."""
    xml = protocol not in JSON_PROTOCOLS
    # JSON services answer 400: https://docs.aws.amazon.com/accounts/latest/reference/CommonErrors.html
    # REST and XML ones 403: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
    status = 400 if protocol in {"json", CBOR} else 403
    if protocol == "ec2":
        return EC2_CODE, status
    shapes = {shape.name: shape for shape in service_model(service).error_shapes}
    for name in DENIED_SHAPES:
        if name in shapes:
            error = shapes[name].metadata.get("error", {})
            code = str(error.get("code", name)) if xml else name
            return code, int(error.get("httpStatusCode", status))
    return ("AccessDenied" if xml else "AccessDeniedException"), status


def _json(operation: Operation, code: str, text: str) -> tuple[list[tuple[str, str]], bytes]:
    """JSON: ``__type`` and ``message``; REST-JSON adds ``x-amzn-ErrorType`` (Lambda's body
    has ``Type`` and ``Message``); RPC v2 CBOR encodes the same map."""
    model = service_model(operation.service)
    headers: list[tuple[str, str]]
    document: dict[str, str] = {"__type": code, "message": text}
    if operation.protocol == "rest-json":
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", code)]
        document = (
            {"Type": "User", "Message": text}
            if operation.service == "lambda"
            else {"message": text}
        )
    elif operation.protocol == CBOR:
        headers = [("Content-Type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")]
    else:
        version = model.metadata.get("jsonVersion", "1.0")
        headers = [("Content-Type", f"application/x-amz-json-{version}")]
    if "awsQueryCompatible" in model.metadata:
        # botocore reads the query-era code from this header (parsers, x-amzn-query-error).
        headers.append(("x-amzn-query-error", f"{QUERY_CODE};Sender"))
    if operation.protocol == CBOR:
        return headers, _cbor_map(document)
    return headers, json.dumps(document).encode()


def _rest_xml(
    operation: Operation, code: str, text: str, request_id: str
) -> tuple[list[tuple[str, str]], bytes]:
    """S3's ``<Error>`` document (none for HEAD, whose answers have no body)."""
    host_id = str(uuid.uuid4())
    headers = [
        ("Content-Type", "application/xml"),
        ("x-amz-request-id", request_id),
        ("x-amz-id-2", host_id),
    ]
    if operation.name.startswith("Head"):
        return headers, b""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(text)}</Message>"
        f"<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
    )
    return headers, body.encode()


def _query(
    operation: Operation, code: str, text: str, request_id: str
) -> tuple[list[tuple[str, str]], bytes]:
    """The query protocol's ``<ErrorResponse>`` (SNS, STS, IAM; SQS's query requests)."""
    namespace = service_model(operation.service).metadata.get("xmlNamespace")
    attribute = f' xmlns="{escape(str(namespace))}"' if namespace else ""
    body = (
        f"<ErrorResponse{attribute}><Error><Type>Sender</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(text)}</Message></Error><RequestId>{request_id}</RequestId>"
        "</ErrorResponse>"
    )
    return [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()


def _ec2(text: str, request_id: str) -> tuple[list[tuple[str, str]], bytes]:
    """EC2's ``<Response><Errors>`` document with ``UnauthorizedOperation``."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Response><Errors><Error><Code>{EC2_CODE}</Code><Message>{escape(text)}</Message>"
        f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
    )
    headers = [("Content-Type", "text/xml;charset=UTF-8"), ("x-amzn-RequestId", request_id)]
    return headers, body.encode()


def _cbor_map(document: dict[str, str]) -> bytes:
    """A CBOR map of text strings (RFC 8949: major types 5 and 3)."""
    out = _cbor_head(5, len(document))
    for key, value in document.items():
        for text in (key, value):
            data = text.encode()
            out += _cbor_head(3, len(data)) + data
    return out


def _cbor_head(major: int, length: int) -> bytes:
    """A data item's head: the length in the low bits, or in the 1, 2, 4 or 8 bytes after."""
    if length < 24:
        return bytes([major << 5 | length])
    size = next(size for size in (1, 2, 4, 8) if length < 1 << (8 * size))
    return bytes([major << 5 | (23 + size.bit_length())]) + length.to_bytes(size, "big")
