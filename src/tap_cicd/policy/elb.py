"""Load balancing: a hardened ALB, HTTPS with a modern policy, health-checked targets.

A listener names its load balancer by ARN (``loadBalancerArn``) and a listener rule names its
listener (``listenerArn``); the HTTPS rule follows those links to judge the listeners of one
load balancer together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import Props, Registry, Resource, as_list, dig, linked, of_type

rules = Registry("elb")

# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html:
# every ELBSecurityPolicy-TLS13-1-2-*, -TLS13-1-3-* and -FS-1-2-* policy (FIPS and PQ variants
# included) refuses TLS 1.0 and 1.1; the ones without these prefixes accept at least one of them.
MODERN_TLS_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-",
    "ELBSecurityPolicy-TLS13-1-3-",
    "ELBSecurityPolicy-FS-1-2-",
)
# The same page: an HTTPS listener created without a policy through the API (CloudFormation,
# Pulumi, the CLI) gets this one, which still accepts TLS 1.0.
API_DEFAULT_POLICY = "ELBSecurityPolicy-2016-08"
ENCRYPTED_PROTOCOLS = ("HTTPS", "TLS")
PATHLESS_PROTOCOLS = ("TCP", "TLS", "UDP", "TCP_UDP", "GENEVE")
"""Target group protocols whose health checks take no path (Network/Gateway Load Balancer)."""


def _application(props: Props) -> bool:
    """An Application Load Balancer (the provider's default type)."""
    return props.get("loadBalancerType", "application") in (None, "application")


# https://docs.aws.amazon.com/securityhub/latest/userguide/elb-controls.html#elb-4
@rules.resource(
    "TAP-ELB-001",
    "Headers that are not valid HTTP are how request smuggling (desync) reaches the service.",
    ("FSBP ELB.4", "CKV_AWS_131"),
    t.LOAD_BALANCER,
)
def drop_invalid_headers(_: str, props: Props) -> list[str]:
    """An ALB drops invalid header fields."""
    if not _application(props) or props.get("dropInvalidHeaderFields") is True:
        return []
    return ["dropInvalidHeaderFields is off"]


def _redirects_to_https(action: Mapping[str, Any]) -> bool:
    return action.get("type") == "redirect" and dig(action, "redirect", "protocol") == "HTTPS"


def _leaks(actions: Any) -> list[str]:
    """The action types of ``actions`` that do not redirect to HTTPS."""
    return [str(a.get("type")) for a in as_list(actions) if not _redirects_to_https(a)]


def _plain_http_paths(resources: Sequence[Resource], listener: Resource) -> list[tuple[str, str]]:
    port = listener.props.get("port")
    found = []
    leaks = _leaks(listener.props.get("defaultActions"))
    if leaks or not as_list(listener.props.get("defaultActions")):
        shown = ", ".join(leaks) or "no action"
        found.append(
            (
                listener.urn,
                f"HTTP listener on port {port} answers with {shown}, not a redirect to HTTPS",
            )
        )
    for rule in linked(resources, t.LISTENER_RULE, "listenerArn", listener):
        if leaks := _leaks(rule.props.get("actions")):
            found.append(
                (
                    rule.urn,
                    f"rule {rule.name} of the HTTP listener on port {port} answers with "
                    f"{', '.join(leaks)}, not a redirect to HTTPS",
                )
            )
    return found


# https://docs.aws.amazon.com/securityhub/latest/userguide/elb-controls.html#elb-1
@rules.stack(
    "TAP-ELB-002",
    "Once a certificate is configured, plain HTTP must only send clients to HTTPS; a listener "
    "that forwards keeps serving the application in clear text.",
    ("FSBP ELB.1", "CKV2_AWS_20"),
    t.LISTENER,
)
def http_redirects_when_https_exists(resources: Sequence[Resource]) -> list[tuple[str, str]]:
    """On a load balancer with an HTTPS listener, every HTTP listener (and its rules) redirects."""
    problems = []
    for balancer in of_type(resources, t.LOAD_BALANCER):
        listeners = linked(resources, t.LISTENER, "loadBalancerArn", balancer)
        if not any(r.props.get("protocol") == "HTTPS" for r in listeners):
            continue
        for listener in listeners:
            if listener.props.get("protocol") == "HTTP":
                problems += _plain_http_paths(resources, listener)
    return problems


# https://docs.aws.amazon.com/securityhub/latest/userguide/elb-controls.html#elb-17; the policy
# table is MODERN_TLS_POLICIES' page.
@rules.resource(
    "TAP-ELB-003",
    "TLS 1.0 and 1.1 are broken and deprecated; an HTTPS listener accepts TLS 1.2 or newer only.",
    ("FSBP ELB.17", "CKV_AWS_103"),
    t.LISTENER,
)
def modern_tls_policy(_: str, props: Props) -> list[str]:
    """HTTPS/TLS listeners use an ELBSecurityPolicy-TLS13-1-2/1-3 or FS-1-2 policy."""
    if props.get("protocol") not in ENCRYPTED_PROTOCOLS:
        return []
    policy = props.get("sslPolicy")
    if not policy:
        return [f"no sslPolicy: AWS applies {API_DEFAULT_POLICY}, which accepts TLS 1.0"]
    if str(policy).startswith(MODERN_TLS_POLICIES):
        return []
    return [f"sslPolicy {policy} accepts TLS versions older than 1.2"]


# https://docs.aws.amazon.com/securityhub/latest/userguide/elb-controls.html#elb-6
@rules.resource(
    "TAP-ELB-004",
    "Deletion protection keeps a stray delete from taking the service off the internet.",
    ("FSBP ELB.6", "CKV_AWS_150"),
    t.LOAD_BALANCER,
    level="advisory",
)
def deletion_protection(_: str, props: Props) -> list[str]:
    """``enableDeletionProtection`` on."""
    return [] if props.get("enableDeletionProtection") is True else ["deletion protection is off"]


# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
@rules.resource(
    "TAP-ELB-005",
    "The load balancer and the deployment circuit breaker learn that a release is broken only "
    "from the health check; it must ask the application, at a path it serves.",
    ("CKV_AWS_261",),
    t.TARGET_GROUP,
)
def health_checked(_: str, props: Props) -> list[str]:
    """Health check enabled (the provider's default) and, for HTTP(S) targets, with a path."""
    check = props.get("healthCheck") or {}
    if check.get("enabled") is False:
        return ["health check is disabled"]
    if props.get("protocol") in PATHLESS_PROTOCOLS or check.get("path"):
        return []
    return ["health check has no path"]
