"""For any JSON-like event the handler never raises and answers once when it has a job id."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from contextlib import contextmanager
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


EVENTS = (
    JSON
    | st.dictionaries(KEYS, JSON, max_size=4)
    | st.fixed_dictionaries({"CodePipeline.job": st.dictionaries(KEYS, JSON, max_size=4)})
    | mutated_events()
)


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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=EVENTS)
def test_handler_never_raises_and_answers_once(local_aws: None, event: Any) -> None:
    pipeline = RecordingPipeline()
    original = handler.codepipeline_client
    handler.codepipeline_client = lambda: pipeline  # type: ignore[assignment,return-value]
    try:
        assert handler.handler(event, LambdaContext()) is None
    finally:
        handler.codepipeline_client = original
    assert len(pipeline.calls) == (1 if job_id_of(event) is not None else 0)
    messages = " ".join(
        str(call.get("failureDetails", call.get("executionDetails", {}))) for call in pipeline.calls
    )
    assert not [secret for secret in secrets_of(event) if secret in messages]
