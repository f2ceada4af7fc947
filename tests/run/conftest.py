"""``tap run`` end to end: the example service through the stack's real pipeline on a fresh
emulator, driven with the ``tap`` command as a user drives it.

One emulator for the session, started with ``tap emulator start --port 0``; each test gets a
fresh tap home, an emptied emulator, the stack deployed by ``tap up`` (``deployTarget=ecs``, a
``testCommand``) and an SQS queue subscribed to the stack's topic. The builds need a container
engine (Docker with its daemon, or Podman) and the AWS CLI: without them the tests fail with
one line saying what to install (``make test`` installs both).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tap_cicd import documents
from tap_cicd.local.clients import Clients
from tap_cicd.local.emulator import Emulator, EmulatorInfo
from tap_cicd.local.services import containers

PROJECT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT / "examples" / "service"
BIN = Path(sys.executable).parent
STACK = "e2e"
TEST_COMMAND = "bash test.sh"
TIMEOUT = 180
"""How long one tap command may take here, in seconds (one run takes a few)."""


def needs() -> None:
    """Fail, in one line, when what the builds run is missing."""
    try:
        containers.find()
        engine = ""
    except containers.NoEngine as error:
        engine = str(error)
    if engine:  # failed outside the except: one line, no chained traceback
        pytest.fail(f"tests/run: {engine} (make engine installs Podman as root)", pytrace=False)
    if not (BIN / "aws").exists() and shutil.which("aws") is None:
        pytest.fail(
            "tests/run: no AWS CLI: pip install awscli (make test installs it)", pytrace=False
        )


def environment(home: Path) -> dict[str, str]:
    """The caller's environment without its AWS settings, with this test's tap home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TAP_"))}
    return env | {"TAP_HOME": str(home), "TAP_OUTPUTS_FILE": str(home / "outputs.json")}


def tap(home: Path, *args: str, cwd: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    """Run ``tap`` in the project directory (or ``cwd``), as a user would."""
    return subprocess.run(  # noqa: S603 - our own command, arguments from the tests
        [str(BIN / "tap"), *args],
        cwd=cwd,
        env=environment(home),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def post(endpoint: str, path: str, body: dict[str, Any]) -> Any:
    """POST JSON to the emulator's control API."""
    request = urllib.request.Request(  # noqa: S310 - the emulator's loopback URL
        f"{endpoint}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's emulator, started and stopped with the tap command."""
    needs()
    home = tmp_path_factory.mktemp("tap-run")
    started = tap(home, "emulator", "start", "--port", "0")
    assert started.returncode == 0, started.stderr
    yield home
    tap(home, "emulator", "stop")


@dataclass
class Deployed:
    """The stack deployed in an emptied emulator, and how to reach it."""

    home: Path
    info: EmulatorInfo
    clients: Clients
    outputs: dict[str, str]
    queue_url: str

    def up(self, *config: str) -> dict[str, str]:
        """``tap up`` of the stack with ``-c`` values (the stack's ecs target always)."""
        args = ["-c", "deployTarget=ecs", "-c", f"testCommand={TEST_COMMAND}", *config]
        done = tap(self.home, "up", "--stack", STACK, "--json", *args)
        assert done.returncode == 0, done.stderr
        self.outputs = json.loads(done.stdout)["outputs"]
        return self.outputs

    def run(self, source: Path = EXAMPLE) -> tuple[int, dict[str, Any], str]:
        """``tap run --json``: its exit code, its document and its stderr."""
        done = tap(self.home, "run", "--stack", STACK, "--source", str(source), "--json")
        assert done.stdout, done.stderr
        return done.returncode, json.loads(done.stdout), done.stderr

    def control(self, path: str, body: dict[str, Any]) -> Any:
        return post(self.info.endpoint, path, body)

    def messages(self, wanted: Callable[[str], bool], wait: float = 15.0) -> list[str]:
        """The topic's messages that reached the queue, once one of them is ``wanted``."""
        sqs = self.clients("sqs")
        seen: list[str] = []
        deadline = time.monotonic() + wait
        while not any(wanted(m) for m in seen) and time.monotonic() < deadline:
            found = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in found.get("Messages", []):
                seen.append(json.loads(message["Body"])["Message"])
        return seen


@pytest.fixture
def stack(session_home: Path, tmp_path: Path) -> Deployed:
    """A fresh home, an emptied emulator, the stack deployed, a queue on its topic."""
    home = tmp_path / "tap"
    home.mkdir()
    shutil.copy(session_home / "emulator.json", home / "emulator.json")
    info = Emulator(home).info()
    assert info is not None
    post(info.endpoint, "/moto-api/reset", {})
    post(info.endpoint, "/_tap/reset", {})
    clients = Emulator.clients(info)
    deployed = Deployed(home, info, clients, {}, "")
    deployed.up()
    sqs = clients("sqs")
    deployed.queue_url = sqs.create_queue(QueueName="tap-run-notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=deployed.queue_url, AttributeNames=["QueueArn"])
    queue_arn, topic = arn["Attributes"]["QueueArn"], deployed.outputs["notificationTopicArn"]
    # SNS delivers only where the queue policy lets the topic send.
    policy = json.dumps(documents.subscriber_queue_policy(queue_arn, topic))
    sqs.set_queue_attributes(QueueUrl=deployed.queue_url, Attributes={"Policy": policy})
    clients("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return deployed
