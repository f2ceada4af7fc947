"""The registry's ECR side: blobs kept in the emulator process, images kept by moto's ECR
backend, and the scan results ECR reports for them.

A blob (a layer or an image config) is content-addressed bytes in this process; a repository
holds it when moto's ``Repository.layers`` lists its digest, the record ``CompleteLayerUpload``
fills and ``BatchCheckLayerAvailability`` reads. A manifest is an image of moto's backend
(``put_image`` with the manifest's bytes and their digest), so ``DescribeImages``,
``BatchGetImage`` and the deploy step see exactly what was pushed. Scans are moto's
(``start_image_scan``), their findings tap's: clean unless seeded (``seed_findings``).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from moto.ecr.exceptions import ImageAlreadyExistsException
from moto.ecr.models import ECRBackend, Image, Repository, ecr_backends
from moto.ecr.responses import ECRResponse

from tap_cicd.local import services

DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
"""The one digest algorithm the registry verifies (and the one ECR uses)."""
TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
"""https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests"""
IMAGE_MANIFESTS = frozenset(
    {
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    }
)
INDEXES = frozenset(
    {
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    }
)
"""Manifest lists and OCI indexes: their ``manifests`` name images of the same repository."""
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED")
"""https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageScanFinding.html"""

_LOCK = threading.RLock()
_BLOBS: dict[str, bytes] = {}
_UPLOADS: dict[str, Upload] = {}
_FINDINGS: dict[tuple[str, str], list[dict[str, Any]]] = {}
"""(repository, digest) -> the findings its scan reports."""
_SEEDS: dict[str, list[dict[str, Any]]] = {}
"""repository -> the findings of every image of it scanned from now on."""
_ORIGINALS: dict[str, Any] = {}


class RegistryError(Exception):
    """A registry API error: its HTTP status and the spec's ``errors`` list.
    https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes"""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"])
        self.status = status
        self.errors = errors


def error(status: int, code: str, message: str, detail: Any = None) -> RegistryError:
    """One error of the spec's error codes."""
    return RegistryError(status, [{"code": code, "message": message, "detail": detail or {}}])


def digest_of(data: bytes) -> str:
    """The sha256 digest of ``data``."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def find_repository(name: str) -> tuple[ECRBackend, Repository] | None:
    """The emulator account's repository ``name``, in whichever region holds it."""
    for backend in list(ecr_backends[services.DEFAULT_ACCOUNT].values()):
        repository = backend.repositories.get(name)
        if repository is not None:
            return backend, repository
    return None


def find_image(repository: Repository, reference: str) -> Image | None:
    """The repository's image with this digest or tag."""
    for image in repository.images:
        if reference == image.get_image_digest() or reference in image.image_tags:
            return image
    return None


# --- blobs and uploads ---------------------------------------------------------------------------


def blob(repository: Repository, digest: str) -> bytes | None:
    """The blob's bytes when the repository holds it."""
    return _BLOBS.get(digest) if digest in repository.layers else None


def store_blob(repository: Repository, data: bytes) -> str:
    """Keep ``data`` as a blob of the repository; its digest."""
    digest = digest_of(data)
    with _LOCK:
        _BLOBS[digest] = data
        repository.layers[digest] = len(data)
    return digest


def mount(repository: Repository, digest: str, source: str) -> bool:
    """Give the repository the blob repository ``source`` holds (``False``: it holds none)."""
    found = find_repository(source)
    data = blob(found[1], digest) if found is not None else None
    if data is not None:
        repository.layers[digest] = len(data)
    return data is not None


@dataclass
class Upload:
    """A blob upload session: its repository and the bytes received so far."""

    repository: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    data: bytearray = field(default_factory=bytearray)


def start_upload(repository: str) -> Upload:
    """A new upload session into ``repository``."""
    upload = Upload(repository)
    _UPLOADS[upload.id] = upload
    return upload


def upload_of(repository: str, upload_id: str) -> Upload:
    """The session ``upload_id`` of ``repository``, or BLOB_UPLOAD_UNKNOWN."""
    upload = _UPLOADS.get(upload_id)
    if upload is None or upload.repository != repository:
        raise error(404, "BLOB_UPLOAD_UNKNOWN", f"blob upload {upload_id} unknown to registry")
    return upload


def end_upload(upload: Upload) -> None:
    """Forget the session (closed or cancelled)."""
    _UPLOADS.pop(upload.id, None)


# --- manifests -----------------------------------------------------------------------------------


def _references(manifest: dict[str, Any], media_type: str) -> list[str]:
    """The digests a manifest names: config and layers, or the images of an index."""
    if media_type in INDEXES:
        described = manifest.get("manifests")
    else:
        described = [manifest.get("config"), *(manifest.get("layers") or [])]
    if not isinstance(described, list) or not all(
        isinstance(d, dict) and isinstance(d.get("digest"), str) for d in described
    ):
        raise error(400, "MANIFEST_INVALID", "a descriptor has no digest")
    return [d["digest"] for d in described]


def _parse(body: bytes, content_type: str) -> tuple[str, dict[str, Any], str]:
    """The manifest's text, its JSON and its media type; MANIFEST_INVALID when it is none of the
    kinds the registry takes (the type is the manifest's ``mediaType`` or the request's)."""
    try:
        text = body.decode()
        manifest = json.loads(text)
    except ValueError:
        raise error(400, "MANIFEST_INVALID", "the manifest is not JSON") from None
    if not isinstance(manifest, dict):
        raise error(400, "MANIFEST_INVALID", "the manifest is not a JSON object")
    declared = manifest.get("mediaType")
    if declared and declared != content_type:
        # spec.md#pushing-manifests: the Content-Type must be the manifest's mediaType.
        message = f"mediaType {declared!r} is not the request's Content-Type {content_type!r}"
        raise error(400, "MANIFEST_INVALID", message)
    media_type = str(declared or content_type)
    if media_type not in IMAGE_MANIFESTS | INDEXES:
        message = f"{media_type!r} is not a Docker v2 schema 2 or OCI manifest or index"
        raise error(400, "MANIFEST_INVALID", message)
    return text, manifest, media_type


def _missing(repository: Repository, manifest: dict[str, Any], media_type: str) -> list[str]:
    references = _references(manifest, media_type)
    if media_type in INDEXES:
        return [d for d in references if find_image(repository, d) is None]
    return [d for d in references if blob(repository, d) is None]


def _tag_once(backend: ECRBackend, repository: Repository, image: Image | None, tag: str) -> None:
    """Refuse a tag an immutable repository holds already, as ECR answers ``docker push``
    (https://github.com/moby/buildkit/issues/3776; moto's rule decides, exclusion filters
    included); a mutable one moves it, leaving the other image untagged as ECR does.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-tag-mutability.html"""
    try:
        backend._resolve_image_tag_mutability(repository, tag)
    except ImageAlreadyExistsException:
        raise error(
            400,
            "TAG_INVALID",
            f"The image tag '{tag}' already exists in the '{repository.name}' repository and "
            "cannot be overwritten because the repository is immutable.",
        ) from None
    for other in repository.images:
        if other is not image and tag in other.image_tags:
            other.remove_tag(tag)
            # moto's remove_tag leaves the removed tag as the untagged image's ``image_tag``.
            other.image_tag = other.image_tags[-1] if other.image_tags else None  # type: ignore[assignment]


def scans_on_push(repository: Repository) -> bool:
    """The repository's own setting, or a registry scanning rule that scans it on push.
    https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-scanning-basic.html"""
    own: Any = repository.image_scanning_configuration or {}
    rule = repository.scanning_config.get("scanFrequency")
    return bool(own.get("scanOnPush")) or rule == "SCAN_ON_PUSH"


def put_manifest(
    backend: ECRBackend, repository: Repository, reference: str, body: bytes, content_type: str
) -> str:
    """Store a pushed manifest as an image of the repository (tagged unless pushed by
    digest); its digest. A new image manifest is scanned when the repository scans on push."""
    text, manifest, media_type = _parse(body, content_type)
    digest = digest_of(body)
    by_digest = ":" in reference
    if by_digest and reference != digest:
        raise error(400, "DIGEST_INVALID", f"the manifest's digest is {digest}, not {reference}")
    if not by_digest and not TAG.fullmatch(reference):
        raise error(400, "TAG_INVALID", f"invalid tag {reference!r}")
    missing = _missing(repository, manifest, media_type)
    if missing:
        raise RegistryError(
            400,
            [
                {
                    "code": "MANIFEST_BLOB_UNKNOWN",
                    "message": f"{d} unknown",
                    "detail": {"digest": d},
                }
                for d in missing
            ],
        )
    tag = None if by_digest else reference
    with _LOCK:
        image = find_image(repository, digest)
        if tag is not None:
            _tag_once(backend, repository, image, tag)
        if image is None:
            backend.put_image(repository.name, text, tag, media_type, digest)  # type: ignore[arg-type]
            if media_type in IMAGE_MANIFESTS and scans_on_push(repository):
                backend.start_image_scan(
                    repository.registry_id, repository.name, {"imageDigest": digest}
                )
        elif tag is not None:
            image.update_tag(tag)
    return digest


# --- scan findings -------------------------------------------------------------------------------


def _finding(index: int, raw: Any) -> dict[str, Any]:
    where = f"findings[{index}]"
    if not isinstance(raw, dict):
        raise ValueError(f"{where} must be an object")
    if not isinstance(raw.get("name"), str) or not raw["name"]:
        raise ValueError(f"{where}.name must be a non-empty string")
    if raw.get("severity") not in SEVERITIES:
        raise ValueError(f"{where}.severity must be one of {', '.join(SEVERITIES)}")
    if not isinstance(raw.get("description", ""), str):
        raise ValueError(f"{where}.description must be a string")
    # The ImageScanFinding shape (basic scanning):
    # https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageScanFinding.html
    finding = {"name": raw["name"], "severity": raw["severity"], "attributes": []}
    return finding | ({"description": raw["description"]} if "description" in raw else {})


def seed_findings(body: dict[str, Any]) -> dict[str, Any]:
    """``ROUTES["ecr/findings"]``: the findings of one digest, or (no ``imageDigest``) of every
    image of the repository scanned from now on; an empty list makes them clean again."""
    name = body.get("repositoryName")
    if not isinstance(name, str) or find_repository(name) is None:
        raise ValueError(f"repositoryName must name an ECR repository of the emulator: {name!r}")
    raw = body.get("findings")
    if not isinstance(raw, list):
        raise ValueError("findings must be a list")
    findings = [_finding(index, item) for index, item in enumerate(raw)]
    digest = body.get("imageDigest")
    if digest is not None and not (isinstance(digest, str) and DIGEST.fullmatch(digest)):
        raise ValueError("imageDigest must be sha256: and 64 hex digits")
    # An empty list is a clean result, the default.
    with _LOCK:
        if digest is None:
            _SEEDS[name] = findings
        else:
            _FINDINGS[(name, digest)] = findings
    return {"repositoryName": name, "imageDigest": digest, "findings": len(findings)}


def _start_image_scan(
    self: ECRBackend, registry_id: str, repository_name: str, image_id: dict[str, str]
) -> dict[str, Any]:
    """moto's scan, which records the repository's seeded findings for the digest."""
    answer: dict[str, Any] = _ORIGINALS["start_image_scan"](
        self, registry_id, repository_name, image_id
    )
    seeded = _SEEDS.get(repository_name)
    if seeded is not None:
        _FINDINGS[(repository_name, answer["imageId"]["imageDigest"])] = copy.deepcopy(seeded)
    return answer


def _describe_image_scan_findings(
    self: ECRBackend, registry_id: str, repository_name: str, image_id: dict[str, Any]
) -> dict[str, Any]:
    """moto's answer (COMPLETE once scanned; ScanNotFoundException before) with tap's findings
    in place of moto's fixed CVE-9999-9999, and their counts by severity.
    https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_ImageScanFindings.html"""
    answer = copy.deepcopy(
        _ORIGINALS["describe_image_scan_findings"](self, registry_id, repository_name, image_id)
    )
    repository = self._get_repository(repository_name, registry_id)
    image = repository._get_image(image_id.get("imageTag"), image_id.get("imageDigest"))
    findings = copy.deepcopy(_FINDINGS.get((repository_name, image.get_image_digest()), []))
    scan = answer.setdefault("imageScanFindings", {})
    scan["findings"] = findings
    scan["findingSeverityCounts"] = dict(Counter(f["severity"] for f in findings))
    return dict(answer)


TOKEN_MARK = "-auth-token"  # noqa: S105 - a marker in the token, not a secret
"""moto's password is ``<registry id>-auth-token``; the emulator's adds ``-<access key>``."""


def _get_authorization_token(self: ECRResponse) -> Any:
    """moto's token, whose ``proxyEndpoint`` is the emulator's registry (``docker login``) and
    whose password names the caller's access key (``registry_auth`` acts as its session)."""
    answer = _ORIGINALS["get_authorization_token"](self)
    for data in answer.result["authorizationData"]:
        user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        secret = f"{password}-{self.get_access_key()}"
        data["authorizationToken"] = base64.b64encode(f"{user}:{secret}".encode()).decode()
        data["proxyEndpoint"] = f"http://{services.registry_host()}"
    return answer


def _repository_uri(repository: Repository) -> str:
    return f"{services.registry_host()}/{repository.name}"


def install() -> None:
    """Point repository URIs at the emulator's registry (in every ECR answer, as LocalStack
    does) and give scans tap's findings. Idempotent."""
    if _ORIGINALS:
        return
    _ORIGINALS["start_image_scan"] = ECRBackend.start_image_scan
    _ORIGINALS["describe_image_scan_findings"] = ECRBackend.describe_image_scan_findings
    _ORIGINALS["get_authorization_token"] = ECRResponse.get_authorization_token
    ECRBackend.start_image_scan = _start_image_scan  # type: ignore[method-assign]
    ECRBackend.describe_image_scan_findings = _describe_image_scan_findings  # type: ignore[method-assign]
    ECRResponse.get_authorization_token = _get_authorization_token  # type: ignore[method-assign]
    # moto sets ``uri`` in Repository.__init__; a property with a setter that ignores it wins.
    Repository.uri = property(_repository_uri, lambda _repository, _value: None)  # type: ignore[assignment]


def reset() -> None:
    """Forget blobs, uploads and findings (moto's reset empties its repositories)."""
    with _LOCK:
        _BLOBS.clear()
        _UPLOADS.clear()
        _FINDINGS.clear()
        _SEEDS.clear()
