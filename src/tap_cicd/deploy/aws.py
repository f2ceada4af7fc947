"""The deploy step's AWS calls, each thin: the decisions are in ``logic``.

Clients are created on first use and kept for warm invocations; the artifact client is made
per job, from the job's own temporary credentials.
"""

from __future__ import annotations

import io
import zipfile
from functools import cache, cached_property, lru_cache
from typing import TYPE_CHECKING, Any, cast

from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.session import Session, get_session

from tap_cicd.deploy.events import Credentials, Location
from tap_cicd.deploy.logic import (
    CONFIGURATION_ERROR,
    JOB_FAILED,
    PERMISSION_CODES,
    PERMISSION_ERROR,
    Finding,
    JobFailure,
    finding_of,
)

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
MAX_CALLS_PER_STEP = MAX_SCAN_PAGES
"""The most calls any step makes after its budget check (recording makes 3, the scan 4)."""
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
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return archive.read(IMAGE_DETAIL)
    except zipfile.BadZipFile as error:
        raise JobFailure(JOB_FAILED, "input artifact is not a zip") from error
    except KeyError as error:
        raise JobFailure(JOB_FAILED, f"input artifact has no {IMAGE_DETAIL}") from error


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
            for raw in [*results.get("findings", []), *results.get("enhancedFindings", [])]:
                findings.append(finding_of(raw))
    except ClientError as error:
        # Scan on push may not have started yet: the same as a scan in progress.
        if error_code(error) != "ScanNotFoundException":
            raise
        return None, []
    return status, findings


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
