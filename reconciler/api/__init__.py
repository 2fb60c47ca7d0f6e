"""The reconciler's HTTP API (DESIGN §5): the FastAPI app, its in-loop server, and the CLI's client.

Modules: :mod:`~reconciler.api.app` (routes), :mod:`~reconciler.api.server` (uvicorn inside the daemon's
loop), :mod:`~reconciler.api.client` (typed httpx client), :mod:`~reconciler.api.auth` (0600 token files,
bearer check), :mod:`~reconciler.api.events` (journal replay + live SSE), :mod:`~reconciler.api.sse`
(the wire format), :mod:`~reconciler.api.access` (access logs), :mod:`~reconciler.api.docs` (error and
health documents), :mod:`~reconciler.api.errors` (exceptions).

Names are imported on first use, so ``kraken status`` (client only) does not pay for FastAPI and uvicorn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.api.app import create_app
    from reconciler.api.auth import generate_token_file, read_token_file
    from reconciler.api.client import ApiClient
    from reconciler.api.errors import ApiError, ListenError, TokenFileError
    from reconciler.api.server import ApiServer, serve_api

__all__ = [
    "ApiClient",
    "ApiError",
    "ApiServer",
    "ListenError",
    "TokenFileError",
    "create_app",
    "generate_token_file",
    "read_token_file",
    "serve_api",
]

_HOMES = {
    "ApiClient": "client",
    "ApiError": "errors",
    "ApiServer": "server",
    "ListenError": "errors",
    "TokenFileError": "errors",
    "create_app": "app",
    "generate_token_file": "auth",
    "read_token_file": "auth",
    "serve_api": "server",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
