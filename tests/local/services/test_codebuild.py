"""CodeBuild builds in the emulator: a project's buildspec run phase by phase in a fresh
workspace, reported through BatchGetBuilds, logged to CloudWatch Logs, its artifact in S3; the
failure transitions, timeouts, stops and faults; the tap buildspec itself, with a fake engine."""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
import threading
import time
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.codebuild.models import CodeBuildBackend, codebuild_backends

from tap_cicd.local import services
from tap_cicd.local.services import buildspec, codebuild, codebuild_api, containers

from .conftest import client, deny_actions, service_role

REGION = "us-east-1"
ACCOUNT = "123456789012"
PROJECT = "tap-build"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234"
SOURCE = ("tap-source", "source.zip")
ARTIFACT = ("tap-artifacts", "pipe/BuildArtif/abc")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ORDER = [
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
]


def create_project(
    live: str,
    spec: str,
    *,
    name: str = PROJECT,
    variables: list[dict[str, str]] | None = None,
    privileged: bool = False,
    logs: dict[str, str] | None = None,
    **extra: Any,
) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/build"
    with contextlib.suppress(ClientError):  # one role for every project of a test
        role = service_role(live, "build", "codebuild.amazonaws.com")
    client(live, "codebuild").create_project(
        name=name,
        source={"type": "CODEPIPELINE", "location": "unused", "buildspec": spec},
        artifacts={"type": "CODEPIPELINE", "location": "unused"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "privilegedMode": privileged,
            "environmentVariables": variables or [],
        },
        serviceRole=role,
        logsConfig={"cloudWatchLogs": logs or {"status": "ENABLED"}},
        **extra,
    )


def put_source(live: str, files: dict[str, str] | None = None) -> None:
    s3 = client(live, "s3")
    for bucket in (SOURCE[0], ARTIFACT[0]):
        s3.create_bucket(Bucket=bucket)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in (files or {"README": "source"}).items():
            archive.writestr(name, text)
    s3.put_object(Bucket=SOURCE[0], Key=SOURCE[1], Body=buffer.getvalue())


def request(**changes: Any) -> codebuild.BuildRequest:
    fields: dict[str, Any] = {
        "project_name": PROJECT,
        "account": ACCOUNT,
        "region": REGION,
        "source": SOURCE,
        "artifact": None,
        "source_version": COMMIT,
        "initiator": "codepipeline/tap-pipeline",
    }
    return codebuild.BuildRequest(**(fields | changes))


def run(live: str, spec: str, *, changes: dict[str, Any] | None = None, **project: Any) -> Any:
    """Create the project, put the source, run a build (with no output artifact unless
    ``changes`` has one) to its end."""
    create_project(live, textwrap.dedent(spec), **project)
    put_source(live)
    return codebuild.wait(codebuild.start(request(**(changes or {}))), 30)


def phases(record: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(phase["phaseType"], phase.get("phaseStatus")) for phase in record["phases"]]


def phase(record: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in record["phases"] if p["phaseType"] == name)


def log(live: str, record: dict[str, Any]) -> list[str]:
    events = client(live, "logs").get_log_events(
        logGroupName=record["logs"]["groupName"],
        logStreamName=record["logs"]["streamName"],
        startFromHead=True,
    )["events"]
    return [event["message"] for event in events]


def container(lines: list[str]) -> list[str]:
    """CodeBuild's own lines without their timestamp."""
    return [line.split(" ", 3)[3] for line in lines if line.startswith("[Container] ")]


SUCCEEDING = """
    version: 0.2
    env:
      variables:
        FROM_SPEC: spec
        OVERRIDDEN: spec
      parameter-store:
        FROM_SSM: /tap/param
      exported-variables: [FROM_SPEC, WHERE, FROM_PROJECT, SECRET, AWS_REGION]
    phases:
      install:
        commands:
          - mkdir -p out/sub && cd out
      pre_build:
        commands:
          - export WHERE="$(pwd)"
      build:
        commands:
          - echo "$CODEBUILD_BUILD_NUMBER $CODEBUILD_RESOLVED_SOURCE_VERSION $CODEBUILD_INITIATOR"
          - echo "$FROM_SPEC $FROM_SSM $FROM_PROJECT $OVERRIDDEN $SECRET"
          - aws ssm get-parameter --name /tap/param --with-decryption
              --query Parameter.Value --output text
          - echo "to stderr" >&2
      post_build:
        commands:
          - echo built > result.txt && echo nested > sub/deep.txt
    artifacts:
      files: ["**/*"]
      base-directory: out
"""


def test_a_build_runs_its_buildspec(live: str) -> None:
    client(live, "ssm").put_parameter(Name="/tap/param", Value="from-ssm", Type="SecureString")
    record = run(
        live,
        SUCCEEDING,
        variables=[
            {"name": "FROM_PROJECT", "value": "project", "type": "PLAINTEXT"},
            {"name": "OVERRIDDEN", "value": "project", "type": "PLAINTEXT"},
            {"name": "SECRET", "value": "/tap/param", "type": "PARAMETER_STORE"},
        ],
        encryptionKey=KEY,
        timeoutInMinutes=30,
        changes={"environment": {"OVERRIDDEN": "start"}, "artifact": ARTIFACT},
    )
    build_id = record["id"]
    assert build_id.startswith(f"{PROJECT}:")
    assert record["arn"] == f"arn:aws:codebuild:{REGION}:{ACCOUNT}:build/{build_id}"
    assert (record["buildStatus"], record["currentPhase"], record["buildComplete"]) == (
        "SUCCEEDED",
        "COMPLETED",
        True,
    )
    assert phases(record) == [(name, "SUCCEEDED") for name in ORDER[:-1]] + [("COMPLETED", None)]
    assert phase(record, "BUILD")["contexts"] == [{"statusCode": "", "message": ""}]
    assert record["endTime"] >= record["startTime"]
    assert (record["buildNumber"], record["resolvedSourceVersion"]) == (1, COMMIT)
    assert record["sourceVersion"] == "arn:aws:s3:::tap-source/source.zip"
    assert (record["initiator"], record["encryptionKey"]) == ("codepipeline/tap-pipeline", KEY)
    assert record["timeoutInMinutes"] == 30
    where = record["exportedEnvironmentVariables"][1]["value"]
    assert where.endswith("/src/out")
    assert record["exportedEnvironmentVariables"] == [
        {"name": "FROM_SPEC", "value": "spec"},
        {"name": "WHERE", "value": where},
        {"name": "FROM_PROJECT", "value": "project"},
    ]
    assert not Path(where).exists()  # the workspace is gone
    # The log: CodeBuild's lines and the commands' own, stdout and stderr.
    lines = log(live, record)
    assert "1 0123456789abcdef0123456789abcdef01234567 codepipeline/tap-pipeline" in lines
    assert "spec from-ssm project start from-ssm" in lines
    assert lines.count("from-ssm") == 1  # the aws CLI reached the emulator
    assert "to stderr" in lines
    own = container(lines)
    assert own[:3] == ["Entering phase PROVISIONING", "Waiting for agent ping", own[2]]
    assert "Running command mkdir -p out/sub && cd out" in own
    assert own[-3:] == [
        "Entering phase FINALIZING",
        "Phase complete: FINALIZING State: SUCCEEDED",
        "Phase context status code:  Message: ",
    ]
    assert record["logs"]["groupName"] == f"/aws/codebuild/{PROJECT}"
    assert record["logs"]["streamName"] == build_id.split(":")[1]
    # The artifact, encrypted with the project's key.
    stored = client(live, "s3").get_object(Bucket=ARTIFACT[0], Key=ARTIFACT[1])
    assert (stored["ServerSideEncryption"], stored["SSEKMSKeyId"]) == ("aws:kms", KEY)
    archive = zipfile.ZipFile(io.BytesIO(stored["Body"].read()))
    assert sorted(archive.namelist()) == ["result.txt", "sub/deep.txt"]
    assert record["artifacts"]["location"] == "arn:aws:s3:::tap-artifacts/pipe/BuildArtif/abc"


def test_the_api_reports_the_builds(live: str) -> None:
    spec = "version: 0.2\nphases:\n  build:\n    commands: [echo hi]\n"
    first = run(live, spec)
    second = codebuild.wait(codebuild.start(request()), 30)
    assert (first["buildNumber"], second["buildNumber"]) == (1, 2)
    api = client(live, "codebuild")
    ids = [first["id"], "missing:id", second["id"], first["id"]]
    found = api.batch_get_builds(ids=ids)["builds"]
    assert [b["id"] for b in found] == [first["id"], second["id"]]
    assert [(p["phaseType"], p.get("phaseStatus")) for p in found[0]["phases"]] == phases(first)
    assert found[1]["buildStatus"] == "SUCCEEDED"
    assert found[1]["exportedEnvironmentVariables"] == []
    listed = api.list_builds_for_project(projectName=PROJECT)["ids"]
    assert listed == [second["id"], first["id"]]  # newest first
    assert codebuild.build(first["id"]) == first


def test_moto_keeps_the_builds_it_started(live: str) -> None:
    ours = run(live, "version: 0.2\n")
    api = client(live, "codebuild")
    theirs = api.start_build(projectName=PROJECT)["build"]["id"]
    found = api.batch_get_builds(ids=[theirs, ours["id"]])["builds"]
    assert [b["id"] for b in found] == [theirs, ours["id"]]
    assert found[0]["buildStatus"] == "SUCCEEDED"  # moto's answer for its own builds
    assert api.list_builds_for_project(projectName=PROJECT)["ids"] == [ours["id"], theirs]


def test_a_project_keeps_its_encryption_key(live: str) -> None:
    create_project(live, "version: 0.2\n", encryptionKey=KEY)
    create_project(live, "version: 0.2\n", name="tap-other")
    found = client(live, "codebuild").batch_get_projects(names=[PROJECT, "tap-other"])
    keys = [project["encryptionKey"] for project in found["projects"]]
    assert keys == [KEY, f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/s3"]


def test_install_is_idempotent() -> None:
    codebuild.install()
    codebuild.install()
    assert CodeBuildBackend.batch_get_builds is codebuild_api._batch_get_builds
    assert CodeBuildBackend.stop_build is codebuild_api._stop_build
    assert codebuild_api._ORIGINALS["batch_get_builds"] is not codebuild_api._batch_get_builds


FAIL = "    {phase}:\n      commands: [{commands}]\n"


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        # A failed BUILD still runs POST_BUILD, where CODEBUILD_BUILD_SUCCEEDING is 0.
        (
            {"build": "exit 3", "post_build": 'test "$CODEBUILD_BUILD_SUCCEEDING" = 0'},
            ["INSTALL", "PRE_BUILD", "BUILD:FAILED", "POST_BUILD", "UPLOAD_ARTIFACTS"],
        ),
        # A failed INSTALL or PRE_BUILD ends the build.
        ({"install": "exit 3", "post_build": "echo never"}, ["INSTALL:FAILED"]),
        ({"pre_build": "exit 3"}, ["INSTALL", "PRE_BUILD:FAILED"]),
        # A failed POST_BUILD still uploads the artifact.
        ({"post_build": "exit 3"}, [*ORDER[4:7], "POST_BUILD:FAILED", "UPLOAD_ARTIFACTS"]),
        # on-failure ABORT ends the build, CONTINUE goes on.
        ({"build": "exit 3", "build_on": "ABORT"}, [*ORDER[4:6], "BUILD:FAILED"]),
        (
            {"install": "exit 3", "install_on": "CONTINUE"},
            ["INSTALL:FAILED", *ORDER[5:9]],
        ),
    ],
)
def test_failure_transitions(live: str, declared: dict[str, str], expected: list[str]) -> None:
    spec = "version: 0.2\nphases:\n"
    for name in ("install", "pre_build", "build", "post_build"):
        if name in declared:
            spec += f"  {name}:\n    commands: [{json.dumps(declared[name])}]\n"
            if f"{name}_on" in declared:
                spec += f"    on-failure: {declared[name + '_on']}\n"
    spec += "artifacts:\n  files: [README]\n"
    record = run(live, spec, changes={"artifact": ARTIFACT})
    ran = [name if status == "SUCCEEDED" else f"{name}:{status}" for name, status in phases(record)]
    assert ran[4:-2] == expected
    assert ran[:4] == ORDER[:4]
    assert ran[-2:] == ["FINALIZING", "COMPLETED:None"]
    assert record["buildStatus"] == "FAILED"
    failed = next(p for p in record["phases"] if p.get("phaseStatus") == "FAILED")
    assert failed["contexts"] == [
        {
            "statusCode": "COMMAND_EXECUTION_ERROR",
            "message": "Error while executing command: exit 3. Reason: exit status 3",
        }
    ]
    assert "never" not in log(live, record)


def test_finally_runs_after_a_failed_command(live: str) -> None:
    spec = """
        version: 0.2
        phases:
          build:
            commands: [exit 2, echo skipped]
            finally: [echo cleanup]
    """
    record = run(live, spec)
    lines = log(live, record)
    assert "cleanup" in lines
    assert "skipped" not in lines
    own = container(lines)
    assert "Command did not exit successfully exit 2 exit status 2" in own
    assert "Phase complete: BUILD State: FAILED" in own
    assert (
        "Phase context status code: COMMAND_EXECUTION_ERROR "
        "Message: Error while executing command: exit 2. Reason: exit status 2"
    ) in own


@pytest.mark.parametrize(
    ("spec", "artifact", "message"),
    [
        ("version: 0.2\n", ARTIFACT, "no definition for primary artifact in buildspec"),
        ("version: 0.2\nartifacts:\n  files: [none/*]\n", ARTIFACT, "no matching artifact"),
    ],
)
def test_an_artifact_that_cannot_be_made(
    live: str, spec: str, artifact: tuple[str, str], message: str
) -> None:
    record = run(live, spec, changes={"artifact": artifact})
    assert phases(record)[-3:] == [
        ("UPLOAD_ARTIFACTS", "FAILED"),
        ("FINALIZING", "SUCCEEDED"),
        ("COMPLETED", None),
    ]
    context = phase(record, "UPLOAD_ARTIFACTS")["contexts"][0]
    assert (context["statusCode"], context["message"][: len(message)]) == ("CLIENT_ERROR", message)
    assert record["buildStatus"] == "FAILED"


def test_no_output_artifact_uploads_nothing(live: str) -> None:
    record = run(live, "version: 0.2\n")
    assert record["buildStatus"] == "SUCCEEDED"
    assert record["artifacts"] == {}
    assert client(live, "s3").list_objects_v2(Bucket=ARTIFACT[0])["KeyCount"] == 0


@pytest.mark.parametrize(
    ("spec", "changes", "code", "message"),
    [
        ("version: 0.2\n", {"source": ("tap-source", "gone.zip")}, "CLIENT_ERROR", "error while"),
        ("version: [\n", {}, "YAML_FILE_ERROR", "the buildspec is not valid YAML"),
        ("buildspec.yml", {}, "YAML_FILE_ERROR", "the buildspec cannot be read"),
        (
            "version: 0.2\nenv:\n  parameter-store:\n    X: /missing\n",
            {},
            "Decrypted Variables Error",
            "parameter does not exist: /missing",
        ),
    ],
)
def test_a_source_that_cannot_be_read(
    live: str, spec: str, changes: dict[str, Any], code: str, message: str
) -> None:
    record = run(live, spec, changes=changes)
    assert phases(record)[3:] == [
        ("DOWNLOAD_SOURCE", "FAILED"),
        ("FINALIZING", "SUCCEEDED"),
        ("COMPLETED", None),
    ]
    context = phase(record, "DOWNLOAD_SOURCE")["contexts"][0]
    assert (context["statusCode"], context["message"][: len(message)]) == (code, message)
    assert (record["buildStatus"], record["exportedEnvironmentVariables"]) == ("FAILED", [])


def test_a_build_times_out(live: str) -> None:
    create_project(live, "version: 0.2\nphases:\n  build:\n    commands: [sleep 30]\n")
    put_source(live)
    # The API's minimum is 5 minutes: the test shortens the project's record to 0.6 s.
    backend = codebuild_backends[ACCOUNT][REGION]
    backend.codebuild_projects[PROJECT].project_metadata["timeoutInMinutes"] = 0.01
    started = time.monotonic()
    record = codebuild.wait(codebuild.start(request()), 10)
    assert time.monotonic() - started < 5
    assert record["buildStatus"] == "TIMED_OUT"
    assert phases(record)[-3:] == [
        ("BUILD", "TIMED_OUT"),
        ("FINALIZING", "SUCCEEDED"),
        ("COMPLETED", None),
    ]
    assert phase(record, "BUILD")["contexts"] == [
        {"statusCode": "BUILD_TIMED_OUT", "message": "Build has timed out. "}
    ]


class Expired(threading.Timer):
    """A timeout that has run out as it starts."""

    def start(self) -> None:
        self.function(*self.args, **self.kwargs)


def test_a_build_that_times_out_before_it_starts(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_project(live, "version: 0.2\n")
    put_source(live)
    monkeypatch.setattr(codebuild.threading, "Timer", Expired)  # no race with the first phase
    record = codebuild.wait(codebuild.start(request()), 10)
    assert phases(record)[2:] == [
        ("PROVISIONING", "TIMED_OUT"),
        ("FINALIZING", "SUCCEEDED"),
        ("COMPLETED", None),
    ]


def running_build(live: str) -> str:
    """A build whose BUILD phase runs ``sleep 30``, once it is in that phase; its id."""
    create_project(live, "version: 0.2\nphases:\n  build:\n    commands: [sleep 30]\n")
    put_source(live)
    build_id = codebuild.start(request())
    deadline = time.monotonic() + 10
    while codebuild.build(build_id)["currentPhase"] != "BUILD" and time.monotonic() < deadline:
        time.sleep(0.02)
    return build_id


def test_a_reset_stops_running_builds(live: str) -> None:
    build_id = running_build(live)
    record = codebuild.build(build_id)
    started = time.monotonic()
    codebuild.reset()
    assert time.monotonic() - started < 3
    with pytest.raises(KeyError):
        codebuild.build(build_id)
    assert "Phase complete: BUILD State: STOPPED" in container(log(live, record))


def test_stop_build_stops_a_running_build_and_list_builds_lists_it(live: str) -> None:
    build_id = running_build(live)
    api = client(live, "codebuild")
    theirs = api.start_build(projectName=PROJECT)["build"]["id"]
    assert api.list_builds()["ids"] == [build_id, theirs]
    started = time.monotonic()
    answer = api.stop_build(id=build_id)["build"]
    assert answer["id"] == build_id
    record = codebuild.wait(build_id, 10)
    assert time.monotonic() - started < 5
    assert (record["buildStatus"], phase(record, "BUILD")["phaseStatus"]) == ("STOPPED", "STOPPED")
    # moto's own builds keep moto's StopBuild.
    assert api.stop_build(id=theirs)["build"]["buildStatus"] == "STOPPED"


def test_a_privileged_build_needs_an_engine(
    live: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither docker nor podman
    record = run(live, "version: 0.2\n", privileged=True)
    assert phases(record)[2:] == [
        ("PROVISIONING", "FAILED"),
        ("FINALIZING", "SUCCEEDED"),
        ("COMPLETED", None),
    ]
    assert phase(record, "PROVISIONING")["contexts"] == [
        {"statusCode": "CLIENT_ERROR", "message": containers.ENGINE_MISSING}
    ]


FAKE_ENGINE = r"""#!/bin/sh
# Podman, as far as the tap buildspec needs it: a push puts a manifest into moto's ECR.
case "$1" in
  login) read -r password; echo "Login Succeeded! (${#password} characters)" ;;
  build) echo "STEP 1/1: FROM scratch"; grep -c insecure "$CONTAINERS_REGISTRIES_CONF" ;;
  push)
    path="${2#*/}" OCI=application/vnd.oci.image.manifest.v1+json
    aws ecr put-image --repository-name "${path%:*}" --image-tag "${path##*:}" \
      --image-manifest "{\"schemaVersion\":2,\"mediaType\":\"$OCI\",\"config\":{},\"layers\":[]}" \
      --query image.imageId.imageDigest --output text ;;
esac
"""


def test_the_tap_buildspec_runs_as_is(
    live: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "podman"
    fake.write_text(FAKE_ENGINE)
    fake.chmod(0o755)
    monkeypatch.setattr(containers, "find", lambda: containers.Engine("podman", str(fake)))
    client(live, "ecr").create_repository(repositoryName="tap-service")
    uri = f"{services.registry_host()}/tap-service"
    variables = {
        "AWS_ACCOUNT_ID": ACCOUNT,
        "AWS_DEFAULT_REGION": REGION,
        "REPOSITORY_URI": uri,
        "IMAGE_REPO_NAME": "tap-service",
        "TEST_COMMAND": "test -f Dockerfile",
    }
    spec = resources.files("tap_cicd").joinpath("buildspec.yml").read_text()
    create_project(
        live,
        spec,
        variables=[{"name": k, "value": v, "type": "PLAINTEXT"} for k, v in variables.items()],
        privileged=True,
        logs={"status": "ENABLED", "groupName": "/tap/build"},
        encryptionKey=KEY,
    )
    put_source(live, {"Dockerfile": "FROM scratch\n"})
    record = codebuild.wait(codebuild.start(request(artifact=ARTIFACT)), 60)
    lines = log(live, record)
    assert record["buildStatus"] == "SUCCEEDED", lines
    exported = {v["name"]: v["value"] for v in record["exportedEnvironmentVariables"]}
    digest = exported["IMAGE_DIGEST"]
    assert digest.startswith("sha256:")
    assert exported == {
        "IMAGE_DIGEST": digest,
        "IMAGE_URI": f"{uri}@{digest}",
        "IMAGE_TAG": "0123456789ab-1",
    }
    login = next(line for line in lines if line.startswith("Login Succeeded!"))
    assert login != "Login Succeeded! (0 characters)"  # the registry password came through
    assert "1" in lines  # the build saw the registry marked insecure
    assert record["logs"]["groupName"] == "/tap/build"
    stored = client(live, "s3").get_object(Bucket=ARTIFACT[0], Key=ARTIFACT[1])
    archive = zipfile.ZipFile(io.BytesIO(stored["Body"].read()))
    assert json.loads(archive.read("imageDetail.json")) == {"ImageURI": f"{uri}@{digest}"}


def test_a_build_without_logs(live: str) -> None:
    record = run(live, "version: 0.2\n", logs={"status": "DISABLED"})
    assert record["buildStatus"] == "SUCCEEDED"
    assert record["logs"]["cloudWatchLogs"] == {"status": "DISABLED"}
    assert client(live, "logs").describe_log_groups()["logGroups"] == []


def test_an_emulator_fault_ends_the_build(live: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(buildspec, "download", broken)
    record = run(live, "version: 0.2\n")
    assert (record["buildStatus"], phases(record)[-2:]) == (
        "FAULT",
        [("DOWNLOAD_SOURCE", "FAULT"), ("COMPLETED", None)],
    )
    assert phase(record, "DOWNLOAD_SOURCE")["contexts"] == [
        {"statusCode": "INTERNAL_ERROR", "message": "RuntimeError: boom"}
    ]
    monkeypatch.setattr(buildspec, "after", broken)  # fails between two phases
    record = codebuild.wait(codebuild.start(request()), 30)
    assert (record["buildStatus"], phases(record)[2:]) == (
        "FAULT",
        [("PROVISIONING", "SUCCEEDED"), ("FINALIZING", "FAULT"), ("COMPLETED", None)],
    )


def test_unknown_projects_and_builds(live: str) -> None:
    with pytest.raises(KeyError):
        codebuild.start(request(project_name="tap-missing"))
    with pytest.raises(KeyError):
        codebuild.build("tap-build:missing")
    create_project(live, "version: 0.2\nphases:\n  build:\n    commands: [sleep 30]\n")
    put_source(live)
    build_id = codebuild.start(request())
    with pytest.raises(TimeoutError, match=r"is still in progress after 0\.05 s"):
        codebuild.wait(build_id, 0.05)
    codebuild.reset()  # stops it


# --- the service role (issue 14) ----------------------------------------------------------------


def take(live: str, *actions: str) -> None:
    """An explicit deny of ``actions`` beside the build role's allow-all."""
    deny_actions(live, "build", *actions)


def test_the_build_runs_as_a_session_of_its_service_role(live: str) -> None:
    spec = """
        version: 0.2
        phases:
          build:
            commands:
              - aws sts get-caller-identity --query Arn --output text
    """
    record = run(live, spec)
    assert record["buildStatus"] == "SUCCEEDED"
    [arn] = [line for line in log(live, record) if line.startswith("arn:")]
    assert (
        arn
        == f"arn:aws:sts::{ACCOUNT}:assumed-role/build/AWSCodeBuild-{record['id'].split(':')[1]}"
    )


@pytest.mark.parametrize("action", ["logs:CreateLogStream", "logs:CreateLogGroup"])
def test_a_role_that_may_not_create_its_log_stream_fails_provisioning(
    live: str, action: str
) -> None:
    create_project(live, SUCCEEDING)  # its log group does not exist yet
    put_source(live)
    take(live, action)
    record = codebuild.wait(codebuild.start(request()), 30)
    assert record["buildStatus"] == "FAILED"
    [context] = phase(record, "PROVISIONING")["contexts"]
    assert context["statusCode"] == "ACCESS_DENIED"
    assert context["message"].startswith(
        f"Service role arn:aws:iam::{ACCOUNT}:role/build does not allow AWS CodeBuild to create"
        " Amazon CloudWatch Logs log streams for build arn:aws:codebuild:"
    )
    assert f"not authorized to perform: {action} on resource: " in context["message"]


def test_a_log_stream_that_fails_otherwise_is_a_client_error(
    live: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def throttled(_log: containers.Log) -> None:
        error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
        raise ClientError(error, "CreateLogStream")  # type: ignore[arg-type]

    monkeypatch.setattr(containers.Log, "open", throttled)
    record = run(live, SUCCEEDING)
    assert (record["buildStatus"], phases(record)[2]) == ("FAILED", ("PROVISIONING", "FAILED"))
    [context] = phase(record, "PROVISIONING")["contexts"]
    assert context["statusCode"] == "CLIENT_ERROR"
    assert "(ThrottlingException)" in context["message"]
    assert context["message"].endswith("Rate exceeded")


def test_a_parameter_the_role_may_not_read_fails_download_source(live: str) -> None:
    client(live, "ssm").put_parameter(Name="/tap/param", Value="v", Type="String")
    create_project(
        live,
        SUCCEEDING,
        variables=[{"name": "P", "value": "/tap/param", "type": "PARAMETER_STORE"}],
    )
    put_source(live)
    take(live, "ssm:GetParameters")
    record = codebuild.wait(codebuild.start(request()), 30)
    [context] = phase(record, "DOWNLOAD_SOURCE")["contexts"]
    assert context["statusCode"] == "Decrypted Variables Error"
    assert "AccessDeniedException" in context["message"]
    assert "ssm:GetParameters on resource: " in context["message"]


def test_a_role_granted_get_parameters_alone_reads_its_variables(live: str) -> None:
    client(live, "ssm").put_parameter(Name="/tap/param", Value="from-ssm", Type="String")
    spec = """
        version: 0.2
        env:
          parameter-store:
            FROM_SSM: /tap/param
        phases:
          build:
            commands:
              - echo "read $FROM_SSM $FROM_PROJECT"
    """
    create_project(
        live,
        textwrap.dedent(spec),
        variables=[{"name": "FROM_PROJECT", "value": "/tap/param", "type": "PARAMETER_STORE"}],
    )
    put_source(live)
    # CodeBuild's service-role example grants ssm:GetParameters, not ssm:GetParameter.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["logs:*", "s3:*"], "Resource": "*"},
            {"Effect": "Allow", "Action": "ssm:GetParameters", "Resource": "*"},
        ],
    }
    client(live, "iam").put_role_policy(
        RoleName="build", PolicyName="inline", PolicyDocument=json.dumps(policy)
    )
    record = codebuild.wait(codebuild.start(request()), 30)
    assert record["buildStatus"] == "SUCCEEDED"
    assert "read from-ssm from-ssm" in log(live, record)


def test_a_role_codebuild_may_not_assume_refuses_the_start(live: str) -> None:
    create_project(live, SUCCEEDING)
    put_source(live)
    client(live, "iam").update_assume_role_policy(
        RoleName="build",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    with pytest.raises(ValueError, match=r"codebuild\.amazonaws\.com is not authorized to perform"):
        codebuild.start(request())
