"""Every rule of the pack, grouped by service, in report order."""

from __future__ import annotations

from tap_cicd.policy import (
    aws,
    codebuild,
    codepipeline,
    ecr,
    ecs,
    elb,
    iam,
    kms,
    lambda_,
    logs,
    network,
    notifications,
    s3,
)
from tap_cicd.policy.model import Rule

RULES: tuple[Rule, ...] = tuple(
    rule
    for module in (
        kms,
        s3,
        ecr,
        codebuild,
        codepipeline,
        lambda_,
        iam,
        notifications,
        logs,
        ecs,
        elb,
        network,
        aws,
    )
    for rule in module.rules.rules
)
"""All rules."""
