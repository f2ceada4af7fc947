"""environmentSuffix defaults to the stack name; the explicit key and the environment win."""

from __future__ import annotations

import pytest

from tap_cicd.config import Settings
from tap_cicd.errors import ConfigError


def test_the_stack_name_is_the_default_suffix() -> None:
    assert Settings.from_raw({}, "prod").environment_suffix == "prod"
    assert Settings.from_raw({}, "pr-42").naming.name("build") == "pipeline-build-pr-42"
    assert Settings.from_raw({}).environment_suffix == "dev"  # no stack: the old default


def test_the_explicit_key_wins_over_the_stack_name() -> None:
    assert Settings.from_raw({"environmentSuffix": "qa"}, "Prod_1").environment_suffix == "qa"


def test_from_config_reads_config_then_environment_then_the_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ENVIRONMENT_SUFFIX", raising=False)
    config = {"namePrefix": "shop"}
    settings = Settings.from_config(config.get, "staging")
    assert settings.naming.name("pipeline") == "shop-pipeline-staging"
    monkeypatch.setenv("ENVIRONMENT_SUFFIX", "ci")
    assert Settings.from_config(config.get, "staging").environment_suffix == "ci"


@pytest.mark.parametrize(
    ("stack", "rule"),
    [
        ("Prod_1", "must match ^[a-z0-9-]+$ without leading, trailing or doubled hyphens"),
        ("a--b", "doubled hyphens"),
        ("s" * 40, "too long for the names derived from it (it defaults to the stack name"),
    ],
)
def test_a_stack_name_that_is_no_suffix_says_so(stack: str, rule: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_raw({}, stack)
    assert caught.value.key == "environmentSuffix"
    assert rule in caught.value.rule
    assert f"the stack name '{stack}'" in caught.value.rule
    assert caught.value.rule.endswith(
        f"set tap:environmentSuffix (tap config set environmentSuffix <suffix> --stack {stack})"
    )


def test_an_explicit_bad_suffix_does_not_blame_the_stack() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_raw({"environmentSuffix": "Bad"}, "prod")
    assert "stack" not in caught.value.rule
