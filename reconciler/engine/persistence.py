"""The reconciler's durable memory: one embedded SQLite file in the state dir.

It owns what must survive a restart (issue 5, item 2) and nothing else: the last discovered state of every
host (so a restarted reconciler plans from what it knew, not from all-unknown), the step in flight per host
(so a restart re-observes that host instead of re-running a step that may have finished), backoff per
(host, mutation) (so a restart does not hammer a failing BMC), the event journal (with retention), the
generations of desired state with the git commit behind each, and the operators' freezes. Desired state is not
here: git is its source of truth.

Why SQLite and how: stdlib ``sqlite3`` only, one connection per :class:`StateDB`, WAL journal (readers in other
processes never block the writer, nor it them), ``synchronous=NORMAL`` (a commit is an append to the WAL
without fsync: it survives a kill -9 of the reconciler, and a power cut loses at most the last commits, never
the file's consistency), a busy timeout for the rare other writer. Every write is its own short
``BEGIN IMMEDIATE`` transaction unless grouped with :meth:`StateDB.transaction`. Calls are synchronous and made
from the event loop thread: single-row writes take tens of microseconds (see the benchmark test).
The file is created 0600 in a 0700 directory: it names hosts and holds the event journal.

Tables (schema version 1)::

    schema_version   id=1, version, updated_at            the version this file was last written with
    discovered       host, var, value, at                  PK (host, var); a host's map is replaced whole
    in_flight        host, mutation, run_id, started_at, deadline     PK host: at most one step per host
    backoff          host, mutation, attempts, next_at, reason         PK (host, mutation)
    events           id AUTOINCREMENT, time, kind, host, mutation, run_id, message, data (JSON text or NULL)
                     ids never reused, even after pruning; indexes (time), (host, id)
    generations      generation PK, git_commit, dirty, loaded_at, hosts, source   newest ``max_generations`` kept
    freeze_state     id=1, global_frozen
    freeze_patterns  position PK, pattern UNIQUE

The file also carries ``PRAGMA application_id`` = ``0x4B524B4E`` ("KRKN") so that another program's SQLite
file is refused instead of being written into.

Example:

>>> import pathlib, tempfile
>>> with tempfile.TemporaryDirectory() as tmp:
...     with StateDB(pathlib.Path(tmp) / "state" / "kraken.db") as db:
...         db.set_discovered("n1", {"power": "POWER_ON"}, at=1.0)
...         first = db.append_event(kind="discovered", at=1.0, host="n1", data={"power": "POWER_ON"})
...         (db.load_discovered(), [(e.id, e.kind.value, e.data) for e in db.events()])
({'n1': {'power': 'POWER_ON'}}, [(1, 'discovered', {'power': 'POWER_ON'})])
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import stat
import threading
import time
import weakref
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.errors import KrakenError
from reconciler.model.api import EventDoc, EventKind

__all__ = [
    "SCHEMA_VERSION",
    "BackoffRecord",
    "GenerationRecord",
    "InFlightRecord",
    "PersistenceError",
    "StateDB",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
APPLICATION_ID = 0x4B524B4E  # "KRKN"

# _MIGRATIONS[i] brings a file from schema version i to i + 1 (version 0 = empty file).
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE schema_version (
               id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, updated_at REAL NOT NULL)""",
        """CREATE TABLE discovered (
               host TEXT NOT NULL, var TEXT NOT NULL, value TEXT NOT NULL, at REAL NOT NULL,
               PRIMARY KEY (host, var)) WITHOUT ROWID""",
        """CREATE TABLE in_flight (
               host TEXT PRIMARY KEY, mutation TEXT NOT NULL, run_id TEXT NOT NULL,
               started_at REAL NOT NULL, deadline REAL)""",
        """CREATE TABLE backoff (
               host TEXT NOT NULL, mutation TEXT NOT NULL, attempts INTEGER NOT NULL, next_at REAL NOT NULL,
               reason TEXT NOT NULL, PRIMARY KEY (host, mutation)) WITHOUT ROWID""",
        """CREATE TABLE events (
               id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL, host TEXT,
               mutation TEXT, run_id TEXT, message TEXT NOT NULL, data TEXT)""",
        "CREATE INDEX events_time ON events (time)",
        "CREATE INDEX events_host ON events (host, id)",
        """CREATE TABLE generations (
               generation INTEGER PRIMARY KEY, git_commit TEXT, dirty INTEGER NOT NULL, loaded_at REAL NOT NULL,
               hosts INTEGER NOT NULL, source TEXT NOT NULL)""",
        "CREATE TABLE freeze_state (id INTEGER PRIMARY KEY CHECK (id = 1), global_frozen INTEGER NOT NULL)",
        "CREATE TABLE freeze_patterns (position INTEGER PRIMARY KEY, pattern TEXT NOT NULL UNIQUE)",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

_EVENT_KINDS = frozenset(k.value for k in EventKind)
_BACKSTOP_CHECKPOINT_PAGES = 10_000
_WAL_SIZE_LIMIT = 16 * 1024 * 1024  # bytes the -wal file is truncated to after a checkpoint resets it


class PersistenceError(KrakenError):
    """The state database cannot be opened, read or written; ``path`` names the file."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class InFlightRecord:
    """A step that was started on a host and has not ended: after a restart, re-observe the host."""

    host: str
    mutation: str
    run_id: str
    started_at: float
    deadline: float | None  # Unix time at which the step times out; None = no timeout


@dataclass(frozen=True)
class BackoffRecord:
    """Failed attempts of one mutation on one host, and when it may be tried again."""

    host: str
    mutation: str
    attempts: int
    next_at: float  # Unix time
    reason: str  # the last failure, for operators


@dataclass(frozen=True)
class GenerationRecord:
    """One generation of desired state that was put in force, and the git commit behind it."""

    generation: int
    commit: str | None  # None when the inventory is not a git work tree
    dirty: bool  # the work tree had uncommitted changes
    loaded_at: float
    hosts: int
    source: str  # the inventory path (and branch) it was read from


class StateDB:
    """The reconciler's SQLite state file; see the module docstring for what it holds.

    Not a pool: one connection, guarded by a lock, so it may be handed to a worker thread, but the calls are
    meant for the event loop thread (they are fast). ``read_only=True`` opens an existing file for inspection
    (another process, ``kraken`` tooling) without creating or upgrading anything.
    """

    def __init__(
        self,
        path: Path,
        *,
        event_retention_seconds: float = 7 * 86400,
        max_events: int = 100_000,
        max_generations: int = 1000,
        busy_timeout: float = 5.0,
        checkpoint_interval: float = 1.0,
        read_only: bool = False,
    ) -> None:
        if event_retention_seconds <= 0 or max_events <= 0 or max_generations <= 0:
            raise ValueError("event_retention_seconds, max_events and max_generations must be positive")
        self.path = Path(path)
        self.event_retention_seconds = float(event_retention_seconds)
        self.max_events = int(max_events)
        self.max_generations = int(max_generations)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._depth = 0  # nesting of open transactions (0 = autocommit)
        self._checkpointer: _Checkpointer | None = None
        if read_only:
            if not self.path.is_file():
                raise PersistenceError(self.path, "no such state database (read-only open creates nothing)")
        else:
            self._prepare_files()
        try:
            if read_only:
                target, uri = self.path.resolve().as_uri() + "?mode=ro", True
            else:
                target, uri = str(self.path), False
            self._conn = sqlite3.connect(
                target, timeout=busy_timeout, isolation_level=None, check_same_thread=False, uri=uri
            )
        except sqlite3.Error as exc:
            raise PersistenceError(self.path, f"cannot open the state database: {exc}") from exc
        try:
            self._configure(busy_timeout)
            self._check_schema()
        except BaseException:
            self._conn.close()
            raise
        if not read_only and checkpoint_interval > 0:
            try:
                self._checkpointer = _Checkpointer(self.path, interval=checkpoint_interval, busy_timeout=busy_timeout)
            except sqlite3.Error as exc:
                self._conn.close()
                raise PersistenceError(self.path, f"cannot open the checkpoint connection: {exc}") from exc
            weakref.finalize(self, self._checkpointer.stop)  # a StateDB dropped without close() leaves no thread

    # -- opening ------------------------------------------------------------------------------------------

    def _prepare_files(self) -> None:
        directory = self.path.parent
        try:
            if not directory.exists():
                directory.mkdir(mode=0o700, parents=True)
                directory.chmod(0o700)  # mkdir's mode is filtered by the umask
            elif directory.stat().st_mode & 0o077:
                log.warning("state_dir=%s mode=%o is open to other users; 0700 is advised", directory,
                            stat.S_IMODE(directory.stat().st_mode))
            if self.path.exists():
                mode = stat.S_IMODE(self.path.stat().st_mode)
                if mode & 0o077 and self.path.is_file():
                    log.warning("state_db=%s mode=%o tightened to 600", self.path, mode)
                    self.path.chmod(0o600)
            else:
                # Created here, not by SQLite, so that it is 0600 whatever the umask; SQLite gives the -wal and
                # -shm files the database file's mode.
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass  # another process created it between our check and our open
        except OSError as exc:
            raise PersistenceError(self.path, f"cannot prepare the state database: {exc.strerror or exc}") from exc

    def _configure(self, busy_timeout: float) -> None:
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if self.read_only:
                self._conn.execute("PRAGMA query_only = ON")
            else:
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    log.warning("state_db=%s journal_mode=%s (WAL refused by the file system)", self.path, mode)
                self._conn.execute("PRAGMA synchronous = NORMAL")
                # Checkpoints (the only fsyncs) run on a background thread: see _Checkpointer. This connection
                # checkpoints only as a backstop, should the WAL reach ~40 MB.
                self._conn.execute(f"PRAGMA wal_autocheckpoint = {_BACKSTOP_CHECKPOINT_PAGES}")
                self._conn.execute(f"PRAGMA journal_size_limit = {_WAL_SIZE_LIMIT}")
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from exc

    def _unreadable(self, exc: sqlite3.Error) -> PersistenceError:
        return PersistenceError(
            self.path,
            f"not a readable SQLite database ({exc}); move it away to start with empty state "
            "(discovered state is re-observed; backoff, the event journal and freezes are lost)",
        )

    def _check_schema(self) -> None:
        try:
            with self._atomic():
                app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
                tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if app_id != APPLICATION_ID and (app_id != 0 or tables):
                    raise PersistenceError(
                        self.path, f"not a Kraken state database (application_id={app_id:#x}, tables: "
                        f"{', '.join(sorted(tables)) or 'none'}); point --state-dir elsewhere")
                version = 0
                if "schema_version" in tables:
                    row = self._conn.execute("SELECT version FROM schema_version WHERE id = 1").fetchone()
                    version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise PersistenceError(
                        self.path, f"written by a newer Kraken (schema version {version}; this one understands "
                        f"up to {SCHEMA_VERSION}): upgrade Kraken, or move the file away to start with empty state")
                if version == SCHEMA_VERSION:
                    return
                if self.read_only:
                    raise PersistenceError(
                        self.path, f"schema version {version} is older than {SCHEMA_VERSION}: open it read-write "
                        "once (kraken serve) to upgrade it")
                self._migrate(version)
        except sqlite3.DatabaseError as exc:
            raise self._unreadable(exc) from exc

    def _migrate(self, version: int) -> None:
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                self._conn.execute(statement)
        self._conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        self._conn.execute(
            "INSERT OR REPLACE INTO schema_version (id, version, updated_at) VALUES (1, ?, ?)",
            (SCHEMA_VERSION, time.time()),
        )
        log.info("state_db=%s schema_version=%d from=%d", self.path, SCHEMA_VERSION, version)

    # -- lifecycle and transactions -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent). An open :meth:`transaction` is rolled back by SQLite."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._lock:
            if getattr(self, "_conn", None) is None:
                return
            try:
                if not self.read_only:
                    self._conn.execute("PRAGMA optimize")
            except sqlite3.Error as exc:  # closing must not fail on a best-effort statistics update
                log.debug("state_db=%s optimize_failed=%s", self.path, exc)
            self._conn.close()
            self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> StateDB:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit; an exception inside rolls all of them back and propagates.

        Nested use is allowed: an inner block is a savepoint (an exception that escapes it undoes only its
        writes, if the outer block catches it). Other threads wait for the block to finish.
        """
        with self._atomic():
            yield

    @contextmanager
    def _atomic(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            depth = self._depth
            savepoint = f"kraken_{depth}"
            try:
                if depth:
                    conn.execute(f"SAVEPOINT {savepoint}")
                else:  # IMMEDIATE: take the write lock now, so the busy timeout applies (no upgrade deadlock)
                    conn.execute("BEGIN" if self.read_only else "BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise PersistenceError(self.path, f"cannot start a transaction: {exc}") from exc
            self._depth = depth + 1
            try:
                yield conn
            except BaseException:
                self._depth = depth
                try:
                    conn.execute("ROLLBACK" if depth == 0 else f"ROLLBACK TO {savepoint}")
                    if depth:
                        conn.execute(f"RELEASE {savepoint}")
                except sqlite3.Error as exc:
                    log.error("state_db=%s rollback_failed=%s", self.path, exc)
                raise
            self._depth = depth
            try:
                conn.execute("COMMIT" if depth == 0 else f"RELEASE {savepoint}")
            except sqlite3.Error as exc:
                if depth == 0 and conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise PersistenceError(self.path, f"cannot commit: {exc}") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write call: its own transaction, or a savepoint inside the caller's :meth:`transaction`."""
        try:
            with self._atomic() as conn:
                yield conn
        except sqlite3.Error as exc:
            raise PersistenceError(self.path, f"write failed: {exc}") from exc

    def _write_one(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        """A write that is one statement: atomic by itself, so no BEGIN/COMMIT round trips (a third of the cost)."""
        with self._lock:
            conn = self._connection()
            try:
                return conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise PersistenceError(self.path, f"write failed: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise PersistenceError(self.path, f"read failed: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if getattr(self, "_conn", None) is None:
            raise PersistenceError(self.path, "the state database is closed")
        return self._conn

    def check_integrity(self) -> list[str]:
        """SQLite's ``PRAGMA integrity_check``: an empty list when the file is sound, else its complaints."""
        with self._read() as conn:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    # -- discovered state -----------------------------------------------------------------------------------

    def set_discovered(self, host: str, values: Mapping[str, str], *, at: float) -> None:
        """Replace everything discovered about ``host`` with ``values`` (an empty map forgets it all)."""
        rows = [(host, var, value, at) for var, value in values.items()]
        for _, var, value, _ in rows:
            if not isinstance(var, str) or not isinstance(value, str):
                raise TypeError(f"host={host}: discovered {var!r}={value!r} must map str to str")
        with self._write() as conn:
            conn.execute("DELETE FROM discovered WHERE host = ?", (host,))
            conn.executemany("INSERT INTO discovered (host, var, value, at) VALUES (?, ?, ?, ?)", rows)

    def load_discovered(self) -> dict[str, dict[str, str]]:
        """Every host's last discovered values (hosts with none are absent)."""
        result: dict[str, dict[str, str]] = {}
        with self._read() as conn:
            for host, var, value in conn.execute("SELECT host, var, value FROM discovered ORDER BY host, var"):
                result.setdefault(host, {})[var] = value
        return result

    def forget_host(self, host: str) -> None:
        """The host left the inventory: drop its discovered state, step in flight and backoff (not its events)."""
        with self._write() as conn:
            for table in ("discovered", "in_flight", "backoff"):
                conn.execute(f"DELETE FROM {table} WHERE host = ?", (host,))

    # -- steps in flight ------------------------------------------------------------------------------------

    def record_step_start(self, record: InFlightRecord) -> None:
        """Note the step a host is running (replacing any earlier note: one chain per host)."""
        self._write_one(
            "INSERT OR REPLACE INTO in_flight (host, mutation, run_id, started_at, deadline) VALUES (?, ?, ?, ?, ?)",
            (record.host, record.mutation, record.run_id, record.started_at, record.deadline),
        )

    def record_step_end(self, host: str) -> None:
        """The host's step ended (whatever the outcome); group it with the outcome's writes in a transaction."""
        self._write_one("DELETE FROM in_flight WHERE host = ?", (host,))

    def load_in_flight(self) -> dict[str, InFlightRecord]:
        """Steps that started and never ended: after a restart these hosts must be re-observed, not re-run."""
        with self._read() as conn:
            rows = conn.execute("SELECT host, mutation, run_id, started_at, deadline FROM in_flight").fetchall()
        return {r[0]: InFlightRecord(host=r[0], mutation=r[1], run_id=r[2], started_at=r[3], deadline=r[4])
                for r in rows}

    # -- backoff --------------------------------------------------------------------------------------------

    def set_backoff(self, record: BackoffRecord) -> None:
        self._write_one(
            "INSERT OR REPLACE INTO backoff (host, mutation, attempts, next_at, reason) VALUES (?, ?, ?, ?, ?)",
            (record.host, record.mutation, record.attempts, record.next_at, record.reason),
        )

    def clear_backoff(self, host: str, mutation: str | None = None) -> None:
        """Reset the backoff of one mutation of ``host``, or of all of them (``mutation=None``)."""
        if mutation is None:
            self._write_one("DELETE FROM backoff WHERE host = ?", (host,))
        else:
            self._write_one("DELETE FROM backoff WHERE host = ? AND mutation = ?", (host, mutation))

    def load_backoff(self) -> dict[tuple[str, str], BackoffRecord]:
        with self._read() as conn:
            rows = conn.execute("SELECT host, mutation, attempts, next_at, reason FROM backoff").fetchall()
        return {(r[0], r[1]): BackoffRecord(host=r[0], mutation=r[1], attempts=r[2], next_at=r[3], reason=r[4])
                for r in rows}

    # -- event journal --------------------------------------------------------------------------------------

    def append_event(
        self,
        *,
        kind: str,
        at: float,
        host: str | None = None,
        mutation: str | None = None,
        run_id: str | None = None,
        message: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> int:
        """Journal one event (``kind`` an :class:`EventKind` value) and return its id.

        ``data`` must be JSON (str keys; no NaN or infinity): anything else is a :class:`TypeError` naming the
        offending key. Tuples come back as lists. Ids increase across restarts and are never reused.
        """
        if kind not in _EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; expected one of {', '.join(sorted(_EVENT_KINDS))}")
        encoded = _encode_data(data, kind=kind, host=host) if data else None
        event_id = self._write_one(
            "INSERT INTO events (time, kind, host, mutation, run_id, message, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (at, str(kind), host, mutation, run_id, message, encoded),
        ).lastrowid
        assert event_id is not None
        return event_id

    def events(
        self,
        *,
        after_id: int = 0,
        limit: int = 1000,
        host: str | None = None,
        kinds: Collection[str] | None = None,
    ) -> list[EventDoc]:
        """Events with ``id > after_id``, oldest first, at most ``limit``; optionally of one host / some kinds."""
        if limit <= 0:
            return []
        sql = "SELECT id, time, kind, host, mutation, run_id, message, data FROM events WHERE id > ?"
        params: list[Any] = [after_id]
        if host is not None:
            sql += " AND host = ?"
            params.append(host)
        if kinds is not None:
            wanted = sorted({str(k) for k in kinds})
            unknown = [k for k in wanted if k not in _EVENT_KINDS]
            if unknown:
                raise ValueError(f"unknown event kinds {unknown}; expected some of {sorted(_EVENT_KINDS)}")
            if not wanted:
                return []
            sql += f" AND kind IN ({', '.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        with self._read() as conn:
            rows = conn.execute(sql, params).fetchall()
        result = []
        for event_id, at, kind, ev_host, mutation, run_id, message, data in rows:
            if kind not in _EVENT_KINDS:  # written by a newer Kraken with more kinds: skip, do not fail the reader
                log.warning("state_db=%s event=%d kind=%s unknown, skipped", self.path, event_id, kind)
                continue
            result.append(EventDoc(id=event_id, time=at, kind=EventKind(kind), host=ev_host, mutation=mutation,
                                   run_id=run_id, message=message, data=json.loads(data) if data else {}))
        return result

    def last_event_id(self) -> int:
        """The id of the newest event ever journalled (0 if none), pruned or not: an SSE stream resumes after it."""
        with self._read() as conn:
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(row[0]) if row else 0

    def prune_events(self, *, now: float) -> int:
        """Drop events older than the retention, then the oldest beyond ``max_events``; return how many went."""
        cutoff = now - self.event_retention_seconds
        with self._write() as conn:
            dropped = conn.execute("DELETE FROM events WHERE time < ?", (cutoff,)).rowcount
            dropped += conn.execute(
                "DELETE FROM events WHERE id <= (SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (self.max_events,),
            ).rowcount
        if dropped:
            log.debug("state_db=%s events_pruned=%d", self.path, dropped)
        return dropped

    # -- desired-state generations --------------------------------------------------------------------------

    def record_generation(self, record: GenerationRecord) -> None:
        """Remember a generation put in force (the newest ``max_generations`` are kept)."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO generations (generation, git_commit, dirty, loaded_at, hosts, source) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (record.generation, record.commit, int(record.dirty), record.loaded_at, record.hosts, record.source),
            )
            conn.execute(
                "DELETE FROM generations WHERE generation <= "
                "(SELECT generation FROM generations ORDER BY generation DESC LIMIT 1 OFFSET ?)",
                (self.max_generations,),
            )

    def last_generation(self) -> GenerationRecord | None:
        """The highest-numbered generation recorded, or None on a fresh file."""
        found = self.generations(limit=1)
        return found[0] if found else None

    def generations(self, *, limit: int = 100) -> list[GenerationRecord]:
        """The newest generations, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT generation, git_commit, dirty, loaded_at, hosts, source FROM generations "
                "ORDER BY generation DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [GenerationRecord(generation=r[0], commit=r[1], dirty=bool(r[2]), loaded_at=r[3], hosts=r[4],
                                 source=r[5]) for r in rows]

    # -- freezes --------------------------------------------------------------------------------------------

    def set_freezes(self, *, global_frozen: bool, patterns: Sequence[str]) -> None:
        """Replace the freezes: the global switch and the host patterns (order kept, duplicates dropped)."""
        if isinstance(patterns, str):
            raise TypeError("patterns must be a sequence of patterns, not one string")
        unique = list(dict.fromkeys(patterns))
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO freeze_state (id, global_frozen) VALUES (1, ?)", (int(global_frozen),))
            conn.execute("DELETE FROM freeze_patterns")
            conn.executemany("INSERT INTO freeze_patterns (position, pattern) VALUES (?, ?)", enumerate(unique))

    def load_freezes(self) -> tuple[bool, list[str]]:
        with self._read() as conn:
            row = conn.execute("SELECT global_frozen FROM freeze_state WHERE id = 1").fetchone()
            patterns = [r[0] for r in conn.execute("SELECT pattern FROM freeze_patterns ORDER BY position")]
        return (bool(row[0]) if row else False), patterns


def _encode_data(data: Mapping[str, Any], *, kind: str, host: str | None) -> str:
    for key in data:
        if not isinstance(key, str):
            raise TypeError(f"event kind={kind} host={host}: data key {key!r} is not a str")
    try:
        return _ENCODER.encode(dict(data))
    except (TypeError, ValueError) as exc:
        culprit = next((key for key, value in data.items() if not _is_json(key, value)), None)
        where = f" key {culprit!r}" if culprit is not None else ""
        raise TypeError(f"event kind={kind} host={host}: data{where} is not JSON-serialisable: {exc}") from None


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} value {value!r}")


# Stateless, so shared: building an encoder per call costs more than encoding a small event.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=_refuse)


def _is_json(key: Any, value: Any) -> bool:
    if not isinstance(key, str):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    try:
        json.dumps(value, allow_nan=False, default=_refuse)
    except (TypeError, ValueError):
        return False
    return True


class _Checkpointer:
    """Copies the WAL back into the database file from a thread of its own, every ``interval`` seconds.

    SQLite's automatic checkpoint runs inside whichever commit crosses the threshold and fsyncs there: measured
    here, a 10-30 ms stall of the event loop every few hundred writes. A PASSIVE checkpoint on another
    connection runs alongside writers and never blocks them; the GIL is released while SQLite works.
    """

    def __init__(self, path: Path, *, interval: float, busy_timeout: float) -> None:
        self._path = path
        self._interval = interval
        self._stopping = threading.Event()
        self._conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        self._thread = threading.Thread(target=self._run, name=f"kraken-statedb-checkpoint:{path.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stopping.wait(self._interval):
                try:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # the writer's backstop checkpoint still bounds the WAL
                    log.warning("state_db=%s checkpoint_failed=%s", self._path, exc)
        finally:
            self._conn.close()

    def stop(self) -> None:
        """Idempotent; returns once the thread has closed its connection."""
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
