"""The map page: a folium/Leaflet map of every cell coloured by level, with device markers,
a legend, a title and a live-connection indicator.

Two forms share one page module (maps/static/js/map.js, with the common layer it
imports): `render_page` for the web app (Leaflet and our modules linked from the
app's own /static, cells and devices fetched from the API, live updates from
/api/stream), and `render_map` for a standalone file (everything inlined, the
modules as data: URLs, a snapshot). Neither form loads anything from another host.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import folium
import orjson
from branca.element import Element, Figure

from maps import i18n
from maps.assets import LEAFLET_DIR, LEAFLET_URL, STATIC_DIR, STATIC_URL, inline_module, module_tags
from maps.basemap import Basemap
from maps.payloads import CellFeatures, device_json, shift_devices
from twin.config import Settings
from twin.devices.device import Device, DeviceKind
from twin.gcj02 import to_gcj02
from twin.grid.cells import Grid
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState

# Colour-blind-safe enough at a glance: hue and lightness both differ between levels.
LEVEL_STYLE = {
    Level.NORMAL.label: {"color": "#2e9d57", "label": "Normal"},
    Level.WARNING.label: {"color": "#f2a900", "label": "Warning"},
    Level.CRITICAL.label: {"color": "#d62839", "label": "Critical"},
    Level.NO_DATA.label: {"color": "#9aa3ad", "label": "No data"},
}
KIND_STYLE: dict[str, dict[str, Any]] = {
    DeviceKind.SENSOR.value: {"fill": "#ffffff", "stroke": "#1d2733", "radius": 4, "label": "Sensor"},
    DeviceKind.CAMERA.value: {"fill": "#1d2733", "stroke": "#ffffff", "radius": 5, "label": "AI camera"},
}


class RawHtml(Element):
    """Markup put into the page as is (branca would otherwise parse it as a Jinja template)."""

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def render(self, **kwargs) -> str:
        return self.text


def _script_safe(text: str) -> str:
    return text.replace("</", "<\\/")


def _json_block(element_id: str, data: dict) -> str:
    payload = orjson.dumps(data).decode().replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{payload}</script>'


def _overlays(settings: Settings, grid: Grid) -> str:
    """Title, connection indicator, legend and the anomaly feed; the page script fills in figures."""
    subtitle = grid.meta.get("title") or grid.meta.get("name") or ""
    esc = html.escape
    levels = "".join(
        f'<li data-level="{level}"><span class="gt-swatch" style="background:{style["color"]}"></span>'
        f'{esc(style["label"])}<b class="gt-count">0</b></li>'
        for level, style in LEVEL_STYLE.items()
    )
    kinds = "".join(
        f'<li><span class="gt-dot" style="background:{style["fill"]};border-color:{style["stroke"]}"></span>'
        f'{esc(style["label"])}</li>'
        for style in KIND_STYLE.values()
    )
    return f"""
<div class="gt-panel gt-title" id="gt-title">
  <h1>{esc(settings.web.title)}</h1>
  <div class="gt-subtitle">{esc(str(subtitle))}</div>
  <div class="gt-summary" id="gt-summary">{len(grid)} cells</div>
</div>
<div class="gt-status" id="gt-status" data-state="connecting"><span class="gt-led"></span><span id="gt-status-text">Connecting</span></div>
<div class="gt-panel gt-legend" id="gt-legend">
  <h2>Cell level</h2><ul class="gt-levels">{levels}</ul>
  <h2>Devices</h2><ul class="gt-kinds">{kinds}</ul>
</div>
<div class="gt-panel gt-feed" id="gt-feed"><h2>Anomalies</h2><ol id="gt-feed-list"><li class="gt-empty">No open anomalies</li></ol></div>
"""


def _page_config(settings: Settings, map_name: str, **sources) -> dict:
    return {
        "mapName": map_name,
        "lang": "en",  # the page's own words are English for now; its script looks them up like the others
        "strings": i18n.catalog("en"),
        "levels": LEVEL_STYLE,
        "kinds": KIND_STYLE,
        "metrics": {m.name: {"label": m.label, "unit": m.unit, "kind": m.kind} for m in settings.metrics},
        **sources,
    }


def leaflet_bounds(grid: Grid) -> list[list[float]] | None:
    """The grid's bounds as Leaflet takes them, [[south, west], [north, east]]; None for an empty grid."""
    if not len(grid):
        return None
    west, south, east, north = grid.bounds
    return [[south, west], [north, east]]


def _build(grid: Grid, settings: Settings, *, assets: Sequence[Element], config: dict) -> Figure:
    """folium's map (no tiles: the page module draws the basemap, as on every other map page), our assets,
    the configuration and the overlays."""
    figure = Figure(title=html.escape(settings.web.title))
    # Without an icon link browsers ask for /favicon.ico and log the 404 as a console error.
    figure.header.add_child(RawHtml('<link rel="icon" href="data:,"/>'), name="gridtwin_icon")
    bounds = leaflet_bounds(grid)
    if bounds and settings.basemap.crs == "gcj02":  # where the grid is drawn over GCJ-02 tiles
        (lon0, lon1), (lat0, lat1) = to_gcj02([bounds[0][1], bounds[1][1]], [bounds[0][0], bounds[1][0]])
        bounds = [[float(lat0), float(lon0)], [float(lat1), float(lon1)]]
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2] if bounds else [0.0, 0.0]
    fmap = folium.Map(
        location=center,
        zoom_start=15,
        tiles=None,
        prefer_canvas=True,
        zoom_control="bottomright",
        zoomSnap=0.25,  # fit the grid to the screen, not to the nearest whole zoom level
    )
    # folium's defaults come from public CDNs; the page must work on an intranet.
    fmap.default_js = []
    fmap.default_css = []
    if bounds:
        # Keep the grid clear of the title and legend (left) and the anomaly list (right).
        fmap.fit_bounds(bounds, padding_top_left=(210, 24), padding_bottom_right=(310, 24))
    figure.add_child(fmap)
    for number, element in enumerate(assets):
        figure.header.add_child(element, name=f"gridtwin_asset_{number}")
    config = config | {"mapName": fmap.get_name()}
    figure.html.add_child(RawHtml(_json_block("gridtwin-config", config)), name="gridtwin_config")
    figure.html.add_child(RawHtml(_overlays(settings, grid)), name="gridtwin_overlays")
    return figure


def render_page(grid: Grid, settings: Settings, basemap: Basemap | None = None) -> str:
    """The web app's page at `/`: assets from the app's /static, data from /api, live from /api/stream,
    over `basemap` (by default the settings' tiles alone)."""
    assets = [
        RawHtml(f'<link rel="stylesheet" href="{LEAFLET_URL}/leaflet.css"/>'),
        RawHtml(f'<link rel="stylesheet" href="{STATIC_URL}/css/map.css"/>'),
        RawHtml(f'<link rel="stylesheet" href="{STATIC_URL}/css/basemap.css"/>'),
        RawHtml(f'<script src="{LEAFLET_URL}/leaflet.js"></script>'),  # classic, before folium's set-up
        RawHtml(module_tags("map.js")),
    ]
    config = _page_config(
        settings,
        "",
        cellsUrl="/api/cells",
        devicesUrl="/api/devices",
        eventsUrl="/api/events?open=true&limit=6",
        streamUrl="/api/stream",
        basemap=(basemap or Basemap(settings)).page_config(),
    )
    return _build(grid, settings, assets=assets, config=config).render()


def render_map(
    grid: Grid, states: dict[str, CellState], devices: Iterable[Device], settings: Settings
) -> str:
    """A standalone HTML snapshot of the map (no server needed, nothing fetched from any host except
    the configured basemap tiles), with the basemap's vector layers in it."""
    inline = [
        RawHtml(f"<style>{(LEAFLET_DIR / 'leaflet.css').read_text()}</style>"),
        RawHtml(f"<style>{(STATIC_DIR / 'css' / 'map.css').read_text()}</style>"),
        RawHtml(f"<style>{(STATIC_DIR / 'css' / 'basemap.css').read_text()}</style>"),
        RawHtml(f"<script>{_script_safe((LEAFLET_DIR / 'leaflet.js').read_text())}</script>"),
        RawHtml(f'<script type="module">import "{inline_module("map.js")}";</script>'),
    ]
    basemap = Basemap(settings, grid)
    cells = orjson.loads(CellFeatures(grid).collection(states, crs=basemap.crs))
    shown = [device_json(d, grid) for d in devices]
    config = _page_config(settings, "", cells=cells, devices=shift_devices(shown) if basemap.crs == "gcj02" else shown,
                          basemap=basemap.page_config(inline=True))
    return _build(grid, settings, assets=inline, config=config).render()
