"""EC2 networking: the VPC, its subnets, gateway, route table and security groups.

AWS names them (``vpc-...``): an interrupted run's is found again by its ``tap:urn`` tag. EC2's
DeleteTags takes ``[{"Key": k}]``, which ``Tags`` does not cover: tags are an update step here."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from tap_cicd.local.provider.model import (
    ANY,
    ID,
    URN_TAG,
    Call,
    Ref,
    ResourceType,
    Step,
    Update,
    given,
    part_of,
)

Params = Callable[[Ref], Mapping[str, Any]]
_IDS: Callable[[Ref], list[str]] = lambda ref: [ref.id]  # noqa: E731 - a parameter, as data


def _pairs(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _snake(noun: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", noun).lower()


def optional(**names: str) -> Params:
    """API parameters (by name) from the inputs (by value) the program set."""
    return lambda ref: {api: ref.inputs[i] for api, i in names.items() if ref.inputs.get(i)}


def tag_specs(kind: str, more: Params | None = None) -> Params:
    """The create call's tags, with the URN that finds it again (and ``more`` parameters)."""

    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_TagSpecification.html
    def params(ref: Ref) -> dict[str, Any]:
        tags = {**(ref.inputs.get("tags") or {}), URN_TAG: ref.urn}
        specs = [{"ResourceType": kind, "Tags": _pairs(tags)}]
        return {**(more(ref) if more is not None else {}), "TagSpecifications": specs}

    return params


def created(noun: str, *, more: Params | None = None, **fields: Any) -> Call:
    """``Create<noun>``, tagged on create, answering the new ``<noun>Id``."""
    kind = _snake(noun).replace("_", "-")
    answer = Call(f"create_{_snake(noun)}", tag_specs(kind, more), **fields)
    answer.result = lambda _ref, response: str(response[noun][f"{noun}Id"])
    return answer


def described(operation: str, ids: str, key: str) -> Call:
    """The one resource a Describe* call answers for the id (a not-found error when gone)."""
    fields: dict[str, Any] = {ids: _IDS}
    return Call(operation, result=lambda _ref, answer: (answer.get(key) or [None])[0], **fields)


def tags_in(read: Step) -> Step:
    """Tags as EC2's describe calls carry them; ``None`` when the resource is gone."""

    def tags(ref: Ref) -> dict[str, str] | None:
        found = read(ref)
        return None if found is None else {t["Key"]: t["Value"] for t in found.get("Tags") or []}

    return tags


def _retag(ref: Ref) -> None:
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteTags.html
    assert ref.type.read_tags is not None  # noqa: S101 - every tagged EC2 entry reads them
    current = ref.type.read_tags(ref) or {}
    wanted = dict(ref.inputs.get("tags") or {})
    keep = {URN_TAG, *wanted}  # the URN tag is the deployer's, set at create
    if stale := [{"Key": k} for k in current if k not in keep and not k.startswith("aws:")]:
        ref.call("delete_tags", Resources=[ref.id], Tags=stale)
    if any(current.get(k) != v for k, v in wanted.items()):
        ref.call("create_tags", Resources=[ref.id], Tags=_pairs(wanted))


RETAG = Update(("tags",), _retag)


def tagged(noun: str, group: str = "", *match: tuple[str, str]) -> dict[str, Any]:
    """What every tagged EC2 entry shares: AWS's id (``<noun>Id``), found again by its URN
    tag and the (filter, input) pairs ``match`` (a replacement's old one has that URN), read
    by ``Describe<group><noun>s``, its tags and its ARN."""
    describe, plural, id_key = f"describe_{_snake(group + noun)}s", f"{group}{noun}s", f"{noun}Id"
    read = described(describe, f"{noun}Ids", plural)
    kind = _snake(group + noun).replace("_", "-")

    def find(ref: Ref) -> str | None:
        wanted = {f"tag:{URN_TAG}": ref.urn, **{f: ref.inputs.get(i) for f, i in match}}
        by = [{"Name": k, "Values": [str(v)]} for k, v in wanted.items() if v is not None]
        found = ref.call(describe, Filters=by)[plural]
        return str(found[0][id_key]) if found else None

    return {
        "service": "ec2",
        "id": None,
        "find": find,
        "read": read,
        "read_tags": tags_in(read),
        "outputs": lambda ref: {"arn": ref.arn("ec2", f"{kind}/{ref.id}")},
    }


def _attribute(name: str, default: bool, call: str, **target: Any) -> Update:
    """One boolean attribute: the create call cannot set it, Modify*Attribute sets one a call."""
    value = given(name, default, lambda v: {"Value": bool(v)})
    api = name[0].upper() + name[1:]
    fields: dict[str, Any] = {**target, api: value}
    return Update((name,), Call(call, **fields), after_create=True)


def _read_vpc(ref: Ref) -> Any:
    found = described("describe_vpcs", "VpcIds", "Vpcs")(ref)
    for api in ("enableDnsSupport", "enableDnsHostnames"):
        answer = ref.call("describe_vpc_attribute", VpcId=ref.id, Attribute=api)
        found[api] = answer[api[0].upper() + api[1:]]["Value"]
    return found


_vpc_tags = tags_in(_read_vpc)
VPC = ResourceType(
    type="aws:ec2/vpc:Vpc",
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVpcs.html (cidr)
    **{**tagged("Vpc", "", ("cidr", "cidrBlock")), "read": _read_vpc, "read_tags": _vpc_tags},
    create=created("Vpc", CidrBlock=given("cidrBlock")),
    updates=(
        # AWS's defaults (not the default VPC): resolution on, hostnames off; one a call.
        # https://docs.aws.amazon.com/vpc/latest/userguide/AmazonDNS-concepts.html#vpc-dns-support
        _attribute("enableDnsSupport", True, "modify_vpc_attribute", VpcId=ID),
        _attribute("enableDnsHostnames", False, "modify_vpc_attribute", VpcId=ID),
        RETAG,
    ),
    delete=Call("delete_vpc", VpcId=ID),
    replace_on=("cidrBlock",),
)

SUBNET = ResourceType(
    type="aws:ec2/subnet:Subnet",
    **tagged("Subnet", "", ("vpc-id", "vpcId"), ("cidr-block", "cidrBlock")),
    create=created(
        "Subnet",
        more=optional(AvailabilityZone="availabilityZone"),
        VpcId=given("vpcId"),
        CidrBlock=given("cidrBlock"),
    ),
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySubnetAttribute.html
    updates=(
        _attribute("mapPublicIpOnLaunch", False, "modify_subnet_attribute", SubnetId=ID),
        RETAG,
    ),
    delete=Call("delete_subnet", SubnetId=ID),
    replace_on=("vpcId", "cidrBlock", "availabilityZone"),
)


def _attachments(ref: Ref) -> list[str]:
    found = INTERNET_GATEWAY.read(ref)
    return [a["VpcId"] for a in found.get("Attachments", [])]


def _attach(ref: Ref) -> None:
    """A gateway is attached to at most one VPC: detach the old one, attach the new one."""
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AttachInternetGateway.html
    wanted = ref.inputs.get("vpcId")
    for vpc in _attachments(ref):
        if vpc != wanted:
            ref.call("detach_internet_gateway", InternetGatewayId=ref.id, VpcId=vpc)
    if wanted and wanted not in _attachments(ref):
        ref.call("attach_internet_gateway", InternetGatewayId=ref.id, VpcId=wanted)


def _delete_gateway(ref: Ref) -> None:
    # DeleteInternetGateway refuses a gateway still attached (DependencyViolation).
    _attach(replace(ref, inputs={}))
    ref.call("delete_internet_gateway", InternetGatewayId=ref.id)


INTERNET_GATEWAY = ResourceType(
    type="aws:ec2/internetGateway:InternetGateway",
    **tagged("InternetGateway"),
    create=created("InternetGateway"),
    updates=(Update(("vpcId",), _attach, after_create=True), RETAG),
    delete=_delete_gateway,
)

ROUTE_TABLE = ResourceType(
    type="aws:ec2/routeTable:RouteTable",
    **tagged("RouteTable", "", ("vpc-id", "vpcId")),
    create=created("RouteTable", VpcId=given("vpcId")),
    # Each Route and association is a resource of its own (inline ``routes`` are not sent).
    volatile=("Routes", "Associations"),
    updates=(RETAG,),
    delete=Call("delete_route_table", RouteTableId=ID),
    replace_on=("vpcId",),
)

_route_fields: dict[str, Any] = {"RouteTableId": given("routeTableId")}
_route_fields["DestinationCidrBlock"] = given("destinationCidrBlock")
_target = optional(GatewayId="gatewayId", NatGatewayId="natGatewayId")


def _route_id(ref: Ref) -> str:
    # The provider's id: "r-" + table id + the CRC-32 of the destination (Terraform's
    # create.StringHashcode); routes have no id of their own in EC2.
    destination = str(ref.inputs["destinationCidrBlock"])
    return f"r-{ref.inputs['routeTableId']}{zlib.crc32(destination.encode())}"


def _read_route(ref: Ref) -> Any:
    table = ref.call("describe_route_tables", RouteTableIds=[ref.inputs["routeTableId"]])
    routes = table["RouteTables"][0]["Routes"]
    wanted = ref.inputs["destinationCidrBlock"]
    return next((r for r in routes if r.get("DestinationCidrBlock") == wanted), None)


ROUTE = ResourceType(
    type="aws:ec2/route:Route",
    service="ec2",
    id=_route_id,
    create=Call("create_route", _target, **_route_fields),
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateRoute.html
    exists=("RouteAlreadyExists",),
    read=_read_route,
    belongs_to=part_of(ROUTE_TABLE.type, "routeTableId"),
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ReplaceRoute.html
    updates=(
        Update(("gatewayId", "natGatewayId"), Call("replace_route", _target, **_route_fields)),
    ),
    delete=Call("delete_route", **_route_fields),
    replace_on=("routeTableId", "destinationCidrBlock"),
)


def _associations(ref: Ref, name: str, value: str) -> list[dict[str, Any]]:
    """The route table associations one ``association.<name>`` filter finds."""
    by = [{"Name": f"association.{name}", "Values": [value]}]
    tables = ref.call("describe_route_tables", Filters=by)["RouteTables"]
    return [a for table in tables for a in table.get("Associations", [])]


def _find_association(ref: Ref) -> str | None:
    """A subnet has one route table association: the one it has, if it is with this table."""
    subnet, table = ref.inputs["subnetId"], ref.inputs["routeTableId"]
    found = _associations(ref, "subnet-id", subnet)
    mine = (a for a in found if a.get("SubnetId") == subnet and a["RouteTableId"] == table)
    return next((str(a["RouteTableAssociationId"]) for a in mine), None)


def _read_association(ref: Ref) -> Any:
    found = _associations(ref, "route-table-association-id", ref.id)
    return next((a for a in found if a["RouteTableAssociationId"] == ref.id), None)


ROUTE_TABLE_ASSOCIATION = ResourceType(
    type="aws:ec2/routeTableAssociation:RouteTableAssociation",
    service="ec2",
    id=None,
    find=_find_association,
    create=Call(
        "associate_route_table",
        SubnetId=given("subnetId"),
        RouteTableId=given("routeTableId"),
        result=lambda _ref, answer: str(answer["AssociationId"]),
    ),
    read=_read_association,
    belongs_to=part_of(ROUTE_TABLE.type, "routeTableId"),
    delete=Call("disassociate_route_table", AssociationId=ID),
    # ReplaceRouteTableAssociation answers a new association id, and a subnet takes one
    # association: a change disassociates first, as the provider's replacement does.
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ReplaceRouteTableAssociation.html
    recreate_on=("subnetId", "routeTableId"),
)

ALL_TRAFFIC = {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
"""The egress rule AWS gives every new security group in a VPC.
https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html#default-security-group-rules"""


def _without_default_egress(ref: Ref, answer: Any) -> str:
    # The provider removes AWS's allow-all egress rule from every group it creates: egress
    # is what the program's rules say. (pulumi-aws SecurityGroup, "NOTE on Egress rules":
    # https://www.pulumi.com/registry/packages/aws/api-docs/ec2/securitygroup/)
    group = str(answer["GroupId"])
    ref.call("revoke_security_group_egress", GroupId=group, IpPermissions=[ALL_TRAFFIC])
    return group


def _find_group(ref: Ref) -> str | None:
    """Group names are unique in a VPC: the one an interrupted run created has this name."""
    named = {"group-name": ref.inputs["name"], "vpc-id": ref.inputs["vpcId"]}
    by = [{"Name": k, "Values": [v]} for k, v in named.items()]
    found = ref.call("describe_security_groups", Filters=by)["SecurityGroups"]
    return str(found[0]["GroupId"]) if found else None


SECURITY_GROUP = ResourceType(
    type="aws:ec2/securityGroup:SecurityGroup",
    **{**tagged("Group", "Security"), "find": _find_group},
    create=Call(
        "create_security_group",
        tag_specs("security-group"),
        GroupName=given("name"),
        Description=given("description", "Managed by Pulumi"),  # the provider's default
        VpcId=given("vpcId"),
        result=_without_default_egress,
    ),
    # The rule resources own the rules: a rule change is not drift of the group.
    volatile=("IpPermissions", "IpPermissionsEgress"),
    updates=(RETAG,),
    delete=Call("delete_security_group", GroupId=ID),
    replace_on=("name", "vpcId"),
    # Same name, same VPC: the old group must go first (names are unique in a VPC).
    recreate_on=("description",),
)

_PEERS = {
    "cidrIpv4": ("CidrIpv4", "IpRanges", "CidrIp"),
    "cidrIpv6": ("CidrIpv6", "Ipv6Ranges", "CidrIpv6"),
    "prefixListId": ("PrefixListId", "PrefixListIds", "PrefixListId"),
    "referencedSecurityGroupId": ("ReferencedGroupId", "UserIdGroupPairs", "GroupId"),
}
"""Each peer a rule can name: its input, its rule field, where an IpPermission holds it."""
_RULE_FIELDS = optional(Description="description", **{api: k for k, (api, _, _) in _PEERS.items()})


def _rule(ref: Ref) -> dict[str, Any]:
    """The SecurityGroupRuleRequest of a vpc.SecurityGroup*Rule's inputs.
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_SecurityGroupRuleRequest.html"""
    inputs = ref.inputs
    rule: dict[str, Any] = {"IpProtocol": str(inputs["ipProtocol"])}
    # Protocol -1 (all) covers every port: AWS answers -1 for both.
    rule["FromPort"] = int(inputs.get("fromPort", -1)) if rule["IpProtocol"] != "-1" else -1
    rule["ToPort"] = int(inputs.get("toPort", -1)) if rule["IpProtocol"] != "-1" else -1
    return {**rule, **_RULE_FIELDS(ref)}


def _permission(ref: Ref) -> dict[str, Any]:
    """The same rule as an IpPermission, the shape Authorize* takes."""
    rule = _rule(ref)
    peer = {"Description": rule["Description"]} if "Description" in rule else {}
    permission = {k: rule[k] for k in ("IpProtocol", "FromPort", "ToPort")}
    for field, key, name in _PEERS.values():
        if field in rule:
            permission[key] = [{name: rule[field], **peer}]
    return permission


# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySecurityGroupRules.html
_MODIFY_RULE = Call(
    "modify_security_group_rules",
    GroupId=given("securityGroupId"),
    SecurityGroupRules=lambda ref: [
        {"SecurityGroupRuleId": ref.id, "SecurityGroupRule": _rule(ref)}
    ],
)


def _security_group_rule(token: str, direction: str) -> ResourceType:
    """``aws:vpc/securityGroup{Ingress,Egress}Rule``: one rule, its own id (``sgr-...``)."""
    group = given("securityGroupId")
    return ResourceType(
        type=token,
        **tagged("SecurityGroupRule", "", ("group-id", "securityGroupId")),
        create=Call(
            f"authorize_security_group_{direction}",
            tag_specs("security-group-rule"),
            GroupId=group,
            IpPermissions=lambda ref: [_permission(ref)],
            result=lambda _ref, answer: answer["SecurityGroupRules"][0]["SecurityGroupRuleId"],
        ),
        updates=(Update((ANY,), _MODIFY_RULE), RETAG),
        delete=Call(f"revoke_security_group_{direction}", GroupId=group, SecurityGroupRuleIds=_IDS),
        # Revoked already: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
        gone=("InvalidPermission.NotFound",),
        replace_on=("securityGroupId",),
    )


_RULE_TYPE = "aws:vpc/securityGroup{0}Rule:SecurityGroup{0}Rule"
INGRESS_RULE = _security_group_rule(_RULE_TYPE.format("Ingress"), "ingress")
EGRESS_RULE = _security_group_rule(_RULE_TYPE.format("Egress"), "egress")

TYPES: tuple[ResourceType, ...] = (VPC, SUBNET, INTERNET_GATEWAY, ROUTE_TABLE, ROUTE)
TYPES += (ROUTE_TABLE_ASSOCIATION, SECURITY_GROUP, INGRESS_RULE, EGRESS_RULE)
