"""Emulator-only workarounds, in one place. Each says what the emulator does differently.

Everything else the local provider sends is what real AWS accepts; these changes are
applied only because the local target always talks to the emulator. One more lives in
``server.py``, because it patches moto inside the emulator process and importing moto
here would slow every ``tap`` command down.
"""

from __future__ import annotations

import json
from typing import Any

PLACEHOLDER_LOCATION = "tap-emulator-unused"


def codebuild_project(params: dict[str, Any]) -> dict[str, Any]:
    """moto's CreateProject/UpdateProject want ``source.location`` and ``artifacts.location``.

    Real AWS does not accept a location for ``CODEPIPELINE`` sources and artifacts and
    the pulumi-aws provider sends none; moto refuses the call without them.
    """
    patched = dict(params)
    for key in ("source", "artifacts"):
        section = dict(patched[key])
        if section.get("type") == "CODEPIPELINE":
            section.setdefault("location", PLACEHOLDER_LOCATION)
        patched[key] = section
    return patched


def bucket_policy(policy: str) -> str:
    """moto's PutBucketLogging crashes on a target bucket policy with ``"Principal": "*"``.

    It reads every statement's principal as a mapping. ``{"AWS": "*"}`` means the same to
    AWS (everyone), so the emulator gets that spelling; the stack's policy is unchanged.
    """
    document = json.loads(policy)
    for statement in document.get("Statement", []):
        if statement.get("Principal") == "*":
            statement["Principal"] = {"AWS": "*"}
    return json.dumps(document)


def update_codebuild_project(codebuild: Any, params: dict[str, Any]) -> dict[str, Any]:
    """moto does not implement UpdateProject: the emulator gets a delete and a create.

    Against AWS this is one UpdateProject call with the same parameters.
    """
    codebuild.delete_project(name=params["name"])
    project: dict[str, Any] = codebuild.create_project(**params)["project"]
    return project


LOG_GROUP_RECREATE_ON = ("kmsKeyId",)
"""moto lacks AssociateKmsKey: in the emulator a log group's key change replaces the group.

Against AWS the provider associates the new key in place.
"""
