"""The pages' JavaScript as native ES modules: every page loads its module graph from the app alone, under its
Content-Security-Policy, with no console error (a module that fails to load or to link is one) and no global
of its own; the graph the server preloads is the whole graph; the standalone snapshot inlines all of it."""

from __future__ import annotations

import base64
import re
import time

import pytest

from maps.app import create_app
from maps.assets import JS_DIR, LEAFLET_URL, STATIC_URL, inline_module, module_graph
from maps.pages import PAGES
from tests.maps.common import serving
from tests.maps.ops_helpers import two_street_grid
from tests.maps.test_browser import PageWatch

ENTRIES = {"/": "map.js", "/technician": "technician.js", "/report": "report.js",
           **{f"/{page}": module for page, (_, module, _, _) in PAGES.items()}}
# What each page shows once its module has run (anonymous: the desk pages ask for a login).
SHOWN = {"/": "#gt-feed-list li", "/wall": "#w-units li", "/console": "#login-form", "/worker": "#login-form",
         "/kpi": "#k-table tbody tr", "/technician": "#gt-login:not([hidden]), #gt-pending li", "/report": "#gt-login"}
# Globals the pages' own code could define (Leaflet's L and folium's map variable are the vendors').
OWN_GLOBALS = "Object.keys(window).filter(k => /^(gt|gridtwin)/i.test(k))"
CLASSIC_SCRIPTS = "Array.from(document.scripts).filter(s => !['module', 'application/json'].includes(s.type)).map(s => s.src)"
LEAFLET_JS = f"{LEAFLET_URL}/leaflet.js"


def test_every_module_is_on_some_page_and_every_import_exists():
    reachable = {url for entry in ENTRIES.values() for url in module_graph(entry)}
    modules = {f"{STATIC_URL}/js/{p.relative_to(JS_DIR).as_posix()}" for p in JS_DIR.rglob("*.js")}
    assert reachable == modules  # module_graph raises for an import that does not exist


def test_the_snapshot_inlines_the_whole_graph():
    pending, seen = [inline_module("map.js")], 0
    while pending:
        source = base64.b64decode(pending.pop().split(",", 1)[1]).decode("utf-8")
        seen += 1
        assert not re.search(r"""from\s*["']\.""", source)  # no relative import left to fetch
        pending += re.findall(r"""from\s*["'](data:[^"']+)["']""", source)
    assert seen >= len(module_graph("map.js"))


@pytest.mark.parametrize("path", sorted(ENTRIES))
def test_each_page_runs_its_modules_from_the_app_alone(browser, settings, store, path):
    app = create_app(settings, store=store, grid=two_street_grid(), poll_interval=0.2)
    with serving(app) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 800})  # under the page's own policy
        watch = PageWatch(page)
        page.goto(url + path)
        page.wait_for_selector(SHOWN[path], state="attached", timeout=15_000)
        deadline = time.monotonic() + 5
        loaded = {u.removeprefix(url) for u in watch.requests}
        while not set(module_graph(ENTRIES[path])) <= loaded and time.monotonic() < deadline:
            page.wait_for_timeout(50)
            loaded = {u.removeprefix(url) for u in watch.requests}
        assert set(module_graph(ENTRIES[path])) <= loaded
        assert page.evaluate(OWN_GLOBALS) == []
        classic = page.evaluate(CLASSIC_SCRIPTS)  # Leaflet's, and on the map page folium's inline set-up
        assert {src.removeprefix(url) for src in classic} <= ({LEAFLET_JS, ""} if path == "/" else {LEAFLET_JS})
        assert bool(classic) == (path in ("/", "/wall", "/console", "/technician"))
        assert watch.errors == [] and watch.foreign(url) == []
        page.close()
