"""Send a hostile corpus through the real path (a broker, the gateway with its default transport, a
store) and account for every message: the rows and camera events stored, the dead letters
published, and the messages that legitimately produce neither, against each case's expectation."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections import Counter, defaultdict

import orjson

from bench.hostile.corpus import Case, World
from bench.hostile.wire import Subscriber, publish_all
from gateway import Gateway
from twin.config import Settings

WINDOW_S = 7200.0  # a row stamped with its receive time must lie within the run, give or take this


def settings_for(world: World, broker, store_url: str, **gateway) -> Settings:
    return Settings().replace(
        mqtt={"host": broker.host, "port": broker.port, "prefix": world.prefix,
              "client_id": f"hostile-gw-{uuid.uuid4().hex[:8]}"},
        store={"url": store_url},
        gateway=gateway,
        adapters={"options": world.adapter_options()},
    )


async def run_corpus(broker, store, world: World, cases: list[Case], *, timeout: float = 900.0) -> dict:
    """Publish `cases` through `broker` to a gateway on `store`; the report of what became of them."""
    store.put_devices(world.devices())
    settings = settings_for(world, broker, store.url)
    started = time.time()
    async with Gateway(settings, store, world.grid) as gw:
        stop = asyncio.Event()
        runner = asyncio.create_task(gw.run(stop), name="hostile-gateway")
        async with Subscriber(broker.host, broker.port, f"{world.prefix}/deadletter/#",
                              f"hostile-dl-{uuid.uuid4().hex[:8]}") as letters:
            t0 = time.perf_counter()
            published = await publish_all(broker.host, broker.port, [(c.topic, c.payload) for c in cases],
                                          f"hostile-pub-{uuid.uuid4().hex[:8]}")
            deadline = time.monotonic() + timeout
            while gw.pipeline.stats.messages < len(cases) and not runner.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            alive = not runner.done()
            reconnects = gw.transport.reconnects
            connected = gw.transport.connected.is_set()
            crash = None
            if alive:
                stop.set()
                await runner  # the gateway drains: everything received is written, acked and published
            else:
                crash = repr(runner.exception())
            seconds = time.perf_counter() - t0
            expected_letters = sum(len(c.expect.letters) for c in cases)
            quiet_since, count = time.monotonic(), -1
            while time.monotonic() - quiet_since < 2.0 and time.monotonic() < deadline:
                if len(letters.messages) != count:
                    count, quiet_since = len(letters.messages), time.monotonic()
                if count >= expected_letters:
                    await asyncio.sleep(0.3)  # anything unexpected still on its way
                    break
                await asyncio.sleep(0.05)
            received = list(letters.messages)
        summary = gw.summary()
    report = reconcile(cases, received, store, started, time.time(), world.prefix)
    report.update({
        "messages": len(cases), "published": published["acked"], "seconds": round(seconds, 1),
        "rate": round(len(cases) / seconds, 1), "gateway_alive": alive, "crash": crash,
        "reconnects": reconnects, "connected": connected, "gateway_messages": summary["messages"],
        "store_dead_letters": summary["dead_letters_total"],
    })
    return report


# -- reconciliation -------------------------------------------------------------------------------
def _ms(ts: float) -> int:
    return round(ts * 1000)


def _row_key(device, metric, value, cell) -> tuple:
    return device, metric, round(float(value), 4), cell


def reconcile(cases: list[Case], received: list[tuple[str, bytes]], store, started: float, ended: float,
              prefix: str) -> dict:
    """Every case accounted for by its outcome, and every difference between what the cases expect
    and what the store and the dead-letter topic hold, with samples."""
    outcome = defaultdict(Counter)  # source -> outcome -> count
    classes = defaultdict(Counter)  # source -> class -> count
    nothing = defaultdict(Counter)  # source -> why -> count
    exact, loose = Counter(), Counter()
    events_exact, events_loose = Counter(), Counter()
    letters = Counter()
    seen_rows, seen_events = set(), set()
    for case in cases:
        e = case.expect
        classes[case.source][case.klass] += 1
        new = 0
        for row in e.rows:
            if row.ts is None:
                loose[_row_key(row.device, row.metric, row.value, row.cell)] += 1
                new += 1
                continue
            identity = (row.device, row.metric, round(row.ts * 1e6))
            if identity in seen_rows:
                continue  # the store keeps the first reading of an identity
            seen_rows.add(identity)
            exact[(*_row_key(row.device, row.metric, row.value, row.cell), _ms(row.ts))] += 1
            new += 1
        for ev in e.events:
            identity = (ev.camera, ev.event_id, ev.state)
            if identity in seen_events:
                continue
            seen_events.add(identity)
            key = (ev.camera, ev.event_id, ev.state, ev.type, round(ev.confidence, 4), ev.cell)
            if ev.ts is None:
                events_loose[key] += 1
            else:
                events_exact[(*key, _ms(ev.ts))] += 1
            new += 1
        for letter in e.letters:
            letters[(letter.reason, letter.topic, letter.payload)] += 1
        if (e.rows or e.events) and not new and not e.letters:
            kind = "nothing"
            nothing[case.source]["a repeat of a stored reading or event: stored once"] += 1
        else:
            kind = "partly" if new and e.letters else "stored" if new else "dead_lettered" if e.letters else "nothing"
            if kind == "nothing":
                nothing[case.source][e.nothing] += 1
        outcome[case.source][kind] += 1

    stored = store.readings(limit=100_000_000)
    got_exact = Counter((*_row_key(r.device_id, r.metric, r.value, r.cell_code), _ms(r.ts)) for r in stored)
    missing_rows = exact - got_exact
    rest = got_exact - exact
    got_loose = Counter()
    out_of_window = 0
    for key, n in rest.items():
        got_loose[key[:4]] += n
        if not started - WINDOW_S <= key[4] / 1000 <= ended + WINDOW_S:
            out_of_window += n
    events = store.camera_events(limit=100_000_000)
    got_events = Counter((c.camera_id, c.event_id, c.state, c.type, round(c.confidence, 4), c.cell_code, _ms(c.ts))
                         for c in events)
    missing_events = events_exact - got_events
    rest_events = Counter()
    for key, n in (got_events - events_exact).items():
        rest_events[key[:6]] += n

    got_letters = Counter()
    bad_topics = 0
    for topic, payload in received:
        data = orjson.loads(payload)["data"]
        got_letters[(data["reason"], data["topic"], base64.b64decode(data["payload"]))] += 1
        bad_topics += topic != f"{prefix}/deadletter/{data['reason']}" or not data.get("detail")

    def sample(counter: Counter, n: int = 5) -> list:
        return [repr(k)[:300] for k in list(counter)[:n]]

    mismatches = {
        "rows_missing": sum(missing_rows.values()) + sum((loose - got_loose).values()),
        "rows_unexpected": sum((got_loose - loose).values()),
        "rows_outside_window": out_of_window,
        "events_missing": sum(missing_events.values()) + sum((events_loose - rest_events).values()),
        "events_unexpected": sum((rest_events - events_loose).values()),
        "letters_missing": sum((letters - got_letters).values()),
        "letters_unexpected": sum((got_letters - letters).values()),
        "letters_badly_addressed": bad_topics,
    }
    samples = {
        "rows_missing": sample(missing_rows) + sample(loose - got_loose),
        "rows_unexpected": sample(got_loose - loose),
        "events_missing": sample(missing_events) + sample(events_loose - rest_events),
        "events_unexpected": sample(rest_events - events_loose),
        "letters_missing": sample(letters - got_letters),
        "letters_unexpected": sample(got_letters - letters),
    }
    per_source = {}
    for source in outcome:
        sent = sum(classes[source].values())
        per_source[source] = {"sent": sent, **{k: outcome[source][k] for k in
                                               ("stored", "partly", "dead_lettered", "nothing")},
                              "nothing_because": dict(nothing[source]), "classes": dict(classes[source])}
    reasons = Counter()
    for (reason, _, _), n in got_letters.items():
        reasons[reason] += n
    return {
        "sources": per_source,
        "rows_expected": sum(exact.values()) + sum(loose.values()), "rows_stored": len(stored),
        "events_expected": sum(events_exact.values()) + sum(events_loose.values()), "events_stored": len(events),
        "letters_expected": sum(letters.values()), "letters_received": len(received),
        "letters_by_reason": dict(sorted(reasons.items())),
        "mismatches": mismatches, "mismatch_samples": {k: v for k, v in samples.items() if v},
        "accounted": all(v == 0 for v in mismatches.values()),
    }
