"""Logging of the daemons: one event per line, key=value (or JSON), to stderr (journald adds the time)."""

from __future__ import annotations

import json
import logging
import sys

__all__ = ["configure_logging"]


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {"time": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                    "message": record.getMessage()}
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info).replace("\n", "\\n")
        return json.dumps(document)


def configure_logging(*, level: int = logging.INFO, fmt: str = "keyvalue") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
