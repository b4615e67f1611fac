"""The twin store on PostgreSQL + PostGIS (psycopg 3, a small connection pool).

Readings are written by binary COPY. A batch is first copied straight into `readings`,
which is as fast as a raw COPY; when that hits the idempotency key (a redelivered
reading), the batch goes through a temporary staging table and
`INSERT ... SELECT ... ON CONFLICT DO NOTHING`, and later batches keep taking that path
until one comes through without duplicates. Without TimescaleDB, the day partitions a
batch needs are created before it is written.

Times cross the wire as timestamptz: parameters as exact datetimes, results through a
binary loader that yields Unix epoch floats directly.
"""

from __future__ import annotations

import datetime as dt
import logging
import struct
import threading
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

import psycopg
import psycopg.errors
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg_pool import ConnectionPool

from twin.devices.device import Device, DeviceStatus
from twin.errors import StoreError, StoreUnavailable
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
from twin.store.migrations import postgres as schema

__all__ = ["PostgresStore"]

log = logging.getLogger(__name__)

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC.
PG_EPOCH_US = 946_684_800 * codec.US
_INT8 = struct.Struct("!q")


def pg_time(ts: float) -> dt.datetime:
    """Epoch seconds -> an aware datetime with exactly the microseconds SQLite would store."""
    return EPOCH + dt.timedelta(microseconds=codec.to_us(ts))


class EpochLoader(Loader):
    """Binary timestamptz -> Unix epoch seconds (float), skipping datetime objects."""

    format = Format.BINARY

    def load(self, data) -> float:
        return (_INT8.unpack(data)[0] + PG_EPOCH_US) / codec.US


DIALECT = sql.Dialect(param="%s", time_out=lambda column: column, time_in=pg_time, decode_json=lambda value: value)

# How parameters of these columns are turned into their PostgreSQL types on insert.
WRAP = {
    **{c: "{}::jsonb" for c in ("metrics", "attributes", "details", "metric_values", "meta")},
    "geometry": "ST_GeomFromWKB({}::bytea, 4326)",
}

# The COPY of readings sends the timestamp as int8: the binary form of timestamptz is exactly
# int8 microseconds since 2000-01-01, and the integer arithmetic is cheaper than datetimes.
_READING_COPY_TYPES = ["text", "text", "int8", "float8", "text", "int8", "float8", "float8", "bool"]
_READING_COLUMN_LIST = ", ".join(codec.READING_COLUMNS)
_STAGE = "readings_stage"
UNAVAILABLE_WAIT_S = 1.0


def _unavailable(exc: BaseException) -> bool:
    """Errors after which the same request may succeed later: the server is down or unreachable,
    the connection was lost or no pooled connection came (PoolTimeout), or the server is out of
    disk, memory or connections (OperationalError covers these; constraint and SQL errors are not)."""
    return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))


def _configure(conn: psycopg.Connection) -> None:
    conn.adapters.register_loader("timestamptz", EpochLoader)
    # Must precede the session's first use of a temporary table (the staging table).
    conn.execute("SET temp_buffers = '32MB'")


class PostgresStore(CaseTables, PeopleTables, FieldTables, TwinStore):
    """TwinStore on PostgreSQL + PostGIS (`postgresql://user@host:port/db`).

    The pool opens on construction (StoreError when the server cannot be reached) and
    closes in close(). `retention_days` and `compress_after_days` apply to the
    TimescaleDB layout only; `max_new_partitions` bounds the day partitions one write may
    create (rows of further days go to the default partition until a later write).
    """

    _dialect = DIALECT

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 4,
        connect_timeout: float = 10.0,
        compress_after_days: int = 7,
        retention_days: int | None = 730,
        max_new_partitions: int = 64,
    ):
        self.url = url
        self.compress_after_days = compress_after_days
        self.retention_days = retention_days
        self.max_new_partitions = max_new_partitions
        self._layout: str | None = None
        self._partitions: set[int] = set()
        self._partition_lock = threading.Lock()
        self._direct_copy = True
        self._unavailable = False  # the last request found the server down or unreachable
        # One plain connection first: its error says why (refused, auth, no such database),
        # where a pool would only time out.
        try:
            psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))).close()
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the store at {codec.redact(url)}: {exc}".strip()) from exc
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            configure=_configure,
            open=False,
            name="gridtwin-store",
            # Waiting longer for a pooled connection than for a new one only hides a server that is
            # down: the gateway spools (StoreUnavailable) once the wait ends, and must not stall long.
            timeout=connect_timeout,
            # The pool's own reconnection backs off exponentially (1, 2, 4 ... s), so after a long
            # outage it could wait a minute before trying again; given up after this long, a new
            # attempt starts as soon as a caller asks for a connection instead.
            reconnect_timeout=connect_timeout,
        )
        with self._errors("opening the connection pool"):
            self._pool.open(wait=True, timeout=connect_timeout)

    # -- plumbing -----------------------------------------------------------
    @contextmanager
    def _errors(self, operation: str) -> Iterator[None]:
        try:
            with codec.translate_errors(operation, (psycopg.Error,), _unavailable):
                yield
        except StoreError as exc:
            if isinstance(exc, StoreUnavailable):
                self._unavailable = True
            if isinstance(exc.__cause__, psycopg.errors.UndefinedTable):
                raise StoreError(
                    f"{exc}; the store at {codec.redact(self.url)} is not migrated: run `gridtwin db migrate`"
                ) from exc.__cause__
            raise

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection. Once the server was found unavailable, callers wait at most
        UNAVAILABLE_WAIT_S for one (not the connect timeout) until one is had again: the gateway
        then spools at once instead of stalling its live path on every write."""
        with self._pool.connection(timeout=UNAVAILABLE_WAIT_S if self._unavailable else None) as conn:
            self._unavailable = False
            yield conn

    @contextmanager
    def _cursor(self, operation: str, transaction: bool = True) -> Iterator[psycopg.Cursor]:
        with self._errors(operation), self._connection() as conn:
            if transaction:
                with conn.transaction(), conn.cursor(binary=True) as cur:
                    yield cur
            else:
                with conn.cursor(binary=True) as cur:
                    yield cur

    def _fetch(self, operation: str, query: tuple[str, list]) -> list[tuple]:
        text, params = query
        with self._cursor(operation, transaction=False) as cur:
            return cur.execute(text, params).fetchall()

    @contextmanager
    def _audit_transaction(self, operation: str) -> Iterator[psycopg.Cursor]:
        """A transaction holding the audit log's lock: appends are chained one at a time, and a
        reader following `seq` never sees a later row commit before an earlier one."""
        with self._cursor(operation) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [schema.AUDIT_LOCK])
            yield cur

    def _epoch_sql(self, column: str) -> str:
        return f"CAST(extract(epoch from {column}) AS DOUBLE PRECISION)"

    def write_transaction(self, operation: str):
        return self._cursor(operation)

    def readings_layout(self) -> str:
        """'partitioned' or 'hypertable', as recorded by the migration."""
        if self._layout is None:
            rows = self._fetch("reading the store layout", ("SELECT value FROM store_meta WHERE key = 'readings_layout'", []))
            if not rows:
                raise StoreError(f"the store at {codec.redact(self.url)} is not migrated: run `gridtwin db migrate`")
            self._layout = rows[0][0]
        return self._layout

    # -- lifetime -----------------------------------------------------------
    def migrate(self) -> list[str]:
        done: list[str] = []
        with self._cursor("migrate") as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [schema.MIGRATION_LOCK])
            cur.execute(schema.SCHEMA_MIGRATIONS)
            applied = {name for (name,) in cur.execute("SELECT name FROM schema_migrations").fetchall()}
            todo = pending(schema.MIGRATIONS, applied)
            context = None
            for migration in todo:
                if context is None:
                    context = schema.Context(
                        timescaledb=schema.enable_timescaledb(cur),
                        compress_after_days=self.compress_after_days,
                        retention_days=self.retention_days,
                    )
                for statement in migration.statements(context):
                    cur.execute(statement)
                cur.execute("INSERT INTO schema_migrations (name) VALUES (%s)", [migration.name])
                done.append(migration.name)
                log.info("store %s: applied migration %s", codec.redact(self.url), migration.name)
        self._layout = None
        return done

    def close(self) -> None:
        self._pool.close()

    # -- grid ---------------------------------------------------------------
    def put_grid(self, grid) -> None:
        rows = codec.cell_rows(grid)
        with self._cursor("put_grid") as cur:
            cur.execute("DELETE FROM cells")
            cur.executemany(sql.insert(DIALECT, "cells", codec.CELL_COLUMNS, wrap=WRAP), rows)
            cur.execute(sql.upsert(DIALECT, "grid_meta", ("id", "meta"), "id", wrap=WRAP), (1, codec.dumps(grid.meta)))

    def load_grid(self):
        columns = ", ".join(codec.CELL_COLUMNS[:-1]) + ", ST_AsBinary(geometry)"
        with self._cursor("load_grid") as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # meta and cells of one put_grid
            meta = cur.execute("SELECT meta FROM grid_meta WHERE id = 1").fetchone()
            if meta is None:
                return None
            rows = cur.execute(f"SELECT {columns} FROM cells ORDER BY code").fetchall()
        return codec.grid_from_rows(rows, meta[0], decode_json=DIALECT.decode_json)

    def locate_points(self, lons: Sequence[float], lats: Sequence[float]) -> list[str | None]:
        """The code of the cell covering each (lon, lat) point, None outside the grid; PostGIS does
        the work (GiST index, ST_Covers). A point on a shared edge goes to the lowest code."""
        query = """
            SELECT c.code FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(lon, lat, i)
            LEFT JOIN LATERAL (
                SELECT code FROM cells
                WHERE ST_Covers(geometry, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
                ORDER BY code LIMIT 1
            ) c ON true
            ORDER BY p.i"""
        rows = self._fetch("locate_points", (query, [list(map(float, lons)), list(map(float, lats))]))
        return [r[0] for r in rows]

    # -- devices ------------------------------------------------------------
    def put_devices(self, devices: Iterable[Device]) -> int:
        rows = [codec.device_row(d, pg_time) for d in devices]
        if not rows:
            return 0
        statement = sql.upsert(DIALECT, "devices", codec.DEVICE_COLUMNS, "id", wrap=WRAP)
        with self._cursor("put_devices") as cur:
            cur.executemany(statement, rows)
        return len(rows)

    def get_device(self, device_id: str) -> Device | None:
        rows = self._fetch("get_device", sql.devices(DIALECT, device_id=device_id))
        return codec.device_from_row(rows[0], DIALECT.decode_json) if rows else None

    def get_devices(self, device_ids: Iterable[str]) -> list[Device]:
        ids, n = sorted(set(device_ids)), sql.DEVICE_IDS_PER_QUERY
        rows = [row for i in range(0, len(ids), n)
                for row in self._fetch("get_devices", sql.devices_by_id(DIALECT, ids[i:i + n]))]
        return [codec.device_from_row(r, DIALECT.decode_json) for r in rows]

    def list_devices(self, cell_code: str | None = None, status: DeviceStatus | None = None) -> list[Device]:
        rows = self._fetch("list_devices", sql.devices(DIALECT, cell_code=cell_code, status=status))
        return [codec.device_from_row(r, DIALECT.decode_json) for r in rows]

    def set_device_statuses(self, statuses: Iterable[tuple[str, DeviceStatus, float]]) -> None:
        unknown = []
        with self._cursor("set_device_statuses") as cur:
            for device_id, status, ts in statuses:
                cur.execute(
                    "UPDATE devices SET status = %(status)s, last_seen = CASE WHEN %(status)s = 'online' "
                    "THEN GREATEST(last_seen, %(ts)s) ELSE last_seen END WHERE id = %(id)s",
                    {"status": str(status), "ts": pg_time(ts), "id": device_id},
                )
                if not cur.rowcount:
                    unknown.append((device_id, status))
        codec.log_unregistered_statuses(unknown)

    def touch_devices(self, last_seen: dict[str, float]) -> None:
        if not last_seen:
            return
        with self._cursor("touch_devices") as cur:
            cur.execute(
                "UPDATE devices d SET last_seen = v.ts FROM unnest(%s::text[], %s::timestamptz[]) AS v(id, ts) "
                "WHERE d.id = v.id AND (d.last_seen IS NULL OR d.last_seen < v.ts)",
                [list(last_seen), [pg_time(ts) for ts in last_seen.values()]],
            )

    # -- readings -----------------------------------------------------------
    def write_readings(self, readings: Sequence[Reading]) -> int:
        if not readings:
            return 0
        us, offset = codec.US, PG_EPOCH_US
        rows = [
            (r.device_id, r.metric, round(r.ts * us) - offset, r.value, r.cell_code, r.seq, r.lat, r.lon, r.ts_estimated)
            for r in readings
        ]
        with self._errors("write_readings"):
            if self.readings_layout() == schema.PARTITIONED:
                self._ensure_partitions(_days(rows))
            with self._connection() as conn:
                if self._direct_copy:
                    try:
                        with conn.transaction():
                            _copy_readings(conn, "readings", rows)
                        return len(rows)
                    except psycopg.errors.UniqueViolation:
                        log.debug("write_readings: batch of %d has stored readings; deduplicating", len(rows))
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (LIKE readings) ON COMMIT DELETE ROWS")
                    _copy_readings(conn, _STAGE, rows)
                    cur.execute(
                        f"INSERT INTO readings ({_READING_COLUMN_LIST}) SELECT {_READING_COLUMN_LIST} "
                        f"FROM {_STAGE} ON CONFLICT DO NOTHING"
                    )
                    new = cur.rowcount
        self._direct_copy = new == len(rows)
        return new

    def _ensure_partitions(self, days: set[int]) -> None:
        """Create the day partitions in `days` that do not exist yet (at most max_new_partitions, the latest)."""
        if days <= self._partitions:
            return
        with self._partition_lock, self._cursor("creating reading partitions") as cur:
            # Another process may be creating the same partitions: serialize, then look again.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [schema.PARTITION_LOCK])
            cur.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'readings'::regclass"
            )
            existing = {day for (name,) in cur.fetchall() if (day := schema.partition_day(name)) is not None}
            new = sorted(days - existing)[-self.max_new_partitions :]
            for day in new:
                for statement in schema.partition_statements(day):
                    cur.execute(statement)
            if new:
                log.info("store %s: created %d reading partition(s) %s..%s", codec.redact(self.url), len(new),
                         schema.partition_name(new[0]), schema.partition_name(new[-1]))  # fmt: skip
        self._partitions = existing | set(new)

    def forget_partitions(self, days: set[int]) -> None:
        """The day partitions in `days` were dropped (by retention): a later write for one of these days
        creates it again."""
        self._partitions -= days

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
        width = dt.timedelta(microseconds=codec.bucket_us(bucket_s))
        bucket = schema.bucket_expression(self.readings_layout())
        query = sql.aggregate(DIALECT, bucket, [width], cell_code, metric, start, end)
        return [codec.bucket_from_row(r) for r in self._fetch("aggregate", query)]

    def count_readings(self) -> int:
        return self._fetch("count_readings", ("SELECT count(*) FROM readings", []))[0][0]

    def assign_cell(self, device_id: str, cell_code: str) -> int:
        readings, camera_events = sql.assign_cell(DIALECT)
        with self._cursor("assign_cell") as cur:
            changed = cur.execute(readings, (cell_code, device_id)).rowcount
            cur.execute(camera_events, (cell_code, device_id))
        return changed

    # -- camera events ------------------------------------------------------
    def write_camera_events(self, events: Sequence[CameraEvent]) -> int:
        rows = [codec.camera_event_row(e, pg_time) for e in events]
        return self._insert_new("write_camera_events", "camera_events", codec.CAMERA_EVENT_COLUMNS, rows)

    def camera_events(self, *, cell_code: str | None = None, start: float | None = None, limit: int = 1000) -> list[CameraEvent]:
        query = sql.camera_events(DIALECT, cell_code=cell_code, start=start, limit=limit)
        return [codec.camera_event_from_row(r) for r in self._fetch("camera_events", query)]

    def _insert_new(self, operation: str, table: str, columns: Sequence[str], rows: list[tuple]) -> int:
        """Insert rows, skipping those whose key is stored; the number inserted."""
        if not rows:
            return 0
        statement = sql.insert_new(DIALECT, table, columns, wrap=WRAP)
        with self._cursor(operation) as cur:
            cur.executemany(statement, rows)
            return cur.rowcount

    # -- cell state ---------------------------------------------------------
    def put_cell_states(self, states: Iterable[CellState]) -> None:
        rows = [codec.cell_state_row(s, pg_time) for s in states]
        if not rows:
            return
        statement = sql.upsert(DIALECT, "cell_states", codec.CELL_STATE_COLUMNS, "code", wrap=WRAP)
        with self._cursor("put_cell_states") as cur:
            cur.executemany(statement, rows)

    def cell_states(self) -> dict[str, CellState]:
        rows = self._fetch("cell_states", sql.cell_states(DIALECT))
        return {r[0]: codec.cell_state_from_row(r, DIALECT.decode_json) for r in rows}

    # -- anomalies ----------------------------------------------------------
    def write_anomalies(self, anomalies: Sequence[Anomaly]) -> int:
        rows = [codec.anomaly_row(a, pg_time) for a in anomalies]
        return self._insert_new("write_anomalies", "anomalies", codec.ANOMALY_COLUMNS, rows)

    def anomalies(
        self,
        *,
        cell_code: str | None = None,
        start: float | None = None,
        open_only: bool = False,
        limit: int = 1000,
    ) -> list[Anomaly]:
        query = sql.anomalies(DIALECT, cell_code=cell_code, start=start, open_only=open_only, limit=limit)
        return [codec.anomaly_from_row(r, DIALECT.decode_json) for r in self._fetch("anomalies", query)]

    # -- dead letters -------------------------------------------------------
    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        rows = [codec.dead_letter_row(d, pg_time) for d in letters]
        return self._insert_new("write_dead_letters", "dead_letters", codec.DEAD_LETTER_COLUMNS, rows)

    def dead_letter_counts(self, device_id: str | None = None) -> dict[str, int]:
        return dict(self._fetch("dead_letter_counts", sql.dead_letter_counts(DIALECT, device_id)))


def _copy_readings(conn: psycopg.Connection, table: str, rows: list[tuple]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({_READING_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_READING_COPY_TYPES)
        write = copy.write_row
        for row in rows:
            write(row)


def _days(rows: list[tuple]) -> set[int]:
    """The UTC days (since the Unix epoch) of copy rows, whose ts is PostgreSQL microseconds."""
    day, offset = schema.DAY_US, PG_EPOCH_US
    stamps = [row[2] for row in rows]
    first, last = (min(stamps) + offset) // day, (max(stamps) + offset) // day
    if last - first < 8:  # a continuous stream: every day in between (empty partitions are cheap)
        return set(range(first, last + 1))
    return {(ts + offset) // day for ts in stamps}
