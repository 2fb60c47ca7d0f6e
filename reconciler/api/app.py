"""The reconciler's HTTP API (DESIGN §5), built by :func:`create_app` around one running :class:`Engine`.

Reads are open (the API listens on loopback by default); every write needs the bearer token
(:mod:`reconciler.api.auth`). Every handler is ``async``, so it runs on the event loop thread, the
same thread as the engine: views of the engine are consistent snapshots, never torn by a worker
thread. Only graph rendering leaves the loop (:mod:`reconciler.api.graphs`: off-thread and cached).

Errors are :class:`~reconciler.api.docs.ErrorDoc` JSON bodies with a message an operator can act on:
404 names the host, 422 names the field, 401/403 say which token is missing or wrong.

>>> from prometheus_client import CollectorRegistry
>>> from reconciler.graph.checks import load_graph
>>> from reconciler.engine.engine import Engine
>>> from reconciler.engine.executor import AnsibleRunnerExecutor
>>> from reconciler.engine.metrics import EngineMetrics
>>> from reconciler.engine.persistence import StateDB
>>> from reconciler.engine.settings import EngineSettings
>>> import pathlib, tempfile
>>> tmp = pathlib.Path(tempfile.mkdtemp())
>>> catalog, graph = load_graph([pathlib.Path("tests/fixtures/collections")])
>>> engine = Engine(catalog=catalog, graph=graph, executor=AnsibleRunnerExecutor(tmp, catalog.collections),
...                 db=StateDB(tmp / "state.db"), settings=EngineSettings(), metrics=EngineMetrics(CollectorRegistry()))
>>> app = create_app(engine, token=None)
>>> sorted(r.path for r in app.routes if r.path.startswith("/api"))  # doctest: +NORMALIZE_WHITESPACE
['/api/v1/events', '/api/v1/freeze', '/api/v1/graph', '/api/v1/nodes', '/api/v1/nodes/{host}',
 '/api/v1/plan/{host}', '/api/v1/thaw']
>>> engine.db.close()

Annotations are evaluated at definition time here (no ``from __future__ import annotations``): FastAPI
reads the handlers' parameter types, and some refer to values local to :func:`create_app`.
"""

import importlib.metadata
import logging
import shutil
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from reconciler.api.access import AccessLogMiddleware
from reconciler.api.auth import check_bearer
from reconciler.api.docs import ErrorDoc, HealthDoc, ReadyDoc
from reconciler.api.events import EventFilter, EventStreams
from reconciler.api.graphs import GraphPictures
from reconciler.engine.engine import Engine
from reconciler.errors import GraphRenderError
from reconciler.graph.export import FORMATS, Highlight
from reconciler.model.api import EventDoc, EventKind, FreezeRequest, FreezeResult, NodeDoc, NodeList
from reconciler.model.reports import HostPlan

__all__ = ["DEFAULT_GRAPH_FORMATS", "ApiProblem", "create_app", "event_streams"]

log = logging.getLogger("kraken.api")

DEFAULT_GRAPH_FORMATS: tuple[str, ...] = ("json", "dot", "svg")
_MEDIA_TYPES = {"json": "application/json", "dot": "text/vnd.graphviz; charset=utf-8", "svg": "image/svg+xml",
                "png": "image/png"}
_NEEDS_GRAPHVIZ = {"svg", "png"}
_MAX_EVENTS = 10_000


class ApiProblem(Exception):
    """Raised by handlers to answer with an :class:`ErrorDoc` (status, message, optional host)."""

    def __init__(self, status: int, message: str, *, host: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.host = host
        self.headers = headers


def event_streams(app: FastAPI) -> EventStreams | None:
    """The app's open event streams (the server closes them on stop), if it was built by :func:`create_app`."""
    streams = getattr(app.state, "kraken_event_streams", None)
    return streams if isinstance(streams, EventStreams) else None


def create_app(engine: Engine, *, token: str | None, graph_formats: Sequence[str] = DEFAULT_GRAPH_FORMATS,
               sse_keepalive: float = 15.0) -> FastAPI:
    """The API of one engine. ``token`` is the bearer token for writes (None: every write is refused)."""
    unknown = [f for f in graph_formats if f not in FORMATS]
    if unknown or not graph_formats:
        raise ValueError(f"graph formats {unknown or '[]'} are not among {list(FORMATS)}")
    formats = tuple(graph_formats)
    if token is not None and not token.strip():
        raise ValueError("an empty API token would let anyone write; pass None to refuse all writes")
    streams = EventStreams(engine.db, engine.journal, keepalive=sse_keepalive)
    pictures = GraphPictures(engine.graph)
    errors: dict[int | str, dict[str, Any]] = {404: {"model": ErrorDoc}, 422: {"model": ErrorDoc}}
    writes: dict[int | str, dict[str, Any]] = {401: {"model": ErrorDoc}, 403: {"model": ErrorDoc},
                                               422: {"model": ErrorDoc}}

    app = FastAPI(
        title="Kraken reconciler",
        version=_version(),
        description="The HTTP API of `kraken serve`: nodes, the epistemic graph, plans, the event stream, "
                    "freeze/thaw (bearer token), Prometheus metrics, liveness and readiness.",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.kraken_event_streams = streams
    app.add_middleware(AccessLogMiddleware)
    _install_error_handlers(app)
    bearer = HTTPBearer(auto_error=False, description="The token in `kraken serve --token-file`")

    async def require_writer(request: Request,
                             _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)]) -> None:
        check = check_bearer(token, request.headers.get("authorization"))
        if not check.ok:
            raise ApiProblem(check.status, check.message,
                             headers={"WWW-Authenticate": "Bearer"} if check.status == 401 else None)

    # -- reads --------------------------------------------------------------------------------------

    @app.get("/api/v1/nodes", response_model=NodeList, tags=["nodes"], summary="Every node")
    async def list_nodes() -> NodeList:
        return NodeList(nodes=sorted(engine.nodes(), key=lambda node: node.name))

    @app.get("/api/v1/nodes/{host}", response_model=NodeDoc, responses=errors, tags=["nodes"], summary="One node")
    async def get_node(host: str) -> NodeDoc:
        node = engine.node(host)
        if node is None:
            raise _unknown_host(host)
        return node

    @app.get("/api/v1/plan/{host}", response_model=HostPlan, responses=errors, tags=["nodes"],
             summary="The chain a host would run now")
    async def get_plan(host: str) -> HostPlan:
        plan = engine.plan_for(host)
        if plan is None:
            raise _unknown_host(host)
        return HostPlan.model_validate(plan.to_json())

    @app.get("/api/v1/graph", response_class=Response, tags=["graph"], summary="The epistemic graph",
             responses={200: {"content": {_MEDIA_TYPES[f]: {} for f in formats}}, 404: {"model": ErrorDoc},
                        422: {"model": ErrorDoc}, 501: {"model": ErrorDoc}})
    async def get_graph(
        fmt: Annotated[str, Query(alias="format", pattern=f"^({'|'.join(formats)})$",
                                  description=f"One of {', '.join(formats)}")] = "json",
        host: Annotated[str | None, Query(description="Highlight this host's planned path")] = None,
    ) -> Response:
        highlight = None
        if host is not None:
            plan = engine.plan_for(host)
            if plan is None:
                raise _unknown_host(host)
            highlight = Highlight(host, engine.planner.path_states(plan), [s.mutation for s in plan.steps])
        if fmt in _NEEDS_GRAPHVIZ and shutil.which("dot") is None:
            raise ApiProblem(501, f"format={fmt} needs Graphviz's `dot` on the reconciler's host, which is not "
                                  "installed; install Graphviz there or ask for format=dot and render it yourself")
        try:
            body = await pictures.picture(fmt, highlight)
        except GraphRenderError as exc:
            raise ApiProblem(500, str(exc)) from exc
        return Response(body, media_type=_MEDIA_TYPES[fmt])

    @app.get("/api/v1/events", response_model=None, tags=["events"], summary="The event stream",
             description="Server-Sent Events: one JSON event per `data:` line, `id:` = event id. Replays the "
                         "journal after `Last-Event-ID` (or `after`), then follows live events. With "
                         "`follow=false`, the stored events as a JSON list instead.",
             responses={200: {"model": list[EventDoc], "content": {"text/event-stream": {}}},
                        422: {"model": ErrorDoc}})
    async def get_events(
        after: Annotated[int, Query(ge=0, description="Only events with a larger id")] = 0,
        follow: Annotated[bool, Query(description="Stream (SSE) instead of returning the stored events")] = True,
        host: Annotated[str | None, Query(description="Only this host's events")] = None,
        kind: Annotated[list[EventKind] | None, Query(description="Only these kinds (repeatable)")] = None,
        limit: Annotated[int, Query(ge=1, le=_MAX_EVENTS, description="At most this many (follow=false)")] = 1000,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", include_in_schema=False)] = None,
    ) -> Response:
        start = after
        if last_event_id:  # a reconnecting EventSource: the header wins over the URL it reconnects to
            if not last_event_id.strip().isdigit():
                raise ApiProblem(422, f"the Last-Event-ID header must be an event id, not {last_event_id!r}")
            start = int(last_event_id.strip())
        which = EventFilter(host=host, kinds={k.value for k in kind} if kind else None)
        if not follow:
            events = streams.stored(after=start, limit=limit, which=which)
            return JSONResponse([e.model_dump(mode="json") for e in events])
        return StreamingResponse(streams.stream(after=start, which=which), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # -- writes -------------------------------------------------------------------------------------

    @app.post("/api/v1/freeze", response_model=FreezeResult, responses=writes, tags=["freeze"],
              dependencies=[Depends(require_writer)], summary="Freeze hosts matching a pattern (absent: all)")
    async def freeze(request: FreezeRequest) -> FreezeResult:
        _check_pattern(request)
        result = engine.freeze(request.pattern)
        log.info("event=api_freeze pattern=%s hosts=%d", request.pattern or "<all>", len(result.hosts))
        return result

    @app.post("/api/v1/thaw", response_model=FreezeResult, responses=writes, tags=["freeze"],
              dependencies=[Depends(require_writer)], summary="Thaw hosts matching a pattern (absent: all)")
    async def thaw(request: FreezeRequest) -> FreezeResult:
        _check_pattern(request)
        result = engine.thaw(request.pattern)
        log.info("event=api_thaw pattern=%s hosts=%d", request.pattern or "<all>", len(result.hosts))
        return result

    # -- operations ---------------------------------------------------------------------------------

    @app.get("/metrics", response_class=Response, tags=["operations"], summary="Prometheus metrics",
             responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
    async def metrics() -> Response:
        return Response(generate_latest(engine.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", response_model=HealthDoc, tags=["operations"], summary="Liveness")
    async def healthz() -> HealthDoc:
        return HealthDoc()

    @app.get("/readyz", response_model=ReadyDoc, tags=["operations"], summary="Readiness",
             responses={503: {"model": ReadyDoc}})
    async def readyz() -> Response:
        generation = engine.generation
        if not engine.ready:
            doc = ReadyDoc(ready=False, reason="no valid desired state has been loaded yet",
                           generation=generation.generation if generation else None)
            return JSONResponse(doc.model_dump(mode="json"), status_code=503)
        doc = ReadyDoc(ready=True, generation=generation.generation if generation else None,
                       commit=generation.commit if generation else None)
        return JSONResponse(doc.model_dump(mode="json"))

    return app


def _version() -> str:
    try:
        return importlib.metadata.version("kraken-ansible")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+source"


def _unknown_host(host: str) -> ApiProblem:
    return ApiProblem(404, f"no host named {host!r} in the desired state in force", host=host)


def _check_pattern(request: FreezeRequest) -> None:
    if request.pattern is not None and not request.pattern.strip():
        raise ApiProblem(422, "invalid request: body.pattern: an empty pattern matches nothing; "
                              "leave it out to mean every host")


def _install_error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str, *, host: str | None = None, problems: list[dict[str, Any]] | None = None,
              headers: dict[str, str] | None = None) -> JSONResponse:
        doc = ErrorDoc(error=message, status=status, host=host, problems=problems or [])
        body = doc.model_dump(mode="json", exclude_none=True)
        if not body["problems"]:
            del body["problems"]
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(ApiProblem)
    async def on_problem(_: Request, exc: ApiProblem) -> JSONResponse:
        return error(exc.status, exc.message, host=exc.host, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": ".".join(str(part) for part in item.get("loc", ())), "message": item.get("msg", ""),
                     "type": item.get("type", "")} for item in exc.errors()]
        summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "malformed request"
        return error(422, f"invalid request: {summary}", problems=problems)

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> JSONResponse:  # logged with its traceback by the server
        return error(500, f"internal error of the reconciler answering {request.url.path} "
                          f"({type(exc).__name__}); its log has the details")

    @app.exception_handler(StarletteHTTPException)
    async def on_http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route; the API is described at /openapi.json"
        return error(exc.status_code, message, headers=dict(exc.headers) if exc.headers else None)
