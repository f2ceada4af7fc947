"""Buildspec semantics for the emulator's builds: the file parsed, its variables, the phases run
and their transitions, and the source and output artifacts in S3.
https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from botocore.exceptions import ClientError
from moto.utilities.utils import get_partition

from tap_cicd.local import services
from tap_cicd.local.services import denials

COMMAND_PHASES = ("INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD")
"""The phases that run the buildspec's commands, in order."""
ORDER = (
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    *COMMAND_PHASES,
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
)
"""Every phase of a build, in order. https://docs.aws.amazon.com/codebuild/latest/APIReference/API_BuildPhase.html"""
# Where a failed phase leads without on-failure (the diagram of "Build phase transitions"):
# a failed BUILD still runs POST_BUILD, and UPLOAD_ARTIFACTS is always attempted after them.
# https://docs.aws.amazon.com/codebuild/latest/userguide/view-build-details-phases.html
_AFTER_FAILURE = {"BUILD": "POST_BUILD", "POST_BUILD": "UPLOAD_ARTIFACTS"}
_ON_FAILURE = ("ABORT", "CONTINUE")
_SHELLS = {"bash": "bash", "/bin/sh": "/bin/sh"}
"""The Linux shell tags (env/shell); without one, commands run in sh.
https://docs.aws.amazon.com/codebuild/latest/userguide/build-env-ref-cmd.html"""


class PhaseFailed(Exception):
    """A phase failed: its context's status code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class BuildspecError(PhaseFailed):
    """The buildspec is not YAML, or not a buildspec this emulator runs."""

    def __init__(self, message: str) -> None:
        super().__init__("YAML_FILE_ERROR", message)


def after(phase: str, failed: bool, on_failure: str | None = None) -> str:
    """The phase that follows ``phase``. ``on-failure`` ABORT ends the build (FINALIZING),
    CONTINUE goes on to the next phase; without it a failure follows CodeBuild's transitions.
    https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html#build-spec.phases.on-failure
    """
    following = ORDER[ORDER.index(phase) + 1]
    if not failed or on_failure == "CONTINUE":
        return following
    if on_failure == "ABORT":
        return "FINALIZING"
    return _AFTER_FAILURE.get(phase, "FINALIZING")


@dataclass(frozen=True)
class Phase:
    """One phase's commands, its ``finally`` block and its ``on-failure``."""

    commands: tuple[str, ...] = ()
    finally_: tuple[str, ...] = ()
    on_failure: str | None = None


@dataclass(frozen=True)
class Artifacts:
    """The primary artifact: ``files`` (globs), ``base-directory`` and ``discard-paths``."""

    files: tuple[str, ...]
    base_directory: str | None = None
    discard_paths: bool = False

    def collect(self, source: Path) -> dict[str, Path]:
        """The files to zip, by their name in the zip, relative to ``source`` (or to each
        directory that ``base-directory`` matches)."""
        bases = _glob(source, self.base_directory or ".")
        found: dict[str, Path] = {}
        for base in (path for path in bases if path.is_dir()):
            for pattern in self.files:
                for path in _glob(base, pattern):
                    if path.is_file():
                        relative = path.relative_to(base)
                        found[relative.name if self.discard_paths else relative.as_posix()] = path
        return found


def _glob(base: Path, pattern: str) -> list[Path]:
    """What ``pattern`` matches under ``base`` (``.`` is ``base`` itself)."""
    while pattern.startswith("./"):
        pattern = pattern[2:]
    if pattern in ("", "."):
        return [base]
    try:
        return sorted(base.glob(pattern))
    except (ValueError, NotImplementedError) as error:  # an absolute path, say
        raise PhaseFailed("CLIENT_ERROR", f"invalid artifact path {pattern}: {error}") from error


def download(
    region: str,
    location: tuple[str, str],
    target: Path,
    credentials: services.Credentials = services.OWN,
) -> None:
    """Unzip the input artifact at ``location`` (bucket, key) into ``target``, read with
    ``credentials``, executable bits kept (``zipfile`` drops them)."""
    (bucket, key), archive = location, target.with_suffix(".zip")
    try:
        found = services.client("s3", region, credentials).get_object(Bucket=bucket, Key=key)
        archive.write_bytes(found["Body"].read())
        with zipfile.ZipFile(archive) as source:
            for member in source.infolist():
                extracted = Path(source.extract(member, target))
                mode = (member.external_attr >> 16) & 0o777
                if mode & 0o111 and not member.is_dir():
                    extracted.chmod(mode)
    except (ClientError, zipfile.BadZipFile) as error:
        message = f"error while downloading s3://{bucket}/{key}: {error}"
        raise PhaseFailed("CLIENT_ERROR", message) from error


def upload(
    artifacts: Artifacts | None,
    source: Path,
    region: str,
    location: tuple[str, str],
    encryption: tuple[str, str],
    *,
    credentials: services.Credentials = services.OWN,
) -> dict[str, str]:
    """Zip the artifact's files (modes kept) and put the zip at ``location`` (bucket, key),
    with ``credentials``,
    encrypted with ``encryption``'s KMS key and tagged with its build ARN (key, build ARN);
    the build's BuildArtifacts. https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html#build-spec.artifacts
    """
    if artifacts is None:
        raise PhaseFailed("CLIENT_ERROR", "no definition for primary artifact in buildspec")
    files = artifacts.collect(source)
    if not files:
        raise PhaseFailed("CLIENT_ERROR", "no matching artifact paths found")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in files.items():
            archive.write(path, name)
    body, (bucket, key), (kms_key, build_arn) = buffer.getvalue(), location, encryption
    services.client("s3", region, credentials).put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key,
        Metadata={"codebuild-buildarn": build_arn},
    )
    return {
        "location": f"arn:{get_partition(region)}:s3:::{bucket}/{key}",
        "md5sum": hashlib.md5(body).hexdigest(),  # noqa: S324 - a checksum, as AWS's
        "sha256sum": hashlib.sha256(body).hexdigest(),
    }


@dataclass(frozen=True)
class Buildspec:
    """A parsed buildspec."""

    version: str
    shell: str
    variables: Mapping[str, str] = field(default_factory=dict)
    parameter_store: Mapping[str, str] = field(default_factory=dict)
    exported_variables: tuple[str, ...] = ()
    phases: Mapping[str, Phase] = field(default_factory=dict)
    artifacts: Artifacts | None = None

    def phase(self, name: str) -> Phase:
        """The phase's declaration (empty when the buildspec has none)."""
        return self.phases.get(name, Phase())


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BuildspecError(f"{where} must be a mapping")
    return value


def _text(value: Any) -> str:
    """A YAML scalar as written: ``true`` stays ``true`` (not Python's ``True``)."""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _scalars(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value or []
    if not isinstance(items, list):
        raise BuildspecError(f"{where} must be a list")
    for index, item in enumerate(items):
        if isinstance(item, dict | list) or item is None:
            raise BuildspecError(
                f"{where}[{index}] is not a string (quote a command that contains ': ')"
            )
    return tuple(_text(item) for item in items)


def _phase(name: str, value: Any) -> Phase:
    declared = _mapping(value, f"phases.{name}")
    on_failure = declared.get("on-failure")
    if on_failure is not None and on_failure not in _ON_FAILURE:
        raise BuildspecError(
            f"phases.{name}.on-failure {on_failure!r} is not supported by the emulator "
            f"(use one of {', '.join(_ON_FAILURE)})"
        )
    return Phase(
        commands=_scalars(declared.get("commands"), f"phases.{name}.commands"),
        finally_=_scalars(declared.get("finally"), f"phases.{name}.finally"),
        on_failure=on_failure,
    )


def _artifacts(value: Any) -> Artifacts | None:
    if value is None:
        return None
    declared = _mapping(value, "artifacts")
    files = _scalars(declared.get("files"), "artifacts.files")
    if not files:
        raise BuildspecError("artifacts.files is required")
    discard = declared.get("discard-paths", False)
    base = declared.get("base-directory")
    return Artifacts(
        files=files,
        base_directory=str(base) if base is not None else None,
        discard_paths=discard is True or str(discard).lower() == "yes",
    )


def load(declared: str, source: Path) -> Buildspec:
    """The project's buildspec: ``declared`` itself, or the file it names in the source
    (``buildspec.yml`` when empty). https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html#build-spec-ref-name-storage
    """
    if "\n" in declared:
        return parse(declared)
    try:
        text = (source / (declared or "buildspec.yml")).read_text()
    except OSError as error:
        raise BuildspecError(f"the buildspec cannot be read: {error}") from error
    return parse(text)


def parse(text: str) -> Buildspec:
    """Parse a buildspec (version 0.1 or 0.2)."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise BuildspecError(f"the buildspec is not valid YAML: {error}") from error
    spec = _mapping(document, "the buildspec")
    version = str(spec.get("version", ""))
    if version not in ("0.1", "0.2"):
        raise BuildspecError(f"invalid buildspec version {version!r} (use 0.2)")
    env = _mapping(spec.get("env"), "env")
    shell = str(env.get("shell", "/bin/sh"))
    if shell not in _SHELLS:
        raise BuildspecError(f"env.shell {shell!r} is not a Linux shell (bash or /bin/sh)")
    phases = _mapping(spec.get("phases"), "phases")
    return Buildspec(
        version=version,
        shell=_SHELLS[shell],
        variables={
            str(k): _text(v) for k, v in _mapping(env.get("variables"), "env.variables").items()
        },
        parameter_store={
            str(k): str(v)
            for k, v in _mapping(env.get("parameter-store"), "env.parameter-store").items()
        },
        exported_variables=_scalars(env.get("exported-variables"), "env.exported-variables"),
        phases={name: _phase(name, phases.get(name.lower())) for name in COMMAND_PHASES},
        artifacts=_artifacts(spec.get("artifacts")),
    )


class Runner(Protocol):
    """What runs a phase's commands: ``containers.Shell``."""

    def run(self, command: str, output: Callable[[str], None]) -> int: ...


def run_phase(
    phase: Phase,
    shell: Runner,
    output: Callable[[str], None],
    container: Callable[[str], None],
    interrupted: Callable[[], bool],
) -> str | None:
    """Run the phase's commands until one fails, then its ``finally`` block likewise; the
    first failure's context message, or None when every command succeeded. ``output`` takes
    the commands' lines, ``container`` CodeBuild's own; nothing more runs once ``interrupted``.
    https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html#build-spec.phases.finally
    """
    failure: str | None = None
    for block in (phase.commands, phase.finally_):
        for command in block:
            if interrupted():
                return failure
            container(f"Running command {command}")
            status = shell.run(command, output)
            if status != 0:
                container(f"Command did not exit successfully {command} exit status {status}")
                failure = failure or (
                    f"Error while executing command: {command}. Reason: exit status {status}"
                )
                break
    return failure


def resolve(
    kind: str, name: str, region: str, credentials: services.Credentials = services.OWN
) -> str:
    """A PARAMETER_STORE or SECRETS_MANAGER variable's value (``secret-id[:json-key]``), read
    with ``credentials``; one that cannot be read fails the phase (DOWNLOAD_SOURCE, on AWS):
    a Decrypted Variables Error (a denial in AWS's words, else a missing parameter) or a
    Secrets Manager Error."""
    try:
        if kind == "PARAMETER_STORE":
            # AWS's service-role example grants ssm:GetParameters only: https://docs.aws.amazon.com/codebuild/latest/userguide/setting-up-service-role.html
            ssm = services.client("ssm", region, credentials)
            found = ssm.get_parameters(Names=[name], WithDecryption=True)
            if name in found.get("InvalidParameters", []) or not found["Parameters"]:
                raise KeyError(name)
            return str(found["Parameters"][0]["Value"])
        secret, _, key = name.partition(":")
        secrets = services.client("secretsmanager", region, credentials)
        found = secrets.get_secret_value(SecretId=secret)
        return str(json.loads(found["SecretString"])[key] if key else found["SecretString"])
    except (ClientError, KeyError, ValueError) as error:
        if kind != "PARAMETER_STORE":
            raise PhaseFailed("Secrets Manager Error", f"{name}: {error}") from error
        message = str(error) if denials.is_denied(error) else f"parameter does not exist: {name}"
        raise PhaseFailed("Decrypted Variables Error", message) from error


def variables(
    spec: Buildspec,
    project: list[dict[str, str]],
    overrides: Mapping[str, str],
    region: str,
    credentials: services.Credentials = services.OWN,
) -> tuple[dict[str, str], set[str]]:
    """The build's own variables: the start build's ``overrides`` over the project's over the
    buildspec's, those of type PARAMETER_STORE or SECRETS_MANAGER resolved; and the names of
    the project's secret ones (never exported).
    https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html#build-spec.env.variables
    """
    found = dict(spec.variables)
    for name, parameter in spec.parameter_store.items():
        found[name] = resolve("PARAMETER_STORE", parameter, region, credentials)
    secrets = set()
    for variable in project:
        kind = variable.get("type", "PLAINTEXT")
        if kind == "PLAINTEXT":
            found[variable["name"]] = variable["value"]
        else:
            found[variable["name"]] = resolve(kind, variable["value"], region, credentials)
            secrets.add(variable["name"])
    return found | dict(overrides), secrets


def exported(spec: Buildspec, secrets: set[str]) -> list[str]:
    """The variables the build exports: not the project's secret ones nor ``AWS_*`` ones.
    https://docs.aws.amazon.com/codebuild/latest/userguide/build-spec-ref.html#build-spec.env.exported-variables
    """
    return [
        name
        for name in spec.exported_variables
        if name not in secrets and not name.startswith("AWS_")
    ]
