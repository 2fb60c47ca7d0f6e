"""Converging N hosts through a 7-step chain: the reconciler against one hand-written ansible-playbook.

Both run the same seven trivial roles (benchmarks/collections/bench/chain) on the same hosts with
``connection: local``, in the same process environment, one after the other in this run:

* baseline: ``ansible-playbook playbooks/bench-chain-baseline.yml`` (the seven roles in order, forks = N);
* reconciler: an in-process :class:`~reconciler.engine.engine.Engine` with a real ansible-runner executor,
  from "desired state applied" to "every host converged" (it discovers, plans, batches each step into one
  run, observes every result).

Prints one JSON object; ``ratio`` is reconciler seconds / baseline seconds (goal <= 1.15).
Usage: python benchmarks/converge_chain.py [--hosts 50] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reconciler.engine.engine import Engine  # noqa: E402
from reconciler.engine.executor import AnsibleRunnerExecutor  # noqa: E402
from reconciler.engine.metrics import EngineMetrics  # noqa: E402
from reconciler.engine.persistence import StateDB  # noqa: E402
from reconciler.engine.settings import EngineSettings  # noqa: E402
from reconciler.graph.checks import load_graph  # noqa: E402
from reconciler.inventory.desired import load_inventory  # noqa: E402

COLLECTIONS = [REPO / "benchmarks" / "collections", REPO / "collections"]


@dataclass
class _Generation:
    generation: int
    state: object
    commit: str | None
    dirty: bool | None
    loaded_at: float


def write_inventory(folder: Path, hosts: int) -> Path:
    folder.mkdir(parents=True)
    names = {f"h{i:03d}": None for i in range(hosts)}
    (folder / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": names, "vars": {
        "kraken_phase": "P7", "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    return folder


def baseline(inventory: Path, env: dict[str, str], hosts: int) -> float:
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), "-f", str(hosts),
                    str(REPO / "playbooks" / "bench-chain-baseline.yml")], env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=1800)
    return time.perf_counter() - started


async def reconcile(inventory: Path, work: Path, hosts: int) -> tuple[float, int]:
    catalog, graph = load_graph(COLLECTIONS)
    db = StateDB(work / "state.db")
    executor = AnsibleRunnerExecutor(work / "runner", catalog.collections, max_concurrent=4)
    settings = EngineSettings(batch_window=0.2, resync_interval=0, start_rate=0, forks=hosts, max_batch=hosts)
    engine = Engine(catalog=catalog, graph=graph, executor=executor, db=db, settings=settings,
                    metrics=EngineMetrics(CollectorRegistry()))
    await engine.start()
    state = load_inventory(inventory, catalog)
    started = time.perf_counter()
    engine.apply_desired(_Generation(1, state, None, None, time.time()))
    while not all(node.status.value == "converged" for node in engine.nodes()):
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    runs = len({e.run_id for e in db.events(limit=100_000, kinds=["step_started"])})
    await engine.stop()
    db.close()
    return seconds, runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kraken-bench-") as tmp:
        root = Path(tmp)
        inventory = write_inventory(root / "inventory", args.hosts)
        catalog, _ = load_graph(COLLECTIONS)
        # the same collections farm and ansible environment the reconciler's executor uses
        probe = AnsibleRunnerExecutor(root / "env", catalog.collections)
        env = {**os.environ, **probe.environment}
        base, ours, runs = [], [], []
        for i in range(args.repeat):
            base.append(baseline(inventory, env, args.hosts))
            seconds, count = asyncio.run(reconcile(inventory, root / f"work{i}", args.hosts))
            ours.append(seconds)
            runs.append(count)
        result = {
            "benchmark": "converge_chain",
            "hosts": args.hosts,
            "steps": 7,
            "baseline_ansible_playbook_seconds": round(statistics.median(base), 2),
            "reconciler_seconds": round(statistics.median(ours), 2),
            "ratio": round(statistics.median(ours) / statistics.median(base), 3),
            "ansible_runner_runs": runs,
            "repeat": args.repeat,
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result))


if __name__ == "__main__":
    main()
