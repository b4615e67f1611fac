"""Fault runs with real processes: what was sent, stored, lost and stored twice when a part fails.

    python -m bench faults [kill9|broker-restart|db-down|all] [--rate 2000] [--json] [options]

Every part is its own process, started as a deployment starts it: Mosquitto (persistence on),
`gridtwin gateway`, `gridtwin serve`, `gridtwin sim` and the fast QoS 1 publisher
(bench/publisher.py); PostgreSQL is a throwaway cluster. Each scenario counts what the
publisher (or simulator) had acknowledged by the broker against the distinct readings in the
store, and rows stored beyond one per device, seq and metric.

- kill9: SIGKILL of the gateway under load, then a restart with the same client id (persistent
  session); the broker redelivers what was not acknowledged, the store keeps one copy.
- broker-restart: Mosquitto stopped and started again on its port; the gateway, the simulator
  and the web app's live feed reconnect by themselves.
- db-down: PostgreSQL stopped with `pg_ctl stop` for --down seconds, then started again (or,
  with `--store sqlite`, the SQLite file locked by another process); the gateway spools, keeps
  publishing live state (counted by a subscriber and by the web app's stream) and replays the
  spool in order; `--spool-mb` small enough makes the spool fill, so that back-pressure is what
  is measured; `--kill-during` SIGKILLs the gateway while it holds a spool.

The exit status is 1 when any scenario lost or doubled a reading, else 0.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import re
import sqlite3
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt

from bench.common import bench_twin, emit, publisher_result
from bench.processes import (
    PREFIX,
    GatewayProcess,
    SimProcess,
    StreamWatch,
    WebProcess,
    census,
    start_publisher,
    wait_stored,
    write_config,
)
from gridtwin.localbroker import MosquittoBroker
from gridtwin.ports import free_port
from twin.store.sqlite import sqlite_path

SCENARIOS = ("kill9", "broker-restart", "db-down")


class LiveWatch:
    """A subscriber to the gateway's cell states and events that notes when each arrived, and to the
    gateway's retained status (`{prefix}/gateways/{instance}`), keeping the highest spool figures."""

    def __init__(self, broker):
        self.states: list[float] = []
        self.events: list[float] = []
        self.spool_seen: dict[str, float] = {}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe([(f"{PREFIX}/cells/+/+/state", 0), (f"{PREFIX}/events/#", 0),
                               (f"{PREFIX}/gateways/+", 0)])
        self.client.loop_start()
        subscribed.wait(10)

    def _on_message(self, client, userdata, message):
        if "/gateways/" in message.topic:
            spool = orjson.loads(message.payload).get("spool") or {}
            for key in ("spooled_batches", "spooled_bytes", "full_events"):
                self.spool_seen[key] = max(self.spool_seen.get(key, 0), spool.get(key, 0))
            return
        (self.events if "/events/" in message.topic else self.states).append(time.monotonic())

    def incident(self, device_id: str, readings: int = 6, every: float = 0.5) -> int:
        """Publish a run of critical PM2.5 readings from `device_id` (QoS 1): something the
        detection engine must raise while the store is away. Returns how many were sent."""
        for seq in range(readings):
            payload = {"ts": time.time(), "seq": seq, "values": {"pm25": 450.0, "noise_db": 50.0}}
            self.client.publish(f"{PREFIX}/readings/{device_id}", orjson.dumps(payload), qos=1).wait_for_publish(10)
            time.sleep(every)
        return readings

    def between(self, start: float, end: float) -> dict:
        states = [t for t in self.states if start <= t <= end]
        marks = [start, *states, end]
        return {"cell_states": len(states), "events": len([t for t in self.events if start <= t <= end]),
                "longest_silence_s": round(max(b - a for a, b in zip(marks, marks[1:])), 2)}

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def gateway_summary(gw: GatewayProcess) -> dict:
    """The figures the last gateway run printed when it stopped (`stopped: {...}`), or {}."""
    for line in reversed(gw.out.read_text(errors="replace").splitlines()):
        if line.startswith("stopped: "):
            try:
                return ast.literal_eval(line[len("stopped: "):])
            except (ValueError, SyntaxError):
                return {}
    return {}


def _figures(scenario: str, sent: int, final: dict, **extra) -> dict:
    return {"scenario": scenario, "sent": sent, "stored": final["readings"], "lost": max(0, sent - final["readings"]),
            "stored_twice": final["stored_twice"], "incomplete": final["incomplete"],
            "dead_letters": final["dead_letters"], **extra}


async def _twin(url: str, devices: int) -> None:
    store, _ = await asyncio.to_thread(bench_twin, None, devices, url)
    store.close()


# -- the scenarios -------------------------------------------------------------------------------
async def kill9(workdir: Path, *, rate: float, seconds: float, devices: int, kills: int = 1,
                down_s: float = 2.0, store_url: str | None = None) -> dict:
    """SIGKILL the gateway `kills` times, evenly over the run, while the publisher sends `rate`/s."""
    url = store_url or f"sqlite:///{workdir}/twin.db"
    await _twin(url, devices)
    with MosquittoBroker(workdir=workdir / "mosquitto") as broker:
        gw = GatewayProcess(write_config(workdir, broker, url), workdir)
        await gw.start()
        messages = int(rate * seconds)
        start = time.monotonic()
        pub = await start_publisher(broker, messages, devices, rate)
        at_kill = []
        try:
            for k in range(kills):
                await asyncio.sleep(max(0.0, start + seconds * (k + 1) / (kills + 1) - time.monotonic()))
                at_kill.append((await asyncio.to_thread(census, url))["readings"])
                gw.kill()
                await gw.proc.wait()
                await asyncio.sleep(down_s)
                await gw.start()
            sent = (await publisher_result(pub))["acked"]
            final = await wait_stored(url, sent, timeout=120 + seconds)
        finally:
            if pub.returncode is None:
                pub.kill()
            await gw.stop()
    last = gateway_summary(gw)
    return _figures("kill9", sent, final, rate=rate, seconds=seconds, devices=devices, kills=kills,
                    down_s=down_s, stored_at_each_kill=at_kill, store=url.split(":", 1)[0],
                    gateway_after_restart=last,
                    # Messages the last gateway received whose readings were stored already: redeliveries
                    # of what a killed gateway had committed but not yet acknowledged.
                    redelivered_already_stored=last.get("messages", 0) - last.get("readings_stored", 0) // 2)


async def broker_restart(workdir: Path, *, devices: int, interval: float, seconds: float,
                         down_s: float = 2.0, store_url: str | None = None) -> dict:
    """Stop Mosquitto for `down_s` seconds mid-run (it saves its persistence on the way down) and start
    it again on its port, while the simulator's `devices` publish every `interval` seconds."""
    url = store_url or f"sqlite:///{workdir}/twin.db"
    await _twin(url, devices)
    with MosquittoBroker(workdir=workdir / "mosquitto") as broker:
        config = write_config(workdir, broker, url)
        gw, web, sim = GatewayProcess(config, workdir), WebProcess(config, workdir, free_port()), SimProcess(config, workdir)
        await gw.start()
        await web.start()
        try:
            await sim.start(interval, seconds)
            await asyncio.sleep(seconds * 0.4)
            web_before = await web.feed_messages()
            stored_before = (await asyncio.to_thread(census, url))["readings"]
            broker.stop()
            await asyncio.sleep(down_s)
            broker.start()
            back = time.monotonic()
            while not (await web.health())["mqtt"]["connected"]:
                if time.monotonic() - back > 60:
                    raise TimeoutError("the web app's live feed did not reconnect within 60 s")
                await asyncio.sleep(0.1)
            web_reconnect_s = time.monotonic() - back
            simulated = await sim.result(timeout=seconds + 120)
            sent = simulated["readings"]
            final = await wait_stored(url, sent, timeout=120)
            await asyncio.sleep(1.0)
            web_after = await web.feed_messages()
        finally:
            await sim.stop()
            await web.stop()
            await gw.stop()
    return _figures("broker-restart", sent, final, devices=devices, interval=interval, seconds=seconds,
                    down_s=down_s, store=url.split(":", 1)[0],
                    stored_before_restart=stored_before, stored_after_restart=final["readings"] - stored_before,
                    sim_reconnects=simulated["reconnects"], sim_dropped=simulated["dropped"],
                    web_reconnect_s=round(web_reconnect_s, 2), web_feed_messages_after_restart=web_after - web_before,
                    gateway_reconnects=gateway_summary(gw).get("reconnects"))


class _PostgresDown:
    """The database server stopped (`pg_ctl stop -m fast`) and started again on its port."""

    def __init__(self, cluster):
        self.cluster = cluster

    def begin(self) -> None:
        self.cluster.stop_server()

    def end(self) -> None:
        self.cluster.start_server()


class _SqliteLocked:
    """The SQLite file held under an exclusive lock by another process's transaction: the gateway's
    writes wait out their busy timeout, then fail as `database is locked`."""

    def __init__(self, url: str):
        self.path = sqlite_path(url)

    def begin(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=60, check_same_thread=False)
        self.conn.execute("BEGIN EXCLUSIVE")

    def end(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


async def db_down(workdir: Path, *, rate: float, down_s: float, devices: int, before_s: float = 10.0,
                  after_s: float = 20.0, spool_mb: float = 1024.0, store: str = "postgres", cluster=None,
                  kill: bool = False) -> dict:
    """Take the store away for `down_s` seconds while the publisher sends `rate`/s, then give it back:
    PostgreSQL stopped with `pg_ctl stop` and started again (`cluster`, a started ThrowawayCluster,
    or one made for the run), or the SQLite file locked by another process (`store="sqlite"`).
    With `kill`, the gateway is SIGKILLed three quarters into the outage, holding a spool, and
    started again once the store is back (a gateway needs its store to start)."""
    from gridtwin.pgcluster import ThrowawayCluster

    own = store == "postgres" and cluster is None
    if own:
        cluster = ThrowawayCluster().start()
    try:
        url = cluster.create_database() if store == "postgres" else f"sqlite:///{workdir}/twin.db"
        outage = _PostgresDown(cluster) if store == "postgres" else _SqliteLocked(url)
        await _twin(url, devices + 1)  # the publisher's, and one that reports an incident during the outage
        with MosquittoBroker(workdir=workdir / "mosquitto") as broker:
            config = write_config(workdir, broker, url, spool_mb=spool_mb)
            gw, web = GatewayProcess(config, workdir), WebProcess(config, workdir, free_port())
            await gw.start()
            await web.start()
            watch = LiveWatch(broker)
            wall = await StreamWatch(web.url).__aenter__()
            messages = int(rate * (before_s + down_s + after_s))
            pub = await start_publisher(broker, messages, devices, rate, trigger_every=10)
            try:
                await asyncio.sleep(before_s)
                stored_before = (await asyncio.to_thread(census, url))["readings"]
                down = time.monotonic()
                await asyncio.to_thread(outage.begin)
                await asyncio.sleep(min(2.0, down_s / 4))
                injected = await asyncio.to_thread(watch.incident, f"bench-{devices:05d}")
                spooled_at_kill = None
                if kill:
                    await asyncio.sleep(max(0.0, down + down_s * 0.75 - time.monotonic()))
                    gw.kill()
                    await gw.proc.wait()
                    spooled_at_kill = len(list((workdir / "spool").rglob("*.batch")))
                await asyncio.sleep(max(0.0, down + down_s - time.monotonic()))
                await asyncio.to_thread(outage.end)
                up = time.monotonic()
                live = {"mqtt": watch.between(down, up), "web_stream": wall.between(down, up)}
                if kill:
                    await gw.start()
                sent = (await publisher_result(pub))["acked"] + injected
                final = await wait_stored(url, sent, timeout=180 + down_s)
                caught_up_s = time.monotonic() - up
            finally:
                watch.close()
                await wall.__aexit__()
                if pub.returncode is None:
                    pub.kill()
                await web.stop()
                await gw.stop()
        log = gw.log()
        spool_left = len(list((workdir / "spool").rglob("*.batch")))
        replayed = [float(s) for s in re.findall(r"replayed, \d+ batches, ([0-9.]+) s after", log)]
    finally:
        if own:
            cluster.stop()
    summary = gateway_summary(gw)
    return _figures("db-down", sent, final, store=store, rate=rate, down_s=down_s, devices=devices,
                    spool_mb=spool_mb, stored_before_outage=stored_before, order_violations=final["order_violations"],
                    live_during_outage=live, anomalies_opened=summary.get("anomalies_opened"),
                    status_spool_max=dict(watch.spool_seen),
                    spool=summary.get("spool", {}), spool_files_left=spool_left,
                    full_logged_at_error="ERROR gateway.spool" in log and "is full" in log,
                    outage_to_replayed_s=replayed[-1] if replayed else None,
                    store_back_to_all_stored_s=round(caught_up_s, 1),
                    **({"killed_with_spooled_batches": spooled_at_kill} if kill else {}))


# -- the command ------------------------------------------------------------------------------------
def _lines(r: dict) -> list[str]:
    head = (f"{r['scenario']}: sent {r['sent']}, stored {r['stored']}, lost {r['lost']}, "
            f"stored twice {r['stored_twice']}, incomplete {r['incomplete']}, dead letters {r['dead_letters']}")
    rest = {k: v for k, v in r.items() if k not in ("scenario", "sent", "stored", "lost", "stored_twice",
                                                     "incomplete", "dead_letters")}
    return [head, *(f"    {k}: {v}" for k, v in rest.items())]


async def run(args) -> dict:
    results = []
    for name in SCENARIOS if args.scenario == "all" else (args.scenario,):
        with tempfile.TemporaryDirectory(prefix=f"gridtwin-faults-{name}-") as tmp:
            workdir = Path(tmp)
            if name == "db-down":
                results.append(await db_down(workdir, rate=args.rate, down_s=args.down, devices=args.devices,
                                             spool_mb=args.spool_mb, store=args.store or "postgres",
                                             kill=args.kill_during))
                continue
            with contextlib.ExitStack() as stack:
                url = None
                if args.store == "postgres":
                    from gridtwin.pgcluster import ThrowawayCluster

                    url = stack.enter_context(ThrowawayCluster()).create_database()
                if name == "kill9":
                    results.append(await kill9(workdir, rate=args.rate, seconds=args.seconds, devices=args.devices,
                                               kills=args.kills, store_url=url))
                else:
                    results.append(await broker_restart(workdir, devices=args.devices, seconds=args.seconds,
                                                        interval=args.devices / args.rate, store_url=url))
    return {"benchmark": "faults", "scenarios": results,
            "lost": sum(r["lost"] for r in results), "stored_twice": sum(r["stored_twice"] for r in results)}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench faults", description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", nargs="?", default="all", choices=(*SCENARIOS, "all"))
    p.add_argument("--rate", type=float, default=2000.0, help="readings a second (default %(default)s)")
    p.add_argument("--devices", type=int, default=1000, help="devices sending them (default %(default)s)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of the kill9 and broker-restart runs")
    p.add_argument("--kills", type=int, default=3, help="SIGKILLs of the gateway in the kill9 run")
    p.add_argument("--down", type=float, default=60.0, help="seconds the database is down (db-down)")
    p.add_argument("--spool-mb", type=float, default=1024.0, help="the gateway's gateway.spool_max_mb (db-down)")
    p.add_argument("--store", choices=("postgres", "sqlite"),
                   help="the store: SQLite by default, PostgreSQL (a throwaway cluster) for db-down; in db-down, "
                        "PostgreSQL is stopped, SQLite locked by another process")
    p.add_argument("--kill-during", action="store_true",
                   help="db-down: SIGKILL the gateway during the outage, with a spool, and start it once the store is back")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    r = asyncio.run(run(args))
    emit(r, args.json, [line for s in r["scenarios"] for line in _lines(s)]
         + [f"total: lost {r['lost']}, stored twice {r['stored_twice']}"])
    return 0 if r["lost"] == 0 and r["stored_twice"] == 0 else 1
