"""Network: security groups open only what the service needs, subnets hand out no addresses.

An ingress rule can live in three places: inline in a security group's ``ingress`` list, in a
``SecurityGroupIngressRule`` (the provider's current resource) or in a legacy
``SecurityGroupRule`` of type ingress. The rules read all three the same way, so moving a rule
out of the group does not move it out of sight.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import Props, Registry, Resource, as_list, of_type

rules = Registry("network")

INGRESS_TYPES = (t.SECURITY_GROUP, t.INGRESS_RULE, t.SECURITY_GROUP_RULE)
"""Every resource type that can carry an ingress rule."""
ALL_PROTOCOLS = "-1"
# IANA protocol numbers EC2 accepts in place of the names; "all" is the provider's alias of -1.
PROTOCOL_NAMES = {"all": ALL_PROTOCOLS, "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
WEB_PORTS = (80, 443)
"""The ports a load balancer's group may take from anywhere (EC2.18's default authorized ports)."""
LAST_PORT = 65535


@dataclass(frozen=True)
class Ingress:
    """One ingress rule, whichever resource carries it."""

    protocol: str
    """Lower-cased name (``tcp``), or ``-1`` for every protocol."""
    from_port: int | None
    to_port: int | None
    cidrs: tuple[str, ...]
    """IPv4 and IPv6 ranges the rule admits."""
    prefix_lists: tuple[str, ...]
    groups: tuple[str, ...]
    """Source security groups (``self`` for the group itself)."""
    target: str | None
    """The group a standalone rule opens (``securityGroupId``); None for an inline rule."""

    def describe(self) -> str:
        """``all traffic``, ``tcp 443`` or ``tcp 1024-2048``."""
        if self.protocol == ALL_PROTOCOLS:
            return "all traffic"
        if self.from_port is None and self.to_port is None:
            return f"{self.protocol} on every port"
        if self.from_port == self.to_port:
            return f"{self.protocol} {self.from_port}"
        return f"{self.protocol} {self.from_port}-{self.to_port}"

    def world(self) -> list[str]:
        """The ranges that admit every address (``0.0.0.0/0``, ``::/0``)."""
        return [c for c in self.cidrs if _prefix_length(c) == 0]

    def every_port(self) -> bool:
        """All protocols, or TCP/UDP on every port."""
        if self.protocol == ALL_PROTOCOLS:
            return True
        return (
            self.protocol in ("tcp", "udp")
            and (self.from_port or 0) <= 0
            and (self.to_port if self.to_port is not None else LAST_PORT) >= LAST_PORT
        )

    def web_only(self) -> bool:
        """TCP on exactly port 80 or exactly port 443."""
        return (
            self.protocol == "tcp" and self.from_port == self.to_port and self.to_port in WEB_PORTS
        )


def _prefix_length(cidr: str) -> int | None:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen
    except ValueError:
        return None


def _protocol(value: Any) -> str:
    name = str(value).lower()
    return PROTOCOL_NAMES.get(name, name)


def _port(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def _strings(*values: Any) -> tuple[str, ...]:
    return tuple(str(v) for value in values for v in as_list(value) if v)


def ingress_of(typ: str, props: Props) -> list[Ingress]:
    """The ingress rules one resource carries (none for types that carry none)."""
    if typ == t.SECURITY_GROUP:
        return [
            Ingress(
                _protocol(r.get("protocol")),
                _port(r.get("fromPort")),
                _port(r.get("toPort")),
                _strings(r.get("cidrBlocks"), r.get("ipv6CidrBlocks")),
                _strings(r.get("prefixListIds")),
                _strings(r.get("securityGroups"), "self" if r.get("self") is True else None),
                None,
            )
            for r in as_list(props.get("ingress"))
        ]
    if typ == t.INGRESS_RULE:
        return [
            Ingress(
                _protocol(props.get("ipProtocol")),
                _port(props.get("fromPort")),
                _port(props.get("toPort")),
                _strings(props.get("cidrIpv4"), props.get("cidrIpv6")),
                _strings(props.get("prefixListId")),
                _strings(props.get("referencedSecurityGroupId")),
                str(props.get("securityGroupId")),
            )
        ]
    if typ == t.SECURITY_GROUP_RULE and props.get("type") == "ingress":
        return [
            Ingress(
                _protocol(props.get("protocol")),
                _port(props.get("fromPort")),
                _port(props.get("toPort")),
                _strings(props.get("cidrBlocks"), props.get("ipv6CidrBlocks")),
                _strings(props.get("prefixListIds")),
                _strings(
                    props.get("sourceSecurityGroupId"),
                    "self" if props.get("self") is True else None,
                ),
                str(props.get("securityGroupId")),
            )
        ]
    return []


def group_ids(group: Resource) -> set[str]:
    """What refers to a security group: its identifiers, and the id its ARN ends with."""
    # EC2 ARNs end in <type>/<id> (arn:aws:ec2:<region>:<account>:security-group/sg-...), and
    # the id is what other resources name a group by; not every source lists it as an output.
    arn = group.outputs.get("arn") or group.props.get("arn")
    return group.identifiers() | ({str(arn).rsplit("/", 1)[-1]} if arn else set())


def groups_named(resources: Sequence[Resource], ids: Iterable[str]) -> list[Resource]:
    """The security groups of the stack that ``ids`` refer to."""
    wanted = set(ids)
    return [g for g in of_type(resources, t.SECURITY_GROUP) if group_ids(g) & wanted]


def target_ids(resources: Sequence[Resource], carrier: Resource, rule: Ingress) -> set[str]:
    """Every identifier of the group ``rule`` opens (the carrier itself for an inline rule)."""
    if rule.target is None:
        return group_ids(carrier)
    return {rule.target}.union(*(group_ids(g) for g in groups_named(resources, [rule.target])))


def ingress_into(resources: Sequence[Resource], group: Resource) -> list[tuple[Resource, Ingress]]:
    """Every ingress rule that opens ``group``, with the resource that carries it."""
    ids = group_ids(group)
    return [
        (carrier, rule)
        for carrier in of_type(resources, *INGRESS_TYPES)
        for rule in ingress_of(carrier.type, carrier.props)
        if (carrier is group and rule.target is None) or rule.target in ids
    ]


def load_balancer_groups(resources: Sequence[Resource]) -> set[str]:
    """The security groups the stack's load balancers use."""
    return {
        str(g)
        for lb in of_type(resources, t.LOAD_BALANCER)
        for g in as_list(lb.props.get("securityGroups"))
    }


# https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-18 (authorized
# ports default to 80 and 443); the ALB is the only thing the internet may reach.
@rules.stack(
    "TAP-NET-001",
    "Only the load balancer faces the internet, and only on 80 and 443; the tasks take traffic "
    "from the load balancer alone.",
    ("FSBP EC2.18", "FSBP EC2.19"),
    *INGRESS_TYPES,
)
def world_ingress_only_to_the_load_balancer(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """Ingress from 0.0.0.0/0 or ::/0 only into a load balancer's group, on TCP 80 or 443."""
    balancers = load_balancer_groups(resources)
    problems = []
    for carrier in of_type(resources, *INGRESS_TYPES):
        for rule in ingress_of(carrier.type, carrier.props):
            for cidr in rule.world():
                if rule.web_only() and target_ids(resources, carrier, rule) & balancers:
                    continue
                problems.append(
                    (
                        carrier.urn,
                        f"ingress of {rule.describe()} from {cidr}: only a load balancer's "
                        "security group may take traffic from anywhere, and only on TCP 80 or 443",
                    )
                )
    return problems


# https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html (-1: all protocols,
# every port); checkov CKV_AWS_277 (SecurityGroupUnrestrictedIngressAll).
@rules.resource(
    "TAP-NET-002",
    "A rule that admits every port and protocol from an address range opens services nobody "
    "meant to expose.",
    ("CKV_AWS_277",),
    *INGRESS_TYPES,
)
def no_all_traffic_from_addresses(typ: str, props: Props) -> list[str]:
    """No ingress of all protocols (-1), or TCP/UDP 0-65535, from a CIDR or prefix list."""
    return [
        f"ingress of {rule.describe()} from {', '.join(rule.cidrs + rule.prefix_lists)}"
        for rule in ingress_of(typ, props)
        if rule.every_port() and (rule.cidrs or rule.prefix_lists)
    ]


# https://docs.aws.amazon.com/securityhub/latest/userguide/ec2-controls.html#ec2-15; a Fargate
# task's public address comes from the service's assignPublicIp, not from the subnet.
@rules.resource(
    "TAP-NET-003",
    "A subnet that gives every interface a public address exposes whatever is launched into it.",
    ("FSBP EC2.15",),
    t.SUBNET,
    level="advisory",
)
def no_public_addresses_on_launch(_: str, props: Props) -> list[str]:
    """``mapPublicIpOnLaunch`` off."""
    return ["mapPublicIpOnLaunch is on"] if props.get("mapPublicIpOnLaunch") is True else []
