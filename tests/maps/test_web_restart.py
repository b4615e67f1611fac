"""An open map page outlives its web app: `gridtwin serve` killed and started again on its port,
the page (headless Chromium) reconnects its live stream by itself and shows a change made after
the restart, without reloading; the snapshot it takes on reconnecting, answered after that change,
does not take it back."""

from __future__ import annotations

import asyncio
import uuid

from playwright.async_api import async_playwright

from bench.processes import WebProcess
from gridtwin.ports import free_port
from maps.render import LEVEL_STYLE
from tests.maps.common import CHROMIUM_ARGS, B, on_page, publish, state_message, wait_on_page_async
from twin.sensing.catalog import Level


async def test_an_open_map_page_reconnects_to_a_restarted_web_app_and_shows_what_changed(mosquitto, settings, store,
                                                                                         tmp_path):
    prefix = f"restart{uuid.uuid4().hex[:6]}/v1"
    settings = settings.replace(mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": prefix})
    config = tmp_path / "gridtwin.toml"
    config.write_text(f'[mqtt]\nhost = "{mosquitto.host}"\nport = {mosquitto.port}\nprefix = "{prefix}"\n'
                      f'[store]\nurl = "{settings.store.url}"\n')
    web = WebProcess(config, tmp_path, free_port())
    await web.start()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(bypass_csp=True, viewport={"width": 1000, "height": 700})
            await page.goto(web.url + "/")
            await wait_on_page_async(page, "map", "view.status === 'live'", timeout=20_000)
            await page.evaluate("window.notReloaded = true")
            # The snapshot taken on reconnecting is answered before the change and delivered after it.
            snapshot_taken, snapshot_released = asyncio.Event(), asyncio.Event()

            async def hold_snapshot(route):
                answer = await route.fetch()
                snapshot_taken.set()
                await snapshot_released.wait()
                await route.fulfill(response=answer)

            await page.route("**/api/cells?geometry=false*", hold_snapshot)

            web.kill()  # a crash: no goodbye to the open stream
            await web.proc.wait()
            await wait_on_page_async(page, "map", "view.status !== 'live'", timeout=20_000)
            await asyncio.sleep(1.0)  # the page tries while nothing listens
            await web.start()
            await wait_on_page_async(page, "map", "view.status === 'live'", timeout=30_000)
            await asyncio.wait_for(snapshot_taken.wait(), 15)

            # Retained, as the gateway publishes cell state: the restarted app may subscribe a moment
            # after its page is back, and the broker then hands it the state it missed.
            await asyncio.to_thread(publish, mosquitto, *state_message(settings, B, Level.CRITICAL, {"pm25": 300.0},
                                                                         1_800_000_000.0), retain=True)
            critical = LEVEL_STYLE["critical"]["color"]
            await wait_on_page_async(page, "map", f"view.cells['{B}'].options.fillColor === '{critical}'",
                                     timeout=15_000)
            assert await page.evaluate(on_page("map", "view.resyncs")) == 0
            snapshot_released.set()  # it holds no state for the cell
            await wait_on_page_async(page, "map", "view.resyncs === 1", timeout=15_000)
            assert await page.evaluate(on_page("map", f"view.cells['{B}'].options.fillColor")) == critical
            assert await page.evaluate("window.notReloaded") is True
            assert await page.locator('#gt-legend li[data-level="critical"] .gt-count').text_content() == "1"
        finally:
            await browser.close()
            await web.stop()
