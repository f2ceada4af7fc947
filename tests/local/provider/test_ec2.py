"""EC2 networking: VPC attributes, gateway attachment, routes, associations, security groups
(the default egress rule the provider removes) and their rules, and adoption by URN tag."""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from tap_cicd.errors import OwnershipError
from tap_cicd.local.provider import HANDLERS, Context, ec2
from tap_cicd.local.provider.engine import ownership_tags
from tap_cicd.local.provider.model import URN_TAG

from .conftest import TAGS, URN, create, delete, update

Inputs = dict[str, Any]
_urns = itertools.count()
Make = Callable[[Context], tuple[Inputs, Inputs | None]]


def made(entry: Any, ctx: Context, inputs: Inputs) -> str:
    """A resource a test needs first (under a URN of its own: AWS-named ones are found by it);
    its id."""
    resource_id: str = HANDLERS[entry.type].create(ctx, f"{URN}-{next(_urns)}", inputs)[0]
    return resource_id


def vpc(ctx: Context) -> str:
    return made(ec2.VPC, ctx, {"cidrBlock": "10.0.0.0/16"})


def subnet(ctx: Context, vpc_id: str, cidr: str = "10.0.1.0/24", zone: str = "a") -> str:
    inputs = {"vpcId": vpc_id, "cidrBlock": cidr, "availabilityZone": f"us-east-1{zone}"}
    return made(ec2.SUBNET, ctx, inputs)


def group(ctx: Context, vpc_id: str, name: str = "tap-sg") -> str:
    return made(ec2.SECURITY_GROUP, ctx, {"name": name, "vpcId": vpc_id})


def _route(ctx: Context) -> tuple[Inputs, Inputs]:
    vpc_id = vpc(ctx)
    table = made(ec2.ROUTE_TABLE, ctx, {"vpcId": vpc_id})
    first, second = (made(ec2.INTERNET_GATEWAY, ctx, {"vpcId": vpc_id}) for _ in range(2))
    inputs = {"routeTableId": table, "destinationCidrBlock": "0.0.0.0/0", "gatewayId": first}
    return inputs, {"gatewayId": second}


def _association(ctx: Context) -> tuple[Inputs, None]:
    vpc_id = vpc(ctx)
    table = made(ec2.ROUTE_TABLE, ctx, {"vpcId": vpc_id})
    return {"subnetId": subnet(ctx, vpc_id), "routeTableId": table}, None


def _rule(ctx: Context) -> tuple[Inputs, Inputs]:
    inputs = {
        "securityGroupId": group(ctx, vpc(ctx)),
        "ipProtocol": "tcp",
        "fromPort": 443.0,
        "toPort": 443.0,
        "cidrIpv4": "0.0.0.0/0",
        "description": "https",
    }
    return inputs, {"description": "changed"}


TABLE: dict[str, tuple[Make, Callable[[Any, Inputs], bool], Callable[[Any], str] | None]] = {
    ec2.VPC.type: (
        lambda _ctx: ({"cidrBlock": "10.0.0.0/16"}, {"enableDnsHostnames": True}),
        lambda found, _change: found["enableDnsHostnames"] is True,
        None,
    ),
    ec2.SUBNET.type: (
        lambda ctx: (
            {"vpcId": vpc(ctx), "cidrBlock": "10.0.1.0/24", "availabilityZone": "us-east-1a"},
            {"mapPublicIpOnLaunch": True},
        ),
        lambda found, _change: found["MapPublicIpOnLaunch"] is True,
        None,
    ),
    ec2.INTERNET_GATEWAY.type: (
        lambda ctx: ({"vpcId": vpc(ctx)}, {"tags": {"Team": "a"}}),
        lambda found, _change: {"Key": "Team", "Value": "a"} in found["Tags"],
        None,
    ),
    ec2.ROUTE_TABLE.type: (
        lambda ctx: ({"vpcId": vpc(ctx)}, {"tags": {"Team": "a"}}),
        lambda found, _change: {"Key": "Team", "Value": "a"} in found["Tags"],
        None,
    ),
    ec2.ROUTE.type: (_route, lambda found, change: found["GatewayId"] == change["gatewayId"], None),
    ec2.ROUTE_TABLE_ASSOCIATION.type: (_association, lambda _found, _change: False, None),
    ec2.SECURITY_GROUP.type: (
        lambda ctx: ({"name": "tap-sg", "vpcId": vpc(ctx)}, {"tags": {"Team": "a"}}),
        lambda found, _change: {"Key": "Team", "Value": "a"} in found["Tags"],
        None,
    ),
    ec2.INGRESS_RULE.type: (_rule, lambda found, _c: found["Description"] == "changed", None),
    ec2.EGRESS_RULE.type: (_rule, lambda found, _c: found["Description"] == "changed", None),
}
"""Rows of the registry table (``test_registry.py``): make, changed, ARN in the read."""


def egress_of(ctx: Context, group_id: str) -> list[Any]:
    found = ctx.clients("ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    rules: list[Any] = found[0]["IpPermissionsEgress"]
    return rules


def test_security_group_loses_the_default_allow_all_egress(ctx: Context) -> None:
    vpc_id = vpc(ctx)
    group_id, outputs = create(ec2.SECURITY_GROUP, ctx, {"name": "tap-sg", "vpcId": vpc_id})
    assert group_id.startswith("sg-")
    assert outputs == {"arn": ctx.arn("ec2", f"security-group/{group_id}")}
    assert egress_of(ctx, group_id) == []
    described = ctx.clients("ec2").describe_security_groups(GroupIds=[group_id])
    assert described["SecurityGroups"][0]["Description"] == "Managed by Pulumi"
    # Adopted by name in its VPC after an interrupted run: no second group.
    again, _ = create(ec2.SECURITY_GROUP, ctx, {"name": "tap-sg", "vpcId": vpc_id, "tags": TAGS})
    assert again == group_id
    assert HANDLERS[ec2.SECURITY_GROUP.type].tags_of(ctx, group_id, {}) == {**TAGS, URN_TAG: URN}


def test_egress_rule_to_all_and_ingress_from_a_group(ctx: Context) -> None:
    vpc_id = vpc(ctx)
    alb, app = group(ctx, vpc_id, "alb"), group(ctx, vpc_id, "app")
    everything = {"securityGroupId": alb, "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"}
    rule_id, outputs = create(ec2.EGRESS_RULE, ctx, everything)
    assert outputs == {"arn": ctx.arn("ec2", f"security-group-rule/{rule_id}")}
    assert egress_of(ctx, alb)[0]["IpProtocol"] == "-1"
    from_alb = {
        "securityGroupId": app,
        "ipProtocol": "tcp",
        "fromPort": 80.0,
        "toPort": 80.0,
        "referencedSecurityGroupId": alb,
    }
    ingress_id, _ = create(ec2.INGRESS_RULE, ctx, from_alb, urn=f"{URN}-ingress")
    found = HANDLERS[ec2.INGRESS_RULE.type].read(ctx, ingress_id, from_alb)
    assert found["ReferencedGroupInfo"]["GroupId"] == alb
    assert (found["FromPort"], found["ToPort"], found["IsEgress"]) == (80, 80, False)
    # The rule carries its URN: an interrupted run's is found again, not authorized twice.
    assert create(ec2.INGRESS_RULE, ctx, from_alb, urn=f"{URN}-ingress")[0] == ingress_id


def test_vpc_attributes_tags_and_adoption_by_urn(ctx: Context) -> None:
    inputs = {"cidrBlock": "10.0.0.0/16", "enableDnsHostnames": True, "tags": TAGS}
    vpc_id, outputs = create(ec2.VPC, ctx, inputs)
    assert outputs == {"arn": ctx.arn("ec2", f"vpc/{vpc_id}")}
    found = HANDLERS[ec2.VPC.type].read(ctx, vpc_id, inputs)
    assert (found["enableDnsSupport"], found["enableDnsHostnames"]) == (True, True)
    assert create(ec2.VPC, ctx, inputs)[0] == vpc_id
    assert len(ctx.clients("ec2").describe_vpcs(Filters=[URN_FILTER])["Vpcs"]) == 1
    update(ec2.VPC, ctx, vpc_id, inputs, {**inputs, "tags": {"Team": "a"}})
    tags = HANDLERS[ec2.VPC.type].tags_of(ctx, vpc_id, {})
    assert tags == {"Team": "a", URN_TAG: URN}
    delete(ec2.VPC, ctx, vpc_id)
    assert HANDLERS[ec2.VPC.type].tags_of(ctx, vpc_id, {}) is None


URN_FILTER = {"Name": f"tag:{URN_TAG}", "Values": [URN]}


def test_adopting_another_stacks_vpc_is_refused(ctx: Context) -> None:
    other = Context(ctx.clients, ctx.account_id, ctx.region, stack="prod")
    mine = Context(ctx.clients, ctx.account_id, ctx.region, stack="dev")
    tagged = {"cidrBlock": "10.0.0.0/16", "tags": ownership_tags("prod", URN)}
    HANDLERS[ec2.VPC.type].create(other, URN, tagged)
    with pytest.raises(OwnershipError, match="belongs to stack 'prod'"):
        HANDLERS[ec2.VPC.type].create(mine, URN, {"cidrBlock": "10.0.0.0/16"})


def test_gateway_moves_to_another_vpc_and_is_detached_before_delete(ctx: Context) -> None:
    first, second = vpc(ctx), made(ec2.VPC, ctx, {"cidrBlock": "10.1.0.0/16"})
    gateway, _ = create(ec2.INTERNET_GATEWAY, ctx, {"vpcId": first})
    assert create(ec2.INTERNET_GATEWAY, ctx, {"vpcId": first})[0] == gateway  # by URN
    update(ec2.INTERNET_GATEWAY, ctx, gateway, {"vpcId": first}, {"vpcId": second})
    found = HANDLERS[ec2.INTERNET_GATEWAY.type].read(ctx, gateway, {})
    assert [a["VpcId"] for a in found["Attachments"]] == [second]
    delete(ec2.INTERNET_GATEWAY, ctx, gateway)
    assert HANDLERS[ec2.INTERNET_GATEWAY.type].read(ctx, gateway, {}) is None


def test_route_id_parent_and_adoption(ctx: Context) -> None:
    inputs, _ = _route(ctx)
    route_id, outputs = create(ec2.ROUTE, ctx, inputs)
    # The provider's id: r-<table><CRC-32 of the destination>.
    assert route_id == f"r-{inputs['routeTableId']}{zlib.crc32(b'0.0.0.0/0')}"
    assert outputs == {}
    parent = HANDLERS[ec2.ROUTE.type].parent
    assert parent is not None
    assert parent(ctx, route_id, inputs) == (ec2.ROUTE_TABLE.type, inputs["routeTableId"])
    assert create(ec2.ROUTE, ctx, inputs)[0] == route_id  # RouteAlreadyExists: adopted


def test_association_is_adopted_and_another_tables_is_not(ctx: Context) -> None:
    inputs, _ = _association(ctx)
    association, _ = create(ec2.ROUTE_TABLE_ASSOCIATION, ctx, inputs)
    assert association.startswith("rtbassoc-")
    assert create(ec2.ROUTE_TABLE_ASSOCIATION, ctx, inputs)[0] == association
    other = {**inputs, "routeTableId": made(ec2.ROUTE_TABLE, ctx, {"vpcId": vpc(ctx)})}
    assert ec2.ROUTE_TABLE_ASSOCIATION.find is not None
    assert ec2.ROUTE_TABLE_ASSOCIATION.find(ctx.ref(ec2.ROUTE_TABLE_ASSOCIATION, other)) is None


def test_a_replacement_does_not_adopt_the_resource_it_replaces(ctx: Context) -> None:
    """Created before the old one is deleted, under the same URN: found by identity too."""
    old_vpc, _ = create(ec2.VPC, ctx, {"cidrBlock": "10.0.0.0/16"})
    new_vpc, _ = create(ec2.VPC, ctx, {"cidrBlock": "10.1.0.0/16"})
    assert new_vpc != old_vpc
    rule = {"ipProtocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrIpv4": "0.0.0.0/0"}
    old_rule, _ = create(ec2.INGRESS_RULE, ctx, {**rule, "securityGroupId": group(ctx, old_vpc)})
    new_rule, _ = create(ec2.INGRESS_RULE, ctx, {**rule, "securityGroupId": group(ctx, new_vpc)})
    assert new_rule != old_rule
