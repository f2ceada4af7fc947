"""Pulumi.<stack>.yaml read and written in Pulumi's format; the flat outputs file's owner."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import pytest

from tap_cicd import stack_file
from tap_cicd.errors import ConfigError, UsageError
from tap_cicd.stack_file import (
    AWS_KEYS,
    check_writable,
    namespaced,
    owner_file,
    owner_of,
    read_config,
    remove_outputs,
    write_outputs,
    write_value,
)

LOCAL = """\
# A comment that stays.
config:
  aws:region: us-east-1
  aws:endpoints:
    - s3: http://127.0.0.1:4566
  # between entries
  tap:environmentSuffix: local
  tap:tags:
    Team: a

# the next section
secretsprovider: passphrase
"""


@pytest.fixture(autouse=True)
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_aws_keys_are_the_providers() -> None:
    spec = importlib.util.find_spec("pulumi_aws")
    assert spec is not None
    assert spec.origin is not None
    source = (Path(spec.origin).parent / "config" / "vars.py").read_text()
    assert set(AWS_KEYS) == set(re.findall(r"__config__\.get\w*\('(\w+)'", source))


def test_values_are_read_as_strings() -> None:
    Path("Pulumi.dev.yaml").write_text(
        "config:\n  tap:scanWaitSeconds: 60\n  tap:filePaths: [a, b]\n  tap:tags: {k: v}\n"
        "  aws:skipRegionValidation: true\n  aws:endpoints: [{s3: x}]\n  namePrefix: shop\n"
    )
    assert read_config("dev") == {
        "tap:scanWaitSeconds": "60",
        "tap:filePaths": '["a", "b"]',
        "tap:tags": '{"k": "v"}',
        "aws:skipRegionValidation": "true",
        "aws:endpoints": '[{"s3": "x"}]',
        "tap:namePrefix": "shop",  # a bare key is the project's, as with -c
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "config:\n  tap:scanWaitSeconds: true\n",
            "must be a string, but YAML reads it as a boolean",
        ),
        ("config:\n  tap:branch: [a]\n", "must be a string, but YAML reads it as a list"),
        ("config:\n  tap:branch: .nan\n", "as a number (.nan): quote it ('.nan')"),
        ("config:\n  tap:branch: !!binary aGk=\n", "as a value (!!binary"),
        ("config:\n  aws:secretKey:\n    secure: x\n", "is a Pulumi secret"),
    ],
)
def test_wrong_yaml_types_are_refused(text: str, message: str) -> None:
    Path("Pulumi.dev.yaml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_config("dev")


def test_a_value_too_deep_for_json_is_refused() -> None:
    Path("Pulumi.dev.yaml").write_text("config:\n  tap:filePaths: " + "[" * 300 + "]" * 300 + "\n")
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ConfigError, match="nested too deeply"):
        stack_file._json("tags", deep)
    assert read_config("dev")["tap:filePaths"].startswith("[[")


def test_the_document_must_be_a_mapping_with_a_config_mapping() -> None:
    Path("Pulumi.dev.yaml").write_text("")
    assert read_config("dev") == {}
    Path("Pulumi.dev.yaml").write_text("config:\n")
    assert read_config("dev") == {}


def test_namespaces() -> None:
    assert namespaced("branch") == "tap:branch"
    assert namespaced("aws:profile") == "aws:profile"
    with pytest.raises(ConfigError, match="unknown key; known keys: environmentSuffix"):
        namespaced("zzz")
    with pytest.raises(ConfigError, match="'aws:zzz': unknown key; known keys: the pulumi-aws"):
        namespaced("aws:zzz")


def test_set_keeps_comments_order_and_other_keys() -> None:
    path = Path("Pulumi.local.yaml")
    path.write_text(LOCAL)
    path.chmod(0o640)
    assert write_value("local", "tap:environmentSuffix", "qa") is True
    assert path.read_text() == LOCAL.replace("Suffix: local", "Suffix: qa")
    assert path.stat().st_mode & 0o777 == 0o640
    assert write_value("local", "tap:branch", "true") is False
    assert path.read_text() == LOCAL.replace("Suffix: local", "Suffix: qa").replace(
        "    Team: a\n", "    Team: a\n  tap:branch: 'true'\n"
    )
    assert read_config("local")["tap:branch"] == "true"
    assert write_value("local", "tap:tags", None) is True
    assert write_value("local", "tap:branch", None) is True
    assert write_value("local", "tap:environmentSuffix", "local") is True
    assert path.read_text() == LOCAL.replace("  tap:tags:\n    Team: a\n", "")
    assert write_value("local", "tap:branch", None) is False
    assert not list(Path().glob(".*.tmp"))


def test_set_creates_the_file_or_the_config_block() -> None:
    assert write_value("dev", "tap:namePrefix", "shop") is False
    assert Path("Pulumi.dev.yaml").read_text() == "config:\n  tap:namePrefix: shop\n"
    Path("Pulumi.qa.yaml").write_text("encryptionsalt: x")  # no final line break
    write_value("qa", "aws:region", "eu-west-1")
    assert Path("Pulumi.qa.yaml").read_text() == (
        "encryptionsalt: x\nconfig:\n  aws:region: eu-west-1\n"
    )
    Path("Pulumi.e.yaml").write_text("config:\n# nothing yet\n")
    write_value("e", "tap:branch", "x")
    assert read_config("e") == {"tap:branch": "x"}


@pytest.mark.parametrize(
    "text",
    [
        "config: {tap:branch: a, aws:region: us-east-1}\n",  # flow style
        'config:\n  "tap:branch": a\n',  # a quoted key
        "config:  # a comment on the line\n  tap:branch: a\n",
    ],
)
def test_layouts_the_line_editor_does_not_know_are_dumped(text: str) -> None:
    Path("Pulumi.dev.yaml").write_text(text)
    write_value("dev", "tap:namePrefix", "shop")
    assert read_config("dev")["tap:namePrefix"] == "shop"
    assert read_config("dev")["tap:branch"] == "a"


def test_a_bare_key_is_replaced_by_its_namespaced_form() -> None:
    Path("Pulumi.dev.yaml").write_text("config:\n  branch: a\n")
    write_value("dev", "tap:branch", "b")
    assert Path("Pulumi.dev.yaml").read_text() == "config:\n  tap:branch: b\n"


def test_a_failed_write_leaves_the_file_and_no_temporary(monkeypatch: pytest.MonkeyPatch) -> None:
    Path("Pulumi.dev.yaml").write_text("config:\n  tap:branch: a\n")

    def refuse(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(UsageError, match=r"cannot write Pulumi.dev.yaml: No space left on device"):
        write_value("dev", "tap:branch", "b")
    assert Path("Pulumi.dev.yaml").read_text() == "config:\n  tap:branch: a\n"
    assert [p.name for p in Path().iterdir()] == ["Pulumi.dev.yaml"]


def test_the_outputs_file_records_its_stack(tmp_path: Path) -> None:
    outputs = tmp_path / "cfn-outputs" / "flat-outputs.json"
    assert owner_of(outputs) is None
    assert write_outputs(outputs, {"a": "x", "n": 1}, "dev") is None
    assert json.loads(outputs.read_text()) == {"a": "x", "n": "1"}
    assert owner_file(outputs).read_text() == "dev\n"
    assert write_outputs(outputs, {"a": "y"}, "dev") is None
    assert write_outputs(outputs, {"a": "z"}, "prod") == "dev"
    assert remove_outputs(outputs, "dev") is False
    assert outputs.exists()
    assert remove_outputs(outputs, "prod") is True
    assert not outputs.exists()
    assert not owner_file(outputs).exists()
    outputs.write_text("{}")  # a file from before owners were recorded: nobody's
    assert owner_of(outputs) is None
    owner_file(outputs).write_bytes(b"\xff")
    assert owner_of(outputs) is None


def test_outputs_that_cannot_be_written_or_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match=r"cannot create .*file/sub: Not a directory"):
        write_outputs(tmp_path / "file" / "sub" / "o.json", {}, "dev")
    outputs = tmp_path / "o.json"
    write_outputs(outputs, {}, "dev")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "unlink", refuse)
    with pytest.raises(UsageError, match=r"cannot remove .*o.json: Permission denied"):
        remove_outputs(outputs, "dev")


def test_check_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_writable(tmp_path / "new" / "deeper" / "file.json", "the file")
    check_writable(tmp_path / "new-home", "TAP_HOME", directory=True)
    (tmp_path / "f").write_text("")
    check_writable(tmp_path / "f", "the file")
    with pytest.raises(UsageError, match=r"TAP_HOME .*/f is not a directory"):
        check_writable(tmp_path / "f", "TAP_HOME", directory=True)
    with pytest.raises(UsageError, match=r"the file .*/f/x cannot be created: .*/f is not a dir"):
        check_writable(tmp_path / "f" / "x", "the file")
    with pytest.raises(UsageError, match=r"the file .* is a directory"):
        check_writable(tmp_path, "the file")
    monkeypatch.setattr(os, "access", lambda *_args: False)
    with pytest.raises(UsageError, match=r"cannot be written: .* is not writable"):
        check_writable(tmp_path / "g", "the file")
