"""The TwinStore contract, run on every backend: SQLite (a file in WAL mode) and PostgreSQL +
PostGIS (a fresh database on the session's throwaway cluster)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from shapely.geometry import MultiPolygon, Polygon, box

from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.errors import StoreError
from twin.grid.cells import Cell, Grid
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState
from twin.sensing.readings import Bucket, CameraEvent, DeadLetter, Reading
from twin.store import open_store

T0 = 1_764_403_200.0  # 2025-11-29T08:00:00Z
CELL_A = "410204001001001"
CELL_B = "410204001001002"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'twin.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """A migrated store of each backend (PostgreSQL: cloned from a migrated template)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'twin.db'}"
    else:
        url = request.getfixturevalue("migrated_postgres_url")
    with open_store(url) as s:
        s.migrate()  # a new SQLite file: every migration; a cloned PostgreSQL database: none
        assert s.migrate() == []
        yield s


def reading(device="aq-0001", metric="pm25", ts=T0, value=1.0, cell=CELL_A, **kw) -> Reading:
    return Reading(device, metric, ts, value, cell, **kw)


def anomaly(id_="an-1", status="opened", ts=T0, cell=CELL_A, **kw) -> Anomaly:
    return Anomaly(
        id=id_, type="pm25_high", status=status, severity=kw.pop("severity", Level.WARNING), cell_code=cell,
        device_id="aq-0001", detector="threshold", ts=ts, explanation="PM2.5 above 75 ug/m3", **kw,
    )  # fmt: skip


def device(id_="aq-0001", **kw) -> Device:
    defaults = dict(kind=DeviceKind.SENSOR, lat=34.7972, lon=114.3476, cell_code=CELL_A, registered_at=T0 - 86400)
    return Device(id_, **{**defaults, **kw})


# -- migrations ---------------------------------------------------------------
def test_migrate_twice_applies_nothing_the_second_time(store_url):
    with open_store(store_url) as s:
        first = s.migrate()
        assert first and first == sorted(first)
        assert s.migrate() == []
        assert s.count_readings() == 0


def test_a_store_that_is_not_migrated_says_so(store_url):
    with open_store(store_url) as s, pytest.raises(StoreError, match="gridtwin db migrate"):
        s.count_readings()


# -- readings -----------------------------------------------------------------
def test_write_readings_counts_new_rows_and_stores_each_identity_once(store):
    batch = [reading(ts=T0 + i, value=float(i)) for i in range(3)]
    assert store.write_readings(batch) == 3
    assert store.write_readings(batch) == 0  # redelivered
    assert store.write_readings(batch[1:] + [reading(ts=T0 + 3)]) == 1  # two old, one new
    assert store.write_readings([reading(ts=T0 + 4), reading(ts=T0 + 4)]) == 1  # twice in one batch
    assert store.count_readings() == 5
    # The identity is (device, metric, ts): the same time of another metric or device is new.
    assert store.write_readings([reading(ts=T0, metric="pm10"), reading(ts=T0, device="aq-0002")]) == 2
    assert store.count_readings() == 7


def test_write_after_a_redelivered_batch_still_counts_everything(store):
    """A duplicate batch changes the write path; the next clean batch must still count fully."""
    assert store.write_readings([reading(ts=T0 + i) for i in range(10)]) == 10
    assert store.write_readings([reading(ts=T0 + i) for i in range(5, 15)]) == 5
    assert store.write_readings([reading(ts=T0 + i) for i in range(15, 25)]) == 10
    assert store.write_readings([reading(ts=T0 + i) for i in range(25, 30)]) == 5
    assert [r.ts for r in store.readings()] == [T0 + i for i in range(30)]


def test_write_nothing(store):
    assert store.write_readings([]) == 0
    assert store.write_camera_events([]) == 0
    assert store.write_anomalies([]) == 0
    assert store.write_dead_letters([]) == 0


def test_readings_keep_every_field_and_microseconds(store):
    stored = [
        reading(ts=T0 + 0.123456, value=35.2, seq=1042, lat=34.7972, lon=114.3076),
        reading(ts=T0 + 0.123457, value=-0.5, cell=None, ts_estimated=True),  # 1 us later: another reading
        reading(metric="smoke", ts=T0 + 1.000001, value=1.0),
    ]
    assert store.write_readings(stored) == 3
    assert store.readings() == stored


def test_integer_and_boolean_values_are_stored_as_floats(store):
    assert store.write_readings([reading(value=3), reading(metric="smoke", value=True)]) == 2
    values = [r.value for r in store.readings()]
    assert values == [3.0, 1.0] and all(type(v) is float for v in values)


def test_readings_filters_and_half_open_range(store):
    batch = [
        reading("aq-0001", "pm25", T0 + 0, 1.0, CELL_A),
        reading("aq-0001", "pm25", T0 + 10, 2.0, CELL_A),
        reading("aq-0001", "noise_db", T0 + 10, 60.0, CELL_A),
        reading("aq-0002", "pm25", T0 + 20, 3.0, CELL_B),
        reading("aq-0002", "pm25", T0 + 30, 4.0, CELL_B),
    ]
    store.write_readings(batch[::-1])
    # Oldest first; equal times by device, then metric.
    assert [r.value for r in store.readings()] == [1.0, 60.0, 2.0, 3.0, 4.0]
    assert [r.value for r in store.readings(start=T0 + 10, end=T0 + 30)] == [60.0, 2.0, 3.0]  # start <= ts < end
    assert [r.value for r in store.readings(start=T0 + 10.000001)] == [3.0, 4.0]
    assert [r.value for r in store.readings(end=T0 + 9.999999)] == [1.0]
    assert [r.value for r in store.readings(cell_code=CELL_B)] == [3.0, 4.0]
    assert [r.value for r in store.readings(device_id="aq-0001", metric="pm25")] == [1.0, 2.0]
    assert [r.value for r in store.readings(metric="noise_db")] == [60.0]
    assert [r.value for r in store.readings(cell_code=CELL_A, metric="pm25", start=T0 + 5)] == [2.0]
    assert store.readings(device_id="nobody") == []
    assert [r.value for r in store.readings(limit=2)] == [1.0, 60.0]


def _expected_buckets(ts: np.ndarray, values: np.ndarray, width_s: float) -> list[tuple]:
    us = np.round(ts * 1e6).astype(np.int64)
    width = int(round(width_s * 1e6))
    keys = us // width * width  # floor: aligned to the epoch
    out = []
    for key in np.unique(keys):
        v = values[keys == key]
        out.append((key / 1e6, len(v), v.mean(), v.min(), v.max()))
    return out


@pytest.mark.parametrize(
    "width_s",
    [
        60.0,  # divides the hour
        7.0,  # does not divide a day: only epoch alignment gives these starts
        0.25,  # sub-second buckets
    ],
)
def test_aggregate_matches_numpy_on_random_data(store, width_s):
    rng = np.random.default_rng(7)
    n = 2000
    ts = T0 + np.round(rng.uniform(0, 600, n), 6)
    values = rng.normal(50, 20, n)
    other = [reading(ts=float(t), value=999.0, metric="noise_db") for t in ts[:50]]  # another metric: ignored
    elsewhere = [reading(device="aq-0009", ts=float(t), value=-999.0, cell=CELL_B) for t in ts[:50]]
    batch = [reading(device=f"aq-{i % 7:04d}", ts=float(t), value=float(v)) for i, (t, v) in enumerate(zip(ts, values))]
    assert store.write_readings(batch + other + elsewhere) == n + 100

    start, end = T0 + 100.5, T0 + 500.25  # not aligned to any bucket
    inside = (ts >= start) & (ts < end)
    buckets = store.aggregate(CELL_A, "pm25", start, end, width_s)
    expected = _expected_buckets(ts[inside], values[inside], width_s)
    assert len(buckets) == len(expected)
    for got, (start_s, count, mean, low, high) in zip(buckets, expected):
        assert isinstance(got, Bucket)
        assert got.start == pytest.approx(start_s, abs=1e-6)
        assert round(got.start * 1e6) % round(width_s * 1e6) == 0
        assert got.count == count
        assert got.mean == pytest.approx(mean, rel=1e-9)
        assert (got.min, got.max) == (low, high)
    assert sum(b.count for b in buckets) == int(inside.sum())


def test_aggregate_of_nothing_and_a_bad_width(store):
    assert store.aggregate(CELL_A, "pm25", T0, T0 + 60, 10) == []
    with pytest.raises(StoreError, match="bucket width"):
        store.aggregate(CELL_A, "pm25", T0, T0 + 60, 0)


# -- camera events --------------------------------------------------------------
def test_camera_events_are_idempotent_on_camera_event_and_state(store):
    start = CameraEvent("cam-01", "ev-1", T0, "street_vendor", 0.91, "start", CELL_A, zone="north_gate", lat=34.79, lon=114.35,
                        snapshot_url="http://cam-01/snap/1.jpg")  # fmt: skip
    end = CameraEvent("cam-01", "ev-1", T0 + 30.5, "street_vendor", 0.88, "end", CELL_A)
    other = CameraEvent("cam-02", "ev-1", T0 + 10, "smoke", 0.7, "start", CELL_B)
    assert store.write_camera_events([start, end]) == 2
    assert store.write_camera_events([start, end, other]) == 1
    assert store.camera_events() == [end, other, start]  # newest first
    assert store.camera_events(cell_code=CELL_B) == [other]
    assert store.camera_events(start=T0 + 10) == [end, other]
    assert store.camera_events(limit=1) == [end]


# -- cell state -------------------------------------------------------------------
def test_cell_states_keep_the_latest(store):
    assert store.cell_states() == {}
    first = CellState(CELL_A, Level.WARNING, {"pm25": 80.5}, T0, 1)
    store.put_cell_states([first, CellState(CELL_B)])
    latest = CellState(CELL_A, Level.CRITICAL, {"pm25": 160.0, "noise_db": 72.25}, T0 + 60.000001, 2)
    store.put_cell_states([latest])
    states = store.cell_states()
    assert states == {CELL_A: latest, CELL_B: CellState(CELL_B)}
    assert states[CELL_A].values == {"pm25": 160.0, "noise_db": 72.25}
    assert states[CELL_B].level is Level.NO_DATA and states[CELL_B].updated_at is None


# -- anomalies ------------------------------------------------------------------------
def test_anomalies_open_only_and_idempotent(store):
    a1 = anomaly("an-1", ts=T0, metric="pm25", value=80.0, threshold=75.0, lat=34.79, lon=114.35,
                 details={"window_s": 60, "samples": [80.0, 81.5]})  # fmt: skip
    a1_cleared = anomaly("an-1", "cleared", ts=T0 + 120, severity=Level.NORMAL)
    a2 = anomaly("an-2", ts=T0 + 60, cell=CELL_B, severity=Level.CRITICAL)
    assert store.write_anomalies([a1, a2]) == 2
    assert store.write_anomalies([a1, a1_cleared]) == 1  # (id, status) is the key
    assert store.anomalies() == [a1_cleared, a2, a1]  # newest first
    assert store.anomalies(open_only=True) == [a2]
    assert store.anomalies(cell_code=CELL_A) == [a1_cleared, a1]
    assert store.anomalies(cell_code=CELL_A, open_only=True) == []
    assert store.anomalies(start=T0 + 60) == [a1_cleared, a2]
    assert store.anomalies(limit=1) == [a1_cleared]
    got = store.anomalies(cell_code=CELL_A)[-1]
    assert got.details == {"window_s": 60, "samples": [80.0, 81.5]} and got.severity is Level.WARNING


# -- dead letters -----------------------------------------------------------------------
def test_dead_letter_counts_by_reason_and_device(store):
    letters = [
        DeadLetter("malformed_json", "gridtwin/v1/readings/aq-0001", b"{not json", T0, "aq-0001", "line 1"),
        DeadLetter("malformed_json", "gridtwin/v1/readings/aq-0002", b"\x00\xff", T0 + 1, "aq-0002"),
        DeadLetter("unknown_device", "gridtwin/v1/readings/zz-9", b"{}", T0 + 2, "zz-9"),
        DeadLetter("oversized", "gridtwin/v1/readings", b"x" * 1000, T0 + 3),
    ]
    assert store.dead_letter_counts() == {}
    assert store.write_dead_letters(letters) == 4
    assert store.dead_letter_counts() == {"malformed_json": 2, "unknown_device": 1, "oversized": 1}
    assert store.dead_letter_counts("aq-0001") == {"malformed_json": 1}
    assert store.dead_letter_counts("nobody") == {}


# -- devices -----------------------------------------------------------------------------
def test_devices_put_get_list(store):
    sensor = device("aq-0001", model="AQ-3", metrics=("pm25", "pm10"), name="North gate", attributes={"fw": "1.2"})
    camera = device("cam-01", kind=DeviceKind.CAMERA, cell_code=CELL_B, status=DeviceStatus.ONLINE, last_seen=T0)
    mobile = device("rider-7", lat=None, lon=None, mobile=True, cell_code=None, status=DeviceStatus.PENDING)
    assert store.put_devices([sensor, camera, mobile]) == 3
    assert store.get_device("aq-0001") == sensor
    assert store.get_device("aq-0001").attributes == {"fw": "1.2"}
    assert store.get_device("nobody") is None
    assert store.list_devices() == [sensor, camera, mobile]  # by id
    assert store.list_devices(cell_code=CELL_B) == [camera]
    assert store.list_devices(status=DeviceStatus.PENDING) == [mobile]
    assert store.list_devices(cell_code=CELL_A, status=DeviceStatus.ONLINE) == []
    moved = device("aq-0001", lat=34.8, lon=114.36, cell_code=CELL_B, metrics=("pm25",))
    assert store.put_devices([moved]) == 1  # replaces by id
    assert store.get_device("aq-0001") == moved
    assert len(store.list_devices()) == 3


def test_get_devices_finds_the_registered_among_many_ids(store):
    fleet = [device(f"aq-{i:04d}") for i in range(1200)]
    store.put_devices(fleet)
    asked = [f"aq-{i:04d}" for i in range(0, 1200, 2)] + [f"ghost-{i}" for i in range(600)] + ["aq-0000", "", "x'; --"]
    got = store.get_devices(asked)  # more ids than one query takes
    assert got == [d for d in fleet if int(d.id[3:]) % 2 == 0]  # by id, once each, the unknown left out
    assert store.get_devices([]) == []
    store.put_devices([device("ghost-7", status=DeviceStatus.DISABLED)])
    assert [d.id for d in store.get_devices(["ghost-7"])] == ["ghost-7"]  # a device registered since is found


def test_anomaly_category_is_kept(store):
    health = anomaly("an-h", category="device_health", details={"run": 9})
    incident = anomaly("an-i", ts=T0 + 1)
    store.write_anomalies([health, incident])
    got = {a.id: a for a in store.anomalies()}
    assert got["an-h"].category == "device_health" and not got["an-h"].is_incident
    assert got["an-i"].category == "incident" and got["an-h"] == health


def test_device_status_and_last_seen_never_move_backwards(store):
    store.put_devices([device("aq-0001"), device("aq-0002")])
    store.set_device_status("aq-0001", DeviceStatus.ONLINE, T0 + 10)
    got = store.get_device("aq-0001")
    assert (got.status, got.last_seen) == (DeviceStatus.ONLINE, T0 + 10)
    store.set_device_status("aq-0001", DeviceStatus.ONLINE, T0 + 5)  # a late, older birth message
    assert store.get_device("aq-0001").last_seen == T0 + 10
    store.set_device_status("aq-0001", DeviceStatus.OFFLINE, T0 + 20)
    got = store.get_device("aq-0001")
    assert (got.status, got.last_seen) == (DeviceStatus.OFFLINE, T0 + 10)  # offline is not "seen"

    store.touch_devices({"aq-0001": T0 + 30.000001, "aq-0002": T0 + 3, "nobody": T0})
    assert store.get_device("aq-0001").last_seen == T0 + 30.000001
    assert store.get_device("aq-0002").last_seen == T0 + 3
    store.touch_devices({"aq-0001": T0 + 25, "aq-0002": T0 + 4})
    assert store.get_device("aq-0001").last_seen == T0 + 30.000001
    assert store.get_device("aq-0002").last_seen == T0 + 4
    # An unknown device is ignored (and not created): a removed device must not fail a gateway batch.
    store.set_device_status("nobody", DeviceStatus.ONLINE, T0)
    assert store.get_device("nobody") is None


def test_a_batch_of_statuses_is_applied_in_order_in_one_call(store, caplog):
    store.put_devices([device("aq-0001"), device("aq-0002")])
    store.set_device_statuses([
        ("aq-0001", DeviceStatus.ONLINE, T0 + 10),
        ("ghost", DeviceStatus.ONLINE, T0 + 11),  # not registered: left out, the rest still applied
        ("aq-0001", DeviceStatus.OFFLINE, T0 + 12),
        ("aq-0002", DeviceStatus.OFFLINE, T0 + 13),
        ("aq-0002", DeviceStatus.ONLINE, T0 + 14),
        ("aq-0002", DeviceStatus.ONLINE, T0 + 9),  # a late, older birth message: last_seen stays
    ])
    first, second = store.get_device("aq-0001"), store.get_device("aq-0002")
    assert (first.status, first.last_seen) == (DeviceStatus.OFFLINE, T0 + 10)
    assert (second.status, second.last_seen) == (DeviceStatus.ONLINE, T0 + 14)
    assert store.get_device("ghost") is None
    assert "status online of device ghost not recorded" in caplog.text
    store.set_device_statuses([])


# -- grid --------------------------------------------------------------------------------
def small_grid() -> Grid:
    with_hole = Polygon(
        [(114.33, 34.79), (114.332, 34.79), (114.332, 34.792), (114.33, 34.792)],
        [[(114.3305, 34.7905), (114.3310, 34.7905), (114.3310, 34.7910)]],
    )
    cells = [
        Cell(CELL_A, "Grid 001", box(114.3301234567891, 34.7801, 114.3321, 34.7819), "Gulou District",
             "Xiangguo Street", "Shudian Community", worker="Wang Fang", attributes={"population": 1200}),  # fmt: skip
        Cell(CELL_B, "Grid 002", with_hole, "Gulou District", "Xiangguo Street", "Shudian Community"),
        Cell("410204001002001", "Grid 001", MultiPolygon([box(114.34, 34.78, 114.341, 34.781), box(114.342, 34.78, 114.343, 34.781)]),
             "Gulou District", "Xiangguo Street", "Gulou Community"),  # fmt: skip
    ]
    return Grid(cells, {"name": "test grid", "generated": True, "source": {"kind": "test"}})


def test_grid_round_trip_and_replace(store):
    assert store.load_grid() is None
    grid = small_grid()
    store.put_grid(grid)
    loaded = store.load_grid()
    assert [c.code for c in loaded.cells] == [c.code for c in grid.cells]
    for got, want in zip(loaded.cells, grid.cells):
        assert (got.name, got.district_name, got.street_name, got.community_name, got.worker) == (
            want.name, want.district_name, want.street_name, want.community_name, want.worker,
        )  # fmt: skip
        assert got.geometry.geom_type == want.geometry.geom_type
        assert got.geometry.equals_exact(want.geometry, tolerance=0)
        assert got.attributes == want.attributes
    assert loaded.meta == grid.meta

    store.put_grid(Grid(grid.cells[:1], {"name": "smaller"}))
    loaded = store.load_grid()
    assert [c.code for c in loaded.cells] == [CELL_A] and loaded.meta == {"name": "smaller"}


# -- threads -------------------------------------------------------------------------------
def test_writers_and_readers_in_threads(store):
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for batch in range(20):
                rows = [reading(f"dev-{worker}", ts=T0 + batch * 10 + i) for i in range(10)]
                assert store.write_readings(rows) == 10
        except BaseException as exc:  # reported below
            errors.append(exc)

    def read() -> None:
        try:
            for _ in range(20):
                store.readings(cell_code=CELL_A, limit=50)
                store.count_readings()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(3)] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.count_readings() == 3 * 20 * 10
