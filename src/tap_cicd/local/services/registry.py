"""Placeholder: replaced by the registry's implementation."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def install() -> None:
    """Patch moto (nothing yet)."""


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Nothing served yet."""
    start_response("404 Not Found", [("Content-Length", "0")])
    return [b""]
