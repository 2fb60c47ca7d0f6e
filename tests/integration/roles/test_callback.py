"""The kraken.core.reconciler callback plugin, enabled by name in a plain ``ansible-playbook`` run.

What the reconciler and the agent rely on: every host's results arrive as lines of the published schema,
discoveries with them, failures with their message unless ``no_log`` hides it, unreachable hosts as such,
and a final tally; a reader that is not there costs the playbook nothing but one warning.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from reconciler.engine.executor import AnsibleRunnerExecutor
from reconciler.engine.resultstream import open_result_stream
from reconciler.model.catalog import Catalog
from reconciler.model.runrecords import Record, ResultRecord, ResultStatus, StartRecord, StatsRecord

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
SECRET = "hunter2-not-for-logs"

PLAYBOOK = [{
    "hosts": "all",
    "gather_facts": False,
    "tasks": [
        {"name": "reach", "ansible.builtin.ping": {}},
        {"name": "report", "kraken.core.discover": {"power": "POWER_ON"}, "when": "inventory_hostname == 'a'"},
        {"name": "tolerated", "ansible.builtin.fail": {"msg": "tolerated failure"}, "ignore_errors": True,
         "when": "inventory_hostname == 'a'"},
        {"name": "secret", "ansible.builtin.fail": {"msg": f"the password is {SECRET}"}, "no_log": True,
         "when": "inventory_hostname == 'b'"},
    ],
}]


def _inventory() -> dict[str, Any]:
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    unreachable = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
                   "ansible_ssh_common_args": "-o ConnectTimeout=3 -o StrictHostKeyChecking=no"}
    return {"all": {"hosts": {"a": local, "b": local, "c": unreachable}}}


@pytest.fixture
def project(tmp_path: Path, catalog: Catalog) -> tuple[Path, dict[str, str]]:
    (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAYBOOK))
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(_inventory()))
    environment = AnsibleRunnerExecutor(tmp_path / "work", catalog.collections).environment
    return tmp_path, environment


async def _playbook(folder: Path, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(folder / "hosts.yml"),
        str(folder / "play.yml"), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, output.decode()


def test_every_host_result_reaches_the_reader(project: tuple[Path, dict[str, str]]) -> None:
    folder, environment = project
    records: list[Record] = []
    raw: list[bytes] = []

    async def scenario() -> tuple[int, int]:
        async with open_result_stream("run-7", records.append) as stream:
            original = stream._accept  # keep the raw lines too, to check them against the published schema

            def tee(line: bytes) -> None:
                raw.append(line)
                original(line)

            stream._accept = tee  # type: ignore[method-assign]
            rc, _ = await _playbook(folder, {**environment, **stream.environment})
            assert await stream.drained(10)
            return rc, stream.dropped

    rc, dropped = asyncio.run(scenario())
    assert rc != 0 and dropped == 0  # b failed and c is unreachable: the playbook fails, the stream does not

    assert isinstance(records[0], StartRecord) and records[0].run == "run-7"
    assert isinstance(records[-1], StatsRecord) and set(records[-1].hosts) == {"a", "b", "c"}
    assert records[-1].hosts["c"].unreachable == 1 and records[-1].hosts["b"].failures == 1
    results = {(r.host, r.task): r for r in records if isinstance(r, ResultRecord)}
    assert results[("c", "reach")].status is ResultStatus.UNREACHABLE and results[("c", "reach")].message
    assert results[("a", "report")].discovered == {"power": "POWER_ON"}
    tolerated = results[("a", "tolerated")]
    assert tolerated.status is ResultStatus.FAILED and tolerated.ignored and tolerated.message == "tolerated failure"
    secret = results[("b", "secret")]
    assert secret.status is ResultStatus.FAILED and not secret.ignored
    assert secret.message == "output hidden (no_log)"
    assert not any(SECRET.encode() in line for line in raw)

    schema = json.loads((REPO / "schemas" / "callback-record.schema.json").read_text())
    for line in raw:
        jsonschema.validate(json.loads(line), schema)


def test_without_a_reader_the_playbook_runs_and_warns_once(project: tuple[Path, dict[str, str]],
                                                          tmp_path: Path) -> None:
    folder, environment = project
    gone = str(tmp_path / "nobody-listens.sock")
    rc, output = asyncio.run(_playbook(folder, {**environment, "KRAKEN_CALLBACK_SOCKET": gone}))
    assert output.count("kraken.core.reconciler: cannot connect to") == 1, output
    assert "PLAY RECAP" in output  # the play went through all its tasks

    rc_silent, output_silent = asyncio.run(_playbook(folder, environment))  # no socket set: not a word
    assert rc_silent == rc and "kraken.core.reconciler" not in output_silent


def test_a_run_without_the_callback_is_never_taken_for_a_success(tmp_path: Path) -> None:
    """Collections without kraken.core: the run completes, but no host is OK and the reason is named."""
    from catalogs import write_collection

    from reconciler.engine.executor import HostOutcome, RunRequest

    source = write_collection(tmp_path / "src", {"lamp": {"values": ["UNKNOWN", "DARK", "LIT"]}},
                              {"lamp": [{"name": "look", "mutates": {"lamp": {"from": "UNKNOWN", "to": "DARK"}}}]})
    catalog = Catalog.load([source])
    executor = AnsibleRunnerExecutor(tmp_path / "work", catalog.collections)
    mutation = catalog.mutations["test.small.lamp:look"]  # type: ignore[index]
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    result = asyncio.run(executor.run(RunRequest("run-1", mutation, {"n1": local, "n2": local})))
    assert result.rc == 0  # ansible itself was content
    for host in ("n1", "n2"):
        assert result.hosts[host].outcome is HostOutcome.MISSING
        assert "kraken.core.reconciler callback reported nothing" in result.hosts[host].message
