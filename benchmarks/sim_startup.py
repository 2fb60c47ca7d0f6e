"""Start-up and stop time of the simulator (reconciler.sim) for 50 nodes; prints one JSON document.

Each round starts a fresh 50-node Simulator (50 IPMI BMCs + 50 HTTPS Redfish services + control
endpoint, all on loopback) in a temporary directory and stops it again. Reported: every round's
start and stop seconds, the median and the maximum.

    .venv/bin/python benchmarks/sim_startup.py [--nodes 50] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from reconciler.sim import Simulator


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    starts: list[float] = []
    stops: list[float] = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="sim-bench-") as tmp:
            sim = Simulator(args.nodes, workdir=Path(tmp), control=True)
            began = time.perf_counter()
            sim.start()
            starts.append(time.perf_counter() - began)
            began = time.perf_counter()
            sim.stop()
            stops.append(time.perf_counter() - began)
    result = {
        "benchmark": "sim_startup",
        "nodes": args.nodes,
        "rounds": args.rounds,
        "start_seconds": [round(value, 4) for value in starts],
        "start_seconds_median": round(statistics.median(starts), 4),
        "start_seconds_max": round(max(starts), 4),
        "stop_seconds_median": round(statistics.median(stops), 4),
        "python": platform.python_version(),
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
