"""The operations room pages in headless Chromium against the real app and SQLite store: the map wall
(colours, KPIs, live cases, focus, drill-down, metric colours, replay, a 3840x1080 wall), the dispatch
console (filters, actions, 409 and 422 shown), the grid worker page on a phone, and the figures page.

No broker runs here: the app's live feed reads case changes from the store's audit log, so a case
changed through the CaseBook reaches the pages as it would from the gateway."""

from __future__ import annotations

import time

import pytest

from maps.app import create_app
from tests.maps.common import T0, on_page, serving, wait_on_page
from tests.maps.ops_helpers import Clock, add_user, log_in, two_street_grid
from tests.maps.test_browser import PageWatch
from twin.cases.book import CaseBook
from twin.people.access import Principal
from twin.people.users import Role
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level

GRID = two_street_grid()
CODES = [c.code for c in GRID.cells]
S1, S2 = "410204001", "410204002"
C11, C12, C21 = "410204001001", "410204001002", "410204002001"
DANA = Principal("dana", Role.DISPATCHER)
WK = Principal("wk", Role.GRID_WORKER)
CRITICAL, WARNING = "#d62839", "#f2a900"
QUIET, OVERDUE, NO_VALUE = "#17344a", "#ff4fd8", "#26303b"


@pytest.fixture
def app(settings, store):
    # The settings' broker port is closed: the feed polls the store, case changes included.
    return create_app(settings, store=store, grid=GRID, poll_interval=0.2)


def past_book(app, settings, store, hours_ago: float) -> tuple[CaseBook, Clock]:
    clock = Clock(time.time() - hours_ago * 3600)
    return CaseBook(store, GRID, settings.cases, settings.responsibility, clock=clock), clock


def fill_color(page, code: str) -> str:
    return page.evaluate(on_page("wall", f"wall.cells['{code}'].options.fillColor"))


def wall_page(browser, url, width=1920, height=1080):
    page = browser.new_page(bypass_csp=True, viewport={"width": width, "height": height}, locale="en-US")
    watch = PageWatch(page)
    page.goto(url + "/wall")
    wait_on_page(page, "wall", "wall.ready && wall.history && wall.status === 'live'",
                           timeout=15_000)
    return page, watch


# -- the map wall ------------------------------------------------------------------------
def test_wall_colours_cells_by_open_cases_and_follows_them_live(browser, app, settings, store):
    old, clock = past_book(app, settings, store, hours_ago=3)
    late = old.report(DANA, type_="pothole", cell=CODES[1])  # warning, dispatched 3 h ago: 1 h to accept
    old.act(late.id, "file", DANA)
    old.act(late.id, "dispatch", DANA, assignee="wk")
    urgent = old.report(DANA, type_="litter", severity="critical", cell=CODES[7])
    done = old.report(DANA, type_="litter", cell=CODES[8])
    old.act(done.id, "cancel", DANA, reason="duplicate")
    with serving(app) as url:
        page, watch = wall_page(browser, url)
        assert fill_color(page, CODES[1]) == WARNING
        assert page.evaluate(on_page("wall", f"wall.cells['{CODES[1]}'].options.color")) == OVERDUE
        assert fill_color(page, CODES[7]) == CRITICAL
        assert fill_color(page, CODES[8]) == QUIET and fill_color(page, CODES[0]) == QUIET  # cancelled: not open
        assert page.text_content("#kpi-open-value") == "2"
        assert page.text_content("#kpi-open-critical b") == "1" and page.text_content("#kpi-open-warning b") == "1"
        assert page.text_content("#kpi-overdue-value") == "1"
        assert page.text_content("#w-units li[data-code='410204'] .u-open") == "2"

        page.evaluate(on_page("wall", "wall.focusSeconds = 1.5"))
        fresh = app.state.ctx.book.report(DANA, type_="fire", severity="critical", cell=CODES[4])
        wait_on_page(page, "wall", f"wall.focused && wall.focused.id === '{fresh.id}'", timeout=5000)
        assert fill_color(page, CODES[4]) == CRITICAL
        assert page.is_visible("#w-focus") and fresh.id in page.text_content("#w-focus")
        assert "Fire" in page.text_content("#w-focus")
        first = page.locator("#w-ticker li").first
        assert first.get_attribute("data-action") == "report" and "Fire" in first.text_content()
        assert page.text_content("#kpi-open-value") == "3"
        wait_on_page(page, "wall", "!wall.focused", timeout=5000)  # back to the whole grid after a while
        assert page.is_hidden("#w-focus")

        app.state.ctx.book.act(fresh.id, "cancel", DANA, reason="false_alarm")
        wait_on_page(page, "wall", f"wall.cells['{CODES[4]}'].options.fillColor === '{QUIET}'", timeout=5000)
        assert page.text_content("#kpi-open-value") == "2"
        assert page.locator("#w-ticker li").first.get_attribute("data-action") == "cancel"
        assert watch.errors == [] and watch.foreign(url) == []
        page.close()


def test_wall_drills_down_from_district_to_street_to_community(browser, app, settings, store):
    book = app.state.ctx.book
    for code, severity in ((CODES[0], "critical"), (CODES[3], "warning"), (CODES[6], "warning"), (CODES[7], "warning")):
        book.report(DANA, type_="litter", severity=severity, cell=code)
    with serving(app) as url:
        page, watch = wall_page(browser, url)
        assert page.locator("#w-crumbs .crumb").count() == 1
        page.click("#w-units li[data-code='410204']")
        assert page.evaluate(on_page("wall", "wall.scope")) == "410204"
        assert page.text_content("#w-units-title") == "Streets"
        assert page.locator("#w-units li").count() == 2
        # Street 01 has the critical case, so it comes first.
        assert page.locator("#w-units li").first.get_attribute("data-code") == S1
        page.click(f"#w-units li[data-code='{S2}']")
        assert page.text_content("#kpi-open-value") == "2" and page.text_content("#w-kpi-scope") == "Street 02"
        dimmed = page.evaluate(on_page("wall", f"wall.cells['{CODES[0]}'].options.fillOpacity"))
        shown = page.evaluate(on_page("wall", f"wall.cells['{CODES[6]}'].options.fillOpacity"))
        assert dimmed < 0.5 < shown
        assert [page.locator("#w-crumbs .crumb").nth(i).text_content() for i in range(3)] == [
            "Whole grid", "Gulou District", "Street 02"]
        # A click on a cell of the street goes one level down, to its community.
        page.wait_for_timeout(400)  # the map's fly to the street
        point = page.evaluate(on_page("wall", f"wall.map.latLngToContainerPoint(wall.cells['{CODES[6]}'].getCenter())"))
        page.locator("#w-map").click(position={"x": point["x"], "y": point["y"]})
        assert page.evaluate(on_page("wall", "wall.scope")) == C21
        assert page.text_content("#w-units-title") == "Cells with open cases"
        assert page.locator("#w-units li").count() == 2
        page.wait_for_timeout(400)
        point = page.evaluate(on_page("wall", f"wall.map.latLngToContainerPoint(wall.cells['{CODES[6]}'].getCenter())"))
        page.locator("#w-map").click(position={"x": point["x"], "y": point["y"]})
        popup = page.locator(".w-popup")
        popup.wait_for(timeout=2000)
        assert CODES[6] in popup.text_content() and "Litter" in popup.text_content()
        page.click("#w-crumbs .crumb[data-code='']")
        assert page.evaluate(on_page("wall", "wall.scope")) == "" and page.text_content("#kpi-open-value") == "4"
        assert watch.errors == []
        page.close()


def test_wall_colours_by_a_metric_and_replays_the_last_24_hours(browser, app, store):
    now = time.time()
    store.write_anomalies([
        Anomaly("r-1", "pm25_high", "opened", Level.CRITICAL, CODES[5], "aq-1", "threshold", now - 7200, "",
                metric="pm25", value=200.0, threshold=150.0),
        Anomaly("r-1", "pm25_high", "cleared", Level.CRITICAL, CODES[5], "aq-1", "threshold", now - 6000, "",
                metric="pm25", value=20.0, threshold=150.0),
    ])
    with serving(app) as url:
        page, watch = wall_page(browser, url)
        page.select_option("#w-mode", "metric:pm25")
        # Cell 001 has PM2.5 29 (a calm blue-green), 002 has no reading.
        assert fill_color(page, CODES[0]) not in (QUIET, NO_VALUE, CRITICAL, WARNING)
        assert fill_color(page, CODES[1]) == NO_VALUE
        assert page.locator("#w-legend .ramp").count() == 1

        frame = page.evaluate(on_page("wall", f"wall.history.frames.findIndex(f => f.changes['{CODES[5]}'] === 'critical')"))
        assert frame > 0
        page.eval_on_selector("#w-slider", f"(el) => {{ el.value = '{frame}'; el.dispatchEvent(new Event('input')); }}")
        assert page.evaluate(on_page("wall", "wall.replay")) == frame
        assert fill_color(page, CODES[5]) == CRITICAL
        assert page.is_visible("#w-replay-badge") and "1 critical" in page.text_content("#w-replay-badge")
        page.eval_on_selector("#w-slider", f"(el) => {{ el.value = '{frame + 30}'; el.dispatchEvent(new Event('input')); }}")
        assert fill_color(page, CODES[5]) != CRITICAL  # cleared 20 minutes later
        page.click("#w-live")
        assert page.evaluate(on_page("wall", "wall.replay")) is None and page.is_hidden("#w-replay-badge")
        assert fill_color(page, CODES[0]) not in (QUIET, NO_VALUE)  # back to the metric
        assert watch.errors == []
        page.close()


def test_wall_reads_from_across_the_room_on_a_3840x1080_wall(browser, app):
    app.state.ctx.book.report(DANA, type_="litter", severity="critical", cell=CODES[2])
    with serving(app) as url:
        page, watch = wall_page(browser, url, 3840, 1080)
        page.wait_for_selector("#w-ticker .tk-title")  # the ticker fills once the wall is up
        size = page.evaluate("""() => ({
            scrollW: document.documentElement.scrollWidth, scrollH: document.documentElement.scrollHeight,
            value: parseFloat(getComputedStyle(document.querySelector('#kpi-overdue-value')).fontSize),
            open: parseFloat(getComputedStyle(document.querySelector('#kpi-open-value')).fontSize),
            ticker: parseFloat(getComputedStyle(document.querySelector('.tk-title')).fontSize),
            map: document.querySelector('#w-map').getBoundingClientRect().width,
            feed: document.querySelector('.w-feed').getBoundingClientRect().right,
        })""")
        assert size["scrollW"] <= 3840 and size["scrollH"] <= 1080  # one screen, nothing scrolls
        assert size["value"] >= 55 and size["open"] >= 80 and size["ticker"] >= 20  # px on a 1080-pixel-high wall
        assert size["map"] > 2600 and size["feed"] <= 3840
        assert watch.errors == []
        page.close()


# -- the dispatch console ---------------------------------------------------------------
def test_console_filters_cases_and_takes_the_actions_the_role_allows(browser, app, settings, store):
    now = time.time()
    add_user(store, "dana", "dispatcher", now)
    add_user(store, "val", "viewer", now)
    book = app.state.ctx.book
    fresh = book.report(DANA, type_="pothole", severity="critical", cell=CODES[0])
    filed = book.report(DANA, type_="litter", cell=CODES[1])
    book.act(filed.id, "file", DANA)
    old, _ = past_book(app, settings, store, hours_ago=3)
    late = old.report(DANA, type_="litter", cell=CODES[2])
    old.act(late.id, "file", DANA)
    old.act(late.id, "dispatch", DANA, assignee="wk")
    closed = old.report(DANA, type_="litter", cell=CODES[3])
    old.act(closed.id, "cancel", DANA, reason="out_of_scope")
    with serving(app) as url:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1440, "height": 900}, locale="en-US")
        watch = PageWatch(page)
        page.goto(url + "/console")
        log_in(page, "dana")
        page.wait_for_selector("#case-rows tr[data-id]")
        rows = lambda: sorted(page.eval_on_selector_all("#case-rows tr[data-id]", "els => els.map(e => e.dataset.id)"))
        assert rows() == sorted([fresh.id, filed.id, late.id])  # open cases by default
        assert page.text_content("#user-chip") == "dana · Dispatcher"
        loads = page.evaluate(on_page("console", "desk.listLoads"))
        page.click("#f-status .chip[data-status='cancelled']")
        wait_on_page(page, "console", f"desk.listLoads > {loads}")
        assert closed.id in rows()
        page.click("#f-open")
        page.select_option("#f-severity", "critical")
        wait_on_page(page, "console", f"desk.cases.length === 1 && desk.cases[0].id === '{fresh.id}'")
        page.select_option("#f-severity", "")
        page.check("#f-overdue")
        wait_on_page(page, "console", f"desk.cases.length === 1 && desk.cases[0].id === '{late.id}'")
        assert "overdue" in page.get_attribute(f"#case-rows tr[data-id='{late.id}']", "class")
        page.uncheck("#f-overdue")
        wait_on_page(page, "console", "desk.cases.length === 3")

        # A reported case: file, cancel or reassign. Cancel it as a false alarm.
        page.click(f"#case-rows tr[data-id='{fresh.id}']")
        page.wait_for_selector(f".c-detail[data-id='{fresh.id}']")
        actions = page.eval_on_selector_all("#c-actions button", "els => els.map(e => e.dataset.action)")
        assert actions == ["file", "cancel", "reassign"]
        page.click("#c-actions button[data-action='cancel']")
        page.select_option("#a-reason", "false_alarm")
        page.fill("#a-note", "the camera saw a shadow")
        page.click("#a-submit")
        page.wait_for_selector(f".c-detail[data-id='{fresh.id}'][data-status='cancelled']")
        assert page.locator("#c-timeline li").count() == 2
        assert "False alarm" in page.text_content("#c-timeline li[data-action='cancel']")
        assert page.is_visible("#c-no-actions")

        # A filed case: closing it now is refused with what is allowed, in the page's words.
        page.click(f"#case-rows tr[data-id='{filed.id}']")
        page.wait_for_selector(f".c-detail[data-id='{filed.id}']")
        assert page.evaluate(on_page("console", "desk.act('close', {})")) == 409
        error = page.text_content("#c-error .alert")
        assert "The case is Filed" in error and "Verify and close" in error and "Dispatch, Reassign" in error
        # Dispatching needs an assignee where the cell has no grid worker: 422 names the field.
        assert page.evaluate(on_page("console", "desk.act('dispatch', {})")) == 422
        assert "Assignee" in page.text_content("#c-error .alert li")
        page.click("#c-actions button[data-action='dispatch']")
        page.fill("#a-assignee", "wk")
        page.click("#a-submit")
        page.wait_for_selector(f".c-detail[data-id='{filed.id}'][data-status='dispatched']")
        assert page.text_content("#c-assignee") == "wk" and page.is_hidden("#c-error .alert")
        # Chromium logs the refused requests themselves; nothing else went wrong.
        assert [e.split("status of ")[-1] for e in watch.errors] == ["409 (Conflict)", "422 (Unprocessable Entity)"]
        assert watch.foreign(url) == []
        page.close()

        viewer = browser.new_page(bypass_csp=True, viewport={"width": 1440, "height": 900}, locale="en-US")
        viewer.goto(url + f"/console#{filed.id}")
        log_in(viewer, "val")
        viewer.wait_for_selector(f".c-detail[data-id='{filed.id}']")
        assert viewer.is_visible("#role-note") and viewer.locator("#c-actions button").count() == 0
        viewer.close()


def test_console_follows_a_case_changed_elsewhere(browser, app, store):
    add_user(store, "dana", "dispatcher", time.time())
    book = app.state.ctx.book
    title = "<img src=x onerror=alert(1)> at the gate"  # text, never markup
    item = book.report(DANA, type_="litter", cell=CODES[0], title=title)
    with serving(app) as url:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1440, "height": 900}, locale="zh-CN")
        page.goto(url + f"/console#{item.id}")
        log_in(page, "dana")
        page.wait_for_selector(f".c-detail[data-id='{item.id}'][data-status='reported']")
        assert page.text_content(".c-detail .status-reported") == "已上报"
        assert page.text_content(".c-title") == title and page.locator(".c-detail img").count() == 0
        book.act(item.id, "file", DANA, note="立案")
        page.wait_for_selector(f".c-detail[data-id='{item.id}'][data-status='filed']", timeout=5000)
        new = book.report(DANA, type_="pothole", cell=CODES[1])
        page.wait_for_selector(f"#case-rows tr[data-id='{new.id}']", timeout=5000)
        assert page.evaluate("async () => (await import('/static/gridtwin/js/lib/i18n.js')).missing") == []
        page.close()


# -- the grid worker's phone -------------------------------------------------------------
def test_worker_page_works_on_a_phone(browser, app, store):
    add_user(store, "wk", "grid_worker", time.time())
    book = app.state.ctx.book
    first = book.report(DANA, type_="litter", severity="critical", cell=CODES[0])
    book.act(first.id, "file", DANA)
    book.act(first.id, "dispatch", DANA, assignee="wk")
    other = book.report(DANA, type_="litter", cell=CODES[1])
    book.act(other.id, "file", DANA)
    book.act(other.id, "dispatch", DANA, assignee="someone-else")
    with serving(app) as url:
        page = browser.new_page(bypass_csp=True, viewport={"width": 390, "height": 844}, device_scale_factor=2, has_touch=True,
                                is_mobile=True, locale="en-US")
        watch = PageWatch(page)
        page.goto(url + "/worker")
        log_in(page, "wk")
        page.wait_for_selector(f".job[data-id='{first.id}']")
        assert page.locator(".job").count() == 1  # only my cases
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        accept = page.locator(f".job[data-id='{first.id}'] button[data-action='accept']").bounding_box()
        assert accept["height"] >= 44 and accept["width"] >= 300  # a thumb's target
        page.tap(f".job[data-id='{first.id}'] button[data-action='accept']")
        page.wait_for_selector(f".job[data-id='{first.id}'][data-status='accepted']")

        # A refused photo URL keeps what was typed and says why.
        page.fill(f"#fb-note-{first.id}", "Cleared the pile; bins emptied")
        page.fill(f"#fb-photo-{first.id}", "ftp://files/photo.jpg")
        page.tap(f".job[data-id='{first.id}'] form button[type=submit]")
        page.wait_for_selector(f".job[data-id='{first.id}'] .alert-error")
        assert "Photo URL" in page.text_content(f".job[data-id='{first.id}'] .alert-error")
        watch.errors.remove("Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)")
        assert page.input_value(f"#fb-note-{first.id}") == "Cleared the pile; bins emptied"
        page.fill(f"#fb-photo-{first.id}", "https://files.intranet/p/1.jpg")
        page.tap(f".job[data-id='{first.id}'] form button[type=submit]")
        wait_on_page(page, "worker", "crew.cases.some(c => c.status === 'handled')")
        assert page.text_content("#tab-waiting .tab-count") == "1"
        page.tap("#tab-waiting")
        assert "Cleared the pile" in page.text_content(f".job[data-id='{first.id}'] blockquote")
        stored = book.get(first.id)
        assert stored.feedback == "Cleared the pile; bins emptied" and stored.photo_url == "https://files.intranet/p/1.jpg"

        # A case dispatched to me now shows up by itself.
        page.tap("#tab-todo")
        book.act(other.id, "reassign", DANA, assignee="wk")
        page.wait_for_selector(f".job[data-id='{other.id}']", timeout=5000)
        assert watch.errors == [] and watch.foreign(url) == []
        page.close()


# -- governance figures -----------------------------------------------------------------
def test_kpi_page_charts_the_figures_and_exports_csv(browser, app, store):
    book = app.state.ctx.book
    worker = Principal("wk", Role.GRID_WORKER)
    for code in (CODES[0], CODES[6], CODES[7]):
        item = book.report(DANA, type_="litter", cell=code)
        book.act(item.id, "file", DANA)
        book.act(item.id, "dispatch", DANA, assignee="wk")
        if code != CODES[7]:
            book.act(item.id, "accept", worker)
            book.act(item.id, "handle", worker, note="done")
            book.act(item.id, "close", DANA)
    with serving(app) as url:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1400, "height": 1000}, locale="en-US")
        watch = PageWatch(page)
        page.goto(url + "/kpi#level=street&period=today")
        wait_on_page(page, "kpi", "board.loads > 0 && board.trend", timeout=10_000)
        rows = page.eval_on_selector_all("#k-table tbody tr", "els => els.map(e => e.dataset.code)")
        assert sorted(rows) == [S1, S2]
        street2 = page.locator(f"#k-table tbody tr[data-code='{S2}'] td")
        assert street2.nth(1).text_content() == "2" and street2.nth(4).text_content() == "50.0%"
        assert page.text_content("#k-tiles [data-key='resolution_rate'] .k-tile-value") == "66.7%"
        # Rates of both streets: resolution for both, on-time for both (each has a resolved case).
        assert page.locator("#chart-rates rect.chart-bar").count() == 4
        assert page.locator("#chart-trend rect.chart-bar").count() == 7  # one column a day, the last 7 days
        href = page.get_attribute("#k-csv", "href")
        assert "format=csv" in href and "level=street" in href
        csv = page.request.get(url + href)
        assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
        assert csv.text().splitlines()[0].startswith("code,name,cases") and len(csv.text().splitlines()) == 4
        page.select_option("#k-level", "grid")
        wait_on_page(page, "kpi", "board.loads > 1 && board.result.level === 'grid'")
        assert page.locator("#k-table tbody tr").count() == 3
        page.click("#k-table th[data-key='resolution_rate']")
        assert page.get_attribute("#k-table th[data-key='resolution_rate']", "aria-sort") == "descending"
        assert page.locator("#k-table tbody tr").last.get_attribute("data-code") == CODES[7]
        assert watch.errors == [] and watch.foreign(url) == []
        page.close()


def test_pages_ask_for_a_login_when_the_server_requires_one(browser, settings, store):
    settings = settings.replace(auth={"anonymous": "none"})
    add_user(store, "val", "viewer", T0)
    app = create_app(settings, store=store, grid=GRID, poll_interval=0.2)
    with serving(app) as url:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1920, "height": 1080}, locale="en-US")
        page.goto(url + "/wall")
        page.wait_for_selector(".w-login #login-form")
        with page.expect_navigation():  # the wall starts again, logged in
            log_in(page, "val")
        wait_on_page(page, "wall", "wall.ready", timeout=15_000)
        assert page.text_content("#kpi-open-value") == "0"
        page.close()
