"""Pending devices: readings kept without a cell, and counted to the cell once a technician places the device."""

from __future__ import annotations

import pytest

from tests.gateway.conftest import A, B, DEVICES, small_grid
from twin.devices import Device, DeviceKind, DeviceStatus
from twin.readings import CameraEvent, Reading
from twin.store import open_store

NOW = 1_795_939_200.0


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
