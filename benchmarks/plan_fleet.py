"""How long planning a whole fleet takes, and what the planner's memo buys.

Goal (issue): 10,000 hosts planned in under 1 s, since the reconciler replans every host whose
state changed and a site-wide change (a new image name, a power-off of a rack) touches all of them.
The fleet is a realistic mix over the Layercake catalog — two platforms, most nodes running their
image, some busy, some new, dead, hung, updating or being powered off — so it falls into a few dozen
distinct situations, which is what memoization (:class:`Planner` ``_memo``) relies on.

The baseline plans a sample of the same hosts with the memo emptied before each one (what planning
costs without it), extrapolated to the fleet; ``memo_speedup`` is the ratio.

Prints one JSON object. Usage: ``.venv/bin/python benchmarks/plan_fleet.py [--hosts N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
import tracemalloc
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.graph.epistemic import EpistemicGraph
from reconciler.graph.planner import Planner
from reconciler.model.catalog import Catalog

REPO = Path(__file__).resolve().parents[1]
SYNCED = {"power": "POWER_ON", "pxe": "INIT", "runstate": "SYNC"}

# (weight, discovered, desired): what a fleet looks like on an ordinary day, and during a change
SITUATIONS: list[tuple[int, dict[str, str], dict[str, str]]] = [
    (55, {**SYNCED, "image": "ACTIVE"}, {"image": "ACTIVE"}),  # running as desired
    (8, {}, {"image": "ACTIVE"}),  # just racked: nothing known yet
    (6, {"power": "POWER_OFF"}, {"image": "ACTIVE"}),  # cold
    (8, {**SYNCED, "image": "ACTIVE"}, {"power": "POWER_OFF", "image": "ACTIVE"}),  # rack being powered off
    (6, {**SYNCED, "image": "UPDATE"}, {"image": "ACTIVE"}),  # rolling update
    (4, {**SYNCED, "image": "IDLE"}, {"image": "ACTIVE"}),
    (4, {"power": "POWER_ON", "pxe": "INIT", "runstate": "ERROR", "image": "ACTIVE"}, {"image": "ACTIVE"}),  # dead
    (3, {"power": "HANG"}, {"image": "ACTIVE"}),
    (3, {**SYNCED, "image": "ERROR"}, {"image": "ACTIVE"}),
    (2, {"power": "POWER_ON", "pxe": "WAIT"}, {"image": "ACTIVE"}),  # booting
    (1, {**SYNCED, "image": "FATAL"}, {"image": "ACTIVE"}),  # waits for a human
]


@dataclass(frozen=True)
class Host:
    desired: Mapping[str, str]
    discovered: Mapping[str, str]
    config: Mapping[str, str]


def fleet(size: int, seed: int) -> list[Host]:
    """``size`` hosts: 60 % IPMI, 40 % Redfish; a third of the synced ones busy (running jobs)."""
    rng = random.Random(seed)
    weights = [w for w, _, _ in SITUATIONS]
    hosts = []
    for _ in range(size):
        _, discovered, desired = rng.choices(SITUATIONS, weights)[0]
        observed = dict(discovered)
        if observed.get("runstate") == "SYNC":
            observed["busy"] = "BUSY" if rng.random() < 1 / 3 else "FREE"
        platform = "ipmi" if rng.random() < 0.6 else "redfish"
        hosts.append(Host(desired, observed, {"platform": platform, "image_name": "rocky9"}))
    return hosts


def plan_all(planner: Planner, hosts: list[Host]) -> Counter[str]:
    statuses: Counter[str] = Counter()
    for host in hosts:
        statuses[planner.plan(desired=host.desired, discovered=host.discovered, config=host.config).status.value] += 1
    return statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-sample", type=int, default=1_000, help="hosts planned without the memo")
    args = parser.parse_args()

    graph = EpistemicGraph.build(Catalog.load([REPO / "collections"]))
    hosts = fleet(args.hosts, args.seed)

    planner = Planner(graph)  # a fresh planner: the first host of each situation pays for its search
    wall, cpu = time.perf_counter(), time.process_time()
    statuses = plan_all(planner, hosts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    searches = len(planner._memo)  # private: one entry per distinct (start, goal, switched-off mutations)

    warm = time.perf_counter()
    plan_all(planner, hosts)  # the steady state of a running reconciler: every situation seen before
    warm = time.perf_counter() - warm

    sample = hosts[: args.baseline_sample]
    unmemoized = Planner(graph)
    base = time.perf_counter()
    for host in sample:
        unmemoized._memo.clear()
        unmemoized.plan(desired=host.desired, discovered=host.discovered, config=host.config)
    base = (time.perf_counter() - base) * len(hosts) / len(sample)

    tracemalloc.start()
    plan_all(Planner(graph), hosts)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    print(json.dumps({
        "benchmark": "plan_fleet",
        "hosts": len(hosts),
        "goal_s": 1.0,
        "total_s": round(wall, 4),
        "total_cpu_s": round(cpu, 4),
        "per_host_us": round(wall / len(hosts) * 1e6, 2),
        "meets_goal": wall < 1.0,
        "warm_total_s": round(warm, 4),
        "distinct_searches": searches,
        "statuses": dict(sorted(statuses.items())),
        "baseline_no_memo_s_extrapolated": round(base, 4),
        "baseline_sample_hosts": len(sample),
        "memo_speedup": round(base / wall, 1),
        "tracemalloc_peak_mib": round(peak / 2**20, 2),
        "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
