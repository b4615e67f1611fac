"""HTTP API of the field: technicians placing and provisioning devices, mobile reporters and their points.

    GET    /api/locate?lat=&lon=                   the cell at a point (the technician page's click)
    POST   /api/devices/{id}/placement             {"lat", "lon"}: place a (pending) device     technician, admin
    POST   /api/devices/{id}/credentials           {"rotate": bool}: new password, bundle, QR   technician, admin
    DELETE /api/devices/{id}/credentials           revoke its password and claim code           technician, admin
    POST   /api/devices/{id}/claim-code            a one-time claim code                        technician, admin
    POST   /api/reports                            a field report -> a case                     reporter, grid_worker
    GET    /api/reports                            reports: the desk sees all, a reporter their own
    GET    /api/reporters/leaderboard?district=    points of confirmed reports; names only for the desk

A device's health (twin/devices/health.py) is part of `GET /api/devices/{id}`, see `device_health`.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import time

import msgspec
import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from maps import answers
from maps.auth import principal_of, read_json
from maps.bodies import CredentialsRequest, FieldReportInput, Placement, decode
from maps.context import Context, context
from maps.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized, Unprocessable
from maps.openapi import CONFLICT, NOT_FOUND, Answer, operation, path_param, query
from maps.params import check_known, parse_limit
from maps.payloads import cell_ref, device_json
from twin.cases.reports import ReportError, file_report, parse_report, settle
from twin.devices.device import Device
from twin.devices.health import health_of
from twin.devices.registry import register_devices
from twin.errors import AccessDenied, TwinError
from twin.people.access import Principal, authorize, can
from twin.times import rfc3339

__all__ = ["ROUTES", "device_health"]


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store", **(headers or {})})


def _authorize(principal: Principal, permission: str) -> None:
    try:
        authorize(principal, permission)
    except AccessDenied as exc:
        raise (Forbidden if principal.authenticated else Unauthorized)(str(exc)) from None


async def device_health(ctx: Context, device: Device) -> dict:
    """The `health` object of GET /api/devices/{id}."""
    health = await run_in_threadpool(health_of, ctx.store, device, time.time())
    return health.to_json()


# -- the technician's map -----------------------------------------------------------------
_DEVICE_ID = path_param("id", "device id", "aq-0012")


@operation("get", "The grid cell at a point (null outside the grid)", params=[
    query(name, "WGS84 degrees", {"type": "number"}, required=True) for name in ("lat", "lon")
], answers={200: Answer(answers.Located, "The point and its cell")})
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


@operation("post", "Place a device (a pending one becomes registered, its readings counted to the cell)",
           params=[_DEVICE_ID], body=Placement,
           answers={200: Answer(answers.PlacedDevice, "The placed device"), 404: NOT_FOUND})
async def place_device(request: Request) -> Response:
    check_known(request.query_params, ())
    principal = principal_of(request)
    _authorize(principal, "device.provision")
    place = decode(await read_json(request), Placement, "placement")
    ctx = context(request)
    device_id = request.path_params["id"]
    device = await run_in_threadpool(ctx.store.get_device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} is not registered", {"id": device_id})
    moved = dataclasses.replace(device, lat=place.lat, lon=place.lon, mobile=False)
    report = await run_in_threadpool(
        lambda: register_devices(ctx.store, ctx.grid, [moved], catalog=ctx.settings.metrics))
    if report.refused:
        raise Unprocessable(report.refused[0].reason, [{"field": None, "message": report.refused[0].reason}])
    placed = report.accepted[0]
    return _json(device_json(placed, ctx.grid) | {"was_pending": device_id in report.placed})


# -- credentials ------------------------------------------------------------------------------
@operation("post", "Issue (or, with rotate, replace) the device's MQTT password: its configuration bundle and a QR "
           "code PNG (base64), shown once", params=[_DEVICE_ID], body=CredentialsRequest, body_optional=True,
           answers={201: Answer(answers.Credentials, "Issued"), 404: NOT_FOUND, 409: CONFLICT})
@operation("delete", "Revoke the device's MQTT password and unused claim code", params=[_DEVICE_ID],
           answers={200: Answer(answers.Revoked, "What was revoked"), 404: NOT_FOUND})
async def credentials(request: Request) -> Response:
    """POST issues or rotates, DELETE revokes: one route, so a wrong method gets the full Allow list."""
    from twin.devices.provisioning import (
        bundle_qr_png,
        device_bundle,
        issue_device_credentials,
        revoke_device_credentials,
    )

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
    asked = decode(await read_json(request) if await request.body() else {}, CredentialsRequest, "credentials request")
    try:
        _account, password = await run_in_threadpool(
            lambda: issue_device_credentials(ctx.store, device_id, now=now, rotate=asked.rotate))
    except TwinError as exc:
        raise Conflict(str(exc), {"id": device_id}) from None
    bundle = device_bundle(ctx.settings, device, password, now=now)
    png = await run_in_threadpool(bundle_qr_png, bundle)
    return _json({"bundle": bundle, "qr_png": base64.b64encode(png).decode("ascii"),
                  "note": "the password is shown this once; the broker knows it after `gridtwin broker config` "
                          "and a reload"}, 201)


@operation("post", "A one-time claim code for zero-touch provisioning over MQTT (shown once)", params=[_DEVICE_ID],
           answers={201: Answer(answers.ClaimCode, "Issued"), 404: NOT_FOUND, 409: CONFLICT})
async def claim_code(request: Request) -> Response:
    from twin.devices.provisioning import issue_claim_code

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


@operation("get", "Field reports, newest first: dispatchers and admins see all, a reporter their own", params=[
    query("reporter", "only this reporter's (desk roles)"),
    query("case", "only the report of this case"),
    query("limit", "at most this many (default 100, max 1000)", {"type": "integer", "minimum": 1, "maximum": 1000}),
], answers={200: Answer(answers.FieldReports, "Reports")})
@operation("post", "Send a field report (reporter, grid_worker): it becomes a case of the loop", body=FieldReportInput,
           answers={201: Answer(answers.FieldReport, "Stored and filed as a case; Location names the case")})
async def reports(request: Request) -> Response:
    return await (submit_report(request) if request.method == "POST" else list_reports(request))


async def submit_report(request: Request) -> Response:
    check_known(request.query_params, ())
    principal = principal_of(request)
    _authorize(principal, "report.submit")
    given = decode(await read_json(request), FieldReportInput, "field report")
    ctx = context(request)
    try:  # the twin's own checks, shared with reports over MQTT, and the cell of the place
        report = parse_report(msgspec.to_builtins(given), reporter_id=principal.name, channel="http", now=time.time(),
                              grid=ctx.grid)
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


@operation("get", "Points of confirmed reports per reporter, best first; reporters' names only for dispatchers and "
           "admins (and a reporter's own row)", params=[
               query("district", "6-digit district code", {"type": "string", "pattern": "^[0-9]{6}$"}),
               query("limit", "at most this many (default 20, max 500)",
                     {"type": "integer", "minimum": 1, "maximum": 500}),
           ], answers={200: Answer(answers.Leaderboard, "The leaderboard")})
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
