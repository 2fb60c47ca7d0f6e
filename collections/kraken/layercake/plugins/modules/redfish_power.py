#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Kraken for Ansible developers
# BSD-3-Clause
"""Ansible module kraken.layercake.redfish_power: query or change a system's power over Redfish (HTTPS)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: redfish_power
short_description: Query or change a node's power through its BMC's Redfish service
description:
  - Reads C(PowerState) of a Redfish ComputerSystem over HTTPS (basic authentication) and, unless
    O(state=query), posts a C(ComputerSystem.Reset) action, then polls until the service reports the
    expected state or O(wait_timeout) is over. The result says what the BMC last reported.
  - Idempotent for C(on), C(off) and C(shutdown); C(reset), C(cycle) and C(reboot) always act.
  - Every HTTP request is bounded by O(timeout). Certificates are verified against O(ca_file) (or the
    system trust store) unless O(validate_certs=false).
  - Needs nothing beyond the Python standard library.
version_added: 0.1.0
author:
  - Kraken for Ansible developers
options:
  base_uri:
    description:
      - C(host:port) of the Redfish service (as C(community.general.redfish_command)'s C(baseuri)), or
        a full C(https://host:port) URL.
    type: str
    required: true
  system_id:
    description: Id of the ComputerSystem; default the first member of C(/redfish/v1/Systems).
    type: str
  state:
    description:
      - C(query) only reads the power state.
      - C(on) (ResetType C(On)), C(off) (C(ForceOff)), C(shutdown) (C(GracefulShutdown)),
        C(reset) (C(ForceRestart)), C(cycle) (C(PowerCycle)); C(reboot) powers on a system that is off
        and force-restarts one that is on.
    type: str
    default: query
    choices: [query, "on", "off", shutdown, reset, cycle, reboot]
  ca_file:
    description: PEM file of the certificate authority (or self-signed certificate) to trust.
    type: path
  validate_certs:
    description: Verify the service's certificate and host name.
    type: bool
    default: true
  timeout:
    description: Seconds each HTTP request may take before the module fails.
    type: float
    default: 5.0
  wait_timeout:
    description:
      - After a reset action, poll for at most this many seconds until the service reports the expected
        power state. 0 queries once.
    type: float
    default: 0.0
extends_documentation_fragment:
  - kraken.layercake.bmc
attributes:
  check_mode:
    support: full
    details: Queries the service and reports whether an action would be posted, without posting it.
notes:
  - The task should also carry a C(timeout:) keyword of at least 3 * O(timeout) + O(wait_timeout).
"""

EXAMPLES = r"""
- name: Ask the Redfish service whether the node is on
  kraken.layercake.redfish_power:
    base_uri: "{{ kraken_redfish_uri }}"
    ca_file: "{{ kraken_redfish_ca_file }}"
    credentials_file: "{{ kraken_bmc_credentials_file }}"
    credentials_key: "{{ inventory_hostname }}"
    state: query
  register: bmc

- name: Force the node off and wait until it is
  kraken.layercake.redfish_power:
    base_uri: "{{ kraken_redfish_uri }}"
    ca_file: "{{ kraken_redfish_ca_file }}"
    credentials_file: "{{ kraken_bmc_credentials_file }}"
    credentials_key: "{{ inventory_hostname }}"
    state: "off"
    wait_timeout: 5
  timeout: 25
"""

RETURN = r"""
powerstate:
  description: The power state the service reported last, lower case (C(on), C(off), C(powering_on) ...).
  returned: success
  type: str
  sample: "on"
previous_powerstate:
  description: The power state reported before any action.
  returned: success
  type: str
  sample: "off"
command:
  description: The request sent (or that would be sent in check mode), null when none was needed.
  returned: success
  type: str
  sample: "on"
reset_type:
  description: The Redfish ResetType posted, null when none.
  returned: success
  type: str
  sample: ForceOff
reached:
  description: Whether the service reports the state the request aims at (always true for a query).
  returned: success
  type: bool
system_uri:
  description: The ComputerSystem resource acted on.
  returned: success
  type: str
  sample: /redfish/v1/Systems/n01
elapsed:
  description: Seconds from posting the action to the last observation.
  returned: success
  type: float
"""

import base64
import json
import re
import ssl
import urllib.error
import urllib.request
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.kraken.layercake.plugins.module_utils.bmc import (
    COMMON_ARGUMENT_SPEC,
    BmcError,
    BmcTimeout,
    resolve_credentials,
    run_power,
)

RESET_TYPES = {"on": "On", "off": "ForceOff", "shutdown": "GracefulShutdown", "reset": "ForceRestart",
               "cycle": "PowerCycle"}


def _snake(value: str) -> str:
    """``PoweringOn`` -> ``powering_on``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", value).lower()


class RedfishDriver:
    """A minimal Redfish client (urllib): one ComputerSystem's PowerState and Reset action."""

    def __init__(self, base_uri: str, *, username: str, password: str, system_id: str | None,
                 ca_file: str | None, validate_certs: bool, timeout: float) -> None:
        self.root = base_uri.rstrip("/") if "://" in base_uri else "https://" + base_uri.rstrip("/")
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._headers = {"Authorization": "Basic " + token, "Accept": "application/json",
                         "OData-Version": "4.0"}
        self.timeout = timeout
        if validate_certs:
            self._context = ssl.create_default_context(cafile=ca_file)
        else:
            self._context = ssl.create_default_context()
            self._context.check_hostname = False
            self._context.verify_mode = ssl.CERT_NONE
        self._system_id = system_id
        self._system_uri: str | None = None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.root + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            detail = ""
            try:
                error = json.loads(exc.read() or b"{}").get("error", {})
                detail = ": " + str(error.get("message", ""))
            except (ValueError, AttributeError):
                pass
            raise BmcError(f"{method} {path} answered HTTP {exc.code} {exc.reason}{detail}") from None
        except TimeoutError:
            raise BmcTimeout(f"the BMC did not answer {method} {path} within {self.timeout:.1f}s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise BmcTimeout(f"the BMC did not answer {method} {path} within {self.timeout:.1f}s") from None
            raise BmcError(f"{method} {path} failed: {exc.reason}") from None
        return json.loads(payload) if payload else None

    @property
    def system_uri(self) -> str:
        if self._system_uri is None:
            if self._system_id:
                self._system_uri = f"/redfish/v1/Systems/{self._system_id}"
            else:
                members = (self.request("GET", "/redfish/v1/Systems") or {}).get("Members") or []
                if not members:
                    raise BmcError("the Redfish service lists no ComputerSystem")
                self._system_uri = str(members[0]["@odata.id"]).rstrip("/")
        return self._system_uri

    def get_power(self) -> str:
        system = self.request("GET", self.system_uri) or {}
        state = system.get("PowerState")
        if not state:
            raise BmcError(f"{self.system_uri} has no PowerState")
        return _snake(str(state))

    def command(self, state: str) -> None:
        self.request("POST", self.system_uri + "/Actions/ComputerSystem.Reset", {"ResetType": RESET_TYPES[state]})


def main() -> None:
    spec: dict[str, Any] = dict(
        base_uri=dict(type="str", required=True),
        system_id=dict(type="str"),
        ca_file=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
    )
    spec.update(COMMON_ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    params = module.params
    where = f"Redfish service {params['base_uri']}"
    try:
        username, password = resolve_credentials(params)
        driver = RedfishDriver(params["base_uri"], username=username, password=password,
                               system_id=params["system_id"], ca_file=params["ca_file"],
                               validate_certs=params["validate_certs"], timeout=params["timeout"])
        result = run_power(driver, state=params["state"], check_mode=module.check_mode,
                           timeout=params["timeout"] + 1.0, wait_timeout=params["wait_timeout"],
                           poll_interval=params["poll_interval"])
        result["system_uri"] = driver.system_uri
    except BmcError as exc:
        module.fail_json(msg=f"{where}: {exc}")
    except (ssl.SSLError, OSError, ValueError) as exc:
        module.fail_json(msg=f"{where}: {type(exc).__name__}: {exc}")
    else:
        result["reset_type"] = RESET_TYPES.get(result["command"] or "")
        result["msg"] = (f"{where} reports power {result['powerstate']}"
                         + (f" after {result['reset_type']}" if result["command"] else ""))
        module.exit_json(**result)


if __name__ == "__main__":
    main()
