"""The naming convention and every AWS name rule it must satisfy, in one place.

Every physical name is ``{prefix}-{purpose}-{environmentSuffix}``. Names that must be
globally unique (S3 buckets) carry the account id inside the purpose part:
``{prefix}-{purpose}-{accountId}-{environmentSuffix}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

ACCOUNT_ID_PLACEHOLDER = "123456789012"
"""Account ids are always 12 digits; used to check bucket name lengths before the id is known."""


@dataclass(frozen=True)
class NameRule:
    """What one AWS service accepts as a name."""

    service: str
    max_length: int
    pattern: re.Pattern[str]
    min_length: int = 1

    def problem(self, name: str) -> str | None:
        """Return why ``name`` is invalid for this service, or ``None`` when it is valid."""
        if not self.min_length <= len(name) <= self.max_length:
            return (
                f"{self.service} name '{name}' is {len(name)} characters; "
                f"the limit is {self.min_length}-{self.max_length}"
            )
        if not self.pattern.fullmatch(name):
            return f"{self.service} name '{name}' does not match {self.pattern.pattern}"
        return None


class Kind(Enum):
    """The services tap names resources for, with their rules (AWS API references)."""

    S3_BUCKET = NameRule("S3 bucket", 63, re.compile(r"[a-z0-9][a-z0-9-]*[a-z0-9]"), min_length=3)
    ECR_REPOSITORY = NameRule(
        "ECR repository", 256, re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*"), min_length=2
    )
    CODEBUILD_PROJECT = NameRule(
        "CodeBuild project", 255, re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]+"), min_length=2
    )
    CODEPIPELINE = NameRule("CodePipeline", 100, re.compile(r"[A-Za-z0-9.@_-]+"))
    LAMBDA_FUNCTION = NameRule("Lambda function", 64, re.compile(r"[A-Za-z0-9_-]+"))
    IAM_ROLE = NameRule("IAM role", 64, re.compile(r"[\w+=,.@-]+"))
    EVENT_RULE = NameRule("EventBridge rule", 64, re.compile(r"[.\-_A-Za-z0-9]+"))
    SNS_TOPIC = NameRule("SNS topic", 256, re.compile(r"[A-Za-z0-9_-]+"))
    SQS_QUEUE = NameRule("SQS queue", 80, re.compile(r"[A-Za-z0-9_-]+"))
    LOG_GROUP = NameRule("CloudWatch log group", 512, re.compile(r"[.\-_/#A-Za-z0-9]+"))
    KMS_ALIAS = NameRule("KMS alias", 256, re.compile(r"alias/[A-Za-z0-9/_-]+"))
    SSM_PARAMETER = NameRule("SSM parameter", 1011, re.compile(r"/[A-Za-z0-9_./-]+"))
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html
    LOAD_BALANCER = NameRule(
        "Load balancer", 32, re.compile(r"(?!internal-)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
    )
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html
    TARGET_GROUP = NameRule(
        "Target group", 32, re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
    )
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateCluster.html
    ECS_CLUSTER = NameRule("ECS cluster", 255, re.compile(r"[A-Za-z0-9_-]+"))
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html
    ECS_SERVICE = NameRule("ECS service", 255, re.compile(r"[A-Za-z0-9_-]+"))
    # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_RegisterTaskDefinition.html
    TASK_FAMILY = NameRule("ECS task definition family", 255, re.compile(r"[A-Za-z0-9_-]+"))
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateSecurityGroup.html
    SECURITY_GROUP = NameRule(
        "Security group", 255, re.compile(r"(?!sg-)[A-Za-z0-9 ._:/()#,@\[\]+=&;{}!$*-]+")
    )


@dataclass(frozen=True)
class Naming:
    """Builds every physical name of the stack from the prefix and the environment suffix."""

    prefix: str
    suffix: str

    def name(self, purpose: str) -> str:
        """``{prefix}-{purpose}-{suffix}``."""
        return f"{self.prefix}-{purpose}-{self.suffix}"

    def bucket(self, purpose: str, account_id: str) -> str:
        """A globally unique bucket name: the account id joins the purpose."""
        return self.name(f"{purpose}-{account_id}")

    # One method per named thing: the program and the validator call the same ones, so the
    # names the stack creates and the names checked against AWS's rules cannot drift apart.
    def kms_alias(self) -> str:
        """Alias of the pipeline key."""
        return f"alias/{self.name('key')}"

    def repository(self) -> str:
        """The image repository."""
        return self.name("images")

    def build_project(self) -> str:
        """The CodeBuild project."""
        return self.name("build")

    def pipeline(self) -> str:
        """The CodePipeline."""
        return self.name("pipeline")

    def deploy_function(self) -> str:
        """The deploy step's Lambda function."""
        return self.name("deploy")

    def role(self, purpose: str) -> str:
        """A service role (``purpose`` is one of ``ROLE_PURPOSES``)."""
        return self.name(f"{purpose}-role")

    def rule(self, purpose: str) -> str:
        """An EventBridge rule (``purpose`` is one of ``RULE_PURPOSES``)."""
        return self.name(purpose)

    def topic(self) -> str:
        """The notification topic."""
        return self.name("notifications")

    def queue(self, purpose: str) -> str:
        """A dead-letter queue (``purpose`` is one of ``QUEUE_PURPOSES``)."""
        return self.name(f"{purpose}-dlq")

    def build_log_group(self) -> str:
        """Log group of the CodeBuild project (CodeBuild's default path)."""
        return f"/aws/codebuild/{self.build_project()}"

    def deploy_log_group(self) -> str:
        """Log group of the deploy function (Lambda's default path)."""
        return f"/aws/lambda/{self.deploy_function()}"

    def service_log_group(self) -> str:
        """Log group of the service's containers (the ``awslogs`` driver writes here)."""
        return f"/ecs/{self.task_family()}"

    def log_groups(self, service: bool = False) -> list[str]:
        """Every log group of the stack (the key serves these and no others)."""
        groups = [self.build_log_group(), self.deploy_log_group()]
        return [*groups, self.service_log_group()] if service else groups

    def cluster(self) -> str:
        """The ECS cluster."""
        return self.name("cluster")

    def service(self) -> str:
        """The ECS service the Deploy stage rolls releases out to."""
        return self.name("service")

    def task_family(self) -> str:
        """The family of the service's task definition (every release registers a revision)."""
        return self.name("task")

    def load_balancer(self) -> str:
        """The service's Application Load Balancer (32 characters at most)."""
        return self.name("alb")

    def target_group(self) -> str:
        """The load balancer's target group (32 characters at most)."""
        return self.name("tg")

    def security_group(self, purpose: str) -> str:
        """A security group (``purpose`` is one of ``SECURITY_GROUP_PURPOSES``)."""
        return self.name(f"{purpose}-sg")

    def network(self, purpose: str) -> str:
        """The ``Name`` tag of a network resource the stack creates (``vpc``, ``public-a``...)."""
        return self.name(purpose)

    def release_parameter(self) -> str:
        """SSM parameter the deploy step records the current release in."""
        return f"/{self.prefix}/{self.suffix}/release"

    def all_names(
        self, account_id: str = ACCOUNT_ID_PLACEHOLDER, service: bool = True
    ) -> list[tuple[Kind, str]]:
        """Every name the stack may create, with the rule it must satisfy (``service``: with
        the ECS service of ``deployTarget`` ``ecs``)."""
        roles = [*ROLE_PURPOSES, *(SERVICE_ROLE_PURPOSES if service else ())]
        service_names = [
            (Kind.ECS_CLUSTER, self.cluster()),
            (Kind.ECS_SERVICE, self.service()),
            (Kind.TASK_FAMILY, self.task_family()),
            (Kind.LOAD_BALANCER, self.load_balancer()),
            (Kind.TARGET_GROUP, self.target_group()),
            *((Kind.SECURITY_GROUP, self.security_group(p)) for p in SECURITY_GROUP_PURPOSES),
        ]
        return [
            (Kind.KMS_ALIAS, self.kms_alias()),
            *((Kind.S3_BUCKET, self.bucket(p, account_id)) for p in BUCKET_PURPOSES),
            (Kind.ECR_REPOSITORY, self.repository()),
            (Kind.CODEBUILD_PROJECT, self.build_project()),
            (Kind.CODEPIPELINE, self.pipeline()),
            (Kind.LAMBDA_FUNCTION, self.deploy_function()),
            *((Kind.IAM_ROLE, self.role(p)) for p in roles),
            *((Kind.EVENT_RULE, self.rule(p)) for p in RULE_PURPOSES),
            (Kind.SNS_TOPIC, self.topic()),
            *((Kind.SQS_QUEUE, self.queue(p)) for p in QUEUE_PURPOSES),
            *((Kind.LOG_GROUP, group) for group in self.log_groups(service)),
            (Kind.SSM_PARAMETER, self.release_parameter()),
            *(service_names if service else ()),
        ]

    def problems(self, service: bool = True) -> list[str]:
        """Why any derived name would be rejected by its service; empty when all are valid."""
        found = (kind.value.problem(name) for kind, name in self.all_names(service=service))
        return [p for p in found if p is not None]


BUCKET_PURPOSES = ("artifacts", "source", "access-logs")
ROLE_PURPOSES = ("pipeline", "build", "deploy", "source-events")
RULE_PURPOSES = ("pipeline-state", "source-change")
QUEUE_PURPOSES = ("events", "deploy")
SERVICE_ROLE_PURPOSES = ("task-execution", "task")
"""The ECS service's roles: the agent's (pull, logs) and the application's (empty)."""
SECURITY_GROUP_PURPOSES = ("alb", "tasks")
