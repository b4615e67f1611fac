"""The JSON shapes the HTTP API answers with, as msgspec Structs: the OpenAPI document's schemas are
generated from them (maps/openapi.py), and the tests check real answers against those schemas.

Times are RFC 3339 strings in UTC (`Time`), as the handlers and the MQTT payloads write them. A
field typed `X | None` without a default is always present and may be null.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from twin.cases.figures import GROUPS
from twin.cases.workflow import Status
from twin.devices.device import DeviceKind, DeviceStatus
from twin.people.users import Role
from twin.sensing.catalog import Level

Time = Annotated[str, Meta(extra_json_schema={"format": "date-time"})]
CellCode = Annotated[str, Meta(pattern="^[0-9]{15}$", description="15-digit grid cell code")]


def one_of(values: Iterable[object]) -> Meta:
    """The enum of a text field whose values come from the twin's own lists (the schema says it; the
    field stays text, so a value the twin adds later is not refused by a shape)."""
    return Meta(extra_json_schema={"enum": [str(v) for v in values]})


LevelName = Annotated[str, one_of(level.label for level in Level)]
Count = Annotated[int, Meta(ge=0)]
Rate = Annotated[float, Meta(ge=0, le=1)]


class Error(Struct):
    """Every 4xx answer. `error` says what is wrong and how to fix it; `detail` names the parameter or
    lists the problems of a request body."""

    error: str
    detail: Any


class Problem(Struct):
    """One problem of a request body; `field` is null when the body as a whole is wrong."""

    field: str | None
    message: str


class Invalid(Struct):
    """A 422 answer: the body is not JSON or breaks the rules; `detail` lists each problem."""

    error: str
    detail: list[Problem]


class IllegalTransitionDetail(Struct):
    status: Annotated[str, one_of(s.value for s in Status)]
    action: str
    allowed: list[str]


class IllegalTransition(Struct):
    """A 409 of a case transition: the action is not allowed in the case's status."""

    error: str
    detail: IllegalTransitionDetail


# -- cells --------------------------------------------------------------------------------
class CellRef(Struct):
    code: Annotated[str, Meta(description="15-digit grid cell code")]
    name: str
    path: Annotated[str, Meta(description="district > street > community > cell")]
    district: Annotated[str, Meta(description="6-digit administrative division code")]


class CellProperties(Struct):
    code: CellCode
    name: str
    path: str
    district: str
    level: LevelName
    values: Annotated[dict[str, float], Meta(description="metric -> latest value (booleans as 0/1)")]
    updated_at: Annotated[Time | None, Meta(description="time of the latest reading")]
    open_anomalies: Count
    worker: Annotated[str | None, Meta(description="the responsible grid worker")] = None


class CellFeature(Struct):
    type: Literal["Feature"]
    id: str
    geometry: Annotated[dict[str, Any] | None,
                        Meta(description="GeoJSON Polygon in WGS84; null with geometry=false")]
    properties: CellProperties


class CellCollection(Struct):
    type: Literal["FeatureCollection"]
    features: list[CellFeature]


class TileLayerAnswer(Struct):
    url: Annotated[str, Meta(description="Leaflet URL template: {z}, {x}, {y}, and {s} for one of the subdomains")]
    attribution: str
    subdomains: list[str]
    minZoom: int | None
    maxZoom: Annotated[int | None, Meta(description="the deepest zoom with tiles; past it they are scaled")]
    tms: Annotated[bool, Meta(description="rows counted from the south")]
    opacity: float


class VectorLayerAnswer(Struct):
    name: str
    url: Annotated[str, Meta(description="the layer's GeoJSON, in the basemap's coordinate system")]
    attribution: str


class BasemapAnswer(Struct):
    """What every map page draws under its cells."""

    crs: Annotated[str, Meta(description="the tiles' coordinate system: wgs84 (also CGCS2000) or gcj02; over "
                                         "gcj02 tiles the pages load geometry with ?crs=gcj02"),
                   one_of(("wgs84", "gcj02"))]
    tiles: Annotated[list[TileLayerAnswer], Meta(description="drawn in order, the first at the bottom")]
    vectors: list[VectorLayerAnswer]
    minZoom: int | None
    maxZoom: int | None


class VectorFeatureProperties(Struct):
    kind: Annotated[str, Meta(description="road, wall, water, park, building, area, landmark, gate or district")]
    name_zh: str
    name_en: str
    road_class: str | None = None


class VectorFeature(Struct):
    type: Literal["Feature"]
    geometry: dict[str, Any]
    properties: VectorFeatureProperties


class VectorCollection(Struct):
    type: Literal["FeatureCollection"]
    name: str
    features: list[VectorFeature]


class RawPoint(Struct):
    ts: Time
    value: float
    device_id: str


class BucketPoint(Struct):
    ts: Annotated[Time, Meta(description="bucket start")]
    count: int
    mean: float
    min: float
    max: float


class Series(Struct, rename={"start": "from", "end": "to"}):
    cell: str
    metric: str
    unit: str
    start: Time
    end: Time
    bucket: Annotated[float | None, Meta(description="bucket width in seconds; null for raw readings")]
    # Raw readings or buckets: msgspec takes no union of untagged Structs, so the schema says it.
    points: list[Annotated[Any, Meta(extra_json_schema={"anyOf": [
        {"$ref": "#/components/schemas/RawPoint"}, {"$ref": "#/components/schemas/BucketPoint"}]})]]
    truncated: Annotated[bool, Meta(description="true when `limit` cut the raw readings short")]


class Frame(Struct):
    t: Annotated[Time, Meta(description="frame start")]
    warning: Annotated[Count, Meta(description="cells at warning in the frame")]
    critical: Annotated[Count, Meta(description="cells at critical in the frame")]
    changes: Annotated[dict[str, Literal["normal", "warning", "critical"]],
                       Meta(description="cell code -> level, for the cells that changed")]


class CellHistory(Struct, rename={"start": "from", "end": "to"}):
    start: Time
    end: Time
    step: Annotated[float, Meta(description="frame width in seconds")]
    frames: list[Frame]
    truncated: Annotated[bool, Meta(description="more anomaly rows than one answer reads: the earliest frames "
                                                "may miss some")]


class Located(Struct):
    lat: float
    lon: float
    cell: CellRef | None


# -- devices ------------------------------------------------------------------------------
class Device(Struct):
    id: str
    kind: DeviceKind
    name: str
    model: str
    metrics: list[str]
    mobile: bool
    lat: float | None
    lon: float | None
    cell: Annotated[CellRef | None, Meta(description="the cell the device is in")]
    status: DeviceStatus
    registered_at: Time | None
    last_seen: Time | None


class DeviceList(Struct):
    devices: list[Device]


class Signal(Struct):
    rssi: float | None = None
    snr: float | None = None
    linkquality: float | None = None


class DeviceHealth(Struct):
    """A device's health (docs/provisioning.md)."""

    diagnosis: Literal["ok", "pending", "disabled", "stale_clock", "rejected_payloads", "refused_credentials",
                       "never_connected", "offline"]
    message: str
    silent: bool
    last_seen: Time | None
    battery: float | None
    signal: Signal | None
    messages_last_hour: int | None
    message_rate_per_min: float | None
    clock_skew_s: float | None
    dead_letters: dict[str, int]
    credentials: dict[str, Any] | None


class DeviceDetail(Device):
    health: DeviceHealth


class PlacedDevice(Device):
    was_pending: Annotated[bool, Meta(description="it was pending: its readings now count to the cell")]


class Credentials(Struct):
    bundle: Annotated[dict[str, Any], Meta(description="docs/provisioning.md")]
    qr_png: Annotated[str, Meta(extra_json_schema={"contentEncoding": "base64"})]
    note: str


class Revoked(Struct):
    device_id: str
    revoked: Annotated[list[str], Meta(description="the user names revoked")]
    revoked_at: Time


class ClaimCode(Struct):
    device_id: str
    username: str
    claim_code: str
    expires_at: Time
    claim_topic: str
    reply_topic: str


# -- anomalies ----------------------------------------------------------------------------
class Point(Struct):
    lat: float
    lon: float


class Anomaly(Struct):
    """The `data` of an org.gridtwin.anomaly.opened/cleared CloudEvent."""

    anomaly_id: str
    type: Annotated[str, Meta(examples=["pm25_high", "smoke"])]
    status: Literal["opened", "cleared"]
    severity: LevelName
    cell: CellRef
    device_id: str
    explanation: str
    ts: Time
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None
    detector: str = ""
    location: Point | None = None
    details: dict[str, Any] = {}


class EventList(Struct):
    events: list[Anomaly]


# -- people -------------------------------------------------------------------------------
class Principal(Struct):
    name: Annotated[str, Meta(description="the user, or `anonymous`")]
    role: Annotated[str, one_of(r.value for r in Role)] | None
    authenticated: bool
    via: Literal["session", "token", "anonymous"]
    permissions: Annotated[list[str], Meta(description="case.accept and case.handle apply to cases assigned to "
                                                       "the user")]
    csrf_token: Annotated[str | None, Meta(description="the session's CSRF token, to send as X-CSRF-Token on every "
                                                       "write with the session cookie (also in the gridtwin_csrf "
                                                       "cookie); null without a session")]


class Session(Principal):
    expires_at: Annotated[Time, Meta(description="when the session ends")]


class LoggedOut(Struct):
    logged_out: Annotated[bool, Meta(description="false when there was no session")]


# -- cases --------------------------------------------------------------------------------
# The case is described by the MQTT contract's schema (maps/openapi.py takes it from docs/schemas/).
CaseObject = Annotated[Any, Meta(extra_json_schema={"$ref": "#/components/schemas/Case"})]


class CaseList(Struct):
    cases: list[CaseObject]
    total: Count
    limit: int
    offset: int


class AuditEntry(Struct):
    seq: Annotated[int, Meta(ge=1)]
    at: Time
    actor: str
    action: Annotated[str, Meta(description="a case action (file, dispatch, escalate, ...) or login, logout, "
                                            "user.create, token.issue, device.register")]
    subject: Literal["case", "user", "device"]
    subject_id: str
    from_status: str | None
    to_status: str | None
    note: str
    details: dict[str, Any]
    hash: Annotated[str, Meta(pattern="^[0-9a-f]{64}$",
                              description="sha256 over the previous row's hash and this row (docs/cases.md)")]


class AuditLog(Struct):
    entries: list[AuditEntry]
    next_after: Annotated[int | None, Meta(description="pass as `after` for the next page; null at the end")]


class KpiRow(Struct):
    code: Annotated[str, Meta(description="cell, street or district code; empty in the total")]
    name: str
    cases: Count
    open: Count
    overdue: Count
    cancelled: Count
    resolved: Count
    evaluated: Count
    warnings_decided: Count
    false_alarms: Count
    escalations: Count
    resolution_rate: Rate | None
    on_time_rate: Rate | None
    warning_accuracy: Rate | None
    mean_satisfaction: Annotated[float, Meta(ge=1, le=5)] | None
    mean_time_to_dispatch_s: Annotated[float, Meta(ge=0)] | None
    mean_time_to_close_s: Annotated[float, Meta(ge=0)] | None


class Kpi(Struct, rename={"start": "from", "end": "to"}):
    level: Annotated[str, one_of(GROUPS)]
    start: Time
    end: Time
    computed_at: Time
    rows: list[KpiRow]
    total: KpiRow


# -- field reports ------------------------------------------------------------------------
class FieldReport(Struct):
    id: str
    reporter: str | None
    type: str
    note: str
    location: Point
    cell_code: str
    photo_url: str | None
    channel: Literal["mqtt", "http"]
    received_at: Time | None
    seen_at: Time | None
    report_id: str | None
    case_id: str | None
    case_status: str | None
    points: int | None
    confirmed: bool


class FieldReports(Struct):
    reports: list[FieldReport]


class LeaderboardEntry(Struct):
    rank: int
    reporter: str | None
    name: str | None
    label: str
    you: bool
    points: int
    confirmed_reports: int


class Leaderboard(Struct):
    district: str | None
    anonymous: bool
    entries: list[LeaderboardEntry]


# -- the service ----------------------------------------------------------------------------
class StoreHealth(Struct):
    ok: bool
    error: str | None = None


class MqttHealth(Struct):
    connected: bool


class Health(Struct):
    status: Literal["ok", "degraded", "failing"]
    store: StoreHealth
    mqtt: MqttHealth
    sse_clients: int = 0
    cells: int = 0
