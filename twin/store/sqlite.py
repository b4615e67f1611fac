"""The embedded twin store: one SQLite file in WAL mode, shared by the gateway (writer) and
the web app (reader, possibly another process).

One connection per store, guarded by a lock, so the store can be used from several threads.
Times are stored as integer microseconds since the Unix epoch, JSON as text, geometry as WKB;
spatial work happens in shapely, not in SQL.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from twin.devices.device import Device, DeviceStatus
from twin.errors import StoreError
from twin.sensing.anomalies import Anomaly
from twin.sensing.cellstate import CellState
from twin.sensing.readings import Bucket, CameraEvent, DeadLetter, Reading
from twin.store import _sql as sql
from twin.store import codec
from twin.store._cases import CaseTables
from twin.store._field import FieldTables
from twin.store._people import PeopleTables
from twin.store.base import TwinStore
from twin.store.migrations import pending
from twin.store.migrations.sqlite import MIGRATIONS, SCHEMA_MIGRATIONS

__all__ = ["SqliteStore", "sqlite_path"]

log = logging.getLogger(__name__)

_KEY_ORDER = itemgetter(0, 2, 1)  # (device_id, ts, metric) of a readings row: the order of readings_key
DIALECT = sql.Dialect(param="?", time_out=lambda column: f"{column} / 1e6", time_in=codec.to_us, decode_json=codec.loads)


def sqlite_path(url: str) -> str:
    """The file of a `sqlite:///path` URL (relative unless the path starts with '/').

    >>> sqlite_path("sqlite:///gridtwin.db"), sqlite_path("sqlite:////var/lib/gt.db")
    ('gridtwin.db', '/var/lib/gt.db')
    >>> sqlite_path("sqlite:///:memory:"), sqlite_path("sqlite://")
    (':memory:', ':memory:')
    """
    if not url.startswith("sqlite://"):
        raise StoreError(f"{url!r} is not a sqlite:// URL")
    rest = url[len("sqlite://") :]
    if rest in ("", "/"):
        return ":memory:"
    if not rest.startswith("/"):
        raise StoreError(f"store URL {url!r} needs three slashes: sqlite:///relative.db or sqlite:////absolute.db")
    return rest[1:]


# Result codes after which the same request may succeed later (the primary code: the extended
# ones, SQLITE_IOERR_WRITE and the like, share its prefix).
_UNAVAILABLE_CODES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN",
                      "SQLITE_READONLY", "SQLITE_PROTOCOL", "SQLITE_NOLFS")


def _unavailable(exc: BaseException) -> bool:
    """A locked database, a full or failing disk, a file that cannot be opened or written: not
    a wrong request. Schema and constraint errors are not among them."""
    if isinstance(exc, OSError):
        return True
    name = getattr(exc, "sqlite_errorname", None) or ""
    return name.startswith(_UNAVAILABLE_CODES)


class SqliteStore(CaseTables, PeopleTables, FieldTables, TwinStore):
    """TwinStore on SQLite (`sqlite:///path` or `sqlite:///:memory:`)."""

    _dialect = DIALECT
    local = True

    def __init__(self, url: str, *, busy_timeout_s: float = 10.0):
        self.url = url
        self.path = sqlite_path(url)
        self._lock = threading.RLock()
        with self._errors("opening the store"):
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
            self._conn = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_s
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA temp_store=MEMORY")
            self._conn.execute("PRAGMA cache_size=-65536")  # 64 MiB
            self._conn.execute("PRAGMA foreign_keys=ON")  # as PostgreSQL does: a case's anomalies, a token's user
            # Registry lookups on the gateway's live path read on a connection of their own, so that they
            # never wait behind a write transaction (WAL lets readers beside the writer). The gateway makes
            # them on its event loop's thread: the rare wait WAL still has (recovery) is cut short at 1 s.
            self._reader, self._read_lock = self._conn, self._lock
            if self.path != ":memory:":  # each connection to :memory: is a database of its own
                self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                               timeout=min(busy_timeout_s, 1.0))
                self._reader.execute("PRAGMA query_only=ON")
                self._read_lock = threading.Lock()
            # Parameters of one multi-row insert: what SQLite takes (999 before 3.32, 32,766 since; some
            # builds more), at most 32,766, so that the full-size statement is one the cache keeps.
            self._max_params = min(32_766, self._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))

    # -- plumbing -----------------------------------------------------------
    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        try:
            with codec.translate_errors(operation, (sqlite3.Error, OSError), _unavailable):
                yield
        except StoreError as exc:
            if "no such table" in str(exc):
                raise StoreError(f"{exc}; the store at {codec.redact(self.url)} is not migrated: run `gridtwin db migrate`") from exc.__cause__
            raise

    @contextmanager
    def _transaction(self, operation: str, mode: str = "IMMEDIATE") -> Iterator[sqlite3.Cursor]:
        """A transaction; IMMEDIATE takes the write lock up front, DEFERRED is a read snapshot."""
        with self._lock, self._errors(operation):
            cur = self._conn.cursor()
            cur.execute(f"BEGIN {mode}")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _fetch(self, operation: str, query: tuple[str, list]) -> list[tuple]:
        text, params = query
        with self._lock, self._errors(operation):
            return self._conn.execute(text, params).fetchall()

    def _audit_transaction(self, operation: str):
        return self._transaction(operation)  # IMMEDIATE: one writer at a time already

    def write_transaction(self, operation: str):
        return self._transaction(operation)

    def _epoch_sql(self, column: str) -> str:
        return f"({column} / 1e6)"

    # -- lifetime -----------------------------------------------------------
    def migrate(self) -> list[str]:
        with self._transaction("migrate") as cur:
            cur.execute(SCHEMA_MIGRATIONS)
            applied = {name for (name,) in cur.execute("SELECT name FROM schema_migrations")}
            done = []
            for migration in pending(MIGRATIONS, applied):
                for statement in migration.statements():
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)",
                    (migration.name, codec.to_us(time.time())),
                )
                done.append(migration.name)
        return done

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._conn.close()
            self._reader.close()

    # -- grid ---------------------------------------------------------------
    def put_grid(self, grid) -> None:
        rows = codec.cell_rows(grid)
        with self._transaction("put_grid") as cur:
            cur.execute("DELETE FROM cells")
            cur.executemany(sql.insert(DIALECT, "cells", codec.CELL_COLUMNS), rows)
            cur.execute(sql.upsert(DIALECT, "grid_meta", ("id", "meta"), "id"), (1, codec.dumps(grid.meta)))

    def load_grid(self):
        with self._transaction("load_grid", "DEFERRED") as cur:  # meta and cells of one put_grid
            meta = cur.execute("SELECT meta FROM grid_meta WHERE id = 1").fetchone()
            if meta is None:
                return None
            rows = cur.execute(f"SELECT {', '.join(codec.CELL_COLUMNS)} FROM cells ORDER BY code").fetchall()
        return codec.grid_from_rows(rows, codec.loads(meta[0]))

    # -- devices ------------------------------------------------------------
    def put_devices(self, devices: Iterable[Device]) -> int:
        rows = [codec.device_row(d, codec.to_us) for d in devices]
        with self._transaction("put_devices") as cur:
            cur.executemany(sql.upsert(DIALECT, "devices", codec.DEVICE_COLUMNS, "id"), rows)
        return len(rows)

    def get_device(self, device_id: str) -> Device | None:
        rows = self._fetch("get_device", sql.devices(DIALECT, device_id=device_id))
        return codec.device_from_row(rows[0]) if rows else None

    def get_devices(self, device_ids: Iterable[str]) -> list[Device]:
        ids, n = sorted(set(device_ids)), sql.DEVICE_IDS_PER_QUERY
        rows = []
        with self._read_lock, self._errors("get_devices"):
            for i in range(0, len(ids), n):
                rows += self._reader.execute(*sql.devices_by_id(DIALECT, ids[i:i + n])).fetchall()
        return [codec.device_from_row(r) for r in rows]

    def list_devices(self, cell_code: str | None = None, status: DeviceStatus | None = None) -> list[Device]:
        rows = self._fetch("list_devices", sql.devices(DIALECT, cell_code=cell_code, status=status))
        return [codec.device_from_row(r) for r in rows]

    def set_device_statuses(self, statuses: Iterable[tuple[str, DeviceStatus, float]]) -> None:
        unknown = []
        with self._transaction("set_device_statuses") as cur:
            for device_id, status, ts in statuses:
                us = codec.to_us(ts)
                cur.execute(
                    "UPDATE devices SET status = ?, last_seen = CASE WHEN ? = 'online' "
                    "THEN max(coalesce(last_seen, ?), ?) ELSE last_seen END WHERE id = ?",
                    (str(status), str(status), us, us, device_id),
                )
                if not cur.rowcount:
                    unknown.append((device_id, status))
        codec.log_unregistered_statuses(unknown)

    def touch_devices(self, last_seen: dict[str, float]) -> None:
        rows = [(codec.to_us(ts), device_id, codec.to_us(ts)) for device_id, ts in last_seen.items()]
        with self._transaction("touch_devices") as cur:
            cur.executemany(
                "UPDATE devices SET last_seen = ? WHERE id = ? AND (last_seen IS NULL OR last_seen < ?)", rows
            )

    # -- readings -----------------------------------------------------------
    def write_readings(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        us = codec.US
        rows = [
            (r.device_id, r.metric, round(r.ts * us), r.value, r.cell_code, r.seq, r.lat, r.lon, r.ts_estimated)
            for r in readings
        ]
        # In the order of the key index (device, time, metric): a batch arrives device by device
        # interleaved, and inserting along the index costs about a seventh less CPU. The sort is
        # stable, so of two rows with one key the first received is still the one stored.
        rows.sort(key=_KEY_ORDER)
        with self._transaction("write_readings") as cur:
            return self._insert_rows(cur, "readings", codec.READING_COLUMNS, rows)

    def _insert_rows(self, cur: sqlite3.Cursor, table: str, columns: Sequence[str], rows: list[tuple]) -> int:
        """Insert new rows (skipping stored keys) with as many rows per statement as SQLite takes
        parameters; the number inserted.

        Not `executemany`: it releases the GIL around every row's step, and each time it takes it
        back it may wait a thread switch interval (5 ms) for a busy thread (the gateway's consumer),
        so 32,000 rows took 1.5 s of wall time for 0.15 s of CPU. A few statements of thousands of
        rows wait a few times. Within a statement rows are inserted in order, so of two rows with
        one key the first is the one stored, as before."""
        per = max(1, self._max_params // len(columns))
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        one = "(" + ", ".join("?" * len(columns)) + ")"
        inserted = 0
        for start in range(0, len(rows), per):
            part = rows[start:start + per]
            cur.execute(head + ", ".join([one] * len(part)) + " ON CONFLICT DO NOTHING",
                        [value for row in part for value in row])
            inserted += cur.rowcount
        return inserted

    def readings(
        self,
        *,
        cell_code: str | None = None,
        device_id: str | None = None,
        metric: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 10_000,
    ) -> list[Reading]:
        query = sql.readings(
            DIALECT, cell_code=cell_code, device_id=device_id, metric=metric, start=start, end=end, limit=limit
        )
        return [codec.reading_from_row(r) for r in self._fetch("readings", query)]

    def aggregate(self, cell_code: str, metric: str, start: float, end: float, bucket_s: float) -> list[Bucket]:
        width = codec.bucket_us(bucket_s)
        # Floor to a multiple of the width (SQLite's % keeps the dividend's sign).
        bucket = f"(ts - ((ts % {width}) + {width}) % {width}) / 1e6"
        query = sql.aggregate(DIALECT, bucket, [], cell_code, metric, start, end)
        return [codec.bucket_from_row(r) for r in self._fetch("aggregate", query)]

    def count_readings(self) -> int:
        return self._fetch("count_readings", ("SELECT count(*) FROM readings", []))[0][0]

    def assign_cell(self, device_id: str, cell_code: str) -> int:
        readings, camera_events = sql.assign_cell(DIALECT)
        with self._transaction("assign_cell") as cur:
            changed = cur.execute(readings, (cell_code, device_id)).rowcount
            cur.execute(camera_events, (cell_code, device_id))
        return changed

    # -- camera events ------------------------------------------------------
    def write_camera_events(self, events: Sequence[CameraEvent]) -> int:
        rows = [codec.camera_event_row(e, codec.to_us) for e in events]
        if not rows:
            return 0
        with self._transaction("write_camera_events") as cur:
            cur.executemany(
                sql.insert_new(DIALECT, "camera_events", codec.CAMERA_EVENT_COLUMNS),
                rows,
            )
            return cur.rowcount

    def camera_events(self, *, cell_code: str | None = None, start: float | None = None, limit: int = 1000) -> list[CameraEvent]:
        query = sql.camera_events(DIALECT, cell_code=cell_code, start=start, limit=limit)
        return [codec.camera_event_from_row(r) for r in self._fetch("camera_events", query)]

    # -- cell state ---------------------------------------------------------
    def put_cell_states(self, states: Iterable[CellState]) -> None:
        rows = [codec.cell_state_row(s, codec.to_us) for s in states]
        with self._transaction("put_cell_states") as cur:
            cur.executemany(
                sql.upsert(DIALECT, "cell_states", codec.CELL_STATE_COLUMNS, "code"),
                rows,
            )

    def cell_states(self) -> dict[str, CellState]:
        rows = self._fetch("cell_states", sql.cell_states(DIALECT))
        return {r[0]: codec.cell_state_from_row(r) for r in rows}

    # -- anomalies ----------------------------------------------------------
    def write_anomalies(self, anomalies: Sequence[Anomaly]) -> int:
        rows = [codec.anomaly_row(a, codec.to_us) for a in anomalies]
        if not rows:
            return 0
        with self._transaction("write_anomalies") as cur:
            cur.executemany(
                sql.insert_new(DIALECT, "anomalies", codec.ANOMALY_COLUMNS), rows
            )
            return cur.rowcount

    def anomalies(
        self,
        *,
        cell_code: str | None = None,
        start: float | None = None,
        open_only: bool = False,
        limit: int = 1000,
    ) -> list[Anomaly]:
        query = sql.anomalies(DIALECT, cell_code=cell_code, start=start, open_only=open_only, limit=limit)
        return [codec.anomaly_from_row(r) for r in self._fetch("anomalies", query)]

    # -- dead letters -------------------------------------------------------
    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        rows = [codec.dead_letter_row(d, codec.to_us) for d in letters]
        if not rows:
            return 0
        with self._transaction("write_dead_letters") as cur:
            cur.executemany(sql.insert(DIALECT, "dead_letters", codec.DEAD_LETTER_COLUMNS), rows)
        return len(rows)

    def dead_letter_counts(self, device_id: str | None = None) -> dict[str, int]:
        return dict(self._fetch("dead_letter_counts", sql.dead_letter_counts(DIALECT, device_id)))
