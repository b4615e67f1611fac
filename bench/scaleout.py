"""Scale-out: one gateway process against a group of two sharing the stream (docs/scaling.md).

The same stream as `bench ingest` (one publisher process, M readings at QoS 1 from 1,000
devices, as fast as the broker takes them) into a PostgreSQL store, in the same run: once
through one `gridtwin gateway` process, once through two sharing `$share/{group}/...`, where
member 1 hands its records to member 0, which judges the whole stream. Each configuration gets
a fresh broker and database, the order alternates over the runs. Reported per configuration:
the rate to stored rows (M over the time from the publisher's start until the gateways report
every row stored), the time until member 0 has judged every message, the CPU time per message
of each gateway process, of the broker and of PostgreSQL, and readings lost or stored twice.

The machine has two cores: two gateways, the broker, the publisher and PostgreSQL share them,
so a group of two cannot be faster here than the cores allow; the CPU per message says what
the group costs, the rates what this machine gives.

    python -m bench scaleout [--messages 50000] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import psycopg

from bench.common import bench_twin, emit, median, publisher_result, start_publisher
from gridtwin.localbroker import MosquittoBroker
from gridtwin.pgcluster import ThrowawayCluster

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def children_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of a process and of its children (PostgreSQL: the postmaster and its backends)."""
    found = {pid: cpu_seconds(pid)}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    if int(f.read().rsplit(b")", 1)[1].split()[1]) == pid:
                        found[int(entry)] = cpu_seconds(int(entry))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
    return found


class Statuses:
    """The gateways' retained figures on gridtwin/v1/gateways/+ (gateway/cluster.py)."""

    def __init__(self, broker):
        self.latest: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-watch-{uuid.uuid4().hex[:6]}")
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.subscribe("gridtwin/v1/gateways/+", qos=0)
        self.client.loop_start()

    def _on_message(self, client, userdata, message):
        with self._lock:
            self.latest[message.topic.rsplit("/", 1)[1]] = orjson.loads(message.payload)

    def get(self) -> dict[str, dict]:
        with self._lock:
            return dict(self.latest)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _config(path: Path, broker, url: str, instance: str, members: int, index: int) -> None:
    group = "bench" if members > 1 else ""
    path.write_text(f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\nclient_id = "{instance}"\n'
                    f'[store]\nurl = "{url}"\n'
                    f'[gateway]\ninstance = "{instance}"\ngroup = "{group}"\nmembers = {members}\n'
                    f'member_index = {index}\n')


async def run_once(cluster: ThrowawayCluster, members: int, messages: int, devices: int, workdir: Path) -> dict:
    url = cluster.create_database()
    procs: list[subprocess.Popen] = []
    try:
        with MosquittoBroker(workdir=workdir / f"broker-{uuid.uuid4().hex[:6]}") as broker:
            store, _ = await asyncio.to_thread(bench_twin, None, devices, url)
            store.close()
            tag = uuid.uuid4().hex[:6]
            instances = [f"bench-{tag}-{i}" for i in range(members)]
            statuses = Statuses(broker)
            try:
                for i, instance in enumerate(instances):
                    path = workdir / f"{instance}.toml"
                    _config(path, broker, url, instance, members, i)
                    procs.append(subprocess.Popen([sys.executable, "-m", "gridtwin", "gateway", "--config", str(path)],
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
                deadline = time.monotonic() + 60
                while set(statuses.get()) != set(instances):
                    if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
                        raise RuntimeError("a gateway did not start: "
                                           + " | ".join(p.stderr.read().decode()[-500:] for p in procs if p.poll()))
                    await asyncio.sleep(0.05)
                pids = [p.pid for p in procs]
                cpu0 = [cpu_seconds(pid) for pid in pids]
                broker_cpu0 = cpu_seconds(broker.proc.pid)
                db_cpu0 = children_cpu(cluster.proc.pid)
                expected_rows = 2 * messages
                start = time.perf_counter()
                publisher = await start_publisher(broker, messages, devices)
                stored_at = judged_at = None
                deadline = start + 900
                while (stored_at is None or judged_at is None) and time.perf_counter() < deadline:
                    now = statuses.get()
                    if stored_at is None and sum(s["readings_stored"] for s in now.values()) >= expected_rows:
                        stored_at = time.perf_counter() - start
                    if judged_at is None and now[instances[0]]["judged"] >= messages:
                        judged_at = time.perf_counter() - start
                    await asyncio.sleep(0.005)
                member_cpu = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu0)]
                broker_cpu = cpu_seconds(broker.proc.pid) - broker_cpu0
                db_cpu = sum(c - db_cpu0.get(pid, 0.0) for pid, c in children_cpu(cluster.proc.pid).items())
                pub = await publisher_result(publisher)
                await asyncio.sleep(0.5)  # anything arriving late would show up as stored twice
                final = statuses.get()
                for proc in procs:
                    proc.send_signal(signal.SIGTERM)
                for proc in procs:
                    await asyncio.to_thread(proc.wait, 60)
            finally:
                statuses.close()
        with psycopg.connect(url) as conn:
            rows, distinct = conn.execute(
                "SELECT count(*), count(DISTINCT (device_id, metric, ts)) FROM readings").fetchone()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        cluster.drop_database(url)
    seconds = stored_at or float("nan")
    return {
        "members": members,
        "rate": messages / seconds,
        "seconds_to_stored": seconds,
        "seconds_to_judged": judged_at,
        "published": pub["acked"],
        "stored": distinct // 2,
        "lost": messages - distinct // 2,
        "duplicates_stored": rows - distinct,
        "cpu_us": sum(member_cpu) / messages * 1e6,
        "member_cpu_us": [c / messages * 1e6 for c in member_cpu],
        "broker_cpu_us": broker_cpu / messages * 1e6,
        "db_cpu_us": db_cpu / messages * 1e6,
        "shares": [final[i]["messages"] for i in instances],
        "handoffs": sum(final[i]["handoffs_sent"] for i in instances),
    }


async def measure(messages: int, devices: int, runs: int, cluster: ThrowawayCluster | None = None) -> dict:
    results: dict[int, list[dict]] = {1: [], 2: []}
    with contextlib.ExitStack() as stack:
        cluster = cluster or stack.enter_context(ThrowawayCluster())
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="gridtwin-scaleout-"))
        for i in range(runs):
            for members in ((1, 2) if i % 2 == 0 else (2, 1)):
                results[members].append(await run_once(cluster, members, messages, devices, Path(tmp)))

    def summary(rs: list[dict]) -> dict:
        return {
            "rate": round(median([r["rate"] for r in rs]), 1),
            "seconds_to_judged": round(median([r["seconds_to_judged"] for r in rs]), 2),
            "cpu_us_per_msg": round(median([r["cpu_us"] for r in rs]), 1),
            "member_cpu_us_per_msg": [round(median([r["member_cpu_us"][i] for r in rs]), 1)
                                      for i in range(len(rs[0]["member_cpu_us"]))],
            "broker_cpu_us_per_msg": round(median([r["broker_cpu_us"] for r in rs]), 1),
            "db_cpu_us_per_msg": round(median([r["db_cpu_us"] for r in rs]), 1),
            "lost": sum(r["lost"] for r in rs),
            "duplicates_stored": sum(r["duplicates_stored"] for r in rs),
            "runs": [round(r["rate"], 1) for r in rs],
            "shares": [r["shares"] for r in rs],
        }

    one, two = summary(results[1]), summary(results[2])
    return {
        "benchmark": "scaleout",
        "messages": messages,
        "devices": devices,
        "runs": runs,
        "cores": os.cpu_count(),
        "one_gateway": one,
        "two_gateways": two,
        "rate_ratio": round(two["rate"] / one["rate"], 3),
        "cpu_ratio": round(two["cpu_us_per_msg"] / one["cpu_us_per_msg"], 3),
        "lost": one["lost"] + two["lost"],
        "duplicates_stored": one["duplicates_stored"] + two["duplicates_stored"],
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench scaleout", description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=50_000)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = asyncio.run(measure(args.messages, args.devices, args.runs))
    lines = [f"scale-out: {r['messages']} readings from {r['devices']} devices into PostgreSQL, median of "
             f"{r['runs']} runs each, {r['cores']} cores"]
    for name, key in (("one gateway", "one_gateway"), ("two gateways", "two_gateways")):
        s = r[key]
        lines.append(f"  {name:<13} {s['rate']:>8,.0f} msg/s stored (runs {s['runs']}), all judged after "
                     f"{s['seconds_to_judged']} s; shares {s['shares'][0]}")
        lines.append(f"  {'':<13} CPU per message: gateways {s['cpu_us_per_msg']} us (by member "
                     f"{s['member_cpu_us_per_msg']}), broker {s['broker_cpu_us_per_msg']} us, "
                     f"PostgreSQL {s['db_cpu_us_per_msg']} us")
    lines.append(f"  two / one: rate {r['rate_ratio']:.2f}, gateway CPU per message {r['cpu_ratio']:.2f}; "
                 f"lost {r['lost']}, stored twice {r['duplicates_stored']}")
    emit(r, args.json, lines)
    return 0 if r["lost"] == 0 and r["duplicates_stored"] == 0 else 1
