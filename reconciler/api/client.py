"""A small typed client of the reconciler's API, for ``kraken status``, ``kraken events`` and ``kraken freeze``.

Synchronous (httpx), because the CLI is. Every failure becomes an :class:`~reconciler.api.errors.ApiError`
whose message says what to do: start ``kraken serve``, pass ``--token-file``, check the host name.
The token is sent only in the ``Authorization`` header and never appears in messages or ``repr``.

:meth:`ApiClient.follow_events` reads the SSE stream and reconnects after a dropped connection with
``Last-Event-ID``, so a restart of the reconciler loses no events (they are replayed from its journal).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from reconciler.api.errors import ApiError
from reconciler.api.sse import SSEParser
from reconciler.model.api import EventDoc, FreezeRequest, FreezeResult, NodeDoc, NodeList
from reconciler.model.reports import HostPlan

__all__ = ["DEFAULT_URL", "ApiClient"]

DEFAULT_URL = "http://127.0.0.1:3141"
_PAGE = 1000
_RENDER_TIMEOUT = 120.0  # Graphviz needs tens of seconds for a large catalog's graph
_STREAM_READ_TIMEOUT = 60.0  # the server sends a keepalive every 15 s; silence this long means a dead peer

_M = TypeVar("_M", bound=BaseModel)
_EVENTS = TypeAdapter(list[EventDoc])


class ApiClient:
    """Talks to one reconciler; use as a context manager or call :meth:`close`.

    ``base_url`` may omit the scheme (``127.0.0.1:3141``). ``token`` is needed for freeze/thaw only.
    """

    def __init__(self, base_url: str = DEFAULT_URL, token: str | None = None, timeout: float = 10, *,
                 transport: httpx.BaseTransport | None = None, reconnect_delay: float = 1.0,
                 max_reconnects: int = 10, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = _normalise(base_url)
        self.timeout = timeout
        self._reconnect_delay = reconnect_delay
        self._max_reconnects = max_reconnects
        self._sleep = sleep
        headers = {"User-Agent": "kraken-cli", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._has_token = bool(token)
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r}, token={'<set>' if self._has_token else None})"

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- reads --------------------------------------------------------------------------------------

    def nodes(self) -> list[NodeDoc]:
        return self._get_model("/api/v1/nodes", NodeList).nodes

    def node(self, host: str) -> NodeDoc:
        return self._get_model(f"/api/v1/nodes/{_segment(host)}", NodeDoc)

    def plan(self, host: str) -> HostPlan:
        return self._get_model(f"/api/v1/plan/{_segment(host)}", HostPlan)

    def graph(self, fmt: str = "json", host: str | None = None, *, timeout: float | None = None) -> bytes:
        """The graph as the reconciler renders it; svg/png wait up to ``_RENDER_TIMEOUT`` (Graphviz is slow)."""
        params = {"format": fmt, **({"host": host} if host else {})}
        wait = timeout if timeout is not None else (
            max(self.timeout, _RENDER_TIMEOUT) if fmt in ("svg", "png") else self.timeout)
        return self._request("GET", "/api/v1/graph", params=params, timeout=wait).content

    def events(self, after: int = 0, host: str | None = None) -> list[EventDoc]:
        """Every stored event after ``after`` (oldest first), read page by page."""
        result: list[EventDoc] = []
        cursor = after
        while True:
            params: dict[str, Any] = {"follow": "false", "after": cursor, "limit": _PAGE}
            if host:
                params["host"] = host
            response = self._request("GET", "/api/v1/events", params=params)
            page = self._parse(response, lambda text: _EVENTS.validate_json(text))
            result.extend(page)
            if len(page) < _PAGE:
                return result
            cursor = page[-1].id

    def follow_events(self, after: int = 0, host: str | None = None) -> Iterator[EventDoc]:
        """Events after ``after`` and then live ones, forever; reconnects (with Last-Event-ID) when dropped.

        Gives up with :class:`ApiError` after ``max_reconnects`` failed attempts in a row.
        """
        last = after
        failures = 0
        while True:
            params: dict[str, Any] = {"after": last}
            if host:
                params["host"] = host
            headers = {"Accept": "text/event-stream", "Last-Event-ID": str(last)}
            timeout = httpx.Timeout(self.timeout, read=max(self.timeout, _STREAM_READ_TIMEOUT))
            parser = SSEParser()
            url = f"{self.base_url}/api/v1/events"
            try:
                with self._http.stream("GET", "/api/v1/events", params=params, headers=headers,
                                       timeout=timeout) as response:
                    if response.status_code != 200:
                        response.read()
                        raise self._refused(response)
                    failures = 0
                    for line in response.iter_lines():
                        message = parser.feed(line)
                        if message is None or not message.data:
                            continue
                        event = self._parse_event(message.data, url)
                        if event.id > last:
                            last = event.id
                            yield event
            except httpx.TransportError as exc:
                failures += 1
                if failures > self._max_reconnects:
                    raise self._unreachable(exc, url) from exc
            # else: the server closed the stream (it is stopping or restarting): reconnect after a pause
            delay = (parser.retry_ms / 1000) if parser.retry_ms is not None else self._reconnect_delay
            self._sleep(min(delay * max(1, min(failures, 5)), 30.0))

    # -- writes -------------------------------------------------------------------------------------

    def freeze(self, pattern: str | None = None) -> FreezeResult:
        return self._post_model("/api/v1/freeze", FreezeRequest(pattern=pattern), FreezeResult)

    def thaw(self, pattern: str | None = None) -> FreezeResult:
        return self._post_model("/api/v1/thaw", FreezeRequest(pattern=pattern), FreezeResult)

    # -- plumbing -----------------------------------------------------------------------------------

    def _get_model(self, path: str, model: type[_M]) -> _M:
        response = self._request("GET", path)
        return self._parse(response, model.model_validate_json)

    def _post_model(self, path: str, body: BaseModel, model: type[_M]) -> _M:
        response = self._request("POST", path, json=body.model_dump(mode="json", exclude_none=True))
        return self._parse(response, model.model_validate_json)

    def _request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        url = f"{self.base_url}{path}"
        try:
            if timeout is not None:
                kwargs["timeout"] = timeout
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc, url, timeout) from exc
        if response.status_code >= 400:
            raise self._refused(response)
        return response

    def _parse(self, response: httpx.Response, parse: Callable[[str], Any]) -> Any:
        try:
            return parse(response.text)
        except ValidationError as exc:
            raise ApiError(f"the reconciler at {self.base_url} answered {response.request.url.path} with a "
                           f"document this kraken does not understand (different versions?): "
                           f"{exc.errors()[0].get('msg', exc)}", url=str(response.request.url),
                           status=response.status_code) from exc

    def _parse_event(self, data: str, url: str) -> EventDoc:
        try:
            return EventDoc.model_validate_json(data)
        except ValidationError as exc:
            raise ApiError(f"the reconciler at {self.base_url} sent an event this kraken does not understand "
                           f"(different versions?): {exc.errors()[0].get('msg', exc)}", url=url) from exc

    def _unreachable(self, exc: httpx.TransportError, url: str, timeout: float | None = None) -> ApiError:
        if isinstance(exc, httpx.TimeoutException):
            waited = timeout if timeout is not None else self.timeout
            return ApiError(f"the reconciler at {self.base_url} did not answer within {waited:g}s "
                            f"({_reason(exc)})", url=url)
        return ApiError(f"cannot reach the reconciler at {self.base_url} ({_reason(exc)}): "
                        "is `kraken serve` running?", url=url)

    def _refused(self, response: httpx.Response) -> ApiError:
        status = response.status_code
        url = str(response.request.url)
        detail = _error_text(response)
        if status == 401:
            hint = ("pass --token-file with the token of `kraken serve`" if not self._has_token
                    else "the token was not accepted; check --token-file")
            message = f"the reconciler refused the request: 401 {detail}; {hint}"
        elif status == 403:
            hint = "check that --token-file holds the token of `kraken serve`" if self._has_token else \
                "pass --token-file with the token of `kraken serve`"
            if "no API token" in detail:
                hint = "the reconciler must be started with --token-file"
            message = f"the reconciler refused the request: 403 {detail}; {hint}"
        elif status == 404:
            message = detail
        elif status == 422:
            message = f"the reconciler rejected the request: {detail}"
        elif status >= 500:
            message = f"the reconciler failed to answer {response.request.url.path}: {status} {detail}"
        else:
            message = f"the reconciler refused the request: {status} {detail}"
        return ApiError(message, url=url, status=status)


def _normalise(base_url: str) -> str:
    """``127.0.0.1:3141`` → ``http://127.0.0.1:3141``; no trailing slash.

    >>> _normalise("127.0.0.1:3141/"), _normalise("https://kraken.example")
    ('http://127.0.0.1:3141', 'https://kraken.example')
    """
    url = base_url.strip()
    if "://" not in url:
        url = "http://" + url
    return url.rstrip("/")


def _segment(value: str) -> str:
    """A host name as one path segment (quoted, so ``/`` or ``?`` cannot change the route)."""
    return quote(value, safe="")


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "name or service not known" in lowered or "nodename nor servname" in lowered:
        return "unknown host name"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return text.split("] ", 1)[-1]


def _error_text(response: httpx.Response) -> str:
    """The ``error`` of an ErrorDoc body, or the raw body (first line) when it is not one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    text = response.text.strip().splitlines()
    return text[0][:200] if text else response.reason_phrase
