"""The map page in headless Chromium: local assets only, no errors, live restyling from MQTT."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from maps.app import create_app
from maps.render import LEVEL_STYLE, render_map
from tests.maps.common import CODES, DEVICES, T0, A, B, E, page_state, publish, serving, small_grid, state_message
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState

# Pages are opened with bypass_csp=True where a test waits with Playwright's string predicates, which
# the pages' Content-Security-Policy (no eval) refuses; tests/maps/test_page_security.py loads every
# page under its real policy.

# The colour of the canvas pixel at a cell's centre, read back from what Leaflet drew.
PIXEL_AT_CELL = """([view, code]) => {
  const layer = view.cells[code];
  const point = view.map.latLngToContainerPoint(layer.getCenter());
  const canvas = document.querySelector(".leaflet-overlay-pane canvas");
  const box = canvas.getBoundingClientRect(), map = view.map.getContainer().getBoundingClientRect();
  const scale = canvas.width / box.width;
  const x = Math.round((map.left + point.x - box.left) * scale), y = Math.round((map.top + point.y - box.top) * scale);
  return Array.from(canvas.getContext("2d").getImageData(x, y, 1, 1).data.slice(0, 3));
}"""


class PageWatch:
    """Console errors, page errors and every request a page makes."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def foreign(self, allowed_origin: str) -> list[str]:
        return [u for u in self.requests if not u.startswith(allowed_origin) and not u.startswith("data:")]


def test_live_map_restyles_a_cell_from_mqtt(browser, mosquitto, settings, store, grid):
    settings = settings.replace(mqtt={"host": mosquitto.host, "port": mosquitto.port})
    app = create_app(settings, store=store, grid=grid)
    with serving(app) as url:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 800})
        watch = PageWatch(page)
        page.goto(url + "/")
        view = page_state(page, "map")
        page.wait_for_function("v => Object.keys(v.cells).length === 6 && v.deviceLayer && v.status === 'live'",
                               arg=view, timeout=10_000)
        assert page.locator("#gt-status").get_attribute("data-state") == "live"
        assert page.locator("#gt-status-text").text_content() == "Live"
        assert page.evaluate("v => v.deviceLayer.getLayers().length", view) == len(DEVICES)
        assert page.locator('#gt-legend li[data-level="warning"] .gt-count').text_content() == "1"
        assert page.locator('#gt-legend li[data-level="critical"] .gt-count').text_content() == "0"
        assert page.locator("#gt-feed-list .gt-anomaly").count() == 1  # an-1 is the only open anomaly
        grey = page.evaluate(PIXEL_AT_CELL, [view, B])
        assert max(grey) - min(grey) < 25, grey  # no data: a neutral grey

        page.evaluate("window.notReloaded = true")
        started = time.monotonic()
        publish(mosquitto, *state_message(settings, B, Level.CRITICAL, {"pm25": 310.0}, T0 + 3600), retain=True)
        page.wait_for_function(f"v => v.cells['{B}'].options.fillColor === '{LEVEL_STYLE['critical']['color']}'",
                               arg=view, timeout=2000)
        assert time.monotonic() - started < 2.0
        red = page.evaluate(PIXEL_AT_CELL, [view, B])
        assert red[0] > 150 and red[1] < 120 and red[2] < 120, red
        assert page.evaluate("window.notReloaded") is True
        assert page.locator('#gt-legend li[data-level="critical"] .gt-count').text_content() == "1"
        assert page.locator('#gt-legend li[data-level="no_data"] .gt-count').text_content() == "3"

        assert watch.errors == []
        assert watch.foreign(url) == []
        page.close()


def test_cell_popup_shows_code_path_and_latest_values(browser, settings, store, grid):
    app = create_app(settings, store=store, grid=grid)
    with serving(app) as url:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 800})
        watch = PageWatch(page)
        page.goto(url + "/")
        view = page_state(page, "map")
        page.wait_for_function("v => Object.keys(v.cells).length === 6", arg=view, timeout=10_000)
        point = page.evaluate(f"v => v.map.latLngToContainerPoint(v.cells['{A}'].getCenter())", view)
        page.locator(".folium-map").click(position={"x": point["x"], "y": point["y"]})
        popup = page.locator(".leaflet-popup-content")
        popup.wait_for(timeout=2000)
        text = popup.text_content()
        assert A in text and "Gulou District > Xiangguo Street > Shudian Community > Grid 001" in text
        assert "PM2.5" in text and "29 ug/m3" in text and "Noise" in text and "55 dB(A)" in text
        # The broker is down in this test: the page says it is trying, without console errors.
        assert watch.errors == []
        page.close()


def test_standalone_snapshot_needs_no_server(browser, settings, tmp_path):
    grid = small_grid()
    states = {A: CellState(A, Level.NORMAL, {"pm25": 12.0}, T0), E: CellState(E, Level.CRITICAL, {"pm25": 200.0}, T0)}
    path = tmp_path / "map.html"
    path.write_text(render_map(grid, states, DEVICES, settings), encoding="utf-8")
    page = browser.new_page(bypass_csp=True, viewport={"width": 1000, "height": 700})
    watch = PageWatch(page)
    page.goto(path.as_uri())
    view = page_state(page, "snapshot")
    page.wait_for_function("v => Object.keys(v.cells).length === 6", arg=view, timeout=10_000)
    colours = page.evaluate("v => Object.fromEntries(Object.entries(v.cells).map(([c, l]) => [c, l.options.fillColor]))",
                            view)
    assert colours[A] == LEVEL_STYLE["normal"]["color"] and colours[E] == LEVEL_STYLE["critical"]["color"]
    assert {colours[c] for c in CODES if c not in (A, E)} == {LEVEL_STYLE["no_data"]["color"]}
    assert page.locator("#gt-status-text").text_content() == "Snapshot"
    assert page.evaluate("v => v.deviceLayer.getLayers().length", view) == len(DEVICES)
    assert watch.errors == []
    assert {urlsplit(u).scheme for u in watch.requests} <= {"file", "data"}
    page.close()
