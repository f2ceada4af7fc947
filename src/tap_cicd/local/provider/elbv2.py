"""Elastic Load Balancing v2: the application load balancer, its target group and listeners.

AWS names all three by ARN, with a hash it generates (``app/<name>/<hash>``): an interrupted
run's is found again by its name (a listener: by its load balancer and port).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tap_cicd.local import quirks
from tap_cicd.local.provider.model import (
    ANY,
    ID,
    Call,
    Outputs,
    Ref,
    ResourceType,
    Step,
    Tags,
    Update,
    given,
    integer,
    tag_reader,
)

_ARNS: dict[str, Any] = {"ResourceArns": lambda ref: [ref.id]}
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_AddTags.html
TAGS = Tags(_ARNS, tag="add_tags", untag="remove_tags", on_create="Tags")


def _read_tags(read: Step) -> Step:
    describe = tag_reader("describe_tags", lambda r: r["TagDescriptions"][0]["Tags"], **_ARNS)
    return quirks.tags_of_existing(read, describe)


def _described(operation: str, ids: str, key: str) -> Call:
    fields: dict[str, Any] = {ids: lambda ref: [ref.id]}
    return Call(operation, result=lambda _ref, answer: answer[key][0], **fields)


def _with_attributes(describe: Call, operation: str, target: str) -> Step:
    """The resource with its attributes (a map), which refresh compares as well."""

    def read(ref: Ref) -> Any:
        found = describe(ref)
        attributes = ref.call(operation, **{target: ref.id})["Attributes"]
        return {**found, "Attributes": {a["Key"]: a["Value"] for a in attributes}}

    return read


def _find(operation: str, key: str, id_key: str) -> Step:
    """Names are unique per account and region: the one of this name."""
    names = given("name", then=lambda name: [name])
    return Call(operation, Names=names, result=lambda _r, answer: answer[key][0][id_key])


def _text(value: Any) -> str:
    """An attribute's value as the API spells it: ``true``, ``60`` (Pulumi's numbers are floats)."""
    return str(value).lower() if isinstance(value, bool) else str(integer(value))


def _attributes(table: dict[str, tuple[str, Any]]) -> Callable[[Ref], list[dict[str, str]]]:
    """``Attributes`` from the inputs ``table`` names: the input's value, or AWS's default."""

    def attributes(ref: Ref) -> list[dict[str, str]]:
        values = {key: ref.inputs.get(name, default) for name, (key, default) in table.items()}
        return [{"Key": k, "Value": _text(v)} for k, v in values.items()]

    return attributes


def _named(ref: Ref, kind: str) -> str:
    """The ARN: AWS's once created; offline, one formed with a stand-in for AWS's hash."""
    if ref.id.startswith("arn:"):
        return ref.id
    return ref.arn("elasticloadbalancing", f"{kind}/{ref.inputs['name']}/{ref.id[-16:]}")


# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html
_LB_ATTRIBUTES = {
    "idleTimeout": ("idle_timeout.timeout_seconds", 60),
    "dropInvalidHeaderFields": ("routing.http.drop_invalid_header_fields.enabled", False),
    "enableDeletionProtection": ("deletion_protection.enabled", False),
    "enableHttp2": ("routing.http2.enabled", True),
}


def _lb_outputs(ref: Ref) -> Outputs:
    lb_arn = _named(ref, "loadbalancer/app")
    if ref.client is not None:
        dns = LOAD_BALANCER.read(ref)["DNSName"]
    else:  # AWS forms the DNS name with a number of its own; offline, a stand-in
        internal = "internal-" if ref.inputs.get("internal") else ""
        dns = f"{internal}{ref.inputs['name']}-1.{ref.region}.elb.amazonaws.com"
    return {"arn": lb_arn, "arnSuffix": lb_arn.split(":loadbalancer/")[-1], "dnsName": dns}


_describe_lb = _described("describe_load_balancers", "LoadBalancerArns", "LoadBalancers")
_read_lb = _with_attributes(_describe_lb, "describe_load_balancer_attributes", "LoadBalancerArn")

LOAD_BALANCER = ResourceType(
    type="aws:lb/loadBalancer:LoadBalancer",
    service="elbv2",
    id=None,
    find=_find("describe_load_balancers", "LoadBalancers", "LoadBalancerArn"),
    create=Call(
        "create_load_balancer",
        Name=given("name"),
        Subnets=given("subnets", []),
        SecurityGroups=given("securityGroups", []),
        Scheme=given("internal", False, lambda i: "internal" if i else "internet-facing"),
        Type=given("loadBalancerType", "application"),
        IpAddressType=given("ipAddressType", "ipv4"),
        result=lambda _ref, answer: answer["LoadBalancers"][0]["LoadBalancerArn"],
    ),
    read=_read_lb,
    volatile=("State",),  # provisioning, then active, by itself
    updates=(
        Update(
            tuple(_LB_ATTRIBUTES),
            Call(
                "modify_load_balancer_attributes",
                LoadBalancerArn=ID,
                Attributes=_attributes(_LB_ATTRIBUTES),
            ),
            after_create=True,
        ),
        Update(
            ("securityGroups",),
            Call("set_security_groups", LoadBalancerArn=ID, SecurityGroups=given("securityGroups")),
        ),
        Update(("subnets",), Call("set_subnets", LoadBalancerArn=ID, Subnets=given("subnets"))),
    ),
    delete=Call("delete_load_balancer", LoadBalancerArn=ID),
    tags=TAGS,
    read_tags=_read_tags(_read_lb),
    outputs=_lb_outputs,
    replace_on=("name", "internal", "loadBalancerType"),
)

# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_ModifyTargetGroup.html
_HEALTH_CHECK: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "enabled": ("HealthCheckEnabled", bool),
    "path": ("HealthCheckPath", str),
    "port": ("HealthCheckPort", str),
    "protocol": ("HealthCheckProtocol", str),
    "interval": ("HealthCheckIntervalSeconds", integer),
    "timeout": ("HealthCheckTimeoutSeconds", integer),
    "healthyThreshold": ("HealthyThresholdCount", integer),
    "unhealthyThreshold": ("UnhealthyThresholdCount", integer),
    "matcher": ("Matcher", lambda codes: {"HttpCode": str(codes)}),
}


def _health_check(ref: Ref) -> dict[str, Any]:
    check = ref.inputs.get("healthCheck") or {}
    return {api: convert(check[k]) for k, (api, convert) in _HEALTH_CHECK.items() if k in check}


def _target_group_outputs(ref: Ref) -> Outputs:
    group_arn = _named(ref, "targetgroup")
    return {"arn": group_arn, "arnSuffix": group_arn.rsplit(":", 1)[-1]}


_TG_FIELDS = {"protocol": "Protocol", "protocolVersion": "ProtocolVersion", "vpcId": "VpcId"}
_describe_tg = _described("describe_target_groups", "TargetGroupArns", "TargetGroups")
_read_tg = _with_attributes(_describe_tg, "describe_target_group_attributes", "TargetGroupArn")
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-attributes.html
_TG_ATTRIBUTES = {"deregistrationDelay": ("deregistration_delay.timeout_seconds", 300)}

TARGET_GROUP = ResourceType(
    type="aws:lb/targetGroup:TargetGroup",
    service="elbv2",
    id=None,
    find=_find("describe_target_groups", "TargetGroups", "TargetGroupArn"),
    create=Call(
        "create_target_group",
        lambda ref: {
            **{api: ref.inputs[k] for k, api in _TG_FIELDS.items() if k in ref.inputs},
            **({"Port": integer(ref.inputs["port"])} if "port" in ref.inputs else {}),
            **_health_check(ref),
        },
        Name=given("name"),
        TargetType=given("targetType", "instance"),
        result=lambda _ref, answer: answer["TargetGroups"][0]["TargetGroupArn"],
    ),
    read=_read_tg,
    volatile=("LoadBalancerArns",),  # the listeners' rules attach it: not drift of the group
    updates=(
        Update(("healthCheck",), Call("modify_target_group", _health_check, TargetGroupArn=ID)),
        Update(
            tuple(_TG_ATTRIBUTES),
            Call(
                "modify_target_group_attributes",
                TargetGroupArn=ID,
                Attributes=_attributes(_TG_ATTRIBUTES),
            ),
            after_create=True,
        ),
    ),
    delete=Call("delete_target_group", TargetGroupArn=ID),
    tags=TAGS,
    read_tags=_read_tags(_read_tg),
    outputs=_target_group_outputs,
    replace_on=("name", "port", "protocol", "vpcId", "targetType", "protocolVersion"),
)

# The provider's defaults for a redirect: keep what the request had.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_RedirectActionConfig.html
_REDIRECT = {"protocol": "#{protocol}", "port": "#{port}", "host": "#{host}"}
_REDIRECT |= {"path": "/#{path}", "query": "#{query}"}


def _action(action: dict[str, Any]) -> dict[str, Any]:
    """One of ``defaultActions`` as the API's Action.
    https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_Action.html"""
    formed: dict[str, Any] = {"Type": action["type"]}
    if "order" in action:
        formed["Order"] = integer(action["order"])
    if "targetGroupArn" in action:
        formed["TargetGroupArn"] = action["targetGroupArn"]
    if redirect := action.get("redirect"):
        config = {**_REDIRECT, **redirect}
        formed["RedirectConfig"] = {k[0].upper() + k[1:]: v for k, v in config.items()}
    if fixed := action.get("fixedResponse"):
        formed["FixedResponseConfig"] = {k[0].upper() + k[1:]: v for k, v in fixed.items()}
    return formed


def _listener(ref: Ref) -> dict[str, Any]:
    inputs = ref.inputs
    formed: dict[str, Any] = {
        "Protocol": inputs.get("protocol", "HTTP"),
        "Port": integer(inputs["port"]),
        "DefaultActions": [_action(a) for a in inputs["defaultActions"]],
    }
    if inputs.get("sslPolicy"):
        formed["SslPolicy"] = inputs["sslPolicy"]
    if inputs.get("certificateArn"):
        formed["Certificates"] = [{"CertificateArn": inputs["certificateArn"]}]
    return formed


def _find_listener(ref: Ref) -> str | None:
    """A load balancer has one listener a port: the one on this port."""
    found = ref.call("describe_listeners", LoadBalancerArn=ref.inputs["loadBalancerArn"])
    port = integer(ref.inputs["port"])
    return next((x["ListenerArn"] for x in found["Listeners"] if x["Port"] == port), None)


_read_listener = _described("describe_listeners", "ListenerArns", "Listeners")

LISTENER = ResourceType(
    type="aws:lb/listener:Listener",
    service="elbv2",
    id=None,
    find=_find_listener,
    create=Call(
        "create_listener",
        _listener,
        LoadBalancerArn=given("loadBalancerArn"),
        result=lambda _ref, answer: answer["Listeners"][0]["ListenerArn"],
    ),
    read=_read_listener,
    updates=(Update((ANY,), Call("modify_listener", _listener, ListenerArn=ID)),),
    delete=Call("delete_listener", ListenerArn=ID),
    tags=TAGS,
    read_tags=_read_tags(_read_listener),
    outputs=lambda ref: {"arn": ref.id},
    replace_on=("loadBalancerArn",),
)

TYPES = (LOAD_BALANCER, TARGET_GROUP, LISTENER)
