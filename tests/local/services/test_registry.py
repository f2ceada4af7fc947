"""The emulator's container registry: images pushed and pulled through the registry API (the
HTTP calls ``docker push``/``pull`` make), seen by ECR's API, scanned, with seeded findings."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError
from moto.ecr.models import ECRBackend

from tap_cicd.local import services
from tap_cicd.local.services import iam, registry

from .conftest import post, service_role

REGION = "us-east-1"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
UNKNOWN = "sha256:" + "0" * 64


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def codes(self) -> list[str]:
        return [e["code"] for e in self.json()["errors"]]


def call(
    endpoint: str,
    method: str,
    path: str,
    body: bytes | Iterator[bytes] = b"",
    headers: dict[str, str] | None = None,
    *,
    token: str | None = None,
) -> Reply:
    """One HTTP request to the in-process emulator (an iterator body is sent chunked), with
    ``docker login``'s credentials: ``token`` (``GetAuthorizationToken``'s, by default the
    emulator's own keys'; empty: none)."""
    connection = http.client.HTTPConnection(urlsplit(endpoint).netloc, timeout=30)
    token = authorization_token() if token is None else token
    sent = {"Authorization": f"Basic {token}"} if token else {}
    try:
        chunked = not isinstance(body, bytes)
        connection.request(
            method, path, body=body, headers=sent | (headers or {}), encode_chunked=chunked
        )
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def authorization_token(ecr_client: Any = None) -> str:
    """``GetAuthorizationToken``'s token (what ``docker login`` sends as basic credentials)."""
    found = (ecr_client or ecr()).get_authorization_token()
    return str(found["authorizationData"][0]["authorizationToken"])


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def ecr() -> Any:
    return services.client("ecr", REGION)


def repository(name: str, **settings: Any) -> str:
    ecr().create_repository(repositoryName=name, **settings)
    return name


def push_blob(endpoint: str, name: str, data: bytes) -> str:
    """POST then PUT (spec.md#post-then-put)."""
    started = call(endpoint, "POST", f"/v2/{name}/blobs/uploads/")
    assert started.status == 202
    location = started.headers["Location"]
    closed = call(endpoint, "PUT", f"{location}?digest={digest(data)}", data)
    assert closed.status == 201, closed.body
    return digest(data)


def manifest_of(config: bytes, layers: list[bytes], media_type: str = OCI_MANIFEST) -> bytes:
    layer_type = "application/vnd.oci.image.layer.v1.tar"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": layer_type, "digest": digest(layer), "size": len(layer)}
                for layer in layers
            ],
        },
        indent=3,  # the registry must keep these exact bytes
    ).encode()


def push_image(
    endpoint: str, name: str, reference: str, content: bytes = b"layer"
) -> tuple[str, bytes]:
    """A config blob, one layer blob and a manifest; the manifest's digest and bytes."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "content": str(content)}).encode()
    push_blob(endpoint, name, config)
    push_blob(endpoint, name, content)
    manifest = manifest_of(config, [content])
    put = call(
        endpoint,
        "PUT",
        f"/v2/{name}/manifests/{reference}",
        manifest,
        {"Content-Type": OCI_MANIFEST},
    )
    assert put.status == 201, put.body
    assert put.headers["Docker-Content-Digest"] == digest(manifest)
    assert put.headers["Location"] == f"/v2/{name}/manifests/{digest(manifest)}"
    return digest(manifest), manifest


def findings_of(name: str, image_id: dict[str, str]) -> dict[str, Any]:
    answer: dict[str, Any] = ecr().describe_image_scan_findings(
        repositoryName=name, imageId=image_id
    )
    return answer


def refused(endpoint: str, body: dict[str, Any]) -> str:
    """The 400 message of a refused control call."""
    with pytest.raises(urllib.error.HTTPError) as raised:
        post(endpoint, "/_tap/ecr/findings", body)
    assert raised.value.code == 400
    message: str = json.loads(raised.value.read())["message"]
    return message


# --- the API -------------------------------------------------------------------------------------


def test_the_registry_answers_a_token_and_challenges_anything_else(live: str) -> None:
    reply = call(live, "GET", "/v2/")
    assert (reply.status, reply.json()) == (200, {})
    assert reply.headers["Docker-Distribution-API-Version"] == "registry/2.0"
    host = urlsplit(live).netloc
    for admin in (b"AWS:1-auth-token-AKIAOTHER", b"AWS:1-auth-token"):  # not a session's
        assert call(live, "GET", "/v2/", token=base64.b64encode(admin).decode()).status == 200
    for token in ("", "QVdTOng=", "not base64!"):
        refused = call(live, "GET", "/v2/", token=token)
        assert (refused.status, refused.codes()) == (401, ["UNAUTHORIZED"])
        assert refused.headers["WWW-Authenticate"] == (
            f'Basic realm="http://{host}/",service="ecr.amazonaws.com"'
        )
    repository("app")
    assert call(live, "GET", "/v2/app/tags/list", token="").status == 401


def test_a_role_sessions_registry_calls_are_authorized_as_ecr_actions(live: str) -> None:
    name = repository("app")
    arn = ecr().describe_repositories()["repositories"][0]["repositoryArn"]
    pull_only = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": arn},
        ],
    }
    role = service_role(live, "builder", "codebuild.amazonaws.com", pull_only)
    session = iam.assume("codebuild.amazonaws.com", role, REGION, "build-1")
    token = authorization_token(session.client("ecr"))
    assert base64.b64decode(token).decode().endswith(session.credentials.access_key)
    assert call(live, "GET", "/v2/", token=token).status == 200
    assert call(live, "GET", f"/v2/{name}/manifests/v1", token=token).status == 404
    refused = call(live, "POST", f"/v2/{name}/blobs/uploads/", token=token)
    assert (refused.status, refused.codes()) == (403, ["DENIED"])
    assert refused.json()["errors"][0]["message"] == (
        f"User: {session.arn} is not authorized to perform: ecr:InitiateLayerUpload on "
        f"resource: {arn} because no statement of the identity policy allows it"
    )


def test_a_pushed_image_is_the_ecr_image_and_pulls_back(live: str) -> None:
    name = repository("app", imageScanningConfiguration={"scanOnPush": True})
    image_digest, manifest = push_image(live, name, "v1")
    config = json.loads(manifest)["config"]["digest"]

    [detail] = ecr().describe_images(repositoryName=name)["imageDetails"]
    assert (detail["imageDigest"], detail["imageTags"]) == (image_digest, ["v1"])
    assert detail["imageManifestMediaType"] == OCI_MANIFEST
    [image] = ecr().batch_get_image(repositoryName=name, imageIds=[{"imageTag": "v1"}])["images"]
    assert image["imageManifest"].encode() == manifest
    layers = ecr().batch_check_layer_availability(repositoryName=name, layerDigests=[config])
    assert layers["layers"][0]["layerAvailability"] == "AVAILABLE"

    for reference in ("v1", image_digest):
        pulled = call(live, "GET", f"/v2/{name}/manifests/{reference}")
        assert (pulled.status, pulled.body) == (200, manifest)
        assert pulled.headers["Content-Type"] == OCI_MANIFEST
        assert pulled.headers["Docker-Content-Digest"] == image_digest
    head = call(live, "HEAD", f"/v2/{name}/manifests/v1")
    assert (head.status, head.body, head.headers["Content-Length"]) == (
        200,
        b"",
        str(len(manifest)),
    )

    layer = call(live, "GET", f"/v2/{name}/blobs/{digest(b'layer')}")
    assert (layer.status, layer.body) == (200, b"layer")
    assert layer.headers["Docker-Content-Digest"] == digest(b"layer")
    head = call(live, "HEAD", f"/v2/{name}/blobs/{digest(b'layer')}")
    assert (head.status, head.headers["Content-Length"]) == (200, "5")
    part = call(live, "GET", f"/v2/{name}/blobs/{digest(b'layer')}", headers={"Range": "bytes=1-3"})
    assert (part.status, part.body, part.headers["Content-Range"]) == (206, b"aye", "bytes 1-3/5")

    tags = call(live, "GET", f"/v2/{name}/tags/list")
    assert (tags.status, tags.json()) == (200, {"name": name, "tags": ["v1"]})


def test_repository_uris_and_the_login_endpoint_point_at_the_registry(live: str) -> None:
    host = urlsplit(live).netloc
    created = ecr().create_repository(repositoryName="team/app")["repository"]
    assert created["repositoryUri"] == f"{host}/team/app"
    [described] = ecr().describe_repositories()["repositories"]
    assert described["repositoryUri"] == f"{host}/team/app"
    [token] = ecr().get_authorization_token()["authorizationData"]
    assert token["proxyEndpoint"] == f"http://{host}"
    push_image(live, "team/app", "v1")  # a name with a slash routes too


def test_chunked_upload(live: str) -> None:
    name = repository("app")
    started = call(live, "POST", "/v2/app/blobs/uploads/", headers={"Content-Length": "0"})
    assert (started.status, started.headers["Range"]) == (202, "0-0")
    uuid = started.headers["Docker-Upload-UUID"]
    location = started.headers["Location"]
    assert location == f"/v2/{name}/blobs/uploads/{uuid}"

    first = call(live, "PATCH", location, b"abcd", {"Content-Range": "0-3"})
    assert (first.status, first.headers["Range"], first.headers["Location"]) == (
        202,
        "0-3",
        location,
    )
    # docker streams a chunk without Content-Range or Content-Length (chunked transfer
    # encoding): it is appended.
    second = call(live, "PATCH", location, iter([b"e", b"f"]))
    assert (second.status, second.headers["Range"]) == (202, "0-5")
    status = call(live, "GET", location)
    assert (status.status, status.headers["Range"], status.headers["Docker-Upload-UUID"]) == (
        204,
        "0-5",
        uuid,
    )
    out_of_order = call(live, "PATCH", location, b"zz", {"Content-Range": "2-3"})
    assert (out_of_order.status, out_of_order.codes()) == (416, ["BLOB_UPLOAD_INVALID"])
    malformed = call(live, "PATCH", location, b"zz", {"Content-Range": "bytes=6-7"})
    assert (malformed.status, malformed.codes()) == (400, ["BLOB_UPLOAD_INVALID"])

    # The last chunk in the closing PUT, with the whole blob's digest.
    closed = call(live, "PUT", f"{location}?digest={digest(b'abcdefgh')}", b"gh")
    assert (closed.status, closed.headers["Location"]) == (
        201,
        f"/v2/{name}/blobs/{digest(b'abcdefgh')}",
    )
    assert call(live, "GET", f"/v2/{name}/blobs/{digest(b'abcdefgh')}").body == b"abcdefgh"
    assert call(live, "GET", location).codes() == ["BLOB_UPLOAD_UNKNOWN"]  # closed


def test_single_post_upload_and_cancel(live: str) -> None:
    name = repository("app")
    pushed = call(live, "POST", f"/v2/{name}/blobs/uploads/?digest={digest(b'one')}", b"one")
    assert (pushed.status, pushed.headers["Docker-Content-Digest"]) == (201, digest(b"one"))
    location = call(live, "POST", f"/v2/{name}/blobs/uploads/").headers["Location"]
    assert call(live, "DELETE", location).status == 204
    gone = call(live, "PATCH", location, b"x")
    assert (gone.status, gone.codes()) == (404, ["BLOB_UPLOAD_UNKNOWN"])


def test_bad_digests_are_refused(live: str) -> None:
    name = repository("app")
    wrong = call(live, "POST", f"/v2/{name}/blobs/uploads/?digest={digest(b'other')}", b"data")
    assert (wrong.status, wrong.codes()) == (400, ["DIGEST_INVALID"])
    md5 = call(live, "POST", f"/v2/{name}/blobs/uploads/?digest=md5:abc", b"data")
    assert (md5.status, md5.codes()) == (400, ["DIGEST_INVALID"])
    location = call(live, "POST", f"/v2/{name}/blobs/uploads/").headers["Location"]
    missing = call(live, "PUT", location, b"data")
    assert (missing.status, missing.codes()) == (400, ["DIGEST_INVALID"])
    assert call(live, "HEAD", f"/v2/{name}/blobs/{digest(b'data')}").status == 404

    config = push_blob(live, name, b"{}")
    manifest = manifest_of(b"{}", [])
    assert json.loads(manifest)["config"]["digest"] == config
    by_other_digest = call(
        live, "PUT", f"/v2/{name}/manifests/{UNKNOWN}", manifest, {"Content-Type": OCI_MANIFEST}
    )
    assert (by_other_digest.status, by_other_digest.codes()) == (400, ["DIGEST_INVALID"])
    by_digest = call(
        live,
        "PUT",
        f"/v2/{name}/manifests/{digest(manifest)}",
        manifest,
        {"Content-Type": OCI_MANIFEST},
    )
    assert by_digest.status == 201
    again = call(
        live,
        "PUT",
        f"/v2/{name}/manifests/{digest(manifest)}",
        manifest,
        {"Content-Type": OCI_MANIFEST},
    )
    assert again.status == 201  # pushed by digest twice: one untagged image
    [detail] = ecr().describe_images(repositoryName=name)["imageDetails"]
    assert (detail["imageDigest"], detail.get("imageTags")) == (digest(manifest), None)


def test_unknown_names_and_content(live: str) -> None:
    absent = call(live, "GET", "/v2/absent/tags/list")
    assert (absent.status, absent.codes()) == (404, ["NAME_UNKNOWN"])
    assert absent.json()["errors"][0]["message"] == (
        "The repository with name 'absent' does not exist in the registry with id "
        f"'{services.DEFAULT_ACCOUNT}'"
    )
    assert call(live, "HEAD", "/v2/absent/manifests/v1").status == 404

    name = repository("app")
    other = repository("other")
    blob = call(live, "GET", f"/v2/{name}/blobs/{UNKNOWN}")
    assert (blob.status, blob.json()["errors"][0]["detail"]) == (404, {"digest": UNKNOWN})
    assert blob.codes() == ["BLOB_UNKNOWN"]
    manifest = call(live, "GET", f"/v2/{name}/manifests/v9")
    assert (manifest.status, manifest.codes()) == (404, ["MANIFEST_UNKNOWN"])
    location = call(live, "POST", f"/v2/{other}/blobs/uploads/").headers["Location"]
    elsewhere = location.replace(f"/v2/{other}/", f"/v2/{name}/")
    assert call(live, "PATCH", elsewhere, b"x").codes() == ["BLOB_UPLOAD_UNKNOWN"]
    catalog = call(live, "GET", "/v2/_catalog")
    assert (catalog.status, catalog.codes()) == (404, ["UNSUPPORTED"])
    delete = call(live, "DELETE", f"/v2/{name}/manifests/v1")
    assert (delete.status, delete.codes()) == (405, ["UNSUPPORTED"])


def test_manifests_the_registry_refuses(live: str) -> None:
    name = repository("app")
    config = push_blob(live, name, b"{}")

    def put(body: bytes, content_type: str = OCI_MANIFEST, tag: str = "v1") -> Reply:
        return call(
            live, "PUT", f"/v2/{name}/manifests/{tag}", body, {"Content-Type": content_type}
        )

    unknown = put(manifest_of(b"{}", [b"one", b"two"]))
    assert (unknown.status, unknown.codes()) == (400, ["MANIFEST_BLOB_UNKNOWN"] * 2)
    assert [e["detail"] for e in unknown.json()["errors"]] == [
        {"digest": digest(b"one")},
        {"digest": digest(b"two")},
    ]
    assert put(b"not json").codes() == ["MANIFEST_INVALID"]
    assert put(b"\xff").codes() == ["MANIFEST_INVALID"]
    assert put(b"[]").codes() == ["MANIFEST_INVALID"]
    schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    assert put(manifest_of(b"{}", [], schema1), schema1).codes() == ["MANIFEST_INVALID"]
    assert put(manifest_of(b"{}", []), DOCKER_MANIFEST).codes() == ["MANIFEST_INVALID"]
    no_digest = json.dumps({"mediaType": OCI_MANIFEST, "config": {"size": 2}}).encode()
    assert put(no_digest).codes() == ["MANIFEST_INVALID"]
    assert put(manifest_of(b"{}", []), tag="-bad").codes() == ["TAG_INVALID"]
    # A manifest without mediaType takes the request's Content-Type.
    untyped = json.dumps({"schemaVersion": 2, "config": {"digest": config}, "layers": []}).encode()
    assert put(untyped).status == 201
    assert call(live, "GET", f"/v2/{name}/manifests/v1").headers["Content-Type"] == OCI_MANIFEST
    assert ecr().describe_images(repositoryName=name)["imageDetails"][0]["imageTags"] == ["v1"]


def test_an_immutable_tag_is_refused_as_ecr_refuses_it(live: str) -> None:
    name = repository("app", imageTagMutability="IMMUTABLE")
    _, manifest = push_image(live, name, "v1")
    for body in (manifest, manifest_of(b"{}", [])):
        push_blob(live, name, b"{}")
        again = call(live, "PUT", f"/v2/{name}/manifests/v1", body, {"Content-Type": OCI_MANIFEST})
        assert (again.status, again.codes()) == (400, ["TAG_INVALID"])
        assert again.json()["errors"][0]["message"] == (
            "The image tag 'v1' already exists in the 'app' repository and cannot be "
            "overwritten because the repository is immutable."
        )
    push_image(live, name, "v2", b"second")
    assert call(live, "GET", f"/v2/{name}/tags/list").json()["tags"] == ["v1", "v2"]


def test_a_mutable_tag_moves_and_leaves_the_old_image_untagged(live: str) -> None:
    name = repository("app")
    first, manifest = push_image(live, name, "latest", b"first")
    again = call(
        live, "PUT", f"/v2/{name}/manifests/latest", manifest, {"Content-Type": OCI_MANIFEST}
    )
    assert again.status == 201  # the same push twice: nothing changes
    second, _ = push_image(live, name, "latest", b"second")
    details = {
        d["imageDigest"]: d for d in ecr().describe_images(repositoryName=name)["imageDetails"]
    }
    assert details[second]["imageTags"] == ["latest"]
    assert "imageTags" not in details[first]  # ECR keeps the image, untagged
    push_image(live, name, "stable", b"first")  # an existing image gets another tag
    details = {
        d["imageDigest"]: d for d in ecr().describe_images(repositoryName=name)["imageDetails"]
    }
    assert (set(details), details[first]["imageTags"]) == ({first, second}, ["stable"])
    tags = call(live, "GET", f"/v2/{name}/tags/list?n=1&last=latest")
    assert tags.json()["tags"] == ["stable"]
    assert call(live, "GET", f"/v2/{name}/tags/list?n=1").json()["tags"] == ["latest"]


@pytest.mark.parametrize("scan_on_push", [True, False])
def test_docker_manifest_lists_and_oci_indexes(live: str, scan_on_push: bool) -> None:
    name = repository("app", imageScanningConfiguration={"scanOnPush": scan_on_push})
    config = push_blob(live, name, b"{}")
    child = manifest_of(b"{}", [], DOCKER_MANIFEST)
    child_digest = digest(child)
    by_digest = call(
        live,
        "PUT",
        f"/v2/{name}/manifests/{child_digest}",
        child,
        {"Content-Type": DOCKER_MANIFEST},
    )
    assert (by_digest.status, json.loads(child)["config"]["digest"]) == (201, config)
    for index_type in (OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"):
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": index_type,
                "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": child_digest, "size": 9}],
            }
        ).encode()
        put = call(live, "PUT", f"/v2/{name}/manifests/multi", index, {"Content-Type": index_type})
        assert put.status == 201
        pulled = call(live, "GET", f"/v2/{name}/manifests/multi")
        assert (pulled.body, pulled.headers["Content-Type"]) == (index, index_type)
    # Scan on push scans images, not the indexes that name them.
    if scan_on_push:
        assert findings_of(name, {"imageDigest": child_digest})["imageScanStatus"]["status"] == (
            "COMPLETE"
        )
    with pytest.raises(ClientError, match="ScanNotFoundException"):
        findings_of(name, {"imageTag": "multi"})
    dangling = json.dumps({"mediaType": OCI_INDEX, "manifests": [{"digest": UNKNOWN}]}).encode()
    refused_index = call(
        live, "PUT", f"/v2/{name}/manifests/other", dangling, {"Content-Type": OCI_INDEX}
    )
    assert (refused_index.status, refused_index.codes()) == (400, ["MANIFEST_BLOB_UNKNOWN"])


def test_cross_repository_mount(live: str) -> None:
    source, target = repository("base"), repository("app")
    blob = push_blob(live, source, b"shared layer")
    mounted = call(live, "POST", f"/v2/{target}/blobs/uploads/?mount={blob}&from={source}")
    assert (mounted.status, mounted.headers["Location"]) == (201, f"/v2/{target}/blobs/{blob}")
    assert mounted.headers["Docker-Content-Digest"] == blob
    assert call(live, "GET", f"/v2/{target}/blobs/{blob}").body == b"shared layer"
    # Not there to mount: an upload session starts instead (spec.md#mounting-a-blob-...).
    for origin in (source, "absent"):
        started = call(live, "POST", f"/v2/{target}/blobs/uploads/?mount={UNKNOWN}&from={origin}")
        assert started.status == 202
        assert started.headers["Location"].startswith(f"/v2/{target}/blobs/uploads/")


def test_reset_forgets_the_blobs(live: str) -> None:
    name = repository("app")
    blob = push_blob(live, name, b"kept until reset")
    post(live, "/_tap/reset")
    assert call(live, "HEAD", f"/v2/{name}/blobs/{blob}").status == 404


# --- scanning ------------------------------------------------------------------------------------


def test_scans_are_clean_by_default(live: str) -> None:
    name = repository("app", imageScanningConfiguration={"scanOnPush": True})
    image_digest, _ = push_image(live, name, "v1")
    answer = findings_of(name, {"imageDigest": image_digest})
    assert answer["imageScanStatus"]["status"] == "COMPLETE"
    assert answer["imageId"]["imageDigest"] == image_digest
    assert answer["imageScanFindings"]["findings"] == []
    assert answer["imageScanFindings"]["findingSeverityCounts"] == {}


def test_no_scan_without_scan_on_push_unless_a_registry_rule_asks(live: str) -> None:
    name = repository("manual")
    image_digest, _ = push_image(live, name, "v1")
    with pytest.raises(ClientError, match="ScanNotFoundException"):
        findings_of(name, {"imageDigest": image_digest})
    ecr().put_registry_scanning_configuration(
        scanType="BASIC",
        rules=[
            {
                "scanFrequency": "SCAN_ON_PUSH",
                "repositoryFilters": [{"filter": "ruled", "filterType": "WILDCARD"}],
            }
        ],
    )
    ruled = repository("ruled")
    image_digest, _ = push_image(live, ruled, "v1")
    assert findings_of(ruled, {"imageDigest": image_digest})["imageScanStatus"]["status"] == (
        "COMPLETE"
    )


def test_findings_seeded_for_a_digest_and_cleared(live: str) -> None:
    name = repository("app", imageScanningConfiguration={"scanOnPush": True})
    image_digest, _ = push_image(live, name, "v1")
    seeded = [
        {"name": "CVE-2024-0001", "severity": "HIGH", "description": "bad"},
        {"name": "CVE-2024-0002", "severity": "HIGH"},
        {"name": "CVE-2024-0003", "severity": "LOW"},
    ]
    answer = post(
        live,
        "/_tap/ecr/findings",
        {"repositoryName": name, "imageDigest": image_digest, "findings": seeded},
    )
    assert answer == {"repositoryName": name, "imageDigest": image_digest, "findings": 3}
    scan = findings_of(name, {"imageTag": "v1"})["imageScanFindings"]
    assert scan["findingSeverityCounts"] == {"HIGH": 2, "LOW": 1}
    assert scan["findings"][0] == {
        "name": "CVE-2024-0001",
        "severity": "HIGH",
        "description": "bad",
        "attributes": [],
    }
    assert "description" not in scan["findings"][1]

    post(
        live,
        "/_tap/ecr/findings",
        {"repositoryName": name, "imageDigest": image_digest, "findings": []},
    )
    cleared = findings_of(name, {"imageDigest": image_digest})["imageScanFindings"]
    assert (cleared["findings"], cleared["findingSeverityCounts"]) == ([], {})


def test_findings_seeded_for_a_repository_reach_images_scanned_afterwards(live: str) -> None:
    name = repository("app", imageScanningConfiguration={"scanOnPush": True})
    before, _ = push_image(live, name, "v1", b"before")
    critical = [{"name": "CVE-2024-9999", "severity": "CRITICAL"}]
    post(live, "/_tap/ecr/findings", {"repositoryName": name, "findings": critical})
    after, _ = push_image(live, name, "v2", b"after")
    assert findings_of(name, {"imageDigest": after})["imageScanFindings"][
        "findingSeverityCounts"
    ] == {"CRITICAL": 1}
    assert findings_of(name, {"imageDigest": before})["imageScanFindings"]["findings"] == []

    post(live, "/_tap/ecr/findings", {"repositoryName": name, "findings": []})
    later, _ = push_image(live, name, "v3", b"later")
    assert findings_of(name, {"imageDigest": later})["imageScanFindings"]["findings"] == []
    # A manual scan (StartImageScan) of a pushed image records the seeds of its time too.
    manual = repository("manual")
    unscanned, _ = push_image(live, manual, "v1")
    post(live, "/_tap/ecr/findings", {"repositoryName": manual, "findings": critical})
    ecr().start_image_scan(repositoryName=manual, imageId={"imageDigest": unscanned})
    assert (
        findings_of(manual, {"imageDigest": unscanned})["imageScanFindings"]["findings"][0][
            "severity"
        ]
        == "CRITICAL"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"findings": []}, "repositoryName"),
        ({"repositoryName": "absent", "findings": []}, "repositoryName"),
        ({"repositoryName": "app", "findings": "HIGH"}, "findings must be a list"),
        ({"repositoryName": "app", "findings": ["x"]}, "findings[0] must be an object"),
        ({"repositoryName": "app", "findings": [{"severity": "HIGH"}]}, "findings[0].name"),
        (
            {"repositoryName": "app", "findings": [{"name": "a", "severity": "BAD"}]},
            "findings[0].severity",
        ),
        (
            {
                "repositoryName": "app",
                "findings": [{"name": "a", "severity": "LOW", "description": 1}],
            },
            "findings[0].description",
        ),
        ({"repositoryName": "app", "findings": [], "imageDigest": "latest"}, "imageDigest"),
    ],
)
def test_bad_findings_bodies_name_the_field(live: str, body: dict[str, Any], field: str) -> None:
    repository("app")
    assert field in refused(live, body)


def test_install_is_idempotent(live: str) -> None:
    del live  # installed once by the fixture
    patched = ECRBackend.describe_image_scan_findings
    registry.install()
    assert ECRBackend.describe_image_scan_findings is patched
