# One weakening per line: the rule, the change and the expected message read as a table.
"""Network rules (TAP-NET-*): each weakening of the service stack fails with its message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tap_cicd.policy import network
from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import Resource
from tap_cicd.policy.network import Ingress, ingress_of

from .stacks import Stack, assert_compliant_passes, assert_weakened_fails, case_id, failures
from .test_ecs_rules import ALB_SG, TASK_SG, service_stack

__all__ = ["service_stack"]  # the fixture, shared with the ECS tests

Weaken = Callable[[Stack], Any]
ONLY_LB = "only a load balancer's security group may take traffic from anywhere, and only on TCP 80 or 443"


def _inline(name: str, **rule: Any) -> Weaken:
    return lambda s: s.props(name)["ingress"].append(rule)


def _standalone(name: str, group: str, **rule: Any) -> Weaken:
    return lambda s: s.add(t.INGRESS_RULE, name, securityGroupId=group, **rule)


def _legacy(name: str, group: str, **rule: Any) -> Weaken:
    return lambda s: s.add(
        t.SECURITY_GROUP_RULE, name, type="ingress", securityGroupId=group, **rule
    )


NON_COMPLIANT: list[tuple[str, Weaken, str]] = [
    ("TAP-NET-001", _standalone("alb-ssh", ALB_SG, ipProtocol="tcp", fromPort=22, toPort=22, cidrIpv4="0.0.0.0/0"), f"ingress of tcp 22 from 0.0.0.0/0: {ONLY_LB}"),
    ("TAP-NET-001", _standalone("alb-range", ALB_SG, ipProtocol="tcp", fromPort=80, toPort=443, cidrIpv4="0.0.0.0/0"), "ingress of tcp 80-443 from 0.0.0.0/0"),
    ("TAP-NET-001", _standalone("alb-udp", ALB_SG, ipProtocol="udp", fromPort=443, toPort=443, cidrIpv6="::/0"), "ingress of udp 443 from ::/0"),
    ("TAP-NET-001", _standalone("task-web", TASK_SG, ipProtocol="tcp", fromPort=443, toPort=443, cidrIpv4="0.0.0.0/0"), "ingress of tcp 443 from 0.0.0.0/0"),
    ("TAP-NET-001", _inline("task-sg", protocol="tcp", fromPort=8080, toPort=8080, cidrBlocks=["0.0.0.0/0"]), "ingress of tcp 8080 from 0.0.0.0/0"),
    ("TAP-NET-001", _inline("task-sg", protocol="6", fromPort=80, toPort=80, ipv6CidrBlocks=["::/0"]), "ingress of tcp 80 from ::/0"),
    ("TAP-NET-001", _legacy("alb-legacy", ALB_SG, protocol="tcp", fromPort=8443, toPort=8443, cidrBlocks=["0.0.0.0/0"]), "ingress of tcp 8443 from 0.0.0.0/0"),
    ("TAP-NET-001", _standalone("stray", "sg-elsewhere", ipProtocol="tcp", fromPort=443, toPort=443, cidrIpv4="0.0.0.0/0"), "ingress of tcp 443 from 0.0.0.0/0"),
    ("TAP-NET-001", lambda s: s.set("alb", "securityGroups", []), f"ingress of tcp 80 from 0.0.0.0/0: {ONLY_LB}"),
    ("TAP-NET-002", _standalone("alb-all", ALB_SG, ipProtocol="-1", cidrIpv4="10.0.0.0/8"), "ingress of all traffic from 10.0.0.0/8"),
    ("TAP-NET-002", _inline("task-sg", protocol="all", fromPort=0, toPort=0, cidrBlocks=["10.0.0.0/16"]), "ingress of all traffic from 10.0.0.0/16"),
    ("TAP-NET-002", _inline("task-sg", protocol="tcp", fromPort=0, toPort=65535, cidrBlocks=["10.0.0.0/16"]), "ingress of tcp 0-65535 from 10.0.0.0/16"),
    ("TAP-NET-002", _legacy("task-legacy", TASK_SG, protocol="udp", fromPort=0, toPort=65535, prefixListIds=["pl-1"]), "ingress of udp 0-65535 from pl-1"),
    ("TAP-NET-003", lambda s: s.set("subnet-a", "mapPublicIpOnLaunch", True), "mapPublicIpOnLaunch is on"),
]  # fmt: skip

COMPLIANT: list[tuple[str, Weaken]] = [
    # All traffic between the service's own groups names no address range.
    ("TAP-NET-002", _inline("task-sg", protocol="-1", fromPort=0, toPort=0, self=True)),
    ("TAP-NET-002", _inline("task-sg", protocol="tcp", fromPort=1024, toPort=65535, cidrBlocks=["10.0.0.0/16"])),
    ("TAP-NET-002", lambda s: s.add(t.SECURITY_GROUP_RULE, "task-out", type="egress", securityGroupId=TASK_SG, protocol="-1", cidrBlocks=["0.0.0.0/0"])),
    ("TAP-NET-001", _standalone("alb-https-pl", ALB_SG, ipProtocol="tcp", fromPort=443, toPort=443, prefixListId="pl-1")),
    ("TAP-NET-001", _inline("alb-sg", protocol="tcp", fromPort=443, toPort=443, cidrBlocks=["0.0.0.0/0"])),
    ("TAP-NET-003", lambda s: s.delete("subnet-a", "mapPublicIpOnLaunch")),
]  # fmt: skip


@pytest.mark.parametrize("case", NON_COMPLIANT, ids=case_id)
def test_weakened_network_fails_with_the_rule_and_its_message(
    service_stack: Stack, case: tuple[str, Weaken, str]
) -> None:
    assert_weakened_fails(service_stack, case)


@pytest.mark.parametrize("case", COMPLIANT, ids=case_id)
def test_compliant_variant_passes(service_stack: Stack, case: tuple[str, Weaken]) -> None:
    assert_compliant_passes(service_stack, case)


def test_every_network_rule_has_a_non_compliant_case() -> None:
    assert {r.id for r in network.rules.rules} == {rule_id for rule_id, _, _ in NON_COMPLIANT}


def test_egress_rules_and_other_types_carry_no_ingress() -> None:
    assert ingress_of(t.SECURITY_GROUP_RULE, {"type": "egress", "cidrBlocks": ["0.0.0.0/0"]}) == []
    assert ingress_of(t.EGRESS_RULE, {"ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"}) == []


@pytest.mark.parametrize(
    ("rule", "shown", "every_port"),
    [
        (Ingress("-1", None, None, (), (), (), None), "all traffic", True),
        (Ingress("tcp", 443, 443, (), (), (), None), "tcp 443", False),
        (Ingress("tcp", None, None, (), (), (), None), "tcp on every port", True),
        (Ingress("icmp", -1, -1, (), (), (), None), "icmp -1", False),
    ],
)
def test_ingress_describes_its_ports(rule: Ingress, shown: str, every_port: bool) -> None:
    assert rule.describe() == shown
    assert rule.every_port() is every_port


def test_only_zero_length_prefixes_are_the_world() -> None:
    rule = Ingress(
        "tcp", 443, 443, ("0.0.0.0/0", "::/0", "10.0.0.0/8", "pl-not-a-cidr"), (), (), None
    )
    assert rule.world() == ["0.0.0.0/0", "::/0"]


def test_a_group_is_known_by_the_id_its_arn_ends_with(service_stack: Stack) -> None:
    # The offline graph (and a stack policy) may carry a group's ARN but not its id.
    arn = f"arn:aws:ec2:us-east-1:123456789012:security-group/{TASK_SG}"
    service_stack.resources = [
        Resource(r.urn, r.type, r.name, r.props, {"arn": arn}) if r.name.endswith("task-sg") else r
        for r in service_stack.resources
    ]
    assert failures(service_stack.results(exemptions=()), "TAP-ECS-009") == []
    _standalone(
        "task-open", TASK_SG, ipProtocol="tcp", fromPort=8080, toPort=8080, cidrIpv4="0.0.0.0/0"
    )(service_stack)
    assert failures(service_stack.results(exemptions=()), "TAP-ECS-009") == [
        f"task security group {TASK_SG} takes tcp 8080 from 0.0.0.0/0 (rule in tap-cicd-task-open)"
    ]
