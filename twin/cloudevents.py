"""Outbound payloads: CloudEvents 1.0 structured JSON for anomalies, cell state and dead letters.

The shapes here are the integrators' contract; docs/schemas/*.json hold their JSON
Schemas and the tests validate real outbound messages against them.
"""

from __future__ import annotations

import base64
from twin.ids import new_id
from datetime import datetime, timezone

from twin.anomalies import Anomaly
from twin.cells import CellState
from twin.grid import Cell
from twin.readings import DeadLetter

SPEC_VERSION = "1.0"
SCHEMA_BASE = "https://gridtwin.invalid/schemas/v1"  # a name, not a location: schemas ship in docs/schemas

ANOMALY_OPENED = "org.gridtwin.anomaly.opened"
ANOMALY_CLEARED = "org.gridtwin.anomaly.cleared"
CELL_STATE = "org.gridtwin.cell.state"
DEAD_LETTER = "org.gridtwin.deadletter"


def rfc3339(ts: float | None) -> str | None:
    """Unix epoch seconds -> '2026-11-29T08:00:00.123Z' (millisecond precision, UTC)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(type_: str, source: str, subject: str, time: float, data: dict, schema: str) -> dict:
    return {
        "specversion": SPEC_VERSION,
        "type": type_,
        "source": source,
        "id": new_id(),
        "time": rfc3339(time),
        "subject": subject,
        "datacontenttype": "application/json",
        "dataschema": f"{SCHEMA_BASE}/{schema}.json",
        "data": data,
    }


def cell_ref(cell: Cell) -> dict:
    return {"code": cell.code, "name": cell.name, "path": cell.path, "district": cell.district}


def anomaly_event(anomaly: Anomaly, cell: Cell, source: str) -> dict:
    """`gridtwin/v1/events/{district}/{cell_code}/{type}` payload."""
    data = {
        "anomaly_id": anomaly.id,
        "type": anomaly.type,
        "status": anomaly.status,
        "severity": anomaly.severity.label,
        "cell": cell_ref(cell),
        "device_id": anomaly.device_id,
        "metric": anomaly.metric,
        "value": anomaly.value,
        "threshold": anomaly.threshold,
        "detector": anomaly.detector,
        "location": None if anomaly.lat is None else {"lat": anomaly.lat, "lon": anomaly.lon},
        "explanation": anomaly.explanation,
        "details": anomaly.details,
        "ts": rfc3339(anomaly.ts),
    }
    kind = ANOMALY_OPENED if anomaly.status == "opened" else ANOMALY_CLEARED
    return envelope(kind, source, cell.code, anomaly.ts, data, "anomaly")


def cell_state_event(state: CellState, cell: Cell, source: str, now: float) -> dict:
    """Retained `gridtwin/v1/cells/{district}/{cell_code}/state` payload."""
    data = cell_ref(cell) | {
        "level": state.level.label,
        "values": state.values,
        "updated_at": rfc3339(state.updated_at),
        "open_anomalies": state.open_anomalies,
    }
    return envelope(CELL_STATE, source, cell.code, now, data, "cell-state")


def dead_letter_event(letter: DeadLetter, source: str) -> dict:
    """`gridtwin/v1/deadletter/{reason}` payload; the original payload is base64."""
    data = {
        "reason": letter.reason,
        "detail": letter.detail,
        "topic": letter.topic,
        "device_id": letter.device_id,
        "payload": base64.b64encode(letter.payload).decode("ascii"),
        "received_at": rfc3339(letter.received_at),
    }
    return envelope(DEAD_LETTER, source, letter.topic, letter.received_at, data, "deadletter")
