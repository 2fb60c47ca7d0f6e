"""A simulated node's Redfish service: a small HTTPS server of ours, one loopback port per node.

Why not sushy-tools' fake driver (it is installed and was evaluated)?

* it applies power changes after a random 1-11 s delay, which makes every power test slow and
  nondeterministic, and its power state lives in sushy's own store, so coupling it to a
  :class:`~reconciler.sim.machine.Machine` (power must really start and stop the OS process) means
  patching its driver;
* it is a Flask application configured through module-global state (``app.config``, one driver per
  process), so one supervisor process cannot host many independent services with different
  credentials, and fault knobs (drop requests, stuck power) would need more patching;
* it needs one ``sushy-emulator`` process per node or all nodes behind one port, while real BMCs, the
  inventory and ``community.general.redfish_command`` (``baseuri`` = ``host:port``) expect one service
  per node.

So this module implements the few resources that the power and PXE roles (and ``redfish_info``) use,
on :mod:`socketserver` with TLS from :mod:`reconciler.sim.tls` (the Ansible module hard-codes
``https://``) and HTTP basic authentication:

========================================================  ================================================
``GET /redfish``, ``GET /redfish/v1/``                     version document, service root (no auth)
``GET /redfish/v1/Systems``                                collection with this node's one system
``GET /redfish/v1/Systems/<id>``                           ``PowerState`` On/Off, ``Boot``, reset action,
                                                           ``Oem.Kraken`` (boot outcome, OS state)
``POST .../Systems/<id>/Actions/ComputerSystem.Reset``     ``{"ResetType": T}``: On, ForceOn, ForceOff,
                                                           GracefulShutdown, GracefulRestart, ForceRestart,
                                                           PowerCycle, PushPowerButton, Nmi -> 204
``PATCH /redfish/v1/Systems/<id>``                         ``{"Boot": {BootSourceOverrideTarget, ...}}``
``GET .../EthernetInterfaces[/nic0]``, ``Managers``,       enough for ``redfish_info`` inventories
``Chassis``, ``SessionService``
========================================================  ================================================

``<id>`` is the node name. Requests are answered at once (no artificial delay): a test that wants a
slow or hung BMC sets a fault knob. With ``bmc_unresponsive`` every connection is accepted and held
silent (no TLS handshake) until the client gives up, the fault hold time passes or the service stops;
with ``power_stuck`` reset actions answer 204 and change nothing.

Each connection is served in its own daemon thread and closed after one response
(``Connection: close``), so stopping the service leaves no socket behind.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import socket
import ssl
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from reconciler.sim.httpbase import LoopTCPServer
from reconciler.sim.machine import Machine
from reconciler.sim.state import Fault, PowerState

__all__ = ["RESET_TYPES", "RedfishService"]

log = logging.getLogger(__name__)

RESET_TYPES = (
    "On", "ForceOn", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart",
    "PowerCycle", "PushPowerButton", "Nmi",
)
# machine boot device <-> Redfish BootSourceOverrideTarget
_TARGET_OF_DEVICE = {
    "default": "None", "network": "Pxe", "hd": "Hdd", "optical": "Cd", "setup": "BiosSetup",
    "floppy": "Floppy", "safe": "Diags",
}
_DEVICE_OF_TARGET = {target: device for device, target in _TARGET_OF_DEVICE.items()}
_OVERRIDE_ENABLED = ("Disabled", "Once", "Continuous")
_OVERRIDE_MODES = ("UEFI", "Legacy")
_BOOT_PROPERTIES = frozenset(
    {"BootSourceOverrideEnabled", "BootSourceOverrideTarget", "BootSourceOverrideMode"}
)
_MAX_BODY = 64 * 1024
_BASE_MSG = "Base.1.8"


class RedfishService(LoopTCPServer):
    """The Redfish service of one simulated machine (HTTPS, basic auth, one port)."""

    def __init__(
        self,
        machine: Machine,
        *,
        users: Mapping[str, str],
        ssl_context: ssl.SSLContext,
        host: str = "127.0.0.1",
        port: int = 0,
        io_timeout: float = 10.0,
        hold_timeout: float = 60.0,
        uuid: str = "",
    ) -> None:
        super().__init__(
            (host, port), _RedfishHandler, label=f"redfish-{machine.name}", io_timeout=io_timeout
        )
        self.machine = machine
        self.system_id = machine.name
        self.users = dict(users)
        self.ssl_context = ssl_context
        self.hold_timeout = hold_timeout
        self.uuid = uuid
        self.override_enabled = "Disabled"
        self.override_mode = "UEFI"

    @property
    def base_uri(self) -> str:
        """``host:port``, what ``community.general.redfish_*`` modules take as ``baseuri``."""
        return f"{self.host}:{self.port}"

    def serve_connection(self, request: socket.socket, client_address: Any) -> None:
        """Hold the connection silent under ``bmc_unresponsive``; otherwise TLS, then one HTTP exchange."""
        if self.machine.has_fault(Fault.BMC_UNRESPONSIVE):
            log.info("event=redfish.drop node=%s reason=bmc_unresponsive", self.system_id)
            self.stopping.wait(self.hold_timeout)
            return
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("event=redfish.tls_error node=%s error=%s", self.system_id, json.dumps(str(exc)))
            return
        try:
            _RedfishHandler(tls, client_address, self)
        except (OSError, ssl.SSLError) as exc:
            log.info("event=redfish.io_error node=%s error=%s", self.system_id, json.dumps(str(exc)))
        finally:
            tls.close()

    # ------------------------------------------------------------------ resources

    def resource(self, path: str) -> dict[str, Any] | None:
        """The JSON document at ``path`` (normalised, no trailing slash), or None if there is none."""
        system = f"/redfish/v1/Systems/{self.system_id}"
        builders: dict[str, Callable[[], dict[str, Any]]] = {
            "/redfish/v1": self._service_root,
            "/redfish/v1/Systems": lambda: _collection(
                "/redfish/v1/Systems", "#ComputerSystemCollection.ComputerSystemCollection",
                "Computer System Collection", [system],
            ),
            system: self._system,
            f"{system}/EthernetInterfaces": lambda: _collection(
                f"{system}/EthernetInterfaces",
                "#EthernetInterfaceCollection.EthernetInterfaceCollection",
                "Ethernet Interface Collection", [f"{system}/EthernetInterfaces/nic0"],
            ),
            f"{system}/EthernetInterfaces/nic0": self._nic,
            "/redfish/v1/Managers": lambda: _collection(
                "/redfish/v1/Managers", "#ManagerCollection.ManagerCollection", "Manager Collection",
                ["/redfish/v1/Managers/bmc"],
            ),
            "/redfish/v1/Managers/bmc": self._manager,
            "/redfish/v1/Chassis": lambda: _collection(
                "/redfish/v1/Chassis", "#ChassisCollection.ChassisCollection", "Chassis Collection",
                [f"/redfish/v1/Chassis/{self.system_id}"],
            ),
            f"/redfish/v1/Chassis/{self.system_id}": self._chassis,
            "/redfish/v1/SessionService": self._session_service,
            "/redfish/v1/SessionService/Sessions": lambda: _collection(
                "/redfish/v1/SessionService/Sessions", "#SessionCollection.SessionCollection",
                "Session Collection", [],
            ),
        }
        builder = builders.get(path)
        return None if builder is None else builder()

    def _service_root(self) -> dict[str, Any]:
        return {
            "@odata.id": "/redfish/v1/",
            "@odata.type": "#ServiceRoot.v1_5_0.ServiceRoot",
            "Id": "RootService",
            "Name": "Kraken simulated BMC",
            "RedfishVersion": "1.6.0",
            "UUID": self.uuid,
            "Systems": {"@odata.id": "/redfish/v1/Systems"},
            "Managers": {"@odata.id": "/redfish/v1/Managers"},
            "Chassis": {"@odata.id": "/redfish/v1/Chassis"},
            "SessionService": {"@odata.id": "/redfish/v1/SessionService"},
            "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}},
        }

    def _system(self) -> dict[str, Any]:
        state = self.machine.state()
        system = f"/redfish/v1/Systems/{self.system_id}"
        target = _TARGET_OF_DEVICE.get(state.boot_device, "None")
        return {
            "@odata.id": system,
            "@odata.type": "#ComputerSystem.v1_10_0.ComputerSystem",
            "Id": self.system_id,
            "Name": self.system_id,
            "SystemType": "Physical",
            "UUID": self.uuid,
            "PowerState": "On" if state.power is PowerState.ON else "Off",
            "Status": {"State": "Enabled", "Health": "OK"},
            "Boot": {
                "BootSourceOverrideEnabled": "Disabled" if target == "None" else self.override_enabled,
                "BootSourceOverrideTarget": target,
                "BootSourceOverrideTarget@Redfish.AllowableValues": list(_DEVICE_OF_TARGET),
                "BootSourceOverrideMode": self.override_mode,
            },
            "EthernetInterfaces": {"@odata.id": f"{system}/EthernetInterfaces"},
            "Links": {
                "ManagedBy": [{"@odata.id": "/redfish/v1/Managers/bmc"}],
                "Chassis": [{"@odata.id": f"/redfish/v1/Chassis/{self.system_id}"}],
            },
            "Actions": {
                "#ComputerSystem.Reset": {
                    "target": f"{system}/Actions/ComputerSystem.Reset",
                    "ResetType@Redfish.AllowableValues": list(RESET_TYPES),
                }
            },
            "Oem": {
                "Kraken": {
                    "BootOutcome": state.boot_outcome.value,
                    "BootReason": state.boot_reason,
                    "OsState": state.os_state.value,
                }
            },
        }

    def _nic(self) -> dict[str, Any]:
        path = f"/redfish/v1/Systems/{self.system_id}/EthernetInterfaces/nic0"
        return {
            "@odata.id": path,
            "@odata.type": "#EthernetInterface.v1_5_0.EthernetInterface",
            "Id": "nic0",
            "Name": "Boot NIC",
            "MACAddress": self.machine.mac,
            "PermanentMACAddress": self.machine.mac,
            "Status": {"State": "Enabled", "Health": "OK"},
        }

    def _manager(self) -> dict[str, Any]:
        return {
            "@odata.id": "/redfish/v1/Managers/bmc",
            "@odata.type": "#Manager.v1_5_0.Manager",
            "Id": "bmc",
            "Name": f"BMC of {self.system_id}",
            "ManagerType": "BMC",
            "FirmwareVersion": "kraken-sim",
            "Status": {"State": "Enabled", "Health": "OK"},
            "Links": {"ManagerForServers": [{"@odata.id": f"/redfish/v1/Systems/{self.system_id}"}]},
        }

    def _chassis(self) -> dict[str, Any]:
        state = self.machine.state()
        return {
            "@odata.id": f"/redfish/v1/Chassis/{self.system_id}",
            "@odata.type": "#Chassis.v1_10_0.Chassis",
            "Id": self.system_id,
            "Name": self.system_id,
            "ChassisType": "RackMount",
            "PowerState": "On" if state.power is PowerState.ON else "Off",
            "Status": {"State": "Enabled", "Health": "OK"},
            "Links": {"ComputerSystems": [{"@odata.id": f"/redfish/v1/Systems/{self.system_id}"}]},
        }

    def _session_service(self) -> dict[str, Any]:
        return {
            "@odata.id": "/redfish/v1/SessionService",
            "@odata.type": "#SessionService.v1_1_6.SessionService",
            "Id": "SessionService",
            "Name": "Session Service",
            "ServiceEnabled": False,
            "Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"},
        }

    # ------------------------------------------------------------------ actions

    def reset(self, reset_type: str) -> None:
        """Apply a ComputerSystem.Reset (``reset_type`` already validated against RESET_TYPES)."""
        machine = self.machine
        actions: dict[str, Callable[[], None]] = {
            "On": machine.power_on,
            "ForceOn": machine.power_on,
            "ForceOff": machine.power_off,
            "GracefulShutdown": machine.shutdown,
            "GracefulRestart": machine.reset,
            "ForceRestart": machine.reset,
            "PowerCycle": machine.power_cycle,
            "PushPowerButton": (
                machine.shutdown if machine.power is PowerState.ON else machine.power_on
            ),
            "Nmi": lambda: None,
        }
        log.info("event=redfish.reset node=%s reset_type=%s", self.system_id, reset_type)
        actions[reset_type]()

    def patch_boot(self, boot: Mapping[str, Any]) -> str | None:
        """Apply a ``Boot`` PATCH; return an error message, or None when applied."""
        enabled = boot.get("BootSourceOverrideEnabled", self.override_enabled)
        target = boot.get("BootSourceOverrideTarget")
        mode = boot.get("BootSourceOverrideMode", self.override_mode)
        unknown = set(boot) - _BOOT_PROPERTIES
        if unknown:
            return f"Boot property not writable: {', '.join(sorted(unknown))}"
        if enabled not in _OVERRIDE_ENABLED:
            return f"BootSourceOverrideEnabled must be one of {', '.join(_OVERRIDE_ENABLED)}"
        if mode not in _OVERRIDE_MODES:
            return f"BootSourceOverrideMode must be one of {', '.join(_OVERRIDE_MODES)}"
        if target is not None and target not in _DEVICE_OF_TARGET:
            return f"BootSourceOverrideTarget must be one of {', '.join(_DEVICE_OF_TARGET)}"
        self.override_enabled, self.override_mode = enabled, mode
        if enabled == "Disabled":
            self.machine.set_boot_device("default")
        elif target is not None:
            self.machine.set_boot_device(_DEVICE_OF_TARGET[target])
        log.info("event=redfish.boot node=%s enabled=%s target=%s", self.system_id, enabled, target)
        return None

    def check_auth(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries valid basic credentials."""
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = self.users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode(), password.encode())


class _RedfishHandler(BaseHTTPRequestHandler):
    server: RedfishService
    protocol_version = "HTTP/1.1"
    server_version = "KrakenSimBMC/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("event=redfish.http node=%s message=%s", self.server.system_id, json.dumps(format % args))

    def do_GET(self) -> None:
        path = self._path()
        if path == "/redfish":
            self._send(200, {"v1": "/redfish/v1/"})
            return
        if path != "/redfish/v1" and not self._authorized():
            return
        document = self.server.resource(path)
        if document is None:
            self._error(404, "ResourceMissingAtURI", f"The resource at the URI {self.path} was not found.")
            return
        self._send(200, document)

    def do_POST(self) -> None:
        if not self._authorized():
            return
        path = self._path()
        body = self._json_body()
        if body is None:
            return
        if path != f"/redfish/v1/Systems/{self.server.system_id}/Actions/ComputerSystem.Reset":
            status = 404 if self.server.resource(path) is None else 405
            self._error(status, "ActionNotSupported", f"No action at {self.path}.")
            return
        reset_type = body.get("ResetType")
        if not isinstance(reset_type, str):
            self._error(400, "ActionParameterMissing", "The action requires the parameter ResetType.")
            return
        if reset_type not in RESET_TYPES:
            self._error(
                400, "ActionParameterValueNotInList",
                f"ResetType {reset_type!r} is not one of {', '.join(RESET_TYPES)}.",
            )
            return
        self.server.reset(reset_type)
        self._send(204, None)

    def do_PATCH(self) -> None:
        if not self._authorized():
            return
        path = self._path()
        body = self._json_body()
        if body is None:
            return
        if path != f"/redfish/v1/Systems/{self.server.system_id}":
            status = 404 if self.server.resource(path) is None else 405
            self._error(status, "OperationNotAllowed", f"PATCH is not supported at {self.path}.")
            return
        unknown = set(body) - {"Boot"}
        if unknown or not isinstance(body.get("Boot"), dict):
            names = ", ".join(sorted(unknown)) or "Boot"
            self._error(400, "PropertyNotWritable", f"Property {names} is not writable here.")
            return
        problem = self.server.patch_boot(body["Boot"])
        if problem is not None:
            self._error(400, "PropertyValueNotInList", problem)
            return
        self._send(204, None)

    def do_PUT(self) -> None:
        if self._authorized():
            self._error(405, "OperationNotAllowed", "PUT is not supported.")

    def do_DELETE(self) -> None:
        if self._authorized():
            self._error(405, "OperationNotAllowed", "DELETE is not supported.")

    # ------------------------------------------------------------------ helpers

    def _path(self) -> str:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        return path.rstrip("/") or "/"

    def _authorized(self) -> bool:
        if self.server.check_auth(self.headers.get("Authorization")):
            return True
        log.info("event=redfish.unauthorized node=%s path=%s", self.server.system_id, json.dumps(self.path))
        self._error(401, "NoValidSession", "Valid credentials are required.", authenticate=True)
        return False

    def _json_body(self) -> dict[str, Any] | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY:
            self._error(400, "MalformedJSON", "The request body has an invalid length.")
            return None
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._error(400, "MalformedJSON", "The request body is not valid JSON.")
            return None
        if not isinstance(body, dict):
            self._error(400, "MalformedJSON", "The request body must be a JSON object.")
            return None
        return body

    def _error(self, status: int, message_id: str, message: str, *, authenticate: bool = False) -> None:
        body = {
            "error": {
                "code": f"{_BASE_MSG}.GeneralError",
                "message": message,
                "@Message.ExtendedInfo": [{"MessageId": f"{_BASE_MSG}.{message_id}", "Message": message}],
            }
        }
        headers = {"WWW-Authenticate": 'Basic realm="kraken-sim"'} if authenticate else {}
        self._send(status, body, headers=headers)

    def _send(self, status: int, document: Any, *, headers: Mapping[str, str] | None = None) -> None:
        payload = b"" if document is None else json.dumps(document).encode("utf-8")
        self.close_connection = True
        self.send_response(status)
        if document is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("OData-Version", "4.0")
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)
        level = logging.DEBUG if self.command == "GET" and status < 400 else logging.INFO
        log.log(
            level, "event=redfish.request node=%s method=%s path=%s status=%s",
            self.server.system_id, self.command, json.dumps(self.path), status,
        )


def _collection(path: str, odata_type: str, name: str, members: list[str]) -> dict[str, Any]:
    return {
        "@odata.id": path,
        "@odata.type": odata_type,
        "Name": name,
        "Members": [{"@odata.id": member} for member in members],
        "Members@odata.count": len(members),
    }
