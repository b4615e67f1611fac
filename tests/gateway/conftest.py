"""Gateway test fixtures: a small grid, a real SQLite store, registered devices, a running gateway
on the real Mosquitto, and a subscriber that records what the gateway publishes."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from contextlib import asynccontextmanager

import orjson
import paho.mqtt.client as mqtt
import pytest
from shapely.geometry import box

from gateway import Gateway
from twin.config import Settings
from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.grid.cells import Cell, Grid
from twin.store import open_store

# Four 0.01-degree cells: A B on top (north), C D below; codes west->east, north->south.
CELLS = {
    "410204001001001": box(114.33, 34.79, 114.34, 34.80),
    "410204001001002": box(114.34, 34.79, 114.35, 34.80),
    "410204001001003": box(114.33, 34.78, 114.34, 34.79),
    "410204001001004": box(114.34, 34.78, 114.35, 34.79),
}
A, B, C, D = CELLS


def small_grid() -> Grid:
    return Grid([Cell(code, f"Grid {code[-3:]}", geom, "Gulou District", "Street 01", "Community 01")
                 for code, geom in CELLS.items()], {"name": "test grid"})


DEVICES = [
    Device("aq-1", DeviceKind.SENSOR, 34.795, 114.335, metrics=("pm25", "noise_db"), cell_code=A),
    Device("aq-2", DeviceKind.SENSOR, 34.785, 114.345, metrics=("pm25",), cell_code=D),
    Device("mob-1", DeviceKind.SENSOR, None, None, metrics=("pm25",), mobile=True),
    Device("cam-1", DeviceKind.CAMERA, 34.795, 114.345, cell_code=B),
    Device("off-1", DeviceKind.SENSOR, 34.785, 114.335, metrics=("pm25",), cell_code=C, status=DeviceStatus.DISABLED),
]


class Recorder:
    """A paho subscriber that records (topic, payload, retain) of everything it receives."""

    def __init__(self, broker, topic_filter: str):
        self.messages: list[tuple[str, bytes, bool]] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"rec-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topic_filter, qos=1)
        self.client.loop_start()
        assert subscribed.wait(5), "subscription not acknowledged"

    def _on_message(self, client, userdata, message):
        with self._cond:
            self.messages.append((message.topic, message.payload, bool(message.retain)))
            self._cond.notify_all()

    def json(self, prefix: str = "") -> list[tuple[str, dict]]:
        with self._cond:
            return [(t, orjson.loads(p)) for t, p, _ in self.messages if t.startswith(prefix)]

    async def wait_for(self, predicate, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m for m in self.json() if predicate(*m)]
            if found:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching message within {timeout} s; got {[t for t, _ in self.json()]}")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


class Publisher:
    def __init__(self, broker):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def send(self, topic: str, payload, qos: int = 1, retain: bool = False):
        if not isinstance(payload, (bytes, str)):
            payload = orjson.dumps(payload)
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def twin_store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/twin.db")
    store.migrate()
    grid = small_grid()
    store.put_grid(grid)
    store.put_devices(DEVICES)
    yield store, grid
    store.close()


@asynccontextmanager
async def gateway_running(settings: Settings, store, grid, *, stop_timeout: float = 10.0, **kwargs):
    """A Gateway on `store`, running until the block ends; then stopped, and its run awaited."""
    async with Gateway(settings, store, grid, **kwargs) as gw:
        stop = asyncio.Event()
        task = asyncio.create_task(gw.run(stop))
        try:
            yield gw
        finally:
            stop.set()
            await asyncio.wait_for(task, stop_timeout)


@asynccontextmanager
async def running_gateway(broker, store, grid, adapters: dict | None = None, **gateway_settings):
    """A gateway on `broker` and `store`; `adapters` is the `[adapters]` settings (enabled, options)."""
    prefix = f"t{uuid.uuid4().hex[:6]}/v1"  # own topic tree: the session broker is shared
    settings = Settings().replace(
        mqtt={"host": broker.host, "port": broker.port, "prefix": prefix, "client_id": f"gw-{uuid.uuid4().hex[:8]}"},
        store={"url": store.url},
        gateway={"state_publish_interval": 0.2, **gateway_settings},
        adapters=adapters or {},
    )
    async with gateway_running(settings, store, grid) as gw:
        yield gw


async def wait_until(predicate, timeout: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout} s")
