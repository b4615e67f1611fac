"""The spool on its own: a bounded, durable queue of batches, and the writer that puts it between
the gateway and a store that comes and goes (here a fake store; the real ones are in
tests/test_faults.py)."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from gateway.spool import Spool, SpooledWriter, SpoolFull
from twin.errors import StoreError, StoreUnavailable


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
    (tmp_path / "000000000001.batch").write_bytes(b"not a pickle")
    again = Spool(tmp_path, 10_000)
    assert not (tmp_path / "000000000003.tmp").exists()
    with caplog.at_level(logging.ERROR):
        seq, item = again.head()
    assert item == "second"  # the damaged one is set aside, the next one read
    assert (tmp_path / "000000000001.bad").exists() and again.unreadable == 1
    assert "000000000001.batch cannot be read" in caplog.text


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
    writer = SpooledWriter(Spool(tmp_path, 1_000_000), store.write, merge=lambda items: tuple(x for i in items for x in i),
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
