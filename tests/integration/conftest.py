"""Integration tests: what the deployed stack actually is, read with real boto3 clients.

The same tests run against the emulator (``AWS_ENDPOINT_URL`` set, dummy credentials) and
against a real account (``TAP_TARGET=aws``, the default credential chain). Only the endpoint
differs. The stack is found through its outputs (``TAP_OUTPUTS_FILE``, default
``cfn-outputs/flat-outputs.json``), never through hard-coded names.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from .helpers import on_aws

DEFAULT_OUTPUTS = Path("cfn-outputs") / "flat-outputs.json"
EMULATOR_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 3})

Client = Any
ClientFactory = Callable[[str], Client]


def pytest_configure(config: pytest.Config) -> None:
    """On the emulator, refuse to run without an endpoint: dummy credentials must never
    reach AWS, and real ones must never be used by accident."""
    if not on_aws() and not os.environ.get("AWS_ENDPOINT_URL"):
        raise pytest.UsageError(
            "set AWS_ENDPOINT_URL to the emulator endpoint (see `tap emulator status`), "
            "or TAP_TARGET=aws to test a stack deployed to a real account"
        )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``emulator_only`` tests are skipped on AWS; ``emulator_gap`` tests are strict xfails on
    the emulator (it is known to differ from AWS there, and a fix in the emulator shows)."""
    for item in items:
        only = item.get_closest_marker("emulator_only")
        if only is not None and on_aws():
            reason = only.args[0] if only.args else "needs the emulator"
            item.add_marker(pytest.mark.skip(reason=f"emulator only: {reason}"))
        gap = item.get_closest_marker("emulator_gap")
        if gap is not None and not on_aws():
            reason = gap.args[0] if gap.args else "the emulator differs from AWS"
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"emulator gap: {reason}"))


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember skipped tests (an xfail is not a skip)."""
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On the emulator every test must run: a skip there hides a broken deploy or fixture."""
    if _skipped and not on_aws() and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"FAILED: {len(_skipped)} test(s) skipped on the emulator: {', '.join(_skipped)}",
                red=True,
            )


@pytest.fixture(scope="session")
def outputs() -> dict[str, str]:
    """The stack's flat outputs, as ``tap up`` wrote them."""
    path = Path(os.environ.get("TAP_OUTPUTS_FILE", str(DEFAULT_OUTPUTS)))
    if not path.is_file():
        pytest.fail(
            f"no stack outputs at {path}: run `tap up` first (or set TAP_OUTPUTS_FILE)",
            pytrace=False,
        )
    values = json.loads(path.read_text())
    missing = {"region", "artifactBucketName", "kmsKeyArn"} - set(values)
    if missing:
        pytest.fail(f"{path} lacks {sorted(missing)}: not tap's outputs?", pytrace=False)
    return {str(k): str(v) for k, v in values.items()}


@pytest.fixture(scope="session")
def aws(outputs: dict[str, str]) -> ClientFactory:
    """``aws("s3")``: a client of the stack's region, from the default chain. boto3 honours
    ``AWS_ENDPOINT_URL``; on the emulator the credentials are its dummies."""
    credentials = {} if on_aws() else EMULATOR_CREDENTIALS
    session = boto3.session.Session(region_name=outputs["region"], **credentials)
    cache: dict[str, Client] = {}

    def client(service: str) -> Client:
        if service not in cache:
            make: Any = session.client
            cache[service] = make(service, config=CLIENT_CONFIG)
        return cache[service]

    return client


@pytest.fixture(scope="session")
def key_arn(outputs: dict[str, str]) -> str:
    """The stack's KMS key."""
    return outputs["kmsKeyArn"]


@pytest.fixture
def emulator_env(monkeypatch: pytest.MonkeyPatch, outputs: dict[str, str]) -> Iterator[None]:
    """Code under test that builds its own clients (the deploy handler) finds the same
    endpoint, region and credentials as the tests."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", outputs["region"])
    if not on_aws():
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", EMULATOR_CREDENTIALS["aws_access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", EMULATOR_CREDENTIALS["aws_secret_access_key"])
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield
