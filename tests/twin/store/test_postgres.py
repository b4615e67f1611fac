"""What the PostgreSQL store does beyond the contract: migrations, day partitions, PostGIS
columns and lookups, the TimescaleDB branch (as far as it runs without the extension),
error translation, the pool, and the fixture cluster itself."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest
import shapely
from shapely.geometry import LineString, box

import gridtwin.cli as cli
from gridtwin.pgcluster import ThrowawayCluster
from gridtwin.ports import free_port
from twin.devices.device import Device, DeviceKind
from twin.errors import StoreError
from twin.grid.cells import Cell, Grid
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState
from twin.sensing.readings import Reading
from twin.store import open_store
from twin.store.migrations import postgres as schema
from twin.store.postgres import PostgresStore

PG_ALL = [m.name for m in schema.MIGRATIONS]  # every migration, in order

T0 = 1_764_403_200.0  # 2025-11-29T08:00:00Z
DAY = 86_400.0
CELL = "410204001001001"


@pytest.fixture
def store(migrated_postgres_url):
    with PostgresStore(migrated_postgres_url) as s:
        yield s


def sql(url: str, query: str, params=None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def reading(ts: float, value: float = 1.0, device: str = "aq-0001") -> Reading:
    return Reading(device, "pm25", ts, value, CELL)


def partitions(url: str) -> dict[str, int]:
    """Partition name -> rows it holds."""
    rows = sql(url, "SELECT tableoid::regclass::text, count(*) FROM readings GROUP BY 1")
    names = sql(url, "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                     "WHERE i.inhparent = 'readings'::regclass")  # fmt: skip
    return {name: 0 for (name,) in names} | dict(rows)


# -- migrations ----------------------------------------------------------------------
def test_migrations_are_recorded_in_order_and_pick_the_native_layout(postgres_url):
    with PostgresStore(postgres_url) as store:
        assert store.migrate() == PG_ALL and PG_ALL[:2] == ["0001_core", "0002_readings"]
        assert store.readings_layout() == schema.PARTITIONED
    applied = sql(postgres_url, "SELECT name FROM schema_migrations ORDER BY applied_at, name")
    assert [name for (name,) in applied] == PG_ALL
    assert sql(postgres_url, "SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'readings'::regclass") == [("r",)]


def test_concurrent_migrations_apply_each_step_once(postgres_url):
    results, errors = [], []

    def migrate():
        try:
            with PostgresStore(postgres_url) as s:
                results.append(s.migrate())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(results) == [[], [], PG_ALL]


def test_migration_list_must_be_sorted_and_unique():
    from twin.store.migrations import Migration, pending

    with pytest.raises(ValueError, match="ascending"):
        pending([Migration("0002_b", ()), Migration("0001_a", ())], set())
    with pytest.raises(ValueError, match="unique"):
        pending([Migration("0001_a", ()), Migration("0001_a", ())], set())
    assert [m.name for m in pending(schema.MIGRATIONS, {"0001_core"})] == PG_ALL[1:]


# -- what is stored, in PostgreSQL's own types ---------------------------------------------
def test_times_json_and_levels_are_stored_as_postgresql_types(store):
    store.write_readings([reading(T0 + 0.123456), reading(-1.5)])  # one before 1970 too
    store.put_cell_states([CellState(CELL, Level.CRITICAL, {"pm25": 160.5}, T0, 2)])
    rows = sql(store.url, "SELECT ts FROM readings ORDER BY ts")
    utc = dt.timezone.utc
    assert [r[0].astimezone(utc) for r in rows] == [
        dt.datetime(1969, 12, 31, 23, 59, 58, 500000, tzinfo=utc),
        dt.datetime(2025, 11, 29, 8, 0, 0, 123456, tzinfo=utc),
    ]
    assert sql(store.url, "SELECT level, metric_values->>'pm25', pg_typeof(metric_values)::text FROM cell_states") == [
        ("critical", "160.5", "jsonb")
    ]


# -- day partitions -------------------------------------------------------------------------
def test_day_partitions_are_created_for_the_days_written(store):
    days = [T0, T0 + DAY, T0 + 2 * DAY + 3600]
    assert store.write_readings([reading(t) for t in days]) == 3
    assert partitions(store.url) == {
        "readings_default": 0,
        "readings_p20251129": 1,
        "readings_p20251130": 1,
        "readings_p20251201": 1,
    }
    # A day's partition ends at midnight UTC: the first microsecond of 1 December is in the next one.
    midnight = dt.datetime(2025, 12, 1, tzinfo=dt.timezone.utc).timestamp()
    store.write_readings([reading(midnight - 1e-6, device="edge"), reading(midnight, device="edge")])
    assert partitions(store.url)["readings_p20251130"] == 2
    assert partitions(store.url)["readings_p20251201"] == 2


def test_rows_parked_in_the_default_partition_move_when_their_day_gets_one(migrated_postgres_url):
    far = [T0 - 300 * DAY, T0 - 200 * DAY, T0 - 100 * DAY, T0]  # far apart: no partitions in between
    with PostgresStore(migrated_postgres_url, max_new_partitions=2) as store:
        assert store.write_readings([reading(t, value=i) for i, t in enumerate(far)]) == 4
        parts = partitions(store.url)
        assert parts["readings_default"] == 2  # the two oldest days waited for a partition
        assert len(parts) == 3
        assert [r.value for r in store.readings()] == [0, 1, 2, 3]
    with PostgresStore(migrated_postgres_url) as store:
        assert store.write_readings([reading(far[0] + 60, value=9)]) == 1
        parts = partitions(store.url)
        assert parts["readings_default"] == 1 and sum(parts.values()) == 5
        name = schema.partition_name(int(far[0] // DAY))
        assert parts[name] == 2  # the parked row moved in beside the new one
        assert store.write_readings([reading(far[0])]) == 0  # still found as a duplicate
        assert [r.value for r in store.readings()] == [0, 9, 1, 2, 3]


def test_a_second_store_knows_partitions_made_by_the_first(migrated_postgres_url):
    with PostgresStore(migrated_postgres_url) as first, PostgresStore(migrated_postgres_url) as second:
        assert first.write_readings([reading(T0)]) == 1
        assert second.write_readings([reading(T0 + 1), reading(T0 + DAY)]) == 2
        assert set(partitions(migrated_postgres_url)) == {"readings_default", "readings_p20251129", "readings_p20251130"}


def test_partition_names_round_trip():
    for day in (0, 1, 20421, 30000):
        assert schema.partition_day(schema.partition_name(day)) == day
    assert schema.partition_day("readings_default") is None
    assert schema.partition_day("readings_p2025130x") is None


# -- PostGIS ------------------------------------------------------------------------------
def test_geometry_columns_and_gist_indexes(store):
    columns = sql(
        store.url,
        "SELECT attrelid::regclass::text, attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE atttypid = 'geometry'::regtype AND attrelid IN ('cells'::regclass, 'devices'::regclass) ORDER BY 1",
    )
    # Cells take Polygon or MultiPolygon (a CHECK constraint); device locations are points.
    assert columns == [("cells", "geometry", "geometry(Geometry,4326)"), ("devices", "location", "geometry(Point,4326)")]
    gist = sql(store.url, "SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING gist%' ORDER BY 1")
    assert gist == [("cells_geometry",), ("devices_location",)]


def test_device_location_follows_lat_lon(store):
    store.put_devices([
        Device("aq-0001", DeviceKind.SENSOR, 34.7972, 114.3476),
        Device("rider-1", DeviceKind.SENSOR, None, None, mobile=True),
    ])  # fmt: skip
    rows = sql(store.url, "SELECT id, ST_X(location), ST_Y(location), ST_SRID(location) FROM devices ORDER BY id")
    assert rows == [("aq-0001", 114.3476, 34.7972, 4326), ("rider-1", None, None, None)]
    store.put_devices([Device("aq-0001", DeviceKind.SENSOR, 34.8, 114.35)])
    assert sql(store.url, "SELECT ST_AsText(location) FROM devices WHERE id = 'aq-0001'") == [("POINT(114.35 34.8)",)]


def test_cells_refuse_a_geometry_that_is_not_a_polygon(store):
    bad = Grid([Cell(CELL, "Grid 001", LineString([(114.33, 34.78), (114.34, 34.79)]))])
    with pytest.raises(StoreError, match="put_grid failed") as err:
        store.put_grid(bad)
    assert isinstance(err.value.__cause__, psycopg.errors.CheckViolation)
    assert store.load_grid() is None  # nothing half-written


def test_locate_points_agrees_with_shapely(store):
    size = 0.002
    cells = [
        Cell(f"410204001001{i * 4 + j + 1:03d}", f"Grid {i * 4 + j + 1:03d}",
             box(114.33 + j * size, 34.78 + i * size, 114.33 + (j + 1) * size, 34.78 + (i + 1) * size))
        for i in range(3) for j in range(4)
    ]  # fmt: skip
    store.put_grid(Grid(cells))
    rng = np.random.default_rng(3)
    lons = rng.uniform(114.329, 114.339, 500)
    lats = rng.uniform(34.779, 34.787, 500)
    lons[:3], lats[:3] = [114.332, 114.3, 114.33], [34.781, 34.781, 34.78]  # on an edge, outside, a corner

    got = store.locate_points(lons, lats)

    points = shapely.points(lons, lats)
    expected = []
    for p in points:  # the lowest code of the cells covering the point
        covering = [c.code for c in cells if shapely.covers(c.geometry, p)]
        expected.append(min(covering) if covering else None)
    assert got == expected
    assert got[:3] == ["410204001001001", None, "410204001001001"]
    assert store.locate_points([], []) == []


# -- TimescaleDB ----------------------------------------------------------------------------
# No TimescaleDB on the test machines (nor in Debian): its layout is tested only as far as it runs
# without it (docs/operations.md says so). Detection and enabling against a fake cursor; the migration
# and the aggregate query against stand-in functions in a real PostgreSQL.
def test_timescaledb_is_detected_as_absent_here(store):
    with psycopg.connect(store.url, autocommit=True) as conn, conn.cursor() as cur:
        assert schema.timescaledb_state(cur) == "absent"
        assert schema.enable_timescaledb(cur) is False


class FakeCursor:
    """Answers the catalog query with given counts and fails CREATE EXTENSION like an
    extension that is packaged but not in shared_preload_libraries."""

    def __init__(self, installed: int, available: int, create_fails: bool):
        self.counts, self.create_fails, self.executed = (installed, available), create_fails, []
        self.connection = self

    @contextlib.contextmanager
    def transaction(self):
        yield

    def execute(self, query, params=None):
        self.executed.append(query)
        if query.startswith("CREATE EXTENSION") and self.create_fails:
            raise psycopg.errors.FeatureNotSupported("timescaledb must be loaded via shared_preload_libraries")

    def fetchone(self):
        return self.counts


@pytest.mark.parametrize(
    "installed, available, create_fails, enabled, created",
    [
        (1, 1, False, True, False),  # already installed: used as is
        (0, 1, False, True, True),  # packaged: created
        (0, 1, True, False, True),  # packaged but not preloaded: native layout
        (0, 0, False, False, False),  # not packaged: native layout, nothing tried
    ],
)
def test_enable_timescaledb(installed, available, create_fails, enabled, created):
    """Through a fake cursor only: no real TimescaleDB answers here, installed or failing."""
    cur = FakeCursor(installed, available, create_fails)
    assert schema.enable_timescaledb(cur) is enabled
    assert any(q.startswith("CREATE EXTENSION") for q in cur.executed) is created


def test_hypertable_statements():
    statements = schema.hypertable_statements(schema.Context(timescaledb=True, compress_after_days=3, retention_days=90))
    text = "\n".join(statements)
    assert "PARTITION BY" not in text and "readings_default" not in text
    assert "create_hypertable('readings', 'ts', chunk_time_interval => INTERVAL '1 day'" in text
    assert "timescaledb.compress_segmentby = 'device_id, metric'" in text
    assert "add_compression_policy('readings', INTERVAL '3 days')" in text
    assert "add_retention_policy('readings', INTERVAL '90 days')" in text
    assert statements[-1].endswith("'hypertable')")
    forever = schema.hypertable_statements(schema.Context(timescaledb=True, retention_days=None))
    assert not any("retention" in s for s in forever)
    assert schema.readings_statements(schema.Context(timescaledb=True)) == schema.hypertable_statements(
        schema.Context(timescaledb=True)
    )


TIMESCALE_STUBS = """
CREATE TABLE stub_calls (call text);
CREATE FUNCTION create_hypertable(relation regclass, time_column_name name, chunk_time_interval interval,
                                  create_default_indexes boolean) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO stub_calls VALUES (format('create_hypertable %s %s %s %s', relation, time_column_name,
                                                chunk_time_interval, create_default_indexes)) $$;
CREATE FUNCTION add_compression_policy(relation regclass, compress_after interval) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO stub_calls VALUES (format('add_compression_policy %s %s', relation, compress_after)) $$;
CREATE FUNCTION add_retention_policy(relation regclass, drop_after interval) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO stub_calls VALUES (format('add_retention_policy %s %s', relation, drop_after)) $$;
CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz, origin timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin(bucket_width, ts, origin) $$;
"""


def test_hypertable_migration_runs_against_stand_ins_of_timescaledb_functions(postgres_url):
    """Without the extension, the hypertable SQL runs against stand-ins with TimescaleDB's
    signatures; only the compression settings need the extension itself."""
    sql(postgres_url, TIMESCALE_STUBS)
    sql(postgres_url, ";".join(schema.CORE))
    ctx = schema.Context(timescaledb=True, compress_after_days=7, retention_days=730)
    with psycopg.connect(postgres_url) as conn:
        for statement in schema.hypertable_statements(ctx):
            if "timescaledb.compress" in statement:
                with pytest.raises(psycopg.errors.InvalidParameterValue, match='namespace "timescaledb"'):
                    with conn.transaction():
                        conn.execute(statement)
            else:
                conn.execute(statement)
    assert sql(postgres_url, "SELECT call FROM stub_calls") == [
        ("create_hypertable readings ts 1 day f",),
        ("add_compression_policy readings 7 days",),
        ("add_retention_policy readings 730 days",),
    ]
    assert sql(postgres_url, "SELECT value FROM store_meta WHERE key = 'readings_layout'") == [("hypertable",)]


def test_time_bucket_aggregate_matches_date_bin(migrated_postgres_url):
    """The hypertable layout's aggregate query (time_bucket with an epoch origin) gives the
    native layout's buckets; here time_bucket is a stand-in built on date_bin."""
    rng = np.random.default_rng(11)
    batch = [reading(T0 + float(t), float(v)) for t, v in zip(np.round(rng.uniform(0, 300, 500), 6), rng.normal(50, 5, 500))]
    with PostgresStore(migrated_postgres_url) as native:
        native.write_readings(batch)
        expected = native.aggregate(CELL, "pm25", T0, T0 + 300, 7)
    sql(migrated_postgres_url, TIMESCALE_STUBS)
    sql(migrated_postgres_url, "UPDATE store_meta SET value = 'hypertable' WHERE key = 'readings_layout'")
    with PostgresStore(migrated_postgres_url) as timescale:
        assert timescale.readings_layout() == schema.HYPERTABLE
        assert timescale.aggregate(CELL, "pm25", T0, T0 + 300, 7) == expected
    assert len(expected) == 43 and sum(b.count for b in expected) == 500


# -- errors and the pool -----------------------------------------------------------------
def test_an_unreachable_server_is_a_store_error():
    url = f"postgresql://postgres:secret@127.0.0.1:{free_port('127.0.0.1')}/twin"
    with pytest.raises(StoreError, match="cannot connect to the store at postgresql://postgres:\\*\\*\\*@") as err:
        open_store(url)
    assert "secret" not in str(err.value)
    assert isinstance(err.value.__cause__, psycopg.OperationalError)


def test_a_closed_store_refuses_work(migrated_postgres_url):
    store = PostgresStore(migrated_postgres_url)
    assert store.count_readings() == 0
    store.close()
    with pytest.raises(StoreError, match="count_readings failed"):
        store.count_readings()


def test_the_pool_is_small_and_closed_by_close(migrated_postgres_url, postgres_server):
    def connections() -> int:
        name = migrated_postgres_url.rsplit("/", 1)[-1]
        return sql(postgres_server.url(), "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [name])[0][0]

    store = PostgresStore(migrated_postgres_url, max_size=2)
    threads = [threading.Thread(target=store.write_readings, args=([reading(T0 + i)],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert store.count_readings() == 8
    assert 1 <= connections() <= 2
    store.close()
    deadline = time.monotonic() + 10
    while connections() and time.monotonic() < deadline:  # a backend ends a moment after its client leaves
        time.sleep(0.05)
    assert connections() == 0


# -- gridtwin db migrate ----------------------------------------------------------------------
def test_db_migrate_on_postgresql(postgres_url, monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMANDS", ("db",))
    for name in list(os.environ):
        if name.startswith("GRIDTWIN_"):
            monkeypatch.delenv(name)
    assert cli.main(["db", "migrate", "--store", postgres_url]) == 0
    assert capsys.readouterr().out == "".join(f"applied {name}\n" for name in PG_ALL)
    assert cli.main(["db", "migrate", "--store", postgres_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"store": postgres_url, "applied": []}


# -- the fixture cluster -----------------------------------------------------------------------
def test_each_test_gets_a_fresh_database_with_postgis(postgres_url, postgres_server):
    assert postgres_url.startswith(f"postgresql://postgres@127.0.0.1:{postgres_server.port}/gt_")
    assert sql(postgres_url, "SELECT extname FROM pg_extension WHERE extname = 'postgis'") == [("postgis",)]
    tables = sql(postgres_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert tables == [("spatial_ref_sys",)]


def test_throwaway_cluster_stops_and_removes_itself():
    cluster = ThrowawayCluster(extensions=())
    with cluster:
        directory, port = cluster.dir, cluster.port
        url = cluster.create_database()
        assert sql(url, "SELECT current_setting('fsync'), current_setting('port')") == [("off", str(port))]
        assert directory.exists()
    assert not directory.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)


def test_the_server_dies_with_the_process_that_started_it(tmp_path):
    """A test run killed without teardown must not leave a server running."""
    script = (
        "import os, sys\n"
        "from gridtwin.pgcluster import ThrowawayCluster\n"
        "c = ThrowawayCluster(extensions=()).start()\n"
        "print(c.proc.pid, c.dir, flush=True)\n"
        "os._exit(0)\n"  # no teardown at all
    )
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=root,
                         env={**os.environ, "PYTHONPATH": str(root)})  # fmt: skip
    assert out.returncode == 0, out.stderr
    pid, directory = out.stdout.split()
    try:
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
