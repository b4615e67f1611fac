"""Pending devices: readings kept without a cell, and counted to the cell once a technician places the device."""

from __future__ import annotations

import time

import orjson
import pytest

from gateway.pipeline import Pipeline
from mqttwire.packets import Inbound
from tests.gateway.conftest import DEVICES, A, B, C, D, small_grid
from twin.config import Settings
from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.devices.registry import register_devices
from twin.sensing.readings import CameraEvent, Reading
from twin.store import open_store

NOW = 1_795_939_200.0
RECENT = float(round(time.time()) - 60)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/twin.db"
    else:
        url = request.getfixturevalue("migrated_postgres_url")
    store = open_store(url)
    store.migrate()
    store.put_grid(small_grid())
    store.put_devices(DEVICES)
    yield store
    store.close()


def test_assign_cell_moves_only_the_devices_cellless_rows(store):
    pending = Device("z2m-kitchen", DeviceKind.SENSOR, None, None, status=DeviceStatus.PENDING, registered_at=NOW)
    store.put_devices([pending])
    store.write_readings([
        Reading("z2m-kitchen", "temperature_c", NOW, 21.0, None),
        Reading("z2m-kitchen", "temperature_c", NOW + 60, 21.5, None),
        Reading("z2m-kitchen", "humidity_pct", NOW + 60, 40.0, B),  # located by its own position: kept
        Reading("aq-1", "pm25", NOW, 10.0, None),  # another device's cell-less row: untouched
    ])
    store.write_camera_events([CameraEvent("z2m-kitchen", "e-1", NOW, "fire", 0.9, "start", None)])

    assert store.assign_cell("z2m-kitchen", A) == 2

    assert [(r.metric, r.ts, r.cell_code) for r in store.readings(device_id="z2m-kitchen")] == [
        ("temperature_c", NOW, A), ("humidity_pct", NOW + 60, B), ("temperature_c", NOW + 60, A)]
    assert [r.cell_code for r in store.readings(device_id="aq-1")] == [None]
    assert [e.cell_code for e in store.camera_events(cell_code=A)] == [A]
    assert [b.count for b in store.aggregate(A, "temperature_c", NOW - 1, NOW + 3600, 3600)] == [2]
    assert store.assign_cell("z2m-kitchen", A) == 0  # nothing left without a cell


# -- the pipeline: who becomes pending, and what is kept ------------------------------------------------


def pipeline(**options) -> Pipeline:
    settings = Settings().replace(adapters={"options": options})
    return Pipeline(settings, small_grid(), {d.id: d for d in DEVICES})


def message(topic: str, payload, at: float = RECENT) -> Inbound:
    return Inbound(topic, payload if isinstance(payload, bytes) else orjson.dumps(payload), at)


def test_a_device_first_seen_through_an_adapter_is_pending_and_its_readings_kept():
    p = pipeline()
    out = p.process([message("zigbee2mqtt/kitchen/th", {"temperature": 45.0, "humidity": 30}),
                     message("zigbee2mqtt/kitchen/th/availability", b"online", RECENT + 1)], RECENT + 2)
    (device,) = out.pending
    assert (device.id, device.status, device.cell_code, device.lat) == ("z2m-kitchen-th", DeviceStatus.PENDING, None,
                                                                       None)
    assert device.name == "kitchen/th" and device.attributes == {"adapter": "zigbee2mqtt", "source_id": "kitchen/th"}
    assert sorted((r.metric, r.value, r.cell_code) for r in out.readings) == [("humidity_pct", 30.0, None),
                                                                            ("temperature_c", 45.0, None)]
    assert not out.dead_letters and not out.anomalies  # 45 degC is critical, but nowhere yet
    assert not out.statuses and out.last_seen["z2m-kitchen-th"] == RECENT + 1  # it stays pending
    again = p.process([message("zigbee2mqtt/kitchen/th", {"temperature": 20.0})], RECENT + 3)
    assert not again.pending and [r.cell_code for r in again.readings] == [None]


def test_native_devices_that_are_not_registered_stay_dead_letters():
    out = pipeline().process([message("gridtwin/v1/readings/ghost-1", {"values": {"pm25": 3}})], RECENT)
    assert not out.pending and [d.reason for d in out.dead_letters] == ["unknown_device"]


def test_a_pending_device_with_its_own_position_counts_where_it_is():
    uplink = {"uplink_message": {"frm_payload": "AQ==", "decoded_payload": {"pm25": 180},
                                 "locations": {"user": {"latitude": 34.785, "longitude": 114.345}}}}
    out = pipeline().process([message("v3/air@ttn/devices/lora-1/up", uplink)], RECENT)
    assert [d.id for d in out.pending] == ["ttn-lora-1"] and out.pending[0].cell_code is None
    assert [(r.value, r.cell_code) for r in out.readings] == [(180.0, D)]
    assert [a.status for a in out.anomalies] == ["opened"]  # located: its cell's detectors see it


def test_placing_a_pending_device_is_handed_on_once():
    p = pipeline()
    p.process([message("zigbee2mqtt/kitchen/th", {"temperature": 20.0})], RECENT)
    placed = Device("z2m-kitchen-th", DeviceKind.SENSOR, 34.795, 114.335, cell_code=A, status=DeviceStatus.REGISTERED)
    assert p.registry.learn([placed]) == [("z2m-kitchen-th", A)]
    out = p.process([message("zigbee2mqtt/kitchen/th", {"temperature": 21.0}, RECENT + 1)], RECENT + 1)
    assert out.placed == (("z2m-kitchen-th", A),) and [r.cell_code for r in out.readings] == [A]
    assert p.process([], RECENT + 2).placed == ()


def test_a_configured_camera_that_is_not_registered_is_a_pending_camera():
    p = pipeline(frigate={"cameras": {"lane": {"device": "cam-lane-9"}}})
    after = {"id": "e-2", "camera": "lane", "label": "person", "top_score": 0.7, "start_time": RECENT}
    out = p.process([message("frigate/events", {"type": "new", "after": after})], RECENT)
    assert [(d.id, d.kind, d.name) for d in out.pending] == [("cam-lane-9", DeviceKind.CAMERA, "lane")]
    assert [(e.camera_id, e.cell_code) for e in out.camera_events] == [("cam-lane-9", None)] and not out.dead_letters


def test_a_pending_camera_counts_to_its_zones_cell():
    p = pipeline(frigate={"cameras": {"lane": {"zones": {"gate": C}}}})
    after = {"id": "e-1", "camera": "lane", "label": "fire", "top_score": 0.95, "start_time": RECENT,
             "current_zones": ["gate"]}
    out = p.process([message("frigate/events", {"type": "new", "after": after})], RECENT)
    assert [(d.id, d.kind) for d in out.pending] == [("frigate-lane", DeviceKind.CAMERA)]
    assert [(e.camera_id, e.cell_code, e.type) for e in out.camera_events] == [("frigate-lane", C, "fire")]
    assert [a.severity.label for a in out.anomalies] == ["critical"]


def test_registering_a_pending_device_places_it_and_moves_its_readings(store):
    p = pipeline()
    out = p.process([message("zigbee2mqtt/kitchen/th", {"temperature": 20.0, "humidity": 50})], RECENT)
    store.put_devices(out.pending)
    store.write_readings(out.readings)
    technician = Device("z2m-kitchen-th", DeviceKind.SENSOR, 34.795, 114.335, name="Kitchen", metrics=("temperature_c",))
    report = register_devices(store, small_grid(), [technician], now=RECENT + 60)
    assert report.placed == ["z2m-kitchen-th"] and report.replaced == ["z2m-kitchen-th"]
    device = store.get_device("z2m-kitchen-th")
    assert (device.status, device.cell_code, device.registered_at) == (DeviceStatus.REGISTERED, A, RECENT)
    assert device.attributes["adapter"] == "zigbee2mqtt"  # where it came from is kept
    assert {r.cell_code for r in store.readings(device_id="z2m-kitchen-th")} == {A}
    assert len(store.readings(cell_code=A, metric="temperature_c")) == 1
