"""The deploy function's code archive, built as the stack builds it, imports on its own.

Lambda's Python runtime gives the function the standard library and botocore (with its
dependencies) and nothing else of ours: the archive is unzipped into an empty directory and
``tap_cicd.deploy.handler`` is imported there by a fresh interpreter that sees only that
directory, botocore's packages and the standard library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pulumi
import pytest

from tap_cicd.pipeline import deploy_function

RUNTIME_PACKAGES = ("botocore", "jmespath", "dateutil", "urllib3", "six")
"""What the Lambda runtime provides besides the standard library (botocore and its imports)."""
FORBIDDEN = ("boto3", "s3transfer", "pulumi", "pulumi_aws", "yaml", "moto", "mypy_boto3")
"""Installed here, absent from the function: importing any of them breaks the cold start."""
CHILD = """
import json, sys, sysconfig
import tap_cicd.deploy.handler as handler
handler.handler({}, None)  # no job id: logs and returns, no client made
print(json.dumps({
    "callable": callable(handler.handler),
    "modules": {
        name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())
    },
    "stdlib": [sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]],
}))
"""


def materialise(archive: pulumi.AssetArchive, zip_path: Path) -> None:
    """The zip Pulumi uploads: each key is a path in the archive, each FileAsset its source."""
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, asset in archive.assets.items():
            assert isinstance(asset, pulumi.FileAsset), name
            zipped.write(asset.path, arcname=name)


def runtime_packages(target: Path, names: tuple[str, ...]) -> Path:
    """A directory holding only ``names`` (symlinks to the installed packages)."""
    target.mkdir()
    for name in names:
        spec = find_spec(name)
        assert spec is not None, name
        assert spec.origin is not None, name
        source = Path(spec.origin)
        if source.name == "__init__.py":
            source = source.parent
        (target / source.name).symlink_to(source)
    return target


@pytest.fixture
def unpacked(tmp_path: Path) -> Path:
    """The function's archive, built by the stack's own ``code_archive``, unzipped."""
    zip_path = tmp_path / "function.zip"
    materialise(deploy_function.code_archive(), zip_path)
    code = tmp_path / "code"
    code.mkdir()
    with zipfile.ZipFile(zip_path) as zipped:
        zipped.extractall(code)
    return code


def import_handler(code: Path, packages: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Import the handler in a fresh interpreter that sees ``code``, ``packages`` and the
    standard library only: ``-S`` (no site-packages), ``-P`` (no script or working directory)
    and an environment of our own."""
    env = {
        "PYTHONPATH": os.pathsep.join([str(code), str(packages)]),
        "PYTHONNOUSERSITE": "1",
        "LOG_LEVEL": "INFO",
        "PATH": os.defpath,
    }
    return subprocess.run(  # noqa: S603 - our own interpreter, our own code
        [sys.executable, "-S", "-P", "-c", CHILD],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def problems(report: dict[str, Any], code: Path, packages: Path) -> list[str]:
    """Modules the child imported that the Lambda runtime would not have."""
    allowed = [str(code), str(packages), *report["stdlib"]]
    found = []
    for name, path in sorted(report["modules"].items()):
        top = name.split(".")[0]
        ours_elsewhere = name.startswith("tap_cicd.") and not name.startswith("tap_cicd.deploy")
        if top in FORBIDDEN or ours_elsewhere:
            found.append(f"{name} imported")
        elif path is not None and not any(path.startswith(root) for root in allowed):
            found.append(f"{name} from {path}")
    return found


def test_the_archive_holds_the_deploy_package_only(unpacked: Path) -> None:
    files = sorted(str(p.relative_to(unpacked)) for p in unpacked.rglob("*.py"))
    assert files[0] == "tap_cicd/__init__.py"
    assert all(f.startswith("tap_cicd/deploy/") for f in files[1:])
    assert {"tap_cicd/deploy/handler.py", "tap_cicd/deploy/logic.py"} <= set(files)


def test_the_handler_imports_with_the_runtime_alone(unpacked: Path, tmp_path: Path) -> None:
    packages = runtime_packages(tmp_path / "runtime", RUNTIME_PACKAGES)
    result = import_handler(unpacked, packages, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["callable"] is True
    assert report["modules"]["tap_cicd.deploy.handler"] == str(
        unpacked / "tap_cicd" / "deploy" / "handler.py"
    )
    assert "botocore" in report["modules"]
    assert problems(report, unpacked, packages) == []


def import_too(unpacked: Path, line: str) -> None:
    """The archive's handler module with one more import (run when the module is imported)."""
    handler = unpacked / "tap_cicd" / "deploy" / "handler.py"
    handler.write_text(f"{handler.read_text()}\n{line}\n")


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("import boto3", "ModuleNotFoundError: No module named 'boto3'"),
        ("import pulumi", "ModuleNotFoundError: No module named 'pulumi'"),
        ("import yaml", "ModuleNotFoundError: No module named 'yaml'"),
        ("import tap_cicd.config", "ModuleNotFoundError: No module named 'tap_cicd.config'"),
        ("from tap_cicd import naming", "ImportError: cannot import name 'naming' from 'tap_cicd'"),
    ],
)
def test_a_dependency_outside_the_runtime_fails_the_import(
    unpacked: Path, tmp_path: Path, line: str, error: str
) -> None:
    import_too(unpacked, line)
    packages = runtime_packages(tmp_path / "runtime", RUNTIME_PACKAGES)
    result = import_handler(unpacked, packages, tmp_path)
    assert result.returncode != 0
    assert error in result.stderr


def test_a_forbidden_module_that_happens_to_be_importable_is_still_caught(
    unpacked: Path, tmp_path: Path
) -> None:
    """Were boto3 on the path, the import would succeed: the module check still flags it."""
    import_too(unpacked, "import boto3")
    packages = runtime_packages(tmp_path / "runtime", (*RUNTIME_PACKAGES, "boto3", "s3transfer"))
    result = import_handler(unpacked, packages, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert "boto3 imported" in problems(report, unpacked, packages)
