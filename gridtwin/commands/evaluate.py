"""`gridtwin evaluate SCENARIO`: play a scenario with ground truth end to end (devices -> a real
broker -> the gateway -> a throwaway SQLite store) and score detection against it: precision,
recall, F1 and detection delay per incident type and per detector, false alarms per device-day,
and how the injected device faults were classified. docs/detection.md defines the figures.

SCENARIO is a scenario file, or the name of a shipped one (ordinary-week, rainstorm,
festival-night). `--random SEED` plays a generated one instead.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

from gridtwin.cli import add_config_argument


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="play a scenario through broker and gateway, and score detection")
    p.add_argument("scenario", nargs="?", help="scenario file, or the name of a shipped scenario")
    add_config_argument(p)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object on the last line")
    p.add_argument("--speed", type=float, default=0.0, metavar="X",
                   help="at most X simulated seconds per wall second (default 0: as fast as the gateway keeps up)")
    p.add_argument("--step", type=float, default=60.0, metavar="S",
                   help="simulated seconds per step of the player (default 60)")
    p.add_argument("--grace", type=float, default=1800.0, metavar="S",
                   help="an anomaly up to S seconds after an incident's end still matches it (default 1800)")
    p.add_argument("--random", type=int, metavar="SEED", help="play a generated scenario instead of a file")
    p.add_argument("--hours", type=float, metavar="H", help="with --random: the scored span (default random)")
    p.add_argument("--truth", action="store_true", help="print the scenario's resolved ground truth and stop")
    p.add_argument("--keep", metavar="DIR", help="keep the SQLite store in DIR (default: a temporary directory)")
    p.add_argument("--anomalies", metavar="FILE",
                   help="write every anomaly of the run to FILE, one JSON object a line in time order, to compare runs")
    p.set_defaults(func=run)


def run(args, console) -> int:
    from firmware_sim.scenarios import (
        ScenarioError,
        build_world,
        load_scenario,
        loads_scenario,
        random_scenario,
        scenario_path,
    )
    from twin.config import load_settings

    if (args.scenario is None) == (args.random is None):
        console.error("give a scenario (a file or a shipped name) or --random SEED")
        return 2
    if args.step <= 0 or args.speed < 0 or args.grace < 0:
        console.error("--step must be positive; --speed and --grace must not be negative")
        return 2
    if args.anomalies and not Path(args.anomalies).resolve().parent.is_dir():
        console.error(f"--anomalies {args.anomalies}: its directory does not exist")
        return 2
    try:
        if args.random is not None:
            scenario = loads_scenario(random_scenario(args.random, hours=args.hours), f"random-{args.random}")
        else:
            scenario = load_scenario(scenario_path(args.scenario))
        settings = load_settings(args.config)
        world = build_world(scenario, settings.metrics)
    except ScenarioError as exc:
        console.error(str(exc))
        return 2
    for note in world.notes:
        console.print(f"note: {note}")
    if args.truth:
        console.result({"scenario": scenario.name, **world.truth_dict()}, _truth_text(world))
        return 0
    result = asyncio.run(_evaluate(world, settings, args, console))
    from gridtwin.evaluation.report import render

    console.result(result, render(result))
    return 0 if result["acceptance"]["ok"] else 1


async def _evaluate(world, settings, args, console) -> dict:
    from gridtwin.evaluation import acceptance, run_through_gateway, score
    from gridtwin.localbroker import local_broker
    from twin.store import open_store

    scenario = world.scenario
    span = scenario.end - scenario.begin
    last = [time.monotonic()]

    def progress(fraction: float) -> None:
        if time.monotonic() - last[0] >= 10 or fraction >= 1.0:
            last[0] = time.monotonic()
            print(f"  {fraction:4.0%} of {span / 3600:.1f} simulated hours", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="gridtwin-evaluate-") as tmp:
        directory = Path(args.keep) if args.keep else Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        with local_broker() as broker:
            run_settings = settings.replace(
                mqtt={"host": broker.host, "port": broker.port, "prefix": f"eval{uuid.uuid4().hex[:6]}/v1",
                      "username": None, "password": None, "tls": False},
                store={"url": f"sqlite:///{directory}/evaluate.db"},
            )
            store = open_store(run_settings.store.url)
            try:
                store.migrate()
                store.put_grid(world.grid)
                console.print(f"playing {scenario.name}: {len(world.devices)} devices, {span / 3600:.1f} simulated "
                              f"hours (warm-up {scenario.warmup_s / 3600:.1f} h) through {broker.url}")
                run = await run_through_gateway(world, run_settings, store, step_s=args.step, speed=args.speed,
                                                progress=progress)
            finally:
                store.close()
    if args.anomalies:
        from gridtwin.evaluation.report import anomaly_lines

        Path(args.anomalies).write_text("".join(f"{line}\n" for line in anomaly_lines(run.anomalies)))
    figures = score(world, run.anomalies, grace_s=args.grace)
    return {
        "scenario": {"name": scenario.name, "path": str(scenario.path) if scenario.path else None,
                     "devices": len(world.devices), "cells": len(world.grid), "hours": scenario.duration_s / 3600,
                     "warmup_hours": scenario.warmup_s / 3600, "seed": scenario.seed},
        "run": {"messages": run.player["messages"], "readings": run.player["readings"],
                "camera_events": run.player["camera_events"], "wall_s": run.wall_s,
                "speedup": round(span / run.wall_s, 1) if run.wall_s else None, "step_s": args.step,
                "gateway": run.gateway},
        "score": figures,
        "cases": run.cases,
        "acceptance": acceptance(figures),
    }


def _truth_text(world) -> str:
    from twin.times import rfc3339

    lines = [f"ground truth of {world.scenario.name}: {len(world.truth)} incidents, {len(world.faults)} device faults"]
    for t in world.truth:
        cells = ", ".join(t.cells[:4]) + (f" and {len(t.cells) - 4} more" if len(t.cells) > 4 else "")
        lines.append(f"  {t.id:<18} {t.type:<16} {rfc3339(t.start)} .. {rfc3339(t.end)}  cells {cells}  "
                     f"seen by {', '.join(t.observers) or 'nobody'}")
    for f in world.faults:
        lines.append(f"  {f.id:<18} {f.kind:<16} {rfc3339(f.start)} .. {rfc3339(f.end)}  device {f.device_id}"
                     + (f" ({f.metric})" if f.metric else ""))
    return "\n".join(lines)
