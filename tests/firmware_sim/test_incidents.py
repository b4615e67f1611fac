"""Incidents push their cell's sensors past critical and make its cameras report start and end."""

from __future__ import annotations

import pytest

from firmware_sim.behaviour import SensorModel, Weather
from firmware_sim.cameras import CameraModel
from firmware_sim.fleet import make_fleet
from firmware_sim.incidents import INCIDENT_TYPES, Incident, random_incidents, suitable_cells
from twin.devices.device import Device, DeviceKind
from twin.sensing.catalog import MetricCatalog

CATALOG = MetricCatalog.default()
T0 = 1795939200.0  # 2026-11-29T08:00:00Z
CELL = "410204001001001"
WITH_METRICS = [name for name, kind in INCIDENT_TYPES.items() if kind.metrics]


def past_critical(name: str, value) -> bool:
    metric = CATALOG[name]
    if metric.kind == "bool":
        return value is True
    if metric.critical is None:
        return True  # nothing to pass (humidity has no alarm)
    return value >= metric.critical


@pytest.mark.parametrize("incident_type", WITH_METRICS)
def test_incident_pushes_every_affected_metric_past_critical_at_once(incident_type):
    kind = INCIDENT_TYPES[incident_type]
    model = SensorModel("s-0001", kind.metrics, seed=1, weather=Weather(chance=0.0))
    incident = Incident(incident_type, CELL, T0, T0 + 600, magnitude=1.4)
    alarming = [n for n in kind.metrics if CATALOG[n].critical is not None or CATALOG[n].alarm_on_true]
    before = model.sample(T0 - 10, [incident])
    assert not any(past_critical(n, before[n]) for n in alarming)
    for t in (T0 + 0.5, T0 + 60, T0 + 599):
        values = model.sample(t, [incident])
        assert all(past_critical(n, v) for n, v in values.items()), (t, values)
    later = model.sample(T0 + 600 + 4 * 3600, [incident])
    for name in alarming:
        metric, value = CATALOG[name], later[name]
        assert value is False if metric.kind == "bool" else (metric.warning is None or value < metric.warning)


def test_smoke_obscuration_rises_during_a_fire():
    model = SensorModel("sm-0001", ("smoke", "smoke_obscuration"), seed=2)
    fire = Incident("fire", CELL, T0, T0 + 900, magnitude=2.0)
    series = [model.sample(T0 + dt, [fire])["smoke_obscuration"] for dt in (1, 30, 60, 120, 300)]
    assert series[:4] == sorted(series[:4]) and min(series[3:]) >= 19.0  # ramps up, then holds with noise
    assert series[3] != series[4]  # a live sensor: the same fire never reads the same twice
    assert series[0] >= CATALOG["smoke_obscuration"].critical


def test_standing_water_drains_slowly_after_the_incident():
    model = SensorModel("wl-0001", ("water_level_cm",), seed=3, weather=Weather(chance=0.0))
    flood = Incident("waterlogging", CELL, T0, T0 + 600, magnitude=1.5)
    assert model.sample(T0 + 660, [flood])["water_level_cm"] >= CATALOG["water_level_cm"].critical
    assert model.sample(T0 + 600 + 3 * 3600, [flood])["water_level_cm"] < CATALOG["water_level_cm"].warning


def camera(events=None) -> Device:
    attributes = {"zone": "north_gate"} | ({"events": events} if events else {})
    return Device("cam-0001", DeviceKind.CAMERA, 34.79, 114.34, cell_code=CELL, attributes=attributes)


def test_camera_reports_start_and_end_with_the_same_event_id():
    cam = CameraModel(camera(), seed=1)
    fire = Incident("fire", CELL, T0, T0 + 30)
    assert cam.events(T0 - 1, [fire]) == []
    started = cam.events(T0 + 1, [fire])
    assert sorted(e["type"] for e in started) == ["fire", "smoke"]
    assert all(e["state"] == "start" and 0.8 <= e["confidence"] <= 0.98 for e in started)
    assert all(e["zone"] == "north_gate" and e["loc"] == {"lat": 34.79, "lon": 114.34} for e in started)
    assert cam.events(T0 + 10, [fire]) == []  # one start per detection
    ended = cam.events(T0 + 31, [fire])
    assert {e["event_id"] for e in ended} == {e["event_id"] for e in started}
    assert all(e["state"] == "end" for e in ended)
    assert cam.events(T0 + 60, [fire]) == [] and cam.open_events == 0
    assert len({e["event_id"] for e in started}) == 2


def test_camera_ignores_what_it_does_not_detect_and_incidents_it_never_saw():
    cam = CameraModel(camera(events=["street_vendor"]), seed=1)
    assert cam.events(T0 + 1, [Incident("fire", CELL, T0, T0 + 30)]) == []
    missed = Incident("street_vendor", CELL, T0, T0 + 5)
    assert cam.events(T0 + 10, [missed]) == []  # over before the camera first looked


def test_event_ids_differ_between_cameras_and_incidents():
    a, b = CameraModel(camera()), CameraModel(Device("cam-0002", DeviceKind.CAMERA, 34.79, 114.34, cell_code=CELL))
    one, two = Incident("crowding", CELL, T0, T0 + 60), Incident("crowding", CELL, T0 + 100, T0 + 160)
    ids = {a.event_id(one, "crowding"), a.event_id(two, "crowding"), b.event_id(one, "crowding")}
    assert len(ids) == 3


def test_incident_validation():
    with pytest.raises(ValueError, match="unknown incident type"):
        Incident("meteor", CELL, T0, T0 + 1)
    with pytest.raises(ValueError, match="ends"):
        Incident("fire", CELL, T0, T0)
    assert Incident("fire", CELL, T0, T0 + 1).id == Incident("fire", CELL, T0, T0 + 1).id


def test_random_incidents_choose_cells_whose_devices_notice_them(grid):
    fleet = make_fleet(grid, sensors=30, cameras=3, seed=5)
    incidents = random_incidents(grid, fleet, 6, start=T0, seed=1, spread=5.0)
    assert len(incidents) == 6
    assert len({i.type for i in incidents}) == 6  # types take turns
    for incident in incidents:
        assert incident.cell_code in suitable_cells(fleet, incident.type)
        assert T0 <= incident.start <= T0 + 5.0 and incident.end > incident.start + 60
    assert incidents == random_incidents(grid, fleet, 6, start=T0, seed=1, spread=5.0)
    by_cell = {}
    for device in fleet:
        by_cell.setdefault(device.cell_code, []).append(device)
    for incident in incidents:
        kind = incident.kind
        noticed = [
            d for d in by_cell[incident.cell_code]
            if set(d.metrics) & set(kind.metrics) or (d.kind is DeviceKind.CAMERA and kind.camera_events)
        ]
        assert noticed


def test_random_incidents_with_nothing_to_notice_them(grid):
    assert random_incidents(grid, [], 3, start=T0) == []
    only_parking = [Device("pk-0001", DeviceKind.SENSOR, 34.789, 114.341, metrics=("parking_occupied",), cell_code=CELL)]
    incidents = random_incidents(grid, only_parking, 3, start=T0)
    assert [i.type for i in incidents] == ["illegal_parking"] * 3 and {i.cell_code for i in incidents} == {CELL}
