"""HTTP API handlers: cells, series, devices, events. Store calls run in worker threads."""

from __future__ import annotations

import math
import time

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maps import answers
from maps.auth import read_json
from maps.bodies import DeviceInput, decode
from maps.context import Context, context
from maps.errors import BadRequest, Conflict, NotFound, Unprocessable
from maps.field_api import device_health
from maps.openapi import GEOJSON, NOT_FOUND, Answer, operation, path_param, query
from maps.params import check_known, parse_bool, parse_bucket, parse_limit, parse_time
from maps.basemap import CRS, parse_crs
from maps.payloads import anomaly_json, device_json, shift_devices
from twin.devices.device import Device, DeviceStatus
from twin.devices.registry import register_devices
from twin.grid.cells import Cell
from twin.sensing.catalog import MetricCatalog
from twin.sensing.cellstate import CellState
from twin.times import rfc3339

MAX_BUCKETS = 10_000
DEFAULT_SPAN = 86_400.0  # seconds of history when `from` is not given


async def current_states(ctx: Context) -> dict[str, CellState]:
    """The store's cell states, each replaced by the live feed's when that one is newer
    (the feed hears the gateway's retained state before or without the store write)."""
    states = await run_in_threadpool(ctx.store.cell_states)
    for code, live in ctx.board.states.items():
        stored = states.get(code)
        if stored is None or (live.updated_at or 0.0) >= (stored.updated_at or 0.0):
            states[code] = live
    return states


_CODE = path_param("code", "15-digit cell code", "410204001001001")
_TIME_NOTE = "RFC 3339 with offset or epoch seconds"


def _cell(ctx: Context, code: str) -> Cell:
    cell = ctx.grid.by_code.get(code)
    if cell is None:
        raise NotFound(f"cell {code} is not in the grid; GET /api/cells lists every cell", {"code": code})
    return cell


# -- cells --------------------------------------------------------------------
@operation("get", "Every cell with its geometry and current state",
           params=[query("geometry", "false leaves out geometries (state only)", {"type": "boolean", "default": True}),
                   CRS],
           answers={200: Answer(answers.CellCollection, "GeoJSON FeatureCollection", GEOJSON)})
async def list_cells(request: Request) -> Response:
    check_known(request.query_params, ("geometry", "crs"))
    geometry = parse_bool("geometry", request.query_params.get("geometry", "true"))
    crs = parse_crs(request.query_params)
    ctx = context(request)
    states = await current_states(ctx)
    body = await run_in_threadpool(lambda: ctx.features.collection(states, geometry=geometry, crs=crs))  # ~0.1 s at 10k cells
    return Response(body, media_type=GEOJSON)


@operation("get", "One cell", params=[_CODE, CRS],
           answers={200: Answer(answers.CellFeature, "GeoJSON Feature", GEOJSON), 404: NOT_FOUND})
async def get_cell(request: Request) -> Response:
    check_known(request.query_params, ("crs",))
    crs = parse_crs(request.query_params)
    ctx = context(request)
    cell = _cell(ctx, request.path_params["code"])
    states = await current_states(ctx)
    body = await run_in_threadpool(lambda: ctx.features.feature(cell, states.get(cell.code), crs=crs))
    return Response(body, media_type=GEOJSON)


@operation("get", "History of one metric in one cell: raw readings, or buckets with count/mean/min/max", params=[
    _CODE,
    query("metric", "a metric of the catalog", lambda settings: {"type": "string",
                                                                 "enum": sorted(settings.metrics.names())},
          required=True),
    query("from", f"start (inclusive): {_TIME_NOTE}; default `to` minus 24 h", example="2026-11-29T08:00:00Z"),
    query("to", f"end (exclusive): {_TIME_NOTE}; default now", example="1795942800"),
    query("bucket", f"bucket width: seconds or a number with s, m, h, d; at most {MAX_BUCKETS} buckets", example="5m"),
    query("limit", "raw readings only: at most this many, oldest first (default 10000, max 100000)",
          {"type": "integer", "minimum": 1, "maximum": 100_000}),
], answers={200: Answer(answers.Series, "The series"), 404: NOT_FOUND})
async def cell_series(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("metric", "from", "to", "bucket", "limit"))
    ctx = context(request)
    cell = _cell(ctx, request.path_params["code"])
    metric = _metric(query.get("metric"), ctx.settings.metrics)
    end = parse_time("to", query["to"]) if "to" in query else time.time()
    start = parse_time("from", query["from"]) if "from" in query else end - DEFAULT_SPAN
    if start >= end:
        raise BadRequest(
            f"from ({rfc3339(start)}) must be before to ({rfc3339(end)})", {"from": rfc3339(start), "to": rfc3339(end)}
        )
    body: dict[str, object] = {"cell": cell.code, "metric": metric, "unit": ctx.settings.metrics[metric].unit,
            "from": rfc3339(start), "to": rfc3339(end)}
    if "bucket" in query:
        if "limit" in query:
            raise BadRequest("limit applies to raw readings only; drop it or drop bucket", {"parameter": "limit"})
        bucket = parse_bucket(query["bucket"])
        if (end - start) / bucket > MAX_BUCKETS:
            raise BadRequest(
                f"bucket: {query['bucket']!r} over this span makes {math.ceil((end - start) / bucket)} buckets; "
                f"the most is {MAX_BUCKETS}: widen the bucket or shorten from..to",
                {"parameter": "bucket", "value": query["bucket"]},
            )
        buckets = await run_in_threadpool(ctx.store.aggregate, cell.code, metric, start, end, bucket)
        points = [{"ts": rfc3339(b.start), "count": b.count, "mean": b.mean, "min": b.min, "max": b.max} for b in buckets]
        body |= {"bucket": bucket, "points": points, "truncated": False}
    else:
        limit = parse_limit(query, default=10_000, maximum=100_000)
        readings = await run_in_threadpool(
            lambda: ctx.store.readings(cell_code=cell.code, metric=metric, start=start, end=end, limit=limit + 1)
        )
        points = [{"ts": rfc3339(r.ts), "value": r.value, "device_id": r.device_id} for r in readings[:limit]]
        body |= {"bucket": None, "points": points, "truncated": len(readings) > limit}
    return Response(orjson.dumps(body), media_type="application/json")


def _metric(name: str | None, catalog: MetricCatalog) -> str:
    known = ", ".join(catalog.names())
    if not name:
        raise BadRequest(f"metric is required; one of {known}", {"parameter": "metric"})
    if name not in catalog:
        raise BadRequest(f"metric: {name!r} is not in the metric catalog; one of {known}",
                         {"parameter": "metric", "value": name})
    return name


# -- devices ------------------------------------------------------------------
@operation("get", "Registered devices", params=[
    query("cell", "only devices in this cell"),
    query("status", "only devices with this status", {"type": "string", "enum": [s.value for s in DeviceStatus]}),
    CRS,
], answers={200: Answer(answers.DeviceList, "Devices")})
@operation("post", "Register a device (roles: technician, admin); its cell is resolved from lat/lon", body=DeviceInput,
           answers={201: Answer(answers.Device, "The registered device with its cell; Location names it"),
                    409: Answer(answers.Error, "The device is already registered")})
async def devices(request: Request) -> Response:
    """One route for both methods, so a wrong method is answered with the full Allow list."""
    return await (create_device(request) if request.method == "POST" else list_devices(request))


async def list_devices(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("cell", "status", "crs"))
    crs = parse_crs(query)
    status = None
    if "status" in query:
        try:
            status = DeviceStatus(query["status"])
        except ValueError:
            raise BadRequest(
                f"status: {query['status']!r} is not a device status; one of {', '.join(s.value for s in DeviceStatus)}",
                {"parameter": "status", "value": query["status"]},
            ) from None
    ctx = context(request)
    devices = await run_in_threadpool(ctx.store.list_devices, query.get("cell"), status)
    body = [device_json(d, ctx.grid) for d in devices]
    return JSONResponse({"devices": shift_devices(body) if crs == "gcj02" else body})


@operation("get", "One device, with its health", params=[path_param("id", "device id", "aq-0012")],
           answers={200: Answer(answers.DeviceDetail, "The device"), 404: NOT_FOUND})
async def get_device(request: Request) -> Response:
    check_known(request.query_params, ())
    ctx = context(request)
    device_id = request.path_params["id"]
    device = await run_in_threadpool(ctx.store.get_device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} is not registered; register it with POST /api/devices",
                       {"id": device_id})
    return JSONResponse(device_json(device, ctx.grid) | {"health": await device_health(ctx, device)})


def device_from_body(body: object, catalog: MetricCatalog, now: float) -> Device:
    """A Device from a POST /api/devices body, or Unprocessable listing every problem."""
    given = decode(body, DeviceInput, "device")
    problems = [{"field": key, "message": "required for a fixed device (set mobile: true for one that reports loc)"}
                for key in ("lat", "lon") if getattr(given, key) is None and not given.mobile]
    unknown = [m for m in given.metrics if m not in catalog]
    if unknown:
        problems.append({"field": "metrics", "message": f"not in the metric catalog: {', '.join(unknown)}; "
                                                        f"known: {', '.join(catalog.names())}"})
    if problems:
        raise Unprocessable("invalid device: " + "; ".join(f"{p['field']}: {p['message']}" for p in problems), problems)
    return Device(id=given.id, kind=given.kind, lat=given.lat, lon=given.lon, model=given.model,
                  metrics=tuple(given.metrics), mobile=given.mobile, name=given.name, registered_at=now)


async def create_device(request: Request) -> Response:
    check_known(request.query_params, ())
    ctx = context(request)
    device = device_from_body(await read_json(request), ctx.settings.metrics, time.time())
    if await run_in_threadpool(ctx.store.get_device, device.id) is not None:
        raise Conflict(f"device {device.id} is already registered; GET /api/devices/{device.id} shows it",
                       {"id": device.id})
    report = await run_in_threadpool(
        lambda: register_devices(ctx.store, ctx.grid, [device], now=device.registered_at, catalog=ctx.settings.metrics)
    )
    if report.refused:  # OutsideGrid among them: its message says how to fix the coordinates
        message = report.refused[0].reason
        raise Unprocessable(message, [{"field": None, "message": message}])
    return JSONResponse(device_json(report.accepted[0], ctx.grid), status_code=201,
                        headers={"Location": f"/api/devices/{device.id}"})


# -- events -------------------------------------------------------------------
@operation("get", "Anomalies, newest first", params=[
    query("cell", "only anomalies of this cell"),
    query("from", f"only anomalies at or after this time ({_TIME_NOTE})"),
    query("open", "true: only anomalies opened and not yet cleared", {"type": "boolean"}),
    query("limit", "at most this many (default 100, max 1000)", {"type": "integer", "minimum": 1, "maximum": 1000}),
], answers={200: Answer(answers.EventList, "Anomalies")})
async def list_events(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("cell", "from", "open", "limit"))
    start = parse_time("from", query["from"]) if "from" in query else None
    open_only = parse_bool("open", query["open"]) if "open" in query else False
    limit = parse_limit(query, default=100, maximum=1000)
    ctx = context(request)
    anomalies = await run_in_threadpool(
        lambda: ctx.store.anomalies(cell_code=query.get("cell"), start=start, open_only=open_only, limit=limit)
    )
    return JSONResponse({"events": [anomaly_json(a, ctx.grid) for a in anomalies]})
