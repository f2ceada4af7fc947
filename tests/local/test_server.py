"""The emulator process: moto's server with the condition patch, tested in-process."""

from __future__ import annotations

import json
import runpy
import sys
from typing import Any

import moto.server
import pytest
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult

from tap_cicd.local import server

BUCKET_ARN = "arn:aws:s3:::tap-source"
OBJECT_ARN = f"{BUCKET_ARN}/source.zip"
TLS_ONLY = {
    "Sid": "DenyInsecureTransport",
    "Effect": "Deny",
    "Principal": {"AWS": "*"},
    "Action": "s3:*",
    "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
DENY_ALL = {key: value for key, value in TLS_ONLY.items() if key != "Condition"}


@pytest.fixture
def restore_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo the patch after the test (it replaces a method on moto's class)."""
    monkeypatch.setattr(
        IAMPolicyStatement, "is_action_permitted", IAMPolicyStatement.is_action_permitted
    )


def judge(statement: dict[str, Any], context: dict[str, str] | None = None) -> PermissionResult:
    return IAMPolicyStatement(statement).is_action_permitted(
        "s3:GetObject", OBJECT_ARN, None, context
    )


@pytest.mark.usefixtures("restore_moto")
def test_unpatched_moto_denies_on_a_condition_it_cannot_evaluate() -> None:
    # Why the patch exists: if moto learns request context, this fails and the patch can go.
    assert judge(TLS_ONLY) == PermissionResult.DENIED


@pytest.mark.usefixtures("restore_moto")
def test_patched_conditioned_statement_without_context_is_neutral() -> None:
    server.patch_moto_conditions()
    assert judge(TLS_ONLY) == PermissionResult.NEUTRAL
    allow = {**TLS_ONLY, "Effect": "Allow"}
    assert judge(allow) == PermissionResult.NEUTRAL


@pytest.mark.usefixtures("restore_moto")
def test_patched_unconditioned_deny_still_denies() -> None:
    server.patch_moto_conditions()
    assert judge(DENY_ALL) == PermissionResult.DENIED


@pytest.mark.usefixtures("restore_moto")
def test_patched_statement_with_context_is_judged_by_moto() -> None:
    server.patch_moto_conditions()
    assert judge(TLS_ONLY, {"aws:SecureTransport": "false"}) == PermissionResult.DENIED


@pytest.mark.usefixtures("restore_moto")
def test_patched_tls_only_bucket_policy_lets_the_owner_through() -> None:
    policy = IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [TLS_ONLY]}))
    assert policy.is_action_permitted("s3:GetObject", OBJECT_ARN) == PermissionResult.DENIED
    server.patch_moto_conditions()
    assert policy.is_action_permitted("s3:GetObject", OBJECT_ARN) == PermissionResult.NEUTRAL


def record_serve(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], bool]]:
    """Replace moto's server with a recorder of its argv and of whether the patch was in."""
    unpatched = IAMPolicyStatement.is_action_permitted
    served: list[tuple[list[str], bool]] = []

    def serve(argv: list[str]) -> None:
        served.append((argv, IAMPolicyStatement.is_action_permitted is not unpatched))

    monkeypatch.setattr(moto.server, "main", serve)
    return served


@pytest.mark.usefixtures("restore_moto")
def test_main_patches_moto_then_serves_with_the_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = record_serve(monkeypatch)
    server.main(["-H", "127.0.0.1", "-p", "4566"])
    assert served == [(["-H", "127.0.0.1", "-p", "4566"], True)]
    assert judge(TLS_ONLY) == PermissionResult.NEUTRAL


@pytest.mark.usefixtures("restore_moto")
def test_running_the_module_serves_with_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # What Emulator.start runs: python -m tap_cicd.local.server -H <host> -p <port>.
    served = record_serve(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["server.py", "-H", "127.0.0.1", "-p", "0"])
    # runpy warns when the module is already imported; it runs it afresh either way.
    monkeypatch.delitem(sys.modules, "tap_cicd.local.server")
    runpy.run_module("tap_cicd.local.server", run_name="__main__")
    assert served == [(["-H", "127.0.0.1", "-p", "0"], True)]
