"""HTTP API handlers: cells, series, devices, events. Store calls run in worker threads."""

from __future__ import annotations

import math
import time

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from maps.context import Context, context
from maps.errors import BadRequest, Conflict, NotFound, Unprocessable
from maps.field_api import device_health
from maps.params import check_known, parse_bool, parse_bucket, parse_limit, parse_time
from maps.payloads import anomaly_json, device_json
from twin.cells import CellState
from twin.cloudevents import rfc3339
from twin.devices import Device, DeviceKind, DeviceStatus, check_device_id
from twin.errors import DeviceError
from twin.grid import Cell
from twin.metrics import MetricCatalog
from twin.registry import register_devices

GEOJSON = "application/geo+json"
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


def _cell(ctx: Context, code: str) -> Cell:
    cell = ctx.grid.by_code.get(code)
    if cell is None:
        raise NotFound(f"cell {code} is not in the grid; GET /api/cells lists every cell", {"code": code})
    return cell


# -- cells --------------------------------------------------------------------
async def list_cells(request: Request) -> Response:
    check_known(request.query_params, ("geometry",))
    geometry = parse_bool("geometry", request.query_params.get("geometry", "true"))
    ctx = context(request)
    states = await current_states(ctx)
    body = await run_in_threadpool(lambda: ctx.features.collection(states, geometry=geometry))  # ~0.1 s at 10k cells
    return Response(body, media_type=GEOJSON)


async def get_cell(request: Request) -> Response:
    check_known(request.query_params, ())
    ctx = context(request)
    cell = _cell(ctx, request.path_params["code"])
    states = await current_states(ctx)
    return Response(ctx.features.feature(cell, states.get(cell.code)), media_type=GEOJSON)


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
    body = {"cell": cell.code, "metric": metric, "unit": ctx.settings.metrics[metric].unit,
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
async def devices(request: Request) -> Response:
    """One route for both methods, so a wrong method is answered with the full Allow list."""
    return await (create_device(request) if request.method == "POST" else list_devices(request))


async def list_devices(request: Request) -> Response:
    query = request.query_params
    check_known(query, ("cell", "status"))
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
    return JSONResponse({"devices": [device_json(d, ctx.grid) for d in devices]})


async def get_device(request: Request) -> Response:
    check_known(request.query_params, ())
    ctx = context(request)
    device_id = request.path_params["id"]
    device = await run_in_threadpool(ctx.store.get_device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} is not registered; register it with POST /api/devices",
                       {"id": device_id})
    return JSONResponse(device_json(device, ctx.grid) | {"health": await device_health(ctx, device)})


_DEVICE_FIELDS = ("id", "kind", "lat", "lon", "model", "metrics", "mobile", "name")


def device_from_body(body: object, catalog: MetricCatalog, now: float) -> Device:
    """A Device from a POST /api/devices body, or Unprocessable listing every problem."""
    if not isinstance(body, dict):
        raise Unprocessable("the body must be a JSON object with at least id, kind, lat and lon",
                            [{"field": None, "message": "not a JSON object"}])
    problems: list[dict] = []

    def problem(field: str | None, message: str) -> None:
        problems.append({"field": field, "message": message})

    for key in sorted(set(body) - set(_DEVICE_FIELDS)):
        problem(key, f"unknown field; a device has {', '.join(_DEVICE_FIELDS)}")
    try:
        device_id = check_device_id(body.get("id"))
    except DeviceError as exc:
        device_id = ""
        problem("id", str(exc) if "id" in body else "required")
    try:
        kind = DeviceKind(body.get("kind"))
    except ValueError:
        kind = DeviceKind.SENSOR
        problem("kind", "required: 'sensor' or 'camera'")
    mobile = body.get("mobile", False)
    if not isinstance(mobile, bool):
        problem("mobile", "must be true or false")
    coordinates = {}
    for key, bound in (("lat", 90.0), ("lon", 180.0)):
        value = body.get(key)
        if value is None:
            if not mobile:
                problem(key, "required for a fixed device (set mobile: true for one that reports loc)")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not -bound <= value <= bound:
            problem(key, f"must be a number from -{bound:g} to {bound:g} (WGS84 degrees)")
        else:
            coordinates[key] = float(value)
    metrics = body.get("metrics", [])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        problem("metrics", "must be a list of metric names")
        metrics = []
    unknown = [m for m in metrics if m not in catalog]
    if unknown:
        problem("metrics", f"not in the metric catalog: {', '.join(unknown)}; known: {', '.join(catalog.names())}")
    for key in ("model", "name"):
        if not isinstance(body.get(key, ""), str):
            problem(key, "must be a string")
    if problems:
        raise Unprocessable("invalid device: " + "; ".join(f"{p['field']}: {p['message']}" for p in problems), problems)
    return Device(
        id=device_id,
        kind=kind,
        lat=coordinates.get("lat"),
        lon=coordinates.get("lon"),
        model=body.get("model", ""),
        metrics=tuple(metrics),
        mobile=mobile,
        name=body.get("name", ""),
        registered_at=now,
    )


async def create_device(request: Request) -> Response:
    check_known(request.query_params, ())
    ctx = context(request)
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise Unprocessable(f"the body is not valid JSON: {exc}", [{"field": None, "message": str(exc)}]) from None
    device = device_from_body(body, ctx.settings.metrics, time.time())
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
