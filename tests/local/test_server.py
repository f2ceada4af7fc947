"""The emulator process: moto's server with its patches, tested in-process."""

from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import sys
from typing import Any

import pytest
from moto.ecr.models import ECRBackend
from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult
from werkzeug.serving import make_server

from tap_cicd.local import server
from tap_cicd.local.services import app

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
    """Undo the patches after the test (they replace methods on moto's classes)."""
    monkeypatch.setattr(
        IAMPolicyStatement, "is_action_permitted", IAMPolicyStatement.is_action_permitted
    )
    monkeypatch.setattr(
        ECRBackend,
        "batch_get_repository_scanning_configuration",
        ECRBackend.batch_get_repository_scanning_configuration,
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
    """Replace werkzeug's server with a recorder of its address and of whether the patches
    (moto's and the services') were in; the services' install is recorded, not run."""
    unpatched = IAMPolicyStatement.is_action_permitted
    unpatched_scanning = ECRBackend.batch_get_repository_scanning_configuration
    installed: list[bool] = []
    served: list[tuple[str, int, bool]] = []

    def serve(host: str, port: int, application: Any, **_options: Any) -> None:
        assert isinstance(application, app.Application)
        patched = (
            IAMPolicyStatement.is_action_permitted is not unpatched
            and ECRBackend.batch_get_repository_scanning_configuration is not unpatched_scanning
            and installed == [True]
        )
        served.append((host, port, patched))

    monkeypatch.setattr(server, "run_simple", serve)
    monkeypatch.setattr(app, "install", lambda: installed.append(True))
    monkeypatch.setattr(app.Application, "__init__", lambda self: None)
    monkeypatch.setattr(signal, "signal", lambda *_args: None)
    monkeypatch.delenv("MOTO_PORT", raising=False)
    return served


@pytest.mark.usefixtures("restore_moto")
def test_main_patches_moto_then_serves_with_the_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = record_serve(monkeypatch)
    server.main(["-H", "127.0.0.1", "-p", "4566"])
    assert served == [("127.0.0.1", 4566, True)]
    # The services reach the emulator (and name its registry) through MOTO_PORT.
    assert os.environ["MOTO_PORT"] == "4566"
    assert judge(TLS_ONLY) == PermissionResult.NEUTRAL
    assert scanning(registry(scan_on_push=True), "scanned")[0]["scanOnPush"] is True


@pytest.mark.usefixtures("restore_moto")
def test_running_the_module_serves_with_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # What Emulator.start runs: python -m tap_cicd.local.server -H <host> -p <port>.
    served = record_serve(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["server.py", "-H", "127.0.0.1", "-p", "0"])
    # runpy warns when the module is already imported; it runs it afresh either way.
    monkeypatch.delitem(sys.modules, "tap_cicd.local.server")
    monkeypatch.setattr(
        "werkzeug.serving.run_simple",
        lambda host, port, *_a, **_k: served.append((host, port, True)),
    )
    runpy.run_module("tap_cicd.local.server", run_name="__main__")
    assert served == [("127.0.0.1", 0, True)]


# --- the scanning configuration patch ----------------------------------------------------------


def registry(*, scan_on_push: bool) -> ECRBackend:
    """A fresh ECR backend with one repository, ``scanned``, scanning on push or not, and no
    registry scanning rules (as the stack leaves the registry)."""
    backend = ECRBackend(region_name="eu-west-1", account_id="123456789012")
    backend.create_repository(
        repository_name="scanned",
        registry_id=None,
        encryption_config={},
        image_scan_config={"scanOnPush": scan_on_push},
        image_tag_mutability="IMMUTABLE",
        tags=[],
    )
    return backend


def scanning(backend: ECRBackend, *names: str) -> list[dict[str, Any]]:
    configurations, _ = backend.batch_get_repository_scanning_configuration(list(names))
    return configurations


@pytest.mark.usefixtures("restore_moto")
def test_unpatched_moto_ignores_the_repositorys_scan_on_push() -> None:
    # Why the patch exists: if moto learns to report it, this fails and the patch can go.
    [configuration] = scanning(registry(scan_on_push=True), "scanned")
    assert (configuration["scanOnPush"], configuration["scanFrequency"]) == (False, "MANUAL")


@pytest.mark.usefixtures("restore_moto")
def test_patched_scanning_configuration_reports_the_repositorys_scan_on_push() -> None:
    server.patch_moto_scanning_configuration()
    backend = registry(scan_on_push=True)
    [configuration] = scanning(backend, "scanned")
    assert configuration["repositoryName"] == "scanned"
    assert configuration["scanOnPush"] is True
    assert configuration["scanFrequency"] == "MANUAL"  # moto's: only the flag is corrected
    # A copy: moto's own record is unchanged.
    assert backend.repositories["scanned"].scanning_config["scanOnPush"] is False


@pytest.mark.usefixtures("restore_moto")
def test_patched_repository_without_scan_on_push_still_says_so() -> None:
    server.patch_moto_scanning_configuration()
    [configuration] = scanning(registry(scan_on_push=False), "scanned")
    assert (configuration["scanOnPush"], configuration["scanFrequency"]) == (False, "MANUAL")


@pytest.mark.usefixtures("restore_moto")
def test_patched_missing_repository_is_still_a_failure() -> None:
    server.patch_moto_scanning_configuration()
    configurations, failing = registry(
        scan_on_push=True
    ).batch_get_repository_scanning_configuration(["scanned", "absent"])
    assert [c["repositoryName"] for c in configurations] == ["scanned"]
    assert failing == ["absent"]


@pytest.mark.usefixtures("restore_moto")
def test_patched_scanning_configuration_through_the_api() -> None:
    """What the deploy step sees: the API's answer, through moto's server code."""
    import boto3
    from moto import mock_aws

    server.patch_moto_scanning_configuration()
    with mock_aws():
        ecr = boto3.client("ecr", region_name="eu-west-1")
        ecr.create_repository(
            repositoryName="scanned", imageScanningConfiguration={"scanOnPush": True}
        )
        ecr.create_repository(repositoryName="manual")
        answer = ecr.batch_get_repository_scanning_configuration(
            repositoryNames=["scanned", "manual", "absent"]
        )
    by_name = {c["repositoryName"]: c["scanOnPush"] for c in answer["scanningConfigurations"]}
    assert by_name == {"scanned": True, "manual": False}
    assert [f["repositoryName"] for f in answer["failures"]] == ["absent"]


def test_the_server_binds_with_so_reuseaddr() -> None:
    # moto serves with werkzeug's run_simple (threaded), whose server sets SO_REUSEADDR
    # (socket(7)): what lets an emulator restart on its port at once (test_emulator_start.py).
    served = make_server("127.0.0.1", 0, lambda _environ, _start: [], threaded=True)
    try:
        assert served.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
    finally:
        served.server_close()
