"""``HOST:PORT`` of the daemon's listening sockets (``--listen``, ``--sync-listen``), checked once for both."""

from __future__ import annotations

from reconciler.errors import UserError

__all__ = ["split_listen"]


def split_listen(value: str, *, flag: str, example: str) -> tuple[str, int]:
    """``("127.0.0.1", 3141)`` from ``"127.0.0.1:3141"`` (IPv6 in brackets); a user error names ``flag``.

    >>> split_listen("[::1]:31415", flag="--sync-listen", example="0.0.0.0:31415")
    ('::1', 31415)
    """
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"{flag} {value!r}: expected HOST:PORT, e.g. {example}")
    return host.strip("[]"), int(port)
