"""For any JSON-like event the handler never raises and answers once when it has a job id, and
no rendering of a credential (raw, ``repr``- or JSON-escaped) reaches a message or the log.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from conftest import LambdaContext, aws_environment, load_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_cicd.deploy import handler
from tap_cicd.deploy.events import job_id_of, secrets_of

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    ["CodePipeline.job", "id", "data", "inputArtifacts", "location", "s3Location", "bucketName",
     "objectKey", "artifactCredentials", "accessKeyId", "actionConfiguration", "configuration",
     "UserParameters", "continuationToken", "encryptionKey"]
)  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A real fixture with one or more of its parts replaced: the shapes that reach far in."""
    event = copy.deepcopy(load_event(draw(st.sampled_from(["job_success", "job_continuation"]))))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(event) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        target = event
        for step in path[:-1]:
            target = target[step]
        if draw(st.booleans()) and isinstance(target, dict):
            del target[path[-1]]
        else:
            target[path[-1]] = draw(JSON)
    return event


HOSTILE_TEXT = st.text(
    alphabet=st.sampled_from("aZ09-_/+=\n\r\t '\"\\\x00\x7féü€\u2028"), min_size=1, max_size=24
)
"""Credential text with what escapes differently in ``repr``, bytes and JSON."""
SECRET = st.builds(
    lambda prefix, text: prefix + text,
    st.sampled_from(["ASIA", "HOSTILE-SESSION-", "SECRET/", "k"]),
    HOSTILE_TEXT,
)


@st.composite
def hostile_credentials(draw: st.DrawFn) -> Any:
    """A real fixture whose artifact credentials hold newlines, quotes, backslashes, non-ASCII:
    the S3 client sends them as headers and the HTTP layer's error quotes them escaped."""
    event = copy.deepcopy(load_event(draw(st.sampled_from(["job_success", "job_continuation"]))))
    credentials = event["CodePipeline.job"]["data"]["artifactCredentials"]
    for key in draw(st.sets(st.sampled_from(sorted(credentials)), min_size=1)):
        credentials[key] = draw(SECRET)
    if draw(st.booleans()):
        # The credential in a value a message quotes (``repr``-escaped): still scrubbed.
        configuration = event["CodePipeline.job"]["data"]["actionConfiguration"]["configuration"]
        parameters = json.loads(configuration["UserParameters"])
        parameters["failOnSeverity"] = draw(st.sampled_from(sorted(credentials.values())))
        configuration["UserParameters"] = json.dumps(parameters)
    return event


EVENTS = (
    JSON
    | st.dictionaries(KEYS, JSON, max_size=4)
    | st.fixed_dictionaries({"CodePipeline.job": st.dictionaries(KEYS, JSON, max_size=4)})
    | mutated_events()
    | hostile_credentials()
)


def renderings(secret: str) -> list[str]:
    """How a secret shows in text, computed here, not by the code under test."""
    forms = [
        secret,
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret.encode("utf-8", "surrogatepass"))[2:-1],
    ]
    with suppress(UnicodeEncodeError):
        forms.append(repr(secret.encode("latin-1"))[2:-1])
    return forms


class Captured(logging.Handler):
    """Every record the function's code logs while an example runs, formatted (not the
    in-process moto server's access log: moto stands in for AWS, not for the function)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("werkzeug"):
            self.lines.append(self.format(record))


class RecordingPipeline:
    """Accepts every job result and counts them."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def put_job_success_result(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)

    def put_job_failure_result(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def local_aws(moto_endpoint: str) -> Iterator[None]:
    variables = {
        **aws_environment(moto_endpoint),
        "TAP_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:t",
        "TAP_RELEASE_PARAMETER": "/pipeline/dev/release",
        "TAP_REPOSITORY_NAME": "pipeline-images-dev",
    }
    handler.services.cache_clear()
    with environment(variables):
        yield
    handler.services.cache_clear()


@contextmanager
def captured_logs() -> Iterator[Captured]:
    """All records, DEBUG and up (botocore's own too), while the block runs."""
    root = logging.getLogger()
    capture, level = Captured(), root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=EVENTS)
def test_handler_never_raises_and_answers_once(local_aws: None, event: Any) -> None:
    pipeline = RecordingPipeline()
    original = handler.codepipeline_client
    handler.codepipeline_client = lambda: pipeline  # type: ignore[assignment,return-value]
    try:
        with captured_logs() as logs:
            assert handler.handler(event, LambdaContext()) is None
    finally:
        handler.codepipeline_client = original
    assert len(pipeline.calls) == (1 if job_id_of(event) is not None else 0)
    messages = " ".join(
        str(call.get("failureDetails", call.get("executionDetails", {}))) for call in pipeline.calls
    )
    reported = [call.get("failureDetails", {}).get("message", "") for call in pipeline.calls]
    reported += [call.get("executionDetails", {}).get("summary", "") for call in pipeline.calls]
    logged = "\n".join(logs.lines)
    leaks = [
        (secret, form, where)
        for secret in secrets_of(event)
        for form in renderings(secret)
        for where, text in (
            ("message", "\n".join(reported)),
            ("details", messages),
            ("log", logged),
        )
        if form in text
    ]
    assert leaks == []
