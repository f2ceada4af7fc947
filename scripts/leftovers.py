"""Fail when the account (the emulator, normally) still holds any resource of the stack.

Run after ``tap destroy``: every resource kind the stack creates is listed, and a resource
belongs to the stack when its name is one of the outputs or follows the naming convention
(``{prefix}-...-{suffix}``; the release parameter ``/{prefix}/{suffix}/...``). KMS keys cannot
be deleted at once: a key scheduled for deletion (``PendingDeletion``) counts as gone.

``--expect-all`` inverts the check, to run before the destroy: every kind must show at least
one resource of the stack, which proves the listing sees what it is meant to catch.

Usage: leftovers.py [--outputs FILE] [--prefix pipeline] [--suffix dev] [--expect-all]
Endpoint and credentials: as the integration tests (AWS_ENDPOINT_URL, or TAP_TARGET=aws).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import boto3

EMULATOR_MARKER = "/tap-emulator/instance-id"
"""The emulator's own parameter (``tap_cicd.local.emulator``), not the stack's."""

Lister = Callable[[Any], Iterable[str]]


def _pages(client: Any, operation: str, key: str, **params: Any) -> list[Any]:
    found: list[Any] = []
    for page in client.get_paginator(operation).paginate(**params):
        found.extend(page.get(key, []))
    return found


def buckets(aws: Any) -> Iterable[str]:
    return (b["Name"] for b in aws("s3").list_buckets().get("Buckets", []))


def repositories(aws: Any) -> Iterable[str]:
    return (
        r["repositoryName"] for r in _pages(aws("ecr"), "describe_repositories", "repositories")
    )


def roles(aws: Any) -> Iterable[str]:
    return (r["RoleName"] for r in _pages(aws("iam"), "list_roles", "Roles"))


def functions(aws: Any) -> Iterable[str]:
    return (f["FunctionName"] for f in _pages(aws("lambda"), "list_functions", "Functions"))


def projects(aws: Any) -> Iterable[str]:
    return _pages(aws("codebuild"), "list_projects", "projects")


def pipelines(aws: Any) -> Iterable[str]:
    return (p["name"] for p in _pages(aws("codepipeline"), "list_pipelines", "pipelines"))


def topics(aws: Any) -> Iterable[str]:
    return (t["TopicArn"].split(":")[-1] for t in _pages(aws("sns"), "list_topics", "Topics"))


def queues(aws: Any) -> Iterable[str]:
    return (url.rsplit("/", 1)[-1] for url in aws("sqs").list_queues().get("QueueUrls", []))


def rules(aws: Any) -> Iterable[str]:
    return (r["Name"] for r in _pages(aws("events"), "list_rules", "Rules"))


def log_groups(aws: Any) -> Iterable[str]:
    return (g["logGroupName"] for g in _pages(aws("logs"), "describe_log_groups", "logGroups"))


def parameters(aws: Any) -> Iterable[str]:
    found = _pages(aws("ssm"), "describe_parameters", "Parameters")
    return (p["Name"] for p in found if p["Name"] != EMULATOR_MARKER)


def live_keys(aws: Any) -> Iterable[str]:
    """Customer-managed keys not scheduled for deletion, by id."""
    kms = aws("kms")
    for key in _pages(kms, "list_keys", "Keys"):
        metadata = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if metadata["KeyManager"] == "CUSTOMER" and metadata["KeyState"] != "PendingDeletion":
            yield str(key["KeyId"])


def aliases(aws: Any) -> Iterable[str]:
    return (a["AliasName"] for a in _pages(aws("kms"), "list_aliases", "Aliases"))


KINDS: dict[str, Lister] = {
    "S3 bucket": buckets,
    "ECR repository": repositories,
    "IAM role": roles,
    "Lambda function": functions,
    "CodeBuild project": projects,
    "CodePipeline": pipelines,
    "SNS topic": topics,
    "SQS queue": queues,
    "EventBridge rule": rules,
    "log group": log_groups,
    "KMS key": live_keys,
    "KMS alias": aliases,
    "SSM parameter": parameters,
}
OPTIONAL = {"SSM parameter"}
"""Kinds only some versions of the stack create (the release parameter); not --expect-all."""


def belongs(kind: str, name: str, prefix: str, suffix: str, known: set[str]) -> bool:
    """Whether ``name`` is one of the stack's."""
    if name in known:
        return True
    if kind == "KMS key":
        # Keys have no name; in a fresh emulator every customer key is the stack's.
        return True
    if kind == "SSM parameter":
        return name.startswith(f"/{prefix}/{suffix}/")
    base = name.rsplit("/", 1)[-1]  # log groups and aliases carry a path
    return base.startswith(f"{prefix}-") and base.endswith(f"-{suffix}")


def known_names(outputs: dict[str, str]) -> set[str]:
    """Names (and the key id) the outputs give away."""
    names = {v for k, v in outputs.items() if k.endswith("Name")}
    names |= {v.rsplit(":", 1)[-1] for k, v in outputs.items() if k.endswith("Arn")}
    names.add(outputs["kmsKeyArn"].rsplit("/", 1)[-1])
    return names


def client_factory(region: str) -> Callable[[str], Any]:
    """Clients as the integration tests make them."""
    credentials = {}
    if os.environ.get("TAP_TARGET", "local") != "aws":
        if not os.environ.get("AWS_ENDPOINT_URL"):
            raise SystemExit("set AWS_ENDPOINT_URL (the emulator) or TAP_TARGET=aws")
        credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    session = boto3.session.Session(region_name=region, **credentials)
    client: Callable[[str], Any] = session.client
    return client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("TAP_OUTPUTS_FILE", "cfn-outputs/flat-outputs.json")
    parser.add_argument("--outputs", type=Path, default=Path(default))
    parser.add_argument("--prefix", default=os.environ.get("TAP_NAME_PREFIX", "pipeline"))
    parser.add_argument("--suffix", default=os.environ.get("ENVIRONMENT_SUFFIX", "dev"))
    parser.add_argument("--expect-all", action="store_true")
    args = parser.parse_args(argv)
    outputs = json.loads(args.outputs.read_text())
    aws = client_factory(outputs["region"])
    known = known_names(outputs)
    found = {
        kind: sorted(n for n in lister(aws) if belongs(kind, n, args.prefix, args.suffix, known))
        for kind, lister in KINDS.items()
    }
    if args.expect_all:
        missing = [k for k, names in found.items() if not names and k not in OPTIONAL]
        total = sum(len(n) for n in found.values())
        if missing:
            print(f"leftover check is blind to: {', '.join(missing)}", file=sys.stderr)
            return 1
        print(f"leftover check sees {total} resources of the stack in {len(KINDS)} kinds")
        return 0
    left = {kind: names for kind, names in found.items() if names}
    if left:
        for kind, names in left.items():
            print(f"left behind: {kind}: {', '.join(names)}", file=sys.stderr)
        return 1
    print(f"nothing of the stack is left ({len(KINDS)} kinds checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
