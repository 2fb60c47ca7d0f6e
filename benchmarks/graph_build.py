"""How long loading a catalog and building its epistemic graph takes, and how big the graph gets.

Goal (issue): the Layercake catalog loads and builds in under 100 ms, since every ``kraken`` command
and every reconciler start does it. The synthetic catalogs (:mod:`synthetic`) show how the build
scales with the number of mutation variables; phase 1 explores the *unstripped* weakly connected
component of the root, so its size is reported too (``raw_states``/``raw_edges``).

The goal's 200-mutation, 10-variable catalog is attempted in a child process with a time limit:
the run must finish in under a minute, and phase 1 of that catalog does not (see the report).

Prints one JSON object. Usage: ``.venv/bin/python benchmarks/graph_build.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import synthetic

from reconciler.graph.epistemic import EpistemicGraph
from reconciler.model.catalog import Catalog

REPO = Path(__file__).resolve().parents[1]
SERIES = (4, 5, 6)  # mutation variables; 20 mutations per variable, like the 200-over-10 goal
GOAL_VARIABLES, GOAL_MUTATIONS, GOAL_TIME_LIMIT = 10, 200, 8.0


def _median_ms(runs: int, work: Callable[[], object]) -> tuple[float, object]:
    """Median wall time of ``runs`` calls, in ms, and the last call's result."""
    times = []
    result: object = None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 2), result


def _tracemalloc_peak_mib(work: Callable[[], object]) -> float:
    """Peak Python allocation of one run (tracing slows the run, so it is not timed)."""
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return round(peak / 2**20, 2)


def measure(paths: list[Path], runs: int) -> dict[str, Any]:
    """Load + build timings (median of ``runs``) and the graph's size, for the collections under ``paths``."""
    load_ms, catalog = _median_ms(runs, lambda: Catalog.load(paths))
    assert isinstance(catalog, Catalog)
    build_ms, graph = _median_ms(runs, lambda: EpistemicGraph.build(catalog))
    assert isinstance(graph, EpistemicGraph)
    # _expand is private: phase 1 alone is what grows with the unstripped state space
    raw_states, raw_edges = EpistemicGraph(catalog, catalog.mutation_variables)._expand()
    return {
        "mutations": len(catalog.mutations),
        "mutation_variables": len(graph.variables),
        "load_ms": load_ms,
        "build_ms": build_ms,
        "load_and_build_ms": _median_ms(runs, lambda: EpistemicGraph.build(Catalog.load(paths)))[0]
        if runs > 1 else round(load_ms + build_ms, 2),
        "nodes": graph.graph.number_of_nodes(),
        "edges": graph.graph.number_of_edges(),
        "raw_states": len(raw_states),
        "raw_edges": len(raw_edges),
        "tracemalloc_peak_mib": _tracemalloc_peak_mib(lambda: EpistemicGraph.build(Catalog.load(paths)))
        if len(raw_states) < 1000 else None,
        "runs": runs,
    }


def _goal_attempt(time_limit: float) -> dict[str, Any]:
    """Build the 200-mutation, 10-variable catalog in a child process; stop it after ``time_limit`` seconds."""
    code = (
        "import sys, time; sys.path.insert(0, sys.argv[1]); from synthetic import synthetic;"
        "from reconciler.graph.epistemic import EpistemicGraph;"
        f"c = synthetic(mutations={GOAL_MUTATIONS}, variables={GOAL_VARIABLES}).catalog(); t = time.perf_counter();"
        "g = EpistemicGraph.build(c);"
        "print(time.perf_counter() - t, g.graph.number_of_nodes(), g.graph.number_of_edges())"
    )
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parent)],
                              capture_output=True, text=True, timeout=time_limit, check=True)
    except subprocess.TimeoutExpired:
        return {"finished": False, "stopped_after_s": round(time.perf_counter() - start, 1),
                "child_max_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}
    seconds, nodes, edges = done.stdout.split()
    return {"finished": True, "build_ms": round(float(seconds) * 1000, 1), "nodes": int(nodes), "edges": int(edges)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs per timing (median reported)")
    args = parser.parse_args()

    result: dict[str, Any] = {"benchmark": "graph_build", "goal_layercake_ms": 100}
    layercake = measure([REPO / "collections"], args.runs)
    layercake["meets_goal"] = layercake["load_and_build_ms"] < result["goal_layercake_ms"]
    # other work on a shared machine inflates wall time; CPU time of the same work shows what the code costs
    cpu_start = time.process_time()
    for _ in range(args.runs):
        EpistemicGraph.build(Catalog.load([REPO / "collections"]))
    layercake["load_and_build_cpu_ms_mean"] = round((time.process_time() - cpu_start) / args.runs * 1000, 2)
    result["layercake"] = layercake

    series = []
    with tempfile.TemporaryDirectory() as tmp:
        for variables in SERIES:
            spec = synthetic(mutations=20 * variables, variables=variables)
            root = spec.write(Path(tmp) / f"v{variables}")
            series.append({"variables": variables, **measure([root], runs=3 if variables < SERIES[-1] else 1)})
    result["synthetic_series"] = series
    growth = [b["raw_states"] / a["raw_states"] for a, b in itertools.pairwise(series)]
    per_variable = statistics.fmean(growth)
    steps = GOAL_VARIABLES - SERIES[-1]
    last = series[-1]
    result["synthetic_goal"] = {
        "mutations": GOAL_MUTATIONS,
        "variables": GOAL_VARIABLES,
        **_goal_attempt(GOAL_TIME_LIMIT),
        "raw_states_growth_per_variable": round(per_variable, 2),
        "raw_states_extrapolated": round(last["raw_states"] * per_variable**steps),
        "build_s_extrapolated": round(last["build_ms"] / 1000 * per_variable**steps),
    }
    result["ru_maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
