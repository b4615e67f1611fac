"""Every page in headless Chromium with device- and user-supplied text that tries to inject script:
device names, cell, street, community and district names of an imported grid, the grid's title,
case titles, descriptions and notes, a photo link, field report notes, users' display names and an
anomaly's explanation. The injected script must never run, no injected element or handler may
appear, and the text is shown as text. The pages are opened with their Content-Security-Policy
bypassed, so it is the pages' own escaping that is tested; a second test loads every page under its
real policy and expects not one violation."""

from __future__ import annotations

import time
import uuid

import pytest
from shapely.geometry import box

from maps.app import create_app
from tests.maps.common import CODES, SIZE, S, W, on_page, serving
from tests.maps.ops_helpers import FAST_COST, PASSWORD
from tests.maps.test_browser import PageWatch
from twin.cases.book import CaseBook
from twin.cases.reports import file_report, parse_report
from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.grid.cells import Cell, Grid
from twin.people.access import Principal
from twin.people.accounts import create_user
from twin.people.users import Role
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState
from twin.sensing.readings import Reading
from twin.store import open_store

# Each would set window.__xss if it ever ran: an element with a handler, a script, an attribute breaker.
XSS = ("<img src=x onerror=\"window.__xss='img'\"><script>window.__xss='script'</script>"
       "\"'><svg onload=\"window.__xss='svg'\">")
LINK = "javascript:window.__xss='link'"
MARK = "<img src=x onerror="  # what the literal text shows
A, B = CODES[0], CODES[1]

INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      if (/^on/i.test(attr.name)) found.push(el.tagName + ' ' + attr.name);
      if (/^(href|src|action|formaction|xlink:href)$/i.test(attr.name) && /^\\s*javascript:/i.test(attr.value))
        found.push(el.tagName + ' ' + attr.name + '=' + attr.value);
    }
    if (el.tagName === 'IMG' && el.getAttribute('src') === 'x') found.push('img src=x');
    // A JSON data block (the pages' configuration) is never run; any other script is code.
    if (el.tagName === 'SCRIPT' && el.type !== 'application/json' && el.textContent.indexOf('__xss') >= 0)
      found.push('script');
  }
  return found;
}"""


def xss_grid() -> Grid:
    cells = []
    for n, code in enumerate(CODES):
        col, row = n % 3, n // 3
        x, y = W + col * SIZE, S + (1 - row) * SIZE
        cells.append(Cell(code, f"{XSS} {n + 1}", box(x, y, x + SIZE, y + SIZE), XSS, f"{LINK} {XSS}", XSS,
                          worker="wk" if n == 0 else None))
    return Grid(cells, {"name": XSS, "title": XSS})


@pytest.fixture
def scene(tmp_path, settings):
    """A store whose every piece of free text is hostile; the app over it."""
    grid = xss_grid()
    store = open_store(f"sqlite:///{tmp_path}/xss.db")
    store.migrate()
    store.put_grid(grid)
    now = time.time()
    lat, lon = S + 2 * SIZE - 0.0003, W + 0.0003
    store.put_devices([
        Device("aq-x", DeviceKind.SENSOR, lat, lon, metrics=("pm25",), cell_code=A, status=DeviceStatus.ONLINE,
               name=XSS, model=XSS, registered_at=now - 3600, last_seen=now - 60),
        Device("pend-x", DeviceKind.SENSOR, None, None, name=XSS, model=XSS, status=DeviceStatus.PENDING,
               registered_at=now - 600),
    ])
    store.write_readings([Reading("aq-x", "pm25", now - 120 + i, 80.0, A) for i in range(3)])
    store.put_cell_states([CellState(A, Level.WARNING, {"pm25": 80.0}, now - 60, 1)])
    store.write_anomalies([Anomaly("an-x", "pm25_high", "opened", Level.WARNING, A, "aq-x", "threshold", now - 60,
                                   XSS, metric="pm25", value=80.0, threshold=75.0)])
    for name, role in (("dana", "dispatcher"), ("wk", "grid_worker"), ("tom", "technician"), ("rita", "reporter")):
        create_user(store, name, role, now=now, actor="test", password=PASSWORD, display_name=XSS, cost=FAST_COST)
    book = CaseBook(store, grid, settings.cases, settings.responsibility)
    dana, wk = Principal("dana", Role.DISPATCHER), Principal("wk", Role.GRID_WORKER)
    handled = book.report(dana, type_="litter", severity="critical", cell=A, title=XSS, description=XSS)
    book.act(handled.id, "file", dana, note=XSS)
    book.act(handled.id, "dispatch", dana, assignee="wk", note=XSS)
    book.act(handled.id, "accept", wk, note=XSS)
    book.act(handled.id, "handle", wk, note=XSS, photo_url="https://e.test/\"><img/src=x/onerror=window.__xss=1>")
    todo = book.report(dana, type_="litter", cell=B, title=XSS, description=XSS)
    book.act(todo.id, "file", dana, note=XSS)
    book.act(todo.id, "dispatch", dana, assignee="wk", note=XSS)
    report = parse_report({"type": "pothole", "note": XSS, "loc": {"lat": lat, "lon": lon},
                           "report_id": f"r-{uuid.uuid4().hex[:8]}"},
                          reporter_id="rita", channel="http", now=now, grid=grid)
    file_report(store, grid, report, responsibility=settings.responsibility)
    app = create_app(settings, store=store, grid=grid, poll_interval=0.2)
    yield app, {"handled": handled.id, "todo": todo.id}
    store.close()


def wait_js(page, expression: str, timeout: float = 10.0) -> None:
    """Playwright's wait_for_function evaluates a string in the page, which the policy (no eval) refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout} s: {expression}"
        page.wait_for_timeout(50)


def log_in(context, url: str, name: str) -> None:
    response = context.request.post(url + "/api/login", data={"name": name, "password": PASSWORD})
    assert response.ok, response.text()


def assert_inert(page, where: str, *, literal: bool = True) -> None:
    page.wait_for_timeout(300)  # let late renders (ticker, tooltips) happen
    assert page.evaluate("window.__xss") is None, f"{where}: injected script ran ({page.evaluate('window.__xss')})"
    assert page.evaluate(INJECTED) == [], f"{where}: injected markup in the page"
    if literal:
        assert MARK in page.inner_text("body"), f"{where}: the hostile text is not shown as text"


def visit_every_page(browser, url, ids, *, bypass_csp: bool) -> list[str]:
    """Visit and use every page; returns the console errors seen."""
    errors = []

    def new_page(user=None, **options):
        context = browser.new_context(bypass_csp=bypass_csp, locale="en-US",
                                      viewport={"width": 1440, "height": 900}, **options)
        if user:
            log_in(context, url, user)
        page = context.new_page()
        watch = PageWatch(page)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.on("close", lambda _: errors.extend(watch.errors))
        return page

    # The map page: cells, devices, the anomaly feed; a cell's popup and a device's tooltip.
    page = new_page()
    page.goto(url + "/")
    wait_js(page, on_page("map", "view.deviceLayer && Object.keys(view.cells).length === 6"), 10)
    page.wait_for_selector("#gt-feed-list .gt-anomaly")
    point = page.evaluate(on_page("map", f"(p => ({{x: p.x, y: p.y}}))(view.map.latLngToContainerPoint("
                                         f"view.cells['{A}'].getBounds().getCenter()))"))
    page.mouse.click(point["x"], point["y"])
    page.wait_for_selector(".leaflet-popup-content")
    assert MARK in page.inner_text(".leaflet-popup-content")
    page.evaluate(on_page("map", "view.deviceLayer.eachLayer(l => l.openTooltip ? l.openTooltip() : "
                                 "l.openPopup && l.openPopup())"))
    assert_inert(page, "/")
    page.context.close()

    # The wall: units, ticker, a cell's details.
    page = new_page()
    page.goto(url + "/wall")
    wait_js(page, on_page("wall", "wall.ready"), 15)
    assert_inert(page, "/wall")
    page.context.close()

    # The console: the list, then each case with its timeline.
    page = new_page("dana")
    page.goto(url + "/console")
    page.wait_for_selector("#case-rows tr[data-id]")
    for case_id in ids.values():
        page.click(f"#case-rows tr[data-id='{case_id}']")
        page.wait_for_selector(f".c-detail[data-id='{case_id}'] #c-timeline li")
        assert_inert(page, f"/console {case_id}")
    page.context.close()

    # The grid worker's phone page: to do, and waiting for the desk.
    page = new_page("wk", is_mobile=True, has_touch=True)
    page.goto(url + "/worker")
    page.wait_for_selector(f".job[data-id='{ids['todo']}']")
    assert_inert(page, "/worker")
    page.tap("#tab-waiting")
    page.wait_for_selector(f".job[data-id='{ids['handled']}']")
    assert_inert(page, "/worker waiting")
    page.context.close()

    # The figures, per grid cell (cell names) and per street.
    for level in ("grid", "street"):
        page = new_page("dana")
        page.goto(url + f"/kpi#level={level}&period=today")
        wait_js(page, on_page("kpi", "board.loads > 0"), 10)
        page.wait_for_selector("#k-table tbody tr")
        assert_inert(page, f"/kpi {level}")
        page.context.close()

    # The technician's page: pending devices, a device's health, a click on the map.
    page = new_page("tom")
    page.goto(url + "/technician")
    page.wait_for_selector("#gt-pending li[data-id='pend-x']")
    wait_js(page, on_page("technician", "tech.ready"), 10)
    page.select_option("#gt-device", "aq-x")
    page.wait_for_selector("#gt-health [data-diagnosis]")
    point = page.evaluate(on_page("technician", f"(p => ({{x: p.x, y: p.y}}))(tech.map.latLngToContainerPoint("
                                                f"tech.cells['{A}'].getCenter()))"))
    page.locator("#gt-map").click(position=point)
    wait_js(page, f"document.getElementById('gt-where').dataset.cell === '{A}'")
    assert MARK in page.inner_text("#gt-where")
    assert_inert(page, "/technician")
    page.context.close()

    # The reporter's page: my reports and the leaderboard.
    page = new_page("rita", is_mobile=True, has_touch=True)
    page.goto(url + "/report")
    page.wait_for_selector("#gt-my-reports li")
    assert_inert(page, "/report", literal=False)  # it lists type and status, not the note
    page.context.close()
    return errors


def test_injected_text_never_runs_and_is_shown_as_text(browser, scene):
    app, ids = scene
    with serving(app) as url:
        errors = visit_every_page(browser, url, ids, bypass_csp=True)
    # No page asked for src=x (a 404), nor met another error.
    assert errors == []


def test_every_page_runs_under_its_content_security_policy(browser, scene):
    app, ids = scene
    with serving(app) as url:
        errors = visit_every_page(browser, url, ids, bypass_csp=False)
    assert errors == []
