# One weakening per line: the rule, the change and the expected message read as a table.
"""Load balancing rules (TAP-ELB-*): each weakening of the service stack fails with its message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tap_cicd.policy import elb
from tap_cicd.policy import tokens as t

from .stacks import Stack, assert_compliant_passes, assert_weakened_fails, case_id, failures
from .test_ecs_rules import HTTP_ARN, TG_ARN, service_stack

__all__ = ["service_stack"]  # the fixture, shared with the ECS tests

Weaken = Callable[[Stack], Any]

FORWARD = [{"type": "forward", "targetGroupArn": TG_ARN}]
TO_HTTPS = {
    "type": "redirect",
    "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
}


def _rule(name: str, *actions: dict[str, Any]) -> Weaken:
    return lambda s: s.add(
        t.LISTENER_RULE, name, listenerArn=HTTP_ARN, priority=10, actions=list(actions)
    )


def _no_https(stack: Stack) -> None:
    stack.drop("https")


NON_COMPLIANT: list[tuple[str, Weaken, str]] = [
    ("TAP-ELB-001", lambda s: s.set("alb", "dropInvalidHeaderFields", False), "dropInvalidHeaderFields is off"),
    ("TAP-ELB-001", lambda s: s.delete("alb", "loadBalancerType").delete("alb", "dropInvalidHeaderFields"), "dropInvalidHeaderFields is off"),
    ("TAP-ELB-002", lambda s: s.set("http", "defaultActions", FORWARD), "HTTP listener on port 80 answers with forward, not a redirect to HTTPS"),
    ("TAP-ELB-002", lambda s: s.set("http", "defaultActions", []), "HTTP listener on port 80 answers with no action, not a redirect to HTTPS"),
    ("TAP-ELB-002", lambda s: s.set("http", "defaultActions.0.redirect.protocol", "#{protocol}"), "answers with redirect, not a redirect to HTTPS"),
    ("TAP-ELB-002", _rule("http-api", {"type": "forward", "targetGroupArn": TG_ARN}), "rule tap-cicd-http-api of the HTTP listener on port 80 answers with forward, not a redirect to HTTPS"),
    ("TAP-ELB-003", lambda s: s.set("https", "sslPolicy", "ELBSecurityPolicy-2016-08"), "sslPolicy ELBSecurityPolicy-2016-08 accepts TLS versions older than 1.2"),
    ("TAP-ELB-003", lambda s: s.set("https", "sslPolicy", "ELBSecurityPolicy-TLS13-1-1-2021-06"), "accepts TLS versions older than 1.2"),
    ("TAP-ELB-003", lambda s: s.set("https", "sslPolicy", "ELBSecurityPolicy-FS-1-1-2019-08"), "accepts TLS versions older than 1.2"),
    ("TAP-ELB-003", lambda s: s.delete("https", "sslPolicy"), "no sslPolicy: AWS applies ELBSecurityPolicy-2016-08, which accepts TLS 1.0"),
    ("TAP-ELB-004", lambda s: s.set("alb", "enableDeletionProtection", False), "deletion protection is off"),
    ("TAP-ELB-005", lambda s: s.set("tg", "healthCheck.enabled", False), "health check is disabled"),
    ("TAP-ELB-005", lambda s: s.delete("tg", "healthCheck"), "health check has no path"),
    ("TAP-ELB-005", lambda s: s.set("tg", "healthCheck.path", ""), "health check has no path"),
]  # fmt: skip

COMPLIANT: list[tuple[str, Weaken]] = [
    # A Network Load Balancer has no HTTP headers to drop.
    ("TAP-ELB-001", lambda s: s.set("alb", "loadBalancerType", "network").delete("alb", "dropInvalidHeaderFields")),
    # Without a certificate (no HTTPS listener), plain HTTP may forward.
    ("TAP-ELB-002", lambda s: _no_https(s.set("http", "defaultActions", FORWARD))),
    ("TAP-ELB-002", _rule("http-redirect", TO_HTTPS)),
    ("TAP-ELB-003", lambda s: s.set("https", "sslPolicy", "ELBSecurityPolicy-TLS13-1-3-2021-06")),
    ("TAP-ELB-003", lambda s: s.set("https", "sslPolicy", "ELBSecurityPolicy-FS-1-2-Res-2020-10")),
    ("TAP-ELB-003", lambda s: s.set("https", "sslPolicy", "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04")),
    ("TAP-ELB-005", lambda s: s.set("tg", "protocol", "TCP").set("tg", "healthCheck", {"enabled": True})),
    ("TAP-ELB-005", lambda s: s.delete("tg", "protocol").set("tg", "healthCheck", {"path": "/health"})),
]  # fmt: skip


@pytest.mark.parametrize("case", NON_COMPLIANT, ids=case_id)
def test_weakened_load_balancing_fails_with_the_rule_and_its_message(
    service_stack: Stack, case: tuple[str, Weaken, str]
) -> None:
    assert_weakened_fails(service_stack, case)


@pytest.mark.parametrize("case", COMPLIANT, ids=case_id)
def test_compliant_variant_passes(service_stack: Stack, case: tuple[str, Weaken]) -> None:
    assert_compliant_passes(service_stack, case)


def test_every_elb_rule_has_a_non_compliant_case() -> None:
    assert {r.id for r in elb.rules.rules} == {rule_id for rule_id, _, _ in NON_COMPLIANT}


def test_the_https_rule_judges_each_load_balancer_by_its_own_listeners(
    service_stack: Stack,
) -> None:
    # A second ALB with only a forwarding HTTP listener: no certificate there, so no failure,
    # although the first load balancer has an HTTPS listener.
    other = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/other/9"
    service_stack.add(t.LOAD_BALANCER, "other-alb", arn=other, dropInvalidHeaderFields=True)
    service_stack.add(
        t.LISTENER,
        "other-http",
        loadBalancerArn=other,
        port=80,
        protocol="HTTP",
        defaultActions=FORWARD,
    )
    assert failures(service_stack.results(exemptions=()), "TAP-ELB-002") == []
