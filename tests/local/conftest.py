"""An emulator for the whole session; each test gets its own tap home and an empty emulator."""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tap_cicd.cli import app
from tap_cicd.local.clients import Clients
from tap_cicd.local.emulator import MARKER_PARAMETER, Emulator, EmulatorInfo
from tap_cicd.local.target import LocalTarget

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def emulator_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A moto server on 127.0.0.1 (any free port), stopped after the session."""
    home = tmp_path_factory.mktemp("emulator")
    emulator = Emulator(home)
    emulator.start(port=0)
    yield home
    emulator.stop()


@pytest.fixture(scope="session")
def emulator(emulator_home: Path) -> EmulatorInfo:
    """The running emulator."""
    info = Emulator(emulator_home).info()
    assert info is not None
    return info


def declared_graph() -> Any:
    """What the default program declares, offline (``tap_cicd.graph``)."""
    from tap_cicd import graph
    from tap_cicd.config import Settings
    from tap_cicd.stack import TapStack, TapStackArgs

    def program() -> Any:
        return TapStack("tap", TapStackArgs(Settings.from_raw({}))).outputs()

    return graph.run(program, region="us-east-1", stack="dev")


def reset(info: EmulatorInfo) -> None:
    """Empty the emulator, as a restart would."""
    request = urllib.request.Request(f"{info.endpoint}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a loopback URL
        assert response.status == 200


@pytest.fixture
def home(tmp_path: Path, emulator_home: Path, emulator: EmulatorInfo) -> Path:
    """A fresh tap home that knows the running emulator, which starts empty."""
    reset(emulator)
    tap_home = tmp_path / "tap"
    tap_home.mkdir()
    shutil.copy(emulator_home / "emulator.json", tap_home / "emulator.json")
    return tap_home


@pytest.fixture
def target(home: Path) -> LocalTarget:
    """The local target on that home."""
    return LocalTarget(home)


@pytest.fixture
def clients(emulator: EmulatorInfo) -> Clients:
    """boto3 clients for the emulator."""
    return Emulator.clients(emulator)


def inventory(clients: Clients) -> dict[str, list[str]]:
    """Every resource of the kinds tap creates that the emulator holds now."""
    kms = clients("kms")
    keys = [
        k["KeyId"]
        for k in kms.list_keys()["Keys"]
        if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion"
    ]
    parameters = clients("ssm").describe_parameters()["Parameters"]
    ec2, elbv2, ecs = clients("ec2"), clients("elbv2"), clients("ecs")
    clusters = [
        c["clusterArn"]
        for c in ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])["clusters"]
        if c["status"] == "ACTIVE"
    ]
    return {
        "kms keys": keys,
        "kms aliases": [
            a["AliasName"]
            for a in kms.list_aliases()["Aliases"]
            if not a["AliasName"].startswith("alias/aws/")
        ],
        "buckets": [b["Name"] for b in clients("s3").list_buckets()["Buckets"]],
        "repositories": [
            r["repositoryName"] for r in clients("ecr").describe_repositories()["repositories"]
        ],
        "log groups": [
            g["logGroupName"] for g in clients("logs").describe_log_groups()["logGroups"]
        ],
        "roles": [r["RoleName"] for r in clients("iam").list_roles()["Roles"]],
        "topics": [t["TopicArn"] for t in clients("sns").list_topics()["Topics"]],
        "queues": clients("sqs").list_queues().get("QueueUrls", []),
        "rules": [r["Name"] for r in clients("events").list_rules()["Rules"]],
        "projects": clients("codebuild").list_projects()["projects"],
        "functions": [f["FunctionName"] for f in clients("lambda").list_functions()["Functions"]],
        "pipelines": [p["name"] for p in clients("codepipeline").list_pipelines()["pipelines"]],
        "parameters": [p["Name"] for p in parameters if p["Name"] != MARKER_PARAMETER],
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v["IsDefault"]],
        "security groups": [
            g["GroupName"]
            for g in ec2.describe_security_groups()["SecurityGroups"]
            if g["GroupName"] != "default"
        ],
        "load balancers": [
            lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]
        ],
        "target groups": [
            g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"]
        ],
        "clusters": clusters,
        "services": [s for c in clusters for s in ecs.list_services(cluster=c)["serviceArns"]],
        "task definitions": ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"],
    }


def counts(clients: Clients) -> dict[str, int]:
    """How many of each kind the emulator holds."""
    return {kind: len(names) for kind, names in inventory(clients).items()}


def read_json(path: Path) -> dict[str, str]:
    """A JSON file's content."""
    data: dict[str, str] = json.loads(path.read_text())
    return data


@pytest.fixture
def tap(home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``tap`` with this test's home, in the project directory (test_cli.py has its own)."""
    monkeypatch.chdir(PROJECT)
    monkeypatch.setenv("TAP_HOME", str(home))
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke
