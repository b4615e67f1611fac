"""Ingest throughput: the gateway's full pipeline to stored rows vs a bare paho subscriber.

One fast publisher process sends M readings (QoS 1) at full speed. In the same
run, on the same broker, we time (a) a bare paho subscriber that only counts
(the baseline: the most one Python process receives) and (b) the gateway from
receipt to rows committed in the SQLite store. Each rate is M divided by the
time from the publisher's start to the last message counted or stored; the
medians over --runs runs are reported with their ratio.

    python -m bench ingest [--messages 100000] [--devices 1000] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from bench.common import bench_twin, emit, median, publisher_result, settings_for, start_publisher
from gridtwin.localbroker import MosquittoBroker
from twin.config import Settings


async def baseline(broker, messages: int, devices: int) -> dict:
    """A paho subscriber (network thread, QoS 1) that counts messages and does nothing else."""
    count, done = 0, threading.Event()

    def on_message(client, userdata, message):
        nonlocal count
        count += 1
        if count >= messages:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-base-{uuid.uuid4().hex[:8]}")
    client.on_message = on_message
    subscribed = threading.Event()
    client.on_subscribe = lambda *a: subscribed.set()
    client.connect(broker.host, broker.port)
    client.subscribe("gridtwin/v1/readings/#", qos=1)
    client.loop_start()
    subscribed.wait(10)
    start, cpu0 = time.perf_counter(), time.process_time()
    proc = await start_publisher(broker, messages, devices)
    await asyncio.to_thread(done.wait, 600)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    pub = await publisher_result(proc)
    client.disconnect()
    client.loop_stop()
    return {"rate": count / seconds, "received": count, "published": pub["acked"], "seconds": seconds,
            "cpu_us": cpu / messages * 1e6}


async def gateway_run(broker, messages: int, devices: int, workdir: Path, protocol: str = "3.1.1",
                      client: str = Settings().mqtt.client) -> dict:
    from gateway import Gateway

    store, grid = await asyncio.to_thread(bench_twin, workdir, devices)
    settings = settings_for(broker, store.url, protocol)
    settings = settings.replace(mqtt={"client": client})
    expected_rows = 2 * messages  # two metrics per reading
    async with Gateway(settings, store, grid, client_id=f"bench-gw-{uuid.uuid4().hex[:8]}") as gw:
        stop = asyncio.Event()
        runner = asyncio.create_task(gw.run(stop))
        start, cpu0 = time.perf_counter(), time.process_time()
        proc = await start_publisher(broker, messages, devices)
        deadline = start + 600
        while gw.stored_readings < expected_rows and time.perf_counter() < deadline:
            await asyncio.sleep(0.002)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
        pub = await publisher_result(proc)
        await asyncio.sleep(0.5)  # anything arriving late would show up as stored beyond M
        stop.set()
        await runner
    stored_rows = await asyncio.to_thread(store.count_readings)
    store.close()
    return {"rate": messages / seconds, "published": pub["acked"], "stored_rows": stored_rows,
            "stored": stored_rows // 2, "lost": messages - stored_rows // 2, "duplicates_stored": max(0, stored_rows - expected_rows),
            "seconds": seconds, "cpu_us": cpu / messages * 1e6, "dead_letters": gw.summary()["dead_letters_total"]}


async def measure(messages: int, devices: int, runs: int, protocol: str = "3.1.1",
                  client: str = Settings().mqtt.client) -> dict:
    base_runs, gw_runs = [], []
    with MosquittoBroker() as broker:
        for i in range(runs):
            base_runs.append(await baseline(broker, messages, devices))
            with tempfile.TemporaryDirectory(prefix="gridtwin-bench-") as tmp:
                gw_runs.append(await gateway_run(broker, messages, devices, Path(tmp), protocol, client))
    base = median([r["rate"] for r in base_runs])
    gw = median([r["rate"] for r in gw_runs])
    return {
        "benchmark": "ingest",
        "messages": messages,
        "devices": devices,
        "runs": runs,
        "gateway_mqtt_protocol": protocol,
        "gateway_mqtt_client": client if protocol == "3.1.1" else "paho",
        "baseline_rate": round(base, 1),
        "gateway_rate": round(gw, 1),
        "ratio": round(gw / base, 3),
        "published": sum(r["published"] for r in gw_runs),
        "stored": sum(r["stored"] for r in gw_runs),
        "lost": sum(r["lost"] for r in gw_runs),
        "duplicates_stored": sum(r["duplicates_stored"] for r in gw_runs),
        # CPU time of this process per message: steadier than rates on a shared machine.
        "baseline_cpu_us_per_msg": round(median([r["cpu_us"] for r in base_runs]), 1),
        "gateway_cpu_us_per_msg": round(median([r["cpu_us"] for r in gw_runs]), 1),
        "baseline_runs": [round(r["rate"], 1) for r in base_runs],
        "gateway_runs": [round(r["rate"], 1) for r in gw_runs],
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench ingest", description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--protocol", default=Settings().mqtt.protocol, choices=("auto", "5", "3.1.1"),
                   help="the gateway's MQTT protocol (mqtt.protocol, default %(default)s); "
                        "the baseline subscriber speaks 3.1.1")
    p.add_argument("--client", default=Settings().mqtt.client, choices=("native", "paho"),
                   help="the gateway's MQTT client (mqtt.client, default %(default)s; MQTT 5 is always paho)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = asyncio.run(measure(args.messages, args.devices, args.runs, args.protocol, args.client))
    emit(r, args.json, [
        f"ingest of {r['messages']} readings from {r['devices']} devices, median of {r['runs']} runs",
        f"  baseline (bare paho subscriber): {r['baseline_rate']:>10,.0f} msg/s  runs {r['baseline_runs']}",
        f"  gateway (to stored rows, MQTT {r['gateway_mqtt_protocol']}, {r['gateway_mqtt_client']} client): "
        f"{r['gateway_rate']:>7,.0f} msg/s  runs {r['gateway_runs']}",
        f"  CPU per message: baseline {r['baseline_cpu_us_per_msg']} us, gateway {r['gateway_cpu_us_per_msg']} us",
        f"  ratio {r['ratio']:.2f}; published {r['published']}, stored {r['stored']}, lost {r['lost']}, "
        f"stored twice {r['duplicates_stored']}",
    ])
    return 0 if r["lost"] == 0 else 1
