"""A synthetic catalog shaped like a real site's, for benchmarks: layers, platforms, filters, costs.

Layercake has 4 mutation variables and 21 mutations; a site that adds firmware, storage, a scheduler
and health checks has more. The generator builds ``variables`` layered enum variables — ``power``
then ``layer1`` … ``layerN`` — where, as in Layercake:

* a layer is discovered only while the layer below it is ``UP`` (``power=POWER_ON`` for the first),
  so each layer's epistemology names power and every layer below it (the derivation finds the lower ones
  in the discovery tails) and stripping keeps the graph at 4 nodes per variable, while phase 1's raw
  component holds every combination (4 × 5^(N-1) states);
* a layer cannot be stopped while the layer above it is ``UP`` (an exclude on a mutation variable);
* stopping the top layers is also excluded by ``busy=BUSY``, an enum no mutation moves (a filter),
  forgotten unless ``layer1`` is ``UP`` (``knowable_when``);
* the lowest families (power first) have one alternative per platform, selected by the config-only
  ``platform`` (a filter), each with its own cost; higher families are platform-agnostic;
* costs vary: ordinary steps 1, slow paths 2, recoveries 3 (and disruptive).

Families are converted to per-platform alternatives bottom-up until the catalog has exactly
``mutations`` mutations (any rest are platform-agnostic ``restart`` steps of the top layers).

Run as a script, it prints the shape of the default catalog as JSON (``make bench`` runs every file here).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from catalogs import catalog_from, write_collection

from reconciler.model.catalog import Catalog

__all__ = ["PLATFORMS", "Synthetic", "synthetic"]

PLATFORMS = ("ipmi", "redfish", "ilo", "idrac")
LAYER_VALUES = ["UNKNOWN", "DOWN", "STARTING", "UP", "ERROR"]
POWER_VALUES = ["UNKNOWN", "POWER_OFF", "POWER_ON", "HANG"]


@dataclass
class Synthetic:
    """The catalog as metadata (``state``, ``roles``): build it in memory or write it as a collection."""

    state: dict[str, dict[str, Any]]
    roles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    collection: str = "synthetic.site"

    def catalog(self) -> Catalog:
        return catalog_from(self.state, self.roles, collection=self.collection)

    def write(self, root: Path) -> Path:
        return write_collection(root, self.state, self.roles, collection=self.collection)

    @property
    def mutation_count(self) -> int:
        return sum(len(entries) for entries in self.roles.values())


@dataclass
class _Family:
    """One transition of one layer, before it is given per-platform alternatives."""

    layer: str
    name: str
    mutates: dict[str, dict[str, str]]
    requires: dict[str, str] = field(default_factory=dict)
    excludes: dict[str, str] = field(default_factory=dict)
    cost: int = 1
    disruptive: bool = False

    def entry(self, suffix: str = "", extra_cost: int = 0, platform: str | None = None) -> dict[str, Any]:
        requires = {**self.requires, **({"platform": platform} if platform else {})}
        return {"name": self.name + suffix, "mutates": self.mutates, "requires": requires, "excludes": self.excludes,
                "cost": self.cost + extra_cost, "disruptive": self.disruptive}


def synthetic(*, mutations: int = 200, variables: int = 10, platforms: tuple[str, ...] = PLATFORMS) -> Synthetic:
    """A valid catalog of exactly ``mutations`` mutations over ``variables`` mutation variables."""
    layers = [f"layer{k}" for k in range(1, variables)]
    state: dict[str, dict[str, Any]] = {
        "power": {"values": POWER_VALUES, "description": "chassis power"},
        **{name: {"values": LAYER_VALUES, "description": f"software layer {k + 1}"} for k, name in enumerate(layers)},
        "busy": {"values": ["UNKNOWN", "FREE", "BUSY"], "knowable_when": {layers[0]: "UP"} if layers else {}},
        "platform": {"config": True},
    }
    families = _families(layers)
    spare = mutations - len(families)
    if spare < 0:
        raise ValueError(f"{mutations} mutations are too few for {variables} variables (need {len(families)})")
    per_platform = {id(f): False for f in families}
    for family in families:  # bottom-up: power first, as real sites have per-vendor power and firmware
        if spare < len(platforms) - 1:
            break
        per_platform[id(family)] = True
        spare -= len(platforms) - 1
    roles: dict[str, list[dict[str, Any]]] = {}
    for family in families:
        if per_platform[id(family)]:
            for rank, platform in enumerate(platforms):
                roles.setdefault(f"{family.layer}_{platform}", []).append(
                    family.entry(extra_cost=rank % 2, platform=platform))
        else:
            roles.setdefault(f"{family.layer}_common", []).append(family.entry())
    for k in range(spare):  # the rest: slower alternative restarts of the top layers
        layer = layers[-1 - (k % len(layers))]
        below = layers[layers.index(layer) - 1] if layers.index(layer) else "power"
        ready = "POWER_ON" if below == "power" else "UP"
        roles.setdefault(f"{layer}_common", []).append({
            "name": f"restart{k // len(layers)}", "mutates": {layer: {"from": "UP", "to": "STARTING"}},
            "requires": {below: ready}, "excludes": {"busy": "BUSY"}, "cost": 2})
    result = Synthetic(state, roles)
    assert result.mutation_count == mutations
    return result


def _families(layers: list[str]) -> list[_Family]:
    """The transitions of power and of each layer; requirements tie each layer to the one below."""
    first = layers[0] if layers else None
    families = [
        _Family("power", "discover", {"power": {"from": "UNKNOWN", "to": "POWER_OFF"}}),
        _Family("power", "power_on", {"power": {"from": "POWER_OFF", "to": "POWER_ON"}}),
        _Family("power", "power_off", {"power": {"from": "POWER_ON", "to": "POWER_OFF"}},
                excludes={first: "UP"} if first else {}, disruptive=True),
        _Family("power", "recover", {"power": {"from": "HANG", "to": "POWER_OFF"}}, cost=3),
    ]
    for k, layer in enumerate(layers):
        below, ready = ("power", "POWER_ON") if k == 0 else (layers[k - 1], "UP")
        above = layers[k + 1] if k + 1 < len(layers) else None
        needs = {below: ready}
        stop_excludes = {above: "UP"} if above else {}
        if k >= len(layers) // 2:
            stop_excludes["busy"] = "BUSY"  # the top half runs user work
        families += [
            _Family(layer, "discover", {layer: {"from": "UNKNOWN", "to": "DOWN"}}, requires=needs),
            _Family(layer, "start", {layer: {"from": "DOWN", "to": "STARTING"}}, requires=needs),
            _Family(layer, "ready", {layer: {"from": "STARTING", "to": "UP"}}, requires=needs),
            _Family(layer, "stop", {layer: {"from": "UP", "to": "DOWN"}}, requires=needs, excludes=stop_excludes),
            _Family(layer, "quick_start", {layer: {"from": "DOWN", "to": "UP"}}, requires=needs, cost=2),
            _Family(layer, "reset", {layer: {"from": "ERROR", "to": "DOWN"}}, requires=needs, cost=3,
                    disruptive=True),
        ]
    return families


def main() -> None:
    spec = synthetic()
    catalog = spec.catalog()
    per_platform = sum(1 for m in catalog.mutations.values() if "platform" in m.requires)
    print(json.dumps({
        "benchmark": "synthetic",
        "mutations": spec.mutation_count,
        "mutation_variables": catalog.mutation_variables,
        "platforms": list(PLATFORMS),
        "per_platform_mutations": per_platform,
        "roles": len(spec.roles),
    }))


if __name__ == "__main__":
    main()
