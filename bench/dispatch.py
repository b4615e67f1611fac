"""Auto-dispatch latency: the reading that confirms a fire -> the dispatched case at a subscriber.

In cells far enough apart that no pair confirms another, a camera reports a fire and,
a moment later, a smoke sensor in the same cell alarms; the sensor's reading is the
trigger of the default rule `fire-or-smoke-confirmed`, and carries its send time as
`ts`. A subscriber on `gridtwin/v1/cases/#` records when each `dispatch` update
arrives: latency = arrival - the triggering reading's `ts` (one clock, one machine).
Meanwhile a publisher process sends background readings from other devices, as a
running demo would. The baseline is the broker hop alone: the same smoke readings
received by a bare subscriber, same stamps, same run.

    python -m bench dispatch [--pairs 100] [--rate 10] [--background 300] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt

from bench.common import bench_twin, emit, publisher_result, settings_for, start_publisher
from bench.latency import Stamps, percentiles
from gridtwin.localbroker import MosquittoBroker
from twin.devices.device import Device, DeviceKind

BACKGROUND_DEVICES = 600
GAP_S = 0.2  # camera first, the confirming smoke reading this much later


def far_apart_cells(grid, n: int) -> list:
    """Up to `n` cells none of which is another's neighbour, spread over the grid."""
    chosen, blocked = [], set()
    step = max(1, len(grid) // (4 * n))
    for cell in grid.cells[::step] + grid.cells:
        if cell.code in blocked:
            continue
        chosen.append(cell)
        blocked.add(cell.code)
        blocked.update(grid.neighbours(cell.code))
        if len(chosen) == n:
            break
    return chosen


def pair_devices(cells) -> list[Device]:
    devices = []
    for i, cell in enumerate(cells):
        point = cell.geometry.representative_point()
        devices.append(Device(f"bc-{i:04d}", DeviceKind.CAMERA, point.y, point.x, cell_code=cell.code))
        devices.append(Device(f"bs-{i:04d}", DeviceKind.SENSOR, point.y, point.x, metrics=("smoke",),
                              cell_code=cell.code))
    return devices


class Dispatches:
    """A subscriber that records the arrival time of every dispatched case, by cell."""

    def __init__(self, broker):
        self.arrivals: dict[str, float] = {}
        self.actors: dict[str, str] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"disp-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe("gridtwin/v1/cases/#", qos=1)
        self.client.loop_start()
        ready.wait(5)

    def _on_message(self, client, userdata, message):
        now = time.time()
        data = orjson.loads(message.payload)["data"]
        if data["action"] == "dispatch":
            code = data["case"]["cell"]["code"]
            self.arrivals.setdefault(code, now)
            self.actors[code] = data["actor"]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def send_pairs(broker, cells, rate: float) -> dict[str, float]:
    """Camera fire, then smoke, in each cell, `rate` pairs per second; cell -> the smoke reading's ts."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pairs-{uuid.uuid4().hex[:8]}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    stamps: dict[str, float] = {}
    try:
        start = time.monotonic()
        for i, cell in enumerate(cells):
            time.sleep(max(0.0, start + i / rate - time.monotonic()))
            camera = {"ts": time.time(), "event_id": f"fire-{i}", "type": "fire", "confidence": 0.95, "state": "start"}
            client.publish(f"gridtwin/v1/camera/bc-{i:04d}/events", orjson.dumps(camera), qos=1)
            time.sleep(GAP_S)
            ts = time.time()
            stamps[cell.code] = ts
            client.publish(f"gridtwin/v1/readings/bs-{i:04d}", orjson.dumps({"ts": ts, "values": {"smoke": True}}),
                           qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
    return stamps


async def run(broker, pairs: int, rate: float, background: float, workdir: Path) -> dict:
    from gateway import Gateway

    store, grid = await asyncio.to_thread(bench_twin, workdir, BACKGROUND_DEVICES)
    cells = far_apart_cells(grid, pairs)
    await asyncio.to_thread(store.put_devices, pair_devices(cells))
    settings = settings_for(broker, store.url)
    dispatches = Dispatches(broker)
    base = Stamps(broker, "gridtwin/v1/readings/+", lambda p: p.get("ts") if "smoke" in p.get("values", {}) else None)
    seconds = len(cells) / rate + GAP_S
    async with Gateway(settings, store, grid, client_id=f"disp-gw-{uuid.uuid4().hex[:8]}") as gw:
        stop = asyncio.Event()
        runner = asyncio.create_task(gw.run(stop))
        load = None
        if background > 0:
            load = await start_publisher(broker, int(background * (seconds + 1)), BACKGROUND_DEVICES, rate=background)
        stamps = await asyncio.to_thread(send_pairs, broker, cells, rate)
        deadline = time.monotonic() + 5
        while len(dispatches.arrivals) < len(stamps) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        loaded = await publisher_result(load) if load else None
        achieved = loaded["published"] / loaded["seconds"] if loaded else 0.0
        stop.set()
        await runner
    dispatches.close()
    base.close()
    store.close()
    latencies = [(dispatches.arrivals[code] - ts) * 1000.0 for code, ts in stamps.items() if code in dispatches.arrivals]
    return {
        "benchmark": "dispatch", "pairs": len(stamps), "dispatched": len(latencies),
        "by_auto_dispatch": sum(1 for a in dispatches.actors.values() if a == "system:auto-dispatch"),
        "pair_rate": rate, "background_rate": background, "background_achieved_rate": round(achieved, 1),
        "dispatch": percentiles(latencies), "baseline_broker_hop": percentiles(base.latencies),
    }


async def measure(pairs: int, rate: float, background: float) -> dict:
    with MosquittoBroker() as broker, tempfile.TemporaryDirectory(prefix="gridtwin-bench-") as tmp:
        return await run(broker, pairs, rate, background, Path(tmp))


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench dispatch", description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=100,
                   help="fire/smoke pairs, each in its own cell, at most as many as the grid has cells apart "
                        "(the demo grid: 88; default 100)")
    p.add_argument("--rate", type=float, default=10.0, help="pairs per second (default 10)")
    p.add_argument("--background", type=float, default=300.0,
                   help="background readings per second from 600 other sensors (default 300; 0: none)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = asyncio.run(measure(args.pairs, args.rate, args.background))
    d, b = r["dispatch"], r["baseline_broker_hop"]
    lines = [
        f"confirming reading -> dispatched case at a subscriber, {r['pairs']} pairs at {r['pair_rate']:g}/s "
        f"with {r['background_rate']:g} background readings/s",
        f"  dispatched {r['dispatched']} of {r['pairs']} ({r['by_auto_dispatch']} by auto-dispatch): "
        f"p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms, max {d['max_ms']} ms",
        f"  broker hop alone: p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms (n={b['n']})",
    ]
    emit(r, args.json, lines)
    return 0
