"""`kraken serve --sync-listen --secret-file`: an agent's heartbeats are discovered state, silence is ERROR.

The reconciler is the real console script. The agent's side is a UDP socket in this test speaking the
heartbeat protocol with the node's key as `kraken key derive` prints it, and reporting the node's real state
(the lamp file), as an agent would.
"""

from __future__ import annotations

import socket
import subprocess

import pytest
from enginelab import COLLECTIONS, Lab
from serving import KRAKEN, free_port, node, serve, wait

from reconciler.model.heartbeat import ChildHeartbeat, ParentHeartbeat
from reconciler.sync.packets import Direction, Receiver, Sender

pytestmark = pytest.mark.integration


def test_an_agent_is_heard_told_its_desired_state_and_declared_dead_when_silent(lab: Lab) -> None:
    secret = lab.root / "sync.secret"
    secret.write_text("k" * 64 + "\n")
    secret.chmod(0o600)
    key = bytes.fromhex(subprocess.run([KRAKEN, "key", "derive", "h", "--secret-file", str(secret)], check=True,
                                       capture_output=True, text=True, timeout=60).stdout.strip())
    (lab.devices / "h.lamp").write_text("LIT")
    lab.write({"h": {"kraken_agent": True}}, {"kraken_lamp": "DARK"})
    port, sync_port = free_port(), free_port()
    agent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    agent.bind(("127.0.0.1", 0))
    agent.settimeout(0.2)
    sender, receiver = Sender(Direction.TO_PARENT), Receiver(Direction.TO_CHILD, {"h": key}.get)
    told: list[ParentHeartbeat] = []

    def beat() -> None:
        heartbeat = ChildHeartbeat(hello=0.5, discovered={"lamp": lab.device("h"), "power": "POWER_ON",
                                                          "runstate": "SYNC"})
        agent.sendto(sender.seal("h", key, heartbeat), ("127.0.0.1", sync_port))
        try:
            opened = receiver.open(agent.recv(65536))
        except TimeoutError:
            return
        if opened is not None:
            assert isinstance(opened.heartbeat, ParentHeartbeat)
            told.append(opened.heartbeat)

    config = {"sync": {"listen": f"127.0.0.1:{sync_port}", "secret_file": str(secret), "hello": 0.5, "dead": 3}}
    try:
        with serve(lab, port, config):
            # the agent reports LIT; the reconciler douses the lamp (a child step), the agent then reports DARK
            def beating_until_dark() -> bool:
                beat()
                return (node(port, "h") or {}).get("status") == "converged" and lab.device("h") == "DARK"

            wait(beating_until_dark, what="converged through the agent's reports")
            assert told and told[-1].desired == {"lamp": "DARK"} and told[-1].generation >= 1
            assert (node(port, "h") or {})["discovered"] == {"lamp": "DARK", "power": "POWER_ON", "runstate": "SYNC"}
            # the agent falls silent: after `dead` seconds the node is in runstate ERROR
            found = wait(lambda: ((node(port, "h") or {}).get("discovered") or {}).get("runstate") == "ERROR",
                         timeout=60, what="runstate ERROR after silence")
            assert found
    finally:
        agent.close()
    log = (lab.root / "serve.log").read_text()
    assert "event=agent_alive node=h" in log and "event=agent_dead node=h" in log


@pytest.mark.parametrize(("flags", "expected"), [
    (["--hello", "10", "--dead", "5"], "--dead 5 must be longer than --hello 10"),
    (["--sync-listen", "nowhere"], "--sync-listen 'nowhere': expected HOST:PORT"),
    (["--secret-file", "/nonexistent/sync.secret"], "heartbeat secret file /nonexistent/sync.secret: does not exist"),
])
def test_bad_heartbeat_settings_stop_serve_with_the_fix(lab: Lab, flags: list[str], expected: str) -> None:
    secret = lab.root / "sync.secret"
    secret.write_text("k" * 64 + "\n")
    secret.chmod(0o600)
    lab.write({"h": None}, {})
    args = [KRAKEN, "serve", "-i", str(lab.inventory), "--state-dir", str(lab.state_dir), "--listen",
            f"127.0.0.1:{free_port()}", "-c", str(COLLECTIONS[0]), "-c", str(COLLECTIONS[1]),
            "--sync-listen", f"127.0.0.1:{free_port()}", "--secret-file", str(secret), *flags]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr
