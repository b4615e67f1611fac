"""Detection latency: a reading's publish -> its anomaly event at a subscriber.

A publisher process sends readings at a fixed rate, each stamped with its send
time; every K-th device alternates over the PM2.5 critical threshold, so each
of its readings opens or clears an anomaly. A subscriber records when each
anomaly event arrives; latency = arrival - the reading's stamp (one clock, one
machine). The baseline is the broker hop alone: the same publisher's readings
received by a bare subscriber, same stamps, same run, just before the gateway's
phase (not during it: in the same process it would compete with the gateway).
Each rate runs on a fresh store with a fresh gateway; the publisher reports the
rate it achieved.

    python -m bench latency [--rates 1000,5000,10000] [--seconds 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
import paho.mqtt.client as mqtt

from bench.common import bench_twin, emit, publisher_result, settings_for, start_publisher
from gridtwin.localbroker import MosquittoBroker

DEVICES = 1000
TRIGGER_EVERY = 50  # 20 devices flip every reading


class Stamps:
    """A subscriber that records arrival minus the payload's stamp, in milliseconds."""

    def __init__(self, broker, topic: str, stamp):
        self.latencies: list[float] = []
        self._stamp = stamp
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"lat-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        ready.wait(5)

    def _on_message(self, client, userdata, message):
        now = time.time()
        ts = self._stamp(orjson.loads(message.payload))
        if ts is not None:
            self.latencies.append((now - ts) * 1000.0)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def _iso(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts).timestamp()


def percentiles(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    a = np.asarray(values)
    return {"n": len(values), "p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "max_ms": round(float(a.max()), 2)}


async def at_rate(broker, rate: float, seconds: float, workdir: Path) -> dict:
    from gateway import Gateway

    messages = int(rate * seconds)
    store, grid = await asyncio.to_thread(bench_twin, workdir, DEVICES)
    settings = settings_for(broker, store.url)
    # The baseline first, on its own: a subscriber taking every reading in the gateway's
    # process would share its interpreter and slow both.
    base = Stamps(broker, "gridtwin/v1/readings/#", lambda p: p.get("ts"))
    await publisher_result(await start_publisher(broker, messages, DEVICES, rate=rate, trigger_every=TRIGGER_EVERY))
    await asyncio.sleep(1.0)
    base.close()
    events = Stamps(broker, "gridtwin/v1/events/#", lambda p: _iso(p["data"]["ts"]))
    async with Gateway(settings, store, grid, client_id=f"lat-gw-{uuid.uuid4().hex[:8]}") as gw:
        stop = asyncio.Event()
        runner = asyncio.create_task(gw.run(stop))
        proc = await start_publisher(broker, messages, DEVICES, rate=rate, trigger_every=TRIGGER_EVERY)
        pub = await publisher_result(proc)
        await asyncio.sleep(1.0)
        stop.set()
        await runner
    events.close()
    store.close()
    achieved = messages / pub["seconds"]
    return {"rate": rate, "achieved_rate": round(achieved, 1), "anomaly": percentiles(events.latencies),
            "baseline_broker_hop": percentiles(base.latencies)}


async def measure(rates: list[float], seconds: float) -> dict:
    results = []
    with MosquittoBroker() as broker:
        for rate in rates:
            with tempfile.TemporaryDirectory(prefix="gridtwin-bench-") as tmp:
                results.append(await at_rate(broker, rate, seconds, Path(tmp)))
    return {"benchmark": "latency", "seconds": seconds, "results": results}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench latency", description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", default="1000,5000,10000", help="comma-separated readings per second (default %(default)s)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = asyncio.run(measure([float(x) for x in args.rates.split(",")], args.seconds))
    lines = [f"publish -> anomaly event latency, {r['seconds']:.0f} s per rate"]
    for x in r["results"]:
        a, b = x["anomaly"], x["baseline_broker_hop"]
        lines.append(f"  {x['rate']:>7,.0f}/s (achieved {x['achieved_rate']:,.0f}/s): anomaly p50 {a['p50_ms']} ms, "
                     f"p99 {a['p99_ms']} ms (n={a['n']}); broker hop alone p50 {b['p50_ms']} ms, p99 {b['p99_ms']} ms")
    emit(r, args.json, lines)
    return 0
