"""Bearer tokens for the API's writes: the 0600 token file and the check of ``Authorization`` headers.

Every request that changes state (freeze, thaw) needs ``Authorization: Bearer <token>``; the token is
read from a file only its owner can read, so it never appears in a command line, an environment or a
log. A reconciler started without a token refuses every write — there is no unauthenticated mode.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from reconciler.api.errors import TokenFileError

__all__ = ["TokenCheck", "check_bearer", "generate_token_file", "read_token_file"]

_TOKEN_BYTES = 32


def read_token_file(path: Path | str) -> str:
    """The token in ``path``: a regular file, readable by its owner only, holding one non-empty line.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> token = generate_token_file(folder / "api.token")
    >>> read_token_file(folder / "api.token") == token
    True
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise TokenFileError(path, "does not exist; create it with a random token and `chmod 600`") from None
    except OSError as exc:
        raise TokenFileError(path, f"cannot be read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise TokenFileError(path, "is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise TokenFileError(path, f"is accessible by group or others (mode {mode:04o}); "
                                   f"run `chmod 600 {path}` so only its owner can read it")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(path, f"cannot be read: {exc}") from exc
    token = text.strip()
    if not token:
        raise TokenFileError(path, "is empty; write a random token into it (e.g. `openssl rand -hex 32`)")
    if any(ch.isspace() for ch in token):
        raise TokenFileError(path, "holds more than one word; a token is one line without spaces")
    return token


def generate_token_file(path: Path | str) -> str:
    """Create ``path`` with a random token and mode 0600 if it does not exist; return the token either way.

    An existing file is not touched: it is read (and checked) like :func:`read_token_file` does.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return read_token_file(path)  # created concurrently: use that one
        except OSError as exc:
            raise TokenFileError(path, f"cannot be created: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            with contextlib.suppress(OSError):
                os.fchmod(handle.fileno(), 0o600)
            handle.write(token + "\n")
    return read_token_file(path)


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
