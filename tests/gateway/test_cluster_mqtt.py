"""A group of two gateways on a real Mosquitto and PostgreSQL while member 0, the judge, is down:
the other member keeps storing its share, the broker keeps member 0's share and the hand-offs in
member 0's session, and when it is back every message is stored once and judged."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import paho.mqtt.client as mqtt
import psycopg

from bench.common import bench_twin
from bench.publisher import reading_payload
from tests.gateway.conftest import gateway_running, wait_until
from twin.config import Settings

MESSAGES = 300
DEVICES = 30


@contextlib.asynccontextmanager
async def member(settings: Settings, store, grid, index: int, client_id: str):
    settings = settings.replace(gateway={"member_index": index, "instance": f"{client_id}"})
    async with gateway_running(settings, store, grid, client_id=client_id, stop_timeout=20) as gw:
        yield gw


def publish(broker, prefix: str) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:6]}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    now = time.time()
    for i in range(MESSAGES):
        device = i % DEVICES
        # Every fifth device alternates over the PM2.5 threshold: anomalies to judge.
        payload = reading_payload(i, now - MESSAGES + i, trigger=device % 5 == 0)
        client.publish(f"{prefix}/readings/bench-{device:05d}", payload, qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def stored(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as conn:
        rows, distinct = conn.execute("SELECT count(*), count(DISTINCT (device_id, metric, ts)) FROM readings").fetchone()
        anomalies = conn.execute("SELECT count(*) FROM anomalies").fetchone()[0]
    return rows, distinct, anomalies


async def test_member_0_down_then_back_judges_everything(mosquitto, migrated_postgres_url):
    store, grid = await asyncio.to_thread(bench_twin, None, DEVICES, migrated_postgres_url)
    tag = uuid.uuid4().hex[:6]
    prefix = f"grp-{tag}/v1"
    settings = Settings().replace(
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": prefix},
        store={"url": migrated_postgres_url},
        gateway={"group": "g", "members": 2},
    )
    judge_id, other_id = f"gw-{tag}-0", f"gw-{tag}-1"
    try:
        # Member 0 subscribes once (its persistent session joins the group), then goes away.
        async with member(settings, store, grid, 0, judge_id):
            pass
        async with member(settings, store, grid, 1, other_id) as other:
            await asyncio.to_thread(publish, mosquitto, prefix)
            # Mosquitto keeps dealing member 0 its share while it is away: member 1 stores the rest.
            await wait_until(lambda: other.pipeline.stats.messages >= MESSAGES // 2 and
                             other.stored_readings == 2 * other.pipeline.stats.messages, what="member 1 stored")
            held = other.pipeline.stats.messages
            assert 0 < held < MESSAGES
            assert other.link.handoffs_sent > 0
            assert stored(migrated_postgres_url)[2] == 0  # nobody judges while member 0 is away

            async with member(settings, store, grid, 0, judge_id) as judge:
                await wait_until(lambda: judge.pipeline.stats.judged >= MESSAGES, timeout=30,
                                 what="member 0 judged every message")
                await wait_until(lambda: stored(migrated_postgres_url)[0] >= 2 * MESSAGES, what="all rows stored")
                assert judge.pipeline.stats.messages + held == MESSAGES
                assert judge.pipeline.stats.anomalies_opened > 0
        rows, distinct, anomalies = stored(migrated_postgres_url)
        assert rows == distinct == 2 * MESSAGES and anomalies > 0
    finally:
        store.close()
