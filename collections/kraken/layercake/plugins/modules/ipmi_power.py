#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Kraken for Ansible developers
# BSD-3-Clause
"""Ansible module kraken.layercake.ipmi_power: query or change chassis power over IPMI 2.0 (pyghmi)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ipmi_power
short_description: Query or change a node's chassis power through its BMC's IPMI 2.0 interface
description:
  - Reads the chassis power state from a BMC over IPMI 2.0 (RMCP+, UDP) with pyghmi and, unless
    O(state=query), sends a chassis control command, then polls the BMC until it reports the expected
    state or O(wait_timeout) is over. The result says what the BMC last reported; it never assumes.
  - Idempotent for C(on), C(off) and C(shutdown) (nothing is sent when the BMC already reports the
    target); C(reset), C(cycle) and C(reboot) always act.
  - Every BMC call is bounded by O(timeout) (pyghmi alone retries an unanswered request for about a
    minute), so an unresponsive BMC fails the task with a clear message instead of hanging it.
  - Unlike C(community.general.ipmi_power) it has a query-only mode, reads the password from a 0600
    credentials file instead of a task argument, and needs only pyghmi.
version_added: 0.1.0
author:
  - Kraken for Ansible developers
requirements:
  - pyghmi (in the Python interpreter that runs the module)
options:
  host:
    description: Address of the BMC.
    type: str
    required: true
  port:
    description: UDP port of the BMC's IPMI service.
    type: int
    default: 623
  state:
    description:
      - C(query) only reads the power state.
      - C(on) powers on; C(off) cuts power at once; C(shutdown) asks the OS to shut down (soft off).
      - C(reset) hard-resets a running node; C(cycle) powers off then on; C(reboot) powers on a node that
        is off and resets one that is on.
    type: str
    default: query
    choices: [query, "on", "off", shutdown, reset, cycle, reboot]
  timeout:
    description: Seconds each BMC call may take before the module fails.
    type: float
    default: 5.0
  wait_timeout:
    description:
      - After a command, poll the BMC for at most this many seconds until it reports the expected power
        state (C(on) after on/reset/cycle/reboot, C(off) after off/shutdown). 0 queries once.
    type: float
    default: 0.0
extends_documentation_fragment:
  - kraken.layercake.bmc
attributes:
  check_mode:
    support: full
    details: Queries the BMC and reports whether a command would be sent, without sending it.
notes:
  - The task should also carry a C(timeout:) keyword of at least 3 * O(timeout) + O(wait_timeout).
"""

EXAMPLES = r"""
- name: Ask the BMC whether the node is on
  kraken.layercake.ipmi_power:
    host: "{{ kraken_bmc_host }}"
    port: "{{ kraken_bmc_port }}"
    credentials_file: "{{ kraken_bmc_credentials_file }}"
    credentials_key: "{{ inventory_hostname }}"
    state: query
  register: bmc

- name: Power on and wait up to 5 s for the BMC to say so
  kraken.layercake.ipmi_power:
    host: "{{ kraken_bmc_host }}"
    port: "{{ kraken_bmc_port }}"
    credentials_file: "{{ kraken_bmc_credentials_file }}"
    credentials_key: "{{ inventory_hostname }}"
    state: "on"
    wait_timeout: 5
  timeout: 25
"""

RETURN = r"""
powerstate:
  description: The power state the BMC reported last (C(on) or C(off)).
  returned: success
  type: str
  sample: "on"
previous_powerstate:
  description: The power state the BMC reported before any command.
  returned: success
  type: str
  sample: "off"
command:
  description: The chassis command sent (or that would be sent in check mode), null when none was needed.
  returned: success
  type: str
  sample: "on"
reached:
  description: Whether the BMC reports the state the request aims at (always true for a query).
  returned: success
  type: bool
elapsed:
  description: Seconds from sending the command to the last observation.
  returned: success
  type: float
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.kraken.layercake.plugins.module_utils.bmc import (
    COMMON_ARGUMENT_SPEC,
    BmcError,
    resolve_credentials,
    run_power,
)

try:
    from pyghmi.ipmi import command as ipmi_command

    HAS_PYGHMI = True
except ImportError:  # pragma: no cover - reported by the module
    HAS_PYGHMI = False


class IpmiDriver:
    """pyghmi's IPMI client behind the small interface :func:`run_power` uses; one session per run."""

    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self._args = dict(bmc=host, port=port, userid=username, password=password)
        self._session: Any = None

    def _command(self) -> Any:
        if self._session is None:
            self._session = ipmi_command.Command(**self._args)
        return self._session

    def get_power(self) -> str:
        return str(self._command().get_power()["powerstate"])

    def command(self, state: str) -> None:
        self._command().set_power(state, wait=False)

    def close(self) -> None:
        session = self._session
        if session is not None:
            try:
                session.ipmi_session.logout()
            except Exception:  # best effort: the BMC forgets idle sessions anyway
                pass


def main() -> None:
    spec = dict(host=dict(type="str", required=True), port=dict(type="int", default=623))
    spec.update(COMMON_ARGUMENT_SPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not HAS_PYGHMI:
        module.fail_json(msg=missing_required_lib("pyghmi"))
    params = module.params
    where = f"IPMI BMC {params['host']}:{params['port']}"
    driver = None
    try:
        username, password = resolve_credentials(params)
        driver = IpmiDriver(params["host"], params["port"], username, password)
        result = run_power(driver, state=params["state"], check_mode=module.check_mode,
                           timeout=params["timeout"], wait_timeout=params["wait_timeout"],
                           poll_interval=params["poll_interval"])
    except BmcError as exc:
        module.fail_json(msg=f"{where}: {exc}")
    except Exception as exc:  # pyghmi raises IpmiException and friends
        module.fail_json(msg=f"{where}: {type(exc).__name__}: {exc}")
    else:
        driver.close()
        result["msg"] = (f"{where} reports power {result['powerstate']}"
                         + (f" after {result['command']}" if result["command"] else ""))
        module.exit_json(**result)


if __name__ == "__main__":
    main()
