"""Elastic Load Balancing v2: attributes, the listener's redirect shape, adoption by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tap_cicd.local.provider import HANDLERS, Context, elbv2
from tap_cicd.local.provider.model import URN_TAG

from .conftest import TAGS, URN, create, delete, update
from .test_ec2 import Inputs, Make, group, made, subnet, vpc


def balancer_inputs(ctx: Context, name: str = "tap-alb") -> Inputs:
    vpc_id = vpc(ctx)
    subnets = [subnet(ctx, vpc_id, "10.0.1.0/24"), subnet(ctx, vpc_id, "10.0.2.0/24", "b")]
    return {
        "name": name,
        "loadBalancerType": "application",
        "subnets": subnets,
        "securityGroups": [group(ctx, vpc_id)],
        "dropInvalidHeaderFields": True,
        "idleTimeout": 60.0,
        "vpc": vpc_id,  # not an input: where the target group goes
    }


def balancer(ctx: Context) -> tuple[str, str]:
    """A load balancer; its ARN and its VPC."""
    inputs = balancer_inputs(ctx)
    vpc_id = inputs.pop("vpc")
    return made(elbv2.LOAD_BALANCER, ctx, inputs), vpc_id


def target_group_inputs(vpc_id: str, name: str = "tap-tg") -> Inputs:
    return {
        "name": name,
        "port": 8080.0,
        "protocol": "HTTP",
        "targetType": "ip",
        "vpcId": vpc_id,
        "healthCheck": {"path": "/health", "matcher": "200", "interval": 30.0},
        "deregistrationDelay": 30.0,
    }


def target_group(ctx: Context, vpc_id: str) -> str:
    return made(elbv2.TARGET_GROUP, ctx, target_group_inputs(vpc_id))


def _balancer(ctx: Context) -> tuple[Inputs, Inputs]:
    inputs = balancer_inputs(ctx)
    inputs.pop("vpc")
    return inputs, {"idleTimeout": 120.0}


def _target_group(ctx: Context) -> tuple[Inputs, Inputs]:
    change = {"healthCheck": {"path": "/ready", "matcher": "200-299"}}
    return target_group_inputs(vpc(ctx)), change


def forward(group_arn: str) -> list[Inputs]:
    return [{"type": "forward", "targetGroupArn": group_arn}]


def _listener(ctx: Context) -> tuple[Inputs, Inputs]:
    lb, vpc_id = balancer(ctx)
    inputs = {
        "loadBalancerArn": lb,
        "port": 80.0,
        "protocol": "HTTP",
        "defaultActions": forward(target_group(ctx, vpc_id)),
    }
    return inputs, {"port": 8080.0}


TABLE: dict[str, tuple[Make, Callable[[Any, Inputs], bool], Callable[[Any], str] | None]] = {
    elbv2.LOAD_BALANCER.type: (
        _balancer,
        lambda found, _c: found["Attributes"]["idle_timeout.timeout_seconds"] == "120",
        lambda found: found["LoadBalancerArn"],
    ),
    elbv2.TARGET_GROUP.type: (
        _target_group,
        lambda found, _c: found["HealthCheckPath"] == "/ready",
        lambda found: found["TargetGroupArn"],
    ),
    elbv2.LISTENER.type: (
        _listener,
        lambda found, _c: found["Port"] == 8080,
        lambda found: found["ListenerArn"],
    ),
}
"""Rows of the registry table (``test_registry.py``): make, changed, ARN in the read."""


def test_load_balancer_outputs_attributes_and_adoption(ctx: Context) -> None:
    inputs = balancer_inputs(ctx)
    inputs.pop("vpc")
    lb, outputs = create(elbv2.LOAD_BALANCER, ctx, {**inputs, "tags": TAGS})
    found = HANDLERS[elbv2.LOAD_BALANCER.type].read(ctx, lb, inputs)
    assert outputs == {
        "arn": lb,
        "arnSuffix": lb.split(":loadbalancer/")[1],
        "dnsName": found["DNSName"],
    }
    assert outputs["arnSuffix"].startswith("app/tap-alb/")
    assert found["Attributes"]["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert found["Scheme"] == "internet-facing"
    # Found again by its name after an interrupted run.
    assert create(elbv2.LOAD_BALANCER, ctx, inputs)[0] == lb
    tags = HANDLERS[elbv2.LOAD_BALANCER.type].tags_of(ctx, lb, {})
    assert tags == {**TAGS, URN_TAG: URN}
    delete(elbv2.LOAD_BALANCER, ctx, lb)
    # moto answers no tags for a deleted ARN, AWS an error: either way it is gone.
    assert HANDLERS[elbv2.LOAD_BALANCER.type].tags_of(ctx, lb, {}) is None


def test_load_balancer_moves_to_other_subnets_and_groups(ctx: Context) -> None:
    inputs = balancer_inputs(ctx)
    vpc_id = inputs.pop("vpc")
    lb, _ = create(elbv2.LOAD_BALANCER, ctx, inputs)
    subnets = [subnet(ctx, vpc_id, "10.0.3.0/24", "c"), subnet(ctx, vpc_id, "10.0.4.0/24", "d")]
    moved = {**inputs, "subnets": subnets, "securityGroups": [group(ctx, vpc_id, "other")]}
    update(elbv2.LOAD_BALANCER, ctx, lb, inputs, moved)
    found = HANDLERS[elbv2.LOAD_BALANCER.type].read(ctx, lb, moved)
    assert sorted(z["SubnetId"] for z in found["AvailabilityZones"]) == sorted(subnets)
    assert found["SecurityGroups"] == moved["securityGroups"]


def test_offline_outputs_stand_in_for_what_aws_generates() -> None:
    inputs = {"name": "tap-alb", "internal": True}
    ref = elbv2.LOAD_BALANCER.locate(inputs, "123456789012", "us-east-1", logical_name="alb")
    assert ref.outputs["dnsName"] == "internal-tap-alb-1.us-east-1.elb.amazonaws.com"
    assert ref.outputs["arnSuffix"].startswith("app/tap-alb/")
    group_ref = elbv2.TARGET_GROUP.locate({"name": "tap-tg"}, "123456789012", "us-east-1")
    assert group_ref.outputs["arnSuffix"].startswith("targetgroup/tap-tg/")


def test_target_group_health_check_and_deregistration_delay(ctx: Context) -> None:
    inputs = target_group_inputs(vpc(ctx))
    inputs["healthCheck"] |= {"enabled": True, "timeout": 5.0, "healthyThreshold": 3.0}
    tg, outputs = create(elbv2.TARGET_GROUP, ctx, inputs)
    assert outputs == {"arn": tg, "arnSuffix": tg.rsplit(":", 1)[1]}
    found = HANDLERS[elbv2.TARGET_GROUP.type].read(ctx, tg, inputs)
    assert found["Attributes"]["deregistration_delay.timeout_seconds"] == "30"
    assert (found["HealthCheckPath"], found["Matcher"]) == ("/health", {"HttpCode": "200"})
    assert (found["HealthyThresholdCount"], found["TargetType"], found["Port"]) == (3, "ip", 8080)
    assert create(elbv2.TARGET_GROUP, ctx, inputs)[0] == tg  # adopted by name


def test_https_listener_and_the_redirect_shape(ctx: Context) -> None:
    lb, vpc_id = balancer(ctx)
    certificate = ctx.clients("acm").request_certificate(DomainName="tap.example.com")
    https = {
        "loadBalancerArn": lb,
        "port": 443.0,
        "protocol": "HTTPS",
        "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "certificateArn": certificate["CertificateArn"],
        "defaultActions": forward(target_group(ctx, vpc_id)),
    }
    listener, outputs = create(elbv2.LISTENER, ctx, https)
    assert outputs == {"arn": listener}
    found = HANDLERS[elbv2.LISTENER.type].read(ctx, listener, https)
    assert found["SslPolicy"] == https["sslPolicy"]
    assert found["Certificates"] == [{"CertificateArn": https["certificateArn"]}]
    redirect = {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}
    http = {
        "loadBalancerArn": lb,
        "port": 80.0,
        "defaultActions": [{"type": "redirect", "order": 1.0, "redirect": redirect}],
    }
    redirecting, _ = create(elbv2.LISTENER, ctx, http)
    action = HANDLERS[elbv2.LISTENER.type].read(ctx, redirecting, http)["DefaultActions"][0]
    # The provider's defaults keep host, path and query of the request.
    assert action["RedirectConfig"] == {
        "Protocol": "HTTPS",
        "Port": "443",
        "Host": "#{host}",
        "Path": "/#{path}",
        "Query": "#{query}",
        "StatusCode": "HTTP_301",
    }
    assert create(elbv2.LISTENER, ctx, http)[0] == redirecting  # adopted by its port


def test_fixed_response_listener(ctx: Context) -> None:
    lb, _ = balancer(ctx)
    fixed = {"contentType": "text/plain", "messageBody": "no", "statusCode": "404"}
    inputs = {
        "loadBalancerArn": lb,
        "port": 8081.0,
        "defaultActions": [{"type": "fixed-response", "fixedResponse": fixed}],
    }
    listener, _ = create(elbv2.LISTENER, ctx, inputs)
    action = HANDLERS[elbv2.LISTENER.type].read(ctx, listener, inputs)["DefaultActions"][0]
    assert action["FixedResponseConfig"] == {
        "ContentType": "text/plain",
        "MessageBody": "no",
        "StatusCode": "404",
    }
