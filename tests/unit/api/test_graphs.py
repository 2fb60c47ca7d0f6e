"""Graph pictures: rendered off the loop, once per distinct picture, failures retried."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from reconciler.api.graphs import GraphPictures
from reconciler.errors import GraphRenderError
from reconciler.graph.export import Highlight


class Renderer:
    """Counts renders; each one waits for the test to release it (a slow ``dot``)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []
        self.release = threading.Event()
        self.fail = False

    def __call__(self, graph: Any, fmt: str, highlight: Highlight | None) -> bytes:
        self.calls.append((fmt, highlight.host if highlight else None))
        self.release.wait(10)
        if self.fail:
            raise GraphRenderError("dot failed")
        return f"{fmt}:{highlight.host if highlight else '-'}".encode()


def test_concurrent_requests_share_one_render(run: Any) -> None:
    renderer = Renderer()
    pictures = GraphPictures(object(), renderer=renderer)  # type: ignore[arg-type]

    async def scenario() -> None:
        waiting = [asyncio.ensure_future(pictures.picture("svg")) for _ in range(5)]
        await asyncio.sleep(0)
        renderer.release.set()
        assert await asyncio.gather(*waiting) == [b"svg:-"] * 5
        assert await pictures.picture("svg") == b"svg:-"
        host = Highlight("n1", [((0, "DARK"),)], [])
        assert await pictures.picture("svg", host) == b"svg:n1"
        assert renderer.calls == [("svg", None), ("svg", "n1")]

    run(scenario())


def test_failures_are_not_cached_and_old_pictures_leave(run: Any) -> None:
    renderer = Renderer()
    renderer.release.set()
    pictures = GraphPictures(object(), max_entries=2, renderer=renderer)  # type: ignore[arg-type]

    async def scenario() -> None:
        renderer.fail = True
        with pytest.raises(GraphRenderError):
            await pictures.picture("svg")
        renderer.fail = False
        assert await pictures.picture("svg") == b"svg:-"
        await pictures.picture("dot")
        await pictures.picture("png")  # evicts svg
        await pictures.picture("svg")
        assert [c[0] for c in renderer.calls] == ["svg", "svg", "dot", "png", "svg"]

    run(scenario())
