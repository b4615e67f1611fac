"""The simulator: every device its own MQTT connection, publishing on its own jittered schedule.

    async with Simulator(settings.mqtt, devices, interval=10.0, grid=grid) as sim:
        await sim.run(duration=60)
    print(sim.stats)

Each device connects as `dev-{id}` with a retained last will `offline` on
`{prefix}/status/{id}`, publishes a retained `online` there at QoS 1, then
readings on `{prefix}/readings/{id}` (cameras: events on
`{prefix}/camera/{id}/events`). Start times are spread over one interval, so
the fleet publishes about `len(devices) / interval` messages per second.
A device that loses its broker keeps measuring into a buffer, reconnects
with exponential backoff and uploads the buffer as one JSON array. Leaving
the context sends DISCONNECT: the broker discards the wills and keeps the
retained `online`, and nothing else is published.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import resource
from collections import deque
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping, Sequence

import orjson
import shapely

from firmware_sim.behaviour import DEFAULT_UTC_OFFSET_H, SensorModel, Weather, stable_seed
from firmware_sim.cameras import CameraModel
from firmware_sim.clock import Clock, RealClock, format_ts
from firmware_sim.errors import ConnectError, SimError
from firmware_sim.incidents import Incident
from firmware_sim.movement import RandomWalk, grid_area
from firmware_sim.mqtt import MqttClient, Will
from mqttwire.tls import client_context
from twin.config import MqttSettings
from twin.devices.device import Device, DeviceKind
from twin.sensing.catalog import MetricCatalog

log = logging.getLogger(__name__)

BACKOFF_MIN, BACKOFF_MAX = 0.5, 30.0
MAX_BUFFERED = 1000  # readings a device keeps while offline, and the most in one array (the contract's limit)
CAMERA_POLL_S = 2.0  # cameras look at their scene this often (wall seconds) and publish only on change


@dataclass
class SimStats:
    """What the simulator did. `readings` counts readings (a buffered array counts each one)."""

    devices: int = 0
    connected: int = 0
    readings: int = 0
    messages: int = 0
    camera_events: int = 0
    connect_failures: int = 0
    reconnects: int = 0
    dropped: int = 0  # readings lost because a device's offline buffer was full
    connect_s: float | None = None  # wall seconds until every device had connected once
    elapsed_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    RUNNING = "running"
    FINISHED = "finished"
    CLOSED = "closed"


def raise_open_files_limit() -> int:
    """Raise the soft limit of open files to the hard limit (one socket per device); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit from %d to %d: %s", soft, target, exc)
    return soft


class Simulator:
    """Runs `devices` against the broker of `mqtt`. An async context manager; not re-entrant.

    `interval` is wall seconds between two readings of a device (jittered by
    +-`jitter`); `clock` gives the simulated time of timestamps, daily patterns
    and incidents; `grid` bounds mobile devices' walks; `credentials` maps a
    device id to its (username, password) when devices have their own.
    """

    def __init__(
        self,
        mqtt: MqttSettings,
        devices: Iterable[Device],
        *,
        interval: float = 10.0,
        qos: int = 1,
        clock: Clock | None = None,
        incidents: Iterable[Incident] = (),
        batch_upload: bool = False,
        batch_size: int = 10,
        grid=None,
        seed: int = 0,
        catalog: MetricCatalog | None = None,
        credentials: Mapping[str, tuple[str, str | None]] | None = None,
        jitter: float = 0.1,
        keepalive: int = 60,
        connect_concurrency: int = 128,
        utc_offset_h: float = DEFAULT_UTC_OFFSET_H,
    ):
        if interval <= 0:
            raise SimError(f"interval must be positive, got {interval}")
        if qos not in (0, 1):
            raise SimError(f"qos must be 0 or 1, got {qos}")
        if not 1 <= batch_size <= MAX_BUFFERED:
            raise SimError(f"batch_size must be between 1 and {MAX_BUFFERED}, got {batch_size}")
        self.mqtt = mqtt
        self.devices: tuple[Device, ...] = tuple(devices)
        ids = [d.id for d in self.devices]
        if len(set(ids)) != len(ids):
            raise SimError("device ids must be unique")
        mute = [d.id for d in self.devices if d.kind is DeviceKind.SENSOR and not d.metrics]
        if mute:
            raise SimError(f"sensor(s) {', '.join(mute[:5])} have no metrics to report; give them metrics or leave them out")
        self.interval, self.qos, self.jitter = float(interval), qos, jitter
        self.clock: Clock = clock or RealClock()
        self.incidents: tuple[Incident, ...] = tuple(incidents)
        self.batch_upload, self.batch_size = batch_upload, batch_size
        self.grid, self.seed = grid, seed
        self.catalog = catalog or MetricCatalog.default()
        self.credentials = credentials or {}
        self.keepalive = keepalive
        self.connect_concurrency = connect_concurrency
        self.utc_offset_h = utc_offset_h
        self.stats = SimStats(devices=len(self.devices))
        self._state = _State.NEW
        self._runners: dict[str, _DeviceRunner] = {}
        self._stop: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._started = 0.0
        self._never_connected = 0
        self._failure_reported = False

    # -- lifetime ------------------------------------------------------------
    async def __aenter__(self) -> "Simulator":
        if self._state is not _State.NEW:
            raise SimError(f"simulator is {self._state.value}; create a new one")
        limit = raise_open_files_limit()
        if limit < len(self.devices) + 64:
            log.warning("open files limit %d is too low for %d devices; some will fail to connect", limit, len(self.devices))
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(self.connect_concurrency)
        tls = client_context(self.mqtt)
        weather = Weather(self.seed)
        area = self._walk_area()
        by_cell: dict[str, list[Incident]] = {}
        for incident in self.incidents:
            by_cell.setdefault(incident.cell_code, []).append(incident)
        for device in self.devices:
            username, password = self.credentials.get(device.id, (self.mqtt.username, self.mqtt.password))
            client = MqttClient(
                self.mqtt.host, self.mqtt.port, f"dev-{device.id}",
                keepalive=self.keepalive, clean_session=False,
                will=Will(self.topic("status", device.id), b"offline", qos=1, retain=True),
                username=username, password=password, ssl=tls,
            )
            self._runners[device.id] = _DeviceRunner(self, device, client, by_cell.get(device.cell_code, []), weather, area)
        self._never_connected = len(self.devices)
        self._state = _State.OPEN
        return self

    async def __aexit__(self, *exc_info) -> None:
        self._state = _State.CLOSED
        runners = [r for r in self._runners.values() if r.client.connected]
        await asyncio.gather(*(r.close() for r in runners), return_exceptions=True)

    def topic(self, kind: str, device_id: str) -> str:
        prefix = self.mqtt.prefix.rstrip("/")
        if kind == "camera":
            return f"{prefix}/camera/{device_id}/events"
        return f"{prefix}/{kind}/{device_id}"

    async def run(self, duration: float | None = None) -> SimStats:
        """Run every device until `duration` wall seconds have passed or `stop()` is called."""
        if self._state is not _State.OPEN:
            raise SimError(f"simulator is {self._state.value}; run() needs `async with Simulator(...)` and runs once")
        self._state = _State.RUNNING
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(r.run(), name=f"device {r.device.id}") for r in self._runners.values()]
                try:
                    await asyncio.wait_for(self._stop.wait(), duration)
                except asyncio.TimeoutError:
                    pass
                finally:
                    for task in tasks:
                        task.cancel()
        finally:
            self.stats.elapsed_s = round(loop.time() - self._started, 3)
            if self._state is _State.RUNNING:
                self._state = _State.FINISHED
        return self.stats

    def stop(self) -> None:
        """Ask `run()` to return; devices stay connected until the context is left."""
        if self._stop is not None:
            self._stop.set()

    def kill(self, device_id: str) -> None:
        """Fault: the device loses power. Its connection drops without DISCONNECT (the broker
        publishes its will) and it stays silent from then on."""
        runner = self._runners[device_id]
        runner.killed = True
        runner.client.abort()
        runner.wake()

    def client(self, device_id: str) -> MqttClient:
        return self._runners[device_id].client

    # -- for the runners -----------------------------------------------------
    def _connected(self, first: bool) -> None:
        self.stats.connected += 1
        if not first:
            self.stats.reconnects += 1
            return
        self._never_connected -= 1
        if self._never_connected == 0:
            self.stats.connect_s = round(asyncio.get_running_loop().time() - self._started, 3)
            log.info("all %d devices connected in %.2f s", len(self.devices), self.stats.connect_s)

    def _connect_failed(self, device: Device, exc: Exception) -> None:
        self.stats.connect_failures += 1
        # Thousands of devices fail alike when the broker is away: say it once, then only in debug.
        if not self._failure_reported:
            self._failure_reported = True
            log.warning("device %s: %s; devices keep retrying with backoff", device.id, exc)
        else:
            log.debug("device %s: %s", device.id, exc)

    def _walk_area(self):
        if not any(d.mobile for d in self.devices):
            return None
        if self.grid is not None and len(self.grid.cells):
            return grid_area(self.grid)
        points = [(d.lon, d.lat) for d in self.devices if d.lat is not None and d.lon is not None]
        area = shapely.envelope(shapely.multipoints(points)).buffer(0.005)
        shapely.prepare(area)
        return area


class _DeviceRunner:
    """One device's life: connect, publish on schedule, buffer and reconnect when the broker goes."""

    __slots__ = ("sim", "device", "client", "incidents", "rng", "model", "camera", "walk", "walk_t",
                 "buffer", "pending", "next_tick", "killed", "topic", "period", "waiter")

    def __init__(self, sim: Simulator, device: Device, client: MqttClient, incidents: Sequence[Incident],
                 weather: Weather, area):
        self.sim, self.device, self.client = sim, device, client
        self.incidents = incidents
        self.rng = random.Random(stable_seed(sim.seed, device.id, "schedule"))
        self.killed = False
        self.buffer: deque[dict] = deque()
        self.pending: list[dict] = []  # camera events waiting for a connection
        self.model: SensorModel | None = None
        self.camera: CameraModel | None = None
        self.walk: RandomWalk | None = None
        self.walk_t: float | None = None
        if device.kind is DeviceKind.CAMERA:
            self.camera = CameraModel(device, seed=sim.seed)
            self.topic = sim.topic("camera", device.id)
            self.period = min(sim.interval, CAMERA_POLL_S)
        else:
            self.model = SensorModel(device.id, device.metrics, seed=sim.seed, catalog=sim.catalog,
                                     weather=weather, utc_offset_h=sim.utc_offset_h)
            self.topic = sim.topic("readings", device.id)
            self.period = sim.interval
            if device.mobile and area is not None and device.lat is not None and device.lon is not None:
                self.walk = RandomWalk(device.lon, device.lat, area, self.rng)
        self.next_tick = 0.0
        self.waiter: asyncio.Future | None = None

    async def run(self) -> None:
        sim, client = self.sim, self.client
        loop = asyncio.get_running_loop()
        self.next_tick = loop.time() + self.rng.uniform(0.0, self.period)
        delay, first = BACKOFF_MIN, True
        while not self.killed:
            try:
                async with sim._slots:
                    await client.connect()
            except ConnectError as exc:
                sim._connect_failed(self.device, exc)
                await self._tick_until(loop.time() + delay * self.rng.uniform(0.5, 1.0))
                delay = min(delay * 2.0, BACKOFF_MAX)
                continue
            if self.killed:
                client.abort()
                break
            sim._connected(first)
            first = False
            connected_at = loop.time()
            client.closed.add_done_callback(self.wake)
            try:
                client.publish(sim.topic("status", self.device.id), b"online", qos=1, retain=True)
                self._flush()
                await self._tick_until(None)
            finally:
                sim.stats.connected -= 1
            if self.killed:
                break
            log.info("device %s lost its connection to %s:%d; reconnecting", self.device.id, client.host, client.port)
            # A connection that held a while earns a quick retry; one the broker keeps dropping backs off.
            if loop.time() - connected_at > BACKOFF_MAX:
                delay = BACKOFF_MIN
            await self._tick_until(loop.time() + delay * self.rng.uniform(0.5, 1.0))
            delay = min(delay * 2.0, BACKOFF_MAX)

    async def _tick_until(self, deadline: float | None) -> None:
        """Measure on schedule until `deadline` (loop time) or, when None, until the connection is lost."""
        loop = asyncio.get_running_loop()
        client = self.client
        closed = client.closed if client.connected else None
        while not self.killed:
            now = loop.time()
            if now >= self.next_tick:
                self._tick()
                self.next_tick += self.period * self.rng.uniform(1.0 - self.sim.jitter, 1.0 + self.sim.jitter)
                if self.next_tick < now:  # fell behind (a stalled loop): do not burst to catch up
                    self.next_tick = now + self.period
                if client.connected:
                    self._flush()
                continue
            if deadline is not None and now >= deadline:
                return
            if closed is not None and closed.done():
                return
            await self._sleep_until(self.next_tick if deadline is None else min(self.next_tick, deadline))

    async def _sleep_until(self, when: float) -> None:
        """Sleep until `when` (loop time), or until `wake()`: the connection is lost or the device killed.
        Cheaper than asyncio.wait() per tick, which matters with thousands of devices."""
        loop = asyncio.get_running_loop()
        self.waiter = waiter = loop.create_future()
        timer = loop.call_at(when, self.wake)
        try:
            await waiter
        finally:
            timer.cancel()
            self.waiter = None

    def wake(self, *_) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _tick(self) -> None:
        t = self.sim.clock.now()
        if self.camera is not None:
            for event in self.camera.events(t, self.incidents):
                self.pending.append({"ts": format_ts(t), **event})
            return
        reading = {"ts": format_ts(t), **self.model.reading(t, self.incidents)}
        if self.walk is not None:
            dt = 0.0 if self.walk_t is None else t - self.walk_t
            self.walk_t = t
            lon, lat = self.walk.step(dt)
            reading["loc"] = {"lat": round(lat, 7), "lon": round(lon, 7)}
        if len(self.buffer) >= MAX_BUFFERED:
            self.buffer.popleft()
            self.sim.stats.dropped += 1
        self.buffer.append(reading)

    def _flush(self) -> None:
        """Publish what is due: camera events one by one; readings singly, or as arrays when
        uploading in batches or after an outage."""
        sim, client = self.sim, self.client
        if self.pending:
            for event in self.pending:
                client.publish(self.topic, orjson.dumps(event), qos=sim.qos)
            sim.stats.camera_events += len(self.pending)
            self.pending.clear()
        buffer = self.buffer
        if not buffer or (sim.batch_upload and len(buffer) < sim.batch_size):
            return
        if len(buffer) == 1 and not sim.batch_upload:
            client.publish(self.topic, orjson.dumps(buffer[0]), qos=sim.qos)
            sim.stats.messages += 1
        else:
            client.publish(self.topic, orjson.dumps(list(buffer)), qos=sim.qos)
            sim.stats.messages += 1
        sim.stats.readings += len(buffer)
        buffer.clear()

    async def close(self) -> None:
        """Let outstanding QoS 1 messages be acknowledged (briefly), then DISCONNECT."""
        client = self.client
        pending = client.unacknowledged()
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        await client.disconnect()
