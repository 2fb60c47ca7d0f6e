"""Per-node heartbeat keys, derived from the reconciler's secret so that keys never cross the network.

The reconciler holds one secret (a 0600 file). A node's key is HKDF-SHA256 of that secret with the node's
name as context: the reconciler recomputes any node's key on demand and stores none, and the agent install
role (or the boot file) puts one node's key on that node only. Knowing one node's key tells nothing about
another's or about the secret.
"""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from reconciler.secretfile import SecretFileError, read_secret_file

__all__ = ["KEY_BYTES", "derive_node_key", "read_key_file", "read_secret"]

KEY_BYTES = 32  # ChaCha20-Poly1305 and AES-256-GCM both take 256-bit keys
_MIN_SECRET_CHARS = 32  # `openssl rand -hex 32` gives 64; a secret guessable by brute force is refused
_SALT = b"kraken-ansible heartbeat key v1"
_HOST = re.compile(r"^[A-Za-z0-9_.:@-]+$")
_KEY_HEX = re.compile(rf"^[0-9a-f]{{{2 * KEY_BYTES}}}$")


def derive_node_key(secret: bytes, host: str) -> bytes:
    """The heartbeat key of ``host`` under ``secret``.

    >>> derive_node_key(b"s" * 32, "n1") == derive_node_key(b"s" * 32, "n1") != derive_node_key(b"s" * 32, "n2")
    True
    """
    if not _HOST.match(host):
        raise ValueError(f"{host!r} is not an inventory host name")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=_SALT, info=host.encode()).derive(secret)


def read_secret(path: Path | str) -> bytes:
    """The reconciler's heartbeat secret from its 0600 file; too short a secret is refused."""
    value = read_secret_file(path, kind="heartbeat secret")
    if len(value) < _MIN_SECRET_CHARS:
        raise SecretFileError(Path(path), f"holds {len(value)} characters, fewer than {_MIN_SECRET_CHARS}; "
                                          "write a long random value (e.g. `openssl rand -hex 32`)",
                              kind="heartbeat secret")
    return value.encode()


def read_key_file(path: Path | str) -> bytes:
    """A node's key from its 0600 file, as ``kraken key derive`` printed it (hex)."""
    value = read_secret_file(path, kind="heartbeat key").lower()
    if not _KEY_HEX.match(value):
        raise SecretFileError(Path(path), f"does not hold a key: expected {2 * KEY_BYTES} hex digits, "
                                          "as `kraken key derive HOST --secret-file F` prints",
                              kind="heartbeat key")
    return bytes.fromhex(value)
