"""Every adapter through the real broker and gateway into the SQLite store: the stored device, cell, time,
metric and value (in the catalog's unit); a malformed message of each source comes back as a dead letter."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import orjson
import pytest

from tests.gateway.conftest import A, B, C, D, Publisher, Recorder, running_gateway, small_grid, wait_until
from twin.devices.device import Device, DeviceKind
from twin.devices.registry import register_devices

NOW = round(time.time()) - 120  # a recent whole second: inside the accepted window
MS = NOW * 1000


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + "Z"


@dataclass
class Case:
    """One source: its adapter options (per-test topic roots, as the session broker is shared), the device
    registered for it, the messages it publishes, what must be stored, and a malformed message."""

    adapter: str
    options: dict
    device: Device
    messages: list  # (topic, payload, retain)
    stored: set  # (metric, ts, value, cell)
    bad: tuple  # (topic, payload, reason)
    extra: dict = field(default_factory=dict)


def sensor(device_id: str, lat: float, lon: float) -> Device:
    """A device registered where its source is, with the cell that registration gives it."""
    return Device(device_id, DeviceKind.SENSOR, lat, lon, cell_code=small_grid().locate([lon], [lat])[0])


def cases(tag: str) -> dict[str, Case]:
    return {
        "zigbee2mqtt": Case(
            "zigbee2mqtt", {"base_topic": f"{tag}/z2m"}, sensor("z2m-street-3-th", 34.795, 114.335),
            [(f"{tag}/z2m/street 3/th", {"temperature": 6.5, "humidity": 81, "battery": 77,
                                         "last_seen": iso(NOW)}, False),
             (f"{tag}/z2m/street 3/th/availability", b'{"state":"online"}', True)],
            {("temperature_c", NOW, 6.5, A), ("humidity_pct", NOW, 81.0, A)},
            (f"{tag}/z2m/street 3/th", b'{"temperature": ', "malformed_json")),
        "ttn": Case(
            "ttn", {"applications": [f"{tag}@ttn"]}, sensor("ttn-aq-lora-07", 34.785, 114.335),
            [(f"v3/{tag}@ttn/devices/aq-lora-07/up", {
                "end_device_ids": {"device_id": "aq-lora-07", "application_ids": {"application_id": tag}},
                "received_at": iso(NOW + 1), "uplink_message": {
                    "f_port": 2, "frm_payload": "AQI=", "decoded_payload": {"pm2_5": 88.5, "temperature_f": 50},
                    "received_at": iso(NOW)}}, False)],
            {("pm25", NOW, 88.5, C), ("temperature_c", NOW, 10.0, C)},
            (f"v3/{tag}@ttn/devices/aq-lora-07/up", {"uplink_message": {"frm_payload": "AQI="}}, "schema")),
        "senml": Case(
            "senml", {"topics": [f"{tag}/senml/#"]}, sensor("senml-urn:dev:mac:0024befffe804ff1", 34.795, 114.345),
            [(f"{tag}/senml/node-1", [{"bn": "urn:dev:mac:0024befffe804ff1:", "bt": NOW, "bu": "Cel", "n": "temp",
                                       "v": 7.5}, {"n": "noise", "u": "dBA", "t": 30, "v": 64}], False)],
            {("temperature_c", NOW, 7.5, B), ("noise_db", NOW + 30, 64.0, B)},
            (f"{tag}/senml/node-1", [{"bn": "urn:dev:mac:0024befffe804ff1:", "n": "temp", "v": 1, "ct_": "60"}],
             "schema")),
        "tasmota": Case(
            "tasmota", {"full_topic": f"{tag}/%prefix%/%topic%/", "timezone": "+08:00"},
            sensor("tasmota-air-9", 34.785, 114.345),
            [(f"{tag}/tele/air-9/SENSOR", {"Time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(NOW + 8 * 3600)),
                                           "BME280": {"Temperature": 41.0, "Humidity": 70.2}, "TempUnit": "F"}, False),
             (f"{tag}/tele/air-9/LWT", b"Online", True)],
            {("temperature_c", NOW, 5.0, D), ("humidity_pct", NOW, 70.2, D)},
            (f"{tag}/tele/air-9/SENSOR", {"Time": "later", "BME280": {"Temperature": 41.0}}, "schema")),
        "esphome": Case(
            "esphome", {"topic_prefixes": [f"{tag}/+"], "fields": {"tank": {"metric": "water_level_cm", "unit": "m"}}},
            sensor(f"esphome-{tag}-drain-2", 34.795, 114.335),
            [(f"{tag}/drain-2/sensor/tank/state", b"0.31", False), (f"{tag}/drain-2/status", b"online", True)],
            {("water_level_cm", None, 31.0, A)},  # no time in ESPHome states: the receive time
            (f"{tag}/drain-2/sensor/tank/state", b"deep", "schema")),
        "alink": Case(
            "alink", {"product_keys": [tag]}, sensor(f"alink-{tag}-noise-kf-017", 34.785, 114.335),
            [(f"/sys/{tag}/noise-kf-017/thing/event/property/post", {
                "id": "7", "version": "1.0", "sys": {"ack": 0}, "method": "thing.event.property.post",
                "params": {"NoiseValue": {"value": 72.5, "time": MS}, "PM25": {"value": 35, "time": MS + 60_000}}},
              False)],
            {("noise_db", NOW, 72.5, C), ("pm25", NOW + 60, 35.0, C)},
            (f"/sys/{tag}/noise-kf-017/thing/event/property/post", {"id": "8", "version": "1.0"}, "schema")),
        "homeassistant": Case(
            "homeassistant", {"discovery_prefix": f"{tag}/homeassistant"}, sensor("ha-air12", 34.785, 114.345),
            [(f"{tag}/homeassistant/sensor/air12/t/config", {
                "~": f"{tag}/kf/air-12", "name": "Temperature", "uniq_id": f"{tag}-air12-t", "stat_t": "~/state",
                "dev_cla": "temperature", "unit_of_meas": "°C", "val_tpl": "{{ value_json.t }}",
                "dev": {"ids": ["air12"], "name": "Air 12"}}, True),
             (f"{tag}/kf/air-12/state", {"t": -3.5}, True)],  # retained: delivered once subscribed
            {("temperature_c", None, -3.5, D)},
            (f"{tag}/homeassistant/sensor/air12/h/config", {"name": "no state topic"}, "schema")),
    }


async def run_case(mosquitto, twin_store, case: Case):
    store, grid = twin_store
    store.put_devices([case.device])
    settings = {"enabled": ("native", case.adapter), "options": {case.adapter: case.options}}
    async with running_gateway(mosquitto, store, grid, adapters=settings) as gw:
        prefix = gw.settings.mqtt.prefix
        rec = Recorder(mosquitto, f"{prefix}/deadletter/#")
        pub = Publisher(mosquitto)
        try:
            for topic, payload, retain in case.messages:
                pub.send(topic, payload if isinstance(payload, bytes) else orjson.dumps(payload), retain=retain)
            await wait_until(lambda: len(store.readings(device_id=case.device.id)) >= len(case.stored),
                             what=f"{case.adapter} readings stored")
            for retained, _, retain in case.messages:
                if retain:  # clear what the test retained: an empty retained status is not a dead letter
                    pub.send(retained, b"", retain=True)
            bad_topic, bad_payload, reason = case.bad
            pub.send(bad_topic, bad_payload if isinstance(bad_payload, bytes) else orjson.dumps(bad_payload))
            ((topic, letter),) = await rec.wait_for(lambda t, p: True)  # the first dead letter is the bad message's
        finally:
            rec.close()
            pub.close()
    assert topic == f"{prefix}/deadletter/{reason}" and letter["data"]["topic"] == bad_topic
    rows = store.readings(device_id=case.device.id)
    received = {r.metric: r for r in rows}
    expected = {(metric, ts if ts is not None else received[metric].ts, value, cell)
                for metric, ts, value, cell in case.stored}
    assert {(r.metric, r.ts, round(r.value, 6), r.cell_code) for r in rows} == expected
    assert all(r.ts_estimated == (ts is None) for r in rows for m, ts, _, _ in case.stored if m == r.metric)
    assert all(abs(r.ts - time.time()) < 600 for r in rows)
    return store


@pytest.mark.parametrize("adapter", ["zigbee2mqtt", "ttn", "senml", "tasmota", "esphome", "alink", "homeassistant"])
async def test_sensor_sources_end_to_end(mosquitto, twin_store, adapter):
    case = cases(f"t{uuid.uuid4().hex[:6]}")[adapter]
    store = await run_case(mosquitto, twin_store, case)
    assert store.dead_letter_counts() == {case.bad[2]: 1}
    if adapter != "homeassistant":  # a discovery config that names no device is nobody's
        assert store.dead_letter_counts(case.device.id) == {case.bad[2]: 1}


async def test_status_sources_bring_their_devices_online(mosquitto, twin_store):
    case = cases(f"t{uuid.uuid4().hex[:6]}")["tasmota"]
    store = await run_case(mosquitto, twin_store, case)
    await wait_until(lambda: store.get_device("tasmota-air-9").status == "online", what="device online by its LWT")


async def test_frigate_events_end_to_end(mosquitto, twin_store):
    store, grid = twin_store
    tag = f"t{uuid.uuid4().hex[:6]}"
    options = {"topic_prefix": f"{tag}/frigate", "labels": {"person": "crowding"},
               "cameras": {"north_gate": {"device": "cam-1", "zones": {"market_street": D}}}}
    after = {"id": f"{NOW}.25-q3k9zd", "camera": "north_gate", "label": "person", "top_score": 0.84, "score": 0.8,
             "false_positive": False, "start_time": NOW + 0.25, "end_time": None, "frame_time": NOW + 1,
             "current_zones": ["market_street"], "entered_zones": ["market_street"], "has_snapshot": False}
    settings = {"enabled": ("native", "frigate"), "options": {"frigate": options}}
    async with running_gateway(mosquitto, store, grid, adapters=settings) as gw:
        prefix = gw.settings.mqtt.prefix
        rec = Recorder(mosquitto, f"{prefix}/#")
        pub = Publisher(mosquitto)
        try:
            pub.send(f"{tag}/frigate/north_gate/person/snapshot", b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(300))
            pub.send(f"{tag}/frigate/events", {"type": "new", "before": after, "after": after})
            pub.send(f"{tag}/frigate/events", {"type": "update", "before": after, "after": dict(after, score=0.9)})
            ((topic, opened),) = await rec.wait_for(lambda t, p: "/events/" in t)
            assert topic == f"{prefix}/events/410204/{D}/crowding" and opened["data"]["device_id"] == "cam-1"
            end = dict(after, end_time=NOW + 40.5)
            pub.send(f"{tag}/frigate/events", {"type": "end", "before": after, "after": end})
            await rec.wait_for(lambda t, p: "/events/" in t and p["data"]["status"] == "cleared")
            pub.send(f"{tag}/frigate/events", b"\xff\xd8 not an event")
            await rec.wait_for(lambda t, p: t == f"{prefix}/deadletter/malformed_json")
        finally:
            rec.close()
            pub.close()
        await wait_until(lambda: len(store.camera_events(cell_code=D)) == 2, what="start and end stored")
    events = sorted(store.camera_events(cell_code=D), key=lambda e: e.ts)
    assert [(e.camera_id, e.state, e.ts, e.type, e.zone) for e in events] == [
        ("cam-1", "start", NOW + 0.25, "crowding", "market_street"), ("cam-1", "end", NOW + 40.5, "crowding",
                                                                       "market_street")]
    assert store.dead_letter_counts() == {"malformed_json": 1}  # the JPEG was not read as JSON


async def test_unknown_device_is_pending_until_placed_then_counts_to_its_cell(mosquitto, twin_store, monkeypatch):
    import gateway.service

    monkeypatch.setattr(gateway.service, "UNKNOWN_RECHECK_S", 0.1)  # look pending devices up again at once
    store, grid = twin_store
    tag = f"t{uuid.uuid4().hex[:6]}"
    device_id = "z2m-lamp-post-4"
    settings = {"enabled": ("native", "zigbee2mqtt"), "options": {"zigbee2mqtt": {"base_topic": f"{tag}/z2m"}}}
    async with running_gateway(mosquitto, store, grid, adapters=settings):
        pub = Publisher(mosquitto)
        try:
            pub.send(f"{tag}/z2m/lamp post 4", {"temperature": 44.0, "last_seen": iso(NOW)})
            await wait_until(lambda: len(store.readings(device_id=device_id)) == 1, what="pending device's reading")
            pending = store.get_device(device_id)
            assert (pending.status, pending.cell_code, pending.attributes["adapter"]) == ("pending", None,
                                                                                         "zigbee2mqtt")
            assert [r.cell_code for r in store.readings(device_id=device_id)] == [None]
            assert store.dead_letter_counts() == {} and store.anomalies() == []

            report = register_devices(store, grid, [Device(device_id, DeviceKind.SENSOR, 34.795, 114.335)])
            assert report.placed == [device_id]
            assert [r.cell_code for r in store.readings(device_id=device_id)] == [A]

            await asyncio.sleep(0.2)  # past the look-up interval, so that the gateway looks the device up again
            pub.send(f"{tag}/z2m/lamp post 4", {"temperature": 45.0, "last_seen": iso(NOW + 60)})
            await wait_until(lambda: len(store.readings(cell_code=A, device_id=device_id)) == 2,
                             what="the placed device's next reading in its cell")
            await wait_until(lambda: [a.cell_code for a in store.anomalies()] == [A], what="its anomaly in A")
        finally:
            pub.close()
    assert store.get_device(device_id).status == "registered"
