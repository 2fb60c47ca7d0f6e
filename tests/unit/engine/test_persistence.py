"""StateDB against real SQLite files: round trips, restarts, WAL readers in another process, file modes,
event retention, transactions, schema checks, and kill -9 of a writer in the middle of a burst."""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconciler.engine.persistence import (
    SCHEMA_VERSION,
    BackoffRecord,
    GenerationRecord,
    InFlightRecord,
    PersistenceError,
    StateDB,
)
from reconciler.errors import KrakenError
from reconciler.model.api import EventDoc, EventKind


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "kraken.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[StateDB]:
    with StateDB(db_path) as opened:
        yield opened


def _fill(db: StateDB) -> None:
    """One of everything, for the restart tests."""
    db.set_discovered("n1", {"power": "POWER_ON", "runstate": "SYNC"}, at=10.0)
    db.set_discovered("n2", {"power": "POWER_OFF"}, at=11.0)
    db.record_step_start(InFlightRecord("n2", "kraken.layercake.power_ipmi:power_on", "run-7", 12.0, 22.0))
    db.set_backoff(BackoffRecord("n3", "kraken.layercake.pxe:boot", 3, 100.0, "BMC unreachable"))
    db.append_event(kind="step_started", at=12.0, host="n2", mutation="kraken.layercake.power_ipmi:power_on",
                    run_id="run-7", message="starting", data={"batch": ["n2"], "timeout": 10})
    db.record_generation(GenerationRecord(4, "0123abcd", False, 9.0, 3, "/srv/inventory (main)"))
    db.set_freezes(global_frozen=True, patterns=["rack1*", "n9"])


def _check_filled(db: StateDB) -> None:
    assert db.load_discovered() == {"n1": {"power": "POWER_ON", "runstate": "SYNC"}, "n2": {"power": "POWER_OFF"}}
    assert db.load_in_flight() == {
        "n2": InFlightRecord("n2", "kraken.layercake.power_ipmi:power_on", "run-7", 12.0, 22.0)
    }
    assert db.load_backoff() == {
        ("n3", "kraken.layercake.pxe:boot"): BackoffRecord("n3", "kraken.layercake.pxe:boot", 3, 100.0,
                                                           "BMC unreachable")
    }
    assert db.events() == [
        EventDoc(id=1, time=12.0, kind=EventKind.STEP_STARTED, host="n2",
                 mutation="kraken.layercake.power_ipmi:power_on", run_id="run-7", message="starting",
                 data={"batch": ["n2"], "timeout": 10})
    ]
    assert db.last_generation() == GenerationRecord(4, "0123abcd", False, 9.0, 3, "/srv/inventory (main)")
    assert db.load_freezes() == (True, ["rack1*", "n9"])


# -- round trips ------------------------------------------------------------------------------------------------


def test_fresh_database_is_empty(db: StateDB) -> None:
    assert db.load_discovered() == {}
    assert db.load_in_flight() == {}
    assert db.load_backoff() == {}
    assert db.events() == []
    assert db.last_event_id() == 0
    assert db.last_generation() is None
    assert db.load_freezes() == (False, [])
    assert db.check_integrity() == []


def test_discovered_map_is_replaced_whole(db: StateDB) -> None:
    db.set_discovered("n1", {"power": "POWER_ON", "image": "ACTIVE"}, at=1.0)
    db.set_discovered("n2", {"power": "POWER_OFF"}, at=1.0)
    db.set_discovered("n1", {"power": "POWER_OFF"}, at=2.0)  # image forgotten: no longer in the map
    assert db.load_discovered() == {"n1": {"power": "POWER_OFF"}, "n2": {"power": "POWER_OFF"}}
    db.set_discovered("n2", {}, at=3.0)
    assert db.load_discovered() == {"n1": {"power": "POWER_OFF"}}
    with pytest.raises(TypeError, match="n1"):
        db.set_discovered("n1", {"power": None}, at=4.0)  # type: ignore[dict-item]
    assert db.load_discovered() == {"n1": {"power": "POWER_OFF"}}


def test_forget_host_drops_its_rows_but_not_its_history(db: StateDB) -> None:
    for host in ("n1", "n2"):
        db.set_discovered(host, {"power": "POWER_ON"}, at=1.0)
        db.record_step_start(InFlightRecord(host, "m:a", "r1", 1.0, None))
        db.set_backoff(BackoffRecord(host, "m:a", 1, 5.0, "failed"))
        db.append_event(kind=EventKind.DISCOVERED, at=1.0, host=host)
    db.forget_host("n1")
    assert db.load_discovered() == {"n2": {"power": "POWER_ON"}}
    assert set(db.load_in_flight()) == {"n2"}
    assert set(db.load_backoff()) == {("n2", "m:a")}
    assert [e.host for e in db.events()] == ["n1", "n2"]


def test_steps_in_flight(db: StateDB) -> None:
    first = InFlightRecord("n1", "m:power_on", "run-1", 1.0, 11.0)
    db.record_step_start(first)
    db.record_step_start(InFlightRecord("n2", "m:power_on", "run-1", 1.0, None))
    assert db.load_in_flight() == {"n1": first, "n2": InFlightRecord("n2", "m:power_on", "run-1", 1.0, None)}
    second = InFlightRecord("n1", "m:pxe", "run-2", 20.0, None)
    db.record_step_start(second)  # one step per host: the newer note replaces the older
    db.record_step_end("n2")
    db.record_step_end("n-unknown")  # ending nothing is not an error
    assert db.load_in_flight() == {"n1": second}


def test_backoff(db: StateDB) -> None:
    db.set_backoff(BackoffRecord("n1", "m:a", 1, 2.0, "rc=2"))
    db.set_backoff(BackoffRecord("n1", "m:a", 2, 4.0, "rc=3"))  # replaces
    db.set_backoff(BackoffRecord("n1", "m:b", 1, 2.0, "unreachable"))
    db.set_backoff(BackoffRecord("n2", "m:a", 5, 300.0, "timeout"))
    assert db.load_backoff()[("n1", "m:a")] == BackoffRecord("n1", "m:a", 2, 4.0, "rc=3")
    db.clear_backoff("n1", "m:b")
    assert set(db.load_backoff()) == {("n1", "m:a"), ("n2", "m:a")}
    db.clear_backoff("n1")
    assert db.load_backoff() == {("n2", "m:a"): BackoffRecord("n2", "m:a", 5, 300.0, "timeout")}


def test_events_round_trip_and_filters(db: StateDB) -> None:
    ids = [
        db.append_event(kind="desired_loaded", at=1.0, message="generation 1", data={"generation": 1}),
        db.append_event(kind=EventKind.STEP_STARTED, at=2.0, host="n1", mutation="m:a", run_id="r1"),
        db.append_event(kind="step_failed", at=3.0, host="n1", mutation="m:a", run_id="r1", message="rc=2",
                        data={"stdout": "/var/lib/kraken/runs/r1", "nested": {"a": [1, 2.5, None, True]}}),
        db.append_event(kind="step_started", at=4.0, host="n2", mutation="m:a", run_id="r2"),
    ]
    assert ids == [1, 2, 3, 4]
    every = db.events()
    assert [e.id for e in every] == ids
    assert every[0] == EventDoc(id=1, time=1.0, kind=EventKind.DESIRED_LOADED, message="generation 1",
                                data={"generation": 1})
    assert every[2].data == {"stdout": "/var/lib/kraken/runs/r1", "nested": {"a": [1, 2.5, None, True]}}
    assert every[1].data == {} and every[1].run_id == "r1"
    assert [e.id for e in db.events(after_id=2)] == [3, 4]
    assert [e.id for e in db.events(limit=2)] == [1, 2]
    assert [e.id for e in db.events(limit=0)] == []
    assert [e.id for e in db.events(host="n1")] == [2, 3]
    assert [e.id for e in db.events(kinds=["step_started"])] == [2, 4]
    assert [e.id for e in db.events(kinds={EventKind.STEP_FAILED, EventKind.DESIRED_LOADED})] == [1, 3]
    assert [e.id for e in db.events(host="n1", kinds=["step_started"], after_id=1)] == [2]
    assert db.events(kinds=[]) == []
    assert db.last_event_id() == 4
    with pytest.raises(ValueError, match="stepstarted"):
        db.events(kinds=["stepstarted"])


def test_event_kind_and_data_are_checked(db: StateDB) -> None:
    with pytest.raises(ValueError, match="unknown event kind 'exploded'"):
        db.append_event(kind="exploded", at=1.0)
    with pytest.raises(TypeError, match=r"key 'when'.*not JSON"):
        db.append_event(kind="discovered", at=1.0, host="n1", data={"ok": 1, "when": object()})
    with pytest.raises(TypeError, match="key 'ratio'"):
        db.append_event(kind="discovered", at=1.0, data={"ratio": math.nan})
    with pytest.raises(TypeError, match="key 3"):
        db.append_event(kind="discovered", at=1.0, data={3: "x"})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="key 'deep'"):
        db.append_event(kind="discovered", at=1.0, data={"deep": {"set": {1, 2}}})
    assert db.events() == []  # nothing half-written
    assert db.append_event(kind="discovered", at=1.0, data={"pair": (1, 2)}) == 1
    assert db.events()[0].data == {"pair": [1, 2]}  # JSON has no tuples


def test_generations(db_path: Path) -> None:
    with StateDB(db_path, max_generations=3) as db:
        for n in range(1, 6):
            db.record_generation(GenerationRecord(n, None if n == 2 else f"c{n}", n == 5, float(n), n * 10, "inv"))
        assert db.last_generation() == GenerationRecord(5, "c5", True, 5.0, 50, "inv")
        assert [g.generation for g in db.generations()] == [5, 4, 3]  # newest first, three kept
        db.record_generation(GenerationRecord(2, None, False, 6.0, 1, "inv"))  # an older number does not win
        assert db.last_generation() == GenerationRecord(5, "c5", True, 5.0, 50, "inv")


def test_freezes(db: StateDB) -> None:
    db.set_freezes(global_frozen=False, patterns=["rack1*", "n2", "rack1*"])
    assert db.load_freezes() == (False, ["rack1*", "n2"])
    db.set_freezes(global_frozen=True, patterns=[])
    assert db.load_freezes() == (True, [])
    with pytest.raises(TypeError, match="not one string"):
        db.set_freezes(global_frozen=False, patterns="rack1*")
    assert db.load_freezes() == (True, [])


# -- restarts ------------------------------------------------------------------------------------------------


def test_everything_survives_close_and_reopen(db_path: Path) -> None:
    with StateDB(db_path) as db:
        _fill(db)
    with StateDB(db_path) as db:
        _check_filled(db)
        assert db.check_integrity() == []


def test_event_ids_keep_increasing_across_restarts_and_pruning(db_path: Path) -> None:
    with StateDB(db_path, event_retention_seconds=10) as db:
        assert [db.append_event(kind="discovered", at=float(t)) for t in range(3)] == [1, 2, 3]
        assert db.prune_events(now=1000.0) == 3  # the journal is now empty
    with StateDB(db_path) as db:
        assert db.events() == []
        assert db.last_event_id() == 3
        assert db.append_event(kind="discovered", at=1001.0) == 4  # never reused


def test_use_after_close_is_a_clear_error(db_path: Path) -> None:
    db = StateDB(db_path)
    db.close()
    db.close()  # idempotent
    with pytest.raises(PersistenceError, match="closed") as caught:
        db.load_discovered()
    assert str(db_path) in str(caught.value)
    assert isinstance(caught.value, KrakenError)


def test_dropped_without_close_leaves_no_thread(db_path: Path) -> None:
    import gc

    before = {t.name for t in threading.enumerate()}
    db = StateDB(db_path, checkpoint_interval=0.05)
    db.append_event(kind="discovered", at=1.0)
    del db
    gc.collect()
    assert {t.name for t in threading.enumerate()} - before == set()


def test_usable_from_another_thread(db: StateDB) -> None:
    failures: list[BaseException] = []

    def work() -> None:
        try:
            db.set_discovered("n1", {"power": "POWER_ON"}, at=1.0)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    assert not failures
    assert db.load_discovered() == {"n1": {"power": "POWER_ON"}}


# -- files ------------------------------------------------------------------------------------------------------


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_file_is_0600_in_a_0700_dir_whatever_the_umask(db_path: Path) -> None:
    with _umask(0), StateDB(db_path) as db:
        db.append_event(kind="discovered", at=1.0)
        assert (db_path.parent.stat().st_mode & 0o777) == 0o700
        assert (db_path.stat().st_mode & 0o777) == 0o600
        wal = db_path.with_name(db_path.name + "-wal")
        assert wal.exists(), "WAL journal mode: the -wal file exists while the database is open"
        assert (wal.stat().st_mode & 0o777) == 0o600


def test_existing_loose_file_is_tightened(db_path: Path) -> None:
    StateDB(db_path).close()
    db_path.chmod(0o644)
    StateDB(db_path).close()
    assert (db_path.stat().st_mode & 0o777) == 0o600


def test_wal_and_synchronous_normal(db: StateDB, db_path: Path) -> None:
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent, in the file
    finally:
        raw.close()
    assert db._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


# -- retention ----------------------------------------------------------------------------------------------------


def test_retention_by_age(db_path: Path) -> None:
    with StateDB(db_path, event_retention_seconds=100) as db:
        for t in (10.0, 50.0, 120.0, 200.0, 30.0):  # times need not follow ids (clock steps)
            db.append_event(kind="discovered", at=t)
        assert db.prune_events(now=205.0) == 3  # older than 105: t=10, 50, 30
        assert [e.time for e in db.events()] == [120.0, 200.0]
        assert db.prune_events(now=205.0) == 0


def test_retention_by_count(db_path: Path) -> None:
    with StateDB(db_path, max_events=5) as db:
        for i in range(12):
            db.append_event(kind="discovered", at=1000.0 + i, data={"i": i})
        assert db.prune_events(now=1100.0) == 7
        assert [e.data["i"] for e in db.events()] == [7, 8, 9, 10, 11]
        assert db.prune_events(now=1100.0) == 0


def test_retention_by_age_and_count_together(db_path: Path) -> None:
    with StateDB(db_path, event_retention_seconds=50, max_events=3) as db:
        for i in range(10):
            db.append_event(kind="discovered", at=float(i * 10), data={"i": i})  # t = 0 … 90
        assert db.prune_events(now=100.0) == 7  # age drops t<50 (5 events); count drops 2 more
        assert [e.data["i"] for e in db.events()] == [7, 8, 9]


# -- transactions -------------------------------------------------------------------------------------------------


def test_transaction_commits_once_and_others_see_nothing_before(db: StateDB, db_path: Path) -> None:
    with StateDB(db_path, read_only=True) as reader:
        with db.transaction():
            for i in range(500):
                db.set_discovered(f"n{i}", {"power": "POWER_ON"}, at=1.0)
            db.append_event(kind="discovered", at=1.0, message="batch of 500")
            assert len(db.load_discovered()) == 500  # the writer sees its own writes
            assert reader.load_discovered() == {} and reader.events() == []  # nobody else does yet
        assert len(reader.load_discovered()) == 500
        assert len(reader.events()) == 1


def test_exception_inside_a_transaction_rolls_everything_back(db: StateDB) -> None:
    db.set_discovered("n0", {"power": "POWER_OFF"}, at=0.0)
    with pytest.raises(RuntimeError, match="crash"), db.transaction():
        db.set_discovered("n0", {"power": "POWER_ON"}, at=1.0)
        db.record_step_end("n0")
        db.append_event(kind="step_succeeded", at=1.0, host="n0")
        db.set_freezes(global_frozen=True, patterns=["x"])
        raise RuntimeError("crash")
    assert db.load_discovered() == {"n0": {"power": "POWER_OFF"}}
    assert db.events() == []
    assert db.load_freezes() == (False, [])
    db.append_event(kind="discovered", at=2.0)  # the connection is usable afterwards
    assert len(db.events()) == 1


def test_nested_transaction_is_a_savepoint(db: StateDB) -> None:
    with db.transaction():
        db.set_discovered("outer", {"power": "POWER_ON"}, at=1.0)
        with pytest.raises(KeyError), db.transaction():
            db.set_discovered("inner", {"power": "POWER_ON"}, at=1.0)
            raise KeyError("inner only")
        with pytest.raises(TypeError):  # a failed call inside a transaction leaves no half of itself behind
            db.append_event(kind="discovered", at=1.0, data={"x": object()})
    assert db.load_discovered() == {"outer": {"power": "POWER_ON"}}
    assert db.events() == []


def test_reader_holding_a_snapshot_does_not_block_the_writer(db_path: Path) -> None:
    with StateDB(db_path, busy_timeout=0.2) as db:
        db.append_event(kind="discovered", at=1.0)
        reader = sqlite3.connect(db_path, isolation_level=None)
        try:
            reader.execute("BEGIN")
            assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 1
            for i in range(20):  # with a rollback journal these would time out against the reader's lock
                db.append_event(kind="discovered", at=2.0 + i)
            assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 1  # its snapshot
            reader.execute("COMMIT")
            assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == 21
        finally:
            reader.close()


# -- bad files ------------------------------------------------------------------------------------------------------


def test_newer_schema_is_refused_with_a_clear_error(db_path: Path) -> None:
    StateDB(db_path).close()
    raw = sqlite3.connect(db_path)
    with raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    raw.close()
    with pytest.raises(PersistenceError, match=r"newer Kraken \(schema version 2; this one understands up to 1\)"
                       ) as caught:
        StateDB(db_path)
    assert caught.value.path == db_path and str(db_path) in str(caught.value)
    with pytest.raises(PersistenceError, match="newer Kraken"):
        StateDB(db_path, read_only=True)


def test_another_programs_database_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(mode=0o700)
    raw = sqlite3.connect(db_path)
    with raw:
        raw.execute("CREATE TABLE inventory (host TEXT)")
    raw.close()
    with pytest.raises(PersistenceError, match=r"not a Kraken state database.*inventory"):
        StateDB(db_path)
    raw = sqlite3.connect(db_path)
    assert [r[0] for r in raw.execute("SELECT name FROM sqlite_master")] == ["inventory"]  # untouched
    raw.close()


def test_garbage_file_is_a_clear_error_naming_it(db_path: Path) -> None:
    db_path.parent.mkdir(mode=0o700)
    db_path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    before = db_path.read_bytes()
    with pytest.raises(PersistenceError, match="not a readable SQLite database") as caught:
        StateDB(db_path)
    assert str(db_path) in str(caught.value)
    assert db_path.read_bytes() == before  # evidence left for the operator


def test_damaged_pages_are_a_clear_error_naming_the_file(db_path: Path) -> None:
    with StateDB(db_path) as db, db.transaction():
        for i in range(2000):
            db.append_event(kind="discovered", at=float(i), host=f"n{i}", message="x" * 100)
    size = db_path.stat().st_size
    with db_path.open("r+b") as f:  # keep the header page, smash the rest
        f.seek(4096)
        f.write(b"\xa5" * (size - 4096))
    with pytest.raises(PersistenceError) as caught, StateDB(db_path) as db:
        db.events(limit=10_000)
        assert db.check_integrity() == []
    assert str(db_path) in str(caught.value)


def test_unreadable_file_is_a_clear_error(db_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    StateDB(db_path).close()
    db_path.chmod(0)
    try:
        with pytest.raises(PersistenceError) as caught:
            StateDB(db_path)
        assert str(db_path) in str(caught.value)
    finally:
        db_path.chmod(0o600)


def test_path_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "kraken.db").mkdir()
    with pytest.raises(PersistenceError, match=r"kraken\.db"):
        StateDB(tmp_path / "kraken.db")


def test_read_only_open(db_path: Path) -> None:
    with pytest.raises(PersistenceError, match="no such state database"):
        StateDB(db_path, read_only=True)
    assert not db_path.exists()
    with StateDB(db_path) as db:
        _fill(db)
    with StateDB(db_path, read_only=True) as reader:
        _check_filled(reader)
        with pytest.raises(PersistenceError, match=r"readonly|read-only") as caught:
            reader.set_discovered("n1", {}, at=1.0)
        assert str(db_path) in str(caught.value)
        _check_filled(reader)


# -- other processes ----------------------------------------------------------------------------------------------

_WRITER = """
import sys
from pathlib import Path
from reconciler.engine.persistence import StateDB
path, count = Path(sys.argv[1]), int(sys.argv[2])
with StateDB(path) as db:
    print("ready", flush=True)
    for i in range(count):
        if i % 10 == 9:
            with db.transaction():  # a burst: 20 hosts and an event in one commit
                for h in range(20):
                    db.set_discovered(f"h{h}", {"seq": str(i)}, at=float(i))
                db.append_event(kind="discovered", at=float(i), data={"i": i, "batch": True})
        else:
            db.append_event(kind="discovered", at=float(i), host=f"h{i % 20}", data={"i": i})
            db.set_backoff(__import__("reconciler.engine.persistence").engine.persistence.BackoffRecord(
                f"h{i % 20}", "m:a", i, float(i), "x"))
        print(i, flush=True)  # only after the commit returned
"""


def _start_writer(path: Path, count: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(count)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if line.strip() != "ready":
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"writer did not start: {line!r} {err}")
    return proc


_OPENER = """
import sys
from pathlib import Path
from reconciler.engine.persistence import StateDB
with StateDB(Path(sys.argv[1])) as db:
    db.append_event(kind="discovered", at=0.0, message=sys.argv[2])
"""


@pytest.mark.timeout(60)
def test_processes_creating_the_same_fresh_file_at_once(db_path: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(db_path), f"p{i}"], stderr=subprocess.PIPE,
                              text=True) for i in range(4)]
    errors = [p.communicate(timeout=50)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    with StateDB(db_path, read_only=True) as db:
        assert sorted(e.message for e in db.events()) == ["p0", "p1", "p2", "p3"]


@pytest.mark.timeout(60)
def test_another_process_reads_while_this_one_writes(db_path: Path) -> None:
    StateDB(db_path).close()
    proc = _start_writer(db_path, 3000)
    seen: list[int] = []
    try:
        with StateDB(db_path, read_only=True, busy_timeout=1.0) as reader:
            while proc.poll() is None:
                seen.append(reader.last_event_id())
                reader.load_backoff()
                reader.load_discovered()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert seen == sorted(seen)  # reads are consistent snapshots of a growing journal
    assert len({n for n in seen if 0 < n < 3000}) >= 5, "the reader should have seen the writer mid-way"
    with StateDB(db_path, read_only=True) as reader:
        assert reader.last_event_id() == 3000


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kill_after", [50, 400, 1500])
def test_kill_9_mid_burst_keeps_every_committed_write(db_path: Path, kill_after: int) -> None:
    StateDB(db_path).close()
    proc = _start_writer(db_path, 1_000_000)
    reported: list[int] = []
    try:
        assert proc.stdout is not None
        while len(reported) < kill_after:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"writer ended early: {proc.communicate(timeout=10)[1]}")
            reported.append(int(line))
        proc.send_signal(signal.SIGKILL)  # mid-burst: it was writing as fast as it could
        # Read the rest through the same text stream: readline() has buffered lines ahead, and communicate()
        # would read the pipe's descriptor directly and lose them (the cause of a rare failure under load).
        rest = proc.stdout.read()
        proc.wait(timeout=30)
        reported.extend(int(n) for n in rest.split())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    last = reported[-1]
    assert reported == list(range(last + 1))
    with StateDB(db_path) as db:  # read-write: what a restarted reconciler does
        assert db.check_integrity() == []
        journalled = [e.data["i"] for e in db.events(limit=2_000_000)]
        assert journalled[: last + 1] == list(range(last + 1)), "a committed event is missing"
        assert len(journalled) <= last + 2  # at most the one commit that was not yet reported
        last_batch = max(i for i in range(last + 1) if i % 10 == 9) if last >= 9 else None
        discovered = db.load_discovered()
        if last_batch is not None:
            assert len(discovered) == 20
            assert all(int(values["seq"]) >= last_batch for values in discovered.values())
        assert db.append_event(kind="discovered", at=0.0) == len(journalled) + 1


# -- timings: printed, never asserted --------------------------------------------------------------------------------


def _per_call(fn: Callable[[int], object], n: int) -> tuple[float, float, float]:
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        fn(i)
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(n * 0.99)] / 1000, samples[-1] / 1000


def test_benchmark_single_row_writes(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Per-call cost of the writes the engine makes on its event loop (run with -s to see the numbers)."""
    n = 2000
    with StateDB(db_path) as db:
        results = {
            "append_event": _per_call(lambda i: db.append_event(
                kind="step_succeeded", at=float(i), host=f"n{i % 500}", mutation="kraken.layercake.power_ipmi:power_on",
                run_id="run-1", message="ok", data={"power": "POWER_ON", "seconds": 1.5}), n),
            "set_discovered(5 vars)": _per_call(lambda i: db.set_discovered(
                f"n{i % 500}", {"power": "POWER_ON", "runstate": "SYNC", "busy": "FREE", "pxe": "INIT",
                                "image": "ACTIVE"}, at=float(i)), n),
            "record_step_start": _per_call(lambda i: db.record_step_start(
                InFlightRecord(f"n{i % 500}", "m:power_on", "run-1", float(i), float(i) + 10)), n),
            "record_step_end": _per_call(lambda i: db.record_step_end(f"n{i % 500}"), n),
            "set_backoff": _per_call(lambda i: db.set_backoff(BackoffRecord(f"n{i % 500}", "m:a", i, 1.0, "rc=2")), n),
            "clear_backoff": _per_call(lambda i: db.clear_backoff(f"n{i % 500}", "m:a"), n),
        }

        def batch(i: int) -> None:
            with db.transaction():
                for h in range(500):
                    db.set_discovered(f"n{h}", {"power": "POWER_ON", "runstate": "SYNC"}, at=float(i))

        results["transaction(500 x set_discovered)"] = _per_call(batch, 20)
        results["load_discovered(500 hosts)"] = _per_call(lambda i: db.load_discovered(), 50)
        results["events(limit=1000)"] = _per_call(lambda i: db.events(after_id=i * 10, limit=1000), 50)
        results["prune_events(nothing to drop)"] = _per_call(lambda i: db.prune_events(now=0.0), 200)
        start = time.perf_counter()
        db.close()
        reopened = StateDB(db_path)
        open_ms = (time.perf_counter() - start) * 1000
        reopened.close()
    with capsys.disabled():
        print(f"\nStateDB per-call timings on this machine (n={n} unless batched), microseconds:")
        for name, (median, p99, worst) in results.items():
            print(f"  {name:36s} median {median:9.1f}  p99 {p99:9.1f}  max {worst:9.1f}")
        print(f"  close + reopen: {open_ms:.2f} ms")


def test_checkpoints_run_off_the_callers_thread_and_stop_on_close(db_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    db = StateDB(db_path, checkpoint_interval=0.05)
    assert any(name.startswith("kraken-statedb-checkpoint") for name in {t.name for t in threading.enumerate()})
    size_before = db_path.stat().st_size
    with db.transaction():
        for i in range(300):
            db.append_event(kind="discovered", at=float(i), message="x" * 200)
    assert db_path.stat().st_size == size_before  # the commit went to the WAL only ...
    deadline = time.monotonic() + 10
    while db_path.stat().st_size == size_before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert db_path.stat().st_size > size_before + 300 * 200  # ... and the background thread copied it over
    db.close()
    assert {t.name for t in threading.enumerate()} - before == set()
    assert not db_path.with_name(db_path.name + "-wal").exists()  # the last connection out removes the WAL
