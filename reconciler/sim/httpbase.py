"""A TCP server driven by the simulator's socket loop, one short-lived thread per connection.

Both HTTP front ends of the simulator (each node's Redfish service and the control endpoint) need
the same thing: accept on a loopback listener that :class:`~reconciler.sim.loop.SocketLoop` watches,
serve each connection in a daemon thread, and on :meth:`LoopTCPServer.close` stop accepting and wait
for the connection threads so no socket outlives the server.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from typing import Any

__all__ = ["LoopTCPServer"]

log = logging.getLogger(__name__)


class LoopTCPServer(socketserver.TCPServer):
    """``socketserver.TCPServer`` whose accepts are driven by :meth:`handle_readable`."""

    allow_reuse_address = False
    request_queue_size = 64

    def __init__(
        self,
        server_address: tuple[str, int],
        handler_class: type[socketserver.BaseRequestHandler],
        *,
        label: str,
        io_timeout: float = 10.0,
    ) -> None:
        super().__init__(server_address, handler_class, bind_and_activate=True)
        self.socket.setblocking(False)
        self.label = label
        self.io_timeout = io_timeout
        self.host: str = server_address[0]
        self.port: int = self.socket.getsockname()[1]
        self.stopping = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def handle_readable(self) -> None:
        """Accept pending connections; serve each in a daemon thread (called by the socket loop)."""
        while True:
            try:
                request, client_address = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("event=sim.accept_error server=%s error=%s", self.label, exc)
                return
            if self.stopping.is_set():
                request.close()
                continue
            thread = threading.Thread(
                target=self._run_connection, args=(request, client_address), name=self.label, daemon=True,
            )
            with self._threads_lock:
                self._threads.add(thread)
            thread.start()

    def serve_connection(self, request: socket.socket, client_address: Any) -> None:
        """Serve one accepted connection; the default runs the handler class on it."""
        handler_class: Any = self.RequestHandlerClass  # typeshed types it against Self
        handler_class(request, client_address, self)

    def _run_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            request.settimeout(self.io_timeout)
            self.serve_connection(request, client_address)
        except OSError as exc:
            log.info("event=sim.connection_error server=%s error=%s", self.label, exc)
        except Exception:
            log.exception("event=sim.handler_error server=%s", self.label)
        finally:
            request.close()
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, wake held connections, wait for connection threads, close the listener."""
        self.stopping.set()
        self.server_close()
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
            if thread.is_alive():
                log.error("event=sim.connection_stuck server=%s", self.label)
