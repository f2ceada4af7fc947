"""The service's network: a small public VPC, or the one the settings name."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from tap_cicd.pipeline._context import Context

RESOURCE_TYPE = "tap:cicd:Network"
VPC_CIDR = "10.0.0.0/16"
SUBNET_CIDRS = ("10.0.0.0/24", "10.0.1.0/24")
"""One public subnet per AZ, in two AZs: an ALB needs two."""
ZONE_SUFFIXES = ("a", "b")


@dataclass(frozen=True)
class NetworkArgs:
    """Inputs of the network component."""

    context: Context


@dataclass(frozen=True)
class Placement:
    """Where the load balancer and the tasks run."""

    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]


def placement(ctx: Context, name: str) -> Placement:
    """The configured network (``vpcId`` + ``subnetIds``), else a new ``Network``."""
    service = ctx.settings.service
    if service.vpc_id:
        return Placement(service.vpc_id, list(service.subnet_ids))
    network = Network(name, NetworkArgs(ctx), ctx.component())
    return Placement(network.vpc_id, network.subnet_ids)


class Network(pulumi.ComponentResource):
    """A VPC with two public subnets in two AZs, an internet gateway and a default route.

    No NAT gateway: the tasks get public IPs to pull their image and write their logs, and
    accept traffic only from the load balancer's security group.
    """

    vpc_id: pulumi.Output[str]
    """The VPC."""
    subnet_ids: list[pulumi.Input[str]]
    """The public subnets, one per AZ."""

    def __init__(
        self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        ctx = args.context.within(self)
        naming = ctx.naming
        zones = aws.get_availability_zones_output(
            state="available", opts=pulumi.InvokeOutputOptions(parent=self)
        ).names
        vpc = aws.ec2.Vpc(
            f"{ctx.base}-vpc",
            cidr_block=VPC_CIDR,
            # The tasks resolve the ECR and CloudWatch Logs endpoints through the VPC resolver.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={**ctx.tags, "Name": naming.network("vpc")},
            opts=ctx.opts(),
        )
        gateway = aws.ec2.InternetGateway(
            f"{ctx.base}-igw",
            vpc_id=vpc.id,
            tags={**ctx.tags, "Name": naming.network("igw")},
            opts=ctx.opts(),
        )
        table = aws.ec2.RouteTable(
            f"{ctx.base}-public-routes",
            vpc_id=vpc.id,
            tags={**ctx.tags, "Name": naming.network("public-routes")},
            opts=ctx.opts(),
        )
        aws.ec2.Route(
            f"{ctx.base}-default-route",
            route_table_id=table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
            opts=ctx.opts(),
        )
        self.subnet_ids = []
        for index, (suffix, cidr) in enumerate(zip(ZONE_SUFFIXES, SUBNET_CIDRS, strict=True)):
            subnet = aws.ec2.Subnet(
                f"{ctx.base}-public-{suffix}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zones[index],
                # Public IPs only where asked for (the service's tasks), never by default.
                map_public_ip_on_launch=False,
                tags={**ctx.tags, "Name": naming.network(f"public-{suffix}")},
                opts=ctx.opts(),
            )
            aws.ec2.RouteTableAssociation(
                f"{ctx.base}-public-{suffix}-routes",
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=ctx.opts(),
            )
            self.subnet_ids.append(subnet.id)
        self.vpc_id = vpc.id
        self.register_outputs({"vpcId": self.vpc_id})
