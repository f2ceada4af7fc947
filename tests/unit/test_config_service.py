"""The Deploy stage's settings: the service keys, their defaults and every rule."""

from __future__ import annotations

import pytest

from tap_cicd.config import ENV_VARS, Settings
from tap_cicd.config_service import FARGATE_SIZES, SERVICE_KEYS, ServiceSettings
from tap_cicd.deploy.rollout import (
    DEFAULT_ROLLOUT_WAIT_SECONDS,
    DEPLOY_TARGETS,
    MAX_DESIRED_COUNT,
    MAX_ROLLOUT_WAIT_SECONDS,
)
from tap_cicd.errors import ConfigError

CERTIFICATE = "arn:aws:acm:eu-west-1:111122223333:certificate/0f3e2d1c-aaaa-bbbb-cccc-0123456789ab"
NETWORK = {"vpcId": "vpc-0123456789abcdef0", "subnetIds": "subnet-0a1b2c3d, subnet-4e5f6a7b"}


def rejected(raw: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        Settings.from_raw(raw)
    return caught.value


def test_defaults_roll_out_to_a_small_public_service() -> None:
    settings = Settings.from_raw({})
    assert settings.service == ServiceSettings()
    service = settings.service
    assert (service.target, service.enabled, service.https) == ("ecs", True, False)
    assert (service.container_port, service.cpu, service.memory) == (8080, 256, 512)
    assert service.desired_count == 1
    assert service.health_check_path == "/"
    assert service.ingress_cidrs == ("0.0.0.0/0",)
    assert (service.certificate_arn, service.vpc_id, service.subnet_ids) == ("", "", ())
    assert service.rollout_wait_seconds == DEFAULT_ROLLOUT_WAIT_SECONDS
    assert settings.require_approval is False


def test_the_targets_are_the_deploy_steps() -> None:
    assert set(DEPLOY_TARGETS) == {"ecs", "none"}
    assert Settings.from_raw({"deployTarget": "none"}).service == ServiceSettings(target="none")
    assert not ServiceSettings(target="none").enabled


def test_every_service_value_is_read() -> None:
    settings = Settings.from_raw(
        {
            "deployTarget": "ecs",
            "containerPort": "3000",
            "cpu": "1024",
            "memory": "3072",
            "desiredCount": "3",
            "healthCheckPath": "/healthz?full=1",
            "ingressCidrs": '["203.0.113.0/24", "2001:db8::/32"]',
            "certificateArn": CERTIFICATE,
            **NETWORK,
            "rolloutWaitSeconds": "600",
            "requireApproval": "true",
        }
    )
    assert settings.service == ServiceSettings(
        target="ecs",
        container_port=3000,
        cpu=1024,
        memory=3072,
        desired_count=3,
        health_check_path="/healthz?full=1",
        ingress_cidrs=("203.0.113.0/24", "2001:db8::/32"),
        certificate_arn=CERTIFICATE,
        vpc_id="vpc-0123456789abcdef0",
        subnet_ids=("subnet-0a1b2c3d", "subnet-4e5f6a7b"),
        rollout_wait_seconds=600,
    )
    assert settings.service.https
    assert settings.require_approval is True


def test_every_key_has_its_variable() -> None:
    assert {k: ENV_VARS[k] for k in ("deployTarget", *SERVICE_KEYS, "requireApproval")} == {
        "deployTarget": "TAP_DEPLOY_TARGET",
        "containerPort": "TAP_CONTAINER_PORT",
        "cpu": "TAP_CPU",
        "memory": "TAP_MEMORY",
        "desiredCount": "TAP_DESIRED_COUNT",
        "healthCheckPath": "TAP_HEALTH_CHECK_PATH",
        "ingressCidrs": "TAP_INGRESS_CIDRS",
        "certificateArn": "TAP_CERTIFICATE_ARN",
        "vpcId": "TAP_VPC_ID",
        "subnetIds": "TAP_SUBNET_IDS",
        "rolloutWaitSeconds": "TAP_ROLLOUT_WAIT_SECONDS",
        "requireApproval": "TAP_REQUIRE_APPROVAL",
    }


def test_cpu_alone_takes_its_smallest_memory() -> None:
    assert Settings.from_raw({"cpu": "2048"}).service.memory == 4096


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [(256, 512), (256, 2048), (512, 4096), (1024, 8192), (4096, 30720), (8192, 61440),
     (16384, 122880)],
)  # fmt: skip
def test_fargate_sizes_are_accepted(cpu: int, memory: int) -> None:
    service = Settings.from_raw({"cpu": str(cpu), "memory": str(memory)}).service
    assert (service.cpu, service.memory) == (cpu, memory)
    assert memory in FARGATE_SIZES[cpu]


def test_fargate_table_follows_aws() -> None:
    assert FARGATE_SIZES[256] == (512, 1024, 2048)
    assert FARGATE_SIZES[2048] == tuple(range(4096, 16385, 1024))
    assert FARGATE_SIZES[8192][1] - FARGATE_SIZES[8192][0] == 4096
    assert FARGATE_SIZES[16384][-1] == 122880


@pytest.mark.parametrize(
    ("raw", "key", "rule"),
    [
        ({"deployTarget": "k8s"}, "deployTarget", "must be one of ecs, none; got 'k8s'"),
        ({"deployTarget": "none", "cpu": "512"}, "cpu", "only valid with deployTarget 'ecs'"),
        ({"deployTarget": "none", **NETWORK}, "vpcId", "only valid with deployTarget 'ecs'"),
        ({"requireApproval": "yes"}, "requireApproval", "must be true or false; got 'yes'"),
        ({"containerPort": "0"}, "containerPort", "must be a whole number 1-65535; got '0'"),
        ({"containerPort": "65536"}, "containerPort", "1-65535"),
        ({"containerPort": "80a"}, "containerPort", "1-65535"),
        ({"cpu": "300"}, "cpu", "must be a Fargate size: one of 256, 512, 1024, 2048, 4096"),
        ({"cpu": "x"}, "cpu", "got 'x'"),
        ({"cpu": "256", "memory": "4096"}, "memory", "for cpu 256: 512-2048 MiB in steps of 512"),
        ({"cpu": "2048", "memory": "4000"}, "memory", "4096-16384 MiB in steps of 1024"),
        ({"memory": "lots"}, "memory", "got 'lots'"),
        ({"desiredCount": "0"}, "desiredCount", f"1-{MAX_DESIRED_COUNT}"),
        ({"desiredCount": "5001"}, "desiredCount", "1-5000"),
        ({"healthCheckPath": "health"}, "healthCheckPath", "must start with '/'"),
        ({"healthCheckPath": "/a b"}, "healthCheckPath", "no spaces"),
        ({"healthCheckPath": "/" + "a" * 1024}, "healthCheckPath", "1-1024"),
        ({"ingressCidrs": "10.0.0.1/8"}, "ingressCidrs", "'10.0.0.1/8' is not a CIDR block"),
        ({"ingressCidrs": "anywhere"}, "ingressCidrs", "not a CIDR block"),
        ({"ingressCidrs": "[1]"}, "ingressCidrs", "JSON list of strings"),
        ({"ingressCidrs": "10.0.0.0/8,10.0.0.0/8"}, "ingressCidrs", "must not repeat"),
        (
            {"ingressCidrs": ",".join(f"10.{i}.0.0/16" for i in range(31))},
            "ingressCidrs",
            "at most 30",
        ),
        ({"certificateArn": "arn:aws:iam::1:server-certificate/x"}, "certificateArn", "ACM"),
        ({"vpcId": "vpc-0123456789abcdef0"}, "subnetIds", "at least two distinct subnets"),
        ({"subnetIds": "subnet-0a1b2c3d,subnet-4e5f6a7b"}, "vpcId", "together with subnetIds"),
        ({**NETWORK, "vpcId": "vpc-xyz"}, "vpcId", "'vpc-xyz' is not a VPC id"),
        (
            {**NETWORK, "subnetIds": "subnet-0a1b2c3d,subnet-0a1b2c3d"},
            "subnetIds",
            "two distinct",
        ),
        ({**NETWORK, "subnetIds": "subnet-0a1b2c3d,sn-1"}, "subnetIds", "'sn-1' is not a subnet"),
        ({"rolloutWaitSeconds": "-1"}, "rolloutWaitSeconds", f"0-{MAX_ROLLOUT_WAIT_SECONDS}"),
        (
            {"rolloutWaitSeconds": str(MAX_ROLLOUT_WAIT_SECONDS + 1)},
            "rolloutWaitSeconds",
            "whole number",
        ),
    ],
)
def test_each_rule_names_its_key(raw: dict[str, str], key: str, rule: str) -> None:
    error = rejected(raw)
    assert error.key == key
    assert rule in error.rule


def test_the_rollout_wait_bounds_come_from_the_deploy_step() -> None:
    wait = str(MAX_ROLLOUT_WAIT_SECONDS)
    assert Settings.from_raw({"rolloutWaitSeconds": wait}).service.rollout_wait_seconds == int(wait)


def test_long_suffixes_are_refused_for_the_load_balancers_names() -> None:
    error = rejected({"environmentSuffix": "a" * 20})
    assert error.key == "environmentSuffix"
    assert "Load balancer name 'pipeline-alb-aaaaaaaaaaaaaaaaaaaa' is 33 characters" in error.rule
    # Without the service there is no load balancer to name.
    none = Settings.from_raw({"environmentSuffix": "a" * 20, "deployTarget": "none"})
    assert none.environment_suffix == "a" * 20
