"""Outbound payloads: CloudEvents 1.0 structured JSON for anomalies, cases, cell state and dead letters.

The shapes here are the integrators' contract; docs/schemas/*.json hold their JSON
Schemas and the tests validate real outbound messages against them.
"""

from __future__ import annotations

import base64

from twin.cases.workflow import Action, Case, allowed_actions
from twin.grid.cells import Cell
from twin.ids import new_id
from twin.sensing.anomalies import Anomaly
from twin.sensing.cellstate import CellState
from twin.sensing.readings import DeadLetter
from twin.times import rfc3339

__all__ = ["envelope", "cell_ref", "anomaly_event", "cell_state_event", "dead_letter_event", "case_json",
           "case_update_event", "SPEC_VERSION", "ANOMALY_OPENED", "ANOMALY_CLEARED", "CELL_STATE", "DEAD_LETTER",
           "CASE_EVENT_PREFIX"]

SPEC_VERSION = "1.0"
SCHEMA_BASE = "https://gridtwin.invalid/schemas/v1"  # a name, not a location: schemas ship in docs/schemas

ANOMALY_OPENED = "org.gridtwin.anomaly.opened"
ANOMALY_CLEARED = "org.gridtwin.anomaly.cleared"
CELL_STATE = "org.gridtwin.cell.state"
DEAD_LETTER = "org.gridtwin.deadletter"


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
        "category": anomaly.category,
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


# -- cases ------------------------------------------------------------------------------
CASE_EVENT_PREFIX = "org.gridtwin.case."


def _cell_or_code(cell: Cell | None, code: str) -> dict:
    return cell_ref(cell) if cell is not None else {"code": code, "name": "", "path": "", "district": code[:6]}


def case_json(case, cell: Cell | None, now: float) -> dict:
    """A case as integrators and the HTTP API see it (twin.cases.Case; `now` decides `overdue`)."""
    return {
        "id": case.id,
        "type": case.type,
        "severity": case.severity.label,
        "status": str(case.status),
        "level": str(case.level),
        "cell": _cell_or_code(cell, case.cell_code),
        "assignee": case.assignee,
        "responsible": case.responsible,
        "source": case.source,
        "reporter": case.reporter,
        "title": case.title,
        "description": case.description,
        "location": None if case.lat is None or case.lon is None else {"lat": case.lat, "lon": case.lon},
        "anomaly_count": case.anomaly_count,
        "created_at": rfc3339(case.created_at),
        "updated_at": rfc3339(case.updated_at),
        "last_anomaly_at": rfc3339(case.last_anomaly_at),
        "filed_at": rfc3339(case.filed_at),
        "dispatched_at": rfc3339(case.dispatched_at),
        "accepted_at": rfc3339(case.accepted_at),
        "handled_at": rfc3339(case.handled_at),
        "closed_at": rfc3339(case.closed_at),
        "evaluated_at": rfc3339(case.evaluated_at),
        "cancelled_at": rfc3339(case.cancelled_at),
        "cancel_reason": case.cancel_reason,
        "accept_due": rfc3339(case.accept_due),
        "handle_due": rfc3339(case.handle_due),
        "due_at": rfc3339(case.due_at),
        "escalate_at": rfc3339(case.escalate_at),
        "overdue": case.overdue(now),
        "late": case.late,
        "escalations": case.escalations,
        "satisfaction": case.satisfaction,
        "feedback": case.feedback,
        "photo_url": case.photo_url,
        "allowed_actions": allowed_actions(case.status),
    }


def case_update_event(record, cell: Cell | None, source: str) -> dict:
    """`gridtwin/v1/cases/{district}/{case_id}` payload from one audit row of a case
    (twin.people.audit.AuditRecord). The CloudEvents id is `<case id>:<seq>`, the same every time
    the row is published, so a consumer can drop a redelivery."""
    case = Case.from_record(record.snapshot_json())
    data = {
        "case_id": case.id,
        "seq": record.seq,
        "action": record.action,
        "actor": record.actor,
        "at": rfc3339(record.at),
        "from_status": record.from_status,
        "to_status": record.to_status,
        "note": record.note,
        "details": record.details_json(),
        "case": case_json(case, cell, record.at),
    }
    event = envelope(CASE_EVENT_PREFIX + Action(record.action).past, source, case.id, record.at, data, "case-update")
    event["id"] = f"{case.id}:{record.seq}"
    return event
