"""The GridTwin web app: map page, HTTP API, live stream, metrics and health.

    app = create_app(load_settings("gridtwin.toml"))
    WebServer(app, "127.0.0.1", 8080).run()

The app's state is one Context (maps/context.py), run by the app's lifespan; request
handlers reach it through `maps.context.context(request)`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import cast

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from maps import answers, api, basemap, cases_api, field_api, field_pages, history, login, pages
from maps.assets import LEAFLET_DIR, LEAFLET_URL, STATIC_DIR, STATIC_URL
from maps.auth import Auth, AuthMiddleware
from maps.basemap import Basemap
from maps.context import Context, context
from maps.errors import ApiError
from maps.headers import SecurityHeaders, content_security_policy, inline_script_hashes, security_headers
from maps.hub import Hub, sse_event
from maps.live import CellBoard, LiveFeed, level_counts
from maps.openapi import HTML, Answer, openapi_document, operation
from maps.params import RefuseControlCharacters
from maps.payloads import CellFeatures
from maps.prometheus import RequestCounter, WebMetrics
from maps.render import render_page
from twin.cases.book import CaseBook
from twin.config import Settings
from twin.grid.cells import Grid
from twin.grid.source import configured_grid
from twin.store import open_twin
from twin.store.base import TwinStore
from twin.times import rfc3339

log = logging.getLogger(__name__)

RETRY_MS = 3000  # how long a browser waits before reconnecting a dropped stream


@operation("get", "The live map page", answers={200: HTML})
async def page(request: Request) -> Response:
    ctx = context(request)

    def render() -> tuple[str, str]:
        html = render_page(ctx.grid, ctx.settings, ctx.basemap)
        # folium writes the map's set-up as inline scripts: allowed by their hashes, and nothing else inline.
        return html, content_security_policy(ctx.settings, inline_script_hashes(html))

    html, policy = await ctx.pages.get(("map",), render)
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


@operation("get", "Live changes as Server-Sent Events", answers={200: Answer({"type": "string"}, "event stream",
                                                                            "text/event-stream")},
           description="Events: `hello` once on connect ({server_time, mqtt_connected}); `cell` when a cell's "
           "state changes ({code, name, path, level, values, updated_at, open_anomalies}); `anomaly` when one opens "
           "or clears (the Anomaly schema); `case` when a case changes (the `data` of the MQTT case update: case_id, "
           "seq, action, actor, at, from_status, to_status, note, details and the whole case). Nothing older than "
           "the connection is replayed: reload /api/cells?geometry=false after a reconnect. Comment lines every 15 s "
           "keep the connection open.")
async def stream(request: Request) -> Response:
    ctx = context(request)
    hello = sse_event("hello", {"server_time": rfc3339(time.time()), "mqtt_connected": ctx.feed.connected})
    first = f"retry: {RETRY_MS}\n\n".encode() + hello
    return StreamingResponse(
        ctx.hub.stream(first, ctx.heartbeat),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@operation("get", "Prometheus metrics: cells by level, stream clients, MQTT link, HTTP requests",
           answers={200: Answer({"type": "string"}, "Prometheus text format 0.0.4", "text/plain",
                                more={"application/openmetrics-text": {"type": "string"}})})
async def metrics(request: Request) -> Response:
    ctx = context(request)
    counts = level_counts(ctx.grid, await api.current_states(ctx))
    body, content_type = ctx.metrics.exposition(counts, request.headers.get("accept"))
    return Response(body, headers={"Content-Type": content_type})


@operation("get", "Health: the store answers; whether the live feed is connected to the broker",
           answers={200: Answer(answers.Health, "The store answers (status degraded while MQTT is down)"),
                    503: Answer(answers.Health, "The store fails")})
async def healthz(request: Request) -> Response:
    ctx = context(request)
    store: dict[str, object] = {"ok": True, "error": None}
    try:
        await run_in_threadpool(ctx.store.get_device, "healthz-probe")
    except Exception as exc:  # noqa: BLE001  # any failure of the store is what this endpoint reports
        store = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    body = {
        "status": "ok" if store["ok"] and ctx.feed.connected else ("degraded" if store["ok"] else "failing"),
        "store": store,
        "mqtt": {"connected": ctx.feed.connected},
        "sse_clients": ctx.hub.clients,
        "cells": len(ctx.grid),
    }
    return JSONResponse(body, status_code=200 if store["ok"] else 503)


@operation("get", "This document", answers={200: Answer({"type": "object"}, "OpenAPI 3.1 document")}, public=True)
async def openapi(request: Request) -> Response:
    ctx = context(request)
    body = await ctx.pages.get(("openapi",), lambda: orjson.dumps(openapi_document(ctx.settings, request.app.routes)))
    return Response(body, media_type="application/json")


# -- errors: every one is JSON ---------------------------------------------------------
async def api_error(request: Request, error: Exception) -> Response:
    exc = cast(ApiError, error)  # registered for ApiError
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


async def http_error(request: Request, error: Exception) -> Response:
    exc = cast(HTTPException, error)  # registered for HTTPException
    if exc.status_code == 404:
        message = f"no such resource: {request.method} {request.url.path}; the API is described at /api/openapi.json"
    elif exc.status_code == 405:
        allowed = ", ".join(sorted((exc.headers or {}).get("Allow", "").replace(" ", "").split(",")))
        message = f"{request.method} is not allowed on {request.url.path}; use {allowed or 'another method'}"
    else:
        message = str(exc.detail)
    return JSONResponse({"error": message, "detail": None}, status_code=exc.status_code, headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal server error; the server log has the details", "detail": None}, 500,
                        headers=context(request).security_headers)


ROUTES = [
    Route("/", page, methods=["GET"]),
    *pages.ROUTES,
    Route("/api/cells", api.list_cells, methods=["GET"]),
    Route("/api/cells/history", history.cell_history, methods=["GET"]),  # before {code}, which would take it
    Route("/api/cells/{code}", api.get_cell, methods=["GET"]),
    Route("/api/cells/{code}/series", api.cell_series, methods=["GET"]),
    Route("/api/devices", api.devices, methods=["GET", "POST"]),
    Route("/api/devices/{id}", api.get_device, methods=["GET"]),
    Route("/api/events", api.list_events, methods=["GET"]),
    *login.ROUTES,
    *cases_api.ROUTES,
    *field_api.ROUTES,
    *field_pages.ROUTES,
    *basemap.ROUTES,
    Route("/api/stream", stream, methods=["GET"]),
    Route("/api/openapi.json", openapi, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Mount(LEAFLET_URL, StaticFiles(directory=LEAFLET_DIR), name="leaflet"),
    Mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="gridtwin-static"),
]


def create_app(
    settings: Settings,
    *,
    store: TwinStore | None = None,
    grid: Grid | None = None,
    heartbeat: float = 15.0,
    poll_interval: float = 1.0,
) -> Starlette:
    """The web app. Without `store`, it opens and migrates `settings.store.url` (storing the configured
    grid when it has none, see twin.store.open_twin) and closes it on shutdown; without `grid`, it
    uses the store's grid, else the configured one (`settings.grid.source`, "demo" by default)."""
    own_store = store is None
    if store is None:
        store, stored_grid = open_twin(settings)
        grid = stored_grid if grid is None else grid
    elif grid is None:
        grid = store.load_grid()
        grid = configured_grid(settings) if grid is None else grid
    hub = Hub()
    board = CellBoard(grid)
    feed = LiveFeed(settings.web.mqtt(settings.mqtt), store, board, hub, poll_interval=poll_interval)
    auth = Auth(settings.auth, store)
    ctx = Context(
        settings=settings,
        store=store,
        grid=grid,
        hub=hub,
        board=board,
        feed=feed,
        features=CellFeatures(grid),
        auth=auth,
        book=CaseBook(store, grid, settings.cases, settings.responsibility),
        metrics=WebMetrics(hub, feed),
        security_headers=security_headers(settings),
        basemap=Basemap(settings, grid),
        own_store=own_store,
        heartbeat=heartbeat,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with ctx.running():
            yield

    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(SecurityHeaders, settings=settings),  # outermost: refusals get the headers too
            Middleware(RefuseControlCharacters),
            Middleware(AuthMiddleware, auth=auth),  # every /api/ request's principal; forged writes refused
            Middleware(RequestCounter, counts=ctx.metrics.requests),
            # Level 5: a tenth of level 9's time on 10,000 cells' GeoJSON for a few percent more bytes.
            Middleware(GZipMiddleware, minimum_size=2048, compresslevel=5),
        ],
        exception_handlers={ApiError: api_error, HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    return app


class WebServer(uvicorn.Server):
    """uvicorn's server, ending the app's live streams first when it shuts down: otherwise it
    would wait for every open map page to go away before stopping."""

    def __init__(self, app: Starlette, host: str, port: int, **options):
        self.hub: Hub = app.state.ctx.hub
        options.setdefault("log_level", "warning")
        options.setdefault("timeout_graceful_shutdown", 5)
        super().__init__(uvicorn.Config(app, host=host, port=port, lifespan="on", **options))

    async def shutdown(self, sockets=None) -> None:
        self.hub.close()
        await super().shutdown(sockets)
