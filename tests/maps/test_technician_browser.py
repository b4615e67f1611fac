"""The technician page in headless Chromium: log in, place a pending device by clicking the map, see its cell."""

from __future__ import annotations

from maps.app import create_app
from tests.maps.common import T0, E, on_page, serving, wait_on_page
from tests.maps.test_browser import PageWatch
from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.people.accounts import create_user
from twin.sensing.readings import Reading


def click_at_cell(code: str) -> str:
    return on_page("technician", f"(p => ({{x: p.x, y: p.y}}))(tech.map.latLngToContainerPoint("
                                 f"tech.cells['{code}'].getCenter()))")


def test_a_technician_places_a_pending_device_by_clicking_the_map(browser, settings, store, grid):
    create_user(store, "tom", "technician", now=T0, actor="test", password="tom-secret-1", cost=(2**10, 8, 1))
    store.put_devices([Device("z2m-7", DeviceKind.SENSOR, None, None, model="Aqara TVOC", name="hall sensor",
                              status=DeviceStatus.PENDING, registered_at=T0, attributes={"adapter": "zigbee2mqtt"})])
    store.write_readings([Reading("z2m-7", "pm25", T0, 14.0, None)])
    app = create_app(settings, store=store, grid=grid)
    with serving(app) as url:
        page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 800})
        watch = PageWatch(page)
        page.goto(url + "/technician")
        page.locator("#gt-login").wait_for(state="visible", timeout=10_000)  # anonymous: asked to log in
        page.fill("#gt-login input[name=name]", "tom")
        page.fill("#gt-login input[name=password]", "tom-secret-1")
        page.click("#gt-login button[type=submit]")
        page.locator('#gt-pending li[data-id="z2m-7"]').wait_for(timeout=10_000)
        wait_on_page(page, "technician", "tech.ready", timeout=10_000)
        assert page.locator("#gt-login").is_hidden()

        page.click('#gt-pending li[data-id="z2m-7"] button.gt-place')
        assert "z2m-7" in page.locator("#gt-hint").text_content()
        point = page.evaluate(click_at_cell(E))
        page.locator("#gt-map").click(position=point)
        page.wait_for_function(f"document.getElementById('gt-placed').dataset.cell === '{E}'", timeout=5000)
        placed = page.locator("#gt-placed").text_content()
        assert f"z2m-7 placed in cell {E}" in placed and "Grid 005" in placed
        assert page.locator("#gt-where").get_attribute("data-cell") == E
        page.locator("#gt-pending li.gt-empty").wait_for(timeout=5000)  # no longer pending
        page.locator("#gt-health [data-diagnosis]").wait_for(timeout=5000)  # the placed device's health

        # A click with nothing armed only says where it is.
        page.locator("#gt-map").click(position=page.evaluate(click_at_cell("410204001001001")))
        page.wait_for_function("document.getElementById('gt-where').dataset.cell === '410204001001001'",
                               timeout=5000)
        assert page.locator("#gt-placed").get_attribute("data-cell") == E

        assert watch.errors == []
        assert watch.foreign(url) == []
        page.close()
    device = store.get_device("z2m-7")
    assert (device.status, device.cell_code) == (DeviceStatus.REGISTERED, E)
    assert store.readings(device_id="z2m-7")[0].cell_code == E  # what it sent while pending counts there now
