"""A real `kraken serve` process for tests: started on a free loopback port, stopped (or killed) cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from enginelab import COLLECTIONS, Lab

KRAKEN = str(Path(sys.executable).with_name("kraken"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(lab: Lab, port: int, config: dict | None = None) -> Iterator[subprocess.Popen[bytes]]:
    args = [KRAKEN, "serve", "-i", str(lab.inventory), "--state-dir", str(lab.state_dir),
            "--listen", f"127.0.0.1:{port}"]
    for path in COLLECTIONS:
        args += ["-c", str(path)]
    if config:
        config_file = lab.root / "serve.yml"
        config_file.write_text(yaml.safe_dump(config))
        args += ["--config", str(config_file)]
    log = (lab.root / "serve.log").open("ab")
    process = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
        _kill_leftovers(lab)


def _kill_leftovers(lab: Lab) -> None:
    """ansible-playbook children outlive a SIGKILLed reconciler: end every process using this lab's state."""
    marker = str(lab.state_dir).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                continue


def node(port: int, host: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/nodes/{host}", timeout=5) as response:
            return json.load(response)
    except OSError:
        return None


def wait(condition, *, timeout: float = 180.0, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
