"""The simulator against a real Mosquitto: births and wills, payloads, camera events, reconnects."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import datetime

import orjson
import pytest
import shapely

from firmware_sim import AcceleratedClock, Incident, SimError, Simulator, make_fleet
from firmware_sim.movement import grid_area
from tests.firmware_sim.common import Collector, unique
from twin.config import MqttSettings
from twin.contract.schemas import validate
from twin.devices.device import Device, DeviceKind
from twin.sensing.catalog import MetricCatalog

CATALOG = MetricCatalog.default()


def mqtt_for(broker, prefix: str | None = None) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, prefix=prefix or unique("sim"))


def device_of(topic: str) -> str:
    return topic.split("/")[-1] if "/camera/" not in topic else topic.split("/")[-2]


def readings_by_device(messages) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for topic, payload, _ in messages:
        if "/readings/" in topic:
            data = orjson.loads(payload)
            out[device_of(topic)].extend(data if isinstance(data, list) else [data])
    return out


def parse_ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_birth_is_retained_and_a_clean_shutdown_publishes_nothing_more(mosquitto, grid):
    mqtt = mqtt_for(mosquitto)
    fleet = make_fleet(grid, sensors=3, cameras=1, seed=11)
    status = f"{mqtt.prefix}/status/#"
    async with Collector(mosquitto, status) as live:
        async with Simulator(mqtt, fleet, interval=0.2, grid=grid) as sim:
            await sim.run(0.5)
        await asyncio.sleep(0.3)
    assert sorted((t, p) for t, p, _ in live.messages) == sorted(
        (f"{mqtt.prefix}/status/{d.id}", b"online") for d in fleet
    )
    async with Collector(mosquitto, status) as late:
        await late.wait_for(lambda m: len(m) == len(fleet))
    assert all(retain and payload == b"online" for _, payload, retain in late.messages)
    assert sim.stats.connect_s is not None and sim.stats.connected == 0


async def test_a_device_that_loses_power_leaves_its_will(mosquitto, grid):
    mqtt = mqtt_for(mosquitto)
    fleet = make_fleet(grid, sensors=3, cameras=0, seed=12)
    victim = fleet[0].id
    async with Collector(mosquitto, f"{mqtt.prefix}/#") as sub:
        async with Simulator(mqtt, fleet, interval=0.1, grid=grid) as sim:
            running = asyncio.create_task(sim.run())
            await sub.wait_for(lambda m: len(readings_by_device(m)) == 3)
            sim.kill(victim)
            await sub.wait_for(lambda m: b"offline" in sub.on(f"{mqtt.prefix}/status/{victim}"))
            silent_from = len(sub.on(f"{mqtt.prefix}/readings/{victim}"))
            others_from = len(sub.on(f"{mqtt.prefix}/readings/{fleet[1].id}"))
            await asyncio.sleep(0.5)
            sim.stop()
            await running
    assert len(sub.on(f"{mqtt.prefix}/readings/{victim}")) == silent_from
    assert len(sub.on(f"{mqtt.prefix}/readings/{fleet[1].id}")) > others_from
    async with Collector(mosquitto, f"{mqtt.prefix}/status/#") as late:
        await late.wait_for(lambda m: len(m) == 3)
    retained = {device_of(t): p for t, p, _ in late.messages}
    assert retained == {victim: b"offline", fleet[1].id: b"online", fleet[2].id: b"online"}


async def test_readings_follow_the_contract_with_increasing_seq(mosquitto, grid):
    mqtt = mqtt_for(mosquitto)
    fleet = make_fleet(grid, sensors=8, cameras=0, mobile=2, seed=13)
    async with Collector(mosquitto, f"{mqtt.prefix}/readings/#") as sub:
        async with Simulator(mqtt, fleet, interval=0.15, grid=grid) as sim:
            await sim.run(1.0)
        await sub.wait_for(lambda m: len(m) >= sim.stats.messages)
    readings = readings_by_device(sub.messages)
    area = grid_area(grid)
    assert set(readings) == {d.id for d in fleet}
    for device in fleet:
        got = readings[device.id]
        assert len(got) >= 4
        assert [r["seq"] for r in got] == list(range(len(got)))
        times = [parse_ts(r["ts"]) for r in got]
        assert times == sorted(times) and abs(times[-1] - time.time()) < 5
        for r in got:
            validate("reading", r)
            assert set(r) == {"ts", "seq", "values", "battery"} | ({"loc"} if device.mobile else set())
            assert tuple(r["values"]) == device.metrics
            for name, value in r["values"].items():
                metric = CATALOG[name]
                assert isinstance(value, bool) if metric.kind == "bool" else metric.in_range(value)
            assert 0.0 <= r["battery"] <= 1.0
        if device.mobile:
            lon = [r["loc"]["lon"] for r in got]
            lat = [r["loc"]["lat"] for r in got]
            assert shapely.contains_xy(area, lon, lat).all()
            assert len(set(zip(lon, lat))) > 1
    assert sim.stats.readings == sum(len(r) for r in readings.values())


async def test_camera_events_pair_start_and_end_and_sensors_pass_critical(mosquitto, grid):
    mqtt = mqtt_for(mosquitto)
    cams = make_fleet(grid, sensors=0, cameras=3, seed=14)
    crowd_cam, fire_cam, quiet_cam = cams
    noise = Device("ns-0900", DeviceKind.SENSOR, crowd_cam.lat, crowd_cam.lon, metrics=("noise_db",),
                   cell_code=crowd_cam.cell_code)
    now = time.time()
    incidents = [
        Incident("crowding", crowd_cam.cell_code, now + 0.3, now + 1.0),
        Incident("fire", fire_cam.cell_code, now + 0.3, now + 1.0),
    ]
    async with Collector(mosquitto, f"{mqtt.prefix}/camera/+/events", f"{mqtt.prefix}/readings/#") as sub:
        async with Simulator(mqtt, [*cams, noise], interval=0.1, grid=grid, incidents=incidents) as sim:
            await sim.run(1.5)
        await sub.wait_for(lambda m: len(m) >= sim.stats.messages + sim.stats.camera_events)
    events: dict[str, list[dict]] = defaultdict(list)
    for topic, payload, _ in sub.messages:
        if topic.endswith("/events"):
            event = orjson.loads(payload)
            validate("camera-event", event)
            events[device_of(topic)].append(event)
    assert quiet_cam.id not in events
    assert sorted(e["type"] for e in events[crowd_cam.id]) == ["crowding", "crowding"]
    assert sorted(e["type"] for e in events[fire_cam.id]) == ["fire", "fire", "smoke", "smoke"]
    for camera_events in events.values():
        by_id = defaultdict(list)
        for e in camera_events:
            by_id[e["event_id"]].append(e)
        for pair in by_id.values():
            assert [e["state"] for e in pair] == ["start", "end"]
            assert pair[0]["type"] == pair[1]["type"] and 0.8 <= pair[0]["confidence"] <= 0.98
            assert parse_ts(pair[0]["ts"]) >= incidents[0].start - 0.01
            assert parse_ts(pair[1]["ts"]) >= incidents[0].end - 0.01
    assert sim.stats.camera_events == 6
    levels = [(parse_ts(r["ts"]), r["values"]["noise_db"]) for r in readings_by_device(sub.messages)[noise.id]]
    during = [v for t, v in levels if incidents[0].active(t)]
    before = [v for t, v in levels if t < incidents[0].start]
    assert during and all(v >= CATALOG["noise_db"].critical for v in during)
    assert before and all(v < CATALOG["noise_db"].warning for v in before)


async def test_batch_upload_sends_arrays_of_readings(mosquitto, grid):
    mqtt = mqtt_for(mosquitto)
    fleet = make_fleet(grid, sensors=2, cameras=0, seed=15)
    async with Collector(mosquitto, f"{mqtt.prefix}/readings/#") as sub:
        async with Simulator(mqtt, fleet, interval=0.05, grid=grid, batch_upload=True, batch_size=3) as sim:
            await sim.run(0.8)
        await sub.wait_for(lambda m: len(m) >= sim.stats.messages)
    arrays = [orjson.loads(p) for _, p, _ in sub.messages]
    assert arrays and all(isinstance(a, list) and len(a) == 3 for a in arrays)
    for a in arrays:
        validate("reading-batch", a)
    for device_readings in readings_by_device(sub.messages).values():
        assert [r["seq"] for r in device_readings] == list(range(len(device_readings)))
    assert sim.stats.readings == 3 * sim.stats.messages


async def test_devices_reconnect_and_upload_what_they_measured_offline(fresh_mosquitto, grid):
    broker = fresh_mosquitto
    mqtt = mqtt_for(broker, prefix="gridtwin/v1")
    fleet = make_fleet(grid, sensors=4, cameras=0, seed=16)
    topic = f"{mqtt.prefix}/readings/#"
    messages = []
    async with Simulator(mqtt, fleet, interval=0.1, grid=grid) as sim:
        sub = await Collector(broker, topic, identifier="collector", clean_session=False).__aenter__()
        running = asyncio.create_task(sim.run())  # after the subscription: no reading may be missed
        await sub.wait_for(lambda m: len(readings_by_device(m)) == 4)
        await sub.__aexit__(None, None, None)
        messages += sub.messages
        await asyncio.to_thread(broker.stop)
        await asyncio.sleep(0.8)  # the devices go on measuring into their buffers
        assert sim.stats.connected == 0
        await asyncio.to_thread(broker.start)
        # The same persistent session: what arrived while no collector was connected is queued for it.
        async with Collector(broker, topic, identifier="collector", clean_session=False) as sub:
            await sub.wait_for(lambda m: sim.stats.reconnects == 4 and any(p.startswith(b"[") for _, p, _ in m), 10)
            await sub.wait_for(lambda m: all(len(r) >= 3 for r in readings_by_device(m).values()) and len(readings_by_device(m)) == 4)
        messages += sub.messages
        sim.stop()
        await running
    assert sim.stats.connect_failures >= 1
    for device_id, readings in readings_by_device(messages).items():
        seqs = {r["seq"] for r in readings}
        assert seqs == set(range(max(seqs) + 1)), f"{device_id} has gaps: {sorted(seqs)}"


async def test_a_few_hundred_devices_connect_and_publish(mosquitto, grid):
    mqtt = mqtt_for(mosquitto)
    fleet = make_fleet(grid, sensors=280, cameras=20, seed=17)
    async with Collector(mosquitto, f"{mqtt.prefix}/#") as sub:
        async with Simulator(mqtt, fleet, interval=1.0, grid=grid) as sim:
            await sim.run(2.2)
        await sub.wait_for(lambda m: len(m) >= len(fleet) + sim.stats.messages, 10)
    births = {device_of(t) for t, p, _ in sub.messages if "/status/" in t and p == b"online"}
    assert births == {d.id for d in fleet}
    readings = readings_by_device(sub.messages)
    assert len(readings) == 280 and all(len(r) >= 1 for r in readings.values())
    assert sum(len(r) for r in readings.values()) >= 280 * 1.5
    assert sim.stats.connect_failures == 0 and sim.stats.connect_s < 2.0


async def test_misuse_is_reported(mosquitto, grid):
    fleet = make_fleet(grid, sensors=1, cameras=0)
    with pytest.raises(SimError, match="unique"):
        Simulator(mqtt_for(mosquitto), fleet + fleet)
    with pytest.raises(SimError, match="interval"):
        Simulator(mqtt_for(mosquitto), fleet, interval=0)
    with pytest.raises(SimError, match="no metrics"):
        Simulator(mqtt_for(mosquitto), [Device("x-1", DeviceKind.SENSOR, 34.79, 114.34)])
    sim = Simulator(mqtt_for(mosquitto), fleet, interval=0.1)
    with pytest.raises(SimError, match="async with"):
        await sim.run(0.1)
    async with sim:
        await sim.run(0.1)
        with pytest.raises(SimError, match="runs once"):
            await sim.run(0.1)


async def test_accelerated_clock_stamps_simulated_time_and_qos0_works(mosquitto, grid):
    mqtt = mqtt_for(mosquitto)
    fleet = make_fleet(grid, sensors=2, cameras=0, seed=18)
    start = 1795881600.0  # a local midnight, far from now
    clock = AcceleratedClock(start, speed=3600)  # an hour per second
    async with Collector(mosquitto, f"{mqtt.prefix}/readings/#") as sub:
        async with Simulator(mqtt, fleet, interval=0.1, qos=0, clock=clock, grid=grid) as sim:
            await sim.run(0.7)
        await sub.wait_for(lambda m: len(m) >= sim.stats.messages)
    by_device = readings_by_device(sub.messages)
    assert set(by_device) == {d.id for d in fleet}  # both devices are checked below, none skipped
    for readings in by_device.values():
        times = [parse_ts(r["ts"]) for r in readings]
        assert len(times) >= 4 and start <= times[0] < start + 3600
        steps = [b - a for a, b in zip(times, times[1:])]
        # 0.1 s (+-10 %) of wall time is 360 simulated seconds; a busy machine may only delay a tick.
        assert min(steps) > 300 and 320 < sum(steps) / len(steps) < 700, steps
