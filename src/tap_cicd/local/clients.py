"""boto3 clients for one endpoint, with a count of the write calls they make."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

READ_PREFIXES = ("Get", "List", "Describe", "Head", "BatchGet", "Lookup")
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=2,
    read_timeout=30,
    max_pool_connections=20,
)


@dataclass
class Clients:
    """Lazily created clients sharing one session; every write call is counted."""

    endpoint_url: str | None
    region: str
    access_key: str | None = None
    secret_key: str | None = None
    writes: list[str] = field(default_factory=list)
    _cache: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._session = boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )
        self._session.events.register("before-call.*.*", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        name = str(model.name)
        if not name.startswith(READ_PREFIXES):
            with self._lock:
                self.writes.append(f"{model.service_model.service_name}:{name}")

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
