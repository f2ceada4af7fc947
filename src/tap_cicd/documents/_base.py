"""The shared shapes: a document, an Allow statement, key use through services, TLS only."""

from __future__ import annotations

import json
from typing import Any

Document = dict[str, Any]
Statement = dict[str, Any]

KMS_USE = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey*",
    "kms:ReEncrypt*",
    "kms:DescribeKey",
]


def policy(*statements: Statement) -> Document:
    """A policy document of ``statements``, in the current policy language version."""
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(sid: str, actions: list[str], resources: list[str], **condition: Any) -> Statement:
    """An Allow of ``actions`` on ``resources``, with ``condition`` blocks when given."""
    statement: Statement = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": resources,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def kms_via(sid: str, key_arn: str, region: str, *services: str) -> Statement:
    """Use of the pipeline key, only through the named services of this region."""
    return allow(
        sid,
        KMS_USE,
        [key_arn],
        StringEquals={"kms:ViaService": [f"{s}.{region}.amazonaws.com" for s in services]},
    )


def deny_insecure_transport(action: str, resource: str | list[str]) -> Statement:
    """Deny ``action`` on ``resource`` to everyone when the request is not over TLS.

    The one shape every TLS rule checks (TAP-S3-002, TAP-SNS-003, TAP-SQS-002): Deny,
    principal ``*``, the whole service or action, every resource, only ``aws:SecureTransport``.
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html
    """
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": action,
        "Resource": resource,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def json_text(doc: Document) -> str:
    """The canonical JSON text of a document."""
    return json.dumps(doc)
