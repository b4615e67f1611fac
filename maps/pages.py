"""The operations room's pages: the map wall, the dispatch console, the grid worker's page and the
governance figures.

    GET /wall      full-screen map wall: cells by open cases or a metric, KPIs, live ticker, replay
    GET /console   dispatch console: case list with filters, a case with its timeline, map and actions
    GET /worker    a grid worker's cases on a phone: accept, feedback with a note and a photo URL
    GET /kpi       governance figures per grid, street or district over a period, charts, CSV

Each page is a small HTML shell in the request's language (maps/i18n.py) carrying its
configuration and the whole catalog of that language; its module (maps/static/js/ops/)
builds the page from the HTTP API and keeps it live from /api/stream. Everything is
served by the app itself: Leaflet from its package, our scripts and styles from
maps/static.
"""

from __future__ import annotations

import html

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from maps import i18n
from maps.assets import STATIC_URL, leaflet_tags, module_tags
from maps.basemap import Basemap
from maps.context import context
from maps.openapi import HTML, operation, query
from maps.render import LEVEL_STYLE, leaflet_bounds
from twin.cases.figures import GROUPS
from twin.cases.workflow import CANCEL_REASONS, OPEN_STATUSES, Status
from twin.config import Settings
from twin.grid.cells import Grid

__all__ = ["PAGES", "ROUTES", "render_ops_page"]

FOCUS_SECONDS = 20  # how long the wall stays on a new critical case before going back

# page -> (title key, the page's module under static/js, needs Leaflet, colour scheme)
PAGES: dict[str, tuple[str, str, bool, str]] = {
    "wall": ("wall.title", "ops/wall.js", True, "dark"),
    "console": ("console.title", "ops/console.js", True, "light"),
    "worker": ("worker.title", "ops/worker.js", False, "light"),
    "kpi": ("kpi.title", "ops/kpi.js", False, "light"),
}


def _config(page: str, lang: str, settings: Settings, grid: Grid, basemap: Basemap) -> dict:
    metrics = {
        m.name: {"label": m.label, "unit": m.unit, "kind": m.kind, "warning": m.warning, "critical": m.critical,
                 "direction": m.direction}
        for m in settings.metrics
    }
    return {
        "page": page,
        "lang": lang,
        "languages": list(i18n.LANGUAGES),
        "langCookie": i18n.COOKIE,
        "strings": i18n.catalog(lang),
        "title": settings.web.title,
        "grid": {"name": str(grid.meta.get("title") or grid.meta.get("name") or ""), "cells": len(grid),
                 "bounds": leaflet_bounds(grid)},
        # district, street and community names by code: a street's name alone is not unique
        "units": {**grid.districts(), **grid.streets(), **grid.communities()},
        "basemap": basemap.page_config(),
        "levels": {level: style["color"] for level, style in LEVEL_STYLE.items()},
        "metrics": metrics,
        "statuses": [s.value for s in Status],
        "openStatuses": [s.value for s in OPEN_STATUSES],
        "cancelReasons": list(CANCEL_REASONS),
        "kpiLevels": list(GROUPS),
        "focusSeconds": FOCUS_SECONDS,
    }


def render_ops_page(page: str, lang: str, settings: Settings, grid: Grid, basemap: Basemap | None = None) -> str:
    """The HTML of one operations room page (a key of PAGES) in `lang`, over `basemap` (by default the
    settings' tiles alone)."""
    title_key, module, leaflet, scheme = PAGES[page]
    esc = html.escape
    title = f"{i18n.translate(lang, title_key)} · {settings.web.title}"
    data = _config(page, lang, settings, grid, basemap or Basemap(settings))
    config = orjson.dumps(data).decode().replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="{i18n.HTML_LANG[lang]}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="icon" href="data:,">
{leaflet_tags() if leaflet else ""}
<link rel="stylesheet" href="{STATIC_URL}/css/ops.css">
{f'<link rel="stylesheet" href="{STATIC_URL}/css/basemap.css">' if leaflet else ""}
<script type="application/json" id="gridtwin-config">{config}</script>
{module_tags(module)}
</head>
<body class="ops ops-{page} ops-{scheme}">
<noscript>{esc(i18n.translate(lang, "common.noscript"))}</noscript>
<div id="app"></div>
</body>
</html>
"""


_SUMMARIES = {
    "wall": "The map wall: cells coloured by open cases or a metric, KPIs, a live ticker, drill-down, a 24 h replay",
    "console": "The dispatch console: cases with filters, a case's timeline, map and actions",
    "worker": "The grid worker's page: my cases, accept, feedback (phone-sized)",
    "kpi": "Governance figures per grid cell, street or district over a period, with charts and CSV export",
}


_LANG = query("lang", "the page's language (kept in a cookie); default from the cookie, then Accept-Language",
               {"type": "string", "enum": list(i18n.LANGUAGES)})


def _handler(page: str):
    async def handle(request: Request) -> Response:
        ctx = context(request)
        query_lang = request.query_params.get("lang")
        lang = i18n.choose(query_lang, request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
        html = await ctx.pages.get((page, lang), lambda: render_ops_page(page, lang, ctx.settings, ctx.grid, ctx.basemap))
        response = HTMLResponse(html, headers={"Cache-Control": "no-cache", "Vary": "Accept-Language, Cookie"})
        if query_lang in i18n.LANGUAGES:  # a link with ?lang= keeps the choice for the other pages
            response.set_cookie(i18n.COOKIE, query_lang, max_age=365 * 86400, samesite="lax")
        return response

    handle.__name__ = f"{page}_page"
    return operation("get", _SUMMARIES[page], params=[_LANG], answers={200: HTML})(handle)


ROUTES = [Route(f"/{page}", _handler(page), methods=["GET"]) for page in PAGES]
