"""load_observed: ``{host: {var: VALUE}}`` for ``kraken plan --observed``, every problem at its file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import ObservedStateError, Problem
from reconciler.inventory import load_observed
from reconciler.model.catalog import Catalog


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "observed.yml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, catalog: Catalog) -> list[Problem]:
    with pytest.raises(ObservedStateError) as caught:
        load_observed(path, catalog)
    return caught.value.problems


def test_reads_hosts_and_variables(tmp_path: Path, real_catalog: Catalog) -> None:
    path = write(tmp_path, "n1: {power: POWER_ON, busy: BUSY}\nn2:\n  image: UNKNOWN\nn3:\n")
    assert load_observed(path, real_catalog) == {"n1": {"power": "POWER_ON", "busy": "BUSY"},
                                                 "n2": {"image": "UNKNOWN"}, "n3": {}}


def test_an_empty_file_observes_nothing(tmp_path: Path, real_catalog: Catalog) -> None:
    assert load_observed(write(tmp_path, "# nothing yet\n"), real_catalog) == {}


def test_every_problem_at_its_line(tmp_path: Path, real_catalog: Catalog) -> None:
    path = write(tmp_path, (
        "n1: {power: ON, pxe: INIT}\n"    # 1: boolean
        "n2:\n"
        "  busy: free\n"                  # 3: wrong case
        "  platform: ipmi\n"              # 4: config-only
        "  powr: HANG\n"                  # 5: unknown variable
        "n3: [power]\n"                   # 6: not a mapping
        "n4: {image: 3}\n"                # 7: not a name
    ))
    problems = problems_of(path, real_catalog)
    located = {(p.where, p.key) for p in problems}
    assert located == {(f"{path}:1", "n1.power"), (f"{path}:3", "n2.busy"), (f"{path}:4", "n2.platform"),
                       (f"{path}:5", "n2.powr"), (f"{path}:6", "n3"), (f"{path}:7", "n4.image")}
    by_key = {p.key: p for p in problems}
    boolean = by_key["n1.power"]
    assert "ON was read as the YAML boolean true" in boolean.message
    assert "YAML 1.1 reads unquoted ON/OFF" in boolean.fix and "write POWER_ON" in boolean.fix
    assert "'free' is not a value of busy" in by_key["n2.busy"].message
    assert "did you mean FREE?" in by_key["n2.busy"].fix
    assert "config-only" in by_key["n2.platform"].message
    assert "did you mean power?" in by_key["n2.powr"].fix
    assert "mapping of variable to value" in by_key["n3"].message
    assert "3 is not a value of image" in by_key["n4.image"].message


def test_top_level_must_be_a_mapping(tmp_path: Path, real_catalog: Catalog) -> None:
    (problem,) = problems_of(write(tmp_path, "- n1\n- n2\n"), real_catalog)
    assert "mapping of host to variables" in problem.message and problem.where.startswith(str(tmp_path))


def test_invalid_yaml_is_located(tmp_path: Path, real_catalog: Catalog) -> None:
    (problem,) = problems_of(write(tmp_path, "n1: {power: POWER_ON\n"), real_catalog)
    assert problem.where == f"{tmp_path / 'observed.yml'}:2" and "not valid YAML" in problem.message


def test_missing_file(tmp_path: Path, real_catalog: Catalog) -> None:
    (problem,) = problems_of(tmp_path / "absent.yml", real_catalog)
    assert problem.where == str(tmp_path / "absent.yml") and "cannot be read" in problem.message
