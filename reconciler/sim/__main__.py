"""``python -m reconciler.sim``: run a simulator as its own process until SIGTERM or SIGINT.

It writes ``sim.json``, ``inventory.yml``, ``credentials.yml`` and ``control.token`` into
``--workdir`` (see :mod:`reconciler.sim.export`) and serves the control endpoint on loopback, so
tests and the demo in other processes can find the nodes and flip fault knobs. Passwords never
appear on the command line or in logs: they are generated and written to the 0600 credentials file.
Logs go to stderr, one ``key=value`` event per line. Exit status: 0 after a clean stop, 2 for bad
arguments, 1 for any other failure.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from reconciler.sim.errors import SimError
from reconciler.sim.export import write_files
from reconciler.sim.supervisor import PlatformPolicy, Simulator

log = logging.getLogger("reconciler.sim")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.sim",
        description="Run simulated machines (IPMI + Redfish BMCs, PXE boot, OS processes) on loopback.",
    )
    parser.add_argument("--nodes", type=int, default=4, help="number of nodes (default 4)")
    parser.add_argument("--workdir", type=Path, required=True,
                        help="directory for node state, TLS files and the description files")
    parser.add_argument("--tftp-root", type=Path, default=None,
                        help="where boot files are read from (default WORKDIR/tftp)")
    parser.add_argument("--platform", choices=[p.value for p in PlatformPolicy], default="alternate",
                        help="kraken_platform per node: alternate ipmi/redfish (default), or all one")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (127.0.0.0/8)")
    parser.add_argument("--username", default="admin", help="BMC user name (passwords are generated)")
    parser.add_argument("--name-prefix", default="n", help="node names are PREFIX01, PREFIX02, ...")
    parser.add_argument("--group", default="sim", help="inventory group of the nodes (default sim)")
    parser.add_argument("--graceful-timeout", type=float, default=5.0,
                        help="seconds a graceful shutdown waits for the OS before cutting power")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        stream=sys.stderr,
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("event=sim.signal signal=%s", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        sim = Simulator(
            args.nodes, workdir=args.workdir, tftp_root=args.tftp_root, host=args.host,
            username=args.username, platform=args.platform, name_prefix=args.name_prefix,
            graceful_timeout=args.graceful_timeout, control=True,
        )
    except SimError as exc:
        print(f"python -m reconciler.sim: error: {exc}", file=sys.stderr)
        return 2
    try:
        with sim:
            files = write_files(sim, args.workdir, group=args.group)
            log.info(
                "event=sim.ready nodes=%d description=%s inventory=%s control=%s",
                sim.count, files.description, files.inventory, sim.control_url,
            )
            while not stop.wait(3600):
                pass
    except SimError as exc:
        log.error("event=sim.failed error=%s", exc)
        return 1
    except OSError as exc:
        log.error("event=sim.failed error=%s", exc)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("event=sim.exit status=0")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
