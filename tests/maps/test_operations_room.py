"""The operations room end to end, in headless Chromium: a critical PM2.5 reading goes through the real
gateway on a real Mosquitto and becomes a case; the map wall brings it into focus; a dispatcher logs
in to the console, files it and dispatches it; the cell's grid worker logs in on a phone, accepts it
and sends feedback with a photo URL; the dispatcher verifies and closes it and records the citizen's
satisfaction; the wall's figures change. Every page follows the case over the live stream alone."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid

import pytest
from playwright.sync_api import sync_playwright

from gateway import Gateway
from maps.app import create_app
from tests.maps.common import CHROMIUM_ARGS, DEVICES, A, on_page, publish, serving, wait_on_page
from tests.maps.ops_helpers import add_user, log_in
from tests.maps.test_browser import PageWatch
from twin.store import open_store

CRITICAL, QUIET = "#d62839", "#17344a"


@contextlib.contextmanager
def running_gateway(settings, grid):
    """The gateway in a thread with its own event loop and its own connection to the store, as a
    separate process would have."""
    store = open_store(settings.store.url)
    loop = asyncio.new_event_loop()
    started, failed = threading.Event(), []
    stop: list[asyncio.Event] = []

    async def main():
        stop.append(asyncio.Event())
        async with Gateway(settings, store, grid) as gateway:
            started.set()
            await gateway.run(stop[0])

    def work():
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # reported to the test below
            failed.append(exc)
            started.set()

    thread = threading.Thread(target=work, name="test-gateway", daemon=True)
    thread.start()
    assert started.wait(15) and not failed, f"the gateway did not start: {failed}"
    try:
        yield
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(15)
        store.close()
        assert not thread.is_alive(), "the gateway did not stop"
        assert not failed, f"the gateway failed: {failed}"


@pytest.fixture
def room_settings(settings, mosquitto, tmp_path):
    return settings.replace(
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "client_id": f"gw-{uuid.uuid4().hex[:8]}"},
        store={"url": f"sqlite:///{tmp_path}/room.db"},
        gateway={"state_publish_interval": 0.2},
        cases={"relay_interval_s": 0.1},
    )


@pytest.fixture
def room_store(room_settings, grid):
    """The grid and its devices, and nothing else: no anomaly of the shared fixtures becomes a case."""
    store = open_store(room_settings.store.url)
    store.migrate()
    store.put_grid(grid)
    store.put_devices(DEVICES)
    yield store
    store.close()


def test_a_reading_becomes_a_case_that_is_dispatched_handled_and_closed(room_settings, mosquitto, room_store, grid):
    settings, store = room_settings, room_store
    now = time.time()
    add_user(store, "dana", "dispatcher", now)
    add_user(store, "worker-1", "grid_worker", now)  # the grid worker of cell A (tests/maps/common.small_grid)
    app = create_app(settings, store=store, grid=grid)
    with running_gateway(settings, grid), serving(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        watches = []

        def open_page(path, **options):
            context = browser.new_context(bypass_csp=True, locale="en-US", **options)
            page = context.new_page()
            watches.append(PageWatch(page))
            page.goto(url + path)
            return page

        wall = open_page("/wall", viewport={"width": 1920, "height": 1080})
        wait_on_page(wall, "wall", "wall.ready && wall.status === 'live'", timeout=15_000)
        assert wall.text_content("#kpi-resolution-value") == "—" and wall.text_content("#kpi-open-value") == "0"
        console = open_page("/console", viewport={"width": 1440, "height": 900})
        log_in(console, "dana")
        console.wait_for_selector("#case-rows tr.empty")
        phone = open_page("/worker", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        log_in(phone, "worker-1")
        phone.wait_for_selector("#no-jobs")

        # A critical PM2.5 reading from the sensor in cell A, through Mosquitto and the gateway.
        publish(mosquitto, f"{settings.mqtt.prefix}/readings/aq-1", {"ts": time.time(), "values": {"pm25": 260.0}})
        wait_on_page(wall, "wall", "wall.focused !== null", timeout=10_000)
        case_id = wall.evaluate(on_page("wall", "wall.focused.id"))
        assert wall.evaluate(on_page("wall", "wall.focused.code")) == A
        assert wall.evaluate(on_page("wall", f"wall.cells['{A}'].options.fillColor")) == CRITICAL
        assert "PM2.5 high" in wall.text_content("#w-focus")
        assert wall.text_content("#kpi-open-critical b") == "1"

        # The dispatcher sees it arrive, files it and dispatches it to the cell's grid worker.
        console.wait_for_selector(f"#case-rows tr[data-id='{case_id}']", timeout=5000)
        console.click(f"#case-rows tr[data-id='{case_id}']")
        console.wait_for_selector(f".c-detail[data-id='{case_id}'][data-status='reported']")
        assert "Gulou District > Xiangguo Street > Shudian Community > Grid 001" in console.text_content(".facts")
        console.click("#c-actions button[data-action='file']")
        console.click("#a-submit")
        console.wait_for_selector(f".c-detail[data-id='{case_id}'][data-status='filed']")
        console.click("#c-actions button[data-action='dispatch']")
        assert console.get_attribute("#a-assignee", "placeholder") == "Default: worker-1"
        console.fill("#a-note", "Check the construction site at the gate")
        console.click("#a-submit")
        console.wait_for_selector(f".c-detail[data-id='{case_id}'][data-status='dispatched']")
        assert console.text_content("#c-assignee") == "worker-1"

        # The grid worker's phone shows it by itself; accept, then feedback with a photo.
        phone.wait_for_selector(f".job[data-id='{case_id}'][data-status='dispatched']", timeout=5000)
        phone.tap(f".job[data-id='{case_id}'] button[data-action='accept']")
        phone.wait_for_selector(f".job[data-id='{case_id}'][data-status='accepted']")
        phone.fill(f"#fb-note-{case_id}", "Dust screens put back up; water spraying on")
        phone.fill(f"#fb-photo-{case_id}", "https://files.intranet/photos/site-gate.jpg")
        phone.tap(f".job[data-id='{case_id}'] form button[type=submit]")
        wait_on_page(phone, "worker", "crew.cases.length === 1 && crew.cases[0].status === 'handled'")

        # The dispatcher's open case follows; verify, close and record the citizen's satisfaction.
        console.wait_for_selector(f".c-detail[data-id='{case_id}'][data-status='handled']", timeout=5000)
        assert "Dust screens put back up" in console.text_content("#c-feedback")
        console.click("#c-actions button[data-action='close']")
        console.click("#a-submit")
        console.wait_for_selector(f".c-detail[data-id='{case_id}'][data-status='closed']")
        console.click("#c-actions button[data-action='evaluate']")
        console.check("#a-satisfaction input[value='5']")
        console.click("#a-submit")
        console.wait_for_selector(f".c-detail[data-id='{case_id}'][data-status='evaluated']")
        timeline = console.eval_on_selector_all("#c-timeline li", "els => els.map(e => e.dataset.action)")
        assert timeline == ["report", "file", "dispatch", "accept", "handle", "close", "evaluate"]
        assert console.text_content("#c-timeline li[data-action='accept'] .tl-actor") == "worker-1"

        # The wall's figures change: the day's case is resolved, on time, and rated.
        # The figures are reloaded a moment after each change: wait for the evaluation's, not the closing's.
        wall.wait_for_function("document.querySelector('#kpi-resolution-value').textContent === '100%' && "
                               "document.querySelector('#kpi-satisfaction-value').textContent === '5'",
                               timeout=10_000)
        assert wall.text_content("#kpi-on_time-value") == "100%"
        assert wall.text_content("#kpi-satisfaction-value") == "5"
        assert wall.text_content("#kpi-open-value") == "0"
        assert wall.evaluate(on_page("wall", f"wall.cells['{A}'].options.fillColor")) == QUIET
        actions = wall.eval_on_selector_all("#w-ticker li[data-kind='case']", "els => els.map(e => e.dataset.action)")
        assert actions[:7] == ["evaluate", "close", "handle", "accept", "dispatch", "file", "report"]

        for watch in watches:
            assert watch.errors == [] and watch.foreign(url) == []
        browser.close()
