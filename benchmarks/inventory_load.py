"""Desired-state load time for a large inventory, against ansible-core's own ``ansible-inventory --list``.

Issue 5 wants "inventory commit -> first ansible-runner launch" under 1 s with 1,000 hosts, and the reconciler
reloads the inventory on every commit, so ``load_inventory`` must be a fraction of that. This script writes an
inventory of N hosts in racks (nested groups, group_vars/ for every group, host_vars/ for one host in 20, a
second group every 7th host is in), then prints one JSON object:

* ``seconds`` — ``load_inventory`` in a process that has already imported ansible-core (a daemon), median of runs;
* ``per_host_ms`` — the same per host;
* ``baseline_seconds`` — ``ansible-inventory -i INV --list`` on the same inventory (a subprocess, as an operator
  would run it; it includes starting Python and importing ansible-core, reported separately as ``import_seconds``);
* ``plain_seconds`` — the naive in-process path: ``InventoryManager`` + ``VariableManager.get_vars`` per host.

Usage: ``python benchmarks/inventory_load.py [--hosts 1000] [--runs 5]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def build_inventory(root: Path, hosts: int, racks: int = 10) -> Path:
    """Write the benchmark inventory under ``root`` and return its folder."""
    inventory = root / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "host_vars").mkdir()
    rack_groups: dict[str, Any] = {f"rack{r:02d}": {"hosts": {}} for r in range(racks)}
    gpu: dict[str, Any] = {}
    for index in range(hosts):
        name = f"n{index:04d}"
        rack_groups[f"rack{index % racks:02d}"]["hosts"][name] = {
            "ansible_host": f"10.0.{index // 250}.{index % 250}",
            "kraken_bmc_address": f"10.1.{index // 250}.{index % 250}",
        }
        if index % 7 == 0:
            gpu[name] = None
        if index % 20 == 0:
            (inventory / "host_vars" / f"{name}.yml").write_text("kraken_power: POWER_OFF\n")
    tree = {"all": {"vars": {"kraken_power": "POWER_ON"}, "children": {
        "compute": {"vars": {"kraken_image": "ACTIVE"}, "children": rack_groups},
        "gpu": {"hosts": gpu},
    }}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(tree))
    (inventory / "group_vars" / "all.yml").write_text("kraken_platform: ipmi\nntp_server: pool.ntp.org\n")
    (inventory / "group_vars" / "compute.yml").write_text("kraken_runstate: SYNC\n")
    (inventory / "group_vars" / "gpu.yml").write_text("kraken_image_name: cuda\n")
    for rack in rack_groups:
        (inventory / "group_vars" / f"{rack}.yml").write_text(f"rack: {rack}\nkraken_pxe: INIT\n")
    return inventory


def time_load(inventory: Path, runs: int) -> tuple[float, int]:
    from reconciler.inventory.desired import load_inventory
    from reconciler.model.catalog import Catalog

    catalog = Catalog.load([REPO / "collections"])
    load_inventory(inventory, catalog)  # warm: a daemon has imported ansible-core and its plugins already
    samples = []
    count = 0
    for _ in range(runs):
        start = time.perf_counter()
        count = len(load_inventory(inventory, catalog).hosts)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), count


def time_plain(inventory: Path) -> float:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    start = time.perf_counter()
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    for host in manager.get_hosts():
        variables.get_vars(host=host, include_hostvars=False, stage="all")
    return time.perf_counter() - start


def time_command(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=600)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        inventory = build_inventory(Path(tmp), options.hosts)
        import_seconds = time_command([sys.executable, "-c", "import ansible.inventory.manager, "
                                       "ansible.vars.manager"], cwd=Path(tmp))
        seconds, hosts = time_load(inventory, options.runs)
        plain = time_plain(inventory)
        baseline = time_command([str(bin_dir / "ansible-inventory"), "-i", str(inventory), "--list"], cwd=Path(tmp))
    print(json.dumps({
        "hosts": hosts,
        "seconds": round(seconds, 3),
        "per_host_ms": round(1000 * seconds / max(hosts, 1), 3),
        "baseline_seconds": round(baseline, 3),
        "plain_seconds": round(plain, 3),
        "import_seconds": round(import_seconds, 3),
        "runs": options.runs,
    }))


if __name__ == "__main__":
    main()
