"""The field's pages: `/technician` (place devices on the map, pending devices, credentials, health) and
`/report` (a phone page for mobile reporters). Plain Leaflet and our own script and style, all served
by the app itself; the pages log in through /api/login and work through the HTTP API."""

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
from maps.openapi import HTML, operation
from maps.render import leaflet_bounds

__all__ = ["ROUTES", "render_report_page", "render_technician_page"]

REPORT_TYPES = ("pothole", "litter", "illegal_parking", "street_vendor", "broken_streetlight", "waterlogging",
                "blocked_drain", "graffiti", "other")


def _config(settings, grid, basemap: Basemap | None, **extra) -> str:
    data = {"bounds": leaflet_bounds(grid), "basemap": (basemap or Basemap(settings)).page_config(),
            "lang": "en", "strings": i18n.catalog("en"),  # English words for now, looked up like every page's
            **extra}
    return orjson.dumps(data).decode().replace("</", "<\\/")


def _login(title: str) -> str:
    return f"""<form id="gt-login" class="gt-card" hidden>
  <h2>{html.escape(title)}</h2>
  <label>User name <input name="name" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Log in</button> <span class="gt-error" id="gt-login-error"></span>
</form>"""


def _page(title: str, body: str, module: str, config: str, *, leaflet: bool) -> str:
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><link rel="icon" href="data:,">
{leaflet_tags() if leaflet else ""}
<link rel="stylesheet" href="{STATIC_URL}/css/field.css">
{f'<link rel="stylesheet" href="{STATIC_URL}/css/basemap.css">' if leaflet else ""}
<script type="application/json" id="gridtwin-config">{config}</script>
{module_tags(module)}
</head><body>
{body}
</body></html>
"""


def render_technician_page(settings, grid, basemap: Basemap | None = None) -> str:
    title = f"{settings.web.title}: technician"
    body = f"""<header class="gt-bar"><h1>{html.escape(title)}</h1><span id="gt-who"></span></header>
<main class="gt-tech">
  <div id="gt-map" class="gt-map"></div>
  <aside class="gt-side">
    {_login("Technician login")}
    <section class="gt-card" id="gt-where-card"><h2>Where</h2>
      <p id="gt-hint">Click the map to see which cell a place falls in.</p>
      <p id="gt-where" data-cell=""></p><p id="gt-placed" class="gt-ok" data-cell=""></p>
    </section>
    <section class="gt-card"><h2>Pending devices</h2>
      <p class="gt-small">Seen through an adapter, waiting for a place. Press <b>Place</b>, then click the map.</p>
      <ul id="gt-pending" class="gt-list"><li class="gt-empty">None</li></ul>
    </section>
    <section class="gt-card"><h2>Device</h2>
      <select id="gt-device"><option value="">choose a device...</option></select>
      <div id="gt-health"></div>
      <div class="gt-actions" id="gt-device-actions" hidden>
        <button id="gt-issue">New credentials</button> <button id="gt-rotate">Rotate</button>
        <button id="gt-revoke">Revoke</button> <button id="gt-claim">Claim code</button>
      </div>
      <div id="gt-secret"></div>
    </section>
  </aside>
</main>"""
    return _page(title, body, "technician.js", _config(settings, grid, basemap), leaflet=True)


def render_report_page(settings, grid, basemap: Basemap | None = None) -> str:
    title = f"{settings.web.title}: report a problem"
    options = "".join(f'<option value="{t}">{t.replace("_", " ")}</option>' for t in REPORT_TYPES)
    body = f"""<header class="gt-bar"><h1>{html.escape(title)}</h1><span id="gt-who"></span></header>
<main class="gt-phone">
  {_login("Reporter login")}
  <form id="gt-report" class="gt-card" hidden>
    <label>What <select name="type">{options}</select></label>
    <label>Note <textarea name="note" maxlength="2000" rows="3" placeholder="what you see, where exactly"></textarea></label>
    <label>Photo link (optional) <input name="photo_url" type="url" placeholder="https://..."></label>
    <fieldset><legend>Where</legend>
      <button type="button" id="gt-locate">Use my location</button>
      <label>Lat <input name="lat" inputmode="decimal" required></label>
      <label>Lon <input name="lon" inputmode="decimal" required></label>
    </fieldset>
    <button type="submit">Send report</button>
    <p id="gt-result" aria-live="polite"></p>
  </form>
  <section class="gt-card" id="gt-mine" hidden><h2>My reports</h2><ul id="gt-my-reports" class="gt-list"></ul>
    <h2>Leaderboard</h2><ol id="gt-board" class="gt-list"></ol></section>
</main>"""
    return _page(title, body, "report.js", _config(settings, grid, basemap), leaflet=False)


async def _cached(request: Request, name: str, render) -> Response:
    ctx = context(request)
    html = await ctx.pages.get((name,), lambda: render(ctx.settings, ctx.grid, ctx.basemap))
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


@operation("get", "The technician's page: place devices on the map, pending devices, credentials and health",
           answers={200: HTML})
async def technician_page(request: Request) -> Response:
    return await _cached(request, "technician", render_technician_page)


@operation("get", "The mobile reporter's phone page: send a report, my reports and points", answers={200: HTML})
async def report_page(request: Request) -> Response:
    return await _cached(request, "report", render_report_page)


ROUTES = [
    Route("/technician", technician_page, methods=["GET"]),
    Route("/report", report_page, methods=["GET"]),
]
