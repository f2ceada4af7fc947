"""What tap's emulator process adds to moto: the services a pipeline execution needs.

Each module here runs inside the emulator process (``tap_cicd.local.server``) and nowhere else:
``install()`` patches moto's backends, ``ROUTES`` (when a module has any) are its control API
under ``/_tap/`` (for example seeding scan findings), and ``registry`` serves ``/v2/``. Calls a
service makes to another (CodePipeline starting a build, a build's ``aws`` commands) go
through the emulator's own endpoint, as they would on AWS.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from tap_cicd.local import DEFAULT_PORT
from tap_cicd.local.emulator import ACCESS_KEY, HOST, SECRET_KEY

__all__ = ["ACCESS_KEY", "DEFAULT_ACCOUNT", "HOST", "SECRET_KEY"]

DEFAULT_ACCOUNT = "123456789012"
"""moto's account for every access key the emulator's clients use."""
_CLIENTS = threading.Lock()
"""boto3's default session is not thread-safe: builds and executions make clients at once."""
_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3}, read_timeout=60)


@dataclass(frozen=True)
class Credentials:
    """Keys to call the emulator with: a role session's, or the emulator's own (no token)."""

    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    token: str | None = None


OWN = Credentials()
"""The emulator's own keys: an administrator's, never checked."""


def port() -> int:
    """The emulator's port (moto's server sets ``MOTO_PORT`` before it serves)."""
    return int(os.environ.get("MOTO_PORT", str(DEFAULT_PORT)))


def endpoint() -> str:
    """The emulator's own endpoint URL."""
    return f"http://{HOST}:{port()}"


def registry_host() -> str:
    """The container registry's host (``127.0.0.1:<port>``): what repository URIs start with.

    Docker treats registries on 127.0.0.0/8 as insecure (plain HTTP) without configuration.
    """
    return f"{HOST}:{port()}"


def client(service: str, region: str, credentials: Credentials = OWN) -> Any:
    """A boto3 client for ``service`` calling the emulator itself with ``credentials``."""
    with _CLIENTS:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=endpoint(),
            region_name=region,
            aws_access_key_id=credentials.access_key,
            aws_secret_access_key=credentials.secret_key,
            aws_session_token=credentials.token,
            config=_CONFIG,
        )


def call_environment(region: str, credentials: Credentials = OWN) -> dict[str, str]:
    """What a process the emulator starts (a build, a function) needs to reach it as
    ``credentials``: the AWS CLI and boto3 read ``AWS_ENDPOINT_URL``."""
    found = {
        "AWS_ENDPOINT_URL": endpoint(),
        "AWS_ACCESS_KEY_ID": credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
    if credentials.token is not None:
        found["AWS_SESSION_TOKEN"] = credentials.token
    return found
