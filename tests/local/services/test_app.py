"""The emulator's routing: the registry, tap's control API and moto behind one port."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from .conftest import client, post


def call(
    endpoint: str, path: str, method: str = "POST", body: bytes | None = b"{}"
) -> tuple[int, object]:
    request = urllib.request.Request(f"{endpoint}{path}", data=body, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_unknown_control_call_or_method_is_a_404(live: str) -> None:
    assert call(live, "/_tap/nope") == (404, {"message": "no control call nope"})
    assert call(live, "/_tap/reset", method="GET", body=None) == (
        404,
        {"message": "no control call reset"},
    )


@pytest.mark.parametrize(
    ("body", "message"), [(b"[]", "the body must be a JSON object"), (b"{", "Expecting")]
)
def test_a_control_call_with_a_bad_body_is_a_400(live: str, body: bytes, message: str) -> None:
    status, answer = call(live, "/_tap/reset", body=body)
    assert status == 400
    assert isinstance(answer, dict) and answer["message"].startswith(message)


def test_a_control_call_without_a_body_gets_an_empty_object(live: str) -> None:
    assert call(live, "/_tap/reset", body=None) == (200, {})
    assert post(live, "/_tap/events/deliveries") == {"deliveries": []}


def test_the_registry_and_moto_share_the_port(live: str) -> None:
    token = client(live, "ecr").get_authorization_token()["authorizationData"][0]
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{live}/v2/", headers={"Authorization": f"Basic {token['authorizationToken']}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    with urllib.request.urlopen(f"{live}/moto-api/", timeout=10) as response:  # noqa: S310
        assert response.status == 200
