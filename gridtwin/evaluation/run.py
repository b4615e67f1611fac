"""Run a scenario end to end and collect what detection made of it.

`run_through_gateway`: the real thing. Every device has its own MQTT connection to a real broker
(with its last will), the gateway runs on a throwaway SQLite store with a clock that follows the
stream, and after each simulated step the player waits until the gateway has taken in everything
sent so far: the messages and their order per device do not depend on the machine's speed.

`run_in_process`: the same player feeding a gateway Pipeline directly (no broker, no store),
for quick checks and tests of detection itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

from firmware_sim.player import ScenarioPlayer
from firmware_sim.scenarios import World
from gateway.streamclock import StreamClock
from mqttwire.packets import Inbound
from twin.config import Settings
from twin.sensing.anomalies import Anomaly

log = logging.getLogger(__name__)

STALL_S = 20.0  # the gateway took nothing in for this long: go on, and say so


@dataclass
class RunResult:
    anomalies: list[Anomaly]
    player: dict
    gateway: dict = field(default_factory=dict)
    cases: dict = field(default_factory=dict)
    wall_s: float = 0.0


def evaluation_settings(settings: Settings, step_s: float) -> Settings:
    """Detection waits a step and a half more before deciding, for data of the step under way."""
    return settings.replace(detection={"settle_s": max(settings.detection.settle_s, 1.5 * step_s)})


async def run_through_gateway(world: World, settings: Settings, store, *, step_s: float = 60.0, speed: float = 0.0,
                              scenario_clock: bool = False, progress=None) -> RunResult:
    """Play `world` through the broker in `settings.mqtt` and a gateway on `store` (migrated, empty)."""
    from firmware_sim.links import MqttLink
    from gateway import Gateway
    from twin.devices.registry import register_devices

    started = time.monotonic()
    report = await asyncio.to_thread(register_devices, store, world.grid, world.devices, now=world.scenario.begin)
    if not report.ok:
        raise RuntimeError(f"registering the scenario's devices failed: {report.refused[:3]}")
    settings = evaluation_settings(settings, step_s)
    clock = StreamClock(start=world.scenario.begin)
    async with Gateway(settings, store, world.grid, clock=clock, client_id=f"eval-gw-{uuid.uuid4().hex[:8]}") as gw:
        stop = asyncio.Event()
        task = asyncio.create_task(gw.run(stop), name="evaluate-gateway")

        async def barrier(sent: int) -> None:
            last, since = -1, time.monotonic()
            while gw.pipeline.stats.resolved < sent:
                if task.done():
                    task.result()
                    raise RuntimeError("the gateway stopped during the scenario")
                resolved = gw.pipeline.stats.resolved
                if resolved != last:
                    last, since = resolved, time.monotonic()
                elif time.monotonic() - since > STALL_S:
                    log.warning("the gateway took in %d of %d messages and nothing more for %.0f s; going on",
                                resolved, sent, STALL_S)
                    return
                await asyncio.sleep(0.001)

        try:
            async with MqttLink(settings.mqtt, world.devices, client_prefix=f"eval-{uuid.uuid4().hex[:4]}") as link:
                player = ScenarioPlayer(world, link, step_s=step_s, speed=speed, catalog=settings.metrics,
                                        barrier=barrier, clock=clock if scenario_clock else None,
                                        progress=progress)
                stats = await player.run()
            # Decisions waiting for data of the last step are taken: the stream's clock moves to the end.
            clock.set(world.scenario.end + settings.detection.settle_s)
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
        summary = gw.summary()
    anomalies = await asyncio.to_thread(store.anomalies, limit=10_000_000)
    cases = await asyncio.to_thread(_cases, store, anomalies)
    return RunResult(anomalies, stats.to_dict(), summary, cases, round(time.monotonic() - started, 1))


def _cases(store, anomalies: list[Anomaly]) -> dict:
    from twin.cases.workflow import CaseQuery

    _, total = store.find_cases(CaseQuery())
    health_ids = [a.id for a in anomalies if not a.is_incident and a.status == "opened"]
    linked = store.cases_of_anomalies(health_ids) if health_ids else {}
    return {"total": total, "from_health_alerts": len(set(linked.values()))}


class DirectLink:
    """The player's messages straight into a Pipeline, batch by batch, as the gateway would."""

    def __init__(self, pipeline, prefix: str, clock: StreamClock, batch: int = 500):
        self.pipeline, self.prefix, self.clock, self.batch = pipeline, prefix.rstrip("/"), clock, batch
        self.sent = 0
        self.inbox: list[Inbound] = []
        self.anomalies: list[Anomaly] = []

    async def connect(self, device_id: str) -> None:
        self.inbox.append(Inbound(f"{self.prefix}/status/{device_id}", b"online", time.time(), retain=True))
        self.sent += 1

    def publish(self, device_id: str, kind: str, payload: bytes) -> None:
        topic = f"{self.prefix}/camera/{device_id}/events" if kind == "camera" else f"{self.prefix}/readings/{device_id}"
        self.inbox.append(Inbound(topic, payload, time.time()))
        self.sent += 1

    def drop(self, device_id: str) -> None:
        self.inbox.append(Inbound(f"{self.prefix}/status/{device_id}", b"offline", time.time(), retain=True))
        self.sent += 1

    async def flush(self) -> None:
        inbox, self.inbox = self.inbox, []
        for i in range(0, len(inbox), self.batch):
            decoded = self.pipeline.decode(inbox[i:i + self.batch])
            self.clock.observe(decoded)
            self.anomalies += self.pipeline.resolve(decoded, self.clock()).anomalies
        self.anomalies += self.pipeline.tick(self.clock()).anomalies


async def run_in_process(world: World, settings: Settings | None = None, *, step_s: float = 60.0) -> RunResult:
    from gateway.pipeline import Pipeline

    started = time.monotonic()
    settings = evaluation_settings(settings or Settings(), step_s)
    pipeline = Pipeline(settings, world.grid, {d.id: d for d in world.devices})
    clock = StreamClock(start=world.scenario.begin)
    link = DirectLink(pipeline, settings.mqtt.prefix, clock)
    stats = await ScenarioPlayer(world, link, step_s=step_s, catalog=settings.metrics).run()
    clock.set(world.scenario.end + settings.detection.settle_s)
    link.anomalies += pipeline.tick(clock()).anomalies
    s = pipeline.stats
    return RunResult(link.anomalies, stats.to_dict(),
                     {"messages": s.messages, "readings": s.readings, "dead_letters": dict(s.dead_letters),
                      "anomalies_opened": s.anomalies_opened}, {}, round(time.monotonic() - started, 1))
