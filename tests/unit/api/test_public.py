"""The package's public surface is deliberate, and the client does not drag the server in."""

from __future__ import annotations

import subprocess
import sys

import reconciler.api as api


def test_exported_names() -> None:
    assert api.__all__ == ["ApiClient", "ApiError", "ApiServer", "ListenError", "TokenFileError", "create_app",
                           "generate_token_file", "read_token_file", "serve_api"]
    for name in api.__all__:
        assert getattr(api, name).__name__ == name


def test_the_client_imports_without_fastapi_or_uvicorn() -> None:
    code = ("import sys, reconciler.api\n"
            "from reconciler.api import ApiClient, ApiError\n"
            "heavy = [m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_layering() -> None:
    """reconciler.api may use engine, graph, model and errors, never the CLI or the simulator."""
    code = ("import sys, pkgutil, importlib, reconciler.api as p\n"
            "for m in pkgutil.iter_modules(p.__path__): importlib.import_module('reconciler.api.' + m.name)\n"
            "bad = [m for m in sys.modules if m.startswith(('reconciler.cli', 'reconciler.sim'))]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
