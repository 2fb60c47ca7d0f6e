"""The CLI's client: documents parsed into models, every failure an ApiError saying what to do.

The reconciler is played by an httpx MockTransport here (the real server is in tests/integration/api).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from reconciler.api.client import ApiClient
from reconciler.api.errors import ApiError
from reconciler.api.sse import encode_event, encode_retry
from reconciler.errors import UserError
from reconciler.model.api import EventDoc, EventKind, FreezeResult

NODE = {"name": "n1", "desired": {"lamp": "LIT"}, "discovered": {}, "status": "frozen", "chain": [], "reason": ""}


def event(event_id: int, host: str = "n1") -> dict[str, Any]:
    return {"id": event_id, "time": 1.0, "kind": "step_started", "host": host, "mutation": None, "run_id": None,
            "message": "", "data": {}}


def client(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> ApiClient:
    return ApiClient("127.0.0.1:3141", transport=httpx.MockTransport(handler), **options)


def test_reads_parse_into_models() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path == "/api/v1/nodes":
            return httpx.Response(200, json={"nodes": [NODE]})
        if path == "/api/v1/nodes/a%2Fb" or request.url.raw_path == b"/api/v1/nodes/a%2Fb":
            return httpx.Response(200, json={**NODE, "name": "a/b"})
        if path.startswith("/api/v1/nodes/"):
            return httpx.Response(200, json=NODE)
        if path == "/api/v1/plan/n1":
            return httpx.Response(200, json={"status": "converged", "steps": [], "reason": ""})
        if path == "/api/v1/graph":
            return httpx.Response(200, content=b"digraph {}")
        raise AssertionError(path)

    with client(handler) as api:
        assert api.base_url == "http://127.0.0.1:3141"
        assert [n.name for n in api.nodes()] == ["n1"]
        assert api.node("n1").desired == {"lamp": "LIT"}
        assert api.node("a/b").name == "a/b"  # quoted: a slash cannot change the route
        assert api.plan("n1").status.value == "converged"
        assert api.graph("dot", host="n1") == b"digraph {}"
    assert seen[-1].url.params == httpx.QueryParams({"format": "dot", "host": "n1"})
    assert all("authorization" not in r.headers for r in seen)


def test_events_are_paged() -> None:
    pages: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        pages.append(params)
        after = int(params["after"])
        assert params["follow"] == "false" and params["host"] == "n1"
        ids = range(after + 1, min(after + 1000, 2500) + 1)
        return httpx.Response(200, json=[event(i) for i in ids])

    with client(handler) as api:
        events = api.events(after=0, host="n1")
    assert [e.id for e in events] == list(range(1, 2501)) and isinstance(events[0], EventDoc)
    assert [p["after"] for p in pages] == ["0", "1000", "2000"]


def test_writes_send_the_token_and_the_body() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = json.loads(request.content)
        return httpx.Response(200, json={"pattern": body.get("pattern"), "hosts": ["n1"]})

    with client(handler, token="s3cret") as api:
        assert api.freeze("n*") == FreezeResult(pattern="n*", hosts=["n1"])
        assert api.thaw().pattern is None
        assert "s3cret" not in repr(api)
    assert [r.url.path for r in seen] == ["/api/v1/freeze", "/api/v1/thaw"]
    assert [json.loads(r.content) for r in seen] == [{"pattern": "n*"}, {}]
    assert all(r.headers["authorization"] == "Bearer s3cret" for r in seen)


@pytest.mark.parametrize(("status", "body", "token", "phrases"), [
    (401, {"error": "needs a token", "status": 401}, None,
     ["refused the request: 401 needs a token", "pass --token-file"]),
    (403, {"error": "the bearer token is wrong", "status": 403}, "s3cret",
     ["403 the bearer token is wrong", "check that --token-file"]),
    (403, {"error": "writes are disabled: this reconciler has no API token; start ...", "status": 403}, "s3cret",
     ["must be started with --token-file"]),
    (404, {"error": "no host named 'n9' in the desired state in force", "status": 404, "host": "n9"}, None,
     ["no host named 'n9'"]),
    (422, {"error": "invalid request: body.pattern: bad", "status": 422}, "s3cret",
     ["rejected the request", "pattern"]),
    (500, "Internal Server Error", None, ["failed to answer /api/v1/freeze: 500 Internal Server Error"]),
    (502, {"detail": "Bad gateway"}, None, ["502 Bad gateway"]),
])
def test_refusals_become_api_errors(status: int, body: Any, token: str | None, phrases: list[str]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    with client(handler, token=token) as api, pytest.raises(ApiError) as caught:
        api.freeze("n1")
    error = caught.value
    assert isinstance(error, UserError) and error.status == status
    assert error.url == "http://127.0.0.1:3141/api/v1/freeze"
    for phrase in phrases:
        assert phrase in str(error)
    assert "s3cret" not in str(error)


def test_unreachable_reconciler() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with ApiClient(f"http://127.0.0.1:{port}", timeout=5) as api, pytest.raises(ApiError) as caught:
        api.nodes()
    assert str(caught.value) == (f"cannot reach the reconciler at http://127.0.0.1:{port} (connection refused): "
                                 "is `kraken serve` running?")
    assert caught.value.status is None


def test_timeouts_say_so() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with client(handler, timeout=2) as api, pytest.raises(ApiError, match="did not answer within 2s"):
        api.nodes()


def test_documents_from_another_version_are_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"nodes": [{"name": "n1"}]})

    with client(handler) as api, pytest.raises(ApiError, match="does not understand"):
        api.nodes()


class _Streams:
    """Plays a reconciler whose event stream drops after each batch of events."""

    def __init__(self, batches: list[list[int]]) -> None:
        self.batches = batches
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.batches:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        batch = self.batches.pop(0)
        body = encode_retry(250) + b"".join(encode_event(i, json.dumps(event(i))) for i in batch)
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=iter([body]))


def test_follow_reconnects_with_last_event_id() -> None:
    server = _Streams([[3, 4], [4, 5], []])  # the second connection repeats 4: it is not yielded twice
    pauses: list[float] = []
    with client(server, sleep=pauses.append, max_reconnects=2) as api:
        stream: Iterator[EventDoc] = api.follow_events(after=2, host="n1")
        got = [next(stream).id for _ in range(3)]
        assert got == [3, 4, 5]
        with pytest.raises(ApiError, match="cannot reach the reconciler"):
            next(stream)
    assert [r.headers["last-event-id"] for r in server.requests] == ["2", "4", "5", "5", "5", "5"]
    assert all(r.url.params["host"] == "n1" for r in server.requests)
    assert all(r.headers["accept"] == "text/event-stream" for r in server.requests)
    assert pauses[:2] == [0.25, 0.25]  # the server's retry: hint


def test_follow_stops_on_refusal() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"error": "invalid request: query.after: too small", "status": 422})

    with client(handler) as api, pytest.raises(ApiError, match=r"query\.after"):
        next(api.follow_events())


def test_follow_events_kinds_round_trip() -> None:
    server = _Streams([[1]])
    with client(server, sleep=lambda _: None) as api:
        first = next(api.follow_events())
    assert first.kind is EventKind.STEP_STARTED and first.host == "n1"
