"""Hostile input through the real path: generated payloads for the native format and every adapter, sent
through Mosquitto to the gateway and its SQLite store. The gateway stays up on one connection, and every
message is accounted for: stored as its case expects, dead-lettered with the expected reason, or one of
the explicitly listed kinds that produce neither (statuses, repeats, ignored topics, ...).

The corpus (bench/hostile/) is deterministic for a seed. CI sends GRIDTWIN_HOSTILE_PER_SOURCE cases per
source (default 2,000, 22,000 messages); `python -m bench.hostile` sends 10,000 per source.
"""

from __future__ import annotations

import logging
import os
import time

import orjson
import pytest

from bench.hostile.corpus import make_world
from bench.hostile.generate import SOURCE_NAMES, corpus
from bench.hostile.run import run_corpus
from bench.hostile.wire import publish_all
from tests.gateway.conftest import running_gateway, wait_until
from twin.devices.device import Device, DeviceKind
from twin.grid.demo import demo_grid
from twin.store import open_store

PER_SOURCE = int(os.environ.get("GRIDTWIN_HOSTILE_PER_SOURCE", "2000"))
ADAPTERS = ("frigate", "ttn", "zigbee2mqtt", "senml", "tasmota", "esphome", "alink", "homeassistant")


@pytest.fixture
def demo_store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/hostile.db")
    store.migrate()
    grid = demo_grid()
    store.put_grid(grid)
    yield store, grid
    store.close()


def test_every_adapter_has_a_corpus():
    from gateway.adapters import ADAPTERS as BUILT

    assert set(SOURCE_NAMES) == {"native-readings", "native-camera", "native-status", *ADAPTERS}
    assert set(BUILT) - {"native"} == set(ADAPTERS)


def test_corpus_is_the_same_for_the_same_seed():
    def cases(seed):
        world = make_world("hxd", demo_grid(), 1_795_939_200.0)
        return [(c.source, c.klass, c.topic, c.payload, c.expect) for c in corpus(world, 60, seed)]

    first = cases(6)
    assert first == cases(6)
    assert first != cases(7)


@pytest.mark.timeout(900)
async def test_hostile_corpus_every_message_accounted_for(mosquitto, demo_store, caplog):
    store, grid = demo_store
    world = make_world(f"hx{os.getpid() % 10000}", grid, time.time())
    cases = corpus(world, PER_SOURCE, seed=6)
    with caplog.at_level(logging.WARNING, logger="gateway"):
        report = await run_corpus(mosquitto, store, world, cases)
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("gateway") and r.levelno >= logging.ERROR]
    assert not errors, errors[:3]

    assert report["crash"] is None and report["gateway_alive"]
    assert report["reconnects"] == 0 and report["connected"], "the gateway kept its one connection"
    assert report["published"] == report["gateway_messages"] == len(cases)
    assert report["accounted"], (report["mismatches"], report["mismatch_samples"])
    for name in SOURCE_NAMES:
        source = report["sources"][name]
        assert source["sent"] == PER_SOURCE
        assert source["sent"] == source["stored"] + source["partly"] + source["dead_lettered"] + source["nothing"]
        assert sum(source["nothing_because"].values()) == source["nothing"]
        assert source["dead_lettered"] > 0 and source["nothing"] + source["stored"] + source["partly"] > 0, name
    # Every documented reason came up, and the store counted what was published.
    assert set(report["letters_by_reason"]) == {"malformed_json", "schema", "unknown_metric", "out_of_range",
                                                "unknown_device", "out_of_area", "stale_timestamp",
                                                "future_timestamp", "oversized", "unauthorized", "unknown_topic"}
    assert report["letters_received"] == report["letters_expected"] == report["store_dead_letters"]
    assert report["rows_stored"] == report["rows_expected"] and report["events_stored"] == report["events_expected"]
    # Statuses store no row: each registered device holds the last one it sent.
    last = {c.topic.rsplit("/", 1)[1]: c.payload.strip().strip(b'"').lower().decode() for c in cases
            if c.source == "native-status" and c.klass == "status"}
    assert last and all(store.get_device(device).status.value == status for device, status in last.items())


@pytest.mark.timeout(600)
async def test_hostile_corpus_on_postgresql(mosquitto, migrated_postgres_url):
    """A smaller corpus into PostgreSQL, whose text columns refuse NUL: a NUL in an event id, a zone, a
    device's name or a dead letter's detail failed the batch's write, and the broker redelivered it for ever."""
    store = open_store(migrated_postgres_url)
    grid = demo_grid()
    store.put_grid(grid)
    try:
        world = make_world(f"hp{os.getpid() % 10000}", grid, time.time())
        cases = corpus(world, 300, seed=8)
        report = await run_corpus(mosquitto, store, world, cases)
    finally:
        store.close()
    assert report["crash"] is None and report["reconnects"] == 0
    assert report["accounted"], (report["mismatches"], report["mismatch_samples"])
    assert report["letters_received"] == report["store_dead_letters"] == report["letters_expected"]


def test_sequence_jumps_are_not_counted_as_lost_messages():
    """Regression: a seq of 2**62 after 1 counted 4.6e18 lost messages, and the sum of a few such jumps
    no longer fitted the 64 bits the gateway's published figures allow."""
    from gateway.pipeline import Pipeline
    from gateway.seqgaps import MAX_SEQ_GAP
    from mqttwire.packets import Inbound
    from tests.gateway.conftest import DEVICES, small_grid
    from twin.config import Settings

    pipeline = Pipeline(Settings(), small_grid(), {d.id: d for d in DEVICES})
    now = time.time()
    for i, seq in enumerate([1, 4, 2**62, 2**62 + 2, 7, 9, 9 + MAX_SEQ_GAP + 2]):
        payload = orjson.dumps({"ts": now - 100 + i, "seq": seq, "values": {"pm25": 10.0}})
        out = pipeline.process([Inbound("gridtwin/v1/readings/aq-1", payload, now)], now)
        assert len(out.readings) == 1
    # 2 (1 -> 4), 1 (2**62 -> 2**62 + 2) and 1 (7 -> 9); the jumps either way only move the mark.
    assert pipeline.stats.seq_gaps == 4


async def test_readings_without_time_read_together_are_all_stored(mosquitto, demo_store):
    """Regression: messages read from the broker together share a receive time; a device's readings
    without a time of their own were one reading to the store and all but the first were lost."""
    store, grid = demo_store
    cell = grid.cells[0]
    point = cell.geometry.representative_point()
    store.put_devices([Device("burst-1", DeviceKind.SENSOR, point.y, point.x, cell_code=cell.code)])
    async with running_gateway(mosquitto, store, grid) as gw:
        topic = f"{gw.settings.mqtt.prefix}/readings/burst-1"
        burst = [(topic, orjson.dumps({"values": {"pm25": float(i)}})) for i in range(300)]
        sent = await publish_all(mosquitto.host, mosquitto.port, burst, "burst-publisher")
        assert sent["acked"] == 300
        await wait_until(lambda: store.count_readings() >= 300, what="300 untimed readings stored")
    rows = store.readings(device_id="burst-1")
    assert sorted(r.value for r in rows) == [float(i) for i in range(300)]
    assert all(r.ts_estimated for r in rows) and len({r.ts for r in rows}) == 300
