"""The spool on its own: a bounded, durable queue of batches, and the writer that puts it between
the gateway and a store that comes and goes (here a fake store; the real ones are in
tests/test_faults.py)."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from gateway.outcome import Outcome
from gateway.spool import Spool, SpooledWriter, SpoolError, SpoolFull
from gateway.storing import StoreBatch
from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.devices.health import Vitals
from twin.errors import StoreError, StoreUnavailable
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState
from twin.sensing.readings import CameraEvent, DeadLetter, Reading


def test_items_come_back_in_order_and_survive_a_new_process(tmp_path):
    spool = Spool(tmp_path / "s", 10_000)
    assert not (tmp_path / "s").exists()  # made on first use only
    for i in range(5):
        spool.append({"batch": i})
    assert len(spool) == 5 and spool.bytes > 0
    assert oct((tmp_path / "s").stat().st_mode & 0o777) == "0o700"
    seq, item = spool.head()
    assert item == {"batch": 0}
    spool.remove(seq)

    again = Spool(tmp_path / "s", 10_000)  # as a restarted gateway finds it
    assert len(again) == 4 and again.bytes == spool.bytes
    got = []
    while (head := again.head()) is not None:
        got.append(head[1]["batch"])
        again.remove(head[0])
    assert got == [1, 2, 3, 4]
    again.append({"batch": 5})  # numbering goes on after the files found
    assert again.head()[1] == {"batch": 5}


def test_a_full_spool_refuses_and_writes_nothing(tmp_path):
    spool = Spool(tmp_path, 300)
    spool.append(b"x" * 200)
    with pytest.raises(SpoolFull, match="spool_max_mb"):
        spool.append(b"y" * 200)
    assert len(spool) == 1 and len(list(tmp_path.iterdir())) == 1
    spool.remove(spool.head()[0])
    spool.append(b"y" * 200)  # room again
    # An item larger than the whole limit still goes into an empty spool rather than never.
    spool.remove(spool.head()[0])
    spool.append(b"z" * 1000)
    assert len(spool) == 1


def test_interrupted_writes_and_damaged_files(tmp_path, caplog):
    spool = Spool(tmp_path, 10_000)
    spool.append("first")
    spool.append("second")
    (tmp_path / "000000000003.tmp").write_bytes(b"half a batch")  # a crash mid-write
    (tmp_path / "000000000001.batch").write_bytes(b"not a spool record")
    again = Spool(tmp_path, 10_000)
    assert not (tmp_path / "000000000003.tmp").exists()
    with caplog.at_level(logging.ERROR):
        seq, item = again.head()
    assert item == "second"  # the damaged one is set aside, the next one read
    assert (tmp_path / "000000000001.bad").exists() and again.unreadable == 1
    assert "000000000001.batch cannot be read" in caplog.text


def test_a_gateway_batch_comes_back_as_it_was_written(tmp_path):
    outcome = Outcome(
        readings=(Reading("aq-1", "pm25", 100.0, 35.5, "410204001001001", 7, 34.79, 114.35, False),),
        camera_events=(CameraEvent("cam-1", "e1", 100.0, "fire", 0.9, "start", "410204001001001", "gate"),),
        anomalies=(Anomaly("a1", "pm25_high", "opened", Level.CRITICAL, "410204001001001", "aq-1", "threshold", 100.0,
                           "PM2.5 35.5 is above 35", metric="pm25", value=35.5, details={"band": [30, 35]}),),
        dead_letters=(DeadLetter("schema", "gridtwin/v1/readings/aq-1", b"\x00{", 99.0, "aq-1", "bad"),),
        statuses=(("aq-1", DeviceStatus.ONLINE, 98.0),), last_seen={"aq-1": 100.0},
        states=(CellState("410204001001001", Level.WARNING, {"pm25": 35.5}, 100.0, 1),),
        pending=(Device("z2m-x", DeviceKind.SENSOR, None, None, status=DeviceStatus.PENDING, attributes={"a": "b"}),),
        placed=(("z2m-y", "410204001001001"),))
    batch = StoreBatch(outcome, (Vitals("aq-1", 100.0, 3, 0.8),))
    spool = Spool(tmp_path, 1_000_000, StoreBatch)
    spool.append(batch)
    assert Spool(tmp_path, 1_000_000, StoreBatch).head()[1] == batch


@pytest.mark.parametrize("damage, why", [
    (lambda data: data[:-3], "torn record: "),  # the disk kept only part of the last write
    (lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]), "checksum does not match"),  # a flipped byte
    (lambda data: data[:4] + b"\x09" + data[5:], "spool record format 9; this gateway reads format 1"),
])
def test_a_torn_or_corrupt_record_is_set_aside_and_the_next_one_read(tmp_path, caplog, damage, why):
    spool = Spool(tmp_path, 10_000)
    spool.append({"batch": 1})
    spool.append({"batch": 2})
    first = tmp_path / "000000000001.batch"
    first.write_bytes(damage(first.read_bytes()))
    again = Spool(tmp_path, 10_000)
    with caplog.at_level(logging.ERROR):
        assert again.head()[1] == {"batch": 2}
    assert why in caplog.text and again.unreadable == 1 and (tmp_path / "000000000001.bad").exists()


def test_a_spool_of_pickles_from_an_earlier_version_is_refused_saying_what_to_do(tmp_path):
    import pickle

    (tmp_path / "000000000001.batch").write_bytes(pickle.dumps(("an outcome", []), protocol=5))
    with pytest.raises(SpoolError, match=r"holds 1 batch\(es\) written by an earlier GridTwin version .*pickle.*"
                                         r"start the earlier version once"):
        Spool(tmp_path, 10_000)
    assert (tmp_path / "000000000001.batch").exists()  # kept: the only copy of acknowledged readings


class FlakyStore:
    """A store whose writes fail as unavailable while `down` is set."""

    def __init__(self):
        self.down = False
        self.written: list = []
        self.refuse: set = set()

    def write(self, item):
        if self.down:
            raise StoreUnavailable("writing readings failed: connection refused")
        if item in self.refuse:
            raise StoreError("writing readings failed: violates check constraint")
        self.written.append(item)


async def until(predicate, timeout=5.0):
    for _ in range(int(timeout / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_writer_spools_while_down_keeps_order_and_replays(tmp_path):
    store = FlakyStore()
    writer = SpooledWriter(Spool(tmp_path, 1_000_000), store.write, retry_s=0.01, max_retry_s=0.02)
    task = asyncio.create_task(writer.run())
    try:
        assert await writer.put(1) == "stored"
        store.down = True
        assert [await writer.put(i) for i in (2, 3)] == ["spooled", "spooled"]
        store.down = False
        # While the spool holds anything, new batches queue behind it: order is kept.
        assert await writer.put(4) == "spooled"
        await until(lambda: len(writer.spool) == 0)
        assert store.written == [1, 2, 3, 4]
        assert await writer.put(5) == "stored"
        f = writer.figures()
        assert (f["batches_spooled_total"], f["batches_replayed_total"], f["outages"], f["spooled_batches"]) == (3, 3, 1, 0)
    finally:
        task.cancel()


async def test_a_full_spool_holds_the_caller_until_the_replay_makes_room(tmp_path, caplog):
    store = FlakyStore()
    item = "x" * 400
    writer = SpooledWriter(Spool(tmp_path, 1000), store.write, retry_s=0.01, max_retry_s=0.02)
    task = asyncio.create_task(writer.run())
    try:
        store.down = True
        await writer.put(item + "1")
        await writer.put(item + "2")
        with caplog.at_level(logging.ERROR):
            held = asyncio.create_task(writer.put(item + "3"))
            await asyncio.sleep(0.2)
        assert not held.done()  # back-pressure: not spooled, so not acknowledged
        assert writer.figures()["full_events"] == 1
        assert "is full" in caplog.text and "no longer acknowledging" in caplog.text
        store.down = False
        assert await asyncio.wait_for(held, 5) == "spooled"
        await until(lambda: len(writer.spool) == 0)
        assert store.written == [item + "1", item + "2", item + "3"]
        assert writer.figures()["held_seconds"] > 0
    finally:
        task.cancel()


async def test_a_batch_the_store_refuses_for_good_is_not_spooled_or_is_set_aside(tmp_path):
    store = FlakyStore()
    store.refuse = {"bad"}
    writer = SpooledWriter(Spool(tmp_path, 1_000_000), store.write, retry_s=0.01, max_retry_s=0.02)
    with pytest.raises(StoreError):
        await writer.put("bad")  # straight from the pipeline: the caller leaves it unacknowledged
    assert len(writer.spool) == 0
    task = asyncio.create_task(writer.run())
    try:
        store.down = True
        await writer.put("bad")  # spooled while down; refused on replay
        await writer.put("good")
        store.down = False
        await until(lambda: len(writer.spool) == 0)
        assert store.written == ["good"] and writer.failed == 1
        assert [p.suffix for p in sorted(tmp_path.iterdir())] == [".failed"]
    finally:
        task.cancel()


def test_unavailable_is_told_apart_from_other_store_errors(tmp_path):
    import sqlite3

    from twin.store.sqlite import SqliteStore

    store = SqliteStore(f"sqlite:///{tmp_path}/t.db", busy_timeout_s=0.05)
    store.migrate()
    blocker = sqlite3.connect(f"{tmp_path}/t.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable, match="locked"):
            store.touch_devices({"aq-1": 1.0})
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    with pytest.raises(StoreError) as caught:
        store._fetch("a query", ("SELECT * FROM no_such_table", []))
    assert not isinstance(caught.value, StoreUnavailable)
    store.close()
    os.remove(f"{tmp_path}/t.db")


async def test_the_replay_writes_many_spooled_batches_at_once_and_isolates_one_the_store_refuses(tmp_path):
    store = FlakyStore()
    store.refuse = {(3,)}
    writer = SpooledWriter(Spool(tmp_path, 1_000_000, tuple[int, ...]), store.write,
                           merge=lambda items: tuple(x for i in items for x in i),
                           retry_s=0.01, max_retry_s=0.02, replay_batches=3)
    store.down = True
    for i in range(1, 7):
        assert await writer.put((i,)) == "spooled"
    store.refuse = {(1, 2, 3), (3,)}  # the merged write holding batch 3 is refused, and batch 3 alone
    store.down = False
    task = asyncio.create_task(writer.run())
    try:
        await until(lambda: len(writer.spool) == 0)
    finally:
        task.cancel()
    # (1, 2, 3) refused: 1 and 2 one by one, 3 set aside, then the rest merged again.
    assert store.written == [(1,), (2,), (4, 5, 6)]
    assert writer.failed == 1 and writer.figures()["batches_replayed_total"] == 5
