"""`gridtwin sim`: the device simulator on its own, against the configured broker.

It simulates the devices registered in the store, or, when there are none, a
generated fleet on the configured grid (which `--register` writes to the
registry first, so a gateway accepts its readings).
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time

from gridtwin.cli import add_config_argument
from twin.config import load_settings
from twin.store import redact


def register(sub) -> None:
    p = sub.add_parser("sim", help="simulate sensors and AI cameras publishing over MQTT")
    add_config_argument(p)
    p.add_argument("--store", metavar="URL", help="store URL (overrides store.url)")
    p.add_argument("--sensors", type=int, default=200, metavar="N", help="sensors of a generated fleet (default 200)")
    p.add_argument("--cameras", type=int, default=20, metavar="N", help="cameras of a generated fleet (default 20)")
    p.add_argument("--mobile", type=int, default=0, metavar="N", help="mobile sensors of a generated fleet (default 0)")
    p.add_argument("--interval", type=float, default=10.0, metavar="S", help="seconds between two readings of a device (default 10)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds (default: run until Ctrl-C)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the fleet, behaviour and incidents (default 0)")
    p.add_argument("--incidents", type=int, default=0, metavar="N", help="incidents starting right away in cells that notice them")
    p.add_argument("--register", action="store_true", help="register a generated fleet in the store before simulating it")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    p.set_defaults(func=run)


def run(args, console) -> int:
    from firmware_sim import make_fleet, random_incidents
    from twin.devices.registry import register_devices
    from twin.store import open_twin

    for name in ("sensors", "cameras", "mobile", "incidents"):
        if getattr(args, name) < 0:
            console.error(f"--{name} must not be negative")
            return 2
    if args.interval <= 0 or (args.duration is not None and args.duration <= 0):
        console.error("--interval and --duration must be positive")
        return 2
    settings = load_settings(args.config)
    store, grid = open_twin(settings, args.store)
    summary: dict = {}
    try:
        devices = _simulatable(store.list_devices(), console)
        if devices:
            summary["source"] = "registry"
            if args.register:
                console.print(f"the store already has {len(devices)} devices; simulating them, nothing registered")
        else:
            devices = make_fleet(grid, sensors=args.sensors, cameras=args.cameras, mobile=args.mobile, seed=args.seed)
            summary["source"] = "generated"
            if args.register:
                report = register_devices(store, grid, devices)
                summary["registered"] = len(report.accepted)
                summary["refused"] = len(report.refused)
                console.print(f"registered {len(report.accepted)} devices in {redact(store.url)}"
                              + (f"; {len(report.refused)} refused (see the log)" if report.refused else ""))
    finally:
        store.close()
    incidents = random_incidents(grid, devices, args.incidents, start=time.time(), seed=args.seed)
    for incident in incidents:
        console.print(f"incident {incident.type} in cell {incident.cell_code} for {incident.end - incident.start:.0f} s")
    console.print(
        f"simulating {len(devices)} devices ({summary['source']}) against {settings.mqtt.host}:{settings.mqtt.port} "
        f"every {args.interval:g} s" + ("" if args.duration else "; Ctrl-C stops")
    )
    stats = asyncio.run(_simulate(settings, devices, grid, incidents, args))
    summary.update(stats.to_dict(), incidents=len(incidents), broker=f"{settings.mqtt.host}:{settings.mqtt.port}")
    console.result(summary, _text(summary))
    return 0


def _simulatable(devices: list, console) -> list:
    """Registered devices the simulator can play: cameras, and sensors whose metrics are known
    (from the registry, else from a generated fleet's model name)."""
    import dataclasses

    from firmware_sim import SENSOR_TYPES
    from twin.devices.device import DeviceKind

    by_model = {t.name: t.metrics for t in SENSOR_TYPES}
    out, skipped = [], []
    for device in devices:
        if device.kind is DeviceKind.SENSOR and not device.metrics:
            metrics = by_model.get(device.model)
            if metrics is None:
                skipped.append(device.id)
                continue
            device = dataclasses.replace(device, metrics=metrics)
        out.append(device)
    if skipped:
        console.print(f"skipped {len(skipped)} registered sensor(s) without metrics: {', '.join(skipped[:5])}"
                      + (" ..." if len(skipped) > 5 else ""))
    return out


async def _simulate(settings, devices, grid, incidents, args):
    from firmware_sim import Simulator

    loop = asyncio.get_running_loop()
    # Signals reach only the main thread; embedded in a worker thread, the duration or the caller stops it.
    signals = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    async with Simulator(settings.mqtt, devices, interval=args.interval, incidents=incidents, grid=grid,
                         seed=args.seed, catalog=settings.metrics) as sim:
        for sig in signals:
            loop.add_signal_handler(sig, sim.stop)
        try:
            await sim.run(args.duration)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
    return sim.stats


def _text(s: dict) -> str:
    connect = f"{s['connect_s']:.2f} s" if s.get("connect_s") is not None else "not all connected"
    return (
        f"{s['devices']} devices ({s['source']}), {s['elapsed_s']:.1f} s: "
        f"{s['readings']} readings in {s['messages']} messages, {s['camera_events']} camera events; "
        f"connected in {connect}, {s['connect_failures']} connect failures, {s['reconnects']} reconnects"
        + (f", {s['dropped']} readings dropped" if s.get("dropped") else "")
    )
