"""The README says what the code does: tables that mirror code are checked against it."""

from __future__ import annotations

from pathlib import Path

from tap_cicd.config import ENV_VARS
from tap_cicd.errors import markdown_table
from tap_cicd.policy.catalog import RULES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_the_exit_code_table_is_the_codes() -> None:
    assert markdown_table() in README


def test_every_rule_is_in_the_rule_table_with_its_level() -> None:
    for rule in RULES:
        row = next(
            (line for line in README.splitlines() if line.startswith(f"| `{rule.id}` |")), ""
        )
        assert row, rule.id
        assert f"| {rule.level} |" in row, rule.id


def test_every_config_key_is_documented_with_its_variable() -> None:
    for key, variable in ENV_VARS.items():
        assert f"| `{key}` | `{variable}` |" in README, key
