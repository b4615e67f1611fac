"""Play a scenario in simulated time: a stepped clock, every device's readings and camera events
due in each step published in time order, faults applied, and (optionally) a wait after each
step until the receiver has taken everything sent so far.

    world = build_world(load_scenario("rainstorm.toml"))
    async with MqttLink(settings.mqtt, world.devices) as link:
        stats = await ScenarioPlayer(world, link, step_s=60, barrier=gateway_caught_up).run()

Unlike `Simulator` (wall-clock schedules, one task per device), the player decides everything
from simulated time and seeds, so the same scenario publishes the same messages, in the same
order per device, however fast the machine is. With `speed` 0 it goes as fast as the receiver
keeps up; with `speed` X it plays X simulated seconds per wall second at most.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import asdict, dataclass
from typing import Awaitable, Callable, Protocol

import orjson

from firmware_sim.behaviour import SensorModel, stable_seed
from firmware_sim.cameras import CameraModel
from firmware_sim.clock import format_ts
from firmware_sim.faults import FaultEffects
from firmware_sim.scenarios.build import World
from twin.devices.device import Device, DeviceKind
from twin.sensing.catalog import MetricCatalog

log = logging.getLogger(__name__)

MAX_UPLOAD = 1000  # readings in one buffered upload, the contract's limit


class Link(Protocol):
    """How the player reaches the receiver: one connection per device, with a last will."""

    sent: int  # messages the receiver will get because of us: publishes, births and wills

    async def connect(self, device_id: str) -> None:
        """(Re)connect the device and publish its retained `online` birth message."""

    def publish(self, device_id: str, kind: str, payload: bytes) -> None:
        """`kind` is "readings" or "camera"."""

    def drop(self, device_id: str) -> None:
        """The connection dies without DISCONNECT: the broker publishes the device's last will."""

    async def flush(self) -> None:
        """Return once everything published so far has reached the broker."""


@dataclass
class PlayerStats:
    steps: int = 0
    readings: int = 0
    messages: int = 0
    camera_events: int = 0
    duplicates: int = 0
    drops: int = 0
    simulated_s: float = 0.0
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class _Device:
    __slots__ = ("device", "interval", "model", "camera", "incidents", "faults", "next_t", "rng", "online",
                 "dead", "buffer", "held", "silent_connected")

    def __init__(self, device: Device, world: World, catalog: MetricCatalog, by_cell: dict):
        seed = world.scenario.seed
        self.device = device
        self.interval = world.intervals[device.id]
        self.rng = random.Random(stable_seed(seed, device.id, "player"))
        self.incidents = by_cell.get(device.cell_code, [])
        self.faults = FaultEffects([f for f in world.faults if f.device_id == device.id], catalog, seed)
        self.model = self.camera = None
        if device.kind is DeviceKind.CAMERA:
            self.camera = CameraModel(device, seed=seed)
        else:
            self.model = SensorModel(device.id, device.metrics, seed=seed, catalog=catalog, weather=world.weather,
                                     utc_offset_h=world.scenario.utc_offset_h)
        self.next_t = world.scenario.begin + self.rng.uniform(0.0, self.interval)
        self.online = True
        self.dead = False
        self.buffer: list[dict] = []
        self.held: list[tuple[float, bytes]] = []  # out of order: a message waiting for its successor
        self.silent_connected = False


class ScenarioPlayer:
    """Plays `world` through `link`; see the module docstring.

    `barrier(sent)`, when given, is awaited after each step with the number of messages the
    receiver should have by then; `clock`, when given, is set to each step's start (a scenario
    clock for a receiver in the same process); `progress(fraction)` is called now and then.
    """

    def __init__(self, world: World, link: Link, *, step_s: float = 60.0, speed: float = 0.0,
                 catalog: MetricCatalog | None = None, barrier: Callable[[int], Awaitable[None]] | None = None,
                 clock=None, progress: Callable[[float], None] | None = None):
        if step_s <= 0:
            raise ValueError(f"step must be positive, got {step_s}")
        if speed < 0:
            raise ValueError(f"speed must not be negative, got {speed}")
        self.world, self.link = world, link
        self.step_s, self.speed = float(step_s), float(speed)
        self.catalog = catalog or MetricCatalog.default()
        self.barrier, self.clock, self.progress = barrier, clock, progress
        by_cell: dict[str, list] = {}
        for incident in world.incidents:
            by_cell.setdefault(incident.cell_code, []).append(incident)
        self.devices = [_Device(d, world, self.catalog, by_cell) for d in sorted(world.devices, key=lambda d: d.id)]
        self.stats = PlayerStats()

    async def run(self) -> PlayerStats:
        scenario = self.world.scenario
        begin, end = scenario.begin, scenario.end
        started = time.monotonic()
        for dev in self.devices:
            await self.link.connect(dev.device.id)
        await self._settle()
        t, last_report = begin, -1.0
        while t < end:
            if self.clock is not None:
                self.clock.set(t)
            upto = min(t + self.step_s, end)
            out: list[tuple[float, str, str, bytes]] = []
            for dev in self.devices:
                await self._lifecycle(dev, t)
                if dev.camera is not None:
                    self._camera(dev, t, upto, out)
                else:
                    self._sensor(dev, upto, out)
            out.sort(key=lambda m: (m[0], m[1]))
            for _, device_id, kind, payload in out:
                self.link.publish(device_id, kind, payload)
            self.stats.messages += len(out)
            self.stats.steps += 1
            await self._settle()
            t = upto
            self.stats.simulated_s = t - begin
            if self.speed:
                ahead = (t - begin) / self.speed - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            fraction = (t - begin) / (end - begin)
            if self.progress is not None and fraction - last_report >= 0.05:
                last_report = fraction
                self.progress(fraction)
        self.stats.wall_s = round(time.monotonic() - started, 3)
        return self.stats

    async def _settle(self) -> None:
        await self.link.flush()
        if self.barrier is not None:
            await self.barrier(self.link.sent)

    # -- one device ----------------------------------------------------------------------------
    async def _lifecycle(self, dev: _Device, t: float) -> None:
        """Connections that drop and come back: dropouts with a last will, and flat batteries."""
        faults = dev.faults
        if not faults or dev.dead:
            return
        if faults.dead(t):
            dev.dead = True
            if dev.online:
                dev.online = False
                self.link.drop(dev.device.id)
                self.stats.drops += 1
            return
        dropout = faults.silent(t)
        if dropout is not None and dropout.will and dev.online:
            dev.online = False
            self.link.drop(dev.device.id)
            self.stats.drops += 1
        elif dropout is None and not dev.online:
            await self.link.connect(dev.device.id)
            dev.online = True
            self._upload(dev)

    def _upload(self, dev: _Device) -> None:
        """After an outage, what the device measured meanwhile goes up in arrays."""
        while dev.buffer:
            chunk, dev.buffer = dev.buffer[:MAX_UPLOAD], dev.buffer[MAX_UPLOAD:]
            self.link.publish(dev.device.id, "readings", orjson.dumps(chunk))
            self.stats.messages += 1

    def _sensor(self, dev: _Device, upto: float, out: list) -> None:
        faults = dev.faults
        while dev.next_t < upto:
            t = dev.next_t
            dev.next_t += dev.interval * dev.rng.uniform(0.98, 1.02)
            if dev.dead:
                continue
            dropout = faults.silent(t) if faults else None
            if dropout is not None and not dropout.will:
                continue  # hung firmware: connected, measuring nothing
            reading = dev.model.reading(t, dev.incidents)
            if faults:
                faults.reading(t, reading, dev.interval)
            reading = {"ts": format_ts(faults.timestamp(t) if faults else t), **reading}
            self.stats.readings += 1
            if not dev.online:
                dev.buffer.append(reading)
                continue
            payload = orjson.dumps(reading)
            if faults and faults.swaps(t) and not dev.held:
                dev.held.append((t, payload))  # leaves after the next one
                continue
            out.append((t, dev.device.id, "readings", payload))
            for held_t, held in dev.held:
                out.append((t + 1e-6, dev.device.id, "readings", held))
            dev.held.clear()
            if faults and faults.copies(t) > 1:
                out.append((t + 2e-6, dev.device.id, "readings", payload))
                self.stats.duplicates += 1

    def _camera(self, dev: _Device, t: float, upto: float, out: list) -> None:
        if dev.dead or not dev.online:
            return
        # A camera looks at its scene once per step, at its own moment within the step.
        when = t + (stable_seed(dev.device.id) % 1000) / 1000.0 * (upto - t)
        for event in dev.camera.events(when, dev.incidents):
            payload = {"ts": format_ts(dev.faults.timestamp(when) if dev.faults else when), **event}
            out.append((when, dev.device.id, "camera", orjson.dumps(payload)))
            self.stats.camera_events += 1
