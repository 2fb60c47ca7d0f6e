"""Bearer tokens for the API's writes: the 0600 token file and the check of ``Authorization`` headers.

Every request that changes state (freeze, thaw) needs ``Authorization: Bearer <token>``; the token is
read from a 0600 file (:mod:`reconciler.secretfile`), so it never appears in a command line, an
environment or a log. A reconciler started without a token refuses every write — there is no unauthenticated mode.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path

from reconciler.api.errors import TokenFileError
from reconciler.secretfile import generate_secret_file, read_secret_file

__all__ = ["TokenCheck", "check_bearer", "generate_token_file", "read_token_file"]

def read_token_file(path: Path | str) -> str:
    """The API token in ``path`` (see :func:`~reconciler.secretfile.read_secret_file`)."""
    return read_secret_file(path, kind="token", error=TokenFileError)


def generate_token_file(path: Path | str) -> str:
    """Create the API token file if it does not exist; return its token either way."""
    return generate_secret_file(path, kind="token", error=TokenFileError)


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of checking a request's credentials: ``ok``, or an HTTP status with a message."""

    status: int
    message: str

    @property
    def ok(self) -> bool:
        return self.status == 200


def check_bearer(configured: str | None, authorization: str | None) -> TokenCheck:
    """Check an ``Authorization`` header against the configured token (constant-time comparison).

    >>> check_bearer("s3cret", "Bearer s3cret").ok
    True
    >>> check_bearer("s3cret", None).status, check_bearer("s3cret", "Bearer nope").status
    (401, 403)
    >>> check_bearer(None, "Bearer anything").status
    403
    """
    if configured is None:
        return TokenCheck(403, "writes are disabled: this reconciler has no API token; "
                               "start `kraken serve` with --token-file FILE (a 0600 file holding the token)")
    if not authorization:
        return TokenCheck(401, "this request changes state and needs `Authorization: Bearer <token>`")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return TokenCheck(401, "the Authorization header must be `Bearer <token>`")
    if not hmac.compare_digest(credentials.strip().encode(), configured.encode()):
        return TokenCheck(403, "the bearer token is wrong")
    return TokenCheck(200, "")
