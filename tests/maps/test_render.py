"""Rendering the map page: only local or inlined assets, safe embedding of names, tiles on demand."""

from __future__ import annotations

import re

import orjson
import pytest
from shapely.geometry import box

from maps.render import render_map, render_page
from tests.maps.common import DEVICES, T0, A, E, small_grid
from twin.basemap import basemap_from_config
from twin.config import Settings
from twin.gcj02 import to_gcj02
from twin.grid.cells import Cell, Grid
from twin.grid.demo import demo_grid
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState

FETCHED = re.compile(r'<(?:script|link|img|iframe)\b[^>]*?(?:src|href)="([^"]*)"')  # what a browser loads


def config_of(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="gridtwin-config">(.*?)</script>', page, re.S)
    return orjson.loads(block.group(1))


def test_page_links_only_the_apps_own_assets():
    page = render_page(small_grid(), Settings())
    references = FETCHED.findall(page)
    assert "/static/vendor/leaflet/leaflet.js" in references and "/static/gridtwin/js/map.js" in references
    assert all(r.startswith("/static/") or r.startswith("data:") for r in references), references
    for cdn_asset in ("jquery", "bootstrap", "awesome", "jsdelivr", "cloudflare"):
        assert cdn_asset not in page  # folium's default CDN assets are gone
    config = config_of(page)
    assert config["cellsUrl"] == "/api/cells" and config["streamUrl"] == "/api/stream"
    assert config["mapName"].startswith("map_") and f"var {config['mapName']} = L.map(" in page
    assert config["metrics"]["pm25"] == {"label": "PM2.5", "unit": "ug/m3", "kind": "number"}


def test_standalone_map_inlines_everything():
    states = {A: CellState(A, Level.NORMAL, {"pm25": 12.0}, T0), E: CellState(E, Level.CRITICAL, {"pm25": 200.0}, T0)}
    page = render_map(small_grid(), states, DEVICES, Settings())
    assert FETCHED.findall(page) == ["data:,"]  # the empty icon: nothing to fetch
    assert "L.version" in page or "Leaflet" in page  # Leaflet itself is inlined
    config = config_of(page)
    assert "cellsUrl" not in config and "streamUrl" not in config
    levels = {f["properties"]["code"]: f["properties"]["level"] for f in config["cells"]["features"]}
    assert levels[A] == "normal" and levels[E] == "critical" and list(levels.values()).count("no_data") == 4
    assert sorted(d["id"] for d in config["devices"]) == ["aq-1", "aq-2", "cam-1"]


def test_names_cannot_break_out_of_the_page():
    hostile = "</script><script>alert(1)</script>"
    grid = Grid([Cell("410204001001001", hostile, box(114.34, 34.79, 114.342, 34.792))], {"name": hostile})
    page = render_map(grid, {}, [], Settings().replace(web={"title": "<b>GridTwin</b>"}))
    assert hostile not in page  # the JSON block cannot be closed early, the HTML is escaped
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page
    assert "<title>&lt;b&gt;GridTwin&lt;/b&gt;</title>" in page
    assert config_of(page)["cells"]["features"][0]["properties"]["name"] == hostile


def test_tiles_come_from_the_configured_template_only():
    plain = render_page(small_grid(), Settings())
    assert "L.tileLayer" not in plain and config_of(plain)["basemap"]["tiles"] == []
    template = "http://tiles.intranet.local/{z}/{x}/{y}.png"
    tiled = render_page(small_grid(), Settings().replace(web={"tiles": template, "tiles_attribution": "City GIS"}))
    # The page module draws them, as on every map page (lib/basemap.js); folium's set-up adds none.
    assert "L.tileLayer" not in tiled
    (layer,) = config_of(tiled)["basemap"]["tiles"]
    assert (layer["url"], layer["attribution"]) == (template, "City GIS")
    assert "openstreetmap" not in tiled.lower()


def test_the_snapshot_carries_the_demo_map_and_shifts_for_gcj02_tiles():
    grid = demo_grid()
    plain = config_of(render_map(grid, {}, DEVICES, Settings()))
    (demo,) = plain["basemap"]["vectors"]
    assert demo["name"] == "demo" and "url" not in demo  # inlined: the file needs no server
    assert {f["properties"]["kind"] for f in demo["data"]["features"]} >= {"road", "water", "landmark"}
    shifted = config_of(render_map(grid, {}, DEVICES, Settings(basemap=basemap_from_config({"crs": "gcj02"}, {}))))
    assert shifted["basemap"]["crs"] == "gcj02"
    before = plain["cells"]["features"][0]["geometry"]["coordinates"][0][0]
    after = shifted["cells"]["features"][0]["geometry"]["coordinates"][0][0]
    assert after == pytest.approx(list(to_gcj02(*before)), abs=1e-12)
    assert shifted["devices"][0]["lon"] - plain["devices"][0]["lon"] == pytest.approx(0.0059, abs=3e-4)
