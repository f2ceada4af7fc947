"""Settings of the Deploy stage: its function (scan gate, concurrency) and the service it
rolls out to (``deployTarget``), and their rules.

Split from ``config`` so each file holds one concern; ``Settings.from_raw`` calls
``service_settings`` once, and the first broken rule raises a ``ConfigError`` naming the key.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tap_cicd.deploy.rollout import (
    DEFAULT_ROLLOUT_WAIT_SECONDS,
    DEPLOY_TARGETS,
    MAX_DESIRED_COUNT,
    MAX_ROLLOUT_WAIT_SECONDS,
)
from tap_cicd.deploy.scanning import DEFAULT_SCAN_WAIT_SECONDS, MAX_SCAN_WAIT_SECONDS
from tap_cicd.errors import ConfigError

DeployTarget = Literal["ecs", "none"]

SERVICE_KEYS = (
    "containerPort",
    "cpu",
    "memory",
    "desiredCount",
    "healthCheckPath",
    "ingressCidrs",
    "certificateArn",
    "vpcId",
    "subnetIds",
    "rolloutWaitSeconds",
)
"""Keys that only mean something with ``deployTarget`` ``ecs``."""

WHOLE = re.compile(r"[0-9]{1,9}")
"""A whole number in ASCII digits (``str.isdigit`` also accepts ``²``, which ``int`` refuses)."""


def _steps(low: int, high: int, step: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1, step))


# The task sizes Fargate runs (cpu units -> memory MiB); anything else fails at registration.
# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: _steps(1024, 4096, 1024),
    1024: _steps(2048, 8192, 1024),
    2048: _steps(4096, 16384, 1024),
    4096: _steps(8192, 30720, 1024),
    8192: _steps(16384, 61440, 4096),
    16384: _steps(32768, 122880, 8192),
}
# Each CIDR takes two inbound rules (80 and 443); a security group holds 60 inbound rules.
# https://docs.aws.amazon.com/vpc/latest/userguide/amazon-vpc-limits.html#vpc-limits-security-groups
MAX_INGRESS_CIDRS = 30
# A target group's health check path: 1-1024 characters, starting with "/".
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
_HEALTH_PATH = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,1023}")
_CERTIFICATE_ARN = re.compile(
    r"arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}"
)
_FINDING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}")
_VPC_ID = re.compile(r"vpc-(?:[0-9a-f]{8}|[0-9a-f]{17})")
_SUBNET_ID = re.compile(r"subnet-(?:[0-9a-f]{8}|[0-9a-f]{17})")


@dataclass(frozen=True)
class ServiceSettings:
    """The ECS Fargate service the Deploy stage rolls each release out to."""

    target: DeployTarget = "ecs"
    """``ecs``: roll out to the stack's service; ``none``: only verify, gate and record."""
    container_port: int = 8080
    """The port the container listens on; the load balancer forwards to it."""
    cpu: int = 256
    """Task CPU units (a Fargate size together with ``memory``)."""
    memory: int = 512
    """Task memory in MiB."""
    desired_count: int = 1
    """Tasks the service runs once a release is deployed."""
    health_check_path: str = "/"
    """Path the load balancer's health check requests."""
    ingress_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    """Who may reach the load balancer (ports 80 and 443)."""
    certificate_arn: str = ""
    """ACM certificate: HTTPS listener and an HTTP->HTTPS redirect; empty: HTTP only."""
    vpc_id: str = ""
    """An existing VPC; empty: the stack creates a small public one."""
    subnet_ids: tuple[str, ...] = ()
    """Public subnets of ``vpc_id`` in at least two AZs (with ``vpc_id`` only)."""
    rollout_wait_seconds: int = DEFAULT_ROLLOUT_WAIT_SECONDS
    """How long the deploy step waits for the service's deployment before it fails."""

    @property
    def enabled(self) -> bool:
        """Whether the stack creates (and the deploy step rolls out to) the service."""
        return self.target == "ecs"

    @property
    def https(self) -> bool:
        """Whether the load balancer serves HTTPS."""
        return bool(self.certificate_arn)


def string_list(value: str | None, key: str) -> tuple[str, ...]:
    """A JSON list of strings, or a comma-separated list."""
    if value is None or not value.strip():
        return ()
    if value.lstrip().startswith("["):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, list) or not all(isinstance(i, str) for i in parsed):
            raise ConfigError(key, "must be a JSON list of strings or a comma-separated list")
        return tuple(parsed)
    return tuple(item.strip() for item in value.split(","))


def deploy_target(values: Mapping[str, str]) -> DeployTarget:
    """``deployTarget``: one of ``DEPLOY_TARGETS``."""
    value = values.get("deployTarget", "ecs")
    if value == "ecs":
        return "ecs"
    if value == "none":
        return "none"
    raise ConfigError("deployTarget", f"must be one of {', '.join(DEPLOY_TARGETS)}; got '{value}'")


def require_approval(value: str | None) -> bool:
    """``requireApproval``: ``true`` or ``false``."""
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise ConfigError("requireApproval", f"must be true or false; got '{value}'")


def service_settings(values: Mapping[str, str]) -> ServiceSettings:
    """Validate every service key (``SERVICE_KEYS``) for the configured ``deployTarget``."""
    target = deploy_target(values)
    if target == "none":
        stray = [k for k in SERVICE_KEYS if values.get(k)]
        if stray:
            raise ConfigError(stray[0], "is only valid with deployTarget 'ecs'")
        return ServiceSettings(target="none")
    cpu, memory = _size(values.get("cpu"), values.get("memory"))
    vpc_id, subnet_ids = _network(values.get("vpcId"), values.get("subnetIds"))
    return ServiceSettings(
        target=target,
        container_port=_whole(values.get("containerPort"), "containerPort", 8080, 1, 65535),
        cpu=cpu,
        memory=memory,
        desired_count=_whole(values.get("desiredCount"), "desiredCount", 1, 1, MAX_DESIRED_COUNT),
        health_check_path=_health_check_path(values.get("healthCheckPath", "/")),
        ingress_cidrs=_cidrs(values.get("ingressCidrs")),
        certificate_arn=_certificate(values.get("certificateArn", "")),
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        rollout_wait_seconds=_whole(
            values.get("rolloutWaitSeconds"),
            "rolloutWaitSeconds",
            DEFAULT_ROLLOUT_WAIT_SECONDS,
            # The step's own bounds: what the stack accepts is exactly what the function accepts.
            0,
            MAX_ROLLOUT_WAIT_SECONDS,
        ),
    )


def _whole(value: str | None, key: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not WHOLE.fullmatch(value) or not low <= int(value) <= high:
        raise ConfigError(key, f"must be a whole number {low}-{high}; got '{value}'")
    return int(value)


def _size(cpu_value: str | None, memory_value: str | None) -> tuple[int, int]:
    cpu = _number(cpu_value, 256)
    if cpu not in FARGATE_SIZES:
        allowed = ", ".join(map(str, FARGATE_SIZES))
        raise ConfigError("cpu", f"must be a Fargate size: one of {allowed}; got '{cpu_value}'")
    sizes = FARGATE_SIZES[cpu]
    memory = _number(memory_value, sizes[0])
    if memory not in sizes:
        raise ConfigError(
            "memory",
            f"must be a Fargate size for cpu {cpu}: {sizes[0]}-{sizes[-1]} MiB "
            f"in steps of {sizes[1] - sizes[0]}; got '{memory_value}'",
        )
    return cpu, memory


def _number(value: str | None, default: int) -> int:
    if value is None:
        return default
    return int(value) if WHOLE.fullmatch(value) else -1


def _health_check_path(value: str) -> str:
    if not _HEALTH_PATH.fullmatch(value):
        raise ConfigError(
            "healthCheckPath", "must start with '/' and be 1-1024 URL characters (no spaces)"
        )
    return value


def _cidrs(value: str | None) -> tuple[str, ...]:
    cidrs = string_list(value, "ingressCidrs") or ServiceSettings.ingress_cidrs
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            raise ConfigError(
                "ingressCidrs", f"'{cidr}' is not a CIDR block (like 203.0.113.0/24)"
            ) from None
    if len(cidrs) > MAX_INGRESS_CIDRS:
        raise ConfigError(
            "ingressCidrs", f"at most {MAX_INGRESS_CIDRS} (60 security group rules, 2 per CIDR)"
        )
    if len(set(cidrs)) != len(cidrs):
        raise ConfigError("ingressCidrs", "must not repeat a CIDR block")
    return cidrs


def _certificate(value: str) -> str:
    if value and not _CERTIFICATE_ARN.fullmatch(value):
        raise ConfigError(
            "certificateArn",
            "must be the ARN of an ACM certificate "
            "(arn:aws:acm:<region>:<account>:certificate/<uuid>)",
        )
    return value


def _network(vpc_id: str | None, subnets_value: str | None) -> tuple[str, tuple[str, ...]]:
    subnets = string_list(subnets_value, "subnetIds")
    if not vpc_id and not subnets:
        return "", ()
    if not vpc_id:
        raise ConfigError("vpcId", "must be set together with subnetIds")
    if not _VPC_ID.fullmatch(vpc_id):
        raise ConfigError("vpcId", f"'{vpc_id}' is not a VPC id (vpc-<8 or 17 hex>)")
    # An ALB needs subnets in at least two Availability Zones.
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#availability-zones
    if len(set(subnets)) < 2:
        raise ConfigError("subnetIds", "must name at least two distinct subnets (two AZs)")
    for subnet in subnets:
        if not _SUBNET_ID.fullmatch(subnet):
            raise ConfigError("subnetIds", f"'{subnet}' is not a subnet id (subnet-<hex>)")
    return vpc_id, subnets


def scan_wait(value: str | None) -> int:
    """``scanWaitSeconds``: 0 to ``MAX_SCAN_WAIT_SECONDS``."""
    if value is None:
        return DEFAULT_SCAN_WAIT_SECONDS
    if not WHOLE.fullmatch(value) or int(value) > MAX_SCAN_WAIT_SECONDS:
        raise ConfigError(
            "scanWaitSeconds", f"must be a whole number of seconds, 0-{MAX_SCAN_WAIT_SECONDS}"
        )
    return int(value)


MAX_DEPLOY_CONCURRENCY = 900
"""AWS refuses a reservation that leaves fewer than 100 unreserved executions; 900 is the most
an account at the default quota of 1,000 can reserve (and far more than one release needs).
https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"""


def deploy_concurrency(value: str | None) -> int | None:
    """``deployConcurrency``: unset, or 1 to ``MAX_DEPLOY_CONCURRENCY``."""
    # Opt-in: accounts at a low concurrency quota (10 or 50 is common for new accounts)
    # cannot reserve anything, so a default reservation would make the stack undeployable.
    if value is None or not value.strip():
        return None
    if not WHOLE.fullmatch(value) or not 1 <= int(value) <= MAX_DEPLOY_CONCURRENCY:
        raise ConfigError(
            "deployConcurrency",
            f"must be a whole number 1-{MAX_DEPLOY_CONCURRENCY}; AWS also keeps 100 of the "
            "account's concurrent executions unreserved, so the account quota must exceed it "
            "by 100",
        )
    return int(value)


def allowed_findings(value: str | None) -> tuple[str, ...]:
    """``allowedFindings``: finding ids, 2048 characters in all."""
    ids = string_list(value, "allowedFindings")
    for finding in ids:
        if not _FINDING_ID.fullmatch(finding):
            raise ConfigError("allowedFindings", f"'{finding}' is not a finding id")
    if len(",".join(ids)) > 2048:
        raise ConfigError("allowedFindings", "at most 2048 characters in all")
    return ids
