"""Who calls the registry, and whether ECR would let them.

ECR's registry takes HTTP basic credentials: the user ``AWS`` and the password
``GetAuthorizationToken`` gave. The emulator's token names the access key it was issued to, so
a ``docker push`` by a build acts as the build's role session; each registry request is then
authorized as the ECR action it stands for, on the repository. Tokens issued to other keys (the
emulator's own) are not checked. A request without credentials is challenged, as ECR challenges it.
https://docs.aws.amazon.com/AmazonECR/latest/userguide/registry_auth.html
"""

from __future__ import annotations

import base64
import binascii

from werkzeug.wrappers import Request

from tap_cicd.local.services import iam
from tap_cicd.local.services.registry_store import TOKEN_MARK, RegistryError, error


def challenge() -> RegistryError:
    """The 401 a request without valid credentials gets (spec.md#error-codes)."""
    return error(401, "UNAUTHORIZED", "authentication required")


def caller(request: Request, region: str) -> iam.Session | None:
    """The session a request's token was issued to; ``None`` for any other keys (not checked,
    as ``gate`` does not check them); ``challenge()`` raised when there are no credentials or
    they are not a token."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    try:
        user, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        user, secret = "", ""
    if scheme.lower() != "basic" or user != "AWS" or TOKEN_MARK not in secret:
        raise challenge()
    access_key = secret.split(TOKEN_MARK, 1)[1].removeprefix("-")
    return iam.session_of(access_key, region) if access_key else None


def authorize(session: iam.Session, action: str, repository_arn: str) -> None:
    """ECR's decision on a request that stands for ``action`` (the repository's policy
    included): a 403 ``DENIED`` with AWS's text naming the principal, action, repository and
    cause, if it refuses."""
    try:
        iam.authorize(session, action, repository_arn)
    except iam.Denied as denied:
        raise error(403, "DENIED", str(denied)) from denied
