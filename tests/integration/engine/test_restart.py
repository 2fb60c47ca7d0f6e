"""`kraken serve` killed with SIGKILL mid-chain and started again: it resumes, and forgets nothing.

Real processes: the reconciler is the installed console script, killed with SIGKILL (no chance to
clean up); its ansible-playbook child may finish the step it was running or not — either way the
restarted reconciler must not re-run the steps that had finished, and must keep a failing host's backoff.
"""

from __future__ import annotations

import signal

import pytest
from enginelab import Lab
from serving import free_port, node, serve, wait

from reconciler.engine.persistence import StateDB

pytestmark = pytest.mark.integration

def test_sigkill_mid_chain_then_restart_resumes_without_rerunning_finished_steps(lab: Lab) -> None:
    lab.write({"h": None}, {"kraken_stage": "S3", "lab_slow": 2})
    port = free_port()
    with serve(lab, port) as first:
        wait(lambda: lab.device("h", "stage") == "S2", what="two steps done")
        wait(lambda: (node(port, "h") or {}).get("discovered", {}).get("stage") == "S2", what="S2 recorded")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    done_before = (lab.devices / "h.stage.log").read_text().split()
    assert done_before[:2] == ["survey", "advance_one"]
    with serve(lab, port):
        converged = wait(lambda: (node(port, "h") or {}).get("status") == "converged", what="converged after restart")
        assert converged
        assert node(port, "h")["discovered"] == {"stage": "S3"}
    with StateDB(lab.state_dir / "state.db", read_only=True) as db:
        numbers = [g.generation for g in db.generations()]
    assert numbers == [2, 1], "the restarted reconciler goes on counting generations, it does not overwrite 1"
    runs = (lab.devices / "h.stage.log").read_text().split()
    assert runs.count("survey") == 1 and runs.count("advance_one") == 1, runs
    assert 1 <= runs.count("advance_two") <= 2, runs  # the step in flight at the kill may run again (idempotent)
    log = (lab.root / "serve.log").read_text()
    if runs.count("advance_two") == 2 or "interrupted by a restart" in log:
        assert "interrupted by a restart of the reconciler" in log


def test_backoff_survives_a_restart(lab: Lab) -> None:
    lab.write({"f": {"lab_fail_times": 99}}, {"kraken_lamp": "LIT"})
    config = {"engine": {"backoff": {"base": "120s", "cap": "10m", "jitter": 0}}}
    port = free_port()
    with serve(lab, port, config) as first:
        wait(lambda: lab.count("f", "light.attempts") == 1
             and "retry in" in (node(port, "f") or {}).get("reason", ""), what="first failure")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    with serve(lab, port, config):
        # A fresh process knows attempt 1 only from the database: with the backoff forgotten it would run
        # the step again at once, and report 2 attempts.
        reason = wait(lambda: "retry in" in (node(port, "f") or {}).get("reason", "")
                      and node(port, "f")["reason"], what="backoff remembered")
        assert "acme.lab.lamp:light failed 1 time(s), retry in" in reason and "bulb broken" in reason, reason
        assert lab.count("f", "light.attempts") == 1, "the host was retried before its backoff expired"
