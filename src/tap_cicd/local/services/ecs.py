"""Placeholder: replaced by the service module's implementation."""

from __future__ import annotations


def install() -> None:
    """Patch moto (nothing yet)."""
