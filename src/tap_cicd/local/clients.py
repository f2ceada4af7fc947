"""boto3 clients for one endpoint, with a count of the write calls they make and a record of
the first connection failure they saw."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

READ_PREFIXES = ("Get", "List", "Describe", "Head", "BatchGet", "Lookup")
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,
    read_timeout=30,
    max_pool_connections=20,
)
CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ReadTimeoutError,
    ConnectTimeoutError,
)
"""What botocore raises, after its retries, when the endpoint is gone, closes the connection
or does not answer in time: not an AWS error, the endpoint itself failed."""


@dataclass
class Clients:
    """Lazily created clients sharing one session; every write call is counted."""

    endpoint_url: str | None
    region: str
    access_key: str
    secret_key: str
    writes: list[str] = field(default_factory=list)
    lost: Exception | None = field(default=None, init=False)
    """The first connection failure any client saw (callers may have wrapped it since)."""
    _cache: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # The caller's AWS_PROFILE is not read at all: the emulator's keys are given, and a
        # profile that does not exist would fail every call.
        core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        self._session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            botocore_session=core,
        )
        self._session.events.register("before-call.*.*", self._count)
        self._session.events.register("after-call-error", self._watch)

    def _count(self, model: Any, **_: Any) -> None:
        name = str(model.name)
        if not name.startswith(READ_PREFIXES):
            with self._lock:
                self.writes.append(f"{model.service_model.service_name}:{name}")

    def _watch(self, exception: Exception, **_: Any) -> None:
        # botocore emits after-call-error once its retries are spent, before raising.
        if isinstance(exception, CONNECTION_ERRORS):
            with self._lock:
                self.lost = self.lost or exception

    def __call__(self, service: str) -> Any:
        """The client of ``service`` (created once, thread-safe to share)."""
        with self._lock:
            if service not in self._cache:
                make: Any = self._session.client  # service names are dynamic here
                self._cache[service] = make(
                    service, endpoint_url=self.endpoint_url, config=CLIENT_CONFIG
                )
            return self._cache[service]

    def account_id(self) -> str:
        """The account the endpoint answers for."""
        return str(self("sts").get_caller_identity()["Account"])
