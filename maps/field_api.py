"""HTTP API of the field: technicians placing and provisioning devices, mobile reporters and their points.

    GET    /api/locate?lat=&lon=                   the cell at a point (the technician page's click)
    POST   /api/devices/{id}/placement             {"lat", "lon"}: place a (pending) device     technician, admin
    POST   /api/devices/{id}/credentials           {"rotate": bool}: new password, bundle, QR   technician, admin
    DELETE /api/devices/{id}/credentials           revoke its password and claim code           technician, admin
    POST   /api/devices/{id}/claim-code            a one-time claim code                        technician, admin
    POST   /api/reports                            a field report -> a case                     reporter, grid_worker
    GET    /api/reports                            reports: the desk sees all, a reporter their own
    GET    /api/reporters/leaderboard?district=    points of confirmed reports; names only for the desk

A device's health (twin/health.py) is part of `GET /api/devices/{id}`, see `device_health`.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import time

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maps.auth import principal_of, read_json
from maps.context import Context, context
from maps.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from maps.params import check_known, parse_limit
from maps.payloads import cell_ref, device_json
from twin.access import Principal, authorize, can
from twin.cloudevents import rfc3339
from twin.devices import Device
from twin.errors import AccessDenied, TwinError
from twin.health import health_of
from twin.registry import register_devices
from twin.reports import ReportError, file_report, parse_report, settle

__all__ = ["ROUTES", "device_health", "openapi_paths", "openapi_schemas"]


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store", **(headers or {})})


def _authorize(principal: Principal, permission: str) -> None:
    try:
        authorize(principal, permission)
    except AccessDenied as exc:
        raise (Forbidden if principal.authenticated else Unauthorized)(str(exc)) from None


def _number(body: dict, name: str, bound: float, problems: list) -> float | None:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or abs(value) > bound:
        problems.append({"field": name, "message": f"required: a number from -{bound:g} to {bound:g} (WGS84 degrees)"})
        return None
    return float(value)


async def device_health(ctx: Context, device: Device) -> dict:
    """The `health` object of GET /api/devices/{id}."""
    health = await run_in_threadpool(health_of, ctx.store, device, time.time())
    return health.to_json()


# -- the technician's map -----------------------------------------------------------------
async def locate(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("lat", "lon"))
    values = {}
    for name, bound in (("lat", 90.0), ("lon", 180.0)):
        try:
            values[name] = float(query[name])
        except (KeyError, ValueError):
            raise BadRequest(f"{name} is required: a number (WGS84 degrees)", {"parameter": name}) from None
        if not math.isfinite(values[name]) or abs(values[name]) > bound:
            raise BadRequest(f"{name} must be from -{bound:g} to {bound:g}", {"parameter": name})
    grid = context(request).grid
    code = grid.locate(values["lon"], values["lat"])
    cell = grid.get(code)
    return _json({"lat": values["lat"], "lon": values["lon"], "cell": cell_ref(cell, code) if cell else None})


async def place_device(request: Request) -> Response:
    check_known(request.query_params, ())
    principal = principal_of(request)
    _authorize(principal, "device.provision")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise Unprocessable("send {\"lat\": ..., \"lon\": ...}", [{"field": None, "message": "not a JSON object"}])
    problems: list[dict] = []
    lat, lon = _number(body, "lat", 90.0, problems), _number(body, "lon", 180.0, problems)
    problems += [{"field": k, "message": "unknown field; a placement has lat and lon"} for k in sorted(set(body) - {"lat", "lon"})]
    if problems:
        raise Unprocessable("invalid placement: " + "; ".join(f"{p['field']}: {p['message']}" for p in problems), problems)
    ctx = context(request)
    device_id = request.path_params["id"]
    device = await run_in_threadpool(ctx.store.get_device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} is not registered", {"id": device_id})
    moved = dataclasses.replace(device, lat=lat, lon=lon, mobile=False)
    report = await run_in_threadpool(
        lambda: register_devices(ctx.store, ctx.grid, [moved], catalog=ctx.settings.metrics))
    if report.refused:
        raise Unprocessable(report.refused[0].reason, [{"field": None, "message": report.refused[0].reason}])
    placed = report.accepted[0]
    return _json(device_json(placed, ctx.grid) | {"was_pending": device_id in report.placed})


# -- credentials ------------------------------------------------------------------------------
async def credentials(request: Request) -> Response:
    """POST issues or rotates, DELETE revokes: one route, so a wrong method gets the full Allow list."""
    from twin.provisioning import bundle_qr_png, device_bundle, issue_device_credentials, revoke_device_credentials

    check_known(request.query_params, ())
    principal = principal_of(request)
    _authorize(principal, "device.provision")
    ctx = context(request)
    device_id = request.path_params["id"]
    device = await run_in_threadpool(ctx.store.get_device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} is not registered", {"id": device_id})
    now = time.time()
    if request.method == "DELETE":
        revoked = await run_in_threadpool(lambda: revoke_device_credentials(ctx.store, device_id, now=now))
        return _json({"device_id": device_id, "revoked": revoked, "revoked_at": rfc3339(now)})
    body = await read_json(request) if await request.body() else {}
    if not isinstance(body, dict) or set(body) - {"rotate"} or not isinstance(body.get("rotate", False), bool):
        raise Unprocessable("send {} or {\"rotate\": true}", [{"field": "rotate", "message": "true or false"}])
    try:
        _account, password = await run_in_threadpool(
            lambda: issue_device_credentials(ctx.store, device_id, now=now, rotate=body.get("rotate", False)))
    except TwinError as exc:
        raise Conflict(str(exc), {"id": device_id}) from None
    bundle = device_bundle(ctx.settings, device, password, now=now)
    png = await run_in_threadpool(bundle_qr_png, bundle)
    return _json({"bundle": bundle, "qr_png": base64.b64encode(png).decode("ascii"),
                  "note": "the password is shown this once; the broker knows it after `gridtwin broker config` "
                          "and a reload"}, 201)


async def claim_code(request: Request) -> Response:
    from twin.provisioning import issue_claim_code

    check_known(request.query_params, ())
    principal = principal_of(request)
    _authorize(principal, "device.provision")
    ctx = context(request)
    device_id = request.path_params["id"]
    if await run_in_threadpool(ctx.store.get_device, device_id) is None:
        raise NotFound(f"device {device_id} is not registered", {"id": device_id})
    now, hours = time.time(), ctx.settings.provisioning.claim_code_hours
    try:
        code = await run_in_threadpool(lambda: issue_claim_code(ctx.store, device_id, now=now, hours=hours))
    except TwinError as exc:
        raise Conflict(str(exc), {"id": device_id}) from None
    prefix = ctx.settings.mqtt.prefix
    return _json({"device_id": device_id, "username": f"claim-{device_id}", "claim_code": code,
                  "expires_at": rfc3339(now + hours * 3600), "claim_topic": f"{prefix}/claim/{device_id}",
                  "reply_topic": f"{prefix}/claim/{device_id}/reply"}, 201)


# -- field reports ----------------------------------------------------------------------------
def _report_json(view, *, identity: bool) -> dict:
    r = view.report
    return {
        "id": r.id, "reporter": r.reporter_id if identity else None, "type": r.type, "note": r.note,
        "location": {"lat": r.lat, "lon": r.lon}, "cell_code": r.cell_code, "photo_url": r.photo_url,
        "channel": r.channel, "received_at": rfc3339(r.received_at), "seen_at": rfc3339(r.ts),
        "report_id": r.client_ref, "case_id": r.case_id, "case_status": view.case_status, "points": view.points,
        "confirmed": view.points is not None,
    }


async def reports(request: Request) -> Response:
    return await (submit_report(request) if request.method == "POST" else list_reports(request))


async def submit_report(request: Request) -> Response:
    check_known(request.query_params, ())
    principal = principal_of(request)
    _authorize(principal, "report.submit")
    body = await read_json(request)
    ctx = context(request)
    try:
        report = parse_report(body, reporter_id=principal.name, channel="http", now=time.time(), grid=ctx.grid)
    except ReportError as exc:
        raise Unprocessable(str(exc), exc.problems) from None
    stored = await run_in_threadpool(
        lambda: file_report(ctx.store, ctx.grid, report, responsibility=ctx.settings.responsibility))
    view = await run_in_threadpool(ctx.store.get_report, stored.id)
    return _json(_report_json(view, identity=True), 201, {"Location": f"/api/cases/{stored.case_id}"})


async def list_reports(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("reporter", "case", "limit"))
    principal = principal_of(request)
    ctx = context(request)
    if can(principal, "report.identity"):
        reporter = query.get("reporter")
    elif principal.role is not None and can(principal, "report.submit"):
        reporter = principal.name  # their own, whatever they asked for
    else:
        raise (Forbidden if principal.authenticated else Unauthorized)(
            f"{principal.name} ({principal.role or 'no role'}) may not read field reports: reporters read their "
            "own, dispatchers and admins all of them")
    limit = parse_limit(query, default=100, maximum=1000)
    await run_in_threadpool(settle, ctx.store, time.time())
    views = await run_in_threadpool(
        lambda: ctx.store.list_reports(reporter_id=reporter, case_id=query.get("case"), limit=limit))
    return _json({"reports": [_report_json(v, identity=True) for v in views]})


async def leaderboard(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("district", "limit"))
    principal = principal_of(request)
    _authorize(principal, "case.read")
    district = query.get("district")
    if district is not None and (len(district) != 6 or not district.isdigit()):
        raise BadRequest(f"district: {district!r} is not a 6-digit district code", {"parameter": "district"})
    limit = parse_limit(query, default=20, maximum=500)
    ctx = context(request)
    await run_in_threadpool(settle, ctx.store, time.time())
    rows = await run_in_threadpool(ctx.store.leaderboard, district, limit)
    identity = can(principal, "report.identity")
    names = {}
    if identity:
        users = await run_in_threadpool(lambda: [ctx.store.get_user(r) for r, _, _ in rows])
        names = {u.name: u.display_name for u in users if u is not None}
    entries = []
    for rank, (reporter, points, confirmed) in enumerate(rows, 1):
        mine = principal.name == reporter and principal.authenticated
        shown = identity or mine
        entries.append({"rank": rank, "reporter": reporter if shown else None,
                        "name": names.get(reporter, "") if identity else None,
                        "label": reporter if shown else f"Reporter #{rank}", "you": mine,
                        "points": points, "confirmed_reports": confirmed})
    return _json({"district": district, "anonymous": not identity, "entries": entries})


ROUTES = [
    Route("/api/locate", locate, methods=["GET"]),
    Route("/api/devices/{id}/placement", place_device, methods=["POST"]),
    Route("/api/devices/{id}/credentials", credentials, methods=["POST", "DELETE"]),
    Route("/api/devices/{id}/claim-code", claim_code, methods=["POST"]),
    Route("/api/reports", reports, methods=["GET", "POST"]),
    Route("/api/reporters/leaderboard", leaderboard, methods=["GET"]),
]


# -- OpenAPI ------------------------------------------------------------------------------------
def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: dict, description: str, status: str = "200") -> dict:
    return {status: {"description": description, "content": {"application/json": {"schema": schema}}}}


_ERRORS = {code: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
           for code, text in (("401", "No valid credentials"), ("403", "The role does not allow this"),
                              ("404", "No such device"), ("409", "Conflict"), ("422", "Invalid body"))}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}, "description": "device id"}
_SECURED = [{"session": []}, {"bearer": []}]


def _op(summary: str, responses: dict, *, params=(), body: str | None = None, errors=("401", "403")) -> dict:
    op = {"summary": summary, "parameters": list(params), "responses": responses | {e: _ERRORS[e] for e in errors},
          "security": _SECURED}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(body)}}}
    return op


def openapi_paths() -> dict:
    q = lambda name, schema, text: {"name": name, "in": "query", "required": False, "schema": schema,
                                    "description": text}
    return {
        "/api/locate": {"get": {
            "summary": "The grid cell at a point (null outside the grid)",
            "parameters": [{"name": n, "in": "query", "required": True, "schema": {"type": "number"}}
                           for n in ("lat", "lon")],
            "responses": _ok(_ref("Located"), "The point and its cell") | {"400": _ERRORS["422"] | {
                "description": "lat or lon missing or out of range"}}}},
        "/api/devices/{id}/placement": {"post": _op(
            "Place a device (a pending one becomes registered, its readings counted to the cell)",
            _ok(_ref("Device"), "The placed device, with `was_pending`"), params=[_ID], body="Placement",
            errors=("401", "403", "404", "422"))},
        "/api/devices/{id}/credentials": {
            "post": _op("Issue (or, with rotate, replace) the device's MQTT password: its configuration bundle "
                        "and a QR code PNG (base64), shown once", _ok(_ref("Credentials"), "Issued", "201"),
                        params=[_ID], errors=("401", "403", "404", "409", "422")),
            "delete": _op("Revoke the device's MQTT password and unused claim code",
                          _ok({"type": "object", "required": ["device_id", "revoked", "revoked_at"],
                               "properties": {"device_id": {"type": "string"},
                                              "revoked": {"type": "array", "items": {"type": "string"}},
                                              "revoked_at": {"type": "string", "format": "date-time"}}},
                              "The user names revoked"), params=[_ID], errors=("401", "403", "404"))},
        "/api/devices/{id}/claim-code": {"post": _op(
            "A one-time claim code for zero-touch provisioning over MQTT (shown once)",
            _ok(_ref("ClaimCode"), "Issued", "201"), params=[_ID], errors=("401", "403", "404", "409"))},
        "/api/reports": {
            "post": _op("Send a field report (reporter, grid_worker): it becomes a case of the loop",
                        _ok(_ref("FieldReport"), "Stored and filed as a case", "201"), body="FieldReportInput",
                        errors=("401", "403", "422")),
            "get": _op("Field reports, newest first: dispatchers and admins see all, a reporter their own",
                       _ok({"type": "object", "required": ["reports"],
                            "properties": {"reports": {"type": "array", "items": _ref("FieldReport")}}}, "Reports"),
                       params=[q("reporter", {"type": "string"}, "only this reporter's (desk roles)"),
                               q("case", {"type": "string"}, "only the report of this case"),
                               q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "at most")])},
        "/api/reporters/leaderboard": {"get": {
            "summary": "Points of confirmed reports per reporter, best first; reporters' names only for "
                       "dispatchers and admins (and a reporter's own row)",
            "parameters": [q("district", {"type": "string", "pattern": "^[0-9]{6}$"}, "6-digit district code"),
                           q("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "at most")],
            "responses": _ok(_ref("Leaderboard"), "The leaderboard") | {"400": _ERRORS["422"] | {
                "description": "a bad district code"}},
            "security": _SECURED + [{}]}},
    }


_TIME = {"type": ["string", "null"], "format": "date-time"}


def openapi_schemas() -> dict:
    number = {"type": "number"}
    return {
        "Located": {"type": "object", "required": ["lat", "lon", "cell"],
                    "properties": {"lat": number, "lon": number,
                                   "cell": {"anyOf": [_ref("CellRef"), {"type": "null"}]}}},
        "Placement": {"type": "object", "required": ["lat", "lon"], "additionalProperties": False,
                      "properties": {"lat": number | {"minimum": -90, "maximum": 90},
                                     "lon": number | {"minimum": -180, "maximum": 180}}},
        "DeviceHealth": {
            "type": "object", "description": "The `health` of GET /api/devices/{id} (docs/provisioning.md)",
            "required": ["diagnosis", "message", "silent", "last_seen", "battery", "signal", "messages_last_hour",
                         "message_rate_per_min", "clock_skew_s", "dead_letters", "credentials"],
            "properties": {
                "diagnosis": {"type": "string", "enum": ["ok", "pending", "disabled", "stale_clock",
                                                         "rejected_payloads", "refused_credentials",
                                                         "never_connected", "offline"]},
                "message": {"type": "string"}, "silent": {"type": "boolean"}, "last_seen": _TIME,
                "battery": {"type": ["number", "null"]},
                "signal": {"type": ["object", "null"], "properties": {k: {"type": ["number", "null"]}
                                                                      for k in ("rssi", "snr", "linkquality")}},
                "messages_last_hour": {"type": ["integer", "null"]},
                "message_rate_per_min": {"type": ["number", "null"]},
                "clock_skew_s": {"type": ["number", "null"]},
                "dead_letters": {"type": "object", "additionalProperties": {"type": "integer"}},
                "credentials": {"type": ["object", "null"]},
            }},
        "Credentials": {"type": "object", "required": ["bundle", "qr_png", "note"],
                        "properties": {"bundle": {"type": "object", "description": "docs/provisioning.md"},
                                       "qr_png": {"type": "string", "contentEncoding": "base64"},
                                       "note": {"type": "string"}}},
        "ClaimCode": {"type": "object",
                      "required": ["device_id", "username", "claim_code", "expires_at", "claim_topic", "reply_topic"],
                      "properties": {k: {"type": "string"} for k in ("device_id", "username", "claim_code",
                                                                       "expires_at", "claim_topic", "reply_topic")}},
        "FieldReportInput": {
            "type": "object", "required": ["type", "loc"], "additionalProperties": False,
            "description": "The payload of docs/schemas/report.json",
            "properties": {"type": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_]{0,63}$"},
                           "note": {"type": "string", "maxLength": 2000},
                           "loc": {"type": "object", "required": ["lat", "lon"],
                                   "properties": {"lat": number, "lon": number}},
                           "photo_url": {"type": "string", "format": "uri"},
                           "report_id": {"type": "string"}, "ts": {"type": ["string", "number"]}}},
        "FieldReport": {
            "type": "object",
            "required": ["id", "reporter", "type", "note", "location", "cell_code", "photo_url", "channel",
                         "received_at", "seen_at", "report_id", "case_id", "case_status", "points", "confirmed"],
            "properties": {"id": {"type": "string"}, "reporter": {"type": ["string", "null"]},
                           "type": {"type": "string"}, "note": {"type": "string"},
                           "location": {"type": "object", "properties": {"lat": number, "lon": number}},
                           "cell_code": {"type": "string"}, "photo_url": {"type": ["string", "null"]},
                           "channel": {"type": "string", "enum": ["mqtt", "http"]}, "received_at": _TIME,
                           "seen_at": _TIME, "report_id": {"type": ["string", "null"]},
                           "case_id": {"type": ["string", "null"]}, "case_status": {"type": ["string", "null"]},
                           "points": {"type": ["integer", "null"]}, "confirmed": {"type": "boolean"}}},
        "Leaderboard": {
            "type": "object", "required": ["district", "anonymous", "entries"],
            "properties": {"district": {"type": ["string", "null"]}, "anonymous": {"type": "boolean"},
                           "entries": {"type": "array", "items": {
                               "type": "object",
                               "required": ["rank", "reporter", "name", "label", "you", "points", "confirmed_reports"],
                               "properties": {"rank": {"type": "integer"}, "reporter": {"type": ["string", "null"]},
                                              "name": {"type": ["string", "null"]}, "label": {"type": "string"},
                                              "you": {"type": "boolean"}, "points": {"type": "integer"},
                                              "confirmed_reports": {"type": "integer"}}}}}},
    }
