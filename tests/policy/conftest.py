"""Graphs of the real program (default and GitHub source), and a fresh copy to weaken."""

from __future__ import annotations

import pytest

from tap_cicd.policy.command import check_graph
from tap_cicd.policy.engine import resources_of
from tap_cicd.policy.model import Resource

from .stacks import GITHUB, Stack


@pytest.fixture(scope="session")
def default_resources() -> list[Resource]:
    """The default configuration (S3 source), as the rules see it."""
    return resources_of(check_graph({}))


@pytest.fixture(scope="session")
def github_resources() -> list[Resource]:
    """The GitHub source configuration."""
    return resources_of(check_graph(GITHUB))


@pytest.fixture
def stack(default_resources: list[Resource]) -> Stack:
    """A fresh, mutable copy of the default stack."""
    return Stack(default_resources)
