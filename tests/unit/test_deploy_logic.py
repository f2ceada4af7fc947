"""The deploy step's decisions and event parsing, without AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import DIGEST, JOB, load_event

from tap_cicd.deploy import events, failures, logic, releases, scanning
from tap_cicd.deploy.failures import JobFailure
from tap_cicd.deploy.logic import DeployConfig, Image
from tap_cicd.deploy.releases import Release
from tap_cicd.deploy.scanning import Finding, Waiting

ENV = {
    "TAP_TOPIC_ARN": "arn:aws:sns:eu-west-1:111122223333:t",
    "TAP_RELEASE_PARAMETER": "/pipeline/dev/release",
    "TAP_REPOSITORY_NAME": "pipeline-images-dev",
}
URI = f"111122223333.dkr.ecr.eu-west-1.amazonaws.com/pipeline-images-dev@{DIGEST}"
TAG = "release-abababababab"


def failure(call: Any, *args: Any) -> JobFailure:
    with pytest.raises(JobFailure) as caught:
        call(*args)
    return caught.value


# --- configuration ------------------------------------------------------------------------------


def test_config_defaults_and_values() -> None:
    config = DeployConfig.from_env(ENV)
    assert config.fail_on_severity == "HIGH"
    assert config.allowed_findings == frozenset()
    assert config.scan_wait_seconds == 900
    config = DeployConfig.from_env(
        {
            **ENV,
            "TAP_FAIL_ON_SEVERITY": " critical ",
            "TAP_ALLOWED_FINDINGS": "CVE-1, CVE-2,,",
            "TAP_SCAN_WAIT_SECONDS": "60",
        }
    )
    assert (config.fail_on_severity, config.scan_wait_seconds) == ("CRITICAL", 60)
    assert config.allowed_findings == {"CVE-1", "CVE-2"}
    listed = DeployConfig.from_env({**ENV, "TAP_ALLOWED_FINDINGS": '["CVE-3", " "]'})
    assert listed.allowed_findings == {"CVE-3"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"TAP_TOPIC_ARN": " "}, "TAP_TOPIC_ARN is unset"),
        ({"TAP_FAIL_ON_SEVERITY": "SEVERE"}, "TAP_FAIL_ON_SEVERITY must be one of"),
        ({"TAP_SCAN_WAIT_SECONDS": "-1"}, "TAP_SCAN_WAIT_SECONDS must be 0-86400"),
        ({"TAP_SCAN_WAIT_SECONDS": "99999"}, "TAP_SCAN_WAIT_SECONDS must be 0-86400"),
        ({"TAP_ALLOWED_FINDINGS": "[CVE"}, "TAP_ALLOWED_FINDINGS is not JSON"),
        ({"TAP_ALLOWED_FINDINGS": "[1]"}, "TAP_ALLOWED_FINDINGS must list strings"),
    ],
)
def test_config_errors_name_the_variable(change: dict[str, str], message: str) -> None:
    error = failure(DeployConfig.from_env, {**ENV, **change})
    assert error.failure_type == "ConfigurationError"
    assert message in error.message


def test_parameters_may_repeat_but_not_contradict_the_config() -> None:
    config = DeployConfig.from_env(ENV)
    logic.check_parameters(config, {"repositoryName": "pipeline-images-dev"})
    logic.check_parameters(config, {})
    error = failure(logic.check_parameters, config, {"failOnSeverity": "LOW"})
    assert error.failure_type == "ConfigurationError"
    assert "failOnSeverity 'LOW' contradicts 'HIGH'" in error.message


# --- the image ---------------------------------------------------------------------------------


def test_image_detail_gives_uri_and_digest() -> None:
    image = logic.image_of_detail(json.dumps({"ImageURI": URI}).encode())
    assert image.digest == DIGEST
    assert image.uri == URI
    assert image.repository_name == "pipeline-images-dev"


@pytest.mark.parametrize(
    "raw",
    [b"[]", b'{"ImageURI": "repo@sha256:00"}', f'{{"ImageURI": "{URI[:-1]}"}}'.encode()],
)
def test_image_detail_must_name_a_digest(raw: bytes) -> None:
    assert failure(logic.image_of_detail, raw).failure_type == "JobFailed"


def test_image_must_be_in_our_repository() -> None:
    config = DeployConfig.from_env(ENV)
    other = Image("111122223333.dkr.ecr.eu-west-1.amazonaws.com/other", DIGEST)
    assert failure(logic.check_image, other, config, {}).failure_type == "ConfigurationError"
    logic.check_image(logic.image_of_detail(f'{{"ImageURI": "{URI}"}}'.encode()), config, {})


# --- the gate ------------------------------------------------------------------------------------


def test_findings_basic_and_enhanced() -> None:
    assert scanning.finding_of({"name": "CVE-1", "severity": "high"}) == Finding("CVE-1", "HIGH")
    enhanced = {
        "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2"},
        "severity": "CRITICAL",
        "title": "CVE-2 - openssl",
    }
    assert scanning.finding_of(enhanced) == Finding("CVE-2", "CRITICAL")
    assert scanning.finding_of({"title": "GHSA-x", "severity": "UNTRIAGED"}).rank == 0
    assert scanning.finding_of({"findingArn": "arn:f"}) == Finding("arn:f", "UNDEFINED")
    assert scanning.finding_of({"packageVulnerabilityDetails": "?"}) == Finding(
        "unnamed", "UNDEFINED"
    )


FINDINGS = [
    Finding("CVE-L", "LOW"),
    Finding("CVE-H2", "HIGH"),
    Finding("CVE-C", "CRITICAL"),
    Finding("CVE-H1", "HIGH"),
    Finding("CVE-U", "UNDEFINED"),
]


@pytest.mark.parametrize(
    ("threshold", "blocking"),
    [
        ("CRITICAL", ["CVE-C"]),
        ("HIGH", ["CVE-C", "CVE-H1", "CVE-H2"]),
        ("LOW", ["CVE-C", "CVE-H1", "CVE-H2", "CVE-L"]),
        ("NONE", []),
    ],
)
def test_gate_blocks_at_or_above_the_threshold(threshold: str, blocking: list[str]) -> None:
    verdict = scanning.gate(FINDINGS, threshold, frozenset())
    assert [f.id for f in verdict.blocking] == blocking
    assert verdict.passed is (not blocking)
    assert verdict.total == len(FINDINGS)


def test_allow_list_lets_findings_through() -> None:
    verdict = scanning.gate(FINDINGS, "HIGH", frozenset({"CVE-C", "CVE-H1", "CVE-H2"}))
    assert verdict.passed
    assert {f.id for f in verdict.allowed} == {"CVE-C", "CVE-H1", "CVE-H2"}


def test_blocked_message_counts_and_names_the_worst() -> None:
    verdict = scanning.gate(FINDINGS, "HIGH", frozenset())
    assert scanning.blocked_message(verdict, "HIGH") == (
        "3 findings at or above HIGH block the release (CRITICAL 1, HIGH 2); worst: "
        "CVE-C (CRITICAL), CVE-H1 (HIGH), CVE-H2 (HIGH). "
        "Fix them or add their ids to allowedFindings."
    )
    one = scanning.gate([Finding("CVE-1", "HIGH")], "HIGH", frozenset())
    assert scanning.blocked_message(one, "HIGH").startswith("1 finding at or above HIGH")
    many = scanning.gate([Finding(f"CVE-{i:05}", "HIGH") for i in range(2000)], "HIGH", frozenset())
    message = scanning.blocked_message(many, "HIGH")
    assert "CVE-00004 (HIGH) and 1995 more." in message
    assert len(message) <= failures.MAX_FAILURE_MESSAGE


# --- scan state and continuation ---------------------------------------------------------------


NOW = 1_767_225_600
WAIT = 900


def token(**fields: Any) -> str:
    return json.dumps({"v": 1, "d": DIGEST, "s": NOW, "n": 1, **fields})


def test_waiting_token_round_trips_and_stays_short() -> None:
    fresh = Waiting.from_token(None, DIGEST, NOW, WAIT)
    assert fresh == Waiting(DIGEST, NOW, 1)
    again = Waiting.from_token(fresh.token(), DIGEST, NOW + 300, WAIT)
    assert again == Waiting(DIGEST, NOW, 2)
    assert len(Waiting(DIGEST, 10**12, 10**6).token()) <= scanning.MAX_CONTINUATION


@pytest.mark.parametrize(
    ("since", "polls"),
    [
        (NOW + scanning.MAX_CLOCK_SKEW, 1),  # another host's clock, a little ahead
        (NOW - WAIT - scanning.MAX_CLOCK_SKEW, 1),  # the last poll after the wait
        (NOW, 0),
        (NOW, scanning.MAX_POLLS),
    ],
)
def test_tokens_at_the_edges_are_accepted(since: int, polls: int) -> None:
    waiting = Waiting.from_token(token(s=since, n=polls), DIGEST, NOW, WAIT)
    assert waiting == Waiting(DIGEST, since, polls + 1)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not JSON"),
        ("[" * 2000, "not JSON"),
        ("x" * (scanning.MAX_CONTINUATION + 1), "longer than 2048 characters"),
        ("[1]", "not a JSON object"),
        ('{"d": "x"}', "version is not 1"),
        (token(v=2), "version is not 1"),
        (token(v=True), "version is not 1"),
        (token(v="1"), "version is not 1"),
        (token(d=None), "no image digest"),
        (token(s=None), "its start time is not whole epoch seconds"),
        (token(s=float(NOW)), "its start time is not whole epoch seconds"),
        (token(s=True), "its start time is not whole epoch seconds"),
        (token(s=str(NOW)), "its start time is not whole epoch seconds"),
        (token(s=NOW + scanning.MAX_CLOCK_SKEW + 1), "its start time lies more than 300 s in the"),
        (token(s=10**400), "its start time lies more than 300 s in the future"),
        (token(s=NOW - WAIT - scanning.MAX_CLOCK_SKEW - 1), "it started more than 1200 s ago"),
        (token(s=-(10**30)), "past the 900 s scan wait"),
        (token(n=-1), "its poll count is not a whole number from 0 to 10000"),
        (token(n=scanning.MAX_POLLS + 1), "its poll count is not a whole number"),
        (token(n=None), "its poll count is not a whole number"),
        (token(n=True), "its poll count is not a whole number"),
        (token(n=2.5), "its poll count is not a whole number"),
    ],
)
def test_tokens_we_did_not_write_fail_the_job(raw: str, reason: str) -> None:
    error = failure(Waiting.from_token, raw, DIGEST, NOW, WAIT)
    assert error.failure_type == "JobFailed"
    assert error.message.startswith("the continuation token is unusable: ")
    assert reason in error.message


@pytest.mark.parametrize("special", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_non_finite_start_times_fail_the_job_not_the_handler(special: str) -> None:
    raw = f'{{"v": 1, "d": "{DIGEST}", "s": {special}, "n": 1}}'
    error = failure(Waiting.from_token, raw, DIGEST, NOW, WAIT)
    assert (error.failure_type, error.message) == (
        "JobFailed",
        "the continuation token is unusable: its start time is not whole epoch seconds",
    )


def test_a_token_for_another_image_is_out_of_sync() -> None:
    error = failure(Waiting.from_token, token(d="sha256:" + "0" * 64), DIGEST, NOW, WAIT)
    assert (error.failure_type, error.message) == (
        "RevisionOutOfSync",
        "the continuation token is for another image",
    )


def test_scan_outcome() -> None:
    waiting = Waiting(DIGEST, 1000, 3)
    assert scanning.scan_outcome("COMPLETE", waiting, 5000, 60) is True
    assert scanning.scan_outcome("ACTIVE", waiting, 5000, 60) is True
    assert scanning.scan_outcome("IN_PROGRESS", waiting, 1059, 60) is False
    assert scanning.scan_outcome(None, waiting, 1000, 60) is False
    late = failure(scanning.scan_outcome, "PENDING", waiting, 1060, 60)
    assert late.message == f"the scan of {DIGEST} did not finish within 60 s (3 polls)"
    failed = failure(scanning.scan_outcome, "FAILED", waiting, 1000, 60)
    assert failed.message == f"the scan of {DIGEST} ended FAILED; cannot gate"


REPOSITORY = "pipeline-images-dev"


def configuration(**entry: Any) -> dict[str, Any]:
    return {
        "scanningConfigurations": [
            {"repositoryName": REPOSITORY, "appliedScanFilters": [], **entry},
            {"repositoryName": "other", "scanOnPush": True, "scanFrequency": "SCAN_ON_PUSH"},
        ],
        "failures": [],
    }


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (configuration(scanOnPush=False, scanFrequency="MANUAL"), False),
        (configuration(scanFrequency="MANUAL"), False),
        (configuration(scanOnPush=True, scanFrequency="MANUAL"), True),
        (configuration(scanOnPush=False, scanFrequency="SCAN_ON_PUSH"), True),
        (configuration(scanOnPush=False, scanFrequency="CONTINUOUS_SCAN"), True),
        (
            {
                "scanningConfigurations": [],
                "failures": [
                    {"repositoryName": "other", "failureCode": "REPOSITORY_NOT_FOUND"},
                    {"repositoryName": REPOSITORY, "failureCode": "REPOSITORY_NOT_FOUND"},
                ],
            },
            False,
        ),
        ({"failures": ["?"], "scanningConfigurations": ["?"]}, True),
        ({}, True),
    ],
    ids=["manual", "manual-no-flag", "on-push", "registry-on-push", "continuous", "failure",
         "malformed", "silent"],
)  # fmt: skip
def test_scan_expected_reads_the_effective_configuration(
    response: dict[str, Any], expected: bool
) -> None:
    assert scanning.scan_expected(response, REPOSITORY) is expected


def test_no_scan_message_says_what_to_enable() -> None:
    assert scanning.no_scan_message(DIGEST, REPOSITORY) == (
        f"no scan exists for {DIGEST} and none is configured for repository "
        "'pipeline-images-dev': enable scan on push or continuous scanning for it in the "
        "registry's scanning configuration (ECR > Private registry > Scanning), or set "
        "failOnSeverity=NONE to release without a scan gate"
    )


def test_release_tag_is_the_lifecycle_policys_prefix_and_12_hex() -> None:
    from tap_cicd import documents

    assert releases.release_tag("sha256:" + "0123456789abcdef" * 4) == "release-0123456789ab"
    # One fact, two packages: the function ships without tap_cicd.documents.
    assert documents.RELEASE_TAG_PREFIX == releases.RELEASE_TAG_PREFIX


# --- the release ---------------------------------------------------------------------------------


def release(execution: str | None = "exec-1") -> Release:
    return Release(
        image=Image(URI.partition("@")[0], DIGEST),
        commit="0123456789abcdef",
        source_version=None,
        execution_id=execution,
        image_tag="0123456789ab-7",
        recorded_at="2026-01-01T00:00:00+00:00",
        job_id=JOB,
        release_tag=TAG,
    )


def test_same_release_is_recognised() -> None:
    current = release()
    assert current.same_as(current.text())
    assert current.same_as(json.dumps({"imageDigest": DIGEST, "pipelineExecutionId": "exec-1"}))
    assert not current.same_as(release("exec-2").text())
    assert not current.same_as('{"imageDigest":null}')
    assert not current.same_as("[]")
    assert not current.same_as("not json")
    assert not current.same_as(None)


def test_release_message_is_readable() -> None:
    current = release()
    assert current.subject("/p/dev/release") == f"Release {DIGEST[7:19]} recorded in /p/dev/release"
    assert len(current.subject("/" + "x" * 200)) == releases.MAX_SUBJECT
    message = current.message("/p/dev/release")
    assert message.splitlines()[0] == f"Released {URI}"
    assert "Commit: 0123456789abcdef" in message
    assert f"Release tag: {TAG}" in message.splitlines()
    assert json.loads(current.text())["releaseTag"] == TAG
    bare = Release(current.image, None, None, None, None, current.recorded_at, JOB, TAG)
    assert "Commit: unknown" in bare.message("/p")
    assert "Pipeline execution: unknown" in bare.message("/p")


def test_output_variables_are_strings() -> None:
    variables = releases.output_variables(release(), "/p/dev/release", 3, "sent")
    assert variables == {
        "imageDigest": DIGEST,
        "imageUri": URI,
        "releaseTag": TAG,
        "releaseParameter": "/p/dev/release",
        "releaseVersion": "3",
        "notification": "sent",
    }


def test_reported_messages_fit_the_api() -> None:
    outcome = releases.Outcome.failed(JobFailure("JobFailed", "x" * 6000)).reportable(())
    assert len(outcome.message) == failures.MAX_FAILURE_MESSAGE
    assert outcome.message.endswith("...")
    summary = releases.Outcome(message="y" * 6000).reportable(())
    assert len(summary.message) == failures.MAX_SUMMARY


def test_reported_messages_are_scrubbed_before_they_are_clipped() -> None:
    secret = "SESSION-TOKEN-" + "z" * 40
    # The secret straddles the limit: clipped first, its head would no longer match.
    text = "x" * (failures.MAX_FAILURE_MESSAGE - 20) + secret + " tail"
    outcome = releases.Outcome.failed(JobFailure("JobFailed", text)).reportable([secret])
    assert "SESSION" not in outcome.message
    assert outcome.message == "x" * (failures.MAX_FAILURE_MESSAGE - 20) + "*** tail"


@pytest.mark.parametrize(
    ("code", "failure_type"),
    [
        ("AccessDeniedException", "PermissionError"),
        ("ThrottlingException", "SystemUnavailable"),
        ("InternalServerException", "SystemUnavailable"),
        ("ValidationException", "JobFailed"),
    ],
)
def test_failure_types(code: str, failure_type: str) -> None:
    assert failures.failure_type_of(code) == failure_type


def test_scrub_and_secrets_of() -> None:
    secrets = events.secrets_of(load_event("job_success"))
    assert len(secrets) == 3
    assert failures.scrub("key ASIAEXAMPLEEXAMPLE00 token SESSION-TOKEN-DO-NOT-LOG", secrets) == (
        "key *** token ***"
    )
    short = {"CodePipeline.job": {"data": {"artifactCredentials": {"a": "abc", "b": 7}}}}
    assert events.secrets_of(short) == ()
    assert events.secrets_of([]) == ()
    assert events.secrets_of({"CodePipeline.job": {"data": []}}) == ()


HOSTILE = "HOSTILE-SESSION\nTOKEN-'q\"\\-é"
"""A session token with a newline, both quotes, a backslash and a non-ASCII letter."""


@pytest.mark.parametrize(
    "rendering",
    [
        HOSTILE,
        repr(HOSTILE),
        repr(HOSTILE.encode()),
        repr(HOSTILE.encode("latin-1")),  # how http.client quotes a bad header value
        json.dumps(HOSTILE),
        json.dumps(HOSTILE, ensure_ascii=False),
        json.dumps(repr(HOSTILE.encode("latin-1"))),  # that error inside a JSON body
        repr(json.dumps(HOSTILE)),
        repr(repr(HOSTILE)),
    ],
)
def test_scrub_matches_every_rendering_of_a_secret(rendering: str) -> None:
    text = f"ValueError: Invalid header value {rendering} in request"
    scrubbed = failures.scrub(text, [HOSTILE])
    assert scrubbed.startswith("ValueError: Invalid header value ")
    assert scrubbed.endswith(" in request")
    assert "HOSTILE" not in scrubbed
    assert "TOKEN" not in scrubbed


def test_renderings_come_longest_first_and_include_the_raw_secret() -> None:
    forms = failures.renderings(HOSTILE)
    assert HOSTILE in forms
    assert [len(f) for f in forms] == sorted((len(f) for f in forms), reverse=True)
    # A secret latin-1 cannot encode still has its other renderings.
    assert "€-TOKEN" in failures.renderings("€-TOKEN")
    assert failures.scrub(repr("€-TOK\nEN".encode()), ["€-TOK\nEN"]) == "b'***'"


def test_shown_quotes_at_most_max_shown_characters() -> None:
    assert failures.shown("abc") == "'abc'"
    long = failures.shown("j" * 1_000_000)
    assert long == repr("j" * (failures.MAX_SHOWN - 3) + "...")
    assert failures.shown("a\nb") == "'a\\nb'"  # one line in a log


def test_contradicting_parameters_are_quoted_short() -> None:
    config = DeployConfig.from_env(ENV)
    error = failure(logic.check_parameters, config, {"failOnSeverity": "L" * 1_000_000})
    assert error.message == (
        f"UserParameters failOnSeverity {failures.shown('L' * 1_000_000)} contradicts 'HIGH'"
    )
    assert len(error.message) < 300


def test_budget() -> None:
    releases.Budget(lambda: 5000, 5000).check("step")
    error = failure(releases.Budget(lambda: 4999, 5000).check, "recording")
    assert (
        error.message
        == "time budget exhausted before recording: 4999 ms left, 5000 ms kept to report"
    )


# --- event parsing ---------------------------------------------------------------------------


def test_parse_success_event() -> None:
    job = events.parse_job(load_event("job_success"), JOB)
    assert job.id == JOB
    assert job.artifact == events.Location(
        "pipeline-artifacts-111122223333-dev", "pipeline-pipeline-d/build_outp/AbCdEf1"
    )
    assert job.credentials.session_token == "SESSION-TOKEN-DO-NOT-LOG"
    assert "DO-NOT-LOG" not in repr(job)
    assert job.encryption_key == "arn:aws:kms:eu-west-1:111122223333:key/0000-key"
    assert job.parameters["imageDigest"] == DIGEST
    assert job.continuation_token is None
    token = events.parse_job(load_event("job_continuation"), JOB).continuation_token
    assert token is not None
    assert json.loads(token)["d"] == DIGEST


def test_parse_picks_the_build_output_artifact() -> None:
    event = load_event("job_success")
    data = event["CodePipeline.job"]["data"]
    other = json.loads(json.dumps(data["inputArtifacts"][0]))
    other["name"] = "source_output"
    other["location"]["s3Location"]["objectKey"] = "other"
    data["inputArtifacts"].insert(0, other)
    data["encryptionKey"] = None
    data["actionConfiguration"]["configuration"]["UserParameters"] = json.dumps(
        {"imageDigest": "#{BuildVariables.IMAGE_DIGEST}", "n": 1, "e": "", "imageTag": "t"}
    )
    job = events.parse_job(event, JOB)
    assert job.artifact.key == "pipeline-pipeline-d/build_outp/AbCdEf1"
    assert job.encryption_key is None
    assert job.parameters == {"imageTag": "t"}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (["data"], None),
        (["data", "inputArtifacts"], None),
        (["data", "inputArtifacts", 0], "x"),
        (["data", "inputArtifacts", 0, "location", "s3Location"], []),
        (["data", "inputArtifacts", 0, "location", "s3Location", "bucketName"], ""),
        (["data", "artifactCredentials", "sessionToken"], None),
        (["data", "artifactCredentials"], "x"),
    ],
)
def test_malformed_events_fail_the_job(path: list[Any], value: Any) -> None:
    event = load_event("job_success")
    target: Any = event["CodePipeline.job"]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    error = failure(events.parse_job, event, JOB)
    assert error.failure_type == "JobFailed"
    assert "DO-NOT-LOG" not in error.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, {}), ("", {}), ('{"a": "b"}', {"a": "b"})],
)
def test_user_parameters(raw: Any, expected: dict[str, str]) -> None:
    assert events.parameters_of(raw) == expected


@pytest.mark.parametrize("raw", ["{", "[1]", 7])
def test_user_parameters_must_be_an_object(raw: Any) -> None:
    assert failure(events.parameters_of, raw).failure_type == "ConfigurationError"
