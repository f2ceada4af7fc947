"""The service's front door: security groups, an internet-facing ALB, its target group and
listeners."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from tap_cicd.pipeline._context import Context
from tap_cicd.pipeline.network import Placement

RESOURCE_TYPE = "tap:cicd:Ingress"
HTTP_PORT = 80
HTTPS_PORT = 443
# TLS 1.3 and 1.2 with forward-secret ciphers only.
# https://docs.aws.amazon.com/elasticloadbalancing/latest/application/describe-ssl-policies.html
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
DEREGISTRATION_DELAY_SECONDS = 30


@dataclass(frozen=True)
class IngressArgs:
    """Inputs of the ingress component."""

    context: Context
    placement: Placement


def _ip_rule(cidr: str) -> dict[str, str]:
    """``cidr_ipv4`` or ``cidr_ipv6``: a rule names one address family."""
    version = ipaddress.ip_network(cidr).version
    return {"cidr_ipv4": cidr} if version == 4 else {"cidr_ipv6": cidr}


class Ingress(pulumi.ComponentResource):
    """Only ``ingressCidrs`` reach the load balancer (80, and 443 with a certificate); only the
    load balancer reaches the tasks, on the container port."""

    tasks_security_group: aws.ec2.SecurityGroup
    """The tasks' security group."""
    target_group: aws.lb.TargetGroup
    """The ``ip`` target group the service registers its tasks in."""
    listeners: list[aws.lb.Listener]
    """The listeners (the service needs its target group attached first)."""
    url: pulumi.Output[str]
    """``http(s)://`` and the load balancer's DNS name."""

    def __init__(
        self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        ctx = args.context.within(self)
        service = ctx.settings.service
        naming = ctx.naming
        vpc_id = args.placement.vpc_id
        alb_group, tasks_group = (
            aws.ec2.SecurityGroup(
                f"{ctx.base}-{purpose}-sg",
                name=naming.security_group(purpose),
                description=description,
                vpc_id=vpc_id,
                tags=ctx.tags,
                opts=ctx.opts(),
            )
            for purpose, description in (
                ("alb", "The service's load balancer: HTTP(S) from the allowed CIDRs"),
                ("tasks", "The service's tasks: the container port from the load balancer only"),
            )
        )
        self.tasks_security_group = tasks_group
        ports = [HTTP_PORT, *([HTTPS_PORT] if service.https else [])]
        # Separate rule resources (not inline rules): each is one AWS rule with its own id.
        # https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html
        for index, cidr in enumerate(service.ingress_cidrs):
            for port in ports:
                aws.vpc.SecurityGroupIngressRule(
                    f"{ctx.base}-alb-in-{port}-{index}",
                    security_group_id=alb_group.id,
                    description=f"HTTP{'S' if port == HTTPS_PORT else ''} from {cidr}",
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    **_ip_rule(cidr),
                    tags=ctx.tags,
                    opts=ctx.opts(),
                )
        port = service.container_port
        aws.vpc.SecurityGroupEgressRule(
            f"{ctx.base}-alb-out-tasks",
            security_group_id=alb_group.id,
            description="To the tasks' container port",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=tasks_group.id,
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{ctx.base}-tasks-in-alb",
            security_group_id=tasks_group.id,
            description="The container port, from the load balancer only",
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            referenced_security_group_id=alb_group.id,
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        # Without NAT or VPC endpoints the tasks pull their image from ECR and write their
        # logs over the internet: HTTPS out, nothing else.
        aws.vpc.SecurityGroupEgressRule(
            f"{ctx.base}-tasks-out-https",
            security_group_id=tasks_group.id,
            description="HTTPS to AWS APIs (ECR, CloudWatch Logs)",
            ip_protocol="tcp",
            from_port=HTTPS_PORT,
            to_port=HTTPS_PORT,
            cidr_ipv4="0.0.0.0/0",
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        balancer = aws.lb.LoadBalancer(
            f"{ctx.base}-alb",
            name=naming.load_balancer(),
            load_balancer_type="application",
            internal=False,
            security_groups=[alb_group.id],
            subnets=args.placement.subnet_ids,
            # Requests with malformed headers are dropped, not forwarded (request smuggling).
            # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html#load-balancer-attributes
            drop_invalid_header_fields=True,
            # Destroyable with the stack; access logs would need a bucket of their own in
            # the ELB account's reach, which the baseline does not ask for.
            enable_deletion_protection=False,
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        self.target_group = aws.lb.TargetGroup(
            f"{ctx.base}-tg",
            name=naming.target_group(),
            # Fargate tasks (awsvpc) register by IP.
            # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/alb.html
            target_type="ip",
            protocol="HTTP",
            port=port,
            vpc_id=vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY_SECONDS,
            # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
            health_check={
                "enabled": True,
                "path": service.health_check_path,
                "protocol": "HTTP",
                "port": "traffic-port",
                "matcher": "200-399",
                "interval": 15,
                "timeout": 5,
                "healthy_threshold": 2,
                "unhealthy_threshold": 3,
            },
            tags=ctx.tags,
            opts=ctx.opts(),
        )
        forward = [{"type": "forward", "target_group_arn": self.target_group.arn}]
        self.listeners = [
            aws.lb.Listener(
                f"{ctx.base}-http",
                load_balancer_arn=balancer.arn,
                port=HTTP_PORT,
                protocol="HTTP",
                default_actions=_redirect_to_https() if service.https else forward,
                tags=ctx.tags,
                opts=ctx.opts(),
            )
        ]
        if service.https:
            self.listeners.append(
                aws.lb.Listener(
                    f"{ctx.base}-https",
                    load_balancer_arn=balancer.arn,
                    port=HTTPS_PORT,
                    protocol="HTTPS",
                    ssl_policy=TLS_POLICY,
                    certificate_arn=service.certificate_arn,
                    default_actions=forward,
                    tags=ctx.tags,
                    opts=ctx.opts(),
                )
            )
        scheme = "https://" if service.https else "http://"
        self.url = pulumi.Output.concat(scheme, balancer.dns_name)
        self.register_outputs({"url": self.url})


def _redirect_to_https() -> list[dict[str, Any]]:
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-action-types.html#redirect-actions
    return [
        {
            "type": "redirect",
            "redirect": {"port": str(HTTPS_PORT), "protocol": "HTTPS", "status_code": "HTTP_301"},
        }
    ]
