"""The live map page with 10,000 cells in headless Chromium: first render, page weight, and how
many cell updates a second reach the page.

A grid of about `--cells` square cells of 200 m, each with a state, is served by the web app
(SQLite store) whose live feed subscribes to a real Mosquitto. Chromium (1920x1080) opens `/`:
- first render: from navigation start to the cells drawn on the canvas (median of `--loads`
  loads, each in a fresh browser context, so nothing is cached); baseline: the same page
  fetching and parsing `/api/cells` alone, without drawing;
- page weight: bytes transferred (headers and compressed bodies, Resource Timing) by kind:
  HTML, JS, CSS, data (`/api/...`), other;
- updates: a publisher sends `--rate` cell states a second (values changing, random cells) for
  `--seconds` to `gridtwin/v1/cells/{district}/{code}/state`, as the gateway does; we count the
  `cell` events the page's live stream receives and the updates it applies, beside a plain
  MQTT subscriber counting the same messages (the baseline).

    python -m bench map [--cells 10000] [--rate 1000] [--seconds 10] [--loads 3] [--json]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
from playwright.sync_api import sync_playwright

from bench.common import emit
from bench.wall import CHROMIUM_ARGS, MAP_STATE, bench_grid, serve
from gridtwin.localbroker import MosquittoBroker
from maps.app import create_app
from twin.config import Settings
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState
from twin.store import open_store

PREFIX = "gridtwin/v1"
DRAWN = "view => view.timings && view.timings.cellsDrawn ? performance.now() : false"
WEIGHT = """() => {
  const kinds = { html: 0, js: 0, css: 0, data: 0, other: 0 };
  const files = { html: 0, js: 0, css: 0, data: 0, other: 0 };
  const nav = performance.getEntriesByType("navigation")[0];
  kinds.html += nav.transferSize; files.html += 1;
  for (const e of performance.getEntriesByType("resource")) {
    const path = new URL(e.name).pathname;
    const kind = path.startsWith("/api/") ? "data" : path.endsWith(".js") ? "js" : path.endsWith(".css") ? "css" : "other";
    kinds[kind] += e.transferSize; files[kind] += 1;
  }
  return { bytes: kinds, files: files };
}"""
FETCH_ONLY = """async () => { const t0 = performance.now();
  const body = await (await fetch("/api/cells", { headers: { Accept: "application/json" } })).json();
  return { ms: performance.now() - t0, features: body.features.length }; }"""
COUNTER = """(view) => { window.__bench = { cells: 0, applied0: view.updates };
  view.stream.source.addEventListener("cell", () => { window.__bench.cells += 1; }); }"""
COUNTED = "(view) => ({ received: window.__bench.cells, applied: view.updates - window.__bench.applied0 })"


class Counter:
    """A plain paho subscriber counting the cell states (the baseline)."""

    def __init__(self, broker):
        self.count = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"map-base-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        ready = threading.Event()
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(f"{PREFIX}/cells/+/+/state", qos=1)
        self.client.loop_start()
        ready.wait(10)

    def _on_message(self, client, userdata, message):
        self.count += 1

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def publish_states(broker, codes: list[str], rate: float, seconds: float, seed: int = 5) -> int:
    """Cell states at `rate` a second for `seconds`, QoS 1; returns how many were sent."""
    rng = random.Random(seed)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"map-pub-{uuid.uuid4().hex[:8]}")
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    client.connect(broker.host, broker.port)
    client.loop_start()
    sent, total, last = 0, int(rate * seconds), None
    started = time.monotonic()
    while sent < total:
        due = started + sent / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        code = rng.choice(codes)
        roll = rng.random()
        level = "critical" if roll < 0.01 else "warning" if roll < 0.05 else "normal"
        body = {"code": code, "level": level, "values": {"pm25": round(rng.uniform(5, 250), 1)},
                "updated_at": time.time(), "open_anomalies": 0}
        last = client.publish(f"{PREFIX}/cells/{code[:6]}/{code}/state", orjson.dumps(body), qos=1)
        sent += 1
    last.wait_for_publish(30)  # in order: the last one acknowledged, all are
    client.disconnect()
    client.loop_stop()
    return sent


def measure(cells: int, rate: float, seconds: float, loads: int) -> dict:
    rng = random.Random(11)
    grid = bench_grid(cells)
    with MosquittoBroker() as broker, tempfile.TemporaryDirectory(prefix="gridtwin-bench-") as tmp:
        url = f"sqlite:///{Path(tmp)}/map.db"
        settings = Settings().replace(mqtt={"host": broker.host, "port": broker.port}, store={"url": url})
        store = open_store(url)
        store.migrate()
        store.put_grid(grid)
        now = time.time()
        store.put_cell_states([CellState(c.code, Level.NORMAL, {"pm25": round(rng.uniform(5, 60), 1)}, now - 60)
                               for c in grid.cells])
        server, thread, base = serve(create_app(settings, store=store, grid=grid))
        result: dict = {"benchmark": "map", "cells": len(grid), "loads": loads, "rate": rate, "seconds": seconds}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                renders, fetches, weights = [], [], []
                for _ in range(loads):
                    context = browser.new_context(bypass_csp=True, viewport={"width": 1920, "height": 1080})
                    page = context.new_page()
                    page.goto(base + "/")
                    view = page.evaluate_handle(MAP_STATE)
                    renders.append(page.wait_for_function(DRAWN, arg=view, polling="raf", timeout=120_000).json_value())
                    page.wait_for_load_state("networkidle")
                    weights.append(page.evaluate(WEIGHT))
                    context.close()
                    context = browser.new_context(bypass_csp=True)
                    page = context.new_page()
                    page.goto(base + "/healthz")  # same origin, nothing drawn
                    fetches.append(page.evaluate(FETCH_ONLY)["ms"])
                    context.close()
                result["first_render_ms"] = round(statistics.median(renders))
                result["first_render_runs_ms"] = [round(r) for r in renders]
                result["baseline_fetch_parse_ms"] = round(statistics.median(fetches))
                weight = weights[-1]
                result["page_bytes"] = weight["bytes"] | {"total": sum(weight["bytes"].values())}
                result["page_files"] = weight["files"]

                page = browser.new_page(bypass_csp=True, viewport={"width": 1920, "height": 1080})
                page.goto(base + "/")
                view = page.evaluate_handle(MAP_STATE)
                page.wait_for_function("view => view.status === 'live' && view.timings && view.timings.cellsDrawn",
                                       arg=view, timeout=120_000)
                page.evaluate(COUNTER, view)
                baseline = Counter(broker)
                time.sleep(0.5)
                started = time.monotonic()
                sent = publish_states(broker, [c.code for c in grid.cells], rate, seconds)
                sending = time.monotonic() - started
                time.sleep(2.0)  # what is still on its way arrives
                counted = page.evaluate(COUNTED, view)
                baseline.close()
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)
            store.close()
    result |= {
        "sent": sent, "send_seconds": round(sending, 2), "achieved_rate": round(sent / sending, 1),
        "baseline_received": baseline.count, "page_received": counted["received"], "page_applied": counted["applied"],
        "page_per_s": round(counted["received"] / sending, 1),
        "dropped": sent - counted["received"],
        "page_vs_baseline": round(counted["received"] / baseline.count, 4) if baseline.count else None,
    }
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench map", description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=10_000, help="about this many cells (default 10000)")
    p.add_argument("--rate", type=float, default=1000.0, help="cell updates published a second (default 1000)")
    p.add_argument("--seconds", type=float, default=10.0, help="how long updates are published (default 10)")
    p.add_argument("--loads", type=int, default=3, help="page loads for the first-render median (default 3)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = measure(args.cells, args.rate, args.seconds, args.loads)
    b = r["page_bytes"]
    lines = [
        f"live map page, {r['cells']:,} cells, Chromium 1920x1080 (headless)",
        f"  first render {r['first_render_ms']} ms after navigation start (median of {r['loads']} cold loads "
        f"{r['first_render_runs_ms']}); baseline, /api/cells fetched and parsed alone: {r['baseline_fetch_parse_ms']} ms",
        f"  page weight {b['total']:,} bytes: HTML {b['html']:,}, JS {b['js']:,}, CSS {b['css']:,}, data {b['data']:,}, "
        f"other {b['other']:,}",
        f"  updates: {r['sent']:,} sent at {r['achieved_rate']:,.0f}/s; plain subscriber received {r['baseline_received']:,}; "
        f"page received {r['page_received']:,} ({r['page_per_s']:,.0f}/s, {r['dropped']} dropped), applied {r['page_applied']:,}",
    ]
    emit(r, args.json, lines)
    return 0
