"""Pulumi assets as the provider sends them (zip bytes) and as inputs diff (their digest)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

ARCHIVE_DIGEST = "__archive_sha256"
"""The key an archive's digest stands under in normalized inputs (the state keeps no code)."""


def archive_bytes(archive: Any) -> bytes:
    """A deterministic zip of a Pulumi ``AssetArchive`` of ``FileAsset``s."""
    if not isinstance(archive, pulumi.AssetArchive):
        raise TypeError(f"only AssetArchive code is supported, got {type(archive).__name__}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name in sorted(archive.assets):
            asset = archive.assets[name]
            if not isinstance(asset, pulumi.FileAsset):
                raise TypeError(f"only FileAsset members are supported, got {name}")
            data = Path(asset.path).read_bytes()
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zipped.writestr(info, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def code_digest(archive: Any) -> str:
    """The SHA-256 of an archive's zip, or the digest normalized inputs already hold."""
    if isinstance(archive, Mapping):
        return str(archive[ARCHIVE_DIGEST])
    return hashlib.sha256(archive_bytes(archive)).hexdigest()


def normalize(value: Any) -> Any:
    """Inputs as JSON-able data: archives become their digest, so they diff by content."""
    if isinstance(value, pulumi.AssetArchive):
        return {ARCHIVE_DIGEST: code_digest(value)}
    if isinstance(value, Mapping):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalize(v) for v in value]
    return value
