"""Running the API inside the daemon's event loop: uvicorn as a task, stopped on request, no signal handlers.

The daemon (``kraken serve``) owns the process: its signals, its loop, its shutdown order. So the
server here binds its own socket (the port is known at once, port 0 works, a busy port is a clear
error), runs ``uvicorn.Server`` as a task without installing signal handlers, and stops when
:meth:`ApiServer.stop` is called — ending open event streams first, so a shutdown never waits on
a client that follows events.

The API listens on loopback unless ``allow_remote=True``: reads are unauthenticated by design.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterator, Sequence

import uvicorn
from fastapi import FastAPI

from reconciler.api.app import event_streams
from reconciler.api.errors import ListenError

__all__ = ["ApiServer", "is_loopback", "serve_api"]

log = logging.getLogger("kraken.api")

_STOP_TIMEOUT = 5.0  # seconds for connections to finish once stopping; then they are cut


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1).

    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "", "10.0.0.1", "[::1]")]
    [True, True, True, False, False, False, True]
    """
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _EmbeddedServer(uvicorn.Server):
    """uvicorn's server without signal handlers, telling us when it has started."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the daemon owns signals

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class ApiServer:
    """A running API server; :meth:`stop` shuts it down (idempotent)."""

    def __init__(self, app: FastAPI, server: _EmbeddedServer, sock: socket.socket, task: asyncio.Task[None]) -> None:
        self.app = app
        self._server = server
        self._socket = sock
        self._task = task
        address = sock.getsockname()
        self.host: str = address[0]
        self.port: int = address[1]

    @property
    def url(self) -> str:
        """The base URL clients use, e.g. ``http://127.0.0.1:3141``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return not self._task.done()

    async def stop(self) -> None:
        """End event streams, stop accepting, let requests finish (bounded), and wait for the server task."""
        streams = event_streams(self.app)
        if streams is not None:
            streams.close()
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), _STOP_TIMEOUT + 2)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        except Exception:  # the server task failed on its own: already logged; stopping is done
            pass
        finally:
            self._socket.close()
        log.info("event=api_stopped url=%s", self.url)


async def serve_api(app: FastAPI, host: str, port: int, *, allow_remote: bool = False) -> ApiServer:
    """Start serving ``app`` on ``host:port`` (port 0: a free port) inside the running loop.

    Raises :class:`ListenError` for a non-loopback ``host`` unless ``allow_remote`` (reads need no token),
    and when the address cannot be bound.
    """
    address = f"{host}:{port}"
    if not allow_remote and not is_loopback(host):
        raise ListenError(address, "the API answers reads without a token, so it listens on loopback only "
                                   "(127.0.0.1 or ::1); put a TLS proxy in front of it for remote access, or "
                                   "allow remote listening explicitly")
    sock = _bind(host.strip("[]"), port, address)
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                            timeout_graceful_shutdown=int(_STOP_TIMEOUT), server_header=False)
    server = _EmbeddedServer(config)
    task = asyncio.create_task(_run(server, [sock]), name=f"api-{address}")
    started = asyncio.ensure_future(server.ready.wait())
    await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    if not server.ready.is_set():
        started.cancel()
        sock.close()
        failure = task.exception() if not task.cancelled() else None
        raise ListenError(address, f"the API server did not start: {failure or 'cancelled'}")
    api = ApiServer(app, server, sock, task)
    log.info("event=api_listening url=%s", api.url)
    return api


async def _run(server: _EmbeddedServer, sockets: Sequence[socket.socket]) -> None:
    try:
        await server.serve(sockets=list(sockets))
    except SystemExit as exc:  # uvicorn exits the process on start-up failures: never in our daemon
        raise RuntimeError(f"uvicorn gave up (exit {exc.code})") from None


def _bind(host: str, port: int, address: str) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(address, f"cannot resolve {host!r}: {exc.strerror}") from exc
    errors: list[str] = []
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(sockaddr)
            sock.listen(128)
            sock.setblocking(False)
            return sock
        except OSError as exc:
            sock.close()
            errors.append(exc.strerror or str(exc))
    reason = "; ".join(dict.fromkeys(errors)) or "no usable address"
    hint = " (is another `kraken serve` running? choose another port with --listen)" if any(
        "in use" in e for e in errors) else ""
    raise ListenError(address, f"{reason}{hint}")
