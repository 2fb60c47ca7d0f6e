"""Fixtures for the inventory tests: the repository's real catalog, a small catalog with a restricted
config variable, a writer for temporary inventories (real files, read by real ansible-core), and a varied
inventory for precedence tests: nested groups, priorities, group_vars/host_vars as files and folders, and a
second (INI) source in the same folder."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.model.catalog import Catalog

REPO = Path(__file__).resolve().parents[3]

WriteFiles = Callable[[dict[str, str]], Path]

_TEST_COLLECTION = {
    "galaxy.yml": """
        namespace: test
        name: lab
        version: 0.1.0
        readme: README.md
        authors: [tests]
    """,
    "meta/kraken.yml": """
        state:
          power:
            values: [UNKNOWN, POWER_OFF, POWER_ON]
          busy:
            values: [UNKNOWN, FREE, BUSY]
          pxe:
            values: [NONE, WAIT, INIT]
          platform:
            config: true
            values: [ipmi, redfish]
          image_name:
            config: true
    """,
    "roles/power/meta/kraken.yml": """
        mutations:
          - name: discover
            mutates: {power: {from: UNKNOWN, to: POWER_OFF}}
          - name: power_on
            mutates: {power: {from: POWER_OFF, to: POWER_ON}}
            excludes: {busy: BUSY}
          - name: power_off
            mutates: {power: {from: POWER_ON, to: POWER_OFF}}
          - name: prepare
            mutates: {pxe: {from: NONE, to: WAIT}}
        discovers: [power, pxe]
    """,
    "roles/power/tasks/discover.yml": "- ansible.builtin.debug: {msg: discover}\n",
    "roles/power/tasks/power_on.yml": "- ansible.builtin.debug: {msg: on}\n",
    "roles/power/tasks/power_off.yml": "- ansible.builtin.debug: {msg: off}\n",
    "roles/power/tasks/prepare.yml": "- ansible.builtin.debug: {msg: prepare}\n",
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (text dedented); returns ``root``."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def real_catalog() -> Catalog:
    """The catalog of this repository's collections (kraken.core, kraken.layercake)."""
    return Catalog.load([REPO / "collections"])


@pytest.fixture(scope="session")
def lab_catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """A small catalog: power, busy (discovered only), pxe, platform restricted, image_name free."""
    root = write_tree(tmp_path_factory.mktemp("collection") / "lab", _TEST_COLLECTION)
    return Catalog.load([root])


VARIED_INVENTORY: dict[str, str] = {
    "hosts.yml": """
        all:
          vars:
            kraken_power: POWER_OFF
            kraken_image_name: base
            kraken_platform: ipmi
            kraken_bmc_address: 192.0.2.1
          children:
            lab:
              vars:
                kraken_pxe: WAIT
              children:
                rack1:
                  vars:
                    kraken_power: POWER_ON
                  hosts:
                    a1:
                      kraken_pxe: INIT
                    a2:
                    a3:
                rack2:
                  hosts:
                    b1:
                    b2:
                      ansible_host: 10.0.0.2
            gpu:
              vars:
                kraken_image_name: cuda
                kraken_pxe: WAIT
              hosts:
                a2:
                b1:
                b2:
            hot:
              vars:
                ansible_group_priority: 10
                kraken_pxe: INIT
              hosts:
                b2:
            plain:
              hosts:
                c1:
                  kraken_agent: false
    """,
    "more.ini": """
        [rack2]
        b3 kraken_pxe=INIT

        [solo]
        d1
    """,
    "group_vars/all.yml": "kraken_platform: redfish\n",
    "group_vars/lab.yml": "kraken_image_name: lab-image\n",
    "group_vars/rack2/main.yml": "kraken_power: POWER_ON\n",
    "group_vars/rack2/extra.yml": "kraken_image_name: rack2-image\n",
    "host_vars/a3.yml": "kraken_power: POWER_OFF\n",
    "host_vars/b1/vars.yml": "kraken_pxe: INIT\n",
}

_ALL = {"platform": "redfish", "image_name": "lab-image"}
_RACK2 = {"platform": "redfish", "image_name": "rack2-image"}
EXPECTED: dict[str, dict[str, dict[str, str]]] = {
    # rack1 (child) beats all (parent) inline; host inline beats groups; group_vars/all.yml beats all's inline vars
    "a1": {"desired": {"power": "POWER_ON", "pxe": "INIT"}, "config": _ALL},
    # every group_vars/ file beats every inline group var: lab.yml's image beats gpu's inline cuda
    "a2": {"desired": {"power": "POWER_ON", "pxe": "WAIT"}, "config": _ALL},
    # host_vars/ beats the group
    "a3": {"desired": {"power": "POWER_OFF", "pxe": "WAIT"}, "config": _ALL},
    # group_vars/rack2/ (a folder) beats lab.yml (rack2 is deeper); host_vars/b1/ (a folder) beats groups
    "b1": {"desired": {"power": "POWER_ON", "pxe": "INIT"}, "config": _RACK2},
    # ansible_group_priority: hot (10) beats gpu and lab at the same depth
    "b2": {"desired": {"power": "POWER_ON", "pxe": "INIT"}, "config": _RACK2},
    # a second source (INI) adds a host to a group of the first
    "b3": {"desired": {"power": "POWER_ON", "pxe": "INIT"}, "config": _RACK2},
    "c1": {"desired": {"power": "POWER_OFF"}, "config": {"platform": "redfish", "image_name": "base"}},
    "d1": {"desired": {"power": "POWER_OFF"}, "config": {"platform": "redfish", "image_name": "base"}},
}


@pytest.fixture
def varied_inventory(write_inventory: WriteFiles) -> Path:
    """:data:`VARIED_INVENTORY` written under ``tmp_path/inv``."""
    return write_inventory(VARIED_INVENTORY)


@pytest.fixture
def varied_expected() -> dict[str, dict[str, dict[str, str]]]:
    """What ansible-core resolves for :data:`VARIED_INVENTORY`, host by host."""
    return EXPECTED


@pytest.fixture
def write_inventory(tmp_path: Path) -> WriteFiles:
    """Write inventory files under ``tmp_path/inv`` and return that folder."""

    def write(files: dict[str, str]) -> Path:
        return write_tree(tmp_path / "inv", files)

    return write
