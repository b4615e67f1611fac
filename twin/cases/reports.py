"""Field reports: delivery riders and grid workers report what they see from a phone, by MQTT
(`gridtwin/v1/reports/{reporter_id}`) or HTTP (`POST /api/reports`).

A report becomes a case of the ordinary loop (source `report`), so the dispatcher files or
cancels it like any other. The case does not name the reporter: its reporter is
`field-reporter`, and only the report (kept apart, with the case id) says who sent it, so the
map wall and everything published about cases stay anonymous. A report whose case was filed,
and not cancelled as a false alarm, is *confirmed* and earns its reporter `REPORT_POINTS` in the
ledger (`settle`), counted to the district of its cell for the leaderboard.

    report = parse_report(payload, reporter_id="rider-7", channel="mqtt", now=now, grid=grid)
    report = file_report(store, grid, report, responsibility=settings.responsibility)
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from twin.cases.responsibility import Responsibility
from twin.cases.workflow import CASE_TYPE, MAX_URL, new_case
from twin.errors import TwinError
from twin.ids import new_id
from twin.sensing.catalog import Level

if TYPE_CHECKING:
    from twin.grid.cells import Grid
    from twin.store.base import TwinStore

__all__ = [
    "Report", "ReportView", "ReportError", "parse_report", "file_report", "settle", "REPORT_ACTOR",
    "REPORT_POINTS", "REPORT_FIELDS", "MAX_NOTE",
]  # fmt: skip

REPORT_ACTOR = "field-reporter"  # the case's reporter and the audit log's actor: never the person
REPORT_POINTS = 10  # per confirmed report
MAX_NOTE = 2000
CLIENT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
REPORT_FIELDS = ("report_id", "ts", "type", "note", "loc", "photo_url")


class ReportError(TwinError):
    """A report that cannot be taken; `problems` lists each as {field, message}, `reason` is the
    dead-letter reason for MQTT (`schema`, or `out_of_area` for a place outside the grid)."""

    def __init__(self, problems: list[dict], reason: str = "schema"):
        self.problems, self.reason = list(problems), reason
        super().__init__("; ".join(f"{p['field']}: {p['message']}" if p.get("field") else p["message"]
                                   for p in self.problems))


@dataclass(frozen=True, slots=True)
class Report:
    id: str
    reporter_id: str
    type: str
    lat: float
    lon: float
    cell_code: str
    received_at: float
    channel: str  # "mqtt" or "http"
    note: str = ""
    photo_url: str | None = None
    client_ref: str | None = None  # the phone's own id of the report: sent twice, stored once
    ts: float | None = None  # when the reporter saw it, by the phone's clock
    case_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReportView:
    """A report with how it went: its case's status and the points it earned (None: not yet)."""

    report: Report
    case_status: str | None
    points: int | None


def _time(value) -> float | None:
    from datetime import datetime

    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError("not a time")
        return float(value)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("no UTC offset")
        return parsed.timestamp()
    raise ValueError("not a time")


def parse_report(payload: object, *, reporter_id: str, channel: str, now: float, grid: Grid) -> Report:
    """A Report from a payload (the JSON of docs/schemas/report.json), located in its grid cell,
    or ReportError listing every problem."""
    if not isinstance(payload, dict):
        raise ReportError([{"field": None, "message": "a report is a JSON object with type and loc"}])
    problems: list[dict] = []

    def problem(name, message):
        problems.append({"field": name, "message": message})

    for key in sorted(set(payload) - set(REPORT_FIELDS)):
        problem(key, f"unknown field; a report has {', '.join(REPORT_FIELDS)}")
    type_ = payload.get("type")
    if not isinstance(type_, str) or not CASE_TYPE.match(type_):
        problem("type", "required: 1-64 lower-case letters, digits or '_' (pothole, litter, illegal_parking, ...)")
    note = payload.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        problem("note", f"text of at most {MAX_NOTE} characters")
    photo = payload.get("photo_url")
    if photo is not None and (not isinstance(photo, str) or not re.match(r"^https?://\S+$", photo)
                              or len(photo) > MAX_URL):
        problem("photo_url", f"an http(s) URL of at most {MAX_URL} characters")
    ref = payload.get("report_id")
    if ref is not None and (not isinstance(ref, str) or not CLIENT_REF.match(ref)):
        problem("report_id", "1-64 letters, digits, '_', '.', ':' or '-'")
    try:
        ts = _time(payload.get("ts"))
    except ValueError:
        ts = None
        problem("ts", "an RFC 3339 time with an offset, or Unix epoch seconds")
    loc = payload.get("loc")
    lat = lon = None
    if not isinstance(loc, dict):
        problem("loc", "required: {\"lat\": ..., \"lon\": ...} in WGS84 degrees")
    else:
        lat, lon = loc.get("lat"), loc.get("lon")
        for name, value, bound in (("lat", lat, 90.0), ("lon", lon, 180.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or abs(value) > bound:
                problem(f"loc.{name}", f"a number from -{bound:g} to {bound:g} (WGS84 degrees)")
    if problems:
        raise ReportError(problems)
    code = grid.locate(float(lon), float(lat))
    if code is None:
        raise ReportError([{"field": "loc", "message": f"lat {lat}, lon {lon} is outside every grid cell"}],
                          reason="out_of_area")
    return Report(id=f"R-{new_id()}", reporter_id=reporter_id, type=type_, lat=float(lat), lon=float(lon),
                  cell_code=code, received_at=now, channel=channel, note=note, photo_url=photo, client_ref=ref, ts=ts)


def file_report(store: TwinStore, grid: Grid, report: Report, *,
                responsibility: Responsibility | None = None) -> Report:
    """Store the report and open its case (source `report`, reporter `field-reporter`): the stored
    report with its case id. A report the reporter already sent (same `report_id`) is not filed
    twice: the first one is returned."""
    if report.client_ref is not None:
        existing = store.find_report(report.reporter_id, report.client_ref)
        if existing is not None and existing.case_id is not None:
            return existing
        if existing is not None:
            report = existing  # stored, but its case was not (a stop in between): file it now
    if report.client_ref is None or store.find_report(report.reporter_id, report.client_ref) is None:
        store.put_report(report)
    responsibility = responsibility or Responsibility()
    cell = grid[report.cell_code]
    words = report.type.replace("_", " ")
    details = {"report_id": report.id, "channel": report.channel}
    if report.photo_url:
        details["photo_url"] = report.photo_url
    case, entry = new_case(type_=report.type, severity=Level.WARNING, cell_code=report.cell_code,
                           now=report.received_at, actor=REPORT_ACTOR, source="report",
                           title=f"{words[:1].upper()}{words[1:]} reported from the field"[:200],
                           description=report.note, lat=report.lat, lon=report.lon,
                           responsible=responsibility.worker(cell), note=report.note or f"field report: {words}",
                           details=details)
    saved, _ = store.save_case(case, [entry])
    store.set_report_case(report.id, saved.id)
    return dataclasses.replace(report, case_id=saved.id)


def settle(store: TwinStore, now: float) -> int:
    """Credit every confirmed report not yet in the ledger; how many were credited."""
    return store.settle_reports(now, REPORT_POINTS)
