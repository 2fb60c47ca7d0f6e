"""The simulator's control endpoint (HTTP JSON on loopback) and its client.

Tests and the demo that run in another process than the simulator (``python -m reconciler.sim``)
use it to read node state and flip fault knobs. Reads are open; anything that changes state needs
``Authorization: Bearer <token>`` with the token from the 0600 file named in ``sim.json``.

=================================================  ============================================
``GET /healthz``                                   ``{"ok": true}``
``GET /v1/nodes``                                  ``{"nodes": [NodeState, ...]}``
``GET /v1/nodes/<name>``                           ``NodeState`` (see ``NodeState.to_dict``)
``PUT /v1/nodes/<name>/faults/<fault>``            set a fault knob (POST works too) -> NodeState
``DELETE /v1/nodes/<name>/faults/<fault>``         clear a fault knob -> NodeState
``DELETE /v1/nodes/<name>/faults``                 clear every fault knob of the node -> NodeState
``POST /v1/nodes/<name>/power``                    ``{"action": "on|off|cycle|reset|shutdown"}``
                                                   presses the node's buttons (ignores faults
                                                   except ``power_stuck``) -> NodeState
=================================================  ============================================

Errors are ``{"error": MESSAGE}`` with 400 (bad fault, action or body), 401 (token), 404 (node, route).
"""

from __future__ import annotations

import hmac
import json
import logging
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Protocol

from reconciler.sim.errors import ControlError, SimConfigError
from reconciler.sim.httpbase import LoopTCPServer
from reconciler.sim.state import Fault, NodeState

__all__ = ["POWER_ACTIONS", "ControlClient", "ControlServer", "ControlTarget"]

log = logging.getLogger(__name__)

POWER_ACTIONS = ("on", "off", "cycle", "reset", "shutdown")
_MAX_BODY = 16 * 1024


class ControlTarget(Protocol):
    """What the control endpoint needs from the simulator (implemented by ``Simulator``)."""

    def node_names(self) -> list[str]: ...

    def state(self, name: str) -> NodeState: ...

    def set_fault(self, name: str, fault: Fault | str) -> NodeState: ...

    def clear_fault(self, name: str, fault: Fault | str) -> NodeState: ...

    def clear_faults(self, name: str | None = None) -> None: ...

    def power(self, name: str, action: str) -> NodeState: ...


class ControlServer(LoopTCPServer):
    """HTTP JSON control endpoint bound on loopback, driven by the simulator's socket loop."""

    def __init__(self, target: ControlTarget, *, token: str, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _ControlHandler, label="sim-control")
        self.target = target
        self.token = token

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class _ControlHandler(BaseHTTPRequestHandler):
    server: ControlServer
    protocol_version = "HTTP/1.1"
    server_version = "KrakenSimControl/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("event=control.http message=%s", json.dumps(format % args))

    def do_GET(self) -> None:
        parts = self._parts()
        if parts == ["healthz"]:
            self._send(200, {"ok": True})
        elif parts == ["v1", "nodes"]:
            target = self.server.target
            self._send(200, {"nodes": [target.state(name).to_dict() for name in target.node_names()]})
        elif len(parts) == 3 and parts[:2] == ["v1", "nodes"]:
            self._with_node(parts[2], lambda name: self.server.target.state(name))
        else:
            self._send(404, {"error": f"no route GET {self.path}"})

    def do_PUT(self) -> None:
        parts = self._parts()
        if not self._authorized():
            return
        if len(parts) == 5 and parts[:2] == ["v1", "nodes"] and parts[3] == "faults":
            self._with_node(parts[2], lambda name: self.server.target.set_fault(name, parts[4]))
        else:
            self._send(404, {"error": f"no route {self.command} {self.path}"})

    def do_POST(self) -> None:
        parts = self._parts()
        if len(parts) == 4 and parts[:2] == ["v1", "nodes"] and parts[3] == "power":
            if not self._authorized():
                return
            body = self._json_body()
            if body is None:
                return
            action = body.get("action")
            if action not in POWER_ACTIONS:
                self._send(400, {"error": f"action must be one of {', '.join(POWER_ACTIONS)}"})
                return
            self._with_node(parts[2], lambda name: self.server.target.power(name, str(action)))
        else:
            self.do_PUT()

    def do_DELETE(self) -> None:
        parts = self._parts()
        if not self._authorized():
            return
        if len(parts) == 5 and parts[:2] == ["v1", "nodes"] and parts[3] == "faults":
            self._with_node(parts[2], lambda name: self.server.target.clear_fault(name, parts[4]))
        elif len(parts) == 4 and parts[:2] == ["v1", "nodes"] and parts[3] == "faults":

            def clear_all(name: str) -> NodeState:
                self.server.target.clear_faults(name)
                return self.server.target.state(name)

            self._with_node(parts[2], clear_all)
        else:
            self._send(404, {"error": f"no route DELETE {self.path}"})

    # ------------------------------------------------------------------ helpers

    def _parts(self) -> list[str]:
        path = self.path.split("?", 1)[0]
        return [part for part in path.split("/") if part]

    def _with_node(self, name: str, action: Any) -> None:
        if name not in self.server.target.node_names():
            self._send(404, {"error": f"no node named {name!r}"})
            return
        try:
            state: NodeState = action(name)
        except SimConfigError as exc:
            self._send(400, {"error": str(exc)})
            return
        self._send(200, state.to_dict())

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization") or ""
        token = header[7:] if header.startswith("Bearer ") else ""
        if token and hmac.compare_digest(token.encode(), self.server.token.encode()):
            return True
        self._send(401, {"error": "a bearer token is required (see control.token_file in sim.json)"})
        return False

    def _json_body(self) -> dict[str, Any] | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_BODY:
            self._send(400, {"error": "invalid Content-Length"})
            return None
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._send(400, {"error": "the body is not valid JSON"})
            return None
        if not isinstance(body, dict):
            self._send(400, {"error": "the body must be a JSON object"})
            return None
        return body

    def _send(self, status: int, document: Any) -> None:
        payload = json.dumps(document).encode("utf-8")
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        if self.command != "GET":
            log.info("event=control.request method=%s path=%s status=%s", self.command, self.path, status)


class ControlClient:
    """Client of the control endpoint, for tests and the demo in another process."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout
        # loopback only: never route through an HTTP proxy from the environment
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @classmethod
    def from_description(cls, description: Path | str, *, timeout: float = 10.0) -> ControlClient:
        """A client for the simulator described by ``sim.json`` (reads the token file it names)."""
        data = json.loads(Path(description).read_text(encoding="utf-8"))
        control = data.get("control")
        if not control:
            raise ControlError(f"{description}: the simulator has no control endpoint")
        token = Path(control["token_file"]).read_text(encoding="utf-8").strip()
        return cls(control["url"], token=token, timeout=timeout)

    def healthy(self) -> bool:
        try:
            return bool(self._request("GET", "/healthz").get("ok"))
        except ControlError:
            return False

    def nodes(self) -> list[NodeState]:
        return [NodeState.from_dict(item) for item in self._request("GET", "/v1/nodes")["nodes"]]

    def state(self, name: str) -> NodeState:
        return NodeState.from_dict(self._request("GET", f"/v1/nodes/{name}"))

    def set_fault(self, name: str, fault: Fault | str) -> NodeState:
        return NodeState.from_dict(self._request("PUT", f"/v1/nodes/{name}/faults/{_fault_name(fault)}"))

    def clear_fault(self, name: str, fault: Fault | str) -> NodeState:
        return NodeState.from_dict(self._request("DELETE", f"/v1/nodes/{name}/faults/{_fault_name(fault)}"))

    def clear_faults(self, name: str) -> NodeState:
        return NodeState.from_dict(self._request("DELETE", f"/v1/nodes/{name}/faults"))

    def power(self, name: str, action: str) -> NodeState:
        return NodeState.from_dict(self._request("POST", f"/v1/nodes/{name}/power", {"action": action}))

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if self._token and method != "GET":
            headers["Authorization"] = f"Bearer {self._token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                result: dict[str, Any] = json.loads(response.read())
                return result
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except (ValueError, AttributeError):
                message = exc.reason
            raise ControlError(f"{method} {path}: {exc.code} {message}", status=exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ControlError(f"{method} {path}: control endpoint unreachable: {exc}") from None


def _fault_name(fault: Fault | str) -> str:
    return fault.value if isinstance(fault, Fault) else str(fault)
