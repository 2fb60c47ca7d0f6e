"""The real API server on a loopback socket, a real engine behind it, the CLI's client in front of it."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.api.client import ApiClient
from reconciler.api.errors import ApiError
from reconciler.model.api import EventKind, NodeStatus

pytestmark = pytest.mark.integration

TOKEN = "integration-token-0123456789abcdef"


def test_reads_writes_and_health_over_a_socket(lab_factory: Any, run: Any) -> None:
    lab = lab_factory(["n1", "n2"])

    async def scenario() -> None:
        try:
            async with lab.serving() as server, httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                assert (await http.get("/healthz")).status_code == 200
                not_ready = await http.get("/readyz")
                assert not_ready.status_code == 503 and not_ready.json()["ready"] is False
                lab.load()
                assert (await http.get("/readyz")).json()["commit"] == "feedface"

                def reads() -> dict[str, Any]:
                    with ApiClient(server.url, timeout=10) as api:
                        return {"nodes": api.nodes(), "n1": api.node("n1"), "plan": api.plan("n2"),
                                "dot": api.graph("dot", host="n1"), "events": api.events()}

                got = await asyncio.to_thread(reads)
                assert [n.name for n in got["nodes"]] == ["n1", "n2"]
                assert got["n1"].desired == {"lamp": "LIT"}
                assert [s.mutation for s in got["plan"].steps] == ["acme.lab.lamp:look", "acme.lab.lamp:light"]
                assert got["dot"].startswith(b"digraph kraken {")  # svg of this catalog takes dot ~30 s
                assert [e.kind for e in got["events"][:2]] == [EventKind.FROZEN, EventKind.DESIRED_LOADED]

                def missing() -> ApiError:
                    with ApiClient(server.url) as api, pytest.raises(ApiError) as caught:
                        api.node("n9")
                    return caught.value

                assert (await asyncio.to_thread(missing)).status == 404

                def write(token: str | None) -> Any:
                    with ApiClient(server.url, token=token) as api:
                        try:
                            return api.thaw("n1")
                        except ApiError as exc:
                            return exc

                no_token = await asyncio.to_thread(write, None)
                assert isinstance(no_token, ApiError) and no_token.status == 401
                assert "pass --token-file" in str(no_token)
                wrong = await asyncio.to_thread(write, "guess")
                assert isinstance(wrong, ApiError) and wrong.status == 403
                assert lab.engine.is_frozen("n1")  # refused writes changed nothing
                frozen = await asyncio.to_thread(lambda: ApiClient(server.url, token=TOKEN).freeze("n2"))
                assert frozen.hosts == ["n2"]
            async with lab.serving(token=None) as server:
                refused = await asyncio.to_thread(write_with, server.url, TOKEN)
                assert isinstance(refused, ApiError) and refused.status == 403
                assert "--token-file" in str(refused)
        finally:
            await lab.close()

    run(scenario())


def write_with(url: str, token: str) -> Any:
    with ApiClient(url, token=token) as api:
        try:
            return api.freeze(None)
        except ApiError as exc:
            return exc


@pytest.mark.timeout(240)
def test_two_hosts_converge_watched_over_sse(lab_factory: Any, run: Any, follower: Any) -> None:
    """The engine lights two lamps for real; the stream shows each step; /metrics agrees."""
    lab = lab_factory(["n1", "n2"])

    async def scenario() -> None:
        try:
            async with lab.serving() as server:
                lab.load()
                start = lab.db.last_event_id()
                watcher = follower(server.url, after=start)
                thawed = await asyncio.to_thread(lambda: ApiClient(server.url, token=TOKEN).thaw(None))
                assert thawed.hosts == ["n1", "n2"]

                def done(events: list[Any]) -> bool:
                    return {(e.host, e.mutation) for e in events if e.kind is EventKind.STEP_SUCCEEDED} >= {
                        ("n1", "acme.lab.lamp:light"), ("n2", "acme.lab.lamp:light")}

                events = await watcher.take(done, timeout=180)
                watcher.stop()
                ids = [e.id for e in events]
                assert ids == sorted(set(ids)) and ids[0] > start
                for host in ("n1", "n2"):
                    steps = [(e.kind, e.mutation) for e in events if e.host == host and e.kind in (
                        EventKind.STEP_STARTED, EventKind.STEP_SUCCEEDED)]
                    assert steps == [(EventKind.STEP_STARTED, "acme.lab.lamp:look"),
                                     (EventKind.STEP_SUCCEEDED, "acme.lab.lamp:look"),
                                     (EventKind.STEP_STARTED, "acme.lab.lamp:light"),
                                     (EventKind.STEP_SUCCEEDED, "acme.lab.lamp:light")], steps
                    assert lab.lamp(host) == "LIT"
                deadline = time.monotonic() + 30
                while {n.status for n in lab.engine.nodes()} != {NodeStatus.CONVERGED}:
                    assert time.monotonic() < deadline, [(n.name, n.status) for n in lab.engine.nodes()]
                    await asyncio.sleep(0.05)

                async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                    scraped = await http.get("/metrics")
                families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
                results = {s.labels["result"]: s.value for s in families["reconcile"].samples
                           if s.name == "reconcile_total"}
                assert results.get("converged", 0) >= 2 and results.get("dispatched", 0) >= 4, results
                assert families["workqueue_depth"].samples[0].value == 0
                assert families["kraken_hosts_converged"].samples[0].value == 2
                generation = families["kraken_desired_generation"].samples[0]
                assert generation.value == 1 and generation.labels == {"commit": "feedface", "dirty": "false"}
                nodes = await asyncio.to_thread(lambda: ApiClient(server.url).nodes())
                assert {(n.name, n.status, n.discovered.get("lamp")) for n in nodes} == {
                    ("n1", NodeStatus.CONVERGED, "LIT"), ("n2", NodeStatus.CONVERGED, "LIT")}
            await watcher.join()
        finally:
            await lab.close()

    run(scenario(), bound=200)


def test_follow_survives_a_server_restart(lab_factory: Any, run: Any, follower: Any) -> None:
    """Events emitted while the API is down are replayed on reconnect (Last-Event-ID): no gap, no repeat."""
    lab = lab_factory(["n1", "n2"])

    async def scenario() -> None:
        try:
            async with lab.serving() as server:
                lab.load()
                port = server.port
                watcher = follower(server.url, max_reconnects=400)
                lab.engine.freeze("n1")
                before = await watcher.take(lambda got: any(e.kind is EventKind.FROZEN and
                                                            e.data.get("pattern") == "n1" for e in got), timeout=30)
                started = time.monotonic()
            assert time.monotonic() - started < 3, "stop waited on the open event stream"
            lab.engine.freeze("n2")  # while nobody serves the API
            async with lab.serving(port=port):
                lab.engine.thaw("n2")
                after = await watcher.take(lambda got: any(e.kind is EventKind.THAWED for e in got), timeout=60)
            watcher.stop()
            await watcher.join()
            ids = [e.id for e in before + after]
            assert ids == list(range(1, ids[-1] + 1))  # every event up to the thaw, once, in order
            assert [e.data.get("pattern") for e in after if e.kind in (EventKind.FROZEN, EventKind.THAWED)] == [
                "n2", "n2"]
        finally:
            await lab.close()

    run(scenario())


def test_ipv6_loopback(lab_factory: Any, run: Any) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    lab = lab_factory(["n1"])

    async def scenario() -> None:
        try:
            async with lab.serving(host="::1") as server:
                assert server.url.startswith("http://[::1]:")
                async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
                    assert (await http.get("/healthz")).status_code == 200
        finally:
            await lab.close()

    run(scenario())
