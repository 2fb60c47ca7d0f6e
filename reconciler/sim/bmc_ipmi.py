"""A simulated node's IPMI 2.0 BMC: pyghmi's ``Bmc`` speaking RMCP+ over UDP on loopback.

The protocol work (RMCP+ session set-up, RAKP authentication, AES/HMAC packet protection, command
parsing) is pyghmi's own server code; :class:`IpmiBmc` only maps chassis commands to a
:class:`~reconciler.sim.machine.Machine`. Two things differ from ``pyghmi.ipmi.bmc.Bmc`` as shipped:

1. **SHA-256 fallback fix.** pyghmi >= 1.5 clients open RMCP+ sessions asking for cipher suite 17
   (HMAC-SHA256), but pyghmi's server always answers with suite 3 (HMAC-SHA1), which makes the client
   crash (``struct.error``). :class:`_Sha1OnlySession` answers any open-session request that does not
   ask for RAKP-HMAC-SHA1 with RMCP+ status 0x11 ("no cipher suite match"); the client then retries
   with SHA-1 and the session comes up. This is done by subclassing, not by patching pyghmi globally.
2. **Own socket and dispatch.** ``IpmiServer.__init__`` hands its socket to pyghmi's process-global IO
   thread and handler table, which the pyghmi *client* in the same process (tests, modules) also uses,
   and whose wake-up trick breaks when the first pyghmi socket is an IPv4 server socket. Each
   :class:`IpmiBmc` therefore binds its own UDP socket on loopback (port 0 = a free port) and the
   supervisor's :class:`~reconciler.sim.loop.SocketLoop` feeds its datagrams to
   :meth:`IpmiBmc.handle_readable`, which routes them to the right pyghmi server session.

Power mapping (IPMI chassis control): on -> power_on, off -> power_off, cycle -> power_cycle,
reset -> reset, soft (``shutdown``) -> graceful shutdown. With the ``bmc_unresponsive`` fault every
datagram is dropped; with ``power_stuck`` chassis control succeeds but changes nothing.
"""

from __future__ import annotations

import logging
import socket
import struct
import uuid
from collections.abc import Mapping
from typing import Any

import pyghmi.ipmi.bmc as pyghmi_bmc
import pyghmi.ipmi.private.serversession as pyghmi_serversession
import pyghmi.ipmi.private.session as pyghmi_session

from reconciler.sim.machine import BOOT_DEVICES, Machine
from reconciler.sim.state import Fault, PowerState

__all__ = ["IpmiBmc"]

log = logging.getLogger(__name__)

_RMCP_HEADER = b"\x06\x00\xff\x07"
_AUTHTYPE_RMCPPLUS = 6
_PAYLOAD_OPEN_SESSION_REQUEST = 0x10
_RAKP_PAYLOADS = (0x12, 0x14)  # RAKP 1 and 3 travel before the session id is in use
_AUTH_ALG_RAKP_HMAC_SHA1 = 1
_STATUS_NO_CIPHER_SUITE_MATCH = 0x11
_MAX_DATAGRAM = 3000
_MAX_SESSIONS = 64  # per BMC; the oldest is forgotten first (clients that never close their sessions)


class _Sha1OnlySession(pyghmi_serversession.ServerSession):
    """pyghmi's server session, refusing non-SHA-1 authentication so SHA-256 clients fall back."""

    def create_open_session_response(self, request: bytearray) -> bytearray:
        # request[12] is the authentication algorithm of the open-session request (IPMI 2.0 table 13-9)
        if len(request) > 12 and request[12] != _AUTH_ALG_RAKP_HMAC_SHA1:
            return (
                bytearray([request[0], _STATUS_NO_CIPHER_SUITE_MATCH, 0, 0])
                + bytearray(request[4:8])
                + bytearray(4)
            )
        response: bytearray = super().create_open_session_response(request)
        return response

    def close_server_session(self) -> None:
        """The client sent Close Session: let the BMC forget this session (pyghmi's version does nothing)."""
        self.bmc.forget_session(self)


class IpmiBmc(pyghmi_bmc.Bmc):
    """The IPMI BMC of one simulated machine, on its own loopback UDP port."""

    def __init__(
        self,
        machine: Machine,
        *,
        users: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        bmc_uuid: uuid.UUID | None = None,
    ) -> None:
        # Deliberately not calling IpmiServer.__init__ (see the module docstring): set the same fields
        # and bind a socket this object owns.
        self.machine = machine
        self.revision = 0
        self.deviceid = 0x20
        self.firmwaremajor = 1
        self.firmwareminor = 0
        self.ipmiversion = 2
        self.additionaldevices = 0
        self.mfgid = 0
        self.prodid = 0
        self.pktqueue: Any = []
        self.uuid = bmc_uuid or uuid.uuid4()
        self.authdata = dict(users)
        lanchannel, authtype, authstatus, chancap = 1, 0b10000000, 0b00000100, 0b00000010
        self.authcap = struct.pack("BBBBBBBBB", 0, lanchannel, authtype, authstatus, chancap, 0, 0, 0, 0)
        self.kg = None
        self.timeout = 60
        self.serversocket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.serversocket.bind((host, port))
        except OSError:
            self.serversocket.close()
            raise
        self.host = host
        self.port: int = self.serversocket.getsockname()[1]
        self._sessions: dict[Any, _Sha1OnlySession] = {}

    # ------------------------------------------------------------------ transport

    def fileno(self) -> int:
        return self.serversocket.fileno()

    def handle_readable(self) -> None:
        """Read every pending datagram and answer it (called by the socket loop)."""
        while True:
            try:
                data, addr = self.serversocket.recvfrom(_MAX_DATAGRAM, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("event=ipmi.recv_error node=%s error=%s", self.machine.name, exc)
                return
            if self.machine.has_fault(Fault.BMC_UNRESPONSIVE):
                log.debug("event=ipmi.drop node=%s reason=bmc_unresponsive", self.machine.name)
                continue
            try:
                self._dispatch(bytearray(data), addr)
            except Exception:
                log.exception("event=ipmi.handler_error node=%s", self.machine.name)

    def _dispatch(self, data: bytearray, addr: Any) -> None:
        if len(data) < 16 or data[0:4] != _RMCP_HEADER:
            return
        rmcpplus = data[4] == _AUTHTYPE_RMCPPLUS
        payload_type = data[5] & 0x3F if rmcpplus else 0
        if payload_type == _PAYLOAD_OPEN_SESSION_REQUEST:
            self._open_session(data, addr)
            return
        session_id = struct.unpack("<I", bytes(data[6:10] if rmcpplus else data[9:13]))[0]
        if session_id == 0 and payload_type not in _RAKP_PAYLOADS:
            # sessionless: channel authentication capabilities, cipher suites
            super().sessionless_data(data, addr)
            return
        session = self._sessions.get(addr)
        if session is not None:
            session._handle_ipmi_packet(data, sockaddr=addr)

    def _open_session(self, data: bytearray, addr: Any) -> None:
        if len(data) < 22:
            return
        session = _Sha1OnlySession(
            self.authdata, self.kg, addr, self.serversocket, data[16:], self.uuid, bmc=self,
        )
        # pyghmi registers server sessions in its process-global table; this BMC routes its own
        # datagrams, so keep the session here instead and leave the global table as it was.
        handlers = pyghmi_session.Session.bmc_handlers
        per_client = handlers.get(addr)
        if per_client is not None and per_client.get(self.port) is session:
            del per_client[self.port]
            if not per_client:
                handlers.pop(addr, None)
        self._sessions.pop(addr, None)
        self._sessions[addr] = session
        while len(self._sessions) > _MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))

    def forget_session(self, session: Any) -> None:
        """Drop a server session (closed by its client)."""
        if self._sessions.get(session.sockaddr) is session:
            del self._sessions[session.sockaddr]

    def sessionless_data(self, data: Any, sockaddr: Any) -> None:
        """pyghmi entry point for datagrams without a session (kept consistent with our routing)."""
        self._dispatch(bytearray(data), sockaddr)

    def close(self) -> None:
        """Close the UDP socket and forget every session. Idempotent."""
        self._sessions.clear()
        self.serversocket.close()

    # ------------------------------------------------------------------ pyghmi BMC hooks

    def get_system_guid(self) -> uuid.UUID:
        return self.uuid

    def cold_reset(self) -> int:
        return 0

    def get_power_state(self) -> str:
        return "on" if self.machine.power is PowerState.ON else "off"

    def power_on(self) -> None:
        self._log_command("on")
        self.machine.power_on()

    def power_off(self) -> None:
        self._log_command("off")
        self.machine.power_off()

    def power_cycle(self) -> None:
        self._log_command("cycle")
        self.machine.power_cycle()

    def power_reset(self) -> None:
        self._log_command("reset")
        self.machine.reset()

    def power_shutdown(self) -> None:
        self._log_command("shutdown")
        self.machine.shutdown()

    def pulse_diag(self) -> None:
        self._log_command("diag")

    def is_active(self) -> bool:
        return self.machine.power is PowerState.ON

    def get_boot_device(self) -> str:
        return self.machine.boot_device

    def set_boot_device(self, bootdevice: str | int) -> None:
        name = bootdevice if isinstance(bootdevice, str) else "default"
        self.machine.set_boot_device(name if name in BOOT_DEVICES else "default")
        log.info("event=ipmi.bootdev node=%s device=%s", self.machine.name, self.machine.boot_device)

    def _log_command(self, command: str) -> None:
        log.info("event=ipmi.chassis_control node=%s command=%s", self.machine.name, command)
