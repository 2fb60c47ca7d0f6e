"""``kraken demo``: a simulated cluster converging end to end on this one machine.

Everything real but the hardware: simulated nodes with IPMI and Redfish BMCs on loopback whose power
starts an "OS" that network-boots from the boot file the PXE role writes; the real ``kraken serve``
(inventory watched, engine, ansible-runner, SQLite, HTTP API) reconciling them with the shipped
kraken.core and kraken.layercake roles; progress read back over the API, as ``kraken status`` would.
Half the nodes are IPMI, half Redfish; with ``--fault`` a fault knob is set on one node at the start
(e.g. ``n02:power_stuck``) so the self-healing (timeout → HANG → recover) shows. With ``--roll IMAGE``
the converged cluster then gets a rolling update, started the way an operator starts one: an edit of
``kraken_image_name`` in the inventory (the image probe sees the nodes run another image: UPDATE).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reconciler.api.client import ApiClient
from reconciler.daemon.serve import run_serve
from reconciler.engine.persistence import StateDB
from reconciler.engine.settings import Settings
from reconciler.errors import UserError
from reconciler.model.api import NodeDoc
from reconciler.sim import Simulator, write_files

__all__ = ["DemoResult", "run_demo"]

log = logging.getLogger("kraken.demo")

IMAGE_NAME = "demo-2026.11"

# The node's "OS": it phones home (the marker the runstate role waits for) and stays up.
OS_EXEC = ["sh", "-c", "touch phoned-home; exec sleep 86400"]

# Waits sized for simulated hardware on a loaded 2-core machine (production defaults are longer).
DEMO_TIMINGS = {
    "kraken_power_ipmi_call_timeout": 3, "kraken_power_ipmi_wait": 5, "kraken_power_ipmi_poll_interval": 0.3,
    "kraken_power_ipmi_cold_seconds": 1,
    "kraken_power_redfish_call_timeout": 3, "kraken_power_redfish_wait": 5, "kraken_power_redfish_poll_interval": 0.3,
    "kraken_power_redfish_cold_seconds": 1,
    "kraken_pxe_boot_grace": 1, "kraken_pxe_boot_wait": 30, "kraken_runstate_sync_wait": 30,
    "kraken_runstate_boot_wait": 30,
}


_COUNTED = ("step_succeeded", "step_failed", "step_timeout")


@dataclass(frozen=True)
class DemoResult:
    converged: bool
    seconds: float
    nodes: list[NodeDoc]
    steps: int
    failures: int
    timeouts: int
    api: str
    workdir: Path
    rolled: bool | None = None  # None: no rolling update asked for
    roll_seconds: float = 0.0


def build_inventory(sim: Simulator, root: Path) -> Path:
    """The demo's inventory: the simulator's hosts (BMC addresses, MACs …) and the cluster's desired state."""
    files = write_files(sim, root / "simfiles")
    fragment = yaml.safe_load(files.inventory.read_text())
    hosts = fragment["all"]["children"]["sim"]["hosts"]
    images = publish_image(root, IMAGE_NAME)
    for name, values in hosts.items():
        node_dir = sim.node(name).node_dir
        values.update({  # the node's "file system", for the self-context (image, busy) steps
            "kraken_image_dir": str(node_dir / "fs" / "image"),
            "kraken_busy_file": str(node_dir / "fs" / "busy"),
        })
    inventory = root / "inventory"
    (inventory / "group_vars").mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {"compute": {"hosts": hosts}}}}))
    set_image_name(inventory, IMAGE_NAME, {
        "kraken_power": "POWER_ON",
        "kraken_image": "ACTIVE",
        "kraken_image_base_url": images.as_uri(),
        "kraken_pxe_dnsmasq_dir": str(root / "dnsmasq"),
        "kraken_pxe_exec": OS_EXEC,
        # self-context steps of these agentless nodes run over their ordinary connection: local here
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        **DEMO_TIMINGS,
    })
    return inventory


def publish_image(root: Path, name: str) -> Path:
    """Put an image named ``name`` in the demo's image repository; returns the repository."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    (images / name).write_text(f"image {name}\n")
    return images


def set_image_name(inventory: Path, name: str, rest: dict[str, Any] | None = None) -> None:
    """Write the cluster's group variables with ``kraken_image_name: name`` (the other values kept)."""
    path = inventory / "group_vars" / "all.yml"
    values = rest if rest is not None else yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**values, "kraken_image_name": name}, sort_keys=False))


def running_images(sim: Simulator) -> dict[str, str]:
    """Which image each simulated node runs, read from its file system ('' when none)."""
    found = {}
    for node in sim.nodes:
        marker = node.node_dir / "fs" / "image" / "running"
        found[node.name] = marker.read_text().strip() if marker.is_file() else ""
    return found


async def run_demo(*, nodes: int, workdir: Path, collections: Sequence[Path], listen: str, timeout: float,
                   faults: Sequence[str] = (), roll_to: str | None = None, on_progress: Any = None) -> DemoResult:
    """Start the simulated cluster and the reconciler, wait until every node converged (or ``timeout``).

    With ``roll_to``, then roll every node to that image by editing the inventory, and wait until every node
    runs it and is converged again (within what is left of ``timeout``).
    """
    if nodes < 1:
        raise UserError("--nodes must be at least 1")
    if roll_to is not None and (not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", roll_to) or roll_to == IMAGE_NAME):
        raise UserError(f"--roll {roll_to!r}: name another image than {IMAGE_NAME}, as a plain file name "
                        "(letters, digits, . _ -), e.g. demo-2026.12")
    workdir.mkdir(parents=True, exist_ok=True)
    with Simulator(nodes, workdir=workdir / "sim", platform="alternate") as sim:
        for fault in faults:
            node, _, knob = fault.partition(":")
            if node not in {n.name for n in sim.nodes} or not knob:
                raise UserError(f"--fault {fault!r}: expected NODE:KNOB with NODE one of the simulated nodes")
            sim.set_fault(node, knob)
        inventory = build_inventory(sim, workdir)
        settings = Settings.model_validate({
            "inventory": inventory, "collections": list(collections), "state_dir": workdir / "state",
            "api": {"listen": listen}, "engine": {"resync_interval": 0, "straggler_wait": 2.0},
        })
        stop = asyncio.Event()
        server = asyncio.create_task(run_serve(settings, stop=stop))
        client = ApiClient(f"http://{listen}")
        started = time.monotonic()
        current: list[NodeDoc] = []
        rolled: bool | None = None
        roll_seconds = 0.0

        async def wait_until(done: Any) -> bool:
            nonlocal current
            while time.monotonic() - started < timeout:
                if server.done():
                    server.result()  # the reconciler stopped: raise its error
                    return False
                with contextlib.suppress(UserError):  # not listening yet
                    current = await asyncio.to_thread(client.nodes)
                if on_progress is not None:
                    on_progress(current, time.monotonic() - started)
                if current and all(n.status.value == "converged" for n in current) and done():
                    return True
                await asyncio.sleep(0.5)
            return False

        try:
            converged = await wait_until(lambda: True)
            seconds = time.monotonic() - started
            if roll_to and converged:
                publish_image(workdir, roll_to)
                set_image_name(inventory, roll_to)
                log.info("event=roll image=%s", roll_to)
                rolled = await wait_until(lambda: set(running_images(sim).values()) == {roll_to})
                roll_seconds = time.monotonic() - started - seconds
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server, timeout=60)
        # Read from the stopped reconciler's journal: everything is committed there, nothing is still in flight.
        db = StateDB(workdir / "state" / "state.db", read_only=True)
        try:
            kinds = [e.kind.value for e in db.events(limit=1_000_000, kinds=_COUNTED)]
        finally:
            db.close()
        return DemoResult(converged, seconds, current, kinds.count("step_succeeded"), kinds.count("step_failed"),
                          kinds.count("step_timeout"), f"http://{listen}", workdir, rolled, roll_seconds)
