"""Fixtures of the role tests: the real collections, a running simulator, and steps run as the engine runs them.

A :class:`RoleLab` runs one mutation (or probe) of ``collections/kraken`` for some simulated nodes through
:class:`~reconciler.engine.executor.AnsibleRunnerExecutor`, exactly as the reconciler does (generated play,
``include_role`` + ``tasks_from``, child steps forced onto ``connection: local``), and returns the per-host
results. The hostvars are the simulator's inventory fragment plus:

* the two markers the roles need and the fragment does not carry yet: ``kraken_boot_marker`` (the node's
  ``state.json``: it says ``"boot_outcome": "booted"`` once the node fetched its boot file) and
  ``kraken_phone_home_marker`` (``<node dir>/phoned-home``, created by the node's OS at boot);
* the node's "OS": ``sh -c 'touch phoned-home; exec sleep 600'`` (run in the node's directory);
* a per-node directory standing for the node's file system (image dir, busy file) and, for self-context
  steps (agentless nodes: the node's ordinary connection), ``ansible_connection: local``;
* short waits, so a fault fails a step in seconds instead of the production defaults.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.engine.executor import AnsibleRunnerExecutor, RunRequest, RunResult
from reconciler.graph.epistemic import EpistemicGraph
from reconciler.graph.planner import Planner
from reconciler.model.catalog import Catalog, Step
from reconciler.model.types import Context, MutationId
from reconciler.sim import Simulator, write_files

REPO = Path(__file__).resolve().parents[3]
COLLECTIONS = REPO / "collections"
IMAGE_NAME = "hello-1"
RUN_DEADLINE = 90.0  # seconds

# The node's OS: phone home (create the marker in its own directory, the cwd), then run until killed.
OS_EXEC = ["sh", "-c", "touch phoned-home; exec sleep 600"]

FAST = {
    "kraken_power_ipmi_call_timeout": 3,  # above pyghmi's own retransmit (0.5-1 s): a lost datagram is no failure
    "kraken_power_ipmi_wait": 2,
    "kraken_power_ipmi_poll_interval": 0.2,
    "kraken_power_ipmi_cold_seconds": 0,
    "kraken_power_redfish_call_timeout": 1,
    "kraken_power_redfish_wait": 2,
    "kraken_power_redfish_poll_interval": 0.2,
    "kraken_power_redfish_cold_seconds": 0,
    "kraken_pxe_boot_grace": 0,
    "kraken_pxe_boot_wait": 3,
    "kraken_runstate_sync_wait": 3,
    "kraken_runstate_boot_wait": 5,
}


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load([COLLECTIONS])


@pytest.fixture(scope="session")
def planner(catalog: Catalog) -> Planner:
    return Planner(EpistemicGraph.build(catalog))


class RoleLab:
    """A simulator's nodes plus the executor, with a helper to run one step for some of them."""

    def __init__(self, sim: Simulator, catalog: Catalog, root: Path) -> None:
        self.sim = sim
        self.catalog = catalog
        self.root = root
        self.files = write_files(sim, root / "simfiles")
        self.images = root / "images"
        self.images.mkdir()
        (self.images / IMAGE_NAME).write_text("image hello, version 1\n")
        (self.images / "hello-2").write_text("image hello, version 2\n")
        self.executor = AnsibleRunnerExecutor(root / "executor", catalog.collections)
        self._seq = itertools.count(1)
        import yaml

        fragment = yaml.safe_load(self.files.inventory.read_text())
        self.inventory: dict[str, dict[str, Any]] = fragment["all"]["children"]["sim"]["hosts"]
        self.overrides: dict[str, dict[str, Any]] = {name: {} for name in self.inventory}

    def node_dir(self, host: str) -> Path:
        return self.sim.node(host).node_dir

    def hostvars(self, host: str, mutation: Step) -> dict[str, Any]:
        node_dir = self.node_dir(host)
        values: dict[str, Any] = {
            **self.inventory[host],
            "kraken_boot_marker": str(node_dir / "state.json"),
            "kraken_phone_home_marker": str(node_dir / "phoned-home"),
            "kraken_pxe_dnsmasq_dir": str(self.root / "dnsmasq"),
            "kraken_pxe_exec": OS_EXEC,
            "kraken_image_name": IMAGE_NAME,
            "kraken_image_base_url": self.images.as_uri(),
            "kraken_image_dir": str(node_dir / "fs" / "image"),
            "kraken_busy_file": str(node_dir / "fs" / "busy"),
            **FAST,
        }
        if mutation.context is not Context.CHILD:  # an agentless node: its ordinary connection (here: local)
            values.update(ansible_connection="local", ansible_python_interpreter=sys.executable)
        values.update(self.overrides[host])
        return values

    def mutation(self, mutation_id: str) -> Step:
        key = MutationId(mutation_id)
        return self.catalog.mutations[key] if key in self.catalog.mutations else self.catalog.probes[key]

    def run(self, mutation_id: str, hosts: list[str] | None = None, *, timeout: float | None = None) -> RunResult:
        """Run one step for ``hosts`` (default: every node) in one ansible-runner run, as the engine does."""
        mutation = self.mutation(mutation_id)
        hosts = hosts or list(self.inventory)
        # The roles' own bounds (FAST) decide these tests; the run's deadline only guards against a hang, and is
        # roomier than the mutation's (10 s for power steps) so a loaded CI machine's slow ansible start-up is no
        # failure. test_faults shows the deadline itself at work.
        deadline = timeout if timeout is not None else max(mutation.timeout, RUN_DEADLINE)
        request = RunRequest(run_id=f"step-{next(self._seq):03d}-{mutation.name}", step=mutation,
                             hostvars={h: self.hostvars(h, mutation) for h in hosts}, timeout=deadline)
        return asyncio.run(self.executor.run(request))

    @staticmethod
    def stdout(result: RunResult) -> str:
        """The run's ansible output (the operator's record)."""
        return "\n".join(p.read_text() for p in result.record.glob("artifacts/*/stdout"))

    @staticmethod
    def report(result: RunResult, host: str) -> tuple[str, dict[str, str], str]:
        """``(outcome, discovered values, message)`` of one host."""
        got = result.hosts[host]
        return got.outcome.value, dict(got.discovered), got.message


@pytest.fixture
def make_lab(tmp_path: Path, catalog: Catalog) -> Iterator[Any]:
    """``make_lab(nodes=1, platform="ipmi")`` -> a started :class:`RoleLab`; every simulator is stopped after."""
    sims: list[Simulator] = []

    def make(nodes: int = 1, platform: str = "ipmi") -> RoleLab:
        root = tmp_path / f"lab{len(sims)}"
        sim = Simulator(nodes, workdir=root / "sim", platform=platform, graceful_timeout=1.0,
                        fault_hold_timeout=5.0)
        sims.append(sim)
        sim.start()
        return RoleLab(sim, catalog, root)

    yield make
    for sim in sims:
        sim.stop()

