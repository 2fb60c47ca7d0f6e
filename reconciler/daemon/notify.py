"""systemd's readiness protocol (``Type=notify``), without a dependency: one datagram to ``$NOTIFY_SOCKET``.

The reconciler reports READY=1 only once the first valid desired state is in force, so a unit that
depends on it starts after the fleet is actually being reconciled; STATUS= lines show in ``systemctl status``.
"""

from __future__ import annotations

import os
import socket

__all__ = ["notify"]


def notify(message: str) -> bool:
    """Send ``message`` (e.g. ``READY=1\\nSTATUS=…``) to systemd; False when not run under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(address)
            sock.sendall(message.encode())
        except OSError:
            return False
    return True
