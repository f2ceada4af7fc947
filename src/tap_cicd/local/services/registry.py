"""The emulator's container registry: the OCI distribution API (the Docker Registry HTTP API
v2) for the ECR repositories moto holds, enough for ``docker``/``podman`` push and pull.
https://github.com/opencontainers/distribution-spec/blob/main/spec.md

Repository URIs point here (``registry_store.install``), so a plain ``docker push`` of a
repository's URI lands in the repository ``DescribeImages`` and the deploy step read. Any
request needs ``GetAuthorizationToken``'s credentials (``docker login``), and a role session's
requests are authorized as ECR's actions (``registry_auth``). What is kept, and how it meets
moto's ECR backend, is ``registry_store``'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from moto.ecr.models import ECRBackend, Repository
from werkzeug.wrappers import Request, Response

from tap_cicd.local import services
from tap_cicd.local.services import registry_auth
from tap_cicd.local.services import registry_store as store
from tap_cicd.local.services.registry_store import DIGEST, RegistryError, error

ROUTE = re.compile(
    r"/v2/(?P<name>.+?)/(?:blobs/uploads/(?P<upload>[^/]*)|blobs/(?P<blob>[^/]+)"
    r"|manifests/(?P<manifest>[^/]+)|(?P<tags>tags/list))"
)
"""The endpoints below ``/v2/`` (spec.md#endpoints); the group that matched is the kind."""
CONTENT_RANGE = re.compile(r"([0-9]+)-([0-9]+)")


@dataclass(frozen=True)
class Target:
    """What a request is about: the repository (and its ECR backend) and the path's last part."""

    backend: ECRBackend
    repository: Repository
    value: str

    @property
    def name(self) -> str:
        """The repository's name."""
        return str(self.repository.name)


def _empty(status: int, headers: dict[str, str]) -> Response:
    return Response(b"", status, headers={**headers, "Content-Length": "0"})


def _created(location: str, digest: str) -> Response:
    return _empty(201, {"Location": location, "Docker-Content-Digest": digest})


def _progress(name: str, upload: store.Upload, status: int = 202) -> Response:
    """Where the upload goes on and what it holds (spec.md#pushing-a-blob-in-chunks)."""
    return _empty(
        status,
        {
            "Location": f"/v2/{name}/blobs/uploads/{upload.id}",
            # Inclusive, as the Docker registry reports it: "0-0" before the first byte too.
            "Range": f"0-{max(len(upload.data) - 1, 0)}",
            "Docker-Upload-UUID": upload.id,
        },
    )


def _append(request: Request, upload: store.Upload) -> None:
    """Add the request's chunk; a ``Content-Range`` must start where the upload stands."""
    chunk = request.get_data()
    given = request.headers.get("Content-Range")
    if given is not None:
        matched = CONTENT_RANGE.fullmatch(given.strip())
        if matched is None:
            raise error(400, "BLOB_UPLOAD_INVALID", f"Content-Range {given!r} is not <start>-<end>")
        if int(matched[1]) != len(upload.data):
            # Out of order: 416 (spec.md#pushing-a-blob-in-chunks).
            raise error(416, "BLOB_UPLOAD_INVALID", f"the upload holds {len(upload.data)} bytes")
    upload.data += chunk


def _finish(target: Target, upload: store.Upload, digest: str | None) -> Response:
    """Close the session: the bytes must have the digest the client gave (``DIGEST_INVALID``)."""
    store.end_upload(upload)
    if digest is None or not DIGEST.fullmatch(digest):
        raise error(400, "DIGEST_INVALID", f"digest {digest!r} is not sha256: and 64 hex digits")
    data = bytes(upload.data)
    if store.digest_of(data) != digest:
        raise error(400, "DIGEST_INVALID", f"the uploaded content's digest is not {digest}")
    store.store_blob(target.repository, data)
    return _created(f"/v2/{target.name}/blobs/{digest}", digest)


# --- the endpoints -------------------------------------------------------------------------------


def _start_upload(request: Request, target: Target) -> Response:
    """POST: mount (``?mount=&from=``) when the other repository holds the blob, push it whole
    (``?digest=``) or start a session (spec.md#pushing-blobs)."""
    mounted, source = request.args.get("mount"), request.args.get("from")
    if mounted and source and store.mount(target.repository, mounted, source):
        return _created(f"/v2/{target.name}/blobs/{mounted}", mounted)
    upload = store.start_upload(target.name)
    digest = request.args.get("digest")
    if digest is None:
        return _progress(target.name, upload)
    _append(request, upload)
    return _finish(target, upload, digest)


def _upload_status(_request: Request, target: Target) -> Response:
    return _progress(target.name, store.upload_of(target.name, target.value), 204)


def _upload_chunk(request: Request, target: Target) -> Response:
    upload = store.upload_of(target.name, target.value)
    _append(request, upload)
    return _progress(target.name, upload)


def _upload_close(request: Request, target: Target) -> Response:
    upload = store.upload_of(target.name, target.value)
    _append(request, upload)
    return _finish(target, upload, request.args.get("digest"))


def _upload_cancel(_request: Request, target: Target) -> Response:
    store.end_upload(store.upload_of(target.name, target.value))
    return _empty(204, {})


def _get_blob(request: Request, target: Target) -> Response:
    """GET/HEAD a blob, with ``Range`` (RFC 9110 section 14, as spec.md#pulling-blobs asks)."""
    data = store.blob(target.repository, target.value)
    if data is None:
        raise error(404, "BLOB_UNKNOWN", "blob unknown to registry", {"digest": target.value})
    response = Response(data, 200, content_type="application/octet-stream")
    response.headers["Docker-Content-Digest"] = target.value
    return response.make_conditional(request, accept_ranges=True, complete_length=len(data))


def _get_manifest(_request: Request, target: Target) -> Response:
    """GET/HEAD a manifest by tag or digest, with the media type it was pushed with."""
    image = store.find_image(target.repository, target.value)
    if image is None:
        raise error(404, "MANIFEST_UNKNOWN", "manifest unknown", {"reference": target.value})
    body = image.get_image_manifest().encode()
    media_type = image.image_manifest_media_type or json.loads(body).get("mediaType")
    response = Response(body, 200, content_type=media_type)
    response.headers["Docker-Content-Digest"] = image.get_image_digest()
    return response


def _put_manifest(request: Request, target: Target) -> Response:
    digest = store.put_manifest(
        target.backend, target.repository, target.value, request.get_data(), request.mimetype
    )
    return _created(f"/v2/{target.name}/manifests/{digest}", digest)


def _tags(request: Request, target: Target) -> Response:
    """The repository's tags in lexical order, from ``last`` on, at most ``n``
    (spec.md#listing-tags)."""
    tags = sorted({tag for image in target.repository.images for tag in image.image_tags})
    last, count = request.args.get("last"), request.args.get("n", type=int)
    tags = [tag for tag in tags if last is None or tag > last][:count]
    body = json.dumps({"name": target.name, "tags": tags})
    return Response(body, 200, content_type="application/json")


Handler = Callable[[Request, Target], Response]
# Each endpoint, and the ECR action it stands for (the push and pull permissions):
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push-iam.html
# https://docs.aws.amazon.com/AmazonECR/latest/userguide/security_iam_id-based-policy-examples.html
HANDLERS: dict[tuple[str, str], tuple[Handler, str]] = {
    ("uploads", "POST"): (_start_upload, "ecr:InitiateLayerUpload"),
    ("upload", "GET"): (_upload_status, "ecr:UploadLayerPart"),
    ("upload", "PATCH"): (_upload_chunk, "ecr:UploadLayerPart"),
    ("upload", "PUT"): (_upload_close, "ecr:CompleteLayerUpload"),
    ("upload", "DELETE"): (_upload_cancel, "ecr:UploadLayerPart"),
    ("blob", "GET"): (_get_blob, "ecr:GetDownloadUrlForLayer"),
    ("blob", "HEAD"): (_get_blob, "ecr:BatchCheckLayerAvailability"),
    ("manifest", "GET"): (_get_manifest, "ecr:BatchGetImage"),
    ("manifest", "HEAD"): (_get_manifest, "ecr:BatchGetImage"),
    ("manifest", "PUT"): (_put_manifest, "ecr:PutImage"),
    ("tags", "GET"): (_tags, "ecr:ListImages"),
}
"""Deleting blobs and manifests is left out: ECR deletes images through ``BatchDeleteImage``."""


def _dispatch(request: Request) -> Response:
    if request.path in ("/v2", "/v2/"):
        # spec.md#determining-support: 200 once authenticated.
        registry_auth.caller(request, "")
        return Response(b"{}", 200, content_type="application/json")
    matched = ROUTE.fullmatch(request.path)
    if matched is None:
        raise error(404, "UNSUPPORTED", f"no registry endpoint {request.path}")
    kind = next(
        kind for kind in ("upload", "blob", "manifest", "tags") if matched[kind] is not None
    )
    value = str(matched[kind])
    # POST .../blobs/uploads/ starts a session; the session's own URL ends in its id.
    kind = "uploads" if kind == "upload" and not value else kind
    found = store.find_repository(matched["name"])
    if found is None:
        # ECR's words for a repository it does not have (ECR creates none on push):
        # https://github.com/plexsystems/sinker/issues/55
        raise error(
            404,
            "NAME_UNKNOWN",
            f"The repository with name '{matched['name']}' does not exist in the registry with "
            f"id '{services.DEFAULT_ACCOUNT}'",
        )
    endpoint = HANDLERS.get((kind, request.method))
    if endpoint is None:
        raise error(405, "UNSUPPORTED", f"{request.method} is not supported on {request.path}")
    handler, action = endpoint
    session = registry_auth.caller(request, found[0].region_name)
    if session is not None:
        registry_auth.authorize(session, action, found[1].arn)
    return handler(request, Target(found[0], found[1], value))


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The registry API under ``/v2/`` (``app.Application`` routes it here)."""
    request = Request(environ)
    try:
        response = _dispatch(request)
    except RegistryError as failure:
        body = json.dumps({"errors": failure.errors})
        response = Response(body, failure.status, content_type="application/json")
        if failure.status == 401:
            # ECR's challenge: https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html
            realm = f"http://{services.registry_host()}/"
            response.headers["WWW-Authenticate"] = (
                f'Basic realm="{realm}",service="ecr.amazonaws.com"'
            )
    response.headers["Docker-Distribution-API-Version"] = "registry/2.0"
    return response(environ, start_response)


ROUTES = {"ecr/findings": store.seed_findings}
"""``/_tap/ecr/findings``: seed scan findings (``registry_store.seed_findings``)."""


def install() -> None:
    """Patch moto's ECR (``registry_store.install``)."""
    store.install()


def reset() -> None:
    """Forget the registry's blobs, uploads and seeded findings."""
    store.reset()
