"""Recording Pulumi mocks and a helper that runs the whole program under them.

``set_mocks`` runs before the code under test is imported (house style, habit 5).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pytest
from pulumi.runtime.mocks import MockMonitor

ACCOUNT_ID = "111122223333"
REGION = "eu-west-1"
PARTITION = "aws"


class RecordingMocks(pulumi.runtime.Mocks):
    """Keeps every resource's type, name and inputs; answers the three invokes the program uses."""

    def __init__(self) -> None:
        self.registered: list[tuple[str, str, bool, dict[str, Any], dict[str, Any]]] = []
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            with self._lock:
                self.registered.append((args.typ, args.name, False, dict(args.inputs), {}))
            return None, {}
        physical, computed = _computed(args.typ, args.name, args.inputs)
        outputs = {**args.inputs, **computed}
        with self._lock:
            self.registered.append((args.typ, args.name, True, dict(args.inputs), outputs))
        return physical, outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[Any]] | dict[str, Any]:
        self.calls.append(args.token)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci",
                "userId": "AIDAEXAMPLE",
                "id": ACCOUNT_ID,
            }
        if args.token == "aws:index/getRegion:getRegion":
            return {
                "region": REGION,
                "id": REGION,
                "description": "Europe (Ireland)",
                "endpoint": f"ec2.{REGION}.amazonaws.com",
            }
        if args.token == "aws:index/getPartition:getPartition":
            return {
                "partition": PARTITION,
                "id": PARTITION,
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
            }
        raise NotImplementedError(f"unexpected invoke {args.token}")


def _arn(service: str, resource: str, regional: bool = True) -> str:
    return f"arn:aws:{service}:{REGION if regional else ''}:{ACCOUNT_ID}:{resource}"


def _computed(typ: str, name: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The physical id and the provider-computed outputs, in camelCase wire names."""
    physical = str(inputs.get("name") or inputs.get("bucket") or f"{name}-id")
    computers: dict[str, Callable[[], dict[str, Any]]] = {
        "aws:kms/key:Key": lambda: {
            "arn": _arn("kms", "key/0000-key"),
            "keyId": "0000-key",
        },
        "aws:s3/bucket:Bucket": lambda: {"arn": f"arn:aws:s3:::{physical}"},
        "aws:ecr/repository:Repository": lambda: {
            "arn": _arn("ecr", f"repository/{physical}"),
            "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{physical}",
        },
        "aws:iam/role:Role": lambda: {"arn": _arn("iam", f"role/{physical}", regional=False)},
        "aws:cloudwatch/logGroup:LogGroup": lambda: {"arn": _arn("logs", f"log-group:{physical}")},
        "aws:codebuild/project:Project": lambda: {"arn": _arn("codebuild", f"project/{physical}")},
        "aws:lambda/function:Function": lambda: {"arn": _arn("lambda", f"function:{physical}")},
        "aws:sns/topic:Topic": lambda: {"arn": _arn("sns", physical)},
        "aws:sqs/queue:Queue": lambda: {
            "arn": _arn("sqs", physical),
            "url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT_ID}/{physical}",
        },
        "aws:cloudwatch/eventRule:EventRule": lambda: {"arn": _arn("events", f"rule/{physical}")},
        "aws:codepipeline/pipeline:Pipeline": lambda: {"arn": _arn("codepipeline", physical)},
    }
    computer = computers.get(typ)
    return physical, (computer() if computer else {})


@dataclass(frozen=True)
class Res:
    """One registered resource."""

    typ: str
    name: str
    urn: str
    custom: bool
    inputs: dict[str, Any]
    outputs: dict[str, Any]


@dataclass
class Program:
    """Everything one run of the program registered."""

    resources: list[Res]
    outputs: dict[str, Any]
    warnings: list[str]
    calls: list[str] = field(default_factory=list)

    def of(self, typ: str) -> list[Res]:
        """All resources of one type token."""
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name_part: str = "") -> Res:
        """The one resource of ``typ`` whose logical name contains ``name_part``."""
        found = [r for r in self.of(typ) if name_part in r.name]
        assert len(found) == 1, (
            f"expected one {typ} named *{name_part}*, got {[r.name for r in found]}"
        )
        return found[0]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def new_mocks() -> tuple[RecordingMocks, MockMonitor, _Collect]:
    """Fresh mocks, monitor and warning collector, installed as the Pulumi runtime."""
    mocks = RecordingMocks()
    monitor = MockMonitor(mocks)
    collector = _Collect()
    logger = logging.getLogger(f"tap.tests.engine.{id(collector)}")
    logger.propagate = False
    logger.addHandler(collector)
    pulumi.runtime.set_mocks(
        mocks, project="tap", stack="unit", preview=False, logger=logger, monitor=monitor
    )
    return mocks, monitor, collector


new_mocks()  # the program's modules are imported below, after the mocks are in place

from tap_cicd.config import Settings  # noqa: E402
from tap_cicd.stack import TapStack, TapStackArgs  # noqa: E402


def run_program(
    body: Callable[[], Mapping[str, pulumi.Output[Any]]],
) -> Program:
    """Run ``body`` under fresh mocks; return what it registered and the outputs it returned."""
    mocks, monitor, collector = new_mocks()
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        return pulumi.Output.all(**body()).apply(outputs.update)

    run()
    urns = list(monitor.resources)
    resources = []
    for typ, name, custom, inputs, state in mocks.registered:
        matches = [u for u in urns if u.endswith(f"{typ}::{name}")]
        assert len(matches) == 1, f"no unique URN for {typ} {name}: {matches}"
        resources.append(Res(typ, name, matches[0], custom, inputs, state))
    return Program(resources, outputs, collector.messages, mocks.calls)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def deprecated_inputs(resources: list[Res]) -> list[str]:
    """Inputs whose pulumi-aws property is marked deprecated, as the engine would warn.

    Under mocks no provider checks the inputs, so the markers pulumi-aws puts on its
    property getters stand in for the provider's deprecation warnings.
    """
    import pulumi_aws as aws

    found = []
    for resource in resources:
        if not resource.typ.startswith("aws:"):
            continue
        _, module_path, class_name = resource.typ.split(":")
        module = module_path.split("/")[0]
        namespace = (
            aws
            if module == "index"
            else getattr(aws, f"{module}_" if module == "lambda" else module)
        )
        cls = getattr(namespace, class_name)
        for key in resource.inputs:
            prop = getattr(cls, _snake(key), None)
            getter = getattr(prop, "fget", None)
            if getter is not None and hasattr(getter, "_pulumi_deprecated_callable"):
                found.append(f"{resource.typ} {resource.name}: {key} is deprecated")
    return found


def deploy_stack(raw: Mapping[str, str | None] | None = None) -> Program:
    """Validate ``raw`` config and run ``TapStack`` under the mocks."""
    settings = Settings.from_raw(raw or {})
    return run_program(lambda: TapStack("tap", TapStackArgs(settings)).outputs())


GITHUB = {
    "source": "github",
    "connectionArn": (
        f"arn:aws:codestar-connections:{REGION}:{ACCOUNT_ID}:connection/"
        "0f3e2d1c-aaaa-bbbb-cccc-0123456789ab"
    ),
    "repository": "acme/service",
    "branch": "release",
    "filePaths": '["src/**", "Dockerfile"]',
}


@pytest.fixture(scope="session")
def default_program() -> Program:
    """The default configuration (S3 source)."""
    return deploy_stack()


@pytest.fixture(scope="session")
def github_program() -> Program:
    """The GitHub source configuration, arm64 build and an email subscription."""
    return deploy_stack(
        {
            **GITHUB,
            "buildArchitecture": "arm64",
            "notificationEmail": "team@example.com",
            "tags": '{"CostCenter": "42"}',
        }
    )


@pytest.fixture(params=["default", "github"])
def program(request: pytest.FixtureRequest) -> Iterator[Program]:
    """Both configurations, for assertions that hold for every stack."""
    yield request.getfixturevalue(f"{request.param}_program")
