"""The local provider: resource type token -> how to create, update and delete it with boto3."""

from __future__ import annotations

from tap_cicd.local.provider import compute, ecr, iam, kms, logs, messaging, s3
from tap_cicd.local.provider._common import Context, Handler

HANDLERS: dict[str, Handler] = {
    handler.type: handler
    for module in (kms, s3, ecr, logs, iam, messaging, compute)
    for handler in module.HANDLERS
}

__all__ = ["HANDLERS", "Context", "Handler"]
