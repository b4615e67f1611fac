"""The storage format both backends share: time and JSON encodings, the column order of every
table, rows <-> domain objects, the translation of driver errors into StoreError, and `redact`
for store URLs in messages. Public, for tools that write beside the store (the benchmarks).

Both backends select columns in the order given here and hand the row tuples to the
`*_from_row` builders; times arrive as Unix epoch floats (SQLite converts its integer
microseconds in SQL, PostgreSQL through a timestamptz loader).
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Callable, Iterator, Sequence

import orjson
import shapely

from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.errors import StoreError, StoreUnavailable
from twin.grid.cells import Cell, Grid
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState
from twin.sensing.readings import Bucket, CameraEvent, DeadLetter, Reading

US = 1_000_000


# -- time -------------------------------------------------------------------
def to_us(ts: float) -> int:
    """Unix epoch seconds -> integer microseconds, the resolution both backends store.

    >>> to_us(1764374400.123456)
    1764374400123456
    >>> to_us(-0.5)
    -500000
    """
    return round(ts * US)


def bucket_us(bucket_s: float) -> int:
    """A bucket width in microseconds; StoreError unless it is at least one microsecond."""
    width = to_us(bucket_s) if bucket_s == bucket_s else 0  # NaN -> 0
    if width < 1:
        raise StoreError(f"aggregate: bucket width must be at least 1 microsecond, got {bucket_s!r} s")
    return width


# -- JSON -------------------------------------------------------------------
def dumps(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def loads(text: str | bytes | None):
    return None if text is None else orjson.loads(text)


# -- columns (the select order of every table) -------------------------------
READING_COLUMNS = ("device_id", "metric", "ts", "value", "cell_code", "seq", "lat", "lon", "ts_estimated")
CAMERA_EVENT_COLUMNS = (
    "camera_id", "event_id", "ts", "type", "confidence", "state", "cell_code", "zone", "lat", "lon", "snapshot_url",
)  # fmt: skip
DEVICE_COLUMNS = (
    "id", "kind", "lat", "lon", "model", "metrics", "mobile", "cell_code", "status", "name",
    "registered_at", "last_seen", "attributes",
)  # fmt: skip
ANOMALY_COLUMNS = (
    "id", "type", "status", "severity", "cell_code", "device_id", "detector", "ts", "explanation",
    "metric", "value", "threshold", "lat", "lon", "details", "category",
)  # fmt: skip
CELL_STATE_COLUMNS = ("code", "level", "metric_values", "updated_at", "open_anomalies")
CELL_COLUMNS = ("code", "name", "district_name", "street_name", "community_name", "worker", "attributes", "geometry")
DEAD_LETTER_COLUMNS = ("reason", "topic", "payload", "received_at", "device_id", "detail")


# -- rows -> objects ------------------------------------------------------------
def reading_from_row(row: Sequence) -> Reading:
    return Reading(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], bool(row[8]))


def camera_event_from_row(row: Sequence) -> CameraEvent:
    return CameraEvent(*row)


def device_from_row(row: Sequence, decode_json=loads) -> Device:
    (id_, kind, lat, lon, model, metrics, mobile, cell, status, name, registered, last_seen, attrs) = row
    return Device(
        id=id_,
        kind=DeviceKind(kind),
        lat=lat,
        lon=lon,
        model=model,
        metrics=tuple(decode_json(metrics) or ()),
        mobile=bool(mobile),
        cell_code=cell,
        status=DeviceStatus(status),
        name=name,
        registered_at=registered,
        last_seen=last_seen,
        attributes=decode_json(attrs) or {},
    )


def anomaly_from_row(row: Sequence, decode_json=loads) -> Anomaly:
    (id_, type_, status, severity, cell, device, detector, ts, explanation, metric, value, threshold, lat, lon, details,
     category) = row
    return Anomaly(
        id=id_,
        type=type_,
        status=status,
        severity=Level.parse(severity),
        cell_code=cell,
        device_id=device,
        detector=detector,
        ts=ts,
        explanation=explanation,
        metric=metric,
        value=value,
        threshold=threshold,
        lat=lat,
        lon=lon,
        details=decode_json(details) or {},
        category=category,
    )


def cell_state_from_row(row: Sequence, decode_json=loads) -> CellState:
    code, level, values, updated_at, open_anomalies = row
    return CellState(code, Level.parse(level), decode_json(values) or {}, updated_at, open_anomalies)


def bucket_from_row(row: Sequence) -> Bucket:
    start, count, mean, low, high = row
    return Bucket(start, int(count), float(mean), float(low), float(high))


# -- objects -> rows (JSON as text, times as the backend wants them) ---------------
def device_row(d: Device, time=float) -> tuple:
    return (
        d.id, str(d.kind), d.lat, d.lon, d.model, dumps(list(d.metrics)), bool(d.mobile), d.cell_code,
        str(d.status), d.name, time(d.registered_at), None if d.last_seen is None else time(d.last_seen),
        dumps(d.attributes or {}),
    )  # fmt: skip


def anomaly_row(a: Anomaly, time=float) -> tuple:
    return (
        a.id, a.type, a.status, Level(a.severity).label, a.cell_code, a.device_id, a.detector, time(a.ts),
        a.explanation, a.metric, a.value, a.threshold, a.lat, a.lon, dumps(a.details or {}), a.category,
    )  # fmt: skip


def camera_event_row(e: CameraEvent, time=float) -> tuple:
    return (
        e.camera_id, e.event_id, time(e.ts), e.type, e.confidence, e.state, e.cell_code, e.zone,
        e.lat, e.lon, e.snapshot_url,
    )  # fmt: skip


def cell_state_row(s: CellState, time=float) -> tuple:
    updated = None if s.updated_at is None else time(s.updated_at)
    return (s.code, Level(s.level).label, dumps(s.values or {}), updated, int(s.open_anomalies))


def dead_letter_row(d: DeadLetter, time=float) -> tuple:
    return (d.reason, d.topic, bytes(d.payload), time(d.received_at), d.device_id, d.detail)


# -- grid -------------------------------------------------------------------------
def cell_rows(grid) -> list[tuple]:
    """Rows of CELL_COLUMNS for every cell of a twin.grid.Grid, geometry as WKB (one vectorized call)."""
    cells = list(grid.cells)
    wkb = shapely.to_wkb([c.geometry for c in cells], hex=False) if cells else []
    return [
        (c.code, c.name, c.district_name, c.street_name, c.community_name, c.worker, dumps(c.attributes or {}), bytes(w))
        for c, w in zip(cells, wkb)
    ]


def grid_from_rows(rows: Sequence[Sequence], meta: dict, decode_json=loads):
    """A Grid from rows of CELL_COLUMNS (geometry as WKB) and its metadata."""
    geometries = shapely.from_wkb([bytes(r[7]) for r in rows]) if rows else []
    cells = [
        Cell(
            code=r[0],
            name=r[1],
            geometry=g,
            district_name=r[2],
            street_name=r[3],
            community_name=r[4],
            worker=r[5],
            attributes=decode_json(r[6]) or {},
        )
        for r, g in zip(rows, geometries)
    ]
    return Grid(cells, meta)


# -- errors -------------------------------------------------------------------------
@contextlib.contextmanager
def translate_errors(operation: str, errors: tuple[type[BaseException], ...],
                     unavailable: Callable[[BaseException], bool] = lambda exc: False) -> Iterator[None]:
    """Re-raise driver `errors` as StoreError naming the operation, the driver error as cause;
    as StoreUnavailable when `unavailable(error)` says that trying again later may succeed."""
    try:
        yield
    except errors as exc:
        kind = StoreUnavailable if unavailable(exc) else StoreError
        raise kind(f"{operation} failed: {exc}".strip()) from exc


def log_unregistered_statuses(unknown: list[tuple[str, object]]) -> None:
    """Statuses whose device is not registered: not an error (the device may have been removed
    while a gateway still knew it, and failing would fail and redeliver the batch they came with)."""
    log = logging.getLogger("twin.store")
    for device_id, status in unknown[:10]:
        log.warning("status %s of device %s not recorded: the device is not registered", status, device_id)
    if len(unknown) > 10:
        log.warning("%d more statuses of unregistered devices not recorded", len(unknown) - 10)


def redact(url: str) -> str:
    """A store URL without its password, for messages and logs.

    >>> redact("postgresql://gt:s3cret@db:5432/twin")
    'postgresql://gt:***@db:5432/twin'
    >>> redact("sqlite:///var/gridtwin.db")
    'sqlite:///var/gridtwin.db'
    """
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
