"""Every dead-letter reason, through the real broker: the bad payload comes back as a dead
letter with its reason, and the good readings published around it are stored."""

from __future__ import annotations

import base64
import time

import orjson
import pytest

from gateway.deadletters import Reason
from tests.gateway.conftest import Publisher, Recorder, running_gateway, wait_until
from twin.contract import schemas

NOW = time.time()
DAY = 86400.0


def reading(seq: int, **extra):
    return {"ts": NOW - 60 + seq, "seq": seq, "values": {"pm25": 30.0 + seq}, **extra}


# reason -> (device topic suffix, bad payload); None suffix means readings/aq-1.
CASES = {
    Reason.MALFORMED_JSON: ("readings/aq-1", b'{"values": {"pm25": 1'),
    Reason.SCHEMA: ("readings/aq-1", {"ts": NOW, "values": {}}),
    Reason.UNKNOWN_METRIC: ("readings/aq-1", {"ts": NOW, "values": {"radon_bq": 12}}),
    Reason.OUT_OF_RANGE: ("readings/aq-1", {"ts": NOW, "values": {"pm25": -40}}),
    Reason.UNKNOWN_DEVICE: ("readings/ghost-9", reading(5)),
    Reason.OUT_OF_AREA: ("readings/mob-1", {"ts": NOW, "values": {"pm25": 10}, "loc": {"lat": 31.23, "lon": 121.47}}),
    Reason.STALE_TIMESTAMP: ("readings/aq-1", {"ts": NOW - 30 * DAY, "values": {"pm25": 10}}),
    Reason.FUTURE_TIMESTAMP: ("readings/aq-1", {"ts": NOW + DAY, "values": {"pm25": 10}}),
    Reason.OVERSIZED: ("readings/aq-1", orjson.dumps({"ts": NOW, "values": {"pm25": 1}, "pad": "x" * 300_000})),
    Reason.UNAUTHORIZED: ("readings/off-1", reading(5)),
    Reason.UNKNOWN_TOPIC: ("readings/aq-1/extra", reading(5)),
}


def test_every_reason_has_a_case():
    assert set(CASES) == set(Reason)


@pytest.mark.parametrize("reason", list(Reason), ids=str)
async def test_dead_letter_and_good_neighbours_stored(mosquitto, twin_store, reason):
    store, grid = twin_store
    suffix, bad = CASES[reason]
    async with running_gateway(mosquitto, store, grid) as gw:
        prefix = gw.settings.mqtt.prefix
        rec = Recorder(mosquitto, f"{prefix}/deadletter/#")
        pub = Publisher(mosquitto)
        try:
            pub.send(f"{prefix}/readings/aq-1", reading(1))
            pub.send(f"{prefix}/{suffix}", bad if isinstance(bad, bytes) else orjson.dumps(bad))
            pub.send(f"{prefix}/readings/aq-1", reading(2))
            ((topic, letter),) = await rec.wait_for(lambda t, p: True)
        finally:
            rec.close()
            pub.close()
        assert topic == f"{prefix}/deadletter/{reason}"
        schemas.validate("deadletter-cloudevent", letter)
        data = letter["data"]
        assert data["reason"] == reason and data["topic"] == f"{prefix}/{suffix}"
        raw = bad if isinstance(bad, bytes) else orjson.dumps(bad)
        if reason != Reason.OVERSIZED:  # oversized payloads are kept truncated
            assert base64.b64decode(data["payload"]) == raw
        assert data["detail"]

        def good_stored():
            return {r.seq for r in store.readings(device_id="aq-1")} >= {1, 2}

        await wait_until(good_stored, what="the good readings around the bad one stored")
        await wait_until(lambda: store.dead_letter_counts().get(str(reason)) == 1, what="dead letter counted")
        assert gw.summary()["dead_letters"] == {str(reason): 1}
