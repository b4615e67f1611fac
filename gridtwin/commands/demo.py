"""`gridtwin demo`: everything on embedded defaults in one process.

A local broker (Mosquitto when installed, else the embedded amqtt), a SQLite
store in a temporary directory, the Kaifeng demo grid, a simulated fleet, the
gateway and the web map. Ctrl-C stops it; `--duration S` stops it by itself
and prints a summary (one JSON object on the last line with `--json`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import time
from pathlib import Path

from gridtwin.localbroker import local_broker
from gridtwin.ports import free_port

# A few installed-but-not-yet-registered devices: realistic, and their readings show
# the dead-letter path working (reason `unknown_device`) in every demo.
UNREGISTERED = 3


def register(sub) -> None:
    p = sub.add_parser("demo", help="run broker, store, simulator, gateway and map on embedded defaults")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds and print a summary")
    p.add_argument("--port", type=int, default=8080, help="web map port (default 8080; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="web map address (default 127.0.0.1)")
    p.add_argument("--sensors", type=int, default=600, help="simulated sensors (default 600)")
    p.add_argument("--cameras", type=int, default=40, help="simulated cameras (default 40)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between a device's readings (default 5)")
    p.add_argument("--incidents", type=int, default=4, help="incidents injected near the start (default 4)")
    p.add_argument("--data-dir", metavar="DIR", help="keep the SQLite store here (default: a temporary directory)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=run)


def run(args, console) -> int:
    with contextlib.ExitStack() as stack:
        data_dir = Path(args.data_dir) if args.data_dir else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="gridtwin-demo-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        broker = stack.enter_context(local_broker())
        summary = asyncio.run(_demo(args, console, broker, data_dir))
    text = (f"demo stopped after {summary['seconds']:.0f} s: {summary['devices']} devices, "
            f"{summary['readings_stored']} readings stored, {summary['dead_letters']} dead letters, "
            f"{summary['anomalies']} anomalies, {summary['cases']} cases")
    console.result(summary, text)
    return 0


async def _demo(args, console, broker, data_dir: Path) -> dict:
    from firmware_sim import Simulator, make_fleet, random_incidents
    from gateway import Gateway
    from maps.app import WebServer, create_app
    from twin.config import Settings
    from twin.devices.registry import register_devices
    from twin.grid.demo import demo_grid
    from twin.store import open_store

    port = args.port or free_port(args.host)
    settings = Settings().replace(
        mqtt={"host": broker.host, "port": broker.port},
        store={"url": f"sqlite:///{data_dir}/gridtwin.db"},
        web={"host": args.host, "port": port},
    )
    grid = demo_grid()
    store = open_store(settings.store.url)
    store.migrate()
    store.put_grid(grid)
    fleet = make_fleet(grid, sensors=args.sensors, cameras=args.cameras, seed=7)
    report = register_devices(store, grid, fleet[UNREGISTERED:], now=time.time())
    incidents = random_incidents(grid, fleet, args.incidents, start=time.time() + 2.0, seed=7)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    app = create_app(settings, store=store, grid=grid)
    server = WebServer(app, args.host, port)
    started = time.monotonic()
    async with Gateway(settings, store, grid) as gw:
        gateway_task = asyncio.create_task(gw.run(stop), name="demo-gateway")
        web_task = asyncio.create_task(server.serve(), name="demo-web")
        async with Simulator(settings.mqtt, fleet, interval=args.interval, incidents=incidents, grid=grid,
                             seed=7) as sim:
            sim_task = asyncio.create_task(sim.run(), name="demo-sim")
            console.print(f"GridTwin demo: map at http://{args.host}:{port}/  "
                          f"({len(report.accepted)} devices on {len(grid)} cells, broker {broker.host}:{broker.port})")
            if args.duration:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.duration)
            else:
                await stop.wait()
            sim.stop()
            sim_stats = await sim_task
        await asyncio.sleep(0.5)  # let the last readings arrive
        stop.set()
        await gateway_task
        server.should_exit = True
        await web_task
        gw_summary = gw.summary()
    stored = await asyncio.to_thread(store.count_readings)
    reporting = len({d.id for d in await asyncio.to_thread(store.list_devices) if d.last_seen is not None})
    cases = await asyncio.to_thread(_case_counts, store)
    store.close()
    return {
        "seconds": round(time.monotonic() - started, 1),
        "url": f"http://{args.host}:{port}/",
        "devices": len(report.accepted),
        "devices_reporting": reporting,
        "cells": len(grid),
        "readings_published": getattr(sim_stats, "readings", None),
        "readings_stored": stored,
        "dead_letters": gw_summary["dead_letters_total"],
        "dead_letters_by_reason": gw_summary["dead_letters"],
        "anomalies": gw_summary["anomalies_opened"],
        "anomalies_cleared": gw_summary["anomalies_cleared"],
        "camera_events": gw_summary["camera_events"],
        "cases": cases["total"],
        "cases_by_status": cases["by_status"],
        "case_updates_published": gw_summary["case_updates_published"],
        "escalations": gw_summary["escalations"],
        "mqtt_protocol": gw_summary["mqtt_protocol"],
    }


def _case_counts(store) -> dict:
    from twin.cases.workflow import CaseQuery, Status

    by_status = {str(s): store.find_cases(CaseQuery(statuses=(s,), limit=1))[1] for s in Status}
    return {"total": sum(by_status.values()), "by_status": {k: v for k, v in by_status.items() if v}}
