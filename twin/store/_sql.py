"""The queries both backends run alike, written once against a small `Dialect`.

Both schemas use the same table and column names; they differ in the parameter marker,
how a time column is stored (SQLite: integer microseconds, PostgreSQL: timestamptz) and
how JSON comes back (SQLite: text, PostgreSQL: already decoded jsonb). Each query
builder returns `(sql, params)`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from twin.store import codec


@dataclass(frozen=True, slots=True)
class Dialect:
    param: str  # "?" or "%s"
    time_out: Callable[[str], str]  # SQL expression giving epoch seconds from a time column
    time_in: Callable[[float], Any]  # epoch seconds -> the parameter a time column compares with
    decode_json: Callable[[Any], Any]


class Tables:
    """The base of the tables written once for both backends (twin/store/_cases.py, _people.py,
    _field.py), which SqliteStore and PostgresStore mix in: what they need of each backend, which
    defines all of these."""

    _dialect: Dialect

    def _fetch(self, operation: str, query: tuple[str, list]) -> list[tuple]:  # pragma: no cover - per backend
        """The rows of one `(sql, params)` query."""
        raise NotImplementedError

    def write_transaction(self, operation: str) -> AbstractContextManager:  # pragma: no cover - per backend
        """A DB-API cursor in a write transaction (see TwinStore.write_transaction)."""
        raise NotImplementedError

    def _audit_transaction(self, operation: str) -> AbstractContextManager:  # pragma: no cover - per backend
        """A write transaction that holds the audit log's lock, so that hash-chained appends happen one
        at a time and `seq` order is commit order."""
        raise NotImplementedError

    def _epoch_sql(self, column: str) -> str:  # pragma: no cover - per backend
        """The SQL of a time column in epoch seconds, for arithmetic."""
        raise NotImplementedError


def select_list(d: Dialect, columns: Sequence[str], times: Iterable[str] = ("ts",), table: str = "") -> str:
    prefix = f"{table}." if table else ""
    times = set(times)
    return ", ".join(d.time_out(prefix + c) if c in times else prefix + c for c in columns)


def where(d: Dialect, conditions: Iterable[tuple[str, Any]]) -> tuple[str, list]:
    """` WHERE a AND b` from (`"column = {}"`, value) pairs whose value is not None."""
    parts, params = [], []
    for template, value in conditions:
        if value is not None:
            parts.append(template.format(d.param))
            params.append(value)
    return (" WHERE " + " AND ".join(parts) if parts else ""), params


def _time(d: Dialect, ts: float | None):
    return None if ts is None else d.time_in(ts)


def readings(d: Dialect, *, cell_code, device_id, metric, start, end, limit) -> tuple[str, list]:
    clause, params = where(
        d,
        [
            ("cell_code = {}", cell_code),
            ("device_id = {}", device_id),
            ("metric = {}", metric),
            ("ts >= {}", _time(d, start)),
            ("ts < {}", _time(d, end)),
        ],
    )
    sql = (
        f"SELECT {select_list(d, codec.READING_COLUMNS)} FROM readings{clause}"
        f" ORDER BY ts, device_id, metric LIMIT {d.param}"
    )
    return sql, [*params, int(limit)]


def aggregate(
    d: Dialect, bucket_sql: str, bucket_params: list, cell_code: str, metric: str, start: float, end: float
) -> tuple[str, list]:
    """Per-bucket figures; `bucket_sql` (with `bucket_params`) is the backend's expression of the
    bucket start in epoch seconds, of a `ts` column.

    Readings that retention removed are counted from their hourly figures (`readings_hourly`),
    each hour in the bucket its start falls in (and only when its start is within start..end):
    buckets of whole hours come out as if the raw readings were there; finer buckets show one
    bucket per hour where only hourly figures remain."""
    clause, params = where(
        d, [("cell_code = {}", cell_code), ("metric = {}", metric), ("ts >= {}", d.time_in(start)), ("ts < {}", d.time_in(end))]
    )
    sql = (
        f"SELECT bucket, sum(n), sum(total) / sum(n), min(low), max(high) FROM ("
        f"SELECT {bucket_sql} AS bucket, count(*) AS n, sum(value) AS total, min(value) AS low, max(value) AS high"
        f" FROM readings{clause} GROUP BY bucket"
        f" UNION ALL SELECT {bucket_sql} AS bucket, sum(count), sum(sum), min(min), max(max)"
        f" FROM readings_hourly{clause} GROUP BY bucket"
        f") AS parts GROUP BY bucket ORDER BY bucket"
    )
    return sql, [*bucket_params, *params, *bucket_params, *params]


def camera_events(d: Dialect, *, cell_code, start, limit) -> tuple[str, list]:
    clause, params = where(d, [("cell_code = {}", cell_code), ("ts >= {}", _time(d, start))])
    sql = (
        f"SELECT {select_list(d, codec.CAMERA_EVENT_COLUMNS)} FROM camera_events{clause}"
        f" ORDER BY ts DESC, camera_id, event_id, state LIMIT {d.param}"
    )
    return sql, [*params, int(limit)]


def anomalies(d: Dialect, *, cell_code, start, open_only, limit) -> tuple[str, list]:
    conditions = [("a.cell_code = {}", cell_code), ("a.ts >= {}", _time(d, start))]
    clause, params = where(d, conditions)
    if open_only:
        opened = "a.status = 'opened' AND NOT EXISTS (SELECT 1 FROM anomalies c WHERE c.id = a.id AND c.status = 'cleared')"
        clause = f"{clause} AND {opened}" if clause else f" WHERE {opened}"
    sql = (
        f"SELECT {select_list(d, codec.ANOMALY_COLUMNS, table='a')} FROM anomalies a{clause}"
        f" ORDER BY a.ts DESC, a.id, a.status LIMIT {d.param}"
    )
    return sql, [*params, int(limit)]


DEVICE_TIMES = ("registered_at", "last_seen")


def devices(d: Dialect, *, device_id=None, cell_code=None, status=None) -> tuple[str, list]:
    clause, params = where(
        d,
        [("id = {}", device_id), ("cell_code = {}", cell_code), ("status = {}", None if status is None else str(status))],
    )
    return f"SELECT {select_list(d, codec.DEVICE_COLUMNS, DEVICE_TIMES)} FROM devices{clause} ORDER BY id", params


DEVICE_IDS_PER_QUERY = 500


def devices_by_id(d: Dialect, device_ids: Sequence[str]) -> tuple[str, list]:
    """The devices among `device_ids` (at most DEVICE_IDS_PER_QUERY of them)."""
    marks = ", ".join([d.param] * len(device_ids))
    return (f"SELECT {select_list(d, codec.DEVICE_COLUMNS, DEVICE_TIMES)} FROM devices WHERE id IN ({marks}) "
            "ORDER BY id", list(device_ids))


def cell_states(d: Dialect) -> tuple[str, list]:
    return f"SELECT {select_list(d, codec.CELL_STATE_COLUMNS, ('updated_at',))} FROM cell_states ORDER BY code", []


def dead_letter_counts(d: Dialect, device_id: str | None) -> tuple[str, list]:
    clause, params = where(d, [("device_id = {}", device_id)])
    return f"SELECT reason, count(*) FROM dead_letters{clause} GROUP BY reason ORDER BY reason", params


def assign_cell(d: Dialect) -> tuple[str, str]:
    """The updates that give a device's cell-less readings and camera events a cell: (cell_code, device_id)."""
    return (
        f"UPDATE readings SET cell_code = {d.param} WHERE device_id = {d.param} AND cell_code IS NULL",
        f"UPDATE camera_events SET cell_code = {d.param} WHERE camera_id = {d.param} AND cell_code IS NULL",
    )


def insert(d: Dialect, table: str, columns: Sequence[str], *, wrap: dict[str, str] | None = None, suffix: str = "") -> str:
    """`INSERT INTO table (columns) VALUES (...){suffix}`, one marker per column; `wrap` maps a
    column to an SQL template around its marker, e.g. `{"meta": "{}::jsonb"}`."""
    wrap = wrap or {}
    markers = ", ".join(wrap.get(c, "{}").format(d.param) for c in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({markers}){suffix}"


def insert_new(d: Dialect, table: str, columns: Sequence[str], *, wrap: dict[str, str] | None = None) -> str:
    """An insert that skips rows whose key is stored. (Not SQLite's INSERT OR IGNORE, which would
    also skip rows breaking NOT NULL or CHECK constraints instead of failing like PostgreSQL.)"""
    return insert(d, table, columns, wrap=wrap, suffix=" ON CONFLICT DO NOTHING")


def upsert(d: Dialect, table: str, columns: Sequence[str], key: str, *, wrap: dict[str, str] | None = None) -> str:
    """An insert that replaces every other column of the row with the same `key`."""
    update = ", ".join(f"{c} = excluded.{c}" for c in columns if c != key)
    return insert(d, table, columns, wrap=wrap, suffix=f" ON CONFLICT ({key}) DO UPDATE SET {update}")
