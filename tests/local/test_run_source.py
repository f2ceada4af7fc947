"""``tap run``'s source: .dockerignore as Docker reads it, deterministic zips, what ``--source``
accepts, and the upload that starts an execution (validated against the botocore model)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import socket
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tap_cicd.errors import RunFailedError, UnknownStackError, UsageError
from tap_cicd.local import source
from tap_cicd.local.emulator import instance_id
from tap_cicd.local.run import ActionResult, StageResult
from tap_cicd.local.source import Ignore, PatternError, RunTarget, read_patterns
from tap_cicd.local.state import StackState, StateStore
from tap_cicd.run_command import delivery_hint, dropped_notifications, no_one_to_ask

from .conftest import PROJECT

EXAMPLE = PROJECT / "examples" / "service"
OUTPUTS = {
    "pipelineName": "p",
    "pipelineArn": "arn:aws:codepipeline:us-east-1:123456789012:p",
    "sourceBucketName": "b",
}


def excluded(dockerignore: str, *paths: str) -> list[bool]:
    ignore = Ignore(read_patterns(dockerignore))
    return [ignore.excludes(path) for path in paths]


# Each row follows an example or rule of https://docs.docker.com/build/concepts/context/
# (dockerignore-files), or moby's patternmatcher tests.
@pytest.mark.parametrize(
    ("dockerignore", "paths", "expected"),
    [
        ("# comment\n*/temp*", ["somedir/temporary.txt", "somedir/temp", "temp"], [1, 1, 0]),
        ("*/*/temp*", ["somedir/subdir/temporary.txt", "somedir/temp"], [1, 0]),
        ("temp?", ["tempa", "tempb", "temp", "tempab", "x/tempa"], [1, 1, 0, 0, 0]),
        # "/foo/bar" and "foo/bar" are the same pattern; a directory takes its contents along.
        ("/foo/bar", ["foo/bar", "foo/bar/baz", "bar", "x/foo/bar"], [1, 1, 0, 0]),
        ("foo/bar/", ["foo/bar/baz"], [1]),
        ("**/*.go", ["a.go", "x/y/a.go", "a.gox"], [1, 1, 0]),
        ("**/foo", ["foo", "a/b/foo", "a/xfoo"], [1, 1, 0]),
        ("**foo", ["xfoo", "a/xfoo", "foox"], [1, 1, 0]),
        ("**", ["anything", "a/b"], [1, 1]),
        ("foo**", ["foo", "foobar", "foo/x", "xfoo"], [1, 1, 1, 0]),
        ("a/**/b", ["a/b", "a/x/y/b", "a/x/c"], [1, 1, 0]),
        ("x/**", ["x", "x/a", "x/a/b"], [0, 1, 1]),
        # The last matching line decides.
        ("*.md\n!README.md", ["a.md", "README.md"], [1, 0]),
        ("*.md\n!README*.md\nREADME-secret.md", ["README-secret.md", "README-x.md"], [1, 0]),
        ("*.md\nREADME-secret.md\n!README*.md", ["README-secret.md", "a.md"], [0, 1]),
        ("*\n!src", ["a", "src", "src/main.py"], [1, 0, 0]),
        # Whitespace trimmed; "#" is a comment only in column 1; "." and blank lines ignored.
        ("  *.log  \n\n .\n #x", ["a.log", "a", " #x", "#x"], [1, 0, 0, 1]),
        ("./a/../b", ["b", "a"], [1, 0]),
        ("[a-c].txt\n\\*.txt", ["b.txt", "d.txt", "*.txt", "x.txt"], [1, 0, 1, 0]),
        ("a\\", ["a\\", "a"], [1, 0]),
        ("v1.0+(x)|{y}$", ["v1.0+(x)|{y}$", "v1x0+(x)|{y}$"], [1, 0]),
        ("*.a+b", ["x.a+b", "x.aab"], [1, 0]),
        ("\ufeff*.tmp", ["a.tmp"], [1]),
    ],
)
def test_dockerignore_rules(dockerignore: str, paths: list[str], expected: list[int]) -> None:
    assert excluded(dockerignore, *paths) == [bool(e) for e in expected]


def test_the_build_files_are_always_sent() -> None:
    """Docker sends Dockerfile and .dockerignore even when excluded (ADD/COPY cannot use them)."""
    assert excluded("*\n", "Dockerfile", ".dockerignore", "app.py") == [False, False, True]
    assert excluded("Dockerfile\n.dockerignore", "Dockerfile", ".dockerignore") == [False, False]


@pytest.mark.parametrize(
    ("dockerignore", "message"),
    [
        ("ok\n!", "line 2: illegal exclusion pattern '!'"),
        ("! ", "line 1: illegal exclusion pattern '!'"),
        ("[a-", "line 1: bad pattern '[a-'"),
        ("a\\q", "line 1: bad pattern 'a\\q'"),
    ],
)
def test_patterns_docker_refuses(dockerignore: str, message: str) -> None:
    with pytest.raises(PatternError) as caught:
        read_patterns(dockerignore)
    assert str(caught.value).startswith(message)


def test_clean_is_go_filepath_clean() -> None:
    assert [source.clean(p) for p in ("", "a//b/./c/..", "//a", "/..", "a/")] == [
        ".",
        "a/b",
        "/a",
        "/",
        "a",
    ]


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def names(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_a_directory_is_zipped_as_docker_sends_it(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            ".dockerignore": "*.md\n!keep.md\nbuild\nsecrets/\n!secrets/public.pem\ncache\n",
            "Dockerfile": "FROM scratch\n",
            "a.md": "",
            "keep.md": "",
            "app/main.py": "print()\n",
            "build/out.bin": "",
            "secrets/key.pem": "",
            "secrets/public.pem": "",
            "cache/x/y": "",
        },
    )
    # Docker descends into an excluded directory only for an exception under it (secrets/),
    # never for one that does not start with its path (cache/).
    assert names(source.package(root)) == [
        ".dockerignore",
        "Dockerfile",
        "app/main.py",
        "keep.md",
        "secrets/public.pem",
    ]


def test_the_same_source_gives_the_same_bytes(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"b.txt": "b", "a/c.txt": "c", "run.sh": "#!/bin/sh\n"})
    (root / "run.sh").chmod(0o755)
    first = source.package(root)
    os.utime(root / "b.txt", (0, 0))  # another timestamp, another order of creation
    (root / "a" / "c.txt").write_text("c")
    assert source.package(root) == first
    archive = zipfile.ZipFile(io.BytesIO(first))
    assert archive.namelist() == ["a/c.txt", "b.txt", "run.sh"]
    assert {info.date_time for info in archive.infolist()} == {source.ZIP_EPOCH}
    modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
    assert modes["run.sh"] & 0o777 == 0o755
    assert modes["b.txt"] & 0o777 == 0o644
    assert archive.read("run.sh") == b"#!/bin/sh\n"


def test_links_are_followed_but_not_loops(tmp_path: Path) -> None:
    root = tree(tmp_path / "src", {"real/file.txt": "content"})
    (root / "link.txt").symlink_to(root / "real" / "file.txt")
    (root / "alias").symlink_to(root / "real")
    (root / "real" / "loop").symlink_to(root)
    (root / "dangling").symlink_to(root / "nowhere")
    data = source.package(root)
    assert names(data) == ["alias/file.txt", "link.txt", "real/file.txt"]
    assert zipfile.ZipFile(io.BytesIO(data)).read("link.txt") == b"content"


def test_the_example_service_zip() -> None:
    """README.md stays out (*.md), test.sh stays in: the build runs it."""
    assert names(source.package(EXAMPLE)) == [
        ".dockerignore",
        "Dockerfile",
        "site/index.html",
        "test.sh",
    ]


def test_a_zip_is_taken_as_it_is(tmp_path: Path) -> None:
    archive = tmp_path / "My.ZIP"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("Dockerfile", "FROM scratch\n")
    assert source.package(archive) == archive.read_bytes()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: tree(p, {"app.tar": "x"}) / "app.tar", "is neither a directory nor a .zip file"),
        (lambda p: tree(p, {"fake.zip": "not a zip"}) / "fake.zip", "is not a zip archive"),
    ],
)
def test_what_source_refuses(tmp_path: Path, make: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        source.package(make(tmp_path))
    assert caught.value.exit_code == 2


def test_an_unreadable_dockerignore_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_bytes(b"\xff\xfe*\n")
    with pytest.raises(UsageError, match=r"cannot read .*\.dockerignore"):
        source.package(tmp_path)
    (tmp_path / ".dockerignore").write_text("!\n")
    with pytest.raises(UsageError, match="illegal exclusion pattern"):
        source.package(tmp_path)


def test_an_unreadable_file_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, {"a.txt": "a"})

    def refuse(_self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(UsageError, match=r"cannot zip .*Permission denied"):
        source.package(tmp_path)


def test_the_target_is_read_from_the_outputs() -> None:
    target = RunTarget.from_outputs("dev", OUTPUTS)
    assert (target.pipeline, target.bucket) == ("p", "b")
    github = {k: v for k, v in OUTPUTS.items() if k != "sourceBucketName"}
    with pytest.raises(UsageError, match="GitHub, which the emulator cannot reach: use source=s3"):
        RunTarget.from_outputs("dev", github)
    with pytest.raises(UnknownStackError, match="has no pipeline yet: deploy it with 'tap up"):
        RunTarget.from_outputs("dev", {})


def stubbed(service: str) -> tuple[Any, Stubber]:
    client = boto3.client(  # type: ignore[call-overload]
        service, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    return client, Stubber(client)


def summaries(*ids: str) -> dict[str, Any]:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return {
        "pipelineExecutionSummaries": [
            {"pipelineExecutionId": i, "status": "InProgress", "startTime": start.replace(minute=n)}
            for n, i in enumerate(ids)
        ]
    }


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


LIST = {"pipelineName": "p", "maxResults": 100}


def test_upload_returns_the_execution_it_started() -> None:
    pipeline, pipelines = stubbed("codepipeline")
    s3, uploads = stubbed("s3")
    pipelines.add_response("list_pipeline_executions", summaries("old"), LIST)
    uploads.add_response(
        "put_object",
        {"VersionId": "v1", "ETag": '"e"'},
        {"Bucket": "b", "Key": "source.zip", "Body": b"zip"},
    )
    pipelines.add_response("list_pipeline_executions", summaries("old"), LIST)
    # Two new ones (another upload raced ours): the first one started is ours.
    pipelines.add_response("list_pipeline_executions", summaries("old", "new", "newer"), LIST)
    clock = Clock()
    with pipelines, uploads:
        found = source.upload(
            {"codepipeline": pipeline, "s3": s3}.__getitem__,
            RunTarget.from_outputs("dev", OUTPUTS),
            b"zip",
            clock=clock,
            sleep=clock.sleep,
        )
    assert found == ("new", {"bucket": "b", "key": "source.zip", "versionId": "v1", "bytes": 3})
    pipelines.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (["src-rule"], "its source rule src-rule did not start it (dropped)"),
        ([], "no rule targets it"),
    ],
)
def test_upload_gives_up_naming_the_pipeline_and_the_rule(
    rules: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, pipelines = stubbed("codepipeline")
    s3, uploads = stubbed("s3")
    events, rule_calls = stubbed("events")
    monkeypatch.setattr(source, "START_SECONDS", 0.5)
    for _ in range(4):  # before, then at 0, 0.25 and 0.5 s
        pipelines.add_response("list_pipeline_executions", summaries("old"), LIST)
    uploads.add_response("put_object", {}, {"Bucket": "b", "Key": "source.zip", "Body": b"z"})
    rule_calls.add_response(
        "list_rule_names_by_target", {"RuleNames": rules}, {"TargetArn": OUTPUTS["pipelineArn"]}
    )
    clock = Clock()
    with pipelines, uploads, rule_calls, pytest.raises(RunFailedError) as caught:
        source.upload(
            {"codepipeline": pipeline, "s3": s3, "events": events}.__getitem__,
            RunTarget.from_outputs("dev", OUTPUTS),
            b"z",
            hint=lambda rule: " (dropped)" if rule == "src-rule" else "unused",
            clock=clock,
            sleep=clock.sleep,
        )
    assert caught.value.exit_code == 11
    assert str(caught.value) == (
        "no execution of pipeline p started within 0.5 s of the upload of "
        f"s3://b/source.zip: {message}"
    )


# --- what the command checks before it uploads anything ------------------------------------------


def test_a_pipeline_without_approval_needs_no_terminal() -> None:
    stages = [StageResult("Build", [ActionResult("Build", "Build", "CodeBuild")])]
    no_one_to_ask("p", stages)  # no UsageError


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--approve", "--reject"], "--approve and --reject exclude each other: give one"),
        (["--timeout", "0"], "invalid --timeout 0: expected a number of seconds above 0"),
        (["--source", "nowhere"], "--source nowhere does not exist"),
    ],
)
def test_usage_errors(tap: Any, home: Path, args: list[str], message: str) -> None:
    StateStore(home).save(StackState("mini", emulator="x", outputs=OUTPUTS))
    done = tap("run", "--stack", "mini", *args)
    assert (done.exit_code, done.stderr) == (2, f"error: {message}\n")


def test_a_stack_not_deployed_says_to_run_tap_up(
    tap: Any, home: Path, clients: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tap("run", "--stack", "nope")
    assert missing.exit_code == 4
    assert "deploy it with 'tap up --stack nope'" in missing.stderr
    outputs = {"pipelineName": "p", "pipelineArn": "arn", "sourceBucketName": "b"}
    StateStore(home).save(StackState("gone", emulator="another-instance", outputs=outputs))
    restarted = tap("run", "--stack", "gone", "--source", str(EXAMPLE))
    assert (restarted.exit_code, restarted.stderr) == (
        4,
        "error: stack 'gone' is not deployed: the emulator was restarted since it was "
        "deployed; deploy it with 'tap up --stack gone'\n",
    )
    lonely = tmp_path / "lonely"  # a home whose emulator is not running
    StateStore(lonely).save(StackState("gone", emulator="x", outputs=outputs))
    monkeypatch.setenv("TAP_HOME", str(lonely))
    stopped = tap("run", "--stack", "gone", "--source", str(EXAMPLE))
    assert (stopped.exit_code, stopped.stderr) == (
        4,
        "error: stack 'gone' is not deployed: the emulator is not running; deploy it with "
        "'tap up --stack gone'\n",
    )


def test_a_github_stack_cannot_run_locally(tap: Any, home: Path) -> None:
    outputs = {"pipelineName": "p", "pipelineArn": "arn"}
    StateStore(home).save(StackState("gh", emulator="x", outputs=outputs))
    done = tap("run", "--stack", "gh")
    assert done.exit_code == 2
    assert "use source=s3 locally ('tap config set source s3 --stack gh', then 'tap up')" in (
        done.stderr
    )


def test_an_aws_error_is_one_line(tap: Any, home: Path, clients: Any) -> None:
    outputs = {"pipelineName": "absent", "pipelineArn": "arn", "sourceBucketName": "b"}
    StateStore(home).save(StackState("odd", emulator=instance_id(clients), outputs=outputs))
    done = tap("run", "--stack", "odd", "--source", str(EXAMPLE))
    assert done.exit_code == 11
    assert done.stderr.startswith("error: cannot run pipeline absent: An error occurred (")
    assert done.stderr.count("\n") == 1


class Deliveries(BaseHTTPRequestHandler):
    """The emulator's ``/_tap/events/deliveries``, answering ``answer``."""

    answer: bytes = b""

    def do_POST(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *_: Any) -> None:
        """Quiet."""


@pytest.mark.parametrize(
    ("deliveries", "hint"),
    [
        ([], " (no S3 event reached it)"),
        (
            [{"rule": "arn:aws:events:us-east-1:1:rule/other", "outcome": "dropped"}],
            " (no S3 event reached it)",
        ),
        (
            [
                {
                    "rule": "arn:aws:events:us-east-1:1:rule/src",
                    "outcome": "dropped",
                    "reason": "NO_RESOURCE: gone",
                }
            ],
            " (its last delivery was dropped: NO_RESOURCE: gone)",
        ),
        (
            [{"rule": "arn:aws:events:us-east-1:1:rule/src", "outcome": "delivered", "reason": ""}],
            "",
        ),
        ("not json", ""),
    ],
)
def test_the_delivery_hint(deliveries: Any, hint: str) -> None:
    body = deliveries if isinstance(deliveries, str) else json.dumps({"deliveries": deliveries})
    Deliveries.answer = body.encode()
    server = HTTPServer(("127.0.0.1", 0), Deliveries)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        assert delivery_hint(f"http://127.0.0.1:{server.server_port}")("src") == hint
    finally:
        server.shutdown()
        server.server_close()


def test_the_delivery_hint_of_a_gone_emulator() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert delivery_hint(f"http://127.0.0.1:{port}")("src") == ""


def test_the_dropped_notifications() -> None:
    dropped = {
        "detail-type": "CodePipeline Pipeline Execution State Change",
        "outcome": "dropped",
        "reason": "NO_PERMISSIONS: events.amazonaws.com kms:GenerateDataKey on k: denied",
    }
    deliveries = [
        dropped,
        {**dropped, "outcome": "delivered"},
        {**dropped, "detail-type": "Object Created"},
    ]
    Deliveries.answer = json.dumps({"deliveries": deliveries}).encode()
    server = HTTPServer(("127.0.0.1", 0), Deliveries)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        assert dropped_notifications(f"http://127.0.0.1:{server.server_port}") == [dropped]
    finally:
        server.shutdown()
        server.server_close()
