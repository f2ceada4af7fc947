"""Settings of one tap stack: a frozen dataclass, read from Pulumi config or the environment.

Every key lives in the Pulumi config namespace ``tap`` and may also come from an
environment variable (see ``ENV_VARS``). Pulumi config wins over the environment, which
wins over the default; ``environmentSuffix`` defaults to the stack name (as Pulumi programs
do with ``pulumi.get_stack()``). Validation happens once, in ``Settings.from_raw``, and the
first broken rule raises a ``ConfigError`` naming the key and the rule. The Deploy stage's keys
(scan gate, concurrency, ``deployTarget`` and the service) are validated in ``config_service``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from tap_cicd.config_service import (
    WHOLE,
    ServiceSettings,
    allowed_findings,
    deploy_concurrency,
    deploy_target,
    require_approval,
    scan_wait,
    service_settings,
    string_list,
)
from tap_cicd.deploy.scanning import DEFAULT_SCAN_WAIT_SECONDS, THRESHOLDS
from tap_cicd.errors import ConfigError
from tap_cicd.naming import Naming

Architecture = Literal["x86_64", "arm64"]
SourceKind = Literal["s3", "github"]
T = TypeVar("T", bound=str)

ENV_VARS: dict[str, str] = {
    "environmentSuffix": "ENVIRONMENT_SUFFIX",
    "namePrefix": "TAP_NAME_PREFIX",
    "codeBuildComputeType": "TAP_CODEBUILD_COMPUTE_TYPE",
    "buildArchitecture": "TAP_BUILD_ARCHITECTURE",
    "testCommand": "TAP_TEST_COMMAND",
    "source": "TAP_SOURCE",
    "connectionArn": "TAP_CONNECTION_ARN",
    "repository": "TAP_REPOSITORY",
    "branch": "TAP_BRANCH",
    "filePaths": "TAP_FILE_PATHS",
    "notificationEmail": "TAP_NOTIFICATION_EMAIL",
    "logRetentionDays": "TAP_LOG_RETENTION_DAYS",
    "failOnSeverity": "TAP_FAIL_ON_SEVERITY",
    "allowedFindings": "TAP_ALLOWED_FINDINGS",
    "scanWaitSeconds": "TAP_SCAN_WAIT_SECONDS",
    "deployConcurrency": "TAP_DEPLOY_CONCURRENCY",
    "tags": "TAP_TAGS",
    "deployTarget": "TAP_DEPLOY_TARGET",
    "containerPort": "TAP_CONTAINER_PORT",
    "cpu": "TAP_CPU",
    "memory": "TAP_MEMORY",
    "desiredCount": "TAP_DESIRED_COUNT",
    "healthCheckPath": "TAP_HEALTH_CHECK_PATH",
    "ingressCidrs": "TAP_INGRESS_CIDRS",
    "certificateArn": "TAP_CERTIFICATE_ARN",
    "vpcId": "TAP_VPC_ID",
    "subnetIds": "TAP_SUBNET_IDS",
    "rolloutWaitSeconds": "TAP_ROLLOUT_WAIT_SECONDS",
    "requireApproval": "TAP_REQUIRE_APPROVAL",
}
"""Config key -> environment variable that may supply it."""

# Lambda compute types are left out: they cannot run privileged Docker builds.
COMPUTE_TYPES = (
    "BUILD_GENERAL1_SMALL",
    "BUILD_GENERAL1_MEDIUM",
    "BUILD_GENERAL1_LARGE",
    "BUILD_GENERAL1_XLARGE",
    "BUILD_GENERAL1_2XLARGE",
)
ARCHITECTURES: tuple[Architecture, ...] = ("x86_64", "arm64")
SOURCES: tuple[SourceKind, ...] = ("s3", "github")
# The deploy step's own values: what the stack accepts is exactly what the function accepts.
SEVERITIES = THRESHOLDS
# The values CloudWatch Logs accepts for retentionInDays (0, "never expire", is refused on purpose).
RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
RESERVED_TAG_KEYS = ("Project", "Environment", "ManagedBy")
MAX_TAGS = 50

_SUFFIX = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_PREFIX = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_CONNECTION_ARN = re.compile(
    r"arn:aws[a-z-]*:(?:codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}"
)
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_BRANCH_FORBIDDEN = re.compile(r"[\s~^:?*\[\\]|\.\.|@\{|//")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# Letters and digits of any script, the space (not tabs or line breaks) and _.:/=+-@.
_TAG_CHARS = re.compile(r"[\w .:/=+\-@]*", re.UNICODE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}")
"""An AWS region code (``us-east-1``, ``us-gov-west-1``, ``ap-southeast-3``)."""


@dataclass(frozen=True)
class SourceSettings:
    """Where the pipeline takes its source from."""

    kind: SourceKind = "s3"
    """``s3``: a hardened source bucket (object ``source.zip``); ``github``: a connection."""
    connection_arn: str = ""
    """ARN of an existing CodeStar (CodeConnections) connection; ``github`` only."""
    repository: str = ""
    """``owner/name`` of the GitHub repository; ``github`` only."""
    branch: str = "main"
    """Branch that triggers the pipeline; ``github`` only."""
    file_paths: tuple[str, ...] = ()
    """Glob patterns; when set, only pushes touching them trigger (a V2 trigger's git filter)."""

    OBJECT_KEY = "source.zip"
    """The object in the source bucket whose upload starts the pipeline (``s3`` only)."""


@dataclass(frozen=True)
class Settings:
    """Everything one tap stack is built from. Construct through ``from_raw`` to validate."""

    environment_suffix: str = "dev"
    """Last part of every name; ``^[a-z0-9-]+$`` without leading or trailing hyphen. Defaults
    to the stack name (``dev`` when there is no stack)."""
    name_prefix: str = "pipeline"
    """First part of every name."""
    compute_type: str = "BUILD_GENERAL1_SMALL"
    """CodeBuild compute type."""
    architecture: Architecture = "x86_64"
    """Build architecture; picks the CodeBuild environment type and the curated image."""
    test_command: str = ""
    """Command the build runs before ``docker build`` (empty: none); its failure fails the build."""
    source: SourceSettings = field(default_factory=SourceSettings)
    """Where the source comes from."""
    notification_email: str = ""
    """Optional address subscribed to pipeline notifications (confirmation needed)."""
    log_retention_days: int = 365
    """Retention of the build and deploy log groups."""
    fail_on_severity: str = "HIGH"
    """Scan findings at or above this severity block a release; ``NONE`` disables the gate."""
    allowed_findings: tuple[str, ...] = ()
    """Finding ids (e.g. CVE ids) that never block a release."""
    scan_wait_seconds: int = DEFAULT_SCAN_WAIT_SECONDS
    """How long the deploy step waits for an image scan before it fails the release."""
    deploy_concurrency: int | None = None
    """Reserved concurrency of the deploy function; ``None`` (the default) reserves none."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Extra tags, merged with Project / Environment / ManagedBy on every taggable resource."""
    service: ServiceSettings = field(default_factory=ServiceSettings)
    """The ECS service each release rolls out to (``deployTarget``)."""
    require_approval: bool = False
    """A manual approval stage between Build and Deploy, announced on the topic."""

    @property
    def naming(self) -> Naming:
        """The naming convention of this stack."""
        return Naming(self.name_prefix, self.environment_suffix)

    @property
    def all_tags(self) -> dict[str, str]:
        """The tags every taggable resource carries."""
        return {
            "Project": self.name_prefix,
            "Environment": self.environment_suffix,
            "ManagedBy": "tap",
            **self.tags,
        }

    @classmethod
    def from_config(cls, config_get: Callable[[str], str | None], stack: str) -> Settings:
        """``pulumi.Config("tap").get``, then the environment, then the defaults; ``stack``
        (``pulumi.get_stack()``) is the default suffix."""
        return cls.from_raw(read_raw(config_get), stack)

    @classmethod
    def from_raw(cls, raw: Mapping[str, str | None], stack: str | None = None) -> Settings:
        """Validate raw string values (by config key; missing or ``None`` means default).

        ``environmentSuffix`` defaults to ``stack`` when given, else to ``dev``."""
        unknown = sorted(set(raw) - set(ENV_VARS))
        if unknown:
            raise ConfigError(unknown[0], f"unknown key; known keys: {', '.join(ENV_VARS)}")
        values = {k: v for k, v in raw.items() if v is not None}
        given = values.get("environmentSuffix")
        # A stack name that is no valid suffix must say where the value came from.
        from_stack = f" (it defaults to the stack name '{stack}')" if given is None else ""
        command = f"tap config set environmentSuffix <suffix> --stack {stack}"
        fix = f"; set tap:environmentSuffix ({command})" if from_stack else ""
        try:
            suffix = _suffix(given if given is not None else stack or "dev")
        except ConfigError as error:
            raise ConfigError("environmentSuffix", f"{error.rule}{from_stack}{fix}") from None
        prefix = _prefix(values.get("namePrefix", "pipeline"))
        problems = Naming(prefix, suffix).problems(service=deploy_target(values) == "ecs")
        if problems:
            raise ConfigError(
                "environmentSuffix",
                f"too long for the names derived from it{from_stack}: {problems[0]}{fix}",
            )
        return cls(
            environment_suffix=suffix,
            name_prefix=prefix,
            compute_type=_choice(values, "codeBuildComputeType", COMPUTE_TYPES, cls.compute_type),
            architecture=_choice(values, "buildArchitecture", ARCHITECTURES, cls.architecture),
            test_command=_test_command(values.get("testCommand", "")),
            source=_source(values),
            notification_email=_email(values.get("notificationEmail", "")),
            log_retention_days=_retention(values.get("logRetentionDays")),
            fail_on_severity=_choice(values, "failOnSeverity", SEVERITIES, cls.fail_on_severity),
            allowed_findings=allowed_findings(values.get("allowedFindings")),
            scan_wait_seconds=scan_wait(values.get("scanWaitSeconds")),
            deploy_concurrency=deploy_concurrency(values.get("deployConcurrency")),
            tags=_tags(values.get("tags")),
            service=service_settings(values),
            require_approval=require_approval(values.get("requireApproval")),
        )


def read_raw(
    config_get: Callable[[str], str | None], environ: Mapping[str, str] | None = None
) -> dict[str, str | None]:
    """Collect every key: Pulumi config first, then its environment variable."""
    env = os.environ if environ is None else environ
    raw: dict[str, str | None] = {}
    for key, variable in ENV_VARS.items():
        value = config_get(key)
        raw[key] = value if value is not None else env.get(variable)
    return raw


def _suffix(value: str) -> str:
    if not value:
        raise ConfigError("environmentSuffix", "must not be empty")
    if not _SUFFIX.fullmatch(value):
        raise ConfigError(
            "environmentSuffix",
            "must match ^[a-z0-9-]+$ without leading, trailing or doubled hyphens",
        )
    return value


def _prefix(value: str) -> str:
    if not _PREFIX.fullmatch(value) or len(value) > 20:
        raise ConfigError(
            "namePrefix",
            "must be 1-20 characters of a-z, 0-9 and single hyphens, starting with a letter",
        )
    return value


def _choice(values: Mapping[str, str], key: str, allowed: tuple[T, ...], default: T) -> T:
    value = values.get(key, default)
    for option in allowed:
        if value == option:
            return option
    raise ConfigError(key, f"must be one of {', '.join(allowed)}; got '{value}'")


def validate_region(value: str | None, default: str) -> str:
    """``aws:region``: a region code, or ``default`` when unset."""
    if value is None:
        return default
    if not _REGION.fullmatch(value):
        raise ConfigError("aws:region", f"'{value}' is not an AWS region code (like us-east-1)")
    return value


def _test_command(value: str) -> str:
    if _CONTROL.search(value) or len(value) > 1024:
        raise ConfigError("testCommand", "must be a single line of at most 1024 characters")
    return value


def _source(values: Mapping[str, str]) -> SourceSettings:
    kind = _choice(values, "source", SOURCES, "s3")
    github_keys = ("connectionArn", "repository", "branch", "filePaths")
    if kind == "s3":
        stray = [k for k in github_keys if values.get(k)]
        if stray:
            raise ConfigError(stray[0], "is only valid with source 'github'")
        return SourceSettings()
    connection = values.get("connectionArn", "")
    if not _CONNECTION_ARN.fullmatch(connection):
        raise ConfigError(
            "connectionArn",
            "must be the ARN of an existing CodeStar connection "
            "(arn:aws:codestar-connections:<region>:<account>:connection/<uuid>)",
        )
    repository = values.get("repository", "")
    if not _REPOSITORY.fullmatch(repository) or len(repository) > 200:
        raise ConfigError("repository", "must be 'owner/name'")
    branch = values.get("branch", "main")
    if (
        not branch
        or len(branch) > 255
        or _BRANCH_FORBIDDEN.search(branch)
        or branch.startswith(("/", "-"))
        or branch.endswith(("/", ".", ".lock"))
    ):
        raise ConfigError("branch", f"'{branch}' is not a valid git branch name")
    paths = string_list(values.get("filePaths"), "filePaths")
    for path in paths:
        if not path or len(path) > 255 or _CONTROL.search(path):
            raise ConfigError("filePaths", "each glob must be 1-255 characters on one line")
    if len(paths) > 8:
        raise ConfigError("filePaths", "at most 8 globs (CodePipeline's filter limit)")
    return SourceSettings("github", connection, repository, branch, paths)


def _email(value: str) -> str:
    if value and not _EMAIL.fullmatch(value):
        raise ConfigError("notificationEmail", f"'{value}' is not an email address")
    return value


def _retention(value: str | None) -> int:
    if value is None:
        return 365
    days = int(value) if WHOLE.fullmatch(value) else -1
    if days not in RETENTION_DAYS:
        allowed = ", ".join(map(str, RETENTION_DAYS))
        raise ConfigError("logRetentionDays", f"must be one of {allowed}; got '{value}'")
    return days


def _tags(value: str | None) -> dict[str, str]:
    if value is None or not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict) or not all(isinstance(v, str) for v in parsed.values()):
        raise ConfigError("tags", "must be a JSON object of string values")
    for key, tag_value in parsed.items():
        _check_tag(key, tag_value)
    if len(parsed) + len(RESERVED_TAG_KEYS) > MAX_TAGS:
        raise ConfigError(
            "tags", f"at most {MAX_TAGS - len(RESERVED_TAG_KEYS)} (AWS allows {MAX_TAGS} in all)"
        )
    return dict(parsed)


def _check_tag(key: str, value: str) -> None:
    if key in RESERVED_TAG_KEYS:
        raise ConfigError("tags", f"key '{key}' is set by tap and cannot be overridden")
    if key.lower().startswith("aws:"):
        raise ConfigError("tags", f"key '{key}' uses the reserved 'aws:' prefix")
    if not 1 <= len(key) <= 128 or not _TAG_CHARS.fullmatch(key):
        raise ConfigError("tags", f"key '{key}' must be 1-128 letters, digits, spaces or _.:/=+-@")
    if len(value) > 256 or not _TAG_CHARS.fullmatch(value):
        raise ConfigError(
            "tags", f"value of '{key}' must be 0-256 letters, digits, spaces or _.:/=+-@"
        )
