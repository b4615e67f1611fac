"""The JSON bodies the HTTP API takes, as msgspec Structs, and `decode`, which turns a request's JSON
into one of them or answers 422 listing every problem by field.

The same Structs give the OpenAPI document its request schemas (maps/openapi.py), so what a
client reads there is what the server checks. Rules of the domain that need the store or the
grid (a device inside the grid, an action allowed in a case's status) stay with the twin, which
reports them in the same {field, message} form.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

import msgspec
import msgspec.inspect
from msgspec import Meta, Struct

from maps.answers import one_of
from maps.errors import Unprocessable
from twin.cases.reports import CLIENT_REF
from twin.cases.reports import MAX_NOTE as MAX_REPORT_NOTE
from twin.cases.workflow import CANCEL_REASONS, CASE_TYPE, MAX_NOTE, MAX_URL, Action
from twin.devices.device import DEVICE_ID, DeviceKind

__all__ = ["CaseReport", "CredentialsRequest", "DeviceInput", "FieldReportInput", "Login", "Placement",
           "Transition", "decode"]

B = TypeVar("B", bound=Struct)

Latitude = Annotated[float, Meta(ge=-90, le=90, description="WGS84 degrees")]
Longitude = Annotated[float, Meta(ge=-180, le=180, description="WGS84 degrees")]
CaseType = Annotated[str, Meta(pattern=CASE_TYPE.pattern, examples=["pothole"],
                               description="1-64 lower-case letters, digits or '_'")]
HttpUrl = Annotated[str, Meta(pattern=r"^https?://\S+$", max_length=MAX_URL, description="an http(s) URL")]


class DeviceInput(Struct, forbid_unknown_fields=True):
    """POST /api/devices: a device to register; its cell is resolved from lat and lon."""

    id: Annotated[str, Meta(pattern=DEVICE_ID.pattern, description="1-64 letters, digits, '_', '.', ':' or '-', "
                                                                  "starting with a letter or digit")]
    kind: DeviceKind
    lat: Annotated[Latitude | None, Meta(description="required unless mobile")] = None
    lon: Annotated[Longitude | None, Meta(description="required unless mobile")] = None
    model: str = ""
    metrics: Annotated[list[str], Meta(description="names from the metric catalog")] = []
    mobile: Annotated[bool, Meta(description="reports its place in every reading (loc)")] = False
    name: str = ""


class Placement(Struct, forbid_unknown_fields=True):
    """POST /api/devices/{id}/placement: where the device is installed."""

    lat: Latitude
    lon: Longitude


class CredentialsRequest(Struct, forbid_unknown_fields=True):
    """POST /api/devices/{id}/credentials (the body may be left out)."""

    rotate: Annotated[bool, Meta(description="replace the active password")] = False


class Login(Struct, forbid_unknown_fields=True):
    name: str
    password: Annotated[str, Meta(extra_json_schema={"format": "password"})]


class CaseReport(Struct, forbid_unknown_fields=True):
    """POST /api/cases: give `cell`, or `lat` and `lon` of the place."""

    type: CaseType
    severity: Literal["warning", "critical"] = "warning"
    cell: Annotated[str, Meta(pattern="^[0-9]{15}$", description="15-digit grid cell code")] | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    title: Annotated[str, Meta(max_length=200)] = ""
    description: Annotated[str, Meta(max_length=MAX_NOTE)] = ""


class Transition(Struct, forbid_unknown_fields=True):
    """POST /api/cases/{id}/transitions: the action and the fields it takes."""

    # The enums are checked by the case book, after the case is found and the role is known (404 and 403
    # come first), so the shape only says which values they take.
    action: Annotated[str, one_of(a.value for a in Action if not a.system)]
    note: Annotated[str, Meta(max_length=MAX_NOTE,
                              description="required for handle (the feedback) and reopen (why)")] = ""
    reason: Annotated[str, one_of(CANCEL_REASONS), Meta(description="cancel: required")] | None = None
    assignee: Annotated[str, Meta(description="dispatch (default: the cell's grid worker), reassign: "
                                              "required")] | None = None
    photo_url: Annotated[str, Meta(extra_json_schema={"format": "uri"},
                                   description="handle: optional")] | None = None
    satisfaction: Annotated[int, Meta(extra_json_schema={"minimum": 1, "maximum": 5},
                                      description="evaluate: required, 1 to 5")] | None = None

    def fields(self) -> dict[str, Any]:
        """The action's own fields, as the case book takes them (note and action apart)."""
        given = msgspec.structs.asdict(self)
        return {k: v for k, v in given.items() if k not in ("action", "note") and v is not None}


class Loc(Struct, forbid_unknown_fields=True):
    lat: Latitude
    lon: Longitude


class FieldReportInput(Struct, forbid_unknown_fields=True):
    """POST /api/reports: the payload of docs/schemas/report.json."""

    type: CaseType
    loc: Loc
    note: Annotated[str, Meta(max_length=MAX_REPORT_NOTE)] = ""
    photo_url: HttpUrl | None = None
    report_id: Annotated[str, Meta(pattern=CLIENT_REF.pattern,
                                   description="the reporter's own id of the report: a report sent twice is "
                                               "filed once")] | None = None
    ts: Annotated[str | float, Meta(description="when it was seen: RFC 3339 with an offset, or epoch "
                                                 "seconds")] | None = None



_MISSING = re.compile(r"^Object missing required field `([^`]+)`$")


def decode(body: object, kind: type[B], what: str) -> B:
    """`body` (parsed JSON) as a `kind` (a `what`, in messages), or Unprocessable naming every field that is
    wrong: each field is converted on its own, strictly (no "1" for 1), so one answer lists all the problems."""
    if not isinstance(body, dict):
        raise Unprocessable(f"the body must be a JSON object: a {what}", [{"field": None, "message": "not a JSON object"}])
    fields = {f.encode_name: f for f in msgspec.structs.fields(kind)}
    problems = [{"field": name, "message": f"unknown field; a {what} has {', '.join(fields)}"}
                for name in sorted(set(body) - set(fields))]
    for name, info in fields.items():
        if name not in body:
            if info.required:
                problems.append({"field": name, "message": f"required {_kind(info.type)}"})
            continue
        try:
            msgspec.convert(body[name], info.type, strict=True)
        except msgspec.ValidationError as exc:
            message, _, path = str(exc).partition(" - at `$")
            where = name + path.rstrip("`")
            missing = _MISSING.match(message)  # inside an object: name the member, as for the body's own
            if missing:
                where, message = f"{where}.{missing.group(1)}", "required"
            elif not path:
                message = f"{message} ({_hint(info.type)})"
            problems.append({"field": where, "message": message})
    if problems:
        raise Unprocessable(f"invalid {what}: " + "; ".join(f"{p['field']}: {p['message']}" for p in problems),
                            problems)
    try:
        return msgspec.convert(body, kind, strict=True)
    except msgspec.ValidationError as exc:  # a rule across fields; none today, but say which
        raise Unprocessable(f"invalid {what}: {exc}", [{"field": None, "message": str(exc)}]) from None


def _hint(annotation: object) -> str:
    """What a field takes: its description, else its kind.

    >>> _hint(DeviceKind), _hint(Latitude)
    ('one of sensor, camera', 'WGS84 degrees')
    """
    info = msgspec.inspect.type_info(annotation)
    while isinstance(info, msgspec.inspect.Metadata):
        described = (info.extra_json_schema or {}).get("description")
        if described:
            return described
        info = info.type
        if isinstance(info, msgspec.inspect.UnionType):  # X | None: what X takes
            info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    return _kind(annotation)


def _kind(annotation: object) -> str:
    """What a field takes, in words.

    >>> _kind(str), _kind(Latitude), _kind(DeviceKind), _kind(Loc)
    ('text', 'number', 'one of sensor, camera', 'object')
    """
    info = msgspec.inspect.type_info(annotation)
    if isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if isinstance(info, (msgspec.inspect.EnumType, msgspec.inspect.LiteralType)):
        values = [m.value for m in info.cls] if isinstance(info, msgspec.inspect.EnumType) else info.values
        return "one of " + ", ".join(map(str, values))
    names = {msgspec.inspect.StrType: "text", msgspec.inspect.FloatType: "number", msgspec.inspect.IntType:
             "whole number", msgspec.inspect.BoolType: "true or false", msgspec.inspect.ListType: "list",
             msgspec.inspect.StructType: "object"}
    return names.get(type(info), "value")
