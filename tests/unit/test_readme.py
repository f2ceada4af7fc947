"""The README says what the code does: tables that mirror code are checked against it.

Also: every relative link in README.md and docs/*.md leads somewhere, every command of the
README's Commands table (with its options) is a command of the ``tap`` app, and every
environment variable the README documents is read somewhere in ``src/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main

from tap_cicd.cli import app
from tap_cicd.config import ENV_VARS
from tap_cicd.errors import markdown_table
from tap_cicd.policy.catalog import RULES

ROOT = Path(__file__).resolve().parents[2]
README_PATH = ROOT / "README.md"
README = README_PATH.read_text(encoding="utf-8")
DOCUMENTS = [README_PATH, *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = [p for p in sorted((ROOT / "src").rglob("*")) if p.suffix in {".py", ".yml", ".yaml"}]

_FENCE = re.compile(r"^```.*?^```[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
_EXTERNAL = ("http://", "https://", "mailto:")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_OPTION = re.compile(r"(?<![\w-])(--?[a-z][a-z0-9-]*)")
_WORD = re.compile(r"[a-z][a-z0-9-]*(?:\|[a-z][a-z0-9-]*)*")
_TAP_VARIABLE = re.compile(r"`(TAP_[A-Z0-9_]+)`")


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


# Links ------------------------------------------------------------------------------------


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans (their brackets are not links)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file (a repeated heading gets ``-1``, ``-2``, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for line in _FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> Iterator[str]:
    for target in _LINK.findall(prose(path.read_text(encoding="utf-8"))):
        if not target.startswith(_EXTERNAL):
            yield target


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_leads_to_a_file_and_heading(document: Path) -> None:
    broken = []
    for target in relative_links(document):
        file_part, _, fragment = target.partition("#")
        destination = (document.parent / file_part).resolve() if file_part else document
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, broken


def test_the_link_checks_see_the_links() -> None:
    assert "docs/security-baseline.md" in set(relative_links(README_PATH))
    assert "#policy-as-code" in set(relative_links(README_PATH))
    assert "policy-as-code" in anchors(README_PATH)
    assert slug("Your tests: `testCommand`") == "your-tests-testcommand"


# The Commands table -----------------------------------------------------------------------


def table_rows(text: str, header: str) -> list[list[str]]:
    """The body rows of the Markdown table whose header line is ``header``, as cells."""
    lines = text.splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in _CELL_SPLIT.split(line)[1:-1]]
        rows.append(cells)
    return rows


def documented_commands() -> list[str]:
    """The first cell's code of every row of the Commands table, ``\\|`` unescaped."""
    commands = []
    for cells in table_rows(README, "| Command | What it does |"):
        code = re.fullmatch(r"`(.+)`", cells[0])
        assert code, f"the Commands table's first cell is not one code span: {cells[0]}"
        commands.append(code.group(1).replace("\\|", "|"))
    return commands


def resolve(usage: str) -> list[tuple[str, Any]]:
    """Every (name, command) the usage line names: ``tap a b|c`` is ``a b`` and ``a c``.

    Raises ``LookupError`` naming the first word the app does not have."""
    tokens = usage.split()
    assert tokens[0] == "tap", usage
    found: list[tuple[str, Any]] = [("tap", typer.main.get_command(app))]
    for token in tokens[1:]:
        if not _WORD.fullmatch(token):
            break
        deeper = []
        for name, command in found:
            for word in token.split("|"):
                sub = getattr(command, "commands", {}).get(word)
                if sub is None:
                    raise LookupError(f"'{name} {word}' is not a command of the tap app")
                deeper.append((f"{name} {word}", sub))
        found = deeper
    return found


def options_of(command: Any) -> set[str]:
    names = set()
    for param in command.params:
        # Typer vendors its own click: go by the parameter's kind, not by its class.
        if param.param_type_name == "option":
            names.update(param.opts)
            names.update(param.secondary_opts)
    return names


@pytest.mark.parametrize("usage", documented_commands())
def test_every_documented_command_and_option_exists(usage: str) -> None:
    try:
        commands = resolve(usage)
    except LookupError as error:
        pytest.fail(str(error))
    for name, command in commands:
        missing = sorted(set(_OPTION.findall(usage)) - options_of(command))
        assert not missing, f"'{name}' has no option {', '.join(missing)}"


def test_the_command_check_reads_the_table_and_the_app() -> None:
    usages = documented_commands()
    assert "tap emulator status" in usages
    assert [name for name, _ in resolve("tap emulator start|stop [--port N]")] == [
        "tap emulator start",
        "tap emulator stop",
    ]
    with pytest.raises(LookupError, match="'tap nosuchcommand'"):
        resolve("tap nosuchcommand [--stack dev]")
    (_, up), *_ = resolve("tap up")
    assert {"--stack", "-s", "--json"} <= options_of(up)


# Environment variables --------------------------------------------------------------------


def documented_variables() -> set[str]:
    """Every ``TAP_*`` variable the README's prose names, and every variable in a table column
    headed "Variable" or "Environment variable" (AWS's own variables are AWS's to document)."""
    names = set(_TAP_VARIABLE.findall(_FENCE.sub("", README)))
    lines = README.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("|") or index + 1 >= len(lines):
            continue
        if not lines[index + 1].startswith("| ---"):
            continue
        header = [cell.strip() for cell in _CELL_SPLIT.split(line)[1:-1]]
        columns = [
            i for i, cell in enumerate(header) if cell in {"Variable", "Environment variable"}
        ]
        for cells in table_rows(README, line):
            for column in columns:
                names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[column]))
    return names


def read_in_src(variable: str) -> bool:
    """Whether code under src/ names ``variable`` as a string (Python) or a variable (YAML)."""
    quoted = re.compile(rf"""["']{variable}["']|\${{?{variable}\b""")
    return any(quoted.search(path.read_text(encoding="utf-8")) for path in SOURCES)


def test_every_documented_environment_variable_is_read_in_src() -> None:
    documented = documented_variables()
    assert {"TAP_HOME", "TAP_EMULATOR_PORT", "TAP_OUTPUTS_FILE", "LOG_LEVEL"} <= documented
    assert set(ENV_VARS.values()) <= documented
    unread = sorted(v for v in documented if not read_in_src(v))
    assert not unread, f"documented but read nowhere in src/: {unread}"


def test_the_variable_check_can_fail() -> None:
    assert read_in_src("TAP_HOME")
    assert not read_in_src("TAP_NO_SUCH_VARIABLE")
