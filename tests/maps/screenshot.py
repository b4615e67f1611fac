"""Writes docs/images/map.png: the live map of the demo grid in headless Chromium at 1280x800.

    python -m tests.maps.screenshot [PATH]

The store is a throwaway SQLite file filled with a plausible moment of the demo:
sensors and cameras spread over the old city, most cells normal, a few in
warning or critical with their open anomalies.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from shapely import Point

from gridtwin.ports import free_port
from maps.app import create_app
from tests.maps.common import CHROMIUM_ARGS, serving, wait_on_page
from twin.config import Settings
from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.grid.demo import demo_grid
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState
from twin.store import open_store


def _point_in(cell, rng: random.Random) -> tuple[float, float]:
    minx, miny, maxx, maxy = cell.geometry.bounds
    while True:
        lon, lat = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if cell.geometry.contains(Point(lon, lat)):
            return lat, lon


def fill(store, grid, now: float) -> None:
    rng = random.Random(11)
    devices, states, anomalies = [], [], []
    for n, cell in enumerate(grid.cells):
        if rng.random() < 0.08:
            continue  # no device there yet: no data
        lat, lon = _point_in(cell, rng)
        sensor = Device(f"aq-{n:04d}", DeviceKind.SENSOR, lat, lon, metrics=("pm25", "noise_db"),
                        cell_code=cell.code, status=DeviceStatus.ONLINE, registered_at=now - 86400, last_seen=now)
        devices.append(sensor)
        if rng.random() < 0.12:
            lat, lon = _point_in(cell, rng)
            devices.append(Device(f"cam-{n:04d}", DeviceKind.CAMERA, lat, lon, cell_code=cell.code,
                                  status=DeviceStatus.ONLINE, registered_at=now - 86400, last_seen=now))
        pm25, noise = round(rng.uniform(18, 60), 1), round(rng.uniform(48, 64), 1)
        level = Level.NORMAL
        roll = rng.random()
        if roll < 0.05:
            level, pm25 = Level.CRITICAL, round(rng.uniform(160, 240), 1)
        elif roll < 0.14:
            level, noise = Level.WARNING, round(rng.uniform(71, 80), 1)
        opened = level is not Level.NORMAL
        states.append(CellState(cell.code, level, {"pm25": pm25, "noise_db": noise}, now - rng.uniform(0, 30), int(opened)))
        if opened:
            metric, value, threshold = ("pm25", pm25, 150.0) if level is Level.CRITICAL else ("noise_db", noise, 70.0)
            label = "PM2.5" if metric == "pm25" else "Noise"
            unit = "ug/m3" if metric == "pm25" else "dB(A)"
            anomalies.append(Anomaly(
                f"an-{n:04d}", f"{metric}_high", "opened", level, cell.code, sensor.id, "threshold",
                now - rng.uniform(30, 900), f"{label} {value:g} {unit} is above the {level.label} threshold {threshold:g}",
                metric=metric, value=value, threshold=threshold))
    store.put_devices(devices)
    store.put_cell_states(states)
    store.write_anomalies(anomalies)


def main(argv: list[str]) -> int:
    target = Path(argv[0] if argv else "docs/images/map.png")
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings().replace(mqtt={"port": free_port()}, store={"url": f"sqlite:///{tmp}/demo.db"},
                                      web={"title": "GridTwin · Kaifeng"})
        grid = demo_grid()
        store = open_store(settings.store.url)
        store.migrate()
        store.put_grid(grid)
        fill(store, grid, time.time())
        app = create_app(settings, store=store, grid=grid)
        with serving(app) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(bypass_csp=True, viewport={"width": 1280, "height": 800})
            page.goto(url + "/")
            wait_on_page(page, "map", "view.deviceLayer && view.status === 'live'", timeout=15_000)
            page.wait_for_timeout(500)
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target))
            browser.close()
        store.close()
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
