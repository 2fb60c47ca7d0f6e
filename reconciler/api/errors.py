"""Errors of the HTTP API layer: token files, listening addresses, and talking to a running reconciler.

All are :class:`~reconciler.errors.UserError` (exit code 2): each one is something an operator fixes
(a file mode, a flag, a daemon that is not running), and each message says how.

Hierarchy (under ``reconciler.errors.UserError``)::

    UserError
    └── ApiError                  a request to a running reconciler failed (client side)
    └── SecretFileError           (reconciler.secretfile, shared with the heartbeat keys)
        └── TokenFileError        a bearer-token file is missing, empty or readable by others
    └── ListenError               the API cannot listen where asked (non-loopback, port in use)
"""

from __future__ import annotations

from reconciler.errors import UserError
from reconciler.secretfile import SecretFileError

__all__ = ["ApiError", "ListenError", "TokenFileError"]


class ApiError(UserError):
    """A request to the reconciler's API failed: unreachable, refused, or answered with an error.

    ``status`` is the HTTP status when the reconciler answered (None when it could not be reached),
    ``url`` the request's address (never the token).
    """

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


class TokenFileError(SecretFileError):
    """The API's bearer-token file cannot be used; ``path`` names it."""


class ListenError(UserError):
    """The API cannot listen on ``address``: it is not loopback (and remote access was not allowed) or busy."""

    def __init__(self, address: str, message: str) -> None:
        super().__init__(f"cannot listen on {address}: {message}")
        self.address = address
