"""Which AWS API call an emulator request is, and what IAM authorizes it on.

The emulator answers every AWS API on one address, so a request is read the way AWS's front
door reads it. The SigV4 credential scope names the signing service (``credentials``);
botocore's service models name the operation (``identify``): ``X-Amz-Target`` for the JSON
protocol, ``Action=`` for the query protocols, the HTTP method and URI template for the REST
protocols, and the RPC v2 CBOR path. The operation's input members are read from where its
model binds them (JSON body, form, URI labels, query string, headers).

``accesses`` then names what IAM checks for the call: the action, and the resource ARN it is
authorized on (``arns``). An operation ``arns`` has no rule for is authorized as
``<prefix>:<OperationName>`` on ``"*"``: a statement that names specific ARNs does not match
it; only ``"Resource": "*"`` (or a pattern that matches ``*``) does.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote

from botocore.loaders import Loader, create_loader
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.parsers import RpcV2CBORParser

from tap_cicd.local.services import arns

CBOR = "smithy-rpc-v2-cbor"
_SCOPE = r"([^/\s,=]+)/\d{8}/([^/\s,]+)/([^/\s,]+)/aws4_request"
_HEADER_SCOPE = re.compile(r"Credential=" + _SCOPE)
_QUERY_SCOPE = re.compile(_SCOPE)
_CBOR_PATH = re.compile(r"/service/([^/]+)/operation/([^/]+)/?")
_LABEL = re.compile(r"(\{[^}]+\})")
_S3_HOST = re.compile(r"(.+)\.s3[.-]")
_HEAD = 16384
"""How much of a model file holds its metadata (it comes right after ``version``)."""


@dataclass(frozen=True)
class Operation:
    """A signed AWS API call, as identified from the request."""

    service: str
    """botocore's service name (``s3``, ``codebuild``, ``lambda``, ``sns``)."""
    name: str
    """botocore's operation name (``PutObject``, ``Invoke``, ``StartBuild``)."""
    protocol: str
    """The protocol the request used: ``json``, ``rest-json``, ``rest-xml``, ``query``,
    ``ec2`` or ``smithy-rpc-v2-cbor``."""
    params: Mapping[str, Any]
    """The input members as sent, by botocore member name (query protocols: flat form names)."""
    access_key: str | None
    """The SigV4 access key id."""
    region: str | None
    """The credential scope's region."""


@dataclass(frozen=True)
class Access:
    """One authorization AWS makes for a call."""

    action: str
    """The IAM action (``s3:GetObject``)."""
    resource: str
    """The ARN the call is authorized on; ``"*"`` for actions with no resource type."""


def credentials(environ: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(access key, region, signing service) from the SigV4 ``Authorization`` header or a
    presigned URL's ``X-Amz-Credential``; ``None`` when the request is not SigV4-signed."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    if authorization.startswith("AWS4-HMAC-SHA256"):
        match = _HEADER_SCOPE.search(authorization)
    else:
        query = str(environ.get("QUERY_STRING", ""))
        values = parse_qs(query).get("X-Amz-Credential") if "X-Amz-Credential" in query else None
        match = _QUERY_SCOPE.fullmatch(values[0]) if values else None
    return (match[1], match[2], match[3]) if match else None


def identify(environ: Mapping[str, Any], body: bytes) -> Operation | None:
    """The AWS API call a WSGI request makes; ``None`` when it is not a SigV4-signed call of
    an operation of a service botocore knows (several services may share a signing name:
    each is tried)."""
    found = credentials(environ)
    if found is None:
        return None
    access_key, region, signing = found
    for service in signing_index().get(signing, ()):
        matched = _table(service).match(environ, body)
        if matched is not None:
            name, protocol, params = matched
            return Operation(service, name, protocol, params, access_key, region)
    return None


def accesses(operation: Operation, account: str, region: str) -> list[Access]:
    """What IAM authorizes the call on: usually one ``Access``; several where AWS checks
    several (CopyObject reads the source and writes the target, DescribeServices checks each
    service, BatchGetBuilds each project); none for calls that need no permission."""
    prefix = arns.iam_prefix(_table(operation.service).signing)
    found = arns.resolve(
        arns.Call(operation.service, prefix, operation.name, operation.params, account, region)
    )
    return [Access(action, resource) for action, resource in found]


@functools.cache
def loader() -> Loader:
    """botocore's model loader, made once."""
    return create_loader()


@functools.cache
def service_model(service: str) -> ServiceModel:
    """botocore's model of ``service`` (with its SDK extras), loaded once."""
    return ServiceModel(loader().load_service_model(service, "service-2"), service)


@functools.cache
def signing_index() -> dict[str, tuple[str, ...]]:
    """botocore's services by SigV4 signing name (``signingName``, else ``endpointPrefix``):
    ``monitoring`` is CloudWatch's, ``ecr`` ECR's; the service named like it comes first."""
    index: dict[str, list[str]] = {}
    for service in loader().list_available_services("service-2"):
        metadata = model_metadata(loader(), service)
        signing = metadata.get("signingName") or metadata.get("endpointPrefix") or service
        index.setdefault(signing, []).append(service)
    return {
        name: tuple(sorted(services, key=lambda service: service != name))
        for name, services in index.items()
    }


def model_metadata(models: Loader, service: str) -> dict[str, Any]:
    """A service model's ``metadata``, read from the head of its file (where the loader looks,
    in its order): loading every model whole takes seconds. The loader's whole model where
    no file's head holds it."""
    version = models.determine_latest_version(service, "service-2")
    for root in models.search_paths:
        base = os.path.join(root, service, version, "service-2.json")
        for path, opener in ((base, open), (f"{base}.gz", gzip.open)):
            try:
                with opener(path, "rb") as stream:
                    head = stream.read(_HEAD).decode("utf-8", "replace")
                start = head.index("{", head.index('"metadata"'))
                return dict(json.JSONDecoder().raw_decode(head, start)[0])
            except (OSError, ValueError):
                continue
    return dict(models.load_service_model(service, "service-2")["metadata"])


@dataclass(frozen=True)
class _Route:
    """A REST operation's HTTP binding, compiled."""

    operation: OperationModel
    method: str
    path: re.Pattern[str]
    labels: tuple[str, ...]
    query: tuple[tuple[str, str | None], ...]
    required: tuple[str, ...]
    rank: tuple[int, int, int]

    def accepts(self, query: Mapping[str, list[str]], environ: Mapping[str, Any]) -> bool:
        """Whether the request has the query keys the URI names and the required members
        bound to the query string (``?key``) or headers (``environ`` keys)."""
        literal = all(
            key in query and (value is None or value in query[key]) for key, value in self.query
        )
        return literal and all(
            (name[1:] in query) if name.startswith("?") else (name in environ)
            for name in self.required
        )


def _route(operation: OperationModel) -> _Route:
    """Compile ``http.requestUri``: ``{Label}`` is one path segment, ``{Label+}`` the rest."""
    path, _, query = str(operation.http.get("requestUri", "/")).partition("?")
    pattern, labels, literal = "", [], 0
    for piece in _LABEL.split(path.rstrip("/")):
        if piece.startswith("{"):
            labels.append(piece[1:-1].rstrip("+"))
            pattern += "(.+)" if piece.endswith("+}") else "([^/]+)"
        else:
            literal += len(piece)
            pattern += re.escape(piece)
    keys = tuple(
        (key, value if sep else None)
        for key, sep, value in (item.partition("=") for item in query.split("&") if item)
    )
    shape = operation.input_shape
    required = tuple(
        _wire(shape.members[name])
        for name in (shape.required_members if shape is not None else [])
        if shape is not None and _location(shape.members[name]) in {"querystring", "header"}
    )
    return _Route(
        operation,
        str(operation.http.get("method", "POST")),
        re.compile(pattern + "/?"),
        tuple(labels),
        keys,
        required,
        (len(keys), len(required), literal),
    )


def _location(member: Shape) -> str | None:
    return member.serialization.get("location")


def _wire(member: Shape) -> str:
    """Where a query-string (``?name``) or header (its ``environ`` key) member is sent."""
    name = str(member.serialization.get("name", member.name))
    if _location(member) == "querystring":
        return f"?{name}"
    key = name.upper().replace("-", "_")
    return key if key in {"CONTENT_TYPE", "CONTENT_LENGTH"} else f"HTTP_{key}"


class _Table:
    """One service's operations, indexed for identification (built on first use)."""

    def __init__(self, service: str) -> None:
        model = service_model(service)
        metadata = model.metadata
        self.service = service
        self.signing = str(metadata.get("signingName") or model.endpoint_prefix)
        self.protocols = tuple(metadata.get("protocols") or [model.protocol])
        self.target = metadata.get("targetPrefix")
        self.operations = frozenset(model.operation_names)
        query = [p for p in self.protocols if p in {"query", "ec2"}]
        # JSON services that were query services (SQS) still take their query requests.
        self.query = query[0] if query else ("query" if "awsQueryCompatible" in metadata else None)
        rest = sorted({"rest-json", "rest-xml"} & set(self.protocols))
        self.rest = rest[0] if rest else None
        self.routes = tuple(
            _route(model.operation_model(name)) for name in (model.operation_names if rest else [])
        )

    def match(
        self, environ: Mapping[str, Any], body: bytes
    ) -> tuple[str, str, dict[str, Any]] | None:
        """(operation, protocol, params) when the request is one of this service's calls."""
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target is not None:
            return self._json(str(target), body)
        if environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor":
            return self._cbor(environ, body)
        query = _query(environ, body) if self.query is not None else {}
        action = query.pop("Action", None)
        if action is not None:
            query.pop("Version", None)
            return (action, str(self.query), query) if action in self.operations else None
        return self._rest(environ, body) if self.routes else None

    def _json(self, target: str, body: bytes) -> tuple[str, str, dict[str, Any]] | None:
        prefix, _, name = target.rpartition(".")
        if "json" not in self.protocols or name not in self.operations or prefix != self.target:
            return None
        return name, "json", _json_object(body)

    def _cbor(
        self, environ: Mapping[str, Any], body: bytes
    ) -> tuple[str, str, dict[str, Any]] | None:
        match = _CBOR_PATH.fullmatch(_path(environ))
        if CBOR not in self.protocols or match is None or match[2] not in self.operations:
            return None
        try:
            stream = io.BufferedReader(io.BytesIO(body))
            params = RpcV2CBORParser().parse_data_item(stream) if body else {}
        except Exception:  # noqa: BLE001 - any malformed body: no params to read
            params = {}
        return match[2], CBOR, params if isinstance(params, dict) else {}

    def _rest(
        self, environ: Mapping[str, Any], body: bytes
    ) -> tuple[str, str, dict[str, Any]] | None:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        path = _path(environ)
        if self.service == "s3":
            host = _S3_HOST.match(str(environ.get("HTTP_HOST", "")).rsplit(":", 1)[0])
            path = f"/{host[1]}{path}" if host else path
        query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
        best: tuple[_Route, re.Match[str]] | None = None
        for route in self.routes:
            match = route.path.fullmatch(path) if route.method == method else None
            if (
                match
                and route.accepts(query, environ)
                and (best is None or route.rank > best[0].rank)
            ):
                best = (route, match)
        if best is None:
            return None
        route, match = best
        labels = dict(zip(route.labels, (unquote(value) for value in match.groups()), strict=True))
        params = _rest_params(route.operation, labels, query, environ)
        if self.rest == "rest-json":
            params.update(_json_body(route.operation, body))
        return route.operation.name, str(self.rest), params


@functools.cache
def _table(service: str) -> _Table:
    return _Table(service)


def _path(environ: Mapping[str, Any]) -> str:
    """The request path as sent (percent-encoded), from ``RAW_URI``/``REQUEST_URI`` when the
    server gives it (labels may hold an encoded ``/``), else from ``PATH_INFO``."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = str(raw).split("?", 1)[0]
        return re.sub(r"^https?://[^/]*", "", path) or "/"
    info = str(environ.get("PATH_INFO", "")).encode("latin-1", "replace").decode("utf-8", "replace")
    return re.sub(r"[%?#]", lambda m: f"%{ord(m[0]):02X}", info) or "/"


def _query(environ: Mapping[str, Any], body: bytes) -> dict[str, Any]:
    """The query string's and a form body's parameters (first value of each)."""
    pairs = parse_qsl(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if body and content_type.startswith("application/x-www-form-urlencoded"):
        pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    params: dict[str, Any] = {}
    for key, value in pairs:
        params.setdefault(key, value)
    return params


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body) if body else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _rest_params(
    operation: OperationModel,
    labels: Mapping[str, str],
    query: Mapping[str, list[str]],
    environ: Mapping[str, Any],
) -> dict[str, Any]:
    """The members bound to the URI, the query string and headers."""
    params: dict[str, Any] = {}
    shape = operation.input_shape
    for name, member in (shape.members if shape is not None else {}).items():
        location = _location(member)
        wire = str(member.serialization.get("name", name))
        if location == "uri" and wire in labels:
            params[name] = labels[wire]
        elif location == "querystring" and wire in query and member.type_name != "map":
            values = query[wire]
            params[name] = values if member.type_name == "list" else values[0]
        elif location == "header" and _wire(member) in environ:
            params[name] = str(environ[_wire(member)])
    return params


def _json_body(operation: OperationModel, body: bytes) -> dict[str, Any]:
    """A REST-JSON request's body members (a structure payload under its member name)."""
    shape = operation.input_shape
    if shape is None or not body:
        return {}
    payload = shape.serialization.get("payload")
    if payload is None:
        names = {
            str(member.serialization.get("name", name)): name
            for name, member in shape.members.items()
            if _location(member) is None
        }
        return {names[k]: v for k, v in _json_object(body).items() if k in names}
    if shape.members[payload].type_name == "structure":
        return {payload: _json_object(body)}
    return {}
