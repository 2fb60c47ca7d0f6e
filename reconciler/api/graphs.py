"""Rendering the epistemic graph for the API: off the event loop, once per distinct picture.

The graph is fixed for the life of the process, so a picture depends only on the format and the
highlighted path. Graphviz takes tens of seconds on a large catalog (the full layercake graph), so
pictures are cached (a few, least recently used first out) and concurrent requests for the same
picture share one render instead of starting one ``dot`` each.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable

from reconciler.graph.epistemic import EpistemicGraph
from reconciler.graph.export import Highlight, render

__all__ = ["GraphPictures"]

Renderer = Callable[[EpistemicGraph, str, Highlight | None], bytes]


class GraphPictures:
    """Renders ``graph`` in a worker thread, caching up to ``max_entries`` pictures."""

    def __init__(self, graph: EpistemicGraph, *, max_entries: int = 16, renderer: Renderer = render) -> None:
        self._graph = graph
        self._max = max_entries
        self._render = renderer
        self._cache: OrderedDict[Hashable, asyncio.Future[bytes]] = OrderedDict()

    async def picture(self, fmt: str, highlight: Highlight | None = None) -> bytes:
        """The graph in ``fmt``; raises what :func:`reconciler.graph.export.render` raises."""
        key = (fmt, None) if highlight is None else (fmt, highlight.host, tuple(highlight.states),
                                                     tuple(highlight.mutations))
        pending = self._cache.get(key)
        if pending is None:
            pending = asyncio.ensure_future(asyncio.to_thread(self._render, self._graph, fmt, highlight))
            self._cache[key] = pending
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        try:
            return await asyncio.shield(pending)  # one client leaving does not cancel the others' render
        except Exception:
            if self._cache.get(key) is pending:
                del self._cache[key]  # failures are not cached: the next request tries again
            raise
