"""moto's CodeBuild API over the builds that run (``codebuild``): BatchGetBuilds and
ListBuildsForProject report them, and CreateProject keeps the project's encryption key.
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
    """Report ``start``'s builds through BatchGetBuilds and ListBuildsForProject, and keep a
    project's encryption key (idempotent)."""
    if _ORIGINALS:
        return
    _ORIGINALS["batch_get_builds"] = CodeBuildBackend.batch_get_builds
    _ORIGINALS["list_builds_for_project"] = CodeBuildBackend.list_builds_for_project
    _ORIGINALS["create_project"] = CodeBuildResponse.create_project
    CodeBuildBackend.batch_get_builds = _batch_get_builds  # type: ignore[method-assign]
    CodeBuildBackend.list_builds_for_project = _list_builds_for_project  # type: ignore[method-assign]
    CodeBuildResponse.create_project = _create_project  # type: ignore[method-assign]
