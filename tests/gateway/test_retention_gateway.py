"""The gateway applies retention by itself: old readings roll up into hourly figures and go,
recent ones stay, while it keeps ingesting."""

from __future__ import annotations

import asyncio
import time
import uuid

from gateway import Gateway
from tests.gateway.conftest import A, Publisher, wait_until
from twin.config import Settings
from twin.sensing.readings import Reading

DAY = 86_400.0


async def test_the_gateway_prunes_old_readings_every_interval(mosquitto, twin_store):
    store, grid = twin_store
    now = time.time()
    store.write_readings([Reading("aq-1", "pm25", now - 10 * DAY + i * 60.0, 12.0, A) for i in range(300)])
    prefix = f"t{uuid.uuid4().hex[:6]}/v1"
    settings = Settings().replace(
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": prefix, "client_id": f"gw-{uuid.uuid4().hex[:8]}"},
        store={"url": store.url, "readings_days": 3, "hourly_days": 30, "prune_interval_s": 0.2})
    publisher = Publisher(mosquitto)
    try:
        async with Gateway(settings, store, grid) as gw:
            stop = asyncio.Event()
            task = asyncio.create_task(gw.run(stop))
            try:
                await wait_until(lambda: store.count_readings() == 0, what="old readings pruned")
                publisher.send(f"{prefix}/readings/aq-1", {"ts": now, "values": {"pm25": 30.0}})
                await wait_until(lambda: store.count_readings() == 1, what="a new reading stored")
                await asyncio.sleep(0.5)  # two more prunes: the recent reading stays
                assert [r.value for r in store.readings(device_id="aq-1")] == [30.0]
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
    finally:
        publisher.close()
    hourly = store.aggregate(A, "pm25", now - 11 * DAY, now - 9 * DAY, DAY)
    assert sum(b.count for b in hourly) == 300 and all(b.mean == 12.0 for b in hourly)
