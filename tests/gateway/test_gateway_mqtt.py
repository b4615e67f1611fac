"""The gateway on a real Mosquitto and a real SQLite store: readings stored, cells located,
anomalies and cell state published per the contract, sessions persistent."""

from __future__ import annotations

import asyncio
import time

import orjson

from tests.gateway.conftest import A, B, D, Publisher, Recorder, running_gateway, wait_until
from twin.contract import schemas
from twin.devices.device import DeviceStatus
from twin.sensing.catalog import Level

NOW = time.time()


async def test_threshold_anomaly_opens_and_clears_with_events_and_state(mosquitto, twin_store):
    store, grid = twin_store
    async with running_gateway(mosquitto, store, grid) as gw:
        prefix = gw.settings.mqtt.prefix
        rec = Recorder(mosquitto, f"{prefix}/#")
        pub = Publisher(mosquitto)
        try:
            pub.send(f"{prefix}/readings/aq-1", {"ts": NOW, "seq": 1, "values": {"pm25": 40.0, "noise_db": 55}})
            pub.send(f"{prefix}/readings/aq-1", {"ts": NOW + 1, "seq": 2, "values": {"pm25": 180.0}})
            ((topic, event),) = await rec.wait_for(lambda t, p: "/events/" in t and p["data"]["status"] == "opened")
            assert topic == f"{prefix}/events/410204/{A}/pm25_high"
            schemas.validate("anomaly-cloudevent", event)
            data = event["data"]
            assert data["severity"] == "critical" and data["value"] == 180.0 and data["threshold"] == 150
            assert data["cell"]["code"] == A and data["device_id"] == "aq-1"
            assert "PM2.5" in data["explanation"] and "critical threshold of 150" in data["explanation"]

            states = await rec.wait_for(lambda t, p: t.endswith(f"{A}/state") and p["data"]["level"] == "critical")
            schemas.validate("cell-state-cloudevent", states[-1][1])
            assert states[-1][1]["data"]["values"]["pm25"] == 180.0

            pub.send(f"{prefix}/readings/aq-1", {"ts": NOW + 2, "seq": 3, "values": {"pm25": 20.0}})
            ((_, cleared),) = await rec.wait_for(lambda t, p: "/events/" in t and p["data"]["status"] == "cleared")
            assert cleared["data"]["anomaly_id"] == data["anomaly_id"]
            await rec.wait_for(lambda t, p: t.endswith(f"{A}/state") and p["data"]["level"] == "normal")
        finally:
            rec.close()
            pub.close()
        await wait_until(lambda: store.cell_states().get(A) is not None
                         and store.cell_states()[A].level == Level.NORMAL, what="stored cell state")
        stored = store.anomalies(cell_code=A)
        assert {(a.status, a.id) for a in stored} == {("opened", data["anomaly_id"]), ("cleared", data["anomaly_id"])}


async def test_cell_state_is_retained_for_late_subscribers(mosquitto, twin_store):
    store, grid = twin_store
    async with running_gateway(mosquitto, store, grid) as gw:
        prefix = gw.settings.mqtt.prefix
        early = Recorder(mosquitto, f"{prefix}/cells/+/+/state")
        pub = Publisher(mosquitto)
        pub.send(f"{prefix}/readings/aq-2", {"ts": NOW, "values": {"pm25": 90.0}})
        pub.close()
        try:
            await early.wait_for(lambda t, p: t.endswith(f"{D}/state"))  # published: the broker holds it now
        finally:
            early.close()
        late = Recorder(mosquitto, f"{prefix}/cells/+/+/state")
        try:
            ((topic, state),) = await late.wait_for(lambda t, p: True)
            assert late.messages[0][2] is True  # delivered as retained
            assert topic == f"{prefix}/cells/410204/{D}/state" and state["data"]["level"] == "warning"
        finally:
            late.close()


async def test_redelivered_and_buffered_readings_are_stored_once(mosquitto, twin_store):
    store, grid = twin_store
    async with running_gateway(mosquitto, store, grid) as gw:
        prefix = gw.settings.mqtt.prefix
        pub = Publisher(mosquitto)
        batch = [{"ts": NOW - 100 + i, "seq": i, "values": {"pm25": 10.0 + i}} for i in range(50)]
        pub.send(f"{prefix}/readings/aq-1", batch)
        pub.send(f"{prefix}/readings/aq-1", batch[:10])  # a device re-sending part of its buffer
        pub.send(f"{prefix}/readings/aq-1", orjson.dumps(batch[7]))
        pub.close()
        await wait_until(lambda: gw.pipeline.stats.observations >= 61, what="all observations processed")
        await asyncio.sleep(0.2)
    rows = store.readings(device_id="aq-1", metric="pm25")
    assert sorted(r.seq for r in rows) == list(range(50))
    assert all(r.cell_code == A for r in rows)


async def test_mobile_device_and_loc_payloads_are_located_per_reading(mosquitto, twin_store):
    store, grid = twin_store
    async with running_gateway(mosquitto, store, grid) as gw:
        prefix = gw.settings.mqtt.prefix
        pub = Publisher(mosquitto)
        pub.send(f"{prefix}/readings/mob-1", [
            {"ts": NOW, "values": {"pm25": 11}, "loc": {"lat": 34.785, "lon": 114.345}},  # D
            {"ts": NOW + 1, "values": {"pm25": 12}, "loc": {"lat": 34.795, "lon": 114.345}},  # B
        ])
        pub.close()
        await wait_until(lambda: len(store.readings(device_id="mob-1")) == 2, what="mobile readings stored")
    assert [(r.value, r.cell_code) for r in store.readings(device_id="mob-1")] == [(11, D), (12, B)]


async def test_camera_event_and_status(mosquitto, twin_store):
    store, grid = twin_store
    async with running_gateway(mosquitto, store, grid) as gw:
        prefix = gw.settings.mqtt.prefix
        rec = Recorder(mosquitto, f"{prefix}/events/#")
        pub = Publisher(mosquitto)
        try:
            pub.send(f"{prefix}/status/cam-1", b"online", retain=False)
            event = {"ts": NOW, "event_id": "e-77", "type": "street_vendor", "confidence": 0.88, "state": "start"}
            pub.send(f"{prefix}/camera/cam-1/events", event)
            ((topic, opened),) = await rec.wait_for(lambda t, p: True)
            assert topic == f"{prefix}/events/410204/{B}/street_vendor"
            assert opened["data"]["severity"] == "warning" and opened["data"]["detector"] == "camera"
            pub.send(f"{prefix}/camera/cam-1/events", dict(event, state="end", ts=NOW + 30))
            await rec.wait_for(lambda t, p: p["data"]["status"] == "cleared")
        finally:
            rec.close()
            pub.close()
        await wait_until(lambda: store.get_device("cam-1").status == DeviceStatus.ONLINE, what="camera online")
        await wait_until(lambda: len(store.camera_events(cell_code=B)) == 2, what="camera events stored")


async def test_persistent_session_receives_what_was_sent_while_down(mosquitto, twin_store):
    store, grid = twin_store
    async with running_gateway(mosquitto, store, grid) as gw:
        prefix, client_id = gw.settings.mqtt.prefix, gw.settings.mqtt.client_id
        settings = gw.settings
    pub = Publisher(mosquitto)
    pub.send(f"{prefix}/readings/aq-2", {"ts": NOW, "seq": 9, "values": {"pm25": 33}})
    pub.close()
    from gateway import Gateway

    async with Gateway(settings, store, grid, client_id=client_id) as gw2:
        assert gw2.transport.protocol == 4  # the default, mqtt.protocol = "3.1.1"
        stop = asyncio.Event()
        task = asyncio.create_task(gw2.run(stop))
        await wait_until(lambda: len(store.readings(device_id="aq-2")) == 1, what="reading sent while down")
        stop.set()
        await task


async def test_protocol_auto_speaks_mqtt_5_to_a_broker_that_does(mosquitto, twin_store):
    store, grid = twin_store
    from gateway import Gateway
    from twin.config import Settings

    settings = Settings().replace(
        mqtt={"host": mosquitto.host, "port": mosquitto.port, "prefix": "p5/v1", "client_id": "gw-auto",
              "protocol": "auto"},
        store={"url": store.url},
    )
    async with Gateway(settings, store, grid) as gw:
        assert gw.transport.protocol == 5
        stop = asyncio.Event()
        task = asyncio.create_task(gw.run(stop))
        pub = Publisher(mosquitto)
        pub.send("p5/v1/readings/aq-1", {"ts": NOW, "seq": 1, "values": {"pm25": 12.0}})
        pub.close()
        await wait_until(lambda: len(store.readings(device_id="aq-1")) == 1, what="reading over MQTT 5")
        stop.set()
        await task
        assert gw.summary()["mqtt_protocol"] == "5"


def test_protocol_setting_is_checked():
    import pytest

    from twin.config import load_settings
    from twin.errors import ConfigError

    assert load_settings(env={}).mqtt.protocol == "3.1.1"
    assert load_settings(env={"GRIDTWIN_MQTT_PROTOCOL": "auto"}).mqtt.protocol == "auto"
    with pytest.raises(ConfigError, match="mqtt.protocol"):
        load_settings(env={"GRIDTWIN_MQTT_PROTOCOL": "4"})
