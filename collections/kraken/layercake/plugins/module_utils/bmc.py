# -*- coding: utf-8 -*-
# Copyright: Kraken for Ansible developers
# BSD-3-Clause
"""Shared logic of the kraken.layercake BMC modules (ipmi_power, redfish_power).

* :func:`resolve_credentials` reads a node's BMC user and password from a 0600 YAML file
  ``{host: {username, password}}`` on the machine the module runs on, so the password never travels
  as a task argument, an extra var or a command line, and never appears in a result;
* :func:`call_with_timeout` bounds one blocking BMC call (pyghmi retries an unanswered IPMI request for
  about a minute, and killing ansible does not kill a module: every call must bound itself);
* :func:`run_power` is the one algorithm both protocols share: observe, act only when needed (idempotent),
  then poll the BMC until it reports the expected state or the wait is over, and return what was observed.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from typing import Any, Callable, Protocol

POWER_STATES = ("query", "on", "off", "shutdown", "reset", "cycle", "reboot")

# Arguments both modules take (merged into each module's own spec).
COMMON_ARGUMENT_SPEC: dict[str, dict[str, Any]] = dict(
    state=dict(type="str", default="query", choices=list(POWER_STATES)),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    credentials_file=dict(type="path"),
    credentials_key=dict(type="str", no_log=False),
    timeout=dict(type="float", default=5.0),
    wait_timeout=dict(type="float", default=0.0),
    poll_interval=dict(type="float", default=0.5),
)


class BmcError(Exception):
    """A BMC problem the module reports as its failure message."""


class BmcTimeout(BmcError):
    """The BMC did not answer within the call's time limit."""


class PowerDriver(Protocol):
    """What :func:`run_power` needs from a protocol: read the power state, send a power command."""

    def get_power(self) -> str:
        """``on``, ``off`` or another lower-case state the BMC reports (``powering_on`` ...)."""

    def command(self, state: str) -> None:
        """Send ``on``, ``off``, ``shutdown``, ``reset`` or ``cycle``."""


def load_credentials(path: str, key: str) -> tuple[str, str]:
    """Return ``(username, password)`` of ``key`` from the YAML credentials file at ``path``.

    The file must be a regular file that neither group nor others can read (like an ssh key).
    """
    import yaml  # ansible-core depends on PyYAML, so the module's interpreter has it

    try:
        info = os.stat(path)
    except OSError as exc:
        raise BmcError(f"cannot read the BMC credentials file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise BmcError(f"the BMC credentials file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise BmcError(f"the BMC credentials file {path} is readable by group or others "
                       f"(mode {stat.S_IMODE(info.st_mode):04o}); chmod 600 it")
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BmcError(f"cannot parse the BMC credentials file {path}: {type(exc).__name__}") from None
    entry = data.get(key) if isinstance(data, dict) else None
    if not isinstance(entry, dict) or not entry.get("username") or entry.get("password") is None:
        raise BmcError(f"the BMC credentials file {path} has no username/password for {key!r}")
    return str(entry["username"]), str(entry["password"])


def resolve_credentials(params: dict[str, Any]) -> tuple[str, str]:
    """Credentials from ``credentials_file`` + ``credentials_key``, or from ``username``/``password``."""
    if params.get("credentials_file"):
        if not params.get("credentials_key"):
            raise BmcError("credentials_key (the node's name in the credentials file) is required "
                           "with credentials_file")
        user, password = load_credentials(params["credentials_file"], params["credentials_key"])
        return params.get("username") or user, password
    if not params.get("username") or params.get("password") is None:
        raise BmcError("give either credentials_file and credentials_key, or username and password")
    return params["username"], params["password"]


def call_with_timeout(function: Callable[[], Any], timeout: float, what: str) -> Any:
    """Run ``function()`` in a daemon thread; raise BmcTimeout if it has not returned after ``timeout`` s.

    A call left running is abandoned: its thread is a daemon and dies with the module's process.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = function()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="bmc-call", daemon=True)
    worker.start()
    worker.join(max(0.001, timeout))
    if worker.is_alive():
        raise BmcTimeout(f"the BMC did not answer {what} within {timeout:.1f}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def expected_power(state: str) -> str | None:
    """The power state a ``state`` request should end in (None for a query)."""
    if state in ("on", "reset", "cycle", "reboot"):
        return "on"
    if state in ("off", "shutdown"):
        return "off"
    return None


def run_power(driver: PowerDriver, *, state: str, check_mode: bool, timeout: float, wait_timeout: float,
              poll_interval: float, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Observe, act if needed, observe again; return the module result (without ``msg``).

    ``on``/``off``/``shutdown`` send nothing when the BMC already reports the target (idempotent);
    ``reset``/``cycle`` always act; ``reboot`` powers on a node that is off and resets one that is on.
    After a command the BMC is polled every ``poll_interval`` s for at most ``wait_timeout`` s (0: one
    query) until it reports the target; ``reached`` says whether it did. Worst case, a run lasts
    ``3 * timeout + wait_timeout`` seconds (query, command, last query): size the task's ``timeout:`` so.
    """
    before = call_with_timeout(driver.get_power, timeout, "the power query")
    target = expected_power(state)
    result: dict[str, Any] = dict(changed=False, previous_powerstate=before, powerstate=before,
                                  command=None, reached=target is None or before == target, elapsed=0.0)
    if state == "query":
        return result
    if state == "reboot":
        command = "on" if before == "off" else "reset"
    elif state in ("reset", "cycle"):
        command = state
    elif before == target:
        return result
    else:
        command = state
    result.update(changed=True, command=command)
    if check_mode:
        return result
    started = time.monotonic()
    call_with_timeout(lambda: driver.command(command), timeout, f"the {command} command")
    deadline = started + max(0.0, wait_timeout)
    while True:
        current = call_with_timeout(driver.get_power, timeout, "the power query")
        if current == target or time.monotonic() + poll_interval > deadline:
            break
        sleep(poll_interval)
    result.update(powerstate=current, reached=current == target, elapsed=round(time.monotonic() - started, 3))
    return result
