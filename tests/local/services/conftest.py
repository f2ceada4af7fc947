"""The emulator's application served in this process (so coverage sees the service modules),
on a free port of 127.0.0.1, emptied before each test."""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from werkzeug.serving import make_server

from tap_cicd.local import services
from tap_cicd.local.services import app


def client(endpoint: str, service: str, region: str = "us-east-1") -> Any:
    """A boto3 client of the in-process emulator."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def post(endpoint: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """POST JSON to the emulator and return its JSON answer."""
    request = urllib.request.Request(  # noqa: S310 - a loopback URL
        f"{endpoint}{path}",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        raw = response.read()
    return json.loads(raw) if raw else None


ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def service_role(
    live: str, name: str, service: str, policy: dict[str, Any] | None = ALLOW_ALL
) -> str:
    """A role ``service`` may assume, with ``policy`` inline (allow all by default); its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    iam = client(live, "iam")
    arn = str(
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    )
    if policy is not None:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
    return arn


def deny_actions(live: str, role: str, *actions: str) -> None:
    """An explicit deny (statement ``Taken``) of ``actions`` beside the role's other policies."""
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Taken", "Effect": "Deny", "Action": list(actions), "Resource": "*"}],
    }
    client(live, "iam").put_role_policy(
        RoleName=role, PolicyName="taken", PolicyDocument=json.dumps(document)
    )


@pytest.fixture(scope="session")
def live_endpoint() -> Iterator[str]:
    """The patched application on 127.0.0.1 for the whole session (``MOTO_PORT`` set)."""
    server = make_server(services.HOST, 0, None, threaded=True)  # type: ignore[arg-type]
    port = server.socket.getsockname()[1]
    previous = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(port)
    app.install()
    server.app = app.Application()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{services.HOST}:{port}"
    server.shutdown()
    if previous is None:
        os.environ.pop("MOTO_PORT", None)
    else:
        os.environ["MOTO_PORT"] = previous


@pytest.fixture
def live(live_endpoint: str) -> str:
    """The in-process emulator, empty (moto's backends and the service modules' own state)."""
    post(live_endpoint, "/moto-api/reset")
    post(live_endpoint, "/_tap/reset")
    return live_endpoint
