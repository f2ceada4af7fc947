"""The emulator's WSGI application: moto behind the authorization step (``gate``), with the
registry under ``/v2/`` and tap's control API under ``/_tap/``.

moto's dispatcher picks a service from the request's host and signature; registry requests
(``docker push``) carry neither, so they are routed here first, by path.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable, Mapping
from types import ModuleType
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Route = Callable[[dict[str, Any]], dict[str, Any]]
"""A control call: the POSTed JSON object in, a JSON object out (``ValueError``: a 400)."""

MODULES = ("registry", "ecs", "events", "codebuild", "lambda_", "codepipeline", "gate", "authorize")
"""The service modules, in the order their patches are installed."""
CONTROL_PREFIX = "/_tap/"
REGISTRY_PREFIX = "/v2"


def modules() -> list[ModuleType]:
    """The service modules (each has ``install()``, and may have ``ROUTES`` and ``wsgi``)."""
    return [importlib.import_module(f"tap_cicd.local.services.{name}") for name in MODULES]


def install() -> None:
    """Patch moto with every service module's additions."""
    for module in modules():
        module.install()


def reset(_body: dict[str, Any]) -> dict[str, Any]:
    """Forget what the service modules keep beside moto (``/moto-api/reset`` empties moto)."""
    for module in modules():
        getattr(module, "reset", lambda: None)()
    return {}


def routes() -> dict[str, Route]:
    """Every module's control routes, by path below ``/_tap/``, and ``reset``."""
    found: dict[str, Route] = {"reset": reset}
    for module in modules():
        found |= getattr(module, "ROUTES", {})
    return found


def _json(start_response: Callable[..., Any], status: str, body: Mapping[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


class Application:
    """Routes ``/v2/`` to the registry, ``/_tap/`` to the control API, the rest to moto (a role
    session's calls authorized first)."""

    def __init__(self, moto: WSGIApp | None = None) -> None:
        gate = importlib.import_module("tap_cicd.local.services.gate")
        self.moto: WSGIApp = gate.Gate(moto or DomainDispatcherApplication(create_backend_app))
        self.routes = routes()
        self.registry: WSGIApp = importlib.import_module("tap_cicd.local.services.registry").wsgi

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path == REGISTRY_PREFIX or path.startswith(REGISTRY_PREFIX + "/"):
            return self.registry(environ, start_response)
        if path.startswith(CONTROL_PREFIX):
            return self._control(path.removeprefix(CONTROL_PREFIX), environ, start_response)
        return self.moto(environ, start_response)

    def _control(
        self, name: str, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        route = self.routes.get(name)
        if route is None or environ.get("REQUEST_METHOD") != "POST":
            return _json(start_response, "404 Not Found", {"message": f"no control call {name}"})
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b"{}"
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return _json(start_response, "200 OK", route(body))
        except ValueError as error:
            return _json(start_response, "400 Bad Request", {"message": str(error)})
