"""Inventory commit → first ansible-runner launch, with 1,000 hosts in the inventory (goal: < 1 s median).

A converged 1,000-host fleet (acme.lab lamps, discovered state pre-seeded in the database) is watched by
the real DesiredSource + Engine + AnsibleRunnerExecutor. Each round commits an edit of one host's
host_vars (``git commit``) and measures the time until the executor launches the run for it. The
baseline in the same run is the floor any reconciler pays: ansible-core parsing that inventory
(``load_inventory``) once.

Prints one JSON object. Usage: python benchmarks/commit_to_launch.py [--hosts 1000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reconciler.engine.engine import Engine  # noqa: E402
from reconciler.engine.executor import AnsibleRunnerExecutor, RunRequest, RunResult  # noqa: E402
from reconciler.engine.metrics import EngineMetrics  # noqa: E402
from reconciler.engine.persistence import StateDB  # noqa: E402
from reconciler.engine.settings import EngineSettings, Settings  # noqa: E402
from reconciler.graph.checks import load_graph  # noqa: E402
from reconciler.inventory.desired import load_inventory  # noqa: E402
from reconciler.inventory.source import DesiredGeneration, DesiredSource  # noqa: E402

COLLECTIONS = [REPO / "tests" / "fixtures" / "collections", REPO / "collections"]


class TimedExecutor:
    """The real executor, noting when each launch is asked for."""

    def __init__(self, inner: AnsibleRunnerExecutor) -> None:
        self.inner = inner
        self.launches: list[tuple[float, list[str]]] = []
        self.launched = asyncio.Event()

    async def run(self, request: RunRequest, *, cancel: asyncio.Event | None = None) -> RunResult:
        self.launches.append((time.perf_counter(), list(request.hostvars)))
        self.launched.set()
        return await self.inner.run(request, cancel=cancel)


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", *args], cwd=folder, check=True,
                   capture_output=True, timeout=60)


def build_inventory(folder: Path, hosts: int, devices: Path) -> list[str]:
    names = [f"n{i:04d}" for i in range(hosts)]
    racks = {f"rack{r:02d}": {"hosts": {n: None for n in names[r::20]}} for r in range(20)}
    (folder / "group_vars").mkdir(parents=True)
    (folder / "host_vars").mkdir()
    (folder / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": racks}}))
    (folder / "group_vars" / "all.yml").write_text(yaml.safe_dump({
        "kraken_lamp": "DARK", "lab_dir": str(devices), "ansible_connection": "local"}))
    for rack in racks:
        (folder / "group_vars" / f"{rack}.yml").write_text(yaml.safe_dump({"rack": rack}))
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "fleet")
    return names


async def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    catalog, graph = load_graph(COLLECTIONS)
    devices = root / "devices"
    devices.mkdir()
    inventory = root / "inventory"
    names = build_inventory(inventory, args.hosts, devices)
    db = StateDB(root / "state" / "state.db")
    with db.transaction():
        for name in names:
            db.set_discovered(name, {"lamp": "DARK"}, at=time.time())
    executor = TimedExecutor(AnsibleRunnerExecutor(root / "state" / "work", catalog.collections))
    settings = EngineSettings(batch_window=args.batch_window, resync_interval=0, start_rate=0)
    engine = Engine(catalog=catalog, graph=graph, executor=executor, db=db, settings=settings,  # type: ignore[arg-type]
                    metrics=EngineMetrics(CollectorRegistry()))
    await engine.start()
    latencies: list[float] = []
    async with DesiredSource(inventory, catalog, debounce=args.debounce) as source:

        async def feed() -> None:
            async for update in source.updates():
                if isinstance(update, DesiredGeneration):
                    engine.apply_desired(update)

        feeder = asyncio.create_task(feed())
        while not (engine.ready and all(n.status.value == "converged" for n in engine.nodes())):
            await asyncio.sleep(0.05)
        assert not executor.launches, "the pre-seeded fleet should need no run"
        for round_ in range(args.rounds):
            host = names[round_ * 37 % len(names)]
            executor.launched.clear()
            (inventory / "host_vars" / f"{host}.yml").write_text(yaml.safe_dump({"kraken_lamp": "LIT"}))
            started = time.perf_counter()
            git(inventory, "add", "-A")
            git(inventory, "commit", "-q", "-m", f"light {host}")
            await asyncio.wait_for(executor.launched.wait(), timeout=60)
            launched_at, hosts = executor.launches[-1]
            assert host in hosts, (host, hosts)
            latencies.append(launched_at - started)
            # measure an idle reconciler each round: let the run finish and the host converge first
            while engine.node(host).status.value != "converged":  # type: ignore[union-attr]
                await asyncio.sleep(0.05)
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
    await engine.stop()
    db.close()
    loads = []
    for _ in range(3):
        began = time.perf_counter()
        load_inventory(inventory, catalog)
        loads.append(time.perf_counter() - began)
    latencies.sort()
    return {
        "benchmark": "commit_to_launch",
        "hosts": args.hosts,
        "rounds": args.rounds,
        "median_seconds": round(statistics.median(latencies), 3),
        "p90_seconds": round(latencies[int(0.9 * (len(latencies) - 1))], 3),
        "debounce": args.debounce,
        "batch_window": args.batch_window,
        "baseline_load_inventory_seconds": round(statistics.median(loads), 3),
        "goal_seconds": 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    defaults = Settings()
    parser.add_argument("--debounce", type=float, default=defaults.debounce)
    parser.add_argument("--batch-window", type=float, default=defaults.engine.batch_window)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kraken-bench-") as tmp:
        print(json.dumps(asyncio.run(measure(args, Path(tmp)))))


if __name__ == "__main__":
    main()
