"""The graph as operators see it: JSON for tools, DOT for Graphviz, SVG/PNG through `dot`, a host's path lit."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reconciler.errors import GraphRenderError
from reconciler.graph.checks import load_graph
from reconciler.graph.export import Highlight, node_id, render, to_dot, to_json
from reconciler.graph.planner import Planner


@pytest.fixture(scope="module")
def layercake():
    return load_graph([Path("collections")])[1]


@pytest.fixture(scope="module")
def booting(layercake):
    """The path of an all-unknown IPMI host to image ACTIVE."""
    planner = Planner(layercake)
    plan = planner.plan(desired={"power": "POWER_ON", "image": "ACTIVE"}, discovered={}, config={"platform": "ipmi"})
    return Highlight("n01", planner.path_states(plan), [s.mutation for s in plan.steps])


def test_json_lists_every_state_and_edge_with_stable_ids(layercake) -> None:
    document = to_json(layercake)
    ids = {n["id"] for n in document["nodes"]}
    assert len(ids) == layercake.graph.number_of_nodes()
    assert "UNKNOWN" in ids and "power=POWER_ON,runstate=SYNC,pxe=INIT,image=ACTIVE" in ids
    assert len(document["edges"]) == layercake.graph.number_of_edges()
    assert all(e["from"] in ids and e["to"] in ids for e in document["edges"])
    assert document["epistemology"]["image"] == {"power": "POWER_ON", "runstate": "SYNC", "pxe": "INIT"}
    assert to_json(layercake) == document  # stable across calls


def test_json_highlights_the_host_path(layercake, booting) -> None:
    document = to_json(layercake, booting)
    on_path = [e for e in document["edges"] if e["on_path"]]
    assert [e["mutation"] for e in on_path if e["next"]] == ["kraken.layercake.power_ipmi:discover"]
    assert {e["mutation"] for e in on_path} == set(booting.mutations)
    assert len(on_path) == 7
    assert document["host"]["path"][0] == "UNKNOWN"
    assert document["host"]["path"][-1] == "power=POWER_ON,runstate=SYNC,pxe=INIT,image=ACTIVE"
    assert [n["id"] for n in document["nodes"] if n["current"]] == ["UNKNOWN"]


def test_dot_colours_the_path_and_the_next_step(layercake, booting) -> None:
    text = to_dot(layercake, booting)
    assert text.startswith("digraph kraken {") and text.rstrip().endswith("}")
    first = [line for line in text.splitlines() if "#d62728" in line and "->" in line]
    assert len(first) == 1 and "power_ipmi:discover" in first[0]
    green = [line for line in text.splitlines() if "#2e8b57" in line and "->" in line]
    assert len(green) == 6
    plain = to_dot(layercake)
    assert "#2e8b57" not in plain and plain.count("->") == layercake.graph.number_of_edges()


def test_node_ids_name_known_values(layercake) -> None:
    assert node_id(layercake, layercake.root) == "UNKNOWN"
    assert node_id(layercake, layercake.state_of({"power": "HANG"})) == "power=HANG"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (CI installs it)")
@pytest.mark.parametrize(("fmt", "magic"), [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_svg_and_png_through_graphviz(layercake, booting, fmt: str, magic: bytes) -> None:
    assert magic in render(layercake, fmt, booting)[:400]


def test_svg_without_graphviz_says_what_to_install(layercake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no `dot` on it
    with pytest.raises(GraphRenderError, match=r"needs Graphviz's `dot`.*apt-get install graphviz.*--format dot"):
        render(layercake, "svg")


def test_json_and_dot_render_as_bytes(layercake) -> None:
    assert json.loads(render(layercake, "json"))["variables"] == ["power", "runstate", "pxe", "image"]
    assert render(layercake, "dot").startswith(b"digraph")
