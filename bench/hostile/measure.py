"""`python -m bench hostile`: the hostile corpus in full, and good traffic's throughput beside it.

1. Accounting: --per-source cases (default 10,000) of each source (native readings, camera events,
   statuses, and every adapter) through Mosquitto, the gateway and a SQLite store; every message
   stored as expected, dead-lettered with its reason, or one of the kinds that produce neither.
2. Throughput: in each of --runs runs, the clean stream alone (bench.publisher: --messages readings
   from 1,000 registered devices at full speed, QoS 1) and then the same clean stream with a hostile
   publisher beside it, on its own connection, sending the corpus at --share of the clean rate just
   measured. The clean rate is the clean readings over the time from the publishers' start to the last
   clean row written; medians over the runs and their ratio are reported, with the clean readings lost.
   With --queued both streams are published while the gateway is away and the gateway is timed from
   its start: its own rate, without the publishers taking CPU from it on a small machine. With
   --clean-rate the clean stream is sent at that rate: good traffic below the gateway's capacity.

    python -m bench hostile [--per-source 10000] [--messages 30000] [--runs 5] [--share 0.1] [--hostile refused|all]
                            [--queued | --clean-rate R] [--seed 6] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import emit, median
from bench.hostile.corpus import Case, make_world
from bench.hostile.generate import SOURCE_NAMES, corpus
from bench.hostile.run import reconcile, run_corpus, settings_for
from bench.hostile.wire import dump_messages
from gridtwin.localbroker import MosquittoBroker
from twin.devices.device import Device, DeviceKind
from twin.grid.demo import demo_grid
from twin.store import open_store

CLEAN_DEVICES = 1000


def _store(directory: str, grid):
    store = open_store(f"sqlite:///{directory}/hostile.db")
    store.migrate()
    store.put_grid(grid)
    return store


def _clean_fleet(grid) -> list[Device]:
    """The clean publisher's devices (bench-00000...), fixed in the demo grid's cells."""
    cells = grid.cells
    fleet = []
    for i in range(CLEAN_DEVICES):
        cell = cells[i % len(cells)]
        point = cell.geometry.representative_point()
        fleet.append(Device(f"bench-{i:05d}", DeviceKind.SENSOR, point.y, point.x, metrics=("pm25", "noise_db"),
                            cell_code=cell.code))
    return fleet


async def accounting(per_source: int, seed: int) -> dict:
    grid = demo_grid()
    with tempfile.TemporaryDirectory(prefix="gridtwin-hostile-") as tmp, MosquittoBroker() as broker:
        store = _store(tmp, grid)
        world = make_world(f"hx{uuid.uuid4().hex[:6]}", grid, time.time())
        started = time.perf_counter()
        cases = corpus(world, per_source, seed)
        generated = time.perf_counter() - started
        report = await run_corpus(broker, store, world, cases)
        store.close()
    report["generation_seconds"] = round(generated, 1)
    return report


async def _publisher(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", *args, stdout=asyncio.subprocess.PIPE)


async def _result(proc: asyncio.subprocess.Process) -> dict:
    import json

    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"publisher failed with code {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def _publishers(broker, world, messages: int, hostile: list[Case] | None, hostile_rate: float,
                      directory: str, clean_rate: float = 0.0) -> list[asyncio.subprocess.Process]:
    """The clean publisher (at full speed, or `clean_rate` a second), and the hostile one beside it when given."""
    procs = [await _publisher("bench.publisher", "--host", broker.host, "--port", str(broker.port),
                              "--messages", str(messages), "--devices", str(CLEAN_DEVICES), "--prefix", world.prefix,
                              "--rate", str(clean_rate))]
    if hostile:
        path = Path(directory) / "hostile.bin"
        dump_messages(path, [(c.topic, c.payload) for c in hostile])
        procs.append(await _publisher("bench.hostile.wire", "--host", broker.host, "--port", str(broker.port),
                                      "--file", str(path), "--rate", f"{hostile_rate:.1f}"))
    return procs


async def _gateway_run(broker, grid, world, messages: int, hostile: list[Case] | None, hostile_rate: float,
                       directory: str, queued: bool = False, clean_rate: float = 0.0) -> dict:
    """One gateway on a fresh store: the clean stream, and the hostile one beside it when given.
    Queued: both streams are published while the gateway is away (its session keeps them at the
    broker), and the gateway is then timed draining them, with no publisher using the cores."""
    from gateway import Gateway

    store = _store(directory, grid)
    store.put_devices(_clean_fleet(grid) + world.devices())
    clean_rows = [0]
    write = store.write_readings

    def counting_write(readings):
        stored = write(readings)
        clean_rows[0] += sum(1 for r in readings if r.device_id.startswith("bench-"))
        return stored

    store.write_readings = counting_write
    settings = settings_for(world, broker, store.url)
    expected = 2 * messages  # two metrics a reading
    if queued:
        async with Gateway(settings, store, grid):  # connected and subscribed: its session, then away
            pass
        sent = [await _result(p) for p in await _publishers(broker, world, messages, hostile, hostile_rate, directory)]
    async with Gateway(settings, store, grid) as gw:
        stop = asyncio.Event()
        start, cpu0 = time.perf_counter(), time.process_time()
        runner = asyncio.create_task(gw.run(stop))
        if not queued:
            procs = await _publishers(broker, world, messages, hostile, hostile_rate, directory, clean_rate)
        deadline = start + 900
        while clean_rows[0] < expected and time.perf_counter() < deadline and not runner.done():
            await asyncio.sleep(0.002)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
        if not queued:
            sent = [await _result(p) for p in procs]
        clean, hostile_sent = sent[0], (sent[1] if hostile else {"acked": 0})
        total = messages + hostile_sent["acked"]
        while gw.pipeline.stats.messages < total and time.perf_counter() < deadline and not runner.done():
            await asyncio.sleep(0.05)
        alive, reconnects = not runner.done(), gw.transport.reconnects
        stop.set()
        await runner
    stored = sum(1 for r in store.readings(limit=100_000_000) if r.device_id.startswith("bench-"))
    result = {"rate": messages / seconds, "clean_published": clean["acked"], "clean_rows": stored,
              "clean_lost": expected - stored, "hostile_published": hostile_sent["acked"], "seconds": seconds,
              "cpu_us": cpu / messages * 1e6, "gateway_alive": alive, "reconnects": reconnects}
    if hostile:
        report = reconcile(hostile, [], _Without(store, "bench-"), 0.0, time.time() + 1e9, world.prefix)
        mismatch = {k: v for k, v in report["mismatches"].items() if v and not k.startswith("letters")}
        result["hostile_rows_and_events_as_expected"] = not mismatch
        result["hostile_dead_letters_stored"] = sum(store.dead_letter_counts().values())
        result["hostile_dead_letters_expected"] = report["letters_expected"]
    store.close()
    return result


class _Without:
    """A store seen without one fleet's readings (the clean stream's), for reconciling the hostile one."""

    def __init__(self, store, prefix: str):
        self.store, self.prefix = store, prefix

    def readings(self, **kw):
        return [r for r in self.store.readings(**kw) if not r.device_id.startswith(self.prefix)]

    def camera_events(self, **kw):
        return self.store.camera_events(**kw)


def refused(cases: list[Case]) -> list[Case]:
    """The cases that store nothing: the hostile traffic proper (the corpus's well-formed readings,
    events and their repeats are good traffic, with anomalies and cases of their own)."""
    # Repeats of a stored reading or event would be stored without their first.
    return [c for c in cases if not (c.expect.rows or c.expect.events) and c.klass != "update"
            and not c.expect.nothing.startswith("a repeat")]


async def throughput(messages: int, runs: int, share: float, seed: int, only_refused: bool = True,
                     queued: bool = False, clean_rate: float = 0.0) -> dict:
    grid = demo_grid()
    clean_runs, mixed_runs, cases = [], [], 0
    with MosquittoBroker() as broker:
        for run in range(runs):
            world = make_world(f"hx{uuid.uuid4().hex[:6]}", grid, time.time())
            hostile = corpus(world, max(1, round(2 * share * messages / len(SOURCE_NAMES))), seed + run)
            hostile = (refused(hostile) if only_refused else hostile)[: round(share * messages)]
            cases += len(hostile)
            with tempfile.TemporaryDirectory(prefix="gridtwin-hostile-") as tmp:
                clean_runs.append(await _gateway_run(broker, grid, world, messages, None, 0.0, tmp, queued, clean_rate))
            with tempfile.TemporaryDirectory(prefix="gridtwin-hostile-") as tmp:
                rate = share * clean_runs[-1]["rate"]
                mixed_runs.append(await _gateway_run(broker, grid, world, messages, hostile, rate, tmp, queued,
                                                     clean_rate))
    clean = median([r["rate"] for r in clean_runs])
    mixed = median([r["rate"] for r in mixed_runs])
    return {
        "messages": messages, "runs": runs, "share": share, "hostile": "refused" if only_refused else "all",
        "mode": "queued" if queued else "live", "clean_offered": clean_rate or None,
        "clean_rate": round(clean, 1), "mixed_clean_rate": round(mixed, 1), "retained": round(mixed / clean, 3),
        "retained_runs": [round(m["rate"] / c["rate"], 3) for c, m in zip(clean_runs, mixed_runs)],
        "clean_runs": [round(r["rate"], 1) for r in clean_runs], "mixed_runs": [round(r["rate"], 1) for r in mixed_runs],
        "hostile_cases": cases, "hostile_published": sum(r["hostile_published"] for r in mixed_runs),
        "clean_lost": sum(r["clean_lost"] for r in clean_runs + mixed_runs),
        "clean_cpu_us_per_msg": round(median([r["cpu_us"] for r in clean_runs]), 1),
        "mixed_cpu_us_per_msg": round(median([r["cpu_us"] for r in mixed_runs]), 1),
        "gateway_up": all(r["gateway_alive"] and r["reconnects"] == 0 for r in clean_runs + mixed_runs),
        "hostile_as_expected": all(r["hostile_rows_and_events_as_expected"] and
                                   r["hostile_dead_letters_stored"] == r["hostile_dead_letters_expected"]
                                   for r in mixed_runs),
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench hostile", description=__doc__.split("\n\n")[0])
    p.add_argument("--per-source", type=int, default=10_000, help="accounting: cases per source (0 skips it)")
    p.add_argument("--messages", type=int, default=30_000, help="throughput: clean readings per run (0 skips it)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--share", type=float, default=0.1, help="hostile messages per clean message in the mixed runs")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--hostile", choices=("refused", "all"), default="refused",
                   help="the mixed-in stream: the corpus's cases that store nothing (default), or all of it")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--queued", action="store_true",
                   help="publish both streams while the gateway is away, then time it draining them: the gateway's "
                        "own rate, with no publisher competing for the cores")
    mode.add_argument("--clean-rate", type=float, default=0.0,
                   help="the clean stream's rate (readings a second) instead of full speed: good traffic below the "
                        "gateway's capacity")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result: dict = {"benchmark": "hostile"}
    lines: list[str] = []
    ok = True
    if args.per_source:
        a = asyncio.run(accounting(args.per_source, args.seed))
        result["accounting"] = a
        ok &= a["accounted"] and a["crash"] is None and a["reconnects"] == 0
        lines += [f"hostile corpus: {a['messages']:,} messages, {args.per_source:,} per source, seed {args.seed} "
                  f"(generated in {a['generation_seconds']} s, through the gateway in {a['seconds']} s, "
                  f"{a['rate']:,.0f} msg/s)",
                  f"  gateway up: {a['gateway_alive']}, reconnects {a['reconnects']}, crash {a['crash']}",
                  f"  {'source':<16}{'sent':>8}{'stored':>8}{'partly':>8}{'dead':>8}{'nothing':>9}"]
        for name, s in a["sources"].items():
            lines.append(f"  {name:<16}{s['sent']:>8}{s['stored']:>8}{s['partly']:>8}{s['dead_lettered']:>8}"
                         f"{s['nothing']:>9}")
        lines += [f"  rows stored {a['rows_stored']:,} of {a['rows_expected']:,} expected; camera events "
                  f"{a['events_stored']:,} of {a['events_expected']:,}; dead letters {a['letters_received']:,} of "
                  f"{a['letters_expected']:,}",
                  f"  dead letters by reason: {a['letters_by_reason']}",
                  f"  mismatches: {a['mismatches']}; every message accounted for: {a['accounted']}"]
    if args.messages:
        t = asyncio.run(throughput(args.messages, args.runs, args.share, args.seed, args.hostile == "refused",
                                   args.queued, args.clean_rate))
        result["throughput"] = t
        ok &= t["clean_lost"] == 0 and t["gateway_up"] and t["hostile_as_expected"]
        how = ("queued at the broker, then drained by the gateway" if args.queued else
               f"published live at {args.clean_rate:,.0f}/s" if args.clean_rate else "published live at full speed")
        lines += [f"clean stream of {t['messages']:,} readings, alone and with hostile messages ({t['hostile']} cases) at "
                  f"{t['share']:.0%} of its rate ({t['hostile_published']:,} hostile in all), {how}, "
                  f"median of {t['runs']} runs",
                  f"  clean alone:        {t['clean_rate']:>8,.0f} msg/s  runs {t['clean_runs']}",
                  f"  clean beside hostile: {t['mixed_clean_rate']:>6,.0f} msg/s  runs {t['mixed_runs']}",
                  f"  retained {t['retained']:.2f} (runs {t['retained_runs']}); CPU per clean message "
                  f"{t['clean_cpu_us_per_msg']} / {t['mixed_cpu_us_per_msg']} us; clean readings lost {t['clean_lost']}; "
                  f"hostile as expected {t['hostile_as_expected']}; gateway up {t['gateway_up']}"]
    emit(result, args.json, lines)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
