"""The program entry: config from Pulumi and the environment, validation before any resource."""

from __future__ import annotations

from collections.abc import Iterator

import pulumi
import pytest
from conftest import ACCOUNT_ID, REGION, run_program

from tap_cicd import graph
from tap_cicd.errors import ConfigError
from tap_cicd.stack import define, load_settings


@pytest.fixture
def config() -> Iterator[dict[str, str]]:
    values: dict[str, str] = {}
    yield values
    pulumi.runtime.set_all_config({})


def set_config(config: dict[str, str], **values: str) -> None:
    config.update({f"tap:{k}": v for k, v in values.items()})
    pulumi.runtime.set_all_config(config)


def test_define_reads_config_and_exports(config: dict[str, str]) -> None:
    set_config(config, environmentSuffix="qa", namePrefix="shop")
    program = run_program(lambda: define().outputs())
    assert program.outputs["pipelineName"] == "shop-pipeline-qa"
    assert program.outputs["artifactBucketName"] == f"shop-artifacts-{ACCOUNT_ID}-qa"


def test_environment_supplies_missing_config(
    config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT_SUFFIX", "from-env")
    set_config(config, namePrefix="shop")
    settings = load_settings()
    assert settings.environment_suffix == "from-env"
    assert settings.name_prefix == "shop"


def test_invalid_config_registers_nothing(config: dict[str, str]) -> None:
    set_config(config, environmentSuffix="Bad_Suffix")
    runtime = graph.install(ACCOUNT_ID, REGION)
    with pytest.raises(ConfigError, match="invalid config 'environmentSuffix'"):
        define()
    assert runtime.monitor.nodes == []
