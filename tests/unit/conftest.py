"""Fixtures that run the whole program under the recording mocks of ``tap_cicd.graph``.

``set_mocks`` runs before the stack modules are imported (house style, habit 5).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from tap_cicd import graph
from tap_cicd.graph import Graph, Node

ACCOUNT_ID = "111122223333"
REGION = "eu-west-1"

graph.install(ACCOUNT_ID, REGION, stack="unit")

from tap_cicd.config import Settings  # noqa: E402
from tap_cicd.stack import TapStack, TapStackArgs  # noqa: E402

Program = Graph


def run_program(body: Callable[[], Mapping[str, pulumi.Output[Any]]]) -> Graph:
    """Run ``body`` under fresh mocks for the test account and region."""
    return graph.run(body, ACCOUNT_ID, REGION, stack="unit")


def deploy_stack(raw: Mapping[str, str | None] | None = None) -> Graph:
    """Validate ``raw`` config and run ``TapStack`` under the mocks."""
    settings = Settings.from_raw(raw or {})
    return run_program(lambda: TapStack("tap", TapStackArgs(settings)).outputs())


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def deprecated_inputs(nodes: list[Node]) -> list[str]:
    """Inputs whose pulumi-aws property is marked deprecated, as the engine would warn.

    Under mocks no provider checks the inputs, so the markers pulumi-aws puts on its
    property getters stand in for the provider's deprecation warnings.
    """
    found = []
    for node in nodes:
        if not node.type.startswith("aws:"):
            continue
        _, module_path, class_name = node.type.split(":")
        module = module_path.split("/")[0]
        attribute = {"index": None, "lambda": "lambda_"}.get(module, module)
        namespace = aws if attribute is None else getattr(aws, attribute)
        cls = getattr(namespace, class_name)
        for key in node.inputs:
            getter = getattr(getattr(cls, _snake(key), None), "fget", None)
            if getter is not None and hasattr(getter, "_pulumi_deprecated_callable"):
                found.append(f"{node.type} {node.name}: {key} is deprecated")
    return found


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
def default_program() -> Graph:
    """The default configuration (S3 source)."""
    return deploy_stack()


@pytest.fixture(scope="session")
def github_program() -> Graph:
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
def program(request: pytest.FixtureRequest) -> Iterator[Graph]:
    """Both configurations, for assertions that hold for every stack."""
    yield request.getfixturevalue(f"{request.param}_program")
