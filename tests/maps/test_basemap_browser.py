"""The basemap in headless Chromium, under each page's own Content-Security-Policy: a tile server started
here draws a landmark in GCJ-02 as AMap-style tiles do, and the page's cells and layers must sit on it;
a WMTS basemap loads tiles from its host and nothing else; a click on a GCJ-02 map finds the right cell;
labels follow the page's language."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from bench.tiles import TileServer, read_png, red_pixels
from maps.app import create_app
from tests.maps.common import T0, on_page, serving, wait_on_page
from tests.maps.test_browser import PageWatch
from twin.basemap import basemap_from_config
from twin.gcj02 import to_gcj02
from twin.grid.demo import demo_grid
from twin.people.accounts import create_user

PAGODA = (114.364889, 34.816667)  # the Iron Pagoda in WGS-84 (de.wikipedia; docs/basemap.md, S3)
BASEMAP = "/static/gridtwin/js/lib/basemap.js"
TILES_LOADED = """() => { const tiles = [...document.querySelectorAll("img.leaflet-tile")];
  return tiles.length > 0 && tiles.every((t) => t.complete && t.naturalWidth > 0); }"""
# Everything the page draws over the tiles, hidden to look at the tiles alone.
HIDE_LAYERS = """() => { const panes = ".leaflet-overlay-pane, .leaflet-marker-pane, .leaflet-gt-basemap-pane, " +
  ".leaflet-gt-basemap-labels-pane";
  for (const pane of document.querySelectorAll(panes)) pane.style.visibility = "hidden";
  for (const panel of document.querySelectorAll(".gt-panel, .gt-status")) panel.style.display = "none"; }"""


def over_tiles(settings, tiles: dict, **basemap):
    return dataclasses.replace(settings, basemap=basemap_from_config({"tiles": [tiles], **basemap}, {}))


def map_page(browser, url: str, path: str = "/"):
    """A page under its own policy (no bypass), with its watch, loaded."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    watch = PageWatch(page)
    page.goto(url + path)
    return page, watch


def test_a_landmark_on_gcj02_tiles_is_where_the_page_draws_it(browser, settings, store):
    grid = demo_grid()
    pagoda_cell = grid.locate(*PAGODA)
    with TileServer(landmark=PAGODA, crs="gcj02") as tiles:
        app = create_app(over_tiles(settings, {"url": tiles.xyz_url, "attribution": "test tiles"}, crs="gcj02"),
                         store=store, grid=grid)
        with serving(app) as url:
            page, watch = map_page(browser, url)
            wait_on_page(page, "map", "view.timings && view.timings.cellsDrawn && view.deviceLayer", timeout=20_000)
            page.evaluate(on_page("map", "view.basemap.vectors.then(() => true)"))
            # Where the page puts the pagoda: its own landmark of the demo map, shifted by the server.
            vectors = page.evaluate("async () => (await (await fetch('/api/basemap/vectors/demo?crs=gcj02')).json())")
            drawn = next(f for f in vectors["features"] if f["properties"]["name_en"].startswith("Iron Pagoda ("))
            lon, lat = drawn["geometry"]["coordinates"]
            page.evaluate(on_page("map", f"view.map.setView([{lat}, {lon}], 17, {{ animate: false }}) && true"))
            page.wait_for_function(TILES_LOADED, timeout=20_000)
            point = page.evaluate(on_page("map", f"view.map.latLngToContainerPoint([{lat}, {lon}])"))
            raw = page.evaluate(on_page("map", f"view.map.latLngToContainerPoint([{PAGODA[1]}, {PAGODA[0]}])"))
            box = page.locator("#" + page.evaluate(on_page("map", "view.map.getContainer().id"))).bounding_box()
            page.evaluate(HIDE_LAYERS)
            shot = read_png(page.screenshot(clip={"x": box["x"] + point["x"] - 60, "y": box["y"] + point["y"] - 60,
                                                  "width": 120, "height": 120}))
            red = red_pixels(shot)
            assert len(red) >= 50, "the tiles' landmark is not near where the page draws the pagoda"
            found = red.mean(axis=0) + 0.5 - 60  # pixel centres, relative to the expected point
            assert np.hypot(*found) < 2.0, found
            # Back through the page's own inverse: the tiles' landmark is the pagoda, to a few metres.
            picked = page.evaluate(on_page("map", f"""import({BASEMAP!r}).then(({{ fromMap }}) => fromMap(
                view.map.containerPointToLatLng([{point['x'] + found[0]}, {point['y'] + found[1]}])))"""))
            assert abs(picked["lon"] - PAGODA[0]) * 91_500 < 3 and abs(picked["lat"] - PAGODA[1]) * 111_000 < 3
            # The cell drawn there is the pagoda's cell; drawn unshifted, the pagoda would be 550 m off.
            cell = shape(page.evaluate(on_page("map", f"view.cells[{pagoda_cell!r}].feature.geometry")))
            assert cell.contains(shapely.Point(lon, lat))
            assert np.hypot(raw["x"] - point["x"], raw["y"] - point["y"]) > 300
            assert {urlsplit(u).path.split("/")[1] for u in watch.foreign(url)} == {"xyz"}
            assert watch.errors == []
            page.close()
    expected = tuple(float(v) for v in to_gcj02(*PAGODA))
    assert (lon, lat) == pytest.approx(expected, abs=1e-9)


def test_a_wmts_basemap_loads_tiles_from_its_host_and_nothing_else(browser, settings, store):
    with TileServer() as tiles:
        layer = {"url": tiles.wmts_url, "layer": "vec", "tile_matrix_set": "w", "format": "tiles",
                 "attribution": "天地图 (test)"}
        app = create_app(over_tiles(settings, layer), store=store, grid=demo_grid())
        with serving(app) as url:
            for path in ("/", "/wall", "/technician"):
                page, watch = map_page(browser, url, path)
                page.wait_for_function(TILES_LOADED, timeout=20_000)
                foreign = watch.foreign(url)
                assert foreign and all(u.startswith(tiles.wmts_url + "?") for u in foreign), (path, foreign)
                assert watch.errors == [], (path, watch.errors)
                # Any other host is refused by the page's policy.
                blocked = page.evaluate("""() => new Promise((resolve) => {
                  document.addEventListener("securitypolicyviolation", (e) => resolve(e.blockedURI), { once: true });
                  const img = new Image(); img.src = "http://127.0.0.2:9/tile.png"; })""")
                assert blocked.startswith("http://127.0.0.2")
                page.close()
    gets = [q for p, q in tiles.requests if p == "/wmts"]
    assert gets and all((q["SERVICE"], q["REQUEST"], q["LAYER"], q["TILEMATRIXSET"], q["FORMAT"]) ==
                        ("WMTS", "GetTile", "vec", "w", "tiles") for q in gets)
    assert {p for p, _ in tiles.requests} == {"/wmts"}


def test_a_click_on_a_gcj02_map_finds_the_cell_drawn_there(browser, settings, store):
    grid = demo_grid()
    code = grid.locate(114.349, 34.7932)  # 大相国寺
    create_user(store, "tom", "technician", now=T0, actor="test", password="tom-secret-1", cost=(2**10, 8, 1))
    with TileServer() as tiles:
        app = create_app(over_tiles(settings, {"url": tiles.xyz_url}, crs="gcj02"), store=store, grid=grid)
        with serving(app) as url:
            page, watch = map_page(browser, url, "/technician")
            wait_on_page(page, "technician", "tech.ready", timeout=20_000)
            at = on_page("technician", f"(p => ({{x: p.x, y: p.y}}))(tech.map.latLngToContainerPoint("
                                       f"tech.cells[{code!r}].getCenter()))")
            page.locator("#gt-map").click(position=page.evaluate(at))
            page.wait_for_function(f"document.getElementById('gt-where').dataset.cell === {code!r}", timeout=10_000)
            assert watch.errors == []
            page.close()


def test_labels_follow_the_page_language(browser, settings, store):
    app = create_app(settings, store=store, grid=demo_grid())
    with serving(app) as url:
        for lang, district in (("zh", "鼓楼区"), ("en", "Gulou District")):
            page, watch = map_page(browser, url, f"/wall?lang={lang}")
            page.locator(".gt-basemap-label-district span", has_text=district).wait_for(timeout=20_000)
            assert watch.errors == []
            page.close()
