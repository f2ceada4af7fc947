"""Helpers shared by the integration tests: the target, the emulator's API, policy parsing."""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any


def on_aws() -> bool:
    """``TAP_TARGET=aws``: the tests read a stack in a real account."""
    return os.environ.get("TAP_TARGET", "local") == "aws"


def emulator_endpoint() -> str:
    """The emulator's endpoint (``AWS_ENDPOINT_URL``); only meaningful off AWS."""
    return os.environ["AWS_ENDPOINT_URL"].rstrip("/")


def tap_api(path: str, payload: dict[str, Any] | None = None) -> Any:
    """Call the emulator's control API (``/_tap/...``, e.g. ``ecr/findings``): POST, JSON."""
    return _emulator_call(f"/_tap/{path}", payload or {})


def moto_api(path: str, payload: dict[str, Any] | None = None) -> Any:
    """Call the emulator's own API (``/moto-api/...``): GET, or POST with a JSON payload."""
    return _emulator_call(f"/moto-api/{path}", payload)


def _emulator_call(path: str, payload: dict[str, Any] | None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(  # noqa: S310 - the loopback emulator URL
        f"{emulator_endpoint()}{path}",
        data=data,
        headers={"Content-Type": "application/json"},
        method="GET" if payload is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        body = response.read()
    return json.loads(body) if body else None


def policy_document(raw: str | dict[str, Any]) -> dict[str, Any]:
    """A policy as a dict (IAM returns documents decoded, S3/SNS as JSON text)."""
    if isinstance(raw, dict):
        return raw
    return dict(json.loads(raw))


def as_list(value: Any) -> list[Any]:
    """IAM allows a string or a list almost everywhere."""
    return value if isinstance(value, list) else [value]


def everyone(principal: Any) -> bool:
    """``"*"`` and ``{"AWS": "*"}`` both mean everyone."""
    return principal == "*" or (
        isinstance(principal, dict) and principal.get("AWS") in ("*", ["*"])
    )
