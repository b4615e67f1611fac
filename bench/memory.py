"""Resident memory of the gateway and the web app at 10,000 devices, beside bare processes.

A SQLite store holds the demo grid and `--devices` registered sensors. On a real Mosquitto we
start, each as its own process: `gridtwin gateway` and `gridtwin serve` on that store, and the
baselines: for each of the two, a bare Python process importing the modules it runs (and doing
nothing), and a bare paho subscriber receiving the same readings. A publisher then sends
`--reports` readings from every device (two metrics each) at `--rate` a second. The resident
set size (RSS) of every process is sampled every 0.2 s: peak over the whole run, and steady
(the median over the last half of the publishing and the quiet second after it).

    python -m bench memory [--devices 10000] [--reports 5] [--rate 2000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from bench.common import bench_twin, emit, publisher_result, start_publisher
from gridtwin.localbroker import MosquittoBroker
from gridtwin.ports import free_port

GATEWAY_IMPORTS = "gateway, gateway.service, twin.store, gridtwin.cli, gridtwin.commands.gateway"
WEB_IMPORTS = "maps.app, twin.store, gridtwin.cli, gridtwin.commands.serve"
BARE = "import {}; import sys; sys.stdout.write('ready\\n'); sys.stdout.flush(); sys.stdin.read()"
BARE_SUBSCRIBER = """
import sys, paho.mqtt.client as mqtt
count = 0
def on_message(client, userdata, message):
    global count
    count += 1
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="mem-base")
c.on_message = on_message
c.on_subscribe = lambda *a: (sys.stdout.write("ready\\n"), sys.stdout.flush())
c.connect(sys.argv[1], int(sys.argv[2]))
c.subscribe("gridtwin/v1/readings/#", qos=1)
c.loop_start()
sys.stdin.read()
print(count, flush=True)
"""


class Sampler:
    """RSS of some processes every `interval` seconds, in a thread."""

    def __init__(self, pids: dict[str, int], interval: float = 0.2):
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.samples: dict[str, list[tuple[float, int]]] = {name: [] for name in pids}
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for name, proc in self.procs.items():
                try:
                    self.samples[name].append((now, proc.memory_info().rss))
                except psutil.Error:
                    pass
            self._stop.wait(self.interval)

    def figures(self, steady_from: float) -> dict:
        out = {}
        for name, samples in self.samples.items():
            steady = [rss for t, rss in samples if t >= steady_from] or [samples[-1][1]]
            out[name] = {"peak_mb": round(max(rss for _, rss in samples) / 1e6, 1),
                         "steady_mb": round(statistics.median(steady) / 1e6, 1)}
        return out


def _start(args: list[str], env: dict, ready: str) -> subprocess.Popen:
    proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if ready in line:
            break
        if time.monotonic() > deadline:
            break
    else:
        raise RuntimeError(f"{args[2:4]} exited before it was ready (code {proc.wait()})")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # keep the pipe drained
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _publish(broker, messages: int, devices: int, rate: float) -> dict:
    return await publisher_result(await start_publisher(broker, messages, devices, rate=rate))


def measure(devices: int, reports: int, rate: float) -> dict:
    messages = devices * reports
    with MosquittoBroker() as broker, tempfile.TemporaryDirectory(prefix="gridtwin-bench-") as tmp:
        store, grid = bench_twin(Path(tmp), devices)
        store.close()
        env = os.environ | {"GRIDTWIN_MQTT_HOST": broker.host, "GRIDTWIN_MQTT_PORT": str(broker.port),
                            "GRIDTWIN_STORE_URL": f"sqlite:///{tmp}/bench.db",
                            "GRIDTWIN_GATEWAY_SPOOL_DIR": f"{tmp}/spool", "PYTHONUNBUFFERED": "1"}
        py = [sys.executable, "-c"]
        procs: dict[str, subprocess.Popen] = {}
        try:
            procs["bare_gateway_imports"] = _start([*py, BARE.format(GATEWAY_IMPORTS)], env, "ready")
            procs["bare_web_imports"] = _start([*py, BARE.format(WEB_IMPORTS)], env, "ready")
            procs["bare_subscriber"] = _start([*py, BARE_SUBSCRIBER, broker.host, str(broker.port)], env, "ready")
            procs["gateway"] = _start([sys.executable, "-m", "gridtwin", "gateway"], env, "connected to")
            procs["web_app"] = _start([sys.executable, "-m", "gridtwin", "serve", "--port", str(free_port())], env,
                                      "GridTwin map at")
            with Sampler({name: p.pid for name, p in procs.items()}) as sampler:
                time.sleep(1.0)
                started = time.monotonic()
                pub = asyncio.run(_publish(broker, messages, devices, rate))
                ended = time.monotonic()
                time.sleep(1.0)
                figures = sampler.figures(steady_from=started + (ended - started) / 2)
        finally:
            for proc in procs.values():
                _stop(proc)
        stored = _count(f"{tmp}/bench.db")
    return {"benchmark": "memory", "devices": devices, "reports_per_device": reports, "messages": messages,
            "rate": rate, "published": pub["acked"], "send_seconds": round(ended - started, 1),
            "stored_rows": stored, "rss": figures,
            "gateway_over_bare_imports_mb": round(figures["gateway"]["steady_mb"]
                                                  - figures["bare_gateway_imports"]["steady_mb"], 1),
            "web_app_over_bare_imports_mb": round(figures["web_app"]["steady_mb"]
                                                  - figures["bare_web_imports"]["steady_mb"], 1)}


def _count(path: str) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM readings").fetchone()[0]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=10_000, help="registered devices, all reporting (default 10000)")
    p.add_argument("--reports", type=int, default=5, help="readings from each device (default 5)")
    p.add_argument("--rate", type=float, default=2000.0, help="readings a second (default 2000)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = measure(args.devices, args.reports, args.rate)
    lines = [f"resident memory with {r['devices']:,} devices, {r['messages']:,} readings at {r['rate']:,.0f}/s "
             f"({r['stored_rows']:,} rows stored)",
             "  process                       peak MB   steady MB"]
    labels = {"gateway": "gateway (gridtwin gateway)", "bare_gateway_imports": "baseline: Python with its imports",
              "web_app": "web app (gridtwin serve)", "bare_web_imports": "baseline: Python with its imports",
              "bare_subscriber": "baseline: bare paho subscriber"}
    for name, label in labels.items():
        f = r["rss"][name]
        lines.append(f"  {label:<36} {f['peak_mb']:>7} {f['steady_mb']:>9}")
    emit(r, args.json, lines)
    return 0
