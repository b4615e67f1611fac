"""Measure the simulator at fleet scale: connect time, CPU and memory for N devices, next to a
baseline of one aiomqtt client per device measured in the same run.

    python -m bench simulator --devices 2000 --interval 10 --duration 30 [--json] [--no-baseline]

Each variant gets a fresh Mosquitto (started here) unless --host/--port name
a broker. CPU is user+system time of this process (and of the broker when it
was started here) divided by wall time, for the connect phase and for the
steady phase that follows it. Figures, not assertions: the tests assert
behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import time

import orjson

from firmware_sim.clock import format_ts
from firmware_sim.fleet import make_fleet
from firmware_sim.simulator import Simulator, raise_open_files_limit
from gridtwin.localbroker import MosquittoBroker
from twin.config import MqttSettings
from twin.grid.demo import demo_grid

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_pid(pid: int | None) -> float:
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class _Meter:
    """CPU seconds of this process and the broker between marks."""

    def __init__(self, broker_pid: int | None):
        self.broker_pid = broker_pid
        self.marks: list[tuple[float, float, float]] = []

    def mark(self) -> None:
        self.marks.append((time.monotonic(), _cpu_self(), _cpu_pid(self.broker_pid)))

    def phase(self, i: int) -> dict:
        (t0, c0, b0), (t1, c1, b1) = self.marks[i], self.marks[i + 1]
        wall = t1 - t0
        return {
            "wall_s": round(wall, 2),
            "cpu_pct": round(100 * (c1 - c0) / wall, 1) if wall else None,
            "broker_cpu_pct": round(100 * (b1 - b0) / wall, 1) if wall and self.broker_pid else None,
        }


async def _measure_simulator(mqtt: MqttSettings, devices, interval: float, duration: float, meter: _Meter) -> dict:
    async with Simulator(mqtt, devices, interval=interval, seed=1) as sim:
        meter.mark()
        running = asyncio.create_task(sim.run())
        while sim.stats.connect_s is None and not running.done():
            await asyncio.sleep(0.05)
        meter.mark()
        fds, rss = _open_fds(), _rss_mb()
        before = sim.stats.messages
        await asyncio.sleep(duration)
        meter.mark()
        published = sim.stats.messages - before
        sim.stop()
        await running
        unacked = sum(sim.client(d.id).inflight for d in devices)
    return {
        "connect_s": sim.stats.connect_s,
        "connect_failures": sim.stats.connect_failures,
        "connect": meter.phase(0),
        "steady": meter.phase(1),
        "messages_per_s": round(published / duration, 1),
        "unacknowledged_at_end": unacked,
        "open_fds": fds,
        "rss_mb": rss,
    }


async def _measure_aiomqtt(mqtt: MqttSettings, devices, interval: float, duration: float, meter: _Meter) -> dict:
    """The baseline: one aiomqtt client (a paho client underneath) per device, same topics and rates."""
    import aiomqtt

    slots = asyncio.Semaphore(64)
    connected = 0
    all_connected = asyncio.Event()
    published = 0
    counting = False
    failures = 0

    async def device(d) -> None:
        nonlocal connected, published, failures
        rng = random.Random(d.id)
        status = f"{mqtt.prefix}/status/{d.id}"
        topic = f"{mqtt.prefix}/readings/{d.id}"
        client = aiomqtt.Client(mqtt.host, mqtt.port, identifier=f"dev-{d.id}", keepalive=60, clean_session=False,
                                will=aiomqtt.Will(status, b"offline", qos=1, retain=True))
        try:
            async with slots:
                await client.__aenter__()
        except aiomqtt.MqttError:
            failures += 1
            return
        try:
            await client.publish(status, b"online", qos=1, retain=True)
            connected += 1
            if connected == len(devices):
                all_connected.set()
            await asyncio.sleep(rng.uniform(0, interval))
            seq = 0
            while True:
                payload = {"ts": format_ts(time.time()), "seq": seq, "values": {"pm25": 35.2}, "battery": 0.9}
                await client.publish(topic, orjson.dumps(payload), qos=1)
                seq += 1
                if counting:
                    published += 1
                await asyncio.sleep(interval * rng.uniform(0.9, 1.1))
        finally:
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)

    meter.mark()
    started = time.monotonic()
    tasks = [asyncio.create_task(device(d)) for d in devices]
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(all_connected.wait(), 120)
    connect_s = round(time.monotonic() - started, 3) if all_connected.is_set() else None
    meter.mark()
    fds, rss = _open_fds(), _rss_mb()
    counting = True
    await asyncio.sleep(duration)
    meter.mark()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "connect_s": connect_s,
        "connect_failures": failures,
        "connect": meter.phase(0),
        "steady": meter.phase(1),
        "messages_per_s": round(published / duration, 1),
        "open_fds": fds,
        "rss_mb": rss,
    }


def _run_variant(name: str, args, devices) -> dict:
    broker = None
    if args.host:
        mqtt = MqttSettings(host=args.host, port=args.port, prefix=f"bench/{name}")
    else:
        broker = MosquittoBroker(extra_config="max_connections -1").start()
        mqtt = MqttSettings(host=broker.host, port=broker.port, prefix=f"bench/{name}")
    try:
        meter = _Meter(broker.proc.pid if broker else None)
        measure = _measure_simulator if name == "simulator" else _measure_aiomqtt
        return asyncio.run(measure(mqtt, devices, args.interval, args.duration, meter))
    finally:
        if broker is not None:
            broker.__exit__(None, None, None)


def _lines(result: dict) -> list[str]:
    lines = [f"{result['devices']} devices, interval {result['interval_s']:g} s, steady phase {result['duration_s']:g} s, "
             f"{result['cpus']} CPUs"]
    for name in ("simulator", "aiomqtt_baseline"):
        r = result.get(name)
        if not r:
            continue
        lines.append(
            f"  {name:17} connect {r['connect_s']} s (cpu {r['connect']['cpu_pct']}%, broker {r['connect']['broker_cpu_pct']}%), "
            f"steady cpu {r['steady']['cpu_pct']}% (broker {r['steady']['broker_cpu_pct']}%), "
            f"{r['messages_per_s']} msg/s, {r['open_fds']} fds, rss {r['rss_mb']} MB, "
            f"{r['connect_failures']} connect failures"
        )
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--cameras", type=int, default=0, help="of the devices, how many are cameras")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of steady publishing measured")
    parser.add_argument("--host", help="use this broker instead of starting Mosquitto")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--no-baseline", action="store_true", help="skip the aiomqtt baseline")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    limit = raise_open_files_limit()
    devices = make_fleet(demo_grid(), sensors=args.devices - args.cameras, cameras=args.cameras, seed=1)
    result: dict = {"devices": args.devices, "interval_s": args.interval, "duration_s": args.duration,
                    "cpus": os.cpu_count(), "open_files_limit": limit}
    result["simulator"] = _run_variant("simulator", args, devices)
    if not args.no_baseline:
        result["aiomqtt_baseline"] = _run_variant("aiomqtt", args, devices)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print("\n".join(_lines(result)))
    return 0

