"""Exceptions raised by the simulator (``reconciler.sim``).

The simulator is a test and demo fixture, so its errors stay local to it instead of joining the
reconciler's hierarchy (the package must not depend on the rest of ``reconciler``)::

    SimError                      base class; every error the simulator raises on purpose
    ├── SimConfigError            bad arguments (node count, non-loopback address, unknown node or fault)
    ├── BootFileError             a boot file that cannot be used; ``path`` and ``reason`` say why
    │   ├── BootFileMissing       no boot file for this MAC under the TFTP root
    │   └── BootFileBroken        the file exists but is not a usable kraken pxelinux config
    └── ControlError              the control endpoint refused a request or could not be reached

Every error carries the context needed to act on it (node name, file path, HTTP status) as attributes
as well as in its message.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "BootFileBroken",
    "BootFileError",
    "BootFileMissing",
    "ControlError",
    "SimConfigError",
    "SimError",
]


class SimError(Exception):
    """Base class of every error the simulator raises on purpose."""


class SimConfigError(SimError, ValueError):
    """Invalid simulator arguments: node count, address, unknown node or fault name."""


class BootFileError(SimError):
    """A boot file that cannot be used to boot a node."""

    def __init__(self, reason: str, *, path: Path | str | None = None) -> None:
        self.reason = reason
        self.path = None if path is None else Path(path)
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{reason}")


class BootFileMissing(BootFileError):
    """No boot file exists for the node's MAC address under the TFTP root."""


class BootFileBroken(BootFileError):
    """The boot file exists but is not a usable kraken pxelinux configuration."""


class ControlError(SimError):
    """The control endpoint refused a request (``status`` is the HTTP status, 0 if unreachable)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        self.status = status
        super().__init__(message)
