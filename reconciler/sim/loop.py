"""One selector thread that serves every listening socket of a simulator.

A simulator with 50 nodes owns 50 IPMI UDP sockets, 50 Redfish TCP listeners and a control
listener. Giving each a ``serve_forever`` thread would make shutdown slow (each loop polls its stop
flag every 0.5 s) and waste threads; instead :class:`SocketLoop` multiplexes them in one thread with
:mod:`selectors` and wakes up at once on :meth:`SocketLoop.stop` through a socket pair.
Readers are registered before :meth:`SocketLoop.start`; the loop never closes them (their owners do).
A periodic ``on_tick`` callback lets the supervisor notice OS processes that exited by themselves.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable

from reconciler.sim.errors import SimError

__all__ = ["SocketLoop"]

log = logging.getLogger(__name__)


class SocketLoop:
    """Call a callback whenever one of the registered sockets is readable, in one thread."""

    def __init__(
        self,
        *,
        name: str = "kraken-sim-loop",
        tick_interval: float = 0.5,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self._name = name
        self._tick_interval = tick_interval
        self._on_tick = on_tick
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def add_reader(self, sock: socket.socket, callback: Callable[[], None]) -> None:
        """Call ``callback()`` in the loop thread whenever ``sock`` is readable (before start only)."""
        if self._thread is not None:
            raise SimError("readers must be added before the socket loop starts")
        self._selector.register(sock, selectors.EVENT_READ, callback)

    def start(self) -> None:
        """Start the loop thread (daemon: it never keeps the interpreter alive)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop thread and release the selector and wake-up sockets. Idempotent."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("event=sim.loop_stop_timeout thread=%s", self._name)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        next_tick = time.monotonic() + self._tick_interval
        while not self._stopping.is_set():
            timeout = max(0.0, next_tick - time.monotonic())
            try:
                events = self._selector.select(timeout)
            except (OSError, ValueError):
                if self._stopping.is_set():
                    return
                raise
            for key, _mask in events:
                if key.data is None:
                    self._drain_wakeups()
                    continue
                try:
                    key.data()
                except Exception:
                    log.exception("event=sim.loop_handler_error thread=%s", self._name)
            if self._on_tick is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self._tick_interval
                try:
                    self._on_tick()
                except Exception:
                    log.exception("event=sim.loop_tick_error thread=%s", self._name)

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(256):
                pass
        except (BlockingIOError, OSError):
            pass
