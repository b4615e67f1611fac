"""Device registration, the device CSV reader and opening the twin, on a real SQLite store."""

from __future__ import annotations

import dataclasses

import pytest

from tests.common import small_square_grid
from twin.config import load_settings
from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.devices.registry import read_devices_csv, register_devices, relocate_devices
from twin.errors import DeviceError, GridError, OutsideGrid
from twin.grid.demo import demo_grid
from twin.grid.files import export_grid
from twin.grid.generate import generate_grid
from twin.sensing.catalog import MetricCatalog
from twin.store import open_store, open_twin

GRID = small_square_grid()
INSIDE = (34.790, 114.345)  # lat, lon inside GRID
INSIDE_2 = (34.786, 114.355)
OUTSIDE = (34.700, 114.345)
NOW = 1_764_374_400.0


@pytest.fixture
def store(tmp_path):
    with open_store(f"sqlite:///{tmp_path}/t.db") as s:
        s.migrate()
        yield s


def sensor(device_id: str, where=INSIDE, **fields) -> Device:
    lat, lon = where if where else (None, None)
    return Device(id=device_id, kind=DeviceKind.SENSOR, lat=lat, lon=lon, metrics=("pm25",), **fields)


def test_fixed_devices_land_in_their_cells(store):
    report = register_devices(store, GRID, [sensor("aq-1"), sensor("aq-2", INSIDE_2)], now=NOW)
    assert report.ok and not report.refused and not report.replaced
    expected = {"aq-1": GRID.locate(INSIDE[1], INSIDE[0]), "aq-2": GRID.locate(INSIDE_2[1], INSIDE_2[0])}
    assert expected["aq-1"] != expected["aq-2"]
    assert {d.id: d.cell_code for d in report.accepted} == expected
    stored = store.get_device("aq-1")
    assert stored.cell_code == expected["aq-1"]
    assert stored.registered_at == NOW and stored.status == DeviceStatus.REGISTERED
    assert [d.id for d in store.list_devices(cell_code=expected["aq-2"])] == ["aq-2"]


def test_one_vectorized_lookup_for_the_whole_batch(store, monkeypatch):
    grid = small_square_grid()
    calls = []
    real = grid.locate
    monkeypatch.setattr(grid, "locate", lambda lon, lat: calls.append(len(lon)) or real(lon, lat))
    register_devices(store, grid, [sensor(f"aq-{i}") for i in range(30)], now=NOW)
    assert calls == [30]


def test_outside_devices_are_refused_and_the_others_registered(store):
    report = register_devices(store, GRID, [sensor("aq-1"), sensor("far-1", OUTSIDE), sensor("aq-2", INSIDE_2)], now=NOW)
    assert [d.id for d in report.accepted] == ["aq-1", "aq-2"]
    (refusal,) = report.refused
    assert refusal.device_id == "far-1"
    assert isinstance(refusal.error, OutsideGrid)
    assert "far-1 at lat 34.700000, lon 114.345000 is outside every grid cell" in refusal.reason
    assert store.get_device("far-1") is None
    assert sorted(d.id for d in store.list_devices()) == ["aq-1", "aq-2"]
    with pytest.raises(OutsideGrid):
        report.raise_for_refused()
    assert report.to_json()["refused"] == [{"id": "far-1", "reason": refusal.reason}]


def test_mobile_devices(store):
    devices = [
        sensor("rider-1", None, mobile=True),  # no location: located per reading
        sensor("rider-2", INSIDE, mobile=True),  # starts in a cell
        sensor("rider-3", OUTSIDE, mobile=True),  # starts outside: still registered, no cell
    ]
    report = register_devices(store, GRID, devices, now=NOW)
    assert report.ok
    cells = {d.id: d.cell_code for d in store.list_devices()}
    assert cells == {"rider-1": None, "rider-2": GRID.locate(INSIDE[1], INSIDE[0]), "rider-3": None}


@pytest.mark.parametrize(
    "device, fragment",
    [
        (sensor("a/b"), "device id 'a/b' is invalid"),  # a slash would break MQTT topics
        (sensor("aq-1", None), "is fixed and has no location"),  # fixed needs lat/lon
        (dataclasses.replace(sensor("aq-1"), lon=None), "give both lat and lon"),  # half a location
        (sensor("aq-1", (134.0, 114.0)), "not a WGS84 position"),  # lat out of range
        (sensor("aq-1", (float("nan"), 114.0)), "finite"),  # NaN
        (sensor("aq-1", ("north", 114.0)), "must be numbers"),  # text
        (dataclasses.replace(sensor("aq-1"), metrics=("pm25", "pm2.5")), "unknown metric(s) pm2.5"),  # not in catalog
        (dataclasses.replace(sensor("aq-1"), kind="drone"), "kind 'drone' must be 'sensor' or 'camera'"),  # bad kind
    ],
)
def test_invalid_devices_are_refused(store, device, fragment):
    report = register_devices(store, GRID, [device, sensor("good-1")], now=NOW, catalog=MetricCatalog.default())
    assert [d.id for d in report.accepted] == ["good-1"]
    assert len(report.refused) == 1
    assert fragment in report.refused[0].reason
    assert isinstance(report.refused[0].error, DeviceError)


def test_duplicate_ids_in_one_batch_keep_the_first(store):
    report = register_devices(store, GRID, [sensor("aq-1"), sensor("aq-1", INSIDE_2)], now=NOW)
    assert [d.cell_code for d in report.accepted] == [GRID.locate(INSIDE[1], INSIDE[0])]
    assert "appears twice" in report.refused[0].reason


def test_kind_given_as_text_is_normalized(store):
    camera = Device(id="cam-1", kind="camera", lat=INSIDE[0], lon=INSIDE[1])
    report = register_devices(store, GRID, [camera], now=NOW)
    assert report.accepted[0].kind is DeviceKind.CAMERA
    assert store.get_device("cam-1").kind is DeviceKind.CAMERA


def test_registering_again_moves_the_device_but_keeps_its_history(store):
    register_devices(store, GRID, [sensor("aq-1")], now=NOW)
    store.set_device_status("aq-1", DeviceStatus.ONLINE, NOW + 60)
    report = register_devices(store, GRID, [sensor("aq-1", INSIDE_2, name="moved")], now=NOW + 3600)
    assert report.replaced == ["aq-1"]
    device = store.get_device("aq-1")
    assert device.cell_code == GRID.locate(INSIDE_2[1], INSIDE_2[0])
    assert device.name == "moved"
    assert device.registered_at == NOW
    assert device.status == DeviceStatus.ONLINE
    assert device.last_seen == pytest.approx(NOW + 60)


def test_relocate_devices_after_a_new_grid(store):
    register_devices(store, GRID, [sensor("aq-1"), sensor("aq-2", INSIDE_2), sensor("rider", None, mobile=True)], now=NOW)
    # A smaller grid of another district: aq-1 still inside, aq-2 now outside.
    smaller = generate_grid((114.34, 34.788, 114.35, 34.795), 200, district_code="410202")
    moved, outside = relocate_devices(store, smaller)
    assert moved == 2
    assert outside == ["aq-2"]
    assert store.get_device("aq-1").cell_code == smaller.locate(INSIDE[1], INSIDE[0])
    assert store.get_device("aq-1").cell_code.startswith("410202")
    assert store.get_device("aq-2").cell_code is None
    assert relocate_devices(store, smaller) == (0, ["aq-2"])


# -- opening the twin -----------------------------------------------------------------
def test_open_twin_stores_the_demo_grid_once(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    settings = load_settings(env={})
    store, grid = open_twin(settings, url)
    with store:
        assert len(grid) == len(demo_grid())
        assert store.load_grid() is not None
        store.put_grid(GRID)
    store, grid = open_twin(settings, url)  # the stored grid wins over the configured one
    with store:
        assert [c.code for c in grid.cells] == [c.code for c in GRID.cells]


def test_open_twin_imports_a_configured_grid_file(tmp_path):
    path = export_grid(GRID, tmp_path / "cells.gpkg")
    settings = load_settings(env={"GRIDTWIN_GRID_SOURCE": str(path), "GRIDTWIN_STORE_URL": f"sqlite:///{tmp_path}/t.db"})
    store, grid = open_twin(settings)
    with store:
        assert [c.code for c in grid.cells] == [c.code for c in GRID.cells]
        assert grid.meta["file"] == "cells.gpkg"
    missing = load_settings(env={"GRIDTWIN_GRID_SOURCE": str(tmp_path / "nope.geojson")})
    with pytest.raises(GridError, match="does not exist"):
        open_twin(missing, f"sqlite:///{tmp_path}/other.db")


# -- CSV ----------------------------------------------------------------------------
GOOD_CSV = """\ufeffid,kind,model,metrics,lat,lon,mobile,name,installer
aq-0001,sensor,AQ-200,pm25;pm10,34.790,114.345,,North gate,Li
cam-0001,camera,IPC-4,,34.786,114.355,false,"Gate camera, east",

rider-01,sensor,R1, noise_db ; pm25 ,,,yes,"Rider
with a long name",
"""


def test_read_good_rows(tmp_path):
    path = tmp_path / "devices.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    lines: dict[str, int] = {}
    devices, errors = read_devices_csv(path, lines=lines)
    assert errors == []
    aq, cam, rider = devices
    assert (aq.id, aq.kind, aq.model, aq.metrics, aq.lat, aq.lon, aq.mobile, aq.name) == (
        "aq-0001", DeviceKind.SENSOR, "AQ-200", ("pm25", "pm10"), 34.79, 114.345, False, "North gate")
    assert aq.attributes == {"installer": "Li"}
    assert cam.kind is DeviceKind.CAMERA and cam.metrics == () and cam.name == "Gate camera, east"
    assert rider.mobile and rider.lat is None and rider.metrics == ("noise_db", "pm25")
    assert rider.name == "Rider\nwith a long name"
    assert lines == {"aq-0001": 2, "cam-0001": 3, "rider-01": 6}  # the blank line 4 is skipped


BAD_CSV = """id,kind,model,metrics,lat,lon,mobile,name
aq-1,sensor,,pm25,34.79,114.345,,good
a b,sensor,,pm25,34.79,114.345,,
aq-3,drone,,pm25,34.79,114.345,,
aq-4,sensor,,pm2.5;pm25,34.79,114.345,,
aq-5,sensor,,pm25,north,114.345,,
aq-6,sensor,,pm25,,,,
aq-7,sensor,,pm25,34.79,,,
aq-8,sensor,,pm25,,,maybe,
aq-1,sensor,,pm25,34.79,114.345,,again
aq-10,sensor,,pm25,34.79,114.345,,,extra
aq-11,camera,,,34.79,114.345,1,good too
"""


def test_every_bad_row_is_reported_with_its_line(tmp_path):
    path = tmp_path / "devices.csv"
    path.write_text(BAD_CSV, encoding="utf-8")
    devices, errors = read_devices_csv(path, MetricCatalog.default())
    assert [d.id for d in devices] == ["aq-1", "aq-11"]
    reasons = {e.line: e.reason for e in errors}
    assert sorted(reasons) == list(range(3, 12))
    assert "device id 'a b' is invalid" in reasons[3]
    assert "kind 'drone'" in reasons[4]
    assert "unknown metric(s) pm2.5" in reasons[5]
    assert "lat 'north' is not a number" in reasons[6]
    assert "aq-6 is fixed and has no location" in reasons[7]
    assert "give both lat and lon" in reasons[8]
    assert "mobile 'maybe' must be true or false" in reasons[9]
    assert reasons[10] == "duplicate id aq-1 (first on line 2)"
    assert "the row has 9 fields, the header 8" in reasons[11]
    assert str(errors[0]).startswith("line 3: ")
    assert errors[1].device_id == "aq-3"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "the file is empty"),  # nothing at all
        ("name,lat,lon\nx,1,2\n", "the header lacks id, kind"),  # wrong header
    ],
)
def test_unusable_header(tmp_path, text, fragment):
    path = tmp_path / "devices.csv"
    path.write_text(text, encoding="utf-8")
    devices, errors = read_devices_csv(path)
    assert devices == []
    assert len(errors) == 1 and errors[0].line == 1 and fragment in errors[0].reason


def test_unreadable_csv(tmp_path):
    with pytest.raises(DeviceError, match="does not exist"):
        read_devices_csv(tmp_path / "none.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,kind\ncaf\xe9,sensor\n".encode("latin-1"))
    with pytest.raises(DeviceError, match="not UTF-8"):
        read_devices_csv(latin)
