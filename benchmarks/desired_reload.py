"""Inventory commit → new generation of desired state delivered, with 1,000 hosts; prints one JSON document.

The reconciler's goal is "inventory commit → first ansible-runner launch < 1 s median with 1,000 hosts" (issue 5).
This measures the first part of that path, the desired-state source (reconciler.inventory.source), on a git-tracked
temporary inventory of ``--hosts`` hosts (racks with group_vars, per-host BMC settings, as a lab would write it):

* ``worktree`` mode (the default of ``kraken serve``): an edit is written and committed at once, as an operator
  does in the clone the reconciler watches; timed from the start of the edit until the generation carrying the
  new commit reaches an ``updates()`` consumer.
* ``branch`` mode (``follow_branch="main"``): the edit is written first (it has no effect), then timed from the
  start of ``git commit`` until the generation carrying that commit is delivered.

Each mode runs one warm-up edit and then ``--edits`` measured ones (alternating a host_vars file and a rack's
group_vars). Also reported: the time ``load_inventory`` alone took (ansible-core parse + validation), the whole
reload in the worker thread (git + export + load), and the source's own overhead (each sample minus its load:
debounce, event delivery, ``git``, export, hand-off to the consumer). The debounce is part of every sample.

    .venv/bin/python benchmarks/desired_reload.py [--hosts 1000] [--edits 10] [--debounce 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from reconciler.inventory.desired import InventoryState, load_inventory
from reconciler.inventory.source import DesiredGeneration, DesiredSource, DesiredUpdate
from reconciler.model.catalog import Catalog

REPO = Path(__file__).resolve().parents[1]
RACK = 40
BUDGET = 1.0
"""Seconds: the median goal for inventory commit → first ansible-runner launch."""


class TimedLoader:
    """``load_inventory``, timed."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def __call__(self, path: Path, catalog: Catalog) -> InventoryState:
        began = time.perf_counter()
        state = load_inventory(path, catalog)
        self.seconds.append(time.perf_counter() - began)
        return state


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid",
                    "-c", "commit.gpgsign=false", *args], cwd=repo, check=True, capture_output=True, timeout=60)


def write_inventory(inv: Path, hosts: int) -> list[str]:
    """A lab of ``hosts`` nodes in racks of :data:`RACK`; returns the rack names."""
    racks = [f"rack{r:02d}" for r in range((hosts + RACK - 1) // RACK)]
    lines = ["all:", "  children:"]
    for r, rack in enumerate(racks):
        lines += [f"    {rack}:", "      hosts:"]
        for i in range(r * RACK, min(hosts, (r + 1) * RACK)):
            lines += [f"        n{i:04d}:", f"          ansible_host: 10.{i // 250}.{i % 250}.10",
                      f"          kraken_bmc_address: 10.{100 + i // 250}.{i % 250}.10"]
    (inv / "group_vars").mkdir(parents=True)
    (inv / "host_vars").mkdir()
    (inv / "hosts.yml").write_text("\n".join(lines) + "\n")
    (inv / "group_vars" / "all.yml").write_text(
        "kraken_power: POWER_ON\nkraken_platform: ipmi\nkraken_image: ACTIVE\nkraken_image_name: base\n")
    for rack in racks:
        (inv / "group_vars" / f"{rack}.yml").write_text("kraken_image_name: base\n")
    (inv / "host_vars" / "n0000.yml").write_text("kraken_power: POWER_ON\n")
    return racks


def edit(inv: Path, racks: list[str], k: int) -> None:
    """The k-th edit: every edit changes the desired state of one host or one rack."""
    if k % 2:
        rack = racks[k % len(racks)]
        (inv / "group_vars" / f"{rack}.yml").write_text(f"kraken_image_name: image-{k}\n")
    else:
        (inv / "host_vars" / "n0000.yml").write_text(f"kraken_power: {'POWER_ON' if k % 4 else 'POWER_OFF'}\n")


async def delivered(stream: AsyncIterator[DesiredUpdate], repo: Path) -> DesiredGeneration:
    """The next generation whose commit is the repository's HEAD (earlier ones, e.g. dirty, are skipped)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True,
                          timeout=60).stdout.strip()
    while True:
        update = await asyncio.wait_for(anext(stream), 60)
        if isinstance(update, DesiredGeneration) and update.commit == head:
            return update
        if not isinstance(update, DesiredGeneration):
            raise RuntimeError(f"edit rejected: {update}")


async def measure(mode: str, inv: Path, repo: Path, racks: list[str], catalog: Catalog, *, edits: int,
                  debounce: float, state_dir: Path) -> dict[str, Any]:
    loader = TimedLoader()
    branch = "main" if mode == "branch" else None
    samples: list[float] = []
    reloads: list[float] = []
    overheads: list[float] = []
    async with DesiredSource(inv, catalog, debounce=debounce, follow_branch=branch, state_dir=state_dir,
                             loader=loader) as source:
        stream = source.updates()
        await asyncio.wait_for(anext(stream), 60)  # the initial load
        for k in range(edits + 1):
            if mode == "branch":
                edit(inv, racks, k)
                began = time.perf_counter()
            else:
                began = time.perf_counter()
                edit(inv, racks, k)
            git(repo, "commit", "-q", "-am", f"edit {k}")
            generation = await delivered(stream, repo)
            if k:  # the first edit warms caches up
                samples.append(time.perf_counter() - began)
                reloads.append(generation.seconds)
                overheads.append(samples[-1] - loader.seconds[-1])
            while not source.idle:  # let a trailing reload (worktree: a second event burst) finish
                await asyncio.sleep(0.01)
    return {
        "median_seconds": round(statistics.median(samples), 4),
        "p90_seconds": round(_p90(samples), 4),
        "reload_seconds_median": round(statistics.median(reloads), 4),
        "load_seconds_median": round(statistics.median(loader.seconds), 4),
        "source_overhead_seconds_median": round(statistics.median(overheads), 4),
        "samples": [round(s, 4) for s in samples],
        "reloads": source.stats().reloads,
    }


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


async def run(hosts: int, edits: int, debounce: float) -> dict[str, Any]:
    catalog = Catalog.load([REPO / "collections"])
    modes: dict[str, Any] = {}
    for mode in ("worktree", "branch"):
        with tempfile.TemporaryDirectory(prefix="desired-bench-") as tmp:
            repo = Path(tmp) / "repo"
            inv = repo / "inventory"
            racks = write_inventory(inv, hosts)
            git(repo, "init", "-q", "-b", "main")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "lab")
            modes[mode] = await measure(mode, inv, repo, racks, catalog, edits=edits, debounce=debounce,
                                        state_dir=Path(tmp) / "state")
    main = modes["worktree"]
    return {
        "benchmark": "desired_reload",
        "hosts": hosts,
        "edits": edits,
        "debounce": debounce,
        "median_seconds": main["median_seconds"],
        "p90_seconds": main["p90_seconds"],
        "load_seconds_median": main["load_seconds_median"],
        "budget_seconds": BUDGET,
        "budget_used_median": round(main["median_seconds"] / BUDGET, 3),
        "source_overhead_seconds_median": main["source_overhead_seconds_median"],
        "modes": modes,
        "python": platform.python_version(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--debounce", type=float, default=0.05)
    args = parser.parse_args()
    result = asyncio.run(run(args.hosts, args.edits, args.debounce))
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
