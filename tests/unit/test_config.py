"""Settings: defaults, sources of values and every validation rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tap_cicd.config import ENV_VARS, Settings, read_raw, validate_region
from tap_cicd.errors import ConfigError
from tap_cicd.naming import Naming

CONNECTION = (
    "arn:aws:codestar-connections:eu-west-1:111122223333:connection/"
    "0f3e2d1c-aaaa-bbbb-cccc-0123456789ab"
)
GITHUB = {"source": "github", "connectionArn": CONNECTION, "repository": "acme/service"}


def test_defaults() -> None:
    settings = Settings.from_raw({})
    assert settings.environment_suffix == "dev"
    assert settings.name_prefix == "pipeline"
    assert settings.compute_type == "BUILD_GENERAL1_SMALL"
    assert settings.architecture == "x86_64"
    assert settings.source.kind == "s3"
    assert settings.log_retention_days == 365
    assert settings.fail_on_severity == "HIGH"
    assert settings.allowed_findings == ()
    assert settings.scan_wait_seconds == 900
    # No reservation unless asked: new accounts (quota 10 or 50) cannot reserve any.
    assert settings.deploy_concurrency is None
    assert Settings.from_raw({"deployConcurrency": " "}).deploy_concurrency is None
    assert settings.all_tags == {"Project": "pipeline", "Environment": "dev", "ManagedBy": "tap"}


def test_none_means_default() -> None:
    assert Settings.from_raw(dict.fromkeys(ENV_VARS)) == Settings.from_raw({})


def test_every_value_is_read() -> None:
    settings = Settings.from_raw(
        {
            **GITHUB,
            "environmentSuffix": "pr-42",
            "namePrefix": "shop",
            "codeBuildComputeType": "BUILD_GENERAL1_LARGE",
            "buildArchitecture": "arm64",
            "testCommand": "make test",
            "branch": "release/2026",
            "filePaths": "src/**, Dockerfile",
            "notificationEmail": "team@example.com",
            "logRetentionDays": "30",
            "failOnSeverity": "CRITICAL",
            "allowedFindings": '["CVE-2024-0001", "CVE-2024-0002"]',
            "scanWaitSeconds": "1200",
            "deployConcurrency": "2",
            "tags": '{"CostCenter": "42", "Owner": "team a"}',
        }
    )
    assert settings.naming.name("build") == "shop-build-pr-42"
    assert settings.compute_type == "BUILD_GENERAL1_LARGE"
    assert settings.architecture == "arm64"
    assert settings.test_command == "make test"
    assert settings.source.kind == "github"
    assert settings.source.connection_arn == CONNECTION
    assert settings.source.repository == "acme/service"
    assert settings.source.branch == "release/2026"
    assert settings.source.file_paths == ("src/**", "Dockerfile")
    assert settings.notification_email == "team@example.com"
    assert settings.log_retention_days == 30
    assert settings.fail_on_severity == "CRITICAL"
    assert settings.allowed_findings == ("CVE-2024-0001", "CVE-2024-0002")
    assert settings.scan_wait_seconds == 1200
    assert settings.deploy_concurrency == 2
    assert settings.all_tags == {
        "Project": "shop",
        "Environment": "pr-42",
        "ManagedBy": "tap",
        "CostCenter": "42",
        "Owner": "team a",
    }


def test_config_wins_over_environment_which_wins_over_default() -> None:
    config = {"environmentSuffix": "from-config"}
    environ = {"ENVIRONMENT_SUFFIX": "from-env", "TAP_NAME_PREFIX": "envprefix"}
    raw = read_raw(config.get, environ)
    assert raw["environmentSuffix"] == "from-config"
    assert raw["namePrefix"] == "envprefix"
    assert raw["source"] is None
    assert set(raw) == set(ENV_VARS)


def test_environment_default_is_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT_SUFFIX", "ci")
    assert read_raw(lambda _key: None)["environmentSuffix"] == "ci"


INVALID = [
    ({"environmentSuffix": ""}, "environmentSuffix", "must not be empty"),
    ({"environmentSuffix": "Prod"}, "environmentSuffix", "^[a-z0-9-]+$"),
    ({"environmentSuffix": "-dev"}, "environmentSuffix", "leading, trailing"),
    ({"environmentSuffix": "dev-"}, "environmentSuffix", "leading, trailing"),
    ({"environmentSuffix": "a--b"}, "environmentSuffix", "doubled hyphens"),
    ({"environmentSuffix": "dev_1"}, "environmentSuffix", "^[a-z0-9-]+$"),
    ({"environmentSuffix": "x" * 30}, "environmentSuffix", "S3 bucket name"),
    ({"namePrefix": "1abc"}, "namePrefix", "starting with a letter"),
    ({"namePrefix": "a" * 21}, "namePrefix", "1-20 characters"),
    ({"codeBuildComputeType": "BUILD_LAMBDA_1GB"}, "codeBuildComputeType", "must be one of"),
    ({"buildArchitecture": "aarch64"}, "buildArchitecture", "x86_64, arm64"),
    ({"testCommand": "a\nb"}, "testCommand", "single line"),
    ({"source": "git"}, "source", "s3, github"),
    ({"repository": "acme/service"}, "repository", "only valid with source 'github'"),
    ({"source": "github"}, "connectionArn", "CodeStar connection"),
    ({**GITHUB, "connectionArn": "arn:aws:s3:::bucket"}, "connectionArn", "CodeStar"),
    ({**GITHUB, "repository": "service"}, "repository", "owner/name"),
    ({**GITHUB, "branch": "feature..x"}, "branch", "not a valid git branch"),
    ({**GITHUB, "branch": "x.lock"}, "branch", "not a valid git branch"),
    ({**GITHUB, "branch": ""}, "branch", "not a valid git branch"),
    ({**GITHUB, "filePaths": "[1, 2]"}, "filePaths", "JSON list of strings"),
    ({**GITHUB, "filePaths": "[oops"}, "filePaths", "JSON list of strings"),
    ({**GITHUB, "filePaths": "a,,b"}, "filePaths", "1-255 characters"),
    ({**GITHUB, "filePaths": ",".join("p" * 9)}, "filePaths", "at most 8"),
    ({"notificationEmail": "not-an-email"}, "notificationEmail", "not an email"),
    ({"logRetentionDays": "0"}, "logRetentionDays", "must be one of 1, 3"),
    ({"logRetentionDays": "364"}, "logRetentionDays", "got '364'"),
    ({"logRetentionDays": "year"}, "logRetentionDays", "got 'year'"),
    ({"failOnSeverity": "high"}, "failOnSeverity", "CRITICAL, HIGH, MEDIUM, LOW, NONE"),
    ({"allowedFindings": "CVE 1"}, "allowedFindings", "not a finding id"),
    ({"allowedFindings": ",".join(["CVE-2024-12345"] * 200)}, "allowedFindings", "2048"),
    # CodePipeline fails a Lambda invoke action after 24 hours (its quotas page).
    ({"scanWaitSeconds": "86401"}, "scanWaitSeconds", "0-86400"),
    ({"scanWaitSeconds": "-5"}, "scanWaitSeconds", "whole number of seconds"),
    ({"deployConcurrency": "0"}, "deployConcurrency", "whole number 1-900"),
    # str.isdigit accepts superscripts, which int() refuses: one line, not a traceback.
    ({"deployConcurrency": "²"}, "deployConcurrency", "whole number 1-900"),
    ({"scanWaitSeconds": "²"}, "scanWaitSeconds", "whole number of seconds"),
    ({"logRetentionDays": "³⁰"}, "logRetentionDays", "must be one of"),
    ({"testCommand": "make test\r"}, "testCommand", "single line"),
    ({"tags": '{"k": "a\\nb"}'}, "tags", "0-256"),
    ({"tags": '{"k": "a\\tb"}'}, "tags", "0-256"),
    ({"deployConcurrency": "901"}, "deployConcurrency", "keeps 100"),
    ({"deployConcurrency": "two"}, "deployConcurrency", "whole number 1-900"),
    ({"tags": "[1]"}, "tags", "JSON object"),
    ({"tags": "{bad"}, "tags", "JSON object"),
    ({"tags": '{"a": 1}'}, "tags", "JSON object of string values"),
    ({"tags": '{"aws:team": "x"}'}, "tags", "reserved 'aws:' prefix"),
    ({"tags": '{"AWS:team": "x"}'}, "tags", "reserved 'aws:' prefix"),
    ({"tags": '{"Environment": "x"}'}, "tags", "set by tap"),
    ({"tags": '{"": "x"}'}, "tags", "1-128"),
    ({"tags": '{"k": "' + "v" * 257 + '"}'}, "tags", "0-256"),
    ({"tags": '{"k": "a;b"}'}, "tags", "0-256"),
    ({"tags": "{" + ",".join(f'"k{i}": "v"' for i in range(48)) + "}"}, "tags", "at most 47"),
    ({"colour": "blue"}, "colour", "unknown key"),
]


@pytest.mark.parametrize(
    ("raw", "key", "message"), INVALID, ids=[f"{k}:{m}" for _, k, m in INVALID]
)
def test_invalid_config_names_key_and_rule(raw: dict[str, str], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_raw(raw)
    assert caught.value.key == key
    assert message in caught.value.rule
    assert str(caught.value).startswith(f"invalid config '{key}': ")
    assert "\n" not in str(caught.value)
    assert caught.value.code == "config_invalid"
    assert caught.value.exit_code == 2


def test_scan_wait_accepts_what_the_deploy_step_accepts() -> None:
    assert Settings.from_raw({"scanWaitSeconds": "86400"}).scan_wait_seconds == 86_400


@pytest.mark.parametrize("region", ["mars-1", "", "us east 1", "*", "US-EAST-1", "us-east-1a"])
def test_a_region_that_is_not_a_region_code_is_refused(region: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_region(region, "us-east-1")
    assert str(caught.value).startswith("invalid config 'aws:region': ")


@pytest.mark.parametrize("region", ["us-east-1", "us-gov-west-1", "ap-southeast-3", "eu-west-1"])
def test_region_codes_are_accepted(region: str) -> None:
    assert validate_region(region, "us-east-1") == region
    assert validate_region(None, "eu-west-1") == "eu-west-1"


def test_tag_limit_boundary_is_accepted() -> None:
    tags = "{" + ",".join(f'"k{i}": "v"' for i in range(47)) + "}"
    assert len(Settings.from_raw({"tags": tags}).all_tags) == 50


SUFFIX_ALPHABET = st.text(alphabet="abcxyz019-_A.", min_size=0, max_size=40)


@given(SUFFIX_ALPHABET)
def test_accepted_suffixes_yield_valid_names_and_rejected_ones_raise(suffix: str) -> None:
    try:
        settings = Settings.from_raw({"environmentSuffix": suffix})
    except ConfigError as error:
        assert error.key == "environmentSuffix"
        return
    assert settings.environment_suffix == suffix
    names = settings.naming.all_names()
    assert names
    for kind, name in names:
        assert kind.value.problem(name) is None, name
        assert suffix in name


@given(st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,3}){0,2}", fullmatch=True))
def test_short_well_formed_suffixes_are_accepted(suffix: str) -> None:
    """Up to 18 characters: the load balancer's name (32 at most) bounds the suffix."""
    assert Settings.from_raw({"environmentSuffix": suffix}).naming == Naming("pipeline", suffix)


@given(st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,5}){0,2}", fullmatch=True))
def test_without_the_service_longer_suffixes_are_accepted(suffix: str) -> None:
    settings = Settings.from_raw({"environmentSuffix": suffix, "deployTarget": "none"})
    assert settings.naming == Naming("pipeline", suffix)
