"""Files that describe a running simulator to other processes: JSON description, inventory, secrets.

Written by ``python -m reconciler.sim`` (and by tests that run Ansible against a simulator) into a
directory, by :func:`write_files`:

``credentials.yml`` (mode 0600)
    ``{HOST: {username: U, password: P}}`` for every node: the BMC credentials (IPMI and Redfish).
    The only place the passwords are written; roles load it with ``include_vars`` and ``no_log``.
``control.token`` (mode 0600, only with a control endpoint)
    The bearer token for state-changing control requests.
``inventory.yml``
    An Ansible inventory fragment: group ``<group>`` (default ``sim``) with one host per node and
    the host vars ``kraken_platform`` (ipmi|redfish), ``kraken_mac``, ``kraken_bmc_host``,
    ``kraken_bmc_port`` (IPMI, UDP), ``kraken_redfish_uri`` (``host:port``, the ``baseuri`` of the
    ``community.general.redfish_*`` modules), ``kraken_redfish_ca_file`` (the services' certificate),
    ``kraken_bmc_credentials_file`` (``credentials.yml`` above), ``kraken_tftp_root``, and the markers the
    roles watch: ``kraken_boot_marker`` (the node's ``state.json``) and ``kraken_phone_home_marker``
    (``phoned-home`` in the node's folder, created by an OS that phones home).
``sim.json``
    Machine-readable description (format version 1): ``pid``, ``workdir``, ``tftp_root``,
    ``credentials_file``, ``tls_ca_file``, ``control`` (``{url, token_file}`` or null) and ``nodes``
    (see ``NodeInfo.to_dict``: name, mac, platform, ipmi host/port, redfish host/port/base_uri/url,
    username, state file, console log, boot file path). Written last, atomically: once it exists, the
    simulator is serving.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.sim.supervisor import Simulator

__all__ = ["FORMAT_VERSION", "SimFiles", "write_files"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class SimFiles:
    """Paths of the files :func:`write_files` wrote."""

    description: Path
    inventory: Path
    credentials: Path
    control_token: Path | None


def write_files(sim: Simulator, directory: Path, *, group: str = "sim") -> SimFiles:
    """Write credentials, control token, inventory fragment and ``sim.json`` for a started simulator."""
    directory = Path(directory).absolute()
    directory.mkdir(parents=True, exist_ok=True)
    credentials = directory / "credentials.yml"
    secrets = {node.name: {"username": node.username, "password": node.password} for node in sim.nodes}
    _write_atomic(
        credentials,
        "# BMC credentials (IPMI and Redfish) of the simulated nodes. Keep secret.\n"
        + yaml.safe_dump(secrets, sort_keys=False),
        mode=0o600,
    )
    token_file: Path | None = None
    if sim.control_token is not None:
        token_file = directory / "control.token"
        _write_atomic(token_file, sim.control_token + "\n", mode=0o600)

    hosts: dict[str, dict[str, Any]] = {}
    for node in sim.nodes:
        hosts[node.name] = {
            "kraken_platform": node.platform.value,
            "kraken_mac": node.mac,
            "kraken_bmc_host": node.ipmi_host,
            "kraken_bmc_port": node.ipmi_port,
            "kraken_redfish_uri": node.redfish_uri,
            "kraken_redfish_ca_file": str(sim.tls.cert_file),
            "kraken_bmc_credentials_file": str(credentials),
            "kraken_tftp_root": str(sim.tftp_root),
            # what the roles watch on a simulated node: its state (boot outcome) and the OS's phone-home
            "kraken_boot_marker": str(node.state_file),
            "kraken_phone_home_marker": str(node.node_dir / "phoned-home"),
        }
    inventory = directory / "inventory.yml"
    _write_atomic(
        inventory,
        "# Simulated nodes (reconciler.sim); regenerated on every simulator start.\n"
        + yaml.safe_dump({"all": {"children": {group: {"hosts": hosts}}}}, sort_keys=False),
        mode=0o644,
    )

    description = directory / "sim.json"
    control = None if sim.control_url is None else {"url": sim.control_url, "token_file": str(token_file)}
    document = {
        "version": FORMAT_VERSION,
        "pid": os.getpid(),
        "workdir": str(sim.workdir),
        "tftp_root": str(sim.tftp_root),
        "credentials_file": str(credentials),
        "tls_ca_file": str(sim.tls.cert_file),
        "inventory_file": str(inventory),
        "control": control,
        "nodes": [node.to_dict() for node in sim.nodes],
    }
    _write_atomic(description, json.dumps(document, indent=2) + "\n", mode=0o644)
    return SimFiles(description=description, inventory=inventory, credentials=credentials,
                    control_token=token_file)


def _write_atomic(path: Path, text: str, *, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
