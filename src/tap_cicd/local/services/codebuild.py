"""CodeBuild builds that run: the project's buildspec in a fresh workspace, phase by phase, with
CodeBuild's environment, its log in CloudWatch Logs and its artifact in S3.

moto records a build and reports it SUCCEEDED whenever it is read; here ``start`` (called by
the pipeline's build action) runs the build in a thread and ``BatchGetBuilds`` reports it as it
goes. Builds moto started itself keep moto's behaviour.
https://docs.aws.amazon.com/codebuild/latest/userguide/concepts.html#concepts-how-it-works
"""

from __future__ import annotations

import copy
import importlib
import shutil
import tempfile
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from moto.codebuild.models import codebuild_backends
from moto.utilities.utils import get_partition

from tap_cicd.local.services import buildspec, containers, denials, iam

RESET_JOIN_SECONDS = 10.0
"""How long a reset waits for a stopped build's thread."""
DEFAULT_TIMEOUT_MINUTES = 60
"""https://docs.aws.amazon.com/codebuild/latest/APIReference/API_CreateProject.html"""
INTERRUPTED = ("TIMED_OUT", "STOPPED")


@dataclass(frozen=True)
class BuildRequest:
    """A build of a project on an input artifact, as CodePipeline's build action asks for it."""

    project_name: str
    account: str
    region: str
    source: tuple[str, str]
    """(bucket, key) of the input artifact zip."""
    artifact: tuple[str, str] | None
    """(bucket, key) where the output artifact zip goes, or None."""
    source_version: str
    """CODEBUILD_RESOLVED_SOURCE_VERSION."""
    initiator: str
    """CODEBUILD_INITIATOR, e.g. ``codepipeline/<pipeline>``."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Variables that override the project's."""


def _now() -> datetime:
    return datetime.now(UTC)


class Build:
    """One build: its record (BatchGetBuilds' shape), its project and what stops it.
    https://docs.aws.amazon.com/codebuild/latest/APIReference/API_Build.html"""

    def __init__(
        self, request: BuildRequest, project: dict[str, Any], number: int, session: iam.Session
    ) -> None:
        self.request, self.project, self.session, region = request, project, session, request.region
        build_id = f"{request.project_name}:{session.arn.rsplit('/AWSCodeBuild-', 1)[-1]}"
        self.record: dict[str, Any] = {
            "id": build_id,
            "arn": f"arn:{get_partition(region)}:codebuild:{region}:{request.account}"
            f":build/{build_id}",
            "buildNumber": number,
            "startTime": _now(),
            "buildStatus": "IN_PROGRESS",
            "sourceVersion": f"arn:{get_partition(region)}:s3:::{'/'.join(request.source)}",
            "resolvedSourceVersion": request.source_version,
            "projectName": request.project_name,
            "phases": [],
            "source": project.get("source") or {},
            "artifacts": {},
            "cache": project.get("cache") or {"type": "NO_CACHE"},
            "environment": project.get("environment") or {},
            "serviceRole": project.get("serviceRole", ""),
            "logs": containers.log_location(
                (project.get("logsConfig") or {}).get("cloudWatchLogs") or {},
                request.project_name,
                build_id,
                region,
                request.account,
            ),
            "timeoutInMinutes": project.get("timeoutInMinutes") or DEFAULT_TIMEOUT_MINUTES,
            "queuedTimeoutInMinutes": project.get("queuedTimeoutInMinutes") or 480,
            "buildComplete": False,
            "initiator": request.initiator,
            "encryptionKey": project.get("encryptionKey", ""),
            "exportedEnvironmentVariables": [],
        }
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.timed_out = threading.Event()
        self.done = threading.Event()
        self.shell: containers.Shell | None = None
        self.thread = threading.Thread(target=_run, args=(self,), name=build_id, daemon=True)
        for phase in ("SUBMITTED", "QUEUED"):
            self.enter(phase)
            self.end("SUCCEEDED")

    @property
    def id(self) -> str:
        """The build id, ``<project>:<uuid>``."""
        return str(self.record["id"])

    def snapshot(self) -> dict[str, Any]:
        """A copy of the record."""
        with self.lock:
            return copy.deepcopy(self.record)

    def update(self, **values: Any) -> None:
        """Set fields of the record."""
        with self.lock:
            self.record.update(values)

    def enter(self, phase: str) -> None:
        """Start a phase (the one under way has no status yet, as on AWS)."""
        with self.lock:
            self.record["phases"].append({"phaseType": phase, "startTime": _now()})
            self.record["currentPhase"] = phase

    def end(self, status: str, code: str = "", message: str = "") -> None:
        """End the phase under way."""
        with self.lock:
            phase = self.record["phases"][-1]
            phase.update(phaseStatus=status, endTime=_now())
            phase["durationInSeconds"] = int(
                (phase["endTime"] - phase["startTime"]).total_seconds()
            )
            if phase["phaseType"] not in ("SUBMITTED", "QUEUED"):
                phase["contexts"] = [{"statusCode": code, "message": message}]

    def interruption(self) -> str | None:
        """TIMED_OUT or STOPPED once the build has been, else None."""
        if self.timed_out.is_set():
            return "TIMED_OUT"
        return "STOPPED" if self.stopped.is_set() else None

    def stop(self, timed_out: bool = False) -> None:
        """Stop the build: its running command is killed and it goes to FINALIZING."""
        (self.timed_out if timed_out else self.stopped).set()
        if self.shell is not None:
            self.shell.kill()


class Runner:
    """A build's thread: a fresh workspace, the phases in order, then COMPLETED.
    https://docs.aws.amazon.com/codebuild/latest/userguide/view-build-details-phases.html"""

    def __init__(self, build_: Build) -> None:
        self.build, self.request, self.record = build_, build_.request, build_.record
        self.workspace = Path(tempfile.gettempdir(), f"tap-codebuild-{build_.id.split(':')[1]}")
        self.source = self.workspace / "src"
        self.spec = buildspec.Buildspec(version="0.2", shell="/bin/sh")  # noqa: S604 - none yet
        self.secrets: set[str] = set()
        self.engine: containers.Engine | None = None
        self.log = containers.Log(build_.session.client("logs"), self.record["logs"])
        self.flushing = threading.Thread(target=self.log.send_until, args=(build_.done,))
        seconds = float(self.record["timeoutInMinutes"]) * 60
        self.timer = threading.Timer(seconds, build_.stop, kwargs={"timed_out": True})

    def run(self) -> None:
        """Run the build to its end."""
        self.workspace.mkdir(mode=0o700)
        self.timer.start()
        self.flushing.start()
        phase = "PROVISIONING"
        while phase != "FINALIZING":
            phase = self.phase(phase)
        self.build.enter("FINALIZING")
        self.log.container("Entering phase FINALIZING")
        if self.build.shell is not None:
            names = buildspec.exported(self.spec, self.secrets)
            values = self.build.shell.variables(names)
            self.build.update(
                exportedEnvironmentVariables=[{"name": k, "value": v} for k, v in values.items()]
            )
        self.end("SUCCEEDED")
        self.complete()

    def phase(self, name: str) -> str:
        """Run one phase; the one that follows."""
        self.build.enter(name)
        self.log.container(f"Entering phase {name}")
        failure: buildspec.PhaseFailed | None = None
        try:
            if name in buildspec.COMMAND_PHASES:
                self.commands(name)
            elif self.build.interruption() is None:
                getattr(self, name.lower())()
        except buildspec.PhaseFailed as error:
            failure = error
        status = self.build.interruption() or ("FAILED" if failure else "SUCCEEDED")
        if status in INTERRUPTED:  # BuildPhase contexts as the console shows them
            self.end(status, f"BUILD_{status}", f"Build has {status.lower().replace('_', ' ')}. ")
            return "FINALIZING"
        self.end(status, *((failure.code, failure.message) if failure else ()))
        if failure and self.build.shell is not None:
            self.build.shell.set("CODEBUILD_BUILD_SUCCEEDING", "0")
        return buildspec.after(name, failure is not None, self.spec.phase(name).on_failure)

    def end(self, status: str, code: str = "", message: str = "") -> None:
        """End the phase under way, in the record and in the log."""
        phase = self.record["currentPhase"]
        self.build.end(status, code, message)
        self.log.container(f"Phase complete: {phase} State: {status}")
        self.log.container(f"Phase context status code: {code} Message: {message}")
        self.log.flush()

    def provisioning(self) -> None:
        """The container engine, for a privileged project only (Docker-in-Docker).
        https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ProjectEnvironment.html"""
        self.log.container("Waiting for agent ping")
        self.open_log()
        if self.record["environment"].get("privilegedMode"):
            try:
                self.engine = containers.find()
            except containers.NoEngine as error:
                raise buildspec.PhaseFailed("CLIENT_ERROR", str(error)) from error

    def open_log(self) -> None:
        """The build's log stream, "created during the PROVISIONING phase" (LogsLocation), as the
        service role: a denial fails the phase ACCESS_DENIED in CodeBuild's words (from its
        console; no reference page gives them), any other error CLIENT_ERROR."""
        try:
            self.log.open()
        except ClientError as error:
            if not denials.is_denied(error):
                raise buildspec.PhaseFailed("CLIENT_ERROR", str(error)) from error
            role, said = self.record["serviceRole"], error.response.get("Error", {}).get("Message")
            message = f"Service role {role} does not allow AWS CodeBuild to create Amazon"
            message += f" CloudWatch Logs log streams for build {self.record['arn']}. Error"
            raise buildspec.PhaseFailed("ACCESS_DENIED", f"{message} message: {said}") from error

    def download_source(self) -> None:
        """The input artifact unzipped into CODEBUILD_SRC_DIR, the buildspec and the variables
        read (a missing parameter fails this phase, as on AWS)."""
        self.log.container(f"CODEBUILD_SRC_DIR={self.source}")
        credentials = self.build.session.credentials
        buildspec.download(self.request.region, self.request.source, self.source, credentials)
        self.spec = buildspec.load(self.record["source"].get("buildspec") or "", self.source)
        self.log.container("Processing environment variables")
        shared = self.spec.version == "0.2"  # 0.1 runs each command in its own shell
        declared, self.secrets = buildspec.variables(
            self.spec,
            self.record["environment"].get("environmentVariables") or [],
            self.request.environment,
            self.request.region,
            credentials,
        )
        environment = containers.environment(
            self.record,
            self.workspace,
            declared,
            self.engine,
            self.log.stream,
            credentials=credentials,
        )
        self.build.shell = containers.Shell(
            self.spec.shell, self.workspace / "shell", environment, self.source, shared
        )

    def commands(self, name: str) -> None:
        """A command phase: its commands, then its finally block."""
        shell = self.build.shell
        assert shell is not None  # noqa: S101 - reached only after DOWNLOAD_SOURCE succeeded
        interrupted = lambda: self.build.interruption() is not None  # noqa: E731
        phase = self.spec.phase(name)
        failure = buildspec.run_phase(phase, shell, self.log.line, self.log.container, interrupted)
        if failure is not None:
            raise buildspec.PhaseFailed("COMMAND_EXECUTION_ERROR", failure)

    def upload_artifacts(self) -> None:
        """The primary artifact, where the request says (none: nothing to upload)."""
        if self.request.artifact is not None:
            encryption = (self.record["encryptionKey"], self.record["arn"])
            artifacts = buildspec.upload(
                self.spec.artifacts,
                self.source,
                self.request.region,
                self.request.artifact,
                encryption,
                credentials=self.build.session.credentials,
            )
            self.build.update(artifacts=artifacts)

    def complete(self) -> None:
        """COMPLETED: the first phase that did not succeed gives the build's status."""
        statuses = [phase.get("phaseStatus") for phase in self.record["phases"]]
        status = next((s for s in statuses if s != "SUCCEEDED"), "SUCCEEDED")
        self.build.enter("COMPLETED")
        self.build.update(buildStatus=status, endTime=_now(), buildComplete=True)

    def fault(self, error: Exception) -> None:
        """An emulator error ends the build FAULT; its phase (or FINALIZING) says why."""
        if "phaseStatus" in self.record["phases"][-1]:
            self.build.enter("FINALIZING")
        self.end("FAULT", "INTERNAL_ERROR", f"{type(error).__name__}: {error}")
        self.complete()

    def close(self) -> None:
        """Stop the timer and what the commands left running, send the log, drop the workspace."""
        self.timer.cancel()
        if self.build.shell is not None:
            self.build.shell.close()
        self.log.flush()
        shutil.rmtree(self.workspace, ignore_errors=True)
        self.build.done.set()


def _run(build_: Build) -> None:
    runner = Runner(build_)
    try:
        runner.run()
    except Exception as error:  # noqa: BLE001 - an emulator fault ends the build, not the process
        runner.fault(error)
    finally:
        runner.close()


_LOCK = threading.Lock()
_BUILDS: dict[str, Build] = {}
_NUMBERS: dict[str, int] = {}


def start(request: BuildRequest) -> str:
    """Start a build of ``request.project_name`` in a thread, as the project's service role;
    its id. KeyError when there is no such project, ValueError when CodeBuild may not assume
    the role."""
    backend = codebuild_backends[request.account][request.region]
    project = copy.deepcopy(backend.codebuild_projects[request.project_name].project_metadata)
    try:
        # CodeBuild sends the project's ARN and account when it assumes the role:
        # https://docs.aws.amazon.com/codebuild/latest/userguide/cross-service-confused-deputy-prevention.html
        session = iam.assume(
            "codebuild.amazonaws.com",
            str(project.get("serviceRole", "")),
            request.region,
            f"AWSCodeBuild-{uuid.uuid4()}",
            {"aws:SourceArn": project["arn"], "aws:SourceAccount": request.account},
        )
    except iam.Denied as denied:
        raise ValueError(str(denied)) from denied
    with _LOCK:
        # "For each project, the buildNumber of its first build is 1" (API_Build)
        number = _NUMBERS[project["arn"]] = _NUMBERS.get(project["arn"], 0) + 1
        build_ = Build(request, project, number, session)
        _BUILDS[build_.id] = build_
        build_.thread.start()
    return build_.id


def build(build_id: str) -> dict[str, Any]:
    """The build as BatchGetBuilds returns it (KeyError when there is no such build)."""
    with _LOCK:
        found = _BUILDS[build_id]
    return found.snapshot()


def wait(build_id: str, timeout: float) -> dict[str, Any]:
    """The build once it is no longer IN_PROGRESS (TimeoutError after ``timeout`` seconds)."""
    with _LOCK:
        found = _BUILDS[build_id]
    if not found.done.wait(timeout):
        raise TimeoutError(f"the build {build_id} is still in progress after {timeout} s")
    return found.snapshot()


def builds_of(account: str, region: str, project: str | None = None) -> list[Build]:
    """The builds of an account and region (of ``project``), newest first: ListBuildsForProject's
    default order. https://docs.aws.amazon.com/codebuild/latest/APIReference/API_ListBuildsForProject.html"""
    where = (account, region)
    with _LOCK:
        found = [b for b in _BUILDS.values() if (b.request.account, b.request.region) == where]
    return [b for b in reversed(found) if project in (None, b.request.project_name)]


def install() -> None:
    """Patch moto's CodeBuild (``codebuild_api``)."""
    importlib.import_module("tap_cicd.local.services.codebuild_api").install()


def reset() -> None:
    """Stop every running build (waiting for their threads) and forget them all."""
    with _LOCK:
        builds = list(_BUILDS.values())
        _BUILDS.clear()
        _NUMBERS.clear()
    for found in builds:
        found.stop()
    for found in builds:
        found.thread.join(RESET_JOIN_SECONDS)
