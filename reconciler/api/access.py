"""Access logs: one line per request, key=value, written when the response ends.

Only the method, path, query, status, size, duration and peer are logged — never headers, so a bearer
token cannot leak into a log. Streams (SSE) are logged when they close, with their whole duration.
Uvicorn's own access log is switched off by :mod:`reconciler.api.server` so each request is logged once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLogMiddleware"]

_QUERY_LIMIT = 200


class AccessLogMiddleware:
    """ASGI middleware writing one ``kraken.api.access`` log line per HTTP request."""

    def __init__(self, app: ASGIApp, *, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.log = logger or logging.getLogger("kraken.api.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        seen: dict[str, Any] = {"status": 0, "bytes": 0}

        async def send_and_count(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        except BaseException:
            seen["status"] = seen["status"] or 500
            raise
        finally:
            client = scope.get("client")
            peer = f"{client[0]}:{client[1]}" if client else "-"
            query = scope.get("query_string", b"").decode("latin-1")[:_QUERY_LIMIT]
            self.log.info("method=%s path=%s%s status=%s bytes=%d ms=%.1f peer=%s", scope.get("method", "-"),
                          _clean(scope.get("path", "")), f" query={_clean(query)}" if query else "",
                          seen["status"], seen["bytes"], (time.monotonic() - started) * 1000, peer)


def _clean(text: str) -> str:
    """No spaces, quotes or line breaks: a request cannot forge extra fields or lines in the log."""
    return "".join(ch if ch.isprintable() and ch not in ' "' else "%" + format(ord(ch) & 0xFF, "02X")
                   for ch in text)
