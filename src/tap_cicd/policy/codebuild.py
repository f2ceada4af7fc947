"""CodeBuild: pipeline-fed, keyless, logged, encrypted, curated image, honest buildspec (B1-B6)."""

from __future__ import annotations

import re

from tap_cicd.policy import tokens as t
from tap_cicd.policy.model import Props, Registry, as_list, dig, secret_like

rules = Registry("codebuild")

CURATED_IMAGE = re.compile(r"aws/codebuild/[a-z0-9._-]+:\d+(\.\d+)*")
# Ways a buildspec hides a failure or prints the environment (and with it, secrets).
UNSAFE_BUILDSPEC = {
    r"\|\|\s*(true|echo|:)(\s|$|;)": "swallows a failure with '|| true' / '|| echo'",
    r"on-failure:\s*CONTINUE": "continues after a failed phase",
    r"\bprintenv\b": "prints the environment",
    r"(^|[;&|]\s*|-\s+)env\s*$": "prints the environment",
    r"\bset\s+-[a-z]*x": "traces commands (set -x echoes secrets)",
}


@rules.resource(
    "TAP-CB-001",
    "The build gets only what the pipeline hands it.",
    ("FSBP CodeBuild.1",),
    t.PROJECT,
)
def pipeline_source(_: str, props: Props) -> list[str]:
    """Source and artifacts from CodePipeline only, no secondary sources."""
    problems = [
        f"{part} type is {dig(props, part, 'type')}, not CODEPIPELINE"
        for part in ("source", "artifacts")
        if dig(props, part, "type") != "CODEPIPELINE"
    ]
    if props.get("secondarySources"):
        problems.append("has secondary sources outside the pipeline")
    return problems


@rules.resource(
    "TAP-CB-002",
    "Plain-text variables are visible to anyone who can read the project.",
    ("FSBP CodeBuild.2",),
    t.PROJECT,
)
def no_plaintext_secrets(_: str, props: Props) -> list[str]:
    """Secrets only as SECRETS_MANAGER / PARAMETER_STORE variables."""
    return [
        f"variable {v.get('name')} looks like a secret but is PLAINTEXT"
        for v in as_list(dig(props, "environment", "environmentVariables"))
        if v.get("type", "PLAINTEXT") == "PLAINTEXT" and secret_like(str(v.get("name")))
    ]


@rules.resource(
    "TAP-CB-003",
    "Build logs go to a retained, encrypted group the stack owns.",
    ("FSBP CodeBuild.4", "CKV_AWS_314"),
    t.PROJECT,
)
def cloudwatch_logs(_: str, props: Props) -> list[str]:
    """CloudWatch logs enabled, to a named (pre-created) group."""
    logs = dig(props, "logsConfig", "cloudwatchLogs") or {}
    if logs.get("status", "ENABLED") != "ENABLED" or not logs.get("groupName"):
        return ["CloudWatch logs are not enabled to a named log group"]
    return []


@rules.resource(
    "TAP-CB-004",
    "Build artifacts are encrypted with the pipeline key.",
    ("CKV_AWS_147", "NAG CB4"),
    t.PROJECT,
)
def encryption_key(_: str, props: Props) -> list[str]:
    """``encryptionKey`` set."""
    return [] if props.get("encryptionKey") else ["encryptionKey is not set"]


@rules.resource(
    "TAP-CB-005", "Privileged mode gives the build root on its host.", ("CKV_AWS_316",), t.PROJECT
)
def not_privileged(_: str, props: Props) -> list[str]:
    """Privileged mode off."""
    if dig(props, "environment", "privilegedMode") is True:
        return ["privileged mode is on"]
    return []


@rules.resource(
    "TAP-CB-006",
    "A curated, versioned AWS image is patched and reproducible.",
    ("NAG CB5",),
    t.PROJECT,
)
def curated_image(_: str, props: Props) -> list[str]:
    """An ``aws/codebuild/...:<version>`` image pulled with CodeBuild credentials."""
    environment = props.get("environment") or {}
    image = str(environment.get("image"))
    problems = []
    if not CURATED_IMAGE.fullmatch(image):
        problems.append(f"image {image} is not a versioned aws/codebuild image")
    if environment.get("imagePullCredentialsType", "CODEBUILD") != "CODEBUILD":
        problems.append("image pulled with service-role credentials")
    return problems


@rules.resource(
    "TAP-CB-007",
    "The buildspec is reviewed with the stack, not taken from the source being built.",
    ("NAG CB5",),
    t.PROJECT,
)
def inline_buildspec(_: str, props: Props) -> list[str]:
    """The buildspec is inline (versioned in this repository)."""
    spec = str(dig(props, "source", "buildspec") or "")
    return [] if "version:" in spec else ["buildspec is not inline in the project"]


@rules.resource(
    "TAP-CB-008", "A build must fail when its tests fail, and never print secrets.", (), t.PROJECT
)
def honest_buildspec(_: str, props: Props) -> list[str]:
    """No swallowed failures, no printed environment."""
    lines = str(dig(props, "source", "buildspec") or "").splitlines()
    code = [line.split(" #", 1)[0] for line in lines if not line.lstrip().startswith("#")]
    return [
        f"buildspec {problem}: {line.strip()}"
        for line in code
        for pattern, problem in UNSAFE_BUILDSPEC.items()
        if re.search(pattern, line)
    ]


@rules.resource(
    "TAP-CB-009",
    "Stored source credentials are long-lived secrets in CodeBuild.",
    ("FSBP CodeBuild.1",),
    t.SOURCE_CREDENTIAL,
    t.PROJECT,
)
def no_source_credentials(typ: str, props: Props) -> list[str]:
    """No stored source credentials, no source auth in the project."""
    if typ == t.SOURCE_CREDENTIAL:
        return [f"stores {props.get('authType')} credentials for {props.get('serverType')}"]
    return ["the project's source carries auth"] if dig(props, "source", "auth") else []
