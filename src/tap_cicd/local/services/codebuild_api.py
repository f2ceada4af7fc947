"""moto's CodeBuild API over the builds that run (``codebuild``): BatchGetBuilds, ListBuilds
and ListBuildsForProject report them, StopBuild stops them, and CreateProject keeps the
project's encryption key.
"""

from __future__ import annotations

from typing import Any

from moto.codebuild.models import CodeBuildBackend
from moto.codebuild.responses import CodeBuildResponse

from tap_cicd.local.services import codebuild

_ORIGINALS: dict[str, Any] = {}


def _batch_get_builds(self: CodeBuildBackend, ids: list[str]) -> list[dict[str, Any]]:
    ours = {
        b.id: b.snapshot()
        for b in codebuild.builds_of(self.account_id, self.region_name)
        if b.id in ids
    }
    theirs = _ORIGINALS["batch_get_builds"](self, [i for i in ids if i not in ours])
    found = {b["id"]: b for b in theirs} | ours
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def _list_builds_for_project(self: CodeBuildBackend, project_name: str) -> list[str]:
    ours = [b.id for b in codebuild.builds_of(self.account_id, self.region_name, project_name)]
    return ours + list(_ORIGINALS["list_builds_for_project"](self, project_name))


def _list_builds(self: CodeBuildBackend) -> list[str]:
    ours = [b.id for b in codebuild.builds_of(self.account_id, self.region_name)]
    return ours + list(_ORIGINALS["list_builds"](self))


def _stop_build(self: CodeBuildBackend, build_id: str) -> dict[str, Any] | None:
    """A running build stops: its command is killed and it ends STOPPED after FINALIZING; the
    answer is the build as it is then (still stopping).
    https://docs.aws.amazon.com/codebuild/latest/APIReference/API_StopBuild.html"""
    for found in codebuild.builds_of(self.account_id, self.region_name):
        if found.id == build_id:
            found.stop()
            return found.snapshot()
    return _ORIGINALS["stop_build"](self, build_id)  # type: ignore[no-any-return]


def _create_project(self: CodeBuildResponse) -> Any:
    """moto's CreateProject drops ``encryptionKey`` (it reports the S3 managed key); AWS keeps
    the project's key and encrypts the build's artifacts with it.
    https://docs.aws.amazon.com/codebuild/latest/APIReference/API_CreateProject.html"""
    result = _ORIGINALS["create_project"](self)
    if self._get_param("encryptionKey"):
        project = self.codebuild_backend.codebuild_projects[self._get_param("name")]
        project.project_metadata["encryptionKey"] = self._get_param("encryptionKey")
    return result


def install() -> None:
    """Report ``start``'s builds through BatchGetBuilds, ListBuilds and ListBuildsForProject,
    stop them with StopBuild, and keep a project's encryption key (idempotent)."""
    if _ORIGINALS:
        return
    patches: dict[str, tuple[Any, Any]] = {
        "batch_get_builds": (CodeBuildBackend, _batch_get_builds),
        "list_builds": (CodeBuildBackend, _list_builds),
        "list_builds_for_project": (CodeBuildBackend, _list_builds_for_project),
        "stop_build": (CodeBuildBackend, _stop_build),
        "create_project": (CodeBuildResponse, _create_project),
    }
    for name, (owner, patch) in patches.items():
        _ORIGINALS[name] = getattr(owner, name)
        setattr(owner, name, patch)
