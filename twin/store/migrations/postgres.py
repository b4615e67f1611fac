"""PostgreSQL + PostGIS schema, and the two layouts of the readings table.

With TimescaleDB, readings are a hypertable (one-day chunks, compression and retention
policies, `time_bucket`). Without it, readings are range-partitioned by UTC day: the store
creates a day's partition before writing rows of that day (`partition_statements`), and a
default partition catches anything else. The layout chosen at migration time is recorded
in `store_meta` under `readings_layout`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from twin.store.migrations import Migration

log = logging.getLogger(__name__)

HYPERTABLE = "hypertable"
PARTITIONED = "partitioned"

# pg_advisory_xact_lock keys: one for migrations, one for creating partitions, one for
# appending to the audit log (one writer at a time keeps the hash chain and the commit order).
MIGRATION_LOCK = 0x67726964_0001
PARTITION_LOCK = 0x67726964_0002
AUDIT_LOCK = 0x67726964_0003

SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
)

READINGS_COLUMNS_DDL = """
        device_id text NOT NULL,
        metric text NOT NULL,
        ts timestamptz NOT NULL,
        value double precision NOT NULL,
        cell_code text,
        seq bigint,
        lat double precision,
        lon double precision,
        ts_estimated boolean NOT NULL DEFAULT false,
        -- The idempotency key; ts is in it so it holds across partitions and chunks, and
        -- its (device_id, ts) prefix serves per-device time ranges.
        CONSTRAINT readings_key PRIMARY KEY (device_id, ts, metric)"""


@dataclass(frozen=True, slots=True)
class Context:
    """What the migrations of one database depend on."""

    timescaledb: bool
    compress_after_days: int = 7
    retention_days: int | None = 730


CORE = (
    "CREATE EXTENSION IF NOT EXISTS postgis",
    "CREATE TABLE store_meta (key text PRIMARY KEY, value text NOT NULL)",
    """CREATE TABLE grid_meta (
        id int PRIMARY KEY CHECK (id = 1),
        meta jsonb NOT NULL
    )""",
    """CREATE TABLE cells (
        code text PRIMARY KEY,
        name text NOT NULL,
        district_name text NOT NULL DEFAULT '',
        street_name text NOT NULL DEFAULT '',
        community_name text NOT NULL DEFAULT '',
        worker text,
        attributes jsonb NOT NULL DEFAULT '{}',
        geometry geometry(Geometry, 4326) NOT NULL
            CHECK (GeometryType(geometry) IN ('POLYGON', 'MULTIPOLYGON'))
    )""",
    "CREATE INDEX cells_geometry ON cells USING gist (geometry)",
    """CREATE TABLE devices (
        id text PRIMARY KEY,
        kind text NOT NULL,
        lat double precision,
        lon double precision,
        model text NOT NULL DEFAULT '',
        metrics jsonb NOT NULL DEFAULT '[]',
        mobile boolean NOT NULL DEFAULT false,
        cell_code text,
        status text NOT NULL,
        name text NOT NULL DEFAULT '',
        registered_at timestamptz NOT NULL,
        last_seen timestamptz,
        attributes jsonb NOT NULL DEFAULT '{}',
        location geometry(Point, 4326) GENERATED ALWAYS AS (
            CASE WHEN lon IS NOT NULL AND lat IS NOT NULL THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326) END
        ) STORED
    )""",
    "CREATE INDEX devices_cell ON devices (cell_code)",
    "CREATE INDEX devices_location ON devices USING gist (location)",
    """CREATE TABLE camera_events (
        camera_id text NOT NULL,
        event_id text NOT NULL,
        state text NOT NULL,
        ts timestamptz NOT NULL,
        type text NOT NULL,
        confidence double precision NOT NULL,
        cell_code text,
        zone text,
        lat double precision,
        lon double precision,
        snapshot_url text,
        PRIMARY KEY (camera_id, event_id, state)
    )""",
    "CREATE INDEX camera_events_cell_ts ON camera_events (cell_code, ts)",
    "CREATE INDEX camera_events_ts ON camera_events (ts)",
    """CREATE TABLE cell_states (
        code text PRIMARY KEY,
        level text NOT NULL,
        metric_values jsonb NOT NULL DEFAULT '{}',
        updated_at timestamptz,
        open_anomalies int NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE anomalies (
        id text NOT NULL,
        status text NOT NULL,
        type text NOT NULL,
        severity text NOT NULL,
        cell_code text NOT NULL,
        device_id text NOT NULL,
        detector text NOT NULL,
        ts timestamptz NOT NULL,
        explanation text NOT NULL,
        metric text,
        value double precision,
        threshold double precision,
        lat double precision,
        lon double precision,
        details jsonb NOT NULL DEFAULT '{}',
        PRIMARY KEY (id, status)
    )""",
    "CREATE INDEX anomalies_cell_ts ON anomalies (cell_code, ts)",
    "CREATE INDEX anomalies_ts ON anomalies (ts)",
    """CREATE TABLE dead_letters (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        reason text NOT NULL,
        topic text NOT NULL,
        payload bytea NOT NULL,
        received_at timestamptz NOT NULL,
        device_id text,
        detail text NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX dead_letters_device_reason ON dead_letters (device_id, reason)",
)


def readings_statements(ctx: Context) -> list[str]:
    """The readings table in the layout the database supports."""
    if ctx.timescaledb:
        return hypertable_statements(ctx)
    return [
        f"CREATE TABLE readings ({READINGS_COLUMNS_DDL}\n) PARTITION BY RANGE (ts)",
        "CREATE INDEX readings_cell_metric_ts ON readings (cell_code, metric, ts)",
        "CREATE TABLE readings_default PARTITION OF readings DEFAULT",
        f"INSERT INTO store_meta (key, value) VALUES ('readings_layout', '{PARTITIONED}')",
    ]


def hypertable_statements(ctx: Context) -> list[str]:
    statements = [
        f"CREATE TABLE readings ({READINGS_COLUMNS_DDL}\n)",
        "CREATE INDEX readings_cell_metric_ts ON readings (cell_code, metric, ts)",
        # The primary key already indexes ts; skip TimescaleDB's extra (ts DESC) index.
        "SELECT create_hypertable('readings', 'ts', chunk_time_interval => INTERVAL '1 day', "
        "create_default_indexes => false)",
        "ALTER TABLE readings SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'device_id, metric', timescaledb.compress_orderby = 'ts')",
        f"SELECT add_compression_policy('readings', INTERVAL '{int(ctx.compress_after_days)} days')",
    ]
    if ctx.retention_days is not None:
        statements.append(f"SELECT add_retention_policy('readings', INTERVAL '{int(ctx.retention_days)} days')")
    statements.append(f"INSERT INTO store_meta (key, value) VALUES ('readings_layout', '{HYPERTABLE}')")
    return statements


# Cases, their audit log (append-only: a trigger refuses changes), the people who work them
# and the relay cursors. Cases are numbered per UTC day (C-20261129-0001).
CASES = (
    """CREATE TABLE cases (
        id text PRIMARY KEY,
        day text NOT NULL,
        number int NOT NULL,
        type text NOT NULL,
        severity text NOT NULL,
        cell_code text NOT NULL,
        status text NOT NULL,
        level text NOT NULL,
        assignee text,
        responsible text,
        source text NOT NULL,
        reporter text NOT NULL,
        title text NOT NULL DEFAULT '',
        description text NOT NULL DEFAULT '',
        lat double precision,
        lon double precision,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        last_anomaly_at timestamptz,
        anomaly_count int NOT NULL DEFAULT 0,
        filed_at timestamptz,
        dispatched_at timestamptz,
        accepted_at timestamptz,
        handled_at timestamptz,
        closed_at timestamptz,
        evaluated_at timestamptz,
        cancelled_at timestamptz,
        cancel_reason text,
        accept_due timestamptz,
        handle_due timestamptz,
        due_at timestamptz,
        escalate_at timestamptz,
        escalations int NOT NULL DEFAULT 0,
        late boolean NOT NULL DEFAULT false,
        satisfaction int CHECK (satisfaction BETWEEN 1 AND 5),
        feedback text NOT NULL DEFAULT '',
        photo_url text,
        version int NOT NULL,
        UNIQUE (day, number)
    )""",
    "CREATE INDEX cases_merge ON cases (cell_code, type, status)",
    "CREATE INDEX cases_status ON cases (status, created_at)",
    "CREATE INDEX cases_assignee ON cases (assignee, status)",
    "CREATE INDEX cases_escalate_at ON cases (escalate_at) WHERE escalate_at IS NOT NULL",
    "CREATE INDEX cases_created_at ON cases (created_at)",
    """CREATE TABLE case_anomalies (
        anomaly_id text PRIMARY KEY,
        case_id text NOT NULL REFERENCES cases (id),
        ts timestamptz NOT NULL
    )""",
    "CREATE INDEX case_anomalies_case ON case_anomalies (case_id)",
    # details and snapshot are text, not jsonb: the hash chain covers their exact bytes.
    """CREATE TABLE audit_log (
        seq bigint PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        subject text NOT NULL,
        subject_id text NOT NULL,
        from_status text,
        to_status text,
        note text NOT NULL DEFAULT '',
        details text NOT NULL,
        snapshot text NOT NULL,
        hash text NOT NULL
    )""",
    "CREATE INDEX audit_log_subject ON audit_log (subject, subject_id, seq)",
    "CREATE INDEX audit_log_at ON audit_log (at)",
    """CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TABLE users (
        name text PRIMARY KEY,
        role text NOT NULL,
        password_hash text,
        display_name text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL,
        disabled boolean NOT NULL DEFAULT false
    )""",
    """CREATE TABLE credentials (
        digest text PRIMARY KEY,
        kind text NOT NULL,
        user_name text NOT NULL REFERENCES users (name),
        created_at timestamptz NOT NULL,
        expires_at timestamptz,
        label text NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX credentials_user ON credentials (user_name, kind)",
    "CREATE TABLE audit_cursors (name text PRIMARY KEY, seq bigint NOT NULL)",
)

# Incident or device-health alert (twin.sensing.anomalies); rows written before it were all incidents.
ANOMALY_CATEGORY = (
    "ALTER TABLE anomalies ADD COLUMN category text NOT NULL DEFAULT 'incident'",
)

# MQTT accounts (twin/devices/mqttaccounts.py), what the gateway hears of each device
# (twin/devices/health.py), field reports and the reporters' ledger (twin/cases/reports.py).
FIELD = (
    """CREATE TABLE mqtt_accounts (
        username text PRIMARY KEY,
        kind text NOT NULL,
        subject text NOT NULL,
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz,
        applied_at timestamptz,
        expires_at timestamptz
    )""",
    "CREATE INDEX mqtt_accounts_subject ON mqtt_accounts (subject)",
    """CREATE TABLE device_vitals (
        device_id text PRIMARY KEY,
        last_message_at timestamptz NOT NULL,
        battery double precision,
        rssi double precision,
        snr double precision,
        linkquality double precision,
        clock_skew_s double precision,
        messages bigint NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE device_traffic (
        device_id text NOT NULL,
        hour bigint NOT NULL,
        messages bigint NOT NULL,
        PRIMARY KEY (device_id, hour)
    )""",
    """CREATE TABLE reports (
        id text PRIMARY KEY,
        reporter_id text NOT NULL,
        type text NOT NULL,
        lat double precision NOT NULL,
        lon double precision NOT NULL,
        cell_code text NOT NULL,
        received_at timestamptz NOT NULL,
        channel text NOT NULL,
        note text NOT NULL DEFAULT '',
        photo_url text,
        client_ref text,
        ts timestamptz,
        case_id text,
        UNIQUE (reporter_id, client_ref)
    )""",
    "CREATE INDEX reports_case ON reports (case_id)",
    "CREATE INDEX reports_received ON reports (received_at)",
    """CREATE TABLE reporter_ledger (
        report_id text PRIMARY KEY REFERENCES reports (id),
        reporter_id text NOT NULL,
        district text NOT NULL,
        cell_code text NOT NULL,
        points int NOT NULL,
        at timestamptz NOT NULL
    )""",
    "CREATE INDEX reporter_ledger_district ON reporter_ledger (district, reporter_id)",
)

# Hourly figures per cell and metric of readings that retention removed (twin/store/retention.py):
# history queries add them to the raw readings still kept. `ts` is the hour's start.
READINGS_HOURLY = (
    """CREATE TABLE readings_hourly (
        cell_code text NOT NULL,
        metric text NOT NULL,
        ts timestamptz NOT NULL,
        count bigint NOT NULL,
        sum double precision NOT NULL,
        min double precision NOT NULL,
        max double precision NOT NULL,
        PRIMARY KEY (cell_code, metric, ts)
    )""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_core", CORE),
    Migration("0002_readings", readings_statements),
    Migration("0003_cases", CASES),
    Migration("0004_anomaly_category", ANOMALY_CATEGORY),
    Migration("0005_field", FIELD),
    Migration("0006_readings_hourly", READINGS_HOURLY),
)


# -- TimescaleDB ----------------------------------------------------------------
def timescaledb_state(cur) -> str:
    """'installed', 'available' (can be created) or 'absent', from the server catalogs."""
    cur.execute(
        "SELECT (SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'),"
        " (SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb')"
    )
    installed, available = cur.fetchone()
    if installed:
        return "installed"
    return "available" if available else "absent"


def enable_timescaledb(cur) -> bool:
    """Whether readings can be a hypertable, creating the extension when it is available.

    The extension can be packaged but not preloaded (shared_preload_libraries); then
    CREATE EXTENSION fails and the native layout is used. Runs inside a transaction.
    """
    state = timescaledb_state(cur)
    if state == "installed":
        return True
    if state == "absent":
        return False
    import psycopg

    try:
        with cur.connection.transaction():  # a savepoint: a failure leaves the migration intact
            cur.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        return True
    except psycopg.Error as exc:
        log.warning("TimescaleDB is packaged but cannot be enabled (%s); readings use native partitioning", exc)
        return False


# -- native partitions ------------------------------------------------------------
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
DAY_US = 86_400_000_000


def partition_name(day: int) -> str:
    """Name of the partition of `day` (days since the Unix epoch, UTC).

    >>> partition_name(20421)
    'readings_p20251129'
    """
    return "readings_p" + (EPOCH + dt.timedelta(days=day)).strftime("%Y%m%d")


def partition_day(name: str) -> int | None:
    """Inverse of partition_name; None for other tables (the default partition).

    >>> partition_day('readings_p20251129')
    20421
    >>> partition_day('readings_default') is None
    True
    """
    if not name.startswith("readings_p") or len(name) != 18:
        return None
    try:
        date = dt.datetime.strptime(name[10:], "%Y%m%d").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    return (date - EPOCH).days


def partition_statements(day: int) -> list[str]:
    """Create the partition of `day`, moving into it any rows the default partition holds
    for that day (ATTACH refuses while the default partition has rows in the range)."""
    name = partition_name(day)
    low = (EPOCH + dt.timedelta(days=day)).isoformat()
    high = (EPOCH + dt.timedelta(days=day + 1)).isoformat()
    return [
        f"CREATE TABLE {name} (LIKE readings INCLUDING DEFAULTS)",
        f"WITH moved AS (DELETE FROM readings_default WHERE ts >= '{low}' AND ts < '{high}' RETURNING *) "
        f"INSERT INTO {name} SELECT * FROM moved",
        f"ALTER TABLE readings ATTACH PARTITION {name} FOR VALUES FROM ('{low}') TO ('{high}')",
    ]


def bucket_expression(layout: str) -> str:
    """SQL of a reading's bucket start, epoch-aligned; the width is the one parameter."""
    if layout == HYPERTABLE:
        return "time_bucket(%s, ts, origin => 'epoch'::timestamptz)"
    return "date_bin(%s, ts, 'epoch'::timestamptz)"
