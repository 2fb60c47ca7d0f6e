"""The epistemic graph as operators look at it: JSON for tools, DOT for Graphviz, SVG/PNG through ``dot``.

A host's path can be highlighted (green edges and states on the path, the first step red, as in the
original Kraken dashboard), so "what would it do to n07, and from where" is one picture.
Node ids are readable and stable across runs (``power=POWER_ON,runstate=SYNC``; ``UNKNOWN`` for the
all-unknown root) so two exports can be diffed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import GraphRenderError
from reconciler.graph.epistemic import EpistemicGraph, State
from reconciler.model.types import MutationId

__all__ = ["FORMATS", "Highlight", "node_id", "render", "to_dot", "to_json"]

FORMATS = ("json", "dot", "svg", "png")

_PATH_COLOUR = "#2e8b57"
_CURRENT_COLOUR = "#d62728"
_IDLE_COLOUR = "#9e9e9e"


@dataclass(frozen=True)
class Highlight:
    """A host's current state and planned path through the graph."""

    host: str
    states: Sequence[State]  # start first
    mutations: Sequence[MutationId] = field(default_factory=tuple)

    def edges(self) -> set[tuple[State, State, MutationId]]:
        return {(a, b, m) for a, b, m in zip(self.states, self.states[1:], self.mutations, strict=False)}


def node_id(graph: EpistemicGraph, state: State) -> str:
    known = graph.known(state)
    return ",".join(f"{k}={v}" for k, v in known.items()) or "UNKNOWN"


def to_json(graph: EpistemicGraph, highlight: Highlight | None = None) -> dict[str, Any]:
    """A JSON-ready document of the graph (nodes, edges, epistemology) with an optional host path."""
    path_edges = highlight.edges() if highlight else set()
    path_states = set(highlight.states) if highlight else set()
    first = _first_edge(highlight)
    current = highlight.states[0] if highlight else None
    nodes = [
        {"id": node_id(graph, s), "state": graph.known(s), "root": s == graph.root, "on_path": s in path_states,
         "current": s == current}
        for s in _ordered_nodes(graph, highlight)
    ]
    edges = []
    for a, b, ident in _ordered_edges(graph, highlight):
        m = graph.mutation(ident)
        edges.append({"from": node_id(graph, a), "to": node_id(graph, b), "mutation": ident, "cost": m.cost,
                      "context": m.context.value, "disruptive": m.disruptive,
                      "on_path": (a, b, ident) in path_edges, "next": (a, b, ident) == first})
    document: dict[str, Any] = {
        "variables": list(graph.variables),
        "epistemology": graph.epistemology,
        "nodes": nodes,
        "edges": edges,
    }
    if highlight:
        document["host"] = {"name": highlight.host, "path": [node_id(graph, s) for s in highlight.states],
                            "mutations": list(highlight.mutations)}
    return document


def to_dot(graph: EpistemicGraph, highlight: Highlight | None = None) -> str:
    """Graphviz DOT text; path states and edges coloured when a host is highlighted."""
    path_edges = highlight.edges() if highlight else set()
    path_states = set(highlight.states) if highlight else set()
    first = _first_edge(highlight)
    title = f"kraken graph: {highlight.host}" if highlight else "kraken epistemic state graph"
    lines = [
        "digraph kraken {",
        f"  label={_quote(title)}; labelloc=t; rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for state in _ordered_nodes(graph, highlight):
        known = graph.known(state)
        label = "\\n".join(f"{k}={v}" for k, v in known.items()) or "all unknown"
        attrs = [f"label={_quote(label, raw=True)}"]
        if state == graph.root:
            attrs.append("peripheries=2")
        if highlight and state == highlight.states[0]:
            attrs.append(f'fillcolor="{_CURRENT_COLOUR}", fontcolor="#ffffff"')
        elif state in path_states:
            attrs.append(f'fillcolor="{_PATH_COLOUR}", fontcolor="#ffffff"')
        lines.append(f"  {_quote(node_id(graph, state))} [{', '.join(attrs)}];")
    for a, b, ident in _ordered_edges(graph, highlight):
        m = graph.mutation(ident)
        label = ident.split(".", 2)[-1]  # role:entry, the namespace adds nothing in a picture
        attrs = [f"label={_quote(label)}"]
        if (a, b, ident) == first:
            attrs.append(f'color="{_CURRENT_COLOUR}", fontcolor="{_CURRENT_COLOUR}", penwidth=2.5')
        elif (a, b, ident) in path_edges:
            attrs.append(f'color="{_PATH_COLOUR}", fontcolor="{_PATH_COLOUR}", penwidth=2.5')
        elif highlight:
            attrs.append(f'color="{_IDLE_COLOUR}", fontcolor="{_IDLE_COLOUR}"')
        if m.disruptive:
            attrs.append("style=dashed")
        lines.append(f"  {_quote(node_id(graph, a))} -> {_quote(node_id(graph, b))} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(graph: EpistemicGraph, fmt: str, highlight: Highlight | None = None) -> bytes:
    """The graph in ``fmt`` (one of :data:`FORMATS`); svg and png need Graphviz's ``dot`` on PATH."""
    if fmt == "json":
        return (json.dumps(to_json(graph, highlight), indent=2) + "\n").encode()
    if fmt == "dot":
        return to_dot(graph, highlight).encode()
    if fmt not in FORMATS:
        raise GraphRenderError(f"unknown graph format {fmt!r}; use one of {', '.join(FORMATS)}")
    dot = shutil.which("dot")
    if dot is None:
        raise GraphRenderError(
            f"--format {fmt} needs Graphviz's `dot` program, which is not on PATH; install Graphviz "
            "(e.g. `apt-get install graphviz`) or use --format dot and render it elsewhere"
        )
    result = subprocess.run([dot, f"-T{fmt}"], input=to_dot(graph, highlight).encode(), capture_output=True,
                            timeout=60, check=False)
    if result.returncode != 0:
        raise GraphRenderError(f"dot failed ({result.returncode}): {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def _first_edge(highlight: Highlight | None) -> tuple[State, State, MutationId] | None:
    """The host's next step, drawn red."""
    if highlight is None:
        return None
    return next(iter(zip(highlight.states, highlight.states[1:], highlight.mutations, strict=False)), None)


def _ordered_nodes(graph: EpistemicGraph, highlight: Highlight | None) -> list[State]:
    nodes = set(graph.graph.nodes)
    if highlight:
        nodes.update(highlight.states)  # a discovered start may lie outside the root's component
    return sorted(nodes, key=lambda s: (len(graph.known(s)), s))


def _ordered_edges(graph: EpistemicGraph, highlight: Highlight | None) -> list[tuple[State, State, MutationId]]:
    edges = set(graph.edges())
    if highlight:
        edges.update(highlight.edges())
    return sorted(edges)


def _quote(text: str, *, raw: bool = False) -> str:
    """A DOT double-quoted string; ``raw`` keeps ``\\n`` escapes meant for Graphviz."""
    escaped = text.replace('"', '\\"') if raw else text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
