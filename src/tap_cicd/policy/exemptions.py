"""Deliberate exceptions to the baseline: explicit data, each with its reason.

The program says why in one line where it departs from the baseline; the same reason lives
here, and a rule failure on a matching resource is reported as ``exempt``, not ``fail``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from tap_cicd.errors import TapError


class ExemptionError(TapError):
    """An exemption is malformed: no reason, or a rule id that does not exist."""

    code = "policy_exemption_invalid"
    exit_code = 2


@dataclass(frozen=True)
class Exemption:
    """Rule ``rule_id`` does not apply to resources whose logical name matches ``resource``."""

    rule_id: str
    resource: str
    """A glob over the logical resource name, e.g. ``*-build``."""
    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ExemptionError(f"exemption of {self.rule_id} for {self.resource} has no reason")

    def covers(self, rule_id: str, name: str) -> bool:
        """True when this exemption applies to ``rule_id`` on the resource named ``name``."""
        return rule_id == self.rule_id and fnmatchcase(name, self.resource)


EXEMPTIONS: tuple[Exemption, ...] = (
    Exemption(
        "TAP-IAM-006",
        "*-task*-role",
        "ECS requires both the task execution role and the task role to trust "
        "ecs-tasks.amazonaws.com; TAP-ECS-007 keeps them distinct",
    ),
    Exemption(
        "TAP-IAM-007",
        "*-task-role",
        "the application's own role has no permissions until the service needs AWS access; "
        "they are the team's to add, in one inline policy",
    ),
    Exemption(
        "TAP-ELB-004",
        "*-alb",
        "the stack must be destroyable (baseline S7): deletion protection makes pulumi destroy "
        "and tap destroy fail on the load balancer",
    ),
    Exemption(
        "TAP-CB-005",
        "*-build",
        "builds Docker images, and Docker-in-Docker needs privileged mode (baseline B4)",
    ),
    Exemption(
        "TAP-S3-005",
        "*-access-logs",
        "S3 server access logging delivers only to SSE-S3 (AES256) buckets, not SSE-KMS",
    ),
    Exemption(
        "TAP-S3-008",
        "*-access-logs",
        "it is the access-log target; logging into itself would log its own log writes",
    ),
    Exemption(
        "TAP-S3-007",
        "*-source",
        "the current source.zip must never expire, or a quiet service's next run fails at "
        "Source (TAP-AWS-005); its noncurrent versions and incomplete uploads still expire",
    ),
    Exemption(
        "TAP-KMS-007",
        "*-key",
        "CodeBuild, CodePipeline, S3, ECR and Lambda use the key as their service roles, whose "
        "policies allow it only through kms:ViaService of those services; the key policy "
        "delegates to IAM rather than repeat each grant",
    ),
    Exemption(
        "TAP-KMS-004",
        "*-key",
        "kms:* goes to the account root only: AWS's standard administration statement, which "
        "lets IAM policies grant use; the principal is the account, not '*'",
    ),
)
"""The program's deliberate exceptions."""


def check_known(exemptions: Iterable[Exemption], rule_ids: Iterable[str]) -> None:
    """Raise when an exemption names a rule that does not exist (a typo exempts nothing)."""
    known = set(rule_ids)
    for exemption in exemptions:
        if exemption.rule_id not in known:
            raise ExemptionError(f"exemption names unknown rule {exemption.rule_id}")


def find(exemptions: Iterable[Exemption], rule_id: str, name: str) -> Exemption | None:
    """The first exemption covering ``rule_id`` on ``name``."""
    return next((e for e in exemptions if e.covers(rule_id, name)), None)
