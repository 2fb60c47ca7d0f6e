"""Where the API may listen: loopback only unless allowed, busy ports named; no process-wide side effects."""

from __future__ import annotations

import signal
import socket
from typing import Any

import pytest

from reconciler.api.errors import ListenError
from reconciler.api.server import is_loopback, serve_api


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.1", "kraken.example"])
def test_non_loopback_is_refused_without_binding(harness: Any, run: Any, host: str) -> None:
    async def scenario() -> None:
        with pytest.raises(ListenError) as caught:
            await serve_api(harness.app(), host, 0)
        assert "loopback" in str(caught.value) and f"{host}:0" in str(caught.value)

    run(scenario())


def test_busy_port_is_named(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(ListenError, match=f"127.0.0.1:{port}.*in use"):
                await serve_api(harness.app(), "127.0.0.1", port)

    run(scenario())


def test_serving_leaves_signal_handlers_alone(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        server = await serve_api(harness.app(), "127.0.0.1", 0)
        try:
            assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
            assert {sig: signal.getsignal(sig) for sig in before} == before
        finally:
            await server.stop()
        assert not server.running
        await server.stop()  # idempotent
        assert {sig: signal.getsignal(sig) for sig in before} == before

    run(scenario())


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("LOCALHOST")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
