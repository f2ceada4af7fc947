"""The deploy step's AWS calls, each thin: the decisions are in ``logic``.

Clients are created on first use and kept for warm invocations; the artifact client is made
per job, from the job's own temporary credentials.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from functools import cache, cached_property, lru_cache
from typing import TYPE_CHECKING, Any, cast

from botocore import exceptions as botocore_errors
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.session import Session, get_session

from tap_cicd.deploy.events import Credentials, Location
from tap_cicd.deploy.failures import (
    CONFIGURATION_ERROR,
    JOB_FAILED,
    PERMISSION_CODES,
    PERMISSION_ERROR,
    SYSTEM_UNAVAILABLE,
    JobFailure,
    shown,
)
from tap_cicd.deploy.rollout import MAX_DEPLOYMENTS_LOOKED_UP
from tap_cicd.deploy.scanning import Finding, finding_of

if TYPE_CHECKING:
    from mypy_boto3_codepipeline import CodePipelineClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient

MAX_ATTEMPTS = 3
CONNECT_TIMEOUT = 2
READ_TIMEOUT = 5
WORST_CALL_MS = (MAX_ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + 3) * 1000
"""The longest one call can take: every attempt timing out, plus standard-mode backoff."""
MAX_SCAN_PAGES = 4
"""Scan findings are read in at most this many pages (1000 findings each): the time budget
counts on it. More findings fail the release rather than let unread ones through."""
NO_SCAN_CALLS = 2
"""No scan yet: the one findings call that says so, then the repository's scanning
configuration (is a scan coming at all?)."""
TAG_CALLS = 3
"""Tagging the release: get the manifest, put it with the tag, and when ECR says the tag
exists, ask which image it names."""
RECORD_CALLS = 3
"""Recording the release: read the parameter, write it, publish."""
LOOKUP_CALLS = 1 + MAX_DEPLOYMENTS_LOOKED_UP
"""Looking for this job's revision: describe the service, then each candidate revision."""
REGISTER_CALLS = 2
"""Registering the revision: describe the template, register."""
MAX_CALLS_PER_STEP = max(
    1, MAX_SCAN_PAGES, NO_SCAN_CALLS, TAG_CALLS, RECORD_CALLS, LOOKUP_CALLS, REGISTER_CALLS
)
"""The most calls any step makes after its budget check (the time budget keeps room for
them): reading the artifact, verifying the image, updating the service, reading the rollout
and announcing a failed one make 1 each."""
# Bounded standard retries: throttling is retried, but never past the function's timeout.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    connect_timeout=CONNECT_TIMEOUT,
    read_timeout=READ_TIMEOUT,
)
# SSE-KMS objects can only be read with SigV4.
S3_CONFIG = CLIENT_CONFIG.merge(Config(signature_version="s3v4"))
IMAGE_DETAIL = "imageDetail.json"
MAX_ARTIFACT_BYTES = 1 << 20
"""The build output holds one small JSON file; anything larger is not ours."""
MAX_DETAIL_BYTES = 64 << 10
"""``imageDetail.json`` is one URI (well under 1 KiB). A zip can declare, and a deflate
stream can inflate to, a thousand times its own size: a 600 KB artifact could hold 600 MB.
So the member is refused when it declares more, and never read past this either."""
MANIFEST_MEDIA_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v1+json",
]
"""The manifest types the release may have: the three ``acceptedMediaTypes`` the API reference
lists, and the two index types (a ``docker buildx`` push with attestations is an OCI index).
Accepting the stored type gets the manifest as pushed; a converted one would have another
digest, which ``PutImage`` with ``imageDigest`` refuses."""
TRANSIENT_ERRORS: tuple[type[BotoCoreError], ...] = (
    botocore_errors.ConnectionError,
    botocore_errors.HTTPClientError,
    botocore_errors.IncompleteReadError,
)
"""botocore errors worth trying again later: no connection, a timeout, a connection closed or
a response cut short. The first two are those botocore's standard retry mode retries."""
INVALID_REQUEST_ERRORS: tuple[type[BotoCoreError], ...] = (
    botocore_errors.ParamValidationError,
    botocore_errors.ValidationError,
)
"""botocore refused to send a request: a parameter breaks the API's rules (a value from the
configuration or the event). Permanent: retrying sends the same value."""


@cache
def session() -> Session:
    """One botocore session: its loaded models are shared by every client, warm or per job.

    botocore rather than boto3: the function needs plain clients only, and boto3 would also
    import s3transfer on a cold start.
    """
    return get_session()


def error_code(error: ClientError) -> str:
    """The AWS error code of ``error``."""
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


class Services:
    """Clients of the function's own role, created on first use."""

    @cached_property
    def codepipeline(self) -> CodePipelineClient:
        """CodePipeline (job results)."""
        return cast(
            "CodePipelineClient", session().create_client("codepipeline", config=CLIENT_CONFIG)
        )

    @cached_property
    def ecr(self) -> ECRClient:
        """ECR (image and scan findings)."""
        return cast("ECRClient", session().create_client("ecr", config=CLIENT_CONFIG))

    @cached_property
    def ecs(self) -> Any:
        """ECS (the rollout; see ``tap_cicd.deploy.ecs``)."""
        return session().create_client("ecs", config=CLIENT_CONFIG)

    @cached_property
    def ssm(self) -> SSMClient:
        """SSM (the release parameter)."""
        return cast("SSMClient", session().create_client("ssm", config=CLIENT_CONFIG))

    @cached_property
    def sns(self) -> SNSClient:
        """SNS (the release message)."""
        return cast("SNSClient", session().create_client("sns", config=CLIENT_CONFIG))


@lru_cache(maxsize=1)
def artifact_client(credentials: Credentials) -> S3Client:
    """S3 with the job's artifact credentials, not the function's role.

    Kept while the next job brings the same credentials (a continuation of the same job, or
    CodePipeline reusing its session); other credentials replace it.
    """
    client = session().create_client(
        "s3",
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        config=S3_CONFIG,
    )
    return cast("S3Client", client)


def read_image_detail(s3: S3Client, location: Location) -> bytes:
    """``imageDetail.json`` from the zipped input artifact."""
    try:
        response = s3.get_object(Bucket=location.bucket, Key=location.key)
    except ClientError as error:
        code = error_code(error)
        if code in ("NoSuchKey", "NoSuchBucket", "404"):
            raise JobFailure(
                JOB_FAILED, f"input artifact s3://{location.bucket}/... missing"
            ) from error
        if code in PERMISSION_CODES:
            raise JobFailure(PERMISSION_ERROR, f"cannot read the input artifact: {code}") from error
        raise
    body = response["Body"]
    raw = body.read(MAX_ARTIFACT_BYTES + 1)
    body.close()
    if len(raw) > MAX_ARTIFACT_BYTES:
        raise JobFailure(JOB_FAILED, "input artifact is larger than 1 MiB; not a build output")
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as error:
        raise JobFailure(JOB_FAILED, "input artifact is not a zip") from error
    with archive:
        return _bounded_member(archive)


def _bounded_member(archive: zipfile.ZipFile) -> bytes:
    """``imageDetail.json``, inflating at most ``MAX_DETAIL_BYTES`` + 1 bytes of it."""
    try:
        member = archive.getinfo(IMAGE_DETAIL)
    except KeyError as error:
        raise JobFailure(JOB_FAILED, f"input artifact has no {IMAGE_DETAIL}") from error
    too_large = JobFailure(
        JOB_FAILED,
        f"{IMAGE_DETAIL} in the input artifact is larger than {MAX_DETAIL_BYTES} bytes "
        f"(the limit); not a build output",
    )
    if member.file_size > MAX_DETAIL_BYTES:
        raise too_large
    try:
        # The header's size may lie: the read is bounded whatever it declares.
        with archive.open(member) as stream:
            detail = stream.read(MAX_DETAIL_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        raise JobFailure(
            JOB_FAILED, f"{IMAGE_DETAIL} in the input artifact is corrupt or unreadable: {error}"
        ) from error
    except RuntimeError as error:  # zipfile's "File is encrypted, password required"
        raise JobFailure(
            JOB_FAILED, f"{IMAGE_DETAIL} in the input artifact is encrypted"
        ) from error
    if len(detail) > MAX_DETAIL_BYTES:
        raise too_large
    return detail


def verify_image(ecr: ECRClient, repository: str, digest: str) -> None:
    """The digest exists in the repository (C1): asked by digest, never by tag (R5)."""
    try:
        ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])
    except ClientError as error:
        code = error_code(error)
        if code == "ImageNotFoundException":
            raise JobFailure(JOB_FAILED, f"{digest} is not in repository {repository}") from error
        if code == "RepositoryNotFoundException":
            raise JobFailure(CONFIGURATION_ERROR, f"repository {repository} not found") from error
        raise


def scan_findings(ecr: ECRClient, repository: str, digest: str) -> tuple[str | None, list[Finding]]:
    """The scan status (``None`` when no scan exists yet) and, once done, every finding."""
    pages = ecr.get_paginator("describe_image_scan_findings").paginate(
        repositoryName=repository,
        imageId={"imageDigest": digest},
        PaginationConfig={"PageSize": 1000},
    )
    findings: list[Finding] = []
    status: str | None = None
    try:
        for number, page in enumerate(pages, start=1):
            if number > MAX_SCAN_PAGES:
                raise JobFailure(
                    JOB_FAILED,
                    f"more than {MAX_SCAN_PAGES * 1000} scan findings for {digest}: "
                    "too many to judge within the time budget; fix the image",
                )
            status = page.get("imageScanStatus", {}).get("status")
            if status not in ("COMPLETE", "ACTIVE"):
                break
            results: Any = page.get("imageScanFindings", {})
            # Enhanced (Inspector) findings need inspector2:ListFindings besides this call:
            # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-enhanced-iam.html
            for raw in [*results.get("findings", []), *results.get("enhancedFindings", [])]:
                findings.append(finding_of(raw))
    except ClientError as error:
        # Scan on push may not have started yet: the same as a scan in progress.
        if error_code(error) != "ScanNotFoundException":
            raise
        return None, []
    return status, findings


def scanning_configuration(ecr: ECRClient, repository: str) -> dict[str, Any]:
    """The repository's effective scanning configuration (is a scan coming at all?)."""
    # https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_BatchGetRepositoryScanningConfiguration.html
    response = ecr.batch_get_repository_scanning_configuration(repositoryNames=[repository])
    return cast("dict[str, Any]", response)


def tag_image(ecr: ECRClient, repository: str, digest: str, tag: str) -> None:
    """Give ``digest`` the tag ``tag`` by putting its own manifest again under that tag.

    Tags are immutable in the repository: ECR refuses a tag it already holds. When it names
    this digest (a repeated delivery), that is success; when it names another, a failure.
    """
    # Retagging is a PutImage of the image's manifest under a new tag:
    # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-retag.html
    found = ecr.batch_get_image(
        repositoryName=repository,
        imageIds=[{"imageDigest": digest}],
        acceptedMediaTypes=MANIFEST_MEDIA_TYPES,
    )
    images = [i for i in found.get("images", []) if i.get("imageManifest")]
    if not images:
        reasons = [
            f.get("failureReason") or f.get("failureCode") for f in found.get("failures", [])
        ]
        detail = f" ({reasons[0]})" if reasons and reasons[0] else ""
        raise JobFailure(JOB_FAILED, f"cannot read the manifest of {digest}{detail}; not tagged")
    image = images[0]
    media_type = image.get("imageManifestMediaType")
    try:
        ecr.put_image(
            repositoryName=repository,
            imageManifest=image["imageManifest"],
            imageTag=tag,
            imageDigest=digest,
            **({"imageManifestMediaType": media_type} if media_type else {}),
        )
    except ClientError as error:
        if error_code(error) not in (
            "ImageAlreadyExistsException",
            "ImageTagAlreadyExistsException",
        ):
            raise
        _tag_names(ecr, repository, digest, tag, error)


def _tag_names(ecr: ECRClient, repository: str, digest: str, tag: str, error: ClientError) -> None:
    """ECR holds ``tag`` already: success when it names ``digest``, a failure otherwise."""
    named = _tagged(ecr, repository, tag)
    if digest not in named:
        raise JobFailure(
            JOB_FAILED,
            f"tag {tag} already names another image ({', '.join(named) or 'unknown'}) "
            f"in repository {shown(repository)}; tags there are immutable: not released",
        ) from error


def _tagged(ecr: ECRClient, repository: str, tag: str) -> list[str]:
    """The digests ``tag`` names (none when ECR finds no image with it)."""
    try:
        described = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])
    except ClientError as error:
        if error_code(error) != "ImageNotFoundException":
            raise
        return []
    return [str(d.get("imageDigest")) for d in described.get("imageDetails", [])]


def failure_of(error: BotoCoreError, text: str) -> JobFailure:
    """The job failure for an error botocore raised before or instead of an AWS answer.

    ``text`` is the error's text, already scrubbed and clipped by the caller.
    """
    if isinstance(error, TRANSIENT_ERRORS):
        return JobFailure(SYSTEM_UNAVAILABLE, f"AWS unreachable: {text}")
    if isinstance(error, INVALID_REQUEST_ERRORS):
        return JobFailure(
            CONFIGURATION_ERROR,
            f"an AWS request was refused before it was sent (a permanent error: fix the value "
            f"it names): {text}",
        )
    return JobFailure(JOB_FAILED, f"AWS client error {type(error).__name__}: {text}")


def read_parameter(ssm: SSMClient, name: str) -> tuple[str, int]:
    """The release parameter's value and version."""
    parameter = ssm.get_parameter(Name=name)["Parameter"]
    return parameter.get("Value", ""), int(parameter.get("Version", 0))


def write_parameter(ssm: SSMClient, name: str, value: str) -> int:
    """Overwrite the release parameter; its new version."""
    return int(ssm.put_parameter(Name=name, Value=value, Overwrite=True)["Version"])


def publish(sns: SNSClient, topic_arn: str, subject: str, message: str) -> None:
    """Publish the release message."""
    sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)
