"""Shared by the web app tests: a small grid, its store content, a uvicorn runner and MQTT helpers."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from contextlib import contextmanager

import orjson
import paho.mqtt.client as mqtt
from prometheus_client.parser import text_string_to_metric_families
from shapely.geometry import box

from gridtwin.ports import free_port
from maps.app import WebServer
from twin.config import Settings
from twin.contract.cloudevents import cell_state_event
from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.grid.cells import Cell, Grid
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState
from twin.sensing.readings import Reading

# Debian's Chromium as the browser tests drive it: no sandbox (root in CI), no calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]

# Six 0.002-degree cells (about 200 m), three west->east by two north->south; codes in that order.
W, S, SIZE = 114.340, 34.790, 0.002
CODES = [f"410204001001{n:03d}" for n in range(1, 7)]
A, B, C, D, E, F = CODES
T0 = 1_795_939_200.0  # 2026-11-29T08:00:00Z


def small_grid() -> Grid:
    cells = []
    for n, code in enumerate(CODES):
        col, row = n % 3, n // 3
        x, y = W + col * SIZE, S + (1 - row) * SIZE
        cells.append(Cell(code, f"Grid {n + 1:03d}", box(x, y, x + SIZE, y + SIZE),
                          "Gulou District", "Xiangguo Street", "Shudian Community", worker=f"worker-{n + 1}"))
    return Grid(cells, {"name": "maps test grid"})


def centre(code: str) -> tuple[float, float]:
    """(lat, lon) of a cell's centre."""
    point = small_grid().by_code[code].geometry.centroid
    return point.y, point.x


DEVICES = [
    # Corners, not centres: the browser test samples cell colours at the centres.
    Device("aq-1", DeviceKind.SENSOR, S + 2 * SIZE - 0.0003, W + 0.0003, metrics=("pm25", "noise_db"), cell_code=A,
           status=DeviceStatus.ONLINE, name="Gate sensor", registered_at=T0 - 3600, last_seen=T0 + 300),
    Device("aq-2", DeviceKind.SENSOR, S + 0.0003, W + SIZE + 0.0003, metrics=("pm25",), cell_code=E,
           registered_at=T0 - 3600),
    Device("cam-1", DeviceKind.CAMERA, S + 2 * SIZE - 0.0003, W + SIZE + 0.0003, cell_code=B,
           status=DeviceStatus.ONLINE, registered_at=T0 - 3600),
]


def fill_store(store) -> None:
    store.put_grid(small_grid())
    store.put_devices(DEVICES)
    readings = [Reading("aq-1", "pm25", T0 + i * 60, 20.0 + i, A) for i in range(10)]
    readings += [Reading("aq-1", "noise_db", T0 + i * 60, 55.0, A) for i in range(10)]
    readings += [Reading("aq-2", "pm25", T0 + i * 60, 90.0, E) for i in range(3)]
    store.write_readings(readings)
    store.put_cell_states([
        CellState(A, Level.NORMAL, {"pm25": 29.0, "noise_db": 55.0}, T0 + 540, 0),
        CellState(E, Level.WARNING, {"pm25": 90.0}, T0 + 120, 1),
    ])
    store.write_anomalies([
        Anomaly("an-1", "pm25_high", "opened", Level.WARNING, E, "aq-2", "threshold", T0 + 60,
                "PM2.5 90 ug/m3 is above the warning threshold 75", metric="pm25", value=90.0, threshold=75.0),
        Anomaly("an-2", "noise_db_high", "opened", Level.WARNING, A, "aq-1", "threshold", T0 + 100,
                "Noise 72 dB(A) is above the warning threshold 70", metric="noise_db", value=72.0, threshold=70.0),
        Anomaly("an-2", "noise_db_high", "cleared", Level.WARNING, A, "aq-1", "threshold", T0 + 200,
                "Noise is back under 67 dB(A)", metric="noise_db", value=60.0, threshold=70.0),
    ])


@contextmanager
def serving(app, host: str = "127.0.0.1"):
    """The app under uvicorn in a thread of its own; yields the base URL."""
    server = WebServer(app, host, free_port(host))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://{host}:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "uvicorn did not stop"


def publish(broker, topic: str, payload: dict, retain: bool = False) -> None:
    """Publish one QoS 1 message and wait until the broker has it."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(topic, orjson.dumps(payload), qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()


def state_message(settings: Settings, code: str, level: Level, values: dict, ts: float) -> tuple[str, dict]:
    """Topic and CloudEvent of a cell state, exactly as the gateway publishes them."""
    cell = small_grid().by_code[code]
    event = cell_state_event(CellState(code, level, values, ts, 0), cell, "gridtwin/gateway/gw-1", ts)
    return f"{settings.mqtt.prefix}/cells/{cell.district}/{code}/state", event


async def wait_until(predicate, timeout: float = 5.0, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


class SSEReader:
    """Reads a text/event-stream response: events as (name, data), comment lines as (":", text)."""

    def __init__(self, response):
        self.response = response
        self.lines = response.aiter_lines()
        self.retry: int | None = None

    async def next(self, timeout: float = 5.0) -> tuple[str, object]:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> tuple[str, object]:
        event, data = "message", []
        async for line in self.lines:
            if line.startswith(":"):
                return ":", line[1:].strip()
            if line.startswith("retry:"):
                self.retry = int(line[6:])
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                return event, orjson.loads("\n".join(data))
        raise EOFError("the stream ended")


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a Prometheus text exposition (labels in any order), None if absent."""
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


# The pages keep their state in an export of their module; a test reads it through that export (the pages
# define no globals). Importing the module the page loaded gives the page's own instance.
PAGE_MODULES = {
    "map": ("/static/gridtwin/js/map.js", "view"),
    "wall": ("/static/gridtwin/js/ops/wall.js", "wall"),
    "console": ("/static/gridtwin/js/ops/console.js", "desk"),
    "worker": ("/static/gridtwin/js/ops/worker.js", "crew"),
    "kpi": ("/static/gridtwin/js/ops/kpi.js", "board"),
    "technician": ("/static/gridtwin/js/technician.js", "tech"),
}
# The standalone snapshot loads its module from a data: URL, named in its one module script.
SNAPSHOT_MODULE = "document.querySelector('script[type=module]').textContent.match(/\"(data:[^\"]+)\"/)[1]"


def _module(name: str) -> tuple[str, str]:
    """(where the page's module is, as JavaScript; the name of its state's export); "snapshot": the
    standalone map's."""
    url, export = PAGE_MODULES.get(name, (None, "view"))
    return (SNAPSHOT_MODULE if url is None else repr(url)), export


def on_page(name: str, expression: str) -> str:
    """An async function for page.evaluate that returns `expression`, in which the state of page `name`
    goes by its export's name (map: view, wall: wall, console: desk, worker: crew, kpi: board, technician:
    tech), e.g. page.evaluate(on_page("wall", "wall.scope"))."""
    where, export = _module(name)
    return f"async () => {{ const {{ {export} }} = await import({where}); return ({expression}); }}"


def page_state(page, name: str):
    """A handle to the state of page `name`, to pass as the `arg` of evaluate and wait_for_function."""
    where, export = _module(name)
    return page.evaluate_handle(f"async () => (await import({where})).{export}")


def wait_on_page(page, name: str, expression: str, **options) -> None:
    """Wait until `expression` (as in on_page) holds. wait_for_function does not await a promise, so its
    predicate gets the state as its argument rather than importing it."""
    page.wait_for_function(f"({_module(name)[1]}) => ({expression})", arg=page_state(page, name), **options)


async def wait_on_page_async(page, name: str, expression: str, **options) -> None:
    """wait_on_page for async Playwright."""
    where, export = _module(name)
    state = await page.evaluate_handle(f"async () => (await import({where})).{export}")
    await page.wait_for_function(f"({export}) => ({expression})", arg=state, **options)
