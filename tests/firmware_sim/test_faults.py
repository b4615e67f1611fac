"""Device faults on readings and publication, and the scenario player that applies them: the same
scenario publishes the same messages every time, and faulty devices misbehave as specified."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from firmware_sim.behaviour import Storm, Weather
from firmware_sim.faults import Fault, FaultEffects, spike_value
from firmware_sim.player import ScenarioPlayer
from firmware_sim.scenarios import build_world, loads_scenario
from twin.sensing.catalog import MetricCatalog

CATALOG = MetricCatalog.default()
T0 = 1_795_939_200.0


def readings(effects: FaultEffects, n: int, value: float = 20.0, metric: str = "noise_db", step: float = 300.0):
    out = []
    for i in range(n):
        reading = {"seq": i, "values": {metric: value + i * 0.1}, "battery": 0.9}
        out.append(effects.reading(T0 + i * step, reading, step))
    return out


def test_stuck_repeats_the_first_value_or_the_given_one():
    held = readings(FaultEffects([Fault("stuck", "ns-1", T0 + 600, T0 + 3000, metric="noise_db")], CATALOG), 12)
    values = [r["values"]["noise_db"] for r in held]
    assert values[2:10] == [20.2] * 8 and values[10] == 21.0  # from its start to its end
    given = readings(FaultEffects([Fault("stuck", "ns-1", T0, T0 + 900, metric="noise_db", value=92.0)], CATALOG), 4)
    assert [r["values"]["noise_db"] for r in given] == [92.0, 92.0, 92.0, 20.3]


def test_spikes_are_single_readings_about_every_every_s():
    effects = FaultEffects([Fault("spikes", "ns-1", T0, T0 + 86400, metric="noise_db", every_s=3600, size=1.5)],
                           CATALOG, seed=3)
    values = [r["values"]["noise_db"] for r in readings(effects, 288, value=50.0)]
    spikes = [i for i, v in enumerate(values) if v == spike_value(CATALOG["noise_db"], 1.5)]
    assert 16 <= len(spikes) <= 32  # a day at about one an hour
    assert all(b - a > 1 for a, b in zip(spikes, spikes[1:]))  # never two in a row
    assert spike_value(CATALOG["noise_db"], 1.5) == 127.5 and spike_value(CATALOG["bin_fill_pct"], 3) == 100.0


def test_drift_battery_clock_duplicates_and_order():
    drift = readings(FaultEffects([Fault("drift", "wl-1", T0, T0 + 7200, metric="water_level_cm", rate=3.0)], CATALOG),
                     4, value=1.0, metric="water_level_cm", step=1800)
    assert [r["values"]["water_level_cm"] for r in drift] == [1.0, 2.6, 4.2, 5.8]
    battery = FaultEffects([Fault("battery", "wl-1", T0, T0 + 3600)], CATALOG)
    drained = readings(battery, 4, step=900)
    assert [r["battery"] for r in drained] == [0.9, 0.675, 0.45, 0.225]
    assert not battery.dead(T0 + 3599) and battery.dead(T0 + 3600)
    skew = FaultEffects([Fault("clock_skew", "wl-1", T0, T0 + 60, offset_s=-2700)], CATALOG)
    assert (skew.timestamp(T0 + 30), skew.timestamp(T0 + 60)) == (T0 + 30 - 2700, T0 + 60)
    transport = FaultEffects([Fault("duplicates", "wl-1", T0, T0 + 60), Fault("out_of_order", "wl-1", T0 + 60,
                                                                                   T0 + 120)], CATALOG)
    assert (transport.copies(T0), transport.copies(T0 + 60), transport.swaps(T0), transport.swaps(T0 + 60)) == \
        (2, 1, False, True)
    with pytest.raises(ValueError, match="needs the metric"):
        Fault("stuck", "wl-1", T0, T0 + 1)


def test_storms_rain_on_top_of_showers():
    weather = Weather(seed=1, chance=0.0, storms=(Storm(T0, T0 + 3600, 40.0),))
    assert weather.rain(T0 - 1) == 0.0 and weather.rain(T0 + 1800) == 40.0 and weather.rain(T0 + 3600) == 0.0


class FakeLink:
    """Records what the player publishes, drops and connects, in order."""

    def __init__(self):
        self.sent = 0
        self.log: list[tuple] = []

    async def connect(self, device_id: str) -> None:
        self.log.append(("connect", device_id))
        self.sent += 1

    def publish(self, device_id: str, kind: str, payload: bytes) -> None:
        self.log.append(("publish", device_id, kind, payload))
        self.sent += 1

    def drop(self, device_id: str) -> None:
        self.log.append(("drop", device_id))
        self.sent += 1

    async def flush(self) -> None:
        await asyncio.sleep(0)


SCENARIO = """
[scenario]
name = "faults"
start = 2026-07-20T00:00:00+08:00
duration = "4h"
warmup = "0s"
seed = 4
[area]
grid = "demo"
[devices]
sensors = 12
cameras = 2
interval = "5m"
[[faults]]
kind = "dropout"
device = "aq-0001"
start = "+1h"
end = "+2h"
[[faults]]
kind = "battery"
device = "ns-0001"
start = "+1h"
end = "+3h"
[[faults]]
kind = "duplicates"
device = "wl-0001"
start = "+1h"
end = "+2h"
[[faults]]
kind = "out_of_order"
device = "sm-0001"
start = "+1h"
end = "+2h"
"""


async def play() -> FakeLink:
    link = FakeLink()
    await ScenarioPlayer(build_world(loads_scenario(SCENARIO)), link, step_s=60).run()
    return link


def events(link: FakeLink, device: str) -> list:
    return [(e[0], orjson.loads(e[3]) if e[0] == "publish" else None) for e in link.log if e[1] == device]


async def test_the_player_publishes_the_same_messages_every_time_and_applies_the_faults():
    one, two = await play(), await play()
    assert one.log == two.log and one.sent == len(one.log)
    # A dropout with a last will: the connection drops, then comes back with what it measured meanwhile.
    dropout = events(one, "aq-0001")
    kinds = [k for k, _ in dropout]
    assert kinds.count("drop") == 1 and kinds.count("connect") == 2
    upload = dropout[kinds.index("connect", 1) + 1][1]
    assert isinstance(upload, list) and len(upload) == 12  # an hour of readings every 5 min, in one array
    # A flat battery: draining, then gone for good.
    battery = events(one, "ns-0001")
    assert [k for k, _ in battery][-1] == "drop"
    levels = [p["battery"] for k, p in battery if k == "publish"]
    assert levels[-1] < 0.05 and levels == sorted(levels, reverse=True)
    # Duplicates: every reading twice; out of order: in swapped pairs.
    seqs = [p["seq"] for k, p in events(one, "wl-0001") if k == "publish"]
    assert len(seqs) - len(set(seqs)) == 12
    order = [p["seq"] for k, p in events(one, "sm-0001") if k == "publish"]
    assert order != sorted(order) and sorted(order) == list(range(len(order)))
