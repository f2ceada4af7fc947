"""What every action runner shares: its failure, the artifact store and artifact locations."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_cicd.local.services.pipeline_model import ActionRun, Execution

POLL_SECONDS = 0.1
"""How often a waiting action looks again."""


class ActionError(Exception):
    """An action failed: ``code`` is a FailureType, ``message`` what the console would show."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Store:
    """The pipeline's artifact store: bucket and KMS key."""

    bucket: str
    key_id: str | None

    @classmethod
    def of(cls, pipeline: Mapping[str, Any], region: str) -> Store:
        """From the pipeline declaration (``artifactStore`` or ``artifactStores``)."""
        store = pipeline.get("artifactStore") or (pipeline.get("artifactStores") or {})[region]
        return cls(store["location"], (store.get("encryptionKey") or {}).get("id"))

    def new_key(self, pipeline: str, artifact: str) -> str:
        """Where CodePipeline puts an artifact: ``<pipeline>/<artifact>/<random>``, each name
        shortened. https://docs.aws.amazon.com/codepipeline/latest/userguide/concepts.html"""
        suffix = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(7))
        return f"{pipeline[:20]}/{artifact[:20]}/{suffix}"

    def encryption(self) -> dict[str, str]:
        """The SSE arguments of a PutObject into the store."""
        if self.key_id is None:
            return {}
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.key_id}


def inputs_of(execution: Execution, run: ActionRun) -> list[dict[str, Any]]:
    found = []
    for artifact in run.declaration.get("inputArtifacts") or []:
        location = execution.artifacts.get(artifact["name"])
        if location is None:
            raise ActionError(
                "ConfigurationError", f"input artifact {artifact['name']} does not exist"
            )
        found.append({"name": artifact["name"], **location})
    return found


def outputs_of(execution: Execution, run: ActionRun, store: Store) -> list[dict[str, Any]]:
    return [
        {
            "name": artifact["name"],
            "bucket": store.bucket,
            "key": store.new_key(execution.pipeline, artifact["name"]),
        }
        for artifact in run.declaration.get("outputArtifacts") or []
    ]


def artifact_location(artifact: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": artifact["name"],
        "s3location": {"bucket": artifact["bucket"], "key": artifact["key"]},
    }
