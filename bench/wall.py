"""The map wall with 10,000 cells in headless Chromium: first render, and frames while cases change.

A grid of about 10,000 cells of 200 m (one district, 20 streets, 80 communities) with a state
for every cell, a few hundred open cases and a day of anomalies is served by the web app from
a SQLite store. Chromium (1920x1080) opens /wall; we read when the cells were fetched, drawn,
and the whole wall (cases, KPIs) was on screen. The same grid on the live map page `/` is the
first-render baseline.

Then, for `--seconds` each, we record every requestAnimationFrame gap and every long task
(over 50 ms, PerformanceObserver) on the wall: first with nothing changing (the baseline),
then while a second connection to the store moves cases through the loop at each of
`--rates` changes per second (report, file, dispatch, accept, handle, close; a critical
report now and then, which the wall flies to). The changes reach the page the way every
case change does: the audit log, the app's live feed, /api/stream. Also measured: the time
from each change's audit row to its arrival in the page (the feed polls the store every
`--poll` seconds here, no broker; with the gateway on MQTT the relay polls every 0.5 s).

    python -m bench wall [--cells 10000] [--seconds 10] [--rates 1,10] [--json]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.common import emit
from gridtwin.ports import free_port
from maps.app import WebServer, create_app
from twin.cases.book import CaseBook
from twin.cases.workflow import Status
from twin.config import Settings
from twin.grid.cells import Grid
from twin.grid.generate import generate_grid
from twin.people.access import Principal
from twin.people.users import Role
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState
from twin.store import open_store

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
DISPATCHER = Principal("bench-desk", Role.DISPATCHER)
WORKER = Principal("bench-worker", Role.GRID_WORKER)
OPEN_CASES = 300
NEXT = {Status.REPORTED: "file", Status.FILED: "dispatch", Status.DISPATCHED: "accept", Status.ACCEPTED: "handle",
        Status.HANDLED: "close"}

# The pages keep their state in an export of their module (maps/static/js/); the bench reads it there.
MAP_STATE = "async () => (await import('/static/gridtwin/js/map.js')).view"
WALL_STATE = "async () => (await import('/static/gridtwin/js/ops/wall.js')).wall"

# Frame gaps and long tasks, recorded in the page from the moment `start()` is called.
RECORDER = """(wall) => {
  const r = window.__bench = { gaps: [], long: [], arrivals: [], running: true };
  new PerformanceObserver((list) => list.getEntries().forEach((e) => r.long.push(e.duration)))
    .observe({ type: "longtask" });
  wall.stream.source.addEventListener("case", (e) => {
    const change = JSON.parse(e.data);
    r.arrivals.push(Date.now() - Date.parse(change.at));
  });
  let last = performance.now();
  const frame = (t) => { r.gaps.push(t - last); last = t; if (r.running) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
}"""
WINDOW = """() => { const r = window.__bench; const out = { gaps: r.gaps, long: r.long, arrivals: r.arrivals };
  r.gaps = []; r.long = []; r.arrivals = []; return out; }"""


def bench_grid(cells: int) -> Grid:
    """About `cells` square cells of 200 m in one district."""
    side = math.ceil(math.sqrt(cells)) * 200.0
    dlat = side / 111_320.0
    dlon = side / (111_320.0 * math.cos(math.radians(34.8)))
    return generate_grid((114.25, 34.70, 114.25 + dlon * 0.999, 34.70 + dlat * 0.999), 200, district_code="410204",
                         district_name="Gulou District", streets=(5, 4), communities=(2, 2))


def fill(store, grid: Grid, settings: Settings, rng: random.Random) -> CaseBook:
    now = time.time()
    store.put_grid(grid)
    states = []
    for cell in grid.cells:
        roll = rng.random()
        level = Level.CRITICAL if roll < 0.01 else Level.WARNING if roll < 0.05 else Level.NORMAL
        states.append(CellState(cell.code, level, {"pm25": round(rng.uniform(10, 220), 1),
                                                   "noise_db": round(rng.uniform(45, 80), 1)}, now - 30))
    store.put_cell_states(states)
    anomalies = []
    for n in range(600):
        cell = rng.choice(grid.cells)
        opened = now - rng.uniform(600, 86000)
        level = rng.choice((Level.WARNING, Level.WARNING, Level.CRITICAL))
        anomalies.append(Anomaly(f"b-{n}", "pm25_high", "opened", level, cell.code, "bench", "threshold", opened, ""))
        anomalies.append(Anomaly(f"b-{n}", "pm25_high", "cleared", level, cell.code, "bench", "threshold",
                                 opened + rng.uniform(300, 7200), ""))
    store.write_anomalies([a for a in anomalies if a.ts < now])
    book = CaseBook(store, grid, settings.cases, settings.responsibility)
    for _ in range(OPEN_CASES):
        book.report(DISPATCHER, type_=rng.choice(("litter", "pothole", "illegal_parking")),
                    severity="critical" if rng.random() < 0.2 else "warning", cell=rng.choice(grid.cells).code)
    return book


class CaseMover:
    """Moves cases through the loop at `rate` changes per second, from its own store connection."""

    def __init__(self, url: str, grid: Grid, settings: Settings, rate: float, seed: int = 3):
        self.store = open_store(url)
        self.book = CaseBook(self.store, grid, settings.cases, settings.responsibility)
        self.grid = grid
        self.rate = rate
        self.rng = random.Random(seed)
        self.changes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-case-mover", daemon=True)
        self._open = [c.id for c in self.book.find(_open_query())[0]]

    def __enter__(self) -> "CaseMover":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)
        self.store.close()

    def _run(self) -> None:
        interval, due = 1.0 / self.rate, time.monotonic()
        while not self._stop.is_set():
            self.step()
            due += interval
            self._stop.wait(max(0.0, due - time.monotonic()))

    def step(self) -> None:
        rng = self.rng
        if not self._open or rng.random() < 0.25:
            severity = "critical" if rng.random() < 0.1 else "warning"
            case = self.book.report(DISPATCHER, type_="litter", severity=severity, cell=rng.choice(self.grid.cells).code)
            self._open.append(case.id)
        else:
            case_id = rng.choice(self._open)
            case = self.book.get(case_id)
            action = NEXT.get(case.status)
            if action is None:
                self._open.remove(case_id)
                return
            who = WORKER if action in ("accept", "handle") else DISPATCHER
            fields = {"assignee": WORKER.name} if action == "dispatch" else {}
            note = "done" if action == "handle" else ""
            self.book.act(case_id, action, who, note=note, **fields)
            if action == "close":
                self._open.remove(case_id)
        self.changes += 1


def _open_query():
    from twin.cases.workflow import OPEN_STATUSES, CaseQuery

    return CaseQuery(statuses=OPEN_STATUSES, limit=10_000)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def frames(sample: dict, seconds: float) -> dict:
    gaps, long = sample["gaps"][1:], sample["long"]
    return {
        "frames": len(gaps),
        "fps": round(len(gaps) / seconds, 1),
        "gap_p50_ms": percentile(gaps, 0.50),
        "gap_p95_ms": percentile(gaps, 0.95),
        "gap_p99_ms": percentile(gaps, 0.99),
        "gap_max_ms": round(max(gaps), 1) if gaps else None,
        "gaps_over_50ms": sum(1 for g in gaps if g > 50),
        "long_tasks": len(long),
        "long_task_ms_total": round(sum(long), 1),
        "long_task_max_ms": round(max(long), 1) if long else None,
        "arrival_p50_ms": percentile(sample["arrivals"], 0.50),
        "arrival_p95_ms": percentile(sample["arrivals"], 0.95),
        "case_events": len(sample["arrivals"]),
    }


def _median(samples: list[dict], key: str) -> int:
    return round(statistics.median(s[key] for s in samples))


def serve(app):
    server = WebServer(app, "127.0.0.1", free_port())
    thread = threading.Thread(target=server.run, name="bench-uvicorn", daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{server.config.port}"


def measure(cells: int, seconds: float, rates: list[float], poll: float, loads: int) -> dict:
    rng = random.Random(11)
    with tempfile.TemporaryDirectory(prefix="gridtwin-bench-") as tmp:
        url = f"sqlite:///{Path(tmp)}/wall.db"
        settings = Settings().replace(mqtt={"port": free_port()}, store={"url": url})  # no broker: the feed polls
        grid = bench_grid(cells)
        store = open_store(url)
        store.migrate()
        fill(store, grid, settings, rng)
        app = create_app(settings, store=store, grid=grid, poll_interval=poll)
        server, thread, base = serve(app)
        result: dict = {"cells": len(grid), "open_cases_at_start": OPEN_CASES, "seconds": seconds, "poll_s": poll}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
                maps, walls = [], []
                for _ in range(loads):  # a fresh page each time; the medians are reported
                    page = browser.new_page(bypass_csp=True, viewport={"width": 1920, "height": 1080})
                    page.goto(base + "/")  # baseline: the live map page with the same cells
                    view = page.evaluate_handle(MAP_STATE)
                    page.wait_for_function("view => view.timings && view.timings.cellsDrawn", arg=view,
                                           timeout=120_000)
                    maps.append(page.evaluate("view => view.timings", view))
                    page.close()
                    page = browser.new_page(bypass_csp=True, viewport={"width": 1920, "height": 1080})
                    page.goto(base + "/wall")
                    wall = page.evaluate_handle(WALL_STATE)
                    page.wait_for_function("wall => wall.ready && wall.timings.ready && wall.history", arg=wall,
                                           timeout=120_000)
                    walls.append(page.evaluate("wall => wall.timings", wall) | {"dom": page.evaluate(
                        "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")})
                    if len(walls) < loads:
                        page.close()
                result["loads"] = loads
                result["map_page"] = {"cells_loaded_ms": _median(maps, "cellsLoaded"),
                                      "cells_drawn_ms": _median(maps, "cellsDrawn")}
                result["wall"] = {"dom_content_loaded_ms": _median(walls, "dom"),
                                  "cells_loaded_ms": _median(walls, "cellsLoaded"),
                                  "cases_loaded_ms": _median(walls, "casesLoaded"),
                                  "kpi_loaded_ms": _median(walls, "kpiLoaded"),
                                  "cells_drawn_ms": _median(walls, "cellsDrawn"),
                                  "first_render_ms": _median(walls, "ready")}  # from navigation start
                page.evaluate("wall => { wall.focusSeconds = 3; }", wall)
                page.wait_for_timeout(1500)  # the history, ticker and first KPI refresh settle
                page.evaluate(RECORDER, wall)
                page.wait_for_timeout(seconds * 1000)
                result["baseline_no_updates"] = frames(page.evaluate(WINDOW), seconds)
                for rate in rates:
                    with CaseMover(url, grid, settings, rate) as mover:
                        page.wait_for_timeout(seconds * 1000)
                        changes = mover.changes
                    sample = page.evaluate(WINDOW)
                    result[f"updates_{rate:g}_per_s"] = frames(sample, seconds) | {"changes": changes}
                    page.wait_for_timeout(1000)
                    page.evaluate(WINDOW)  # the tail of this rate's events is not the next one's
                result["wall_case_events_applied"] = page.evaluate("wall => wall.caseEvents", wall)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(10)
            store.close()
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench wall", description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, default=10_000, help="about this many cells (default 10000)")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each measured window (default 10)")
    p.add_argument("--rates", default="1,10", help="case changes per second to measure, comma-separated (default 1,10)")
    p.add_argument("--poll", type=float, default=1.0, help="the app's store polling interval in seconds (default 1)")
    p.add_argument("--loads", type=int, default=3, help="page loads for the first-render medians (default 3)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    r = measure(args.cells, args.seconds, rates, args.poll, args.loads)
    w, m = r["wall"], r["map_page"]
    lines = [
        f"map wall, {r['cells']} cells, {r['open_cases_at_start']} open cases, Chromium 1920x1080 (headless)",
        f"  first render (median of {r['loads']} loads, ms after the page's script started): cells fetched "
        f"{w['cells_loaded_ms']}, drawn {w['cells_drawn_ms']}; open cases {w['cases_loaded_ms']}, KPIs "
        f"{w['kpi_loaded_ms']}; wall complete and painted {w['first_render_ms']} ms after navigation start",
        f"  baseline, the live map page / with the same cells: fetched {m['cells_loaded_ms']}, drawn "
        f"{m['cells_drawn_ms']}",
        "  window                 fps  gap p50/p95/p99/max ms      gaps>50ms  long tasks (total/max ms)  "
        "event->page p50/p95 ms",
    ]
    for name in ["baseline_no_updates"] + [f"updates_{rate:g}_per_s" for rate in rates]:
        f = r[name]
        label = "no updates (baseline)" if name == "baseline_no_updates" else \
            f"{name.split('_')[1]} changes/s ({f['changes']})"
        lines.append(f"  {label:<22} {f['fps']:>4}  {f['gap_p50_ms']}/{f['gap_p95_ms']}/{f['gap_p99_ms']}/"
                     f"{f['gap_max_ms']:<12} {f['gaps_over_50ms']:>5}      {f['long_tasks']} "
                     f"({f['long_task_ms_total']}/{f['long_task_max_ms']})            "
                     f"{f['arrival_p50_ms']}/{f['arrival_p95_ms']}")
    emit(r, args.json, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
