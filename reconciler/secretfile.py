"""Secret files: a 0600 regular file holding one word (an API token, the heartbeat secret, a node's key).

A secret is read from a file only its owner can read, so it never appears in a command line, an
environment or a log; a file others could read is refused with the ``chmod`` that fixes it, never used.
Shared by the API (bearer tokens) and the heartbeats (secret and per-node keys).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from reconciler.errors import UserError

__all__ = ["SecretFileError", "generate_secret_file", "read_secret_file"]

_SECRET_BYTES = 32


class SecretFileError(UserError):
    """A secret file cannot be used; ``path`` names it, ``kind`` says which secret (token, key …)."""

    def __init__(self, path: Path, message: str, *, kind: str = "secret") -> None:
        super().__init__(f"{kind} file {path}: {message}")
        self.path = path
        self.kind = kind


def read_secret_file(path: Path | str, *, kind: str = "secret", error: type[SecretFileError] = SecretFileError) -> str:
    """The secret in ``path``: a regular file, readable by its owner only, holding one non-empty word.

    Problems raise ``error`` (a :class:`SecretFileError` subclass lets each caller name its own kind).

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> token = generate_secret_file(folder / "api.token")
    >>> read_secret_file(folder / "api.token") == token
    True
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(path, "does not exist; create it with a random value and `chmod 600`",
                              kind=kind) from None
    except OSError as exc:
        raise error(path, f"cannot be read: {exc.strerror or exc}", kind=kind) from exc
    if not stat.S_ISREG(info.st_mode):
        raise error(path, "is not a regular file", kind=kind)
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise error(path, f"is accessible by group or others (mode {mode:04o}); "
                                    f"run `chmod 600 {path}` so only its owner can read it", kind=kind)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(path, f"cannot be read: {exc}", kind=kind) from exc
    value = text.strip()
    if not value:
        raise error(path, "is empty; write a random value into it (e.g. `openssl rand -hex 32`)",
                              kind=kind)
    if any(ch.isspace() for ch in value):
        raise error(path, "holds more than one word; write one line without spaces", kind=kind)
    return value


def generate_secret_file(path: Path | str, *, kind: str = "secret",
                         error: type[SecretFileError] = SecretFileError) -> str:
    """Create ``path`` with a random value and mode 0600 if it does not exist; return the value either way.

    An existing file is not touched: it is read (and checked) like :func:`read_secret_file` does.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = secrets.token_urlsafe(_SECRET_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return read_secret_file(path, kind=kind, error=error)  # created concurrently: use that one
        except OSError as exc:
            raise error(path, f"cannot be created: {exc.strerror or exc}", kind=kind) from exc
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            with contextlib.suppress(OSError):
                os.fchmod(handle.fileno(), 0o600)
            handle.write(value + "\n")
    return read_secret_file(path, kind=kind, error=error)
