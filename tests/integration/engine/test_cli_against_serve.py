"""`kraken status | events | freeze | thaw` against a real `kraken serve` process, as an operator uses them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from enginelab import Lab
from serving import free_port, node, serve, wait

pytestmark = pytest.mark.integration

KRAKEN = str(Path(sys.executable).with_name("kraken"))


def kraken(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KRAKEN, *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **(env or {})})


def test_status_events_freeze_and_thaw_over_the_api(lab: Lab) -> None:
    lab.write({"a": None, "b": None}, {"kraken_lamp": "LIT"})
    token = lab.root / "api.token"
    token.write_text("s3cret-token-for-tests\n")
    token.chmod(0o600)
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with serve(lab, port, {"api": {"token_file": str(token)}}):
        wait(lambda: all((node(port, h) or {}).get("status") == "converged" for h in "ab"), what="converged")

        status = kraken("status", "--api", api, "--format", "json")
        assert status.returncode == 0, status.stderr
        nodes = {n["name"]: n for n in json.loads(status.stdout)["nodes"]}
        assert nodes["a"]["discovered"] == {"lamp": "LIT"} and nodes["b"]["status"] == "converged"
        table = kraken("status", "--api", api)
        assert table.returncode == 0 and "converged" in table.stdout and "lamp=LIT" in table.stdout

        events = kraken("events", "--api", api, "--host", "a", "--format", "json")
        kinds = [json.loads(line)["kind"] for line in events.stdout.splitlines()]
        assert events.returncode == 0 and kinds.count("step_succeeded") == 2 and "step_started" in kinds

        refused = kraken("freeze", "a", "--api", api)
        assert refused.returncode == 2 and "--token-file" in refused.stderr

        frozen = kraken("freeze", "a", "--api", api, "--token-file", str(token), "--format", "json")
        assert frozen.returncode == 0, frozen.stderr
        assert json.loads(frozen.stdout)["hosts"] == ["a"]
        wait(lambda: (node(port, "a") or {}).get("status") == "frozen", what="a frozen")
        thawed = kraken("thaw", "--api", api, "--token-file", str(token))
        assert thawed.returncode == 0 and "thawed 1 host(s): a" in thawed.stdout
        wait(lambda: (node(port, "a") or {}).get("status") == "converged", what="a converged again")
        assert "s3cret-token-for-tests" not in (lab.root / "serve.log").read_text(), "the token leaked into the log"

    down = kraken("status", "--api", api)
    assert down.returncode == 2 and "cannot reach the reconciler" in down.stderr
