"""Every route of the API and its error paths, in-process (httpx ASGI transport) on a real, frozen engine."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.api.app import create_app
from reconciler.model.api import EventDoc, FreezeResult, NodeDoc, NodeList
from reconciler.model.reports import HostPlan

AUTH = {"Authorization": "Bearer unit-test-token-0123456789"}


def test_nodes_and_node(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        await harness.start()
        async with harness.client(harness.app()) as http:
            listing = await http.get("/api/v1/nodes")
            assert listing.status_code == 200
            nodes = NodeList.model_validate(listing.json()).nodes
            assert [n.name for n in nodes] == ["n1", "n2", "n3"]
            one = await http.get("/api/v1/nodes/n1")
            node = NodeDoc.model_validate(one.json())
            assert node.desired == {"lamp": "LIT"} and node.status.value == "frozen"
            assert [step.mutation for step in node.chain] == ["acme.lab.lamp:look", "acme.lab.lamp:light"]
            missing = await http.get("/api/v1/nodes/nowhere")
            assert missing.status_code == 404
            assert missing.json() == {"error": "no host named 'nowhere' in the desired state in force",
                                      "status": 404, "host": "nowhere"}
        await harness.stop()

    run(scenario())


def test_plan(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        await harness.start()
        async with harness.client(harness.app()) as http:
            plan = HostPlan.model_validate((await http.get("/api/v1/plan/n1")).json())
            assert plan.status.value == "planned"
            assert plan.steps[1].mutates == {"lamp": ("DARK", "LIT")}
            unmanaged = HostPlan.model_validate((await http.get("/api/v1/plan/n3")).json())
            assert unmanaged.status.value == "unmanaged" and unmanaged.reason
            missing = await http.get("/api/v1/plan/n9")
            assert missing.status_code == 404 and "n9" in missing.json()["error"]
        await harness.stop()

    run(scenario())


def test_graph_formats_and_highlight(harness: Any, run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        await harness.start()
        async with harness.client(harness.app()) as http:
            whole = await http.get("/api/v1/graph")
            assert whole.headers["content-type"].startswith("application/json")
            assert "host" not in whole.json()
            path = (await http.get("/api/v1/graph", params={"host": "n1"})).json()["host"]
            assert path["name"] == "n1" and path["mutations"] == ["acme.lab.lamp:look", "acme.lab.lamp:light"]
            dot = await http.get("/api/v1/graph", params={"format": "dot", "host": "n1"})
            assert dot.headers["content-type"].startswith("text/vnd.graphviz")
            assert dot.text.startswith("digraph kraken {") and "kraken graph: n1" in dot.text
            bad = await http.get("/api/v1/graph", params={"format": "gif"})
            assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "query.format"
            png = await http.get("/api/v1/graph", params={"format": "png"})
            assert png.status_code == 422  # not offered unless the app is built with it
            unknown = await http.get("/api/v1/graph", params={"host": "n9"})
            assert unknown.status_code == 404 and unknown.json()["host"] == "n9"
            monkeypatch.setenv("PATH", "")  # no Graphviz on this host
            svg = await http.get("/api/v1/graph", params={"format": "svg"})
            assert svg.status_code == 501
            assert "Graphviz" in svg.json()["error"] and "format=dot" in svg.json()["error"]
        await harness.stop()

    run(scenario())


def test_graph_svg_with_graphviz(harness: Any, run: Any) -> None:
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")

    async def scenario() -> None:
        await harness.start()
        async with harness.client(harness.app(graph_formats=("json", "svg", "png"))) as http:
            svg = await http.get("/api/v1/graph", params={"format": "svg", "host": "n2"})
            assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
            assert b"<svg" in svg.content
            png = await http.get("/api/v1/graph", params={"format": "png"})
            assert png.content.startswith(b"\x89PNG")
            dot = await http.get("/api/v1/graph", params={"format": "dot"})
            assert dot.status_code == 422  # this app does not offer dot
        await harness.stop()

    run(scenario())


def test_stored_events(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        await harness.start()
        async with harness.client(harness.app()) as http:
            events = [EventDoc.model_validate(e) for e in (await http.get(
                "/api/v1/events", params={"follow": "false"})).json()]
            kinds = [e.kind.value for e in events]
            assert kinds[:2] == ["frozen", "desired_loaded"] and "node_status" in kinds
            assert [e.id for e in events] == sorted(e.id for e in events)
            later = (await http.get("/api/v1/events", params={"follow": "false", "after": events[1].id})).json()
            assert [e["id"] for e in later] == [e.id for e in events[2:]]
            resumed = (await http.get("/api/v1/events", params={"follow": "false"},
                                      headers={"Last-Event-ID": str(events[1].id)})).json()
            assert resumed == later
            n2 = (await http.get("/api/v1/events", params={"follow": "false", "host": "n2"})).json()
            assert n2 and {e["host"] for e in n2} == {"n2"}
            only = (await http.get("/api/v1/events", params={"follow": "false", "kind": ["desired_loaded"]})).json()
            assert [e["kind"] for e in only] == ["desired_loaded"]
            limited = (await http.get("/api/v1/events", params={"follow": "false", "limit": 2})).json()
            assert len(limited) == 2
            bad_kind = await http.get("/api/v1/events", params={"follow": "false", "kind": "nonsense"})
            assert bad_kind.status_code == 422 and "query.kind" in bad_kind.json()["error"]
            bad_id = await http.get("/api/v1/events", params={"follow": "false"}, headers={"Last-Event-ID": "x"})
            assert bad_id.status_code == 422 and "Last-Event-ID" in bad_id.json()["error"]
            negative = await http.get("/api/v1/events", params={"follow": "false", "after": -1})
            assert negative.status_code == 422
        await harness.stop()

    run(scenario())


def test_writes_need_the_token(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        await harness.start()
        async with harness.client(harness.app()) as http:
            missing = await http.post("/api/v1/thaw", json={"pattern": "n1"})
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
            assert "Authorization: Bearer" in missing.json()["error"]
            basic = await http.post("/api/v1/thaw", json={}, headers={"Authorization": "Basic dTpw"})
            assert basic.status_code == 401
            wrong = await http.post("/api/v1/thaw", json={"pattern": "n1"},
                                    headers={"Authorization": "Bearer not-the-token"})
            assert wrong.status_code == 403 and wrong.json()["error"] == "the bearer token is wrong"
            assert harness.engine.is_frozen("n1") and harness.engine.is_frozen("n2")  # nothing changed
            ok = await http.post("/api/v1/freeze", json={"pattern": "n1"}, headers=AUTH)
            assert FreezeResult.model_validate(ok.json()) == FreezeResult(pattern="n1", hosts=["n1"])
        await harness.stop()

    run(scenario())


def test_no_token_configured_refuses_every_write(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        await harness.start()
        async with harness.client(harness.app(token=None)) as http:
            for headers in ({}, AUTH, {"Authorization": "Bearer "}):
                refused = await http.post("/api/v1/freeze", json={}, headers=headers)
                assert refused.status_code == 403
                assert "--token-file" in refused.json()["error"]
            assert (await http.get("/api/v1/nodes")).status_code == 200  # reads stay open
        await harness.stop()

    run(scenario())


def test_empty_token_is_not_a_token(harness: Any) -> None:
    with pytest.raises(ValueError, match="empty API token"):
        create_app(harness.engine, token="  ")


def test_freeze_and_thaw(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        await harness.start()
        async with harness.client(harness.app()) as http:
            thawed = FreezeResult.model_validate((await http.post("/api/v1/thaw", json={}, headers=AUTH)).json())
            assert thawed == FreezeResult(pattern=None, hosts=["n1", "n2", "n3"])
            assert harness.engine.is_frozen("n1") is False
            frozen = FreezeResult.model_validate((await http.post(
                "/api/v1/freeze", json={"pattern": None}, headers=AUTH)).json())
            assert frozen.hosts == ["n1", "n2", "n3"] and harness.engine.is_frozen("n2")
            partial = (await http.post("/api/v1/thaw", json={"pattern": "n2"}, headers=AUTH)).json()
            assert partial == {"pattern": "n2", "hosts": ["n2"]}
            assert harness.engine.is_frozen("n1") and not harness.engine.is_frozen("n2")
            harness.engine.freeze(None)
        await harness.stop()

    run(scenario())


@pytest.mark.parametrize(("body", "field"), [
    ({"pattern": 3}, "body.pattern"),
    ({"pattern": "n1", "extra": True}, "body.extra"),
    ({"pattern": ""}, "body.pattern"),
    ([], "body"),
    (None, "body"),
])
def test_bad_bodies_are_422_naming_the_field(harness: Any, run: Any, body: Any, field: str) -> None:
    async def scenario() -> None:
        await harness.start(load=False)
        async with harness.client(harness.app()) as http:
            content = json.dumps(body).encode() if body is not None else b"not json"
            refused = await http.post("/api/v1/freeze", content=content,
                                      headers={**AUTH, "Content-Type": "application/json"})
            assert refused.status_code == 422, refused.text
            assert field in refused.json()["error"]
        await harness.stop()

    run(scenario())


def test_unauthenticated_bad_body_is_401_not_422(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        await harness.start(load=False)
        async with harness.client(harness.app()) as http:
            assert (await http.post("/api/v1/freeze", json={"pattern": 3})).status_code == 401
        await harness.stop()

    run(scenario())


def test_health_and_readiness(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        await harness.start(load=False)
        async with harness.client(harness.app()) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            before = await http.get("/readyz")
            assert before.status_code == 503
            assert before.json()["ready"] is False and "desired state" in before.json()["reason"]
            harness.load(7)
            after = await http.get("/readyz")
            assert after.status_code == 200
            assert after.json() == {"ready": True, "reason": "", "generation": 7, "commit": "0123abc"}
        await harness.stop()

    run(scenario())


def test_metrics(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        await harness.start()
        async with harness.client(harness.app()) as http:
            scraped = await http.get("/metrics")
            assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
            families = {f.name: f for f in text_string_to_metric_families(scraped.text)}
            assert {"reconcile", "workqueue_depth", "kraken_hosts_converged", "kraken_desired_generation",
                    "kraken_hosts_status"} <= set(families)
            frozen = [s for s in families["kraken_hosts_status"].samples if s.labels["status"] == "frozen"]
            assert frozen[0].value == 3
            generation = families["kraken_desired_generation"].samples[0]
            assert generation.value == 1 and generation.labels["commit"] == "0123abc"
        await harness.stop()

    run(scenario())


def test_unknown_routes_and_methods_answer_error_documents(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        async with harness.client(harness.app()) as http:
            missing = await http.get("/api/v2/nodes")
            assert missing.status_code == 404 and "/openapi.json" in missing.json()["error"]
            wrong_method = await http.delete("/api/v1/nodes")
            assert wrong_method.status_code == 405 and wrong_method.json()["status"] == 405

    run(scenario())


def test_openapi_documents_the_models(harness: Any, run: Any) -> None:
    async def scenario() -> dict[str, Any]:
        async with harness.client(harness.app()) as http:
            response = await http.get("/openapi.json")
            assert response.status_code == 200
            return dict(response.json())

    spec = run(scenario())
    schemas = spec["components"]["schemas"]
    assert {"NodeDoc", "NodeList", "EventDoc", "FreezeRequest", "FreezeResult", "HostPlan", "ErrorDoc",
            "ReadyDoc"} <= set(schemas)
    paths = spec["paths"]
    assert set(paths) == {"/api/v1/nodes", "/api/v1/nodes/{host}", "/api/v1/plan/{host}", "/api/v1/graph",
                          "/api/v1/events", "/api/v1/freeze", "/api/v1/thaw", "/metrics", "/healthz", "/readyz"}
    node = paths["/api/v1/nodes/{host}"]["get"]["responses"]
    assert node["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/NodeDoc")
    assert node["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorDoc")
    freeze = paths["/api/v1/freeze"]["post"]
    assert freeze["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/FreezeRequest")
    assert freeze["security"] and "HTTPBearer" in spec["components"]["securitySchemes"]
    events = paths["/api/v1/events"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in events
    assert [p["name"] for p in paths["/api/v1/events"]["get"]["parameters"]] == [
        "after", "follow", "host", "kind", "limit"]
    assert "security" not in paths["/api/v1/nodes"]["get"]


def test_access_log_one_line_per_request_and_no_token(harness: Any, run: Any,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        await harness.start(load=False)
        async with harness.client(harness.app()) as http:
            with caplog.at_level("INFO", logger="kraken.api.access"):
                await http.post("/api/v1/freeze", json={"pattern": "n1"}, headers=AUTH)
                await http.get("/api/v1/nodes/a b", params={"x": 'y"z'})
        await harness.stop()

    run(scenario())
    lines = [r.getMessage() for r in caplog.records if r.name == "kraken.api.access"]
    assert len(lines) == 2
    assert lines[0].startswith("method=POST path=/api/v1/freeze status=200 ")
    assert "path=/api/v1/nodes/a%20b query=x=y%22z status=404" in lines[1]
    assert all("unit-test-token" not in r.getMessage() for r in caplog.records)



def test_internal_errors_answer_an_error_document(harness: Any, run: Any) -> None:
    async def scenario() -> None:
        await harness.start(load=False)
        harness.db.close()  # the state database is gone: reading the journal fails
        app = harness.app()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                     base_url="http://kraken.test") as http:
            broken = await http.get("/api/v1/events", params={"follow": "false"})
        assert broken.status_code == 500
        assert broken.json()["error"].startswith("internal error of the reconciler answering /api/v1/events")
        await harness.stop()

    run(scenario())
