"""Reading ``imageDetail.json`` is bounded: a zip bomb in the input artifact costs kilobytes.

A few MB of zeros deflate to a few KB, so the archives here are small; what is measured is what
reading them allocates (``tracemalloc`` counts every bytes object, the inflated ones too).
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from conftest import DIGEST, JOB, REGION, REPOSITORY, World, load_event

from tap_cicd.deploy import aws, handler
from tap_cicd.deploy.events import Location
from tap_cicd.deploy.failures import JobFailure

BOMB_BYTES = 4 << 20
"""What the bomb inflates to: 64 times the limit, yet its archive is about 4 KB."""
MEMORY_CEILING = 1 << 20
"""Reading any of these archives may allocate at most this much (the limit is 64 KiB)."""
DETAIL = json.dumps(
    {"ImageURI": f"111122223333.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}@{DIGEST}"}
).encode()
LOCATION = Location("bucket", "key")


def archive(content: bytes, name: str = aws.IMAGE_DETAIL) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(name, content)
    return buffer.getvalue()


def declaring(raw: bytes, size: int) -> bytes:
    """``raw`` with its one member's uncompressed size rewritten to ``size`` (a lying header),
    in the local header and the central directory alike."""
    data = bytearray(raw)
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, size)
    struct.pack_into("<I", data, central + 24, size)
    return bytes(data)


class Body:
    """The streaming body ``GetObject`` returns."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)

    def read(self, amount: int) -> bytes:
        return self.stream.read(amount)

    def close(self) -> None:
        self.stream.close()


class S3:
    """An S3 client holding one object."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def get_object(self, **_: Any) -> dict[str, Any]:
        return {"Body": Body(self.data)}


def peak_bytes(call: Callable[[], Any]) -> tuple[int, Any]:
    """What ``call`` allocated at its peak, and what it returned or raised."""
    tracemalloc.start()
    try:
        try:
            result: Any = call()
        except JobFailure as failure:
            result = failure
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def read(data: bytes) -> Callable[[], bytes]:
    return lambda: aws.read_image_detail(S3(data), LOCATION)  # type: ignore[arg-type]


def test_the_bomb_is_small_and_inflating_it_whole_is_not() -> None:
    # The control: what the old ``archive.read`` cost. Without the bound, this is the bill.
    bomb = archive(bytes(BOMB_BYTES))
    assert len(bomb) < 16 << 10

    def inflate_whole() -> bytes:
        with zipfile.ZipFile(io.BytesIO(bomb)) as zipped:
            return zipped.read(aws.IMAGE_DETAIL)

    peak, _ = peak_bytes(inflate_whole)
    assert peak > BOMB_BYTES


def test_a_member_declaring_more_than_the_limit_is_refused_unread() -> None:
    peak, result = peak_bytes(read(archive(bytes(BOMB_BYTES))))
    assert isinstance(result, JobFailure)
    assert (result.failure_type, result.message) == (
        "JobFailed",
        "imageDetail.json in the input artifact is larger than 65536 bytes (the limit); "
        "not a build output",
    )
    assert peak < MEMORY_CEILING


@pytest.mark.parametrize("declared", [100, aws.MAX_DETAIL_BYTES])
def test_a_lying_header_cannot_inflate_more_than_the_limit(declared: int) -> None:
    bomb = declaring(archive(bytes(BOMB_BYTES)), declared)
    with zipfile.ZipFile(io.BytesIO(bomb)) as zipped:
        assert zipped.getinfo(aws.IMAGE_DETAIL).file_size == declared  # the lie is read
    peak, result = peak_bytes(read(bomb))
    assert isinstance(result, JobFailure)
    assert result.failure_type == "JobFailed"
    assert result.message.startswith(
        "imageDetail.json in the input artifact is corrupt or unreadable: Bad CRC-32"
    )
    assert peak < MEMORY_CEILING


def test_a_read_past_the_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the zip module does with the header, the read itself stops at limit + 1."""
    asked: list[int] = []
    original = zipfile.ZipExtFile.read

    def lenient(self: zipfile.ZipExtFile, n: int = -1) -> bytes:
        asked.append(n)
        self._left = 1 << 40  # type: ignore[attr-defined]  # a zip module that trusts no size
        return original(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", lenient)
    peak, result = peak_bytes(read(declaring(archive(bytes(BOMB_BYTES)), 100)))
    assert asked == [aws.MAX_DETAIL_BYTES + 1]
    assert isinstance(result, JobFailure)
    assert "larger than 65536 bytes (the limit)" in result.message
    assert peak < MEMORY_CEILING


def test_a_detail_at_the_limit_is_read() -> None:
    padded = DETAIL + b" " * (aws.MAX_DETAIL_BYTES - len(DETAIL))
    assert aws.read_image_detail(S3(archive(padded)), LOCATION) == padded  # type: ignore[arg-type]


def test_an_encrypted_member_fails_clearly() -> None:
    data = bytearray(archive(DETAIL))
    # Set the "encrypted" flag bit in the central directory: zipfile then asks for a password.
    central = data.index(b"PK\x01\x02")
    flags = struct.unpack_from("<H", data, central + 8)[0]
    struct.pack_into("<H", data, central + 8, flags | 0x1)
    _, result = peak_bytes(read(bytes(data)))
    assert isinstance(result, JobFailure)
    assert result.message == "imageDetail.json in the input artifact is encrypted"


def test_a_corrupt_deflate_stream_fails_clearly() -> None:
    data = bytearray(archive(DETAIL * 20))
    start = data.index(b"PK\x03\x04") + 30 + len(aws.IMAGE_DETAIL)
    data[start : start + 8] = b"\xff" * 8
    _, result = peak_bytes(read(bytes(data)))
    assert isinstance(result, JobFailure)
    assert result.message.startswith("imageDetail.json in the input artifact is corrupt")


def test_the_handler_reports_a_bomb_as_a_failed_job(world: World) -> None:
    world.put_artifact(raw=archive(bytes(BOMB_BYTES)))
    world.put_image()
    world.stubber.add_response(
        "put_job_failure_result",
        {},
        {
            "jobId": JOB,
            "failureDetails": {
                "type": "JobFailed",
                "message": "imageDetail.json in the input artifact is larger than 65536 bytes "
                "(the limit); not a build output",
            },
        },
    )
    assert handler.handler(load_event("job_success"), None) is None
    assert world.release()[0] == {"imageDigest": None}
