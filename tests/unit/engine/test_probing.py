"""Which probes apply to a host: their ``requires`` against its known values and config (absent = unknown)."""

from __future__ import annotations

from pathlib import Path

from reconciler.engine.probing import applicable_probes
from reconciler.model.catalog import Probe
from reconciler.model.types import Context, MutationId


def probe(name: str, **requires: str) -> Probe:
    return Probe(MutationId(f"t.t.r:{name}"), "t.t.r", name, Path(f"/r/tasks/{name}.yml"), "meta/kraken.yml:1",
                 Context.CHILD, 10.0, requires, frozenset({"power"}))


PROBES = [probe("always"), probe("bmc", platform="ipmi"), probe("image", power="POWER_ON", runstate="SYNC")]


def test_the_layercake_cases() -> None:
    names = [p.name for p in applicable_probes(PROBES, {"power": "POWER_ON"}, {"platform": "ipmi"})]
    assert names == ["always", "bmc"]  # runstate unknown: the image cannot be looked at yet
    names = [p.name for p in applicable_probes(PROBES, {"power": "POWER_ON", "runstate": "SYNC"}, {})]
    assert names == ["always", "image"]  # no platform: no BMC probe
    names = [p.name for p in applicable_probes(PROBES, {"power": "POWER_OFF", "runstate": "SYNC"},
                                               {"platform": "redfish"})]
    assert names == ["always"]  # a value other than the required one is as good as unknown
