"""SQLite schema. Times are INTEGER microseconds since the Unix epoch (UTC); JSON is TEXT;
cell geometry is WKB in a BLOB. Column names match the PostgreSQL schema so that the
shared queries in twin/store/_sql.py run on both."""

from __future__ import annotations

from twin.store.migrations import Migration

SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
)

INITIAL = (
    """CREATE TABLE grid_meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        meta TEXT NOT NULL
    )""",
    """CREATE TABLE cells (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        district_name TEXT NOT NULL DEFAULT '',
        street_name TEXT NOT NULL DEFAULT '',
        community_name TEXT NOT NULL DEFAULT '',
        worker TEXT,
        attributes TEXT NOT NULL DEFAULT '{}',
        geometry BLOB NOT NULL
    )""",
    """CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        lat REAL,
        lon REAL,
        model TEXT NOT NULL DEFAULT '',
        metrics TEXT NOT NULL DEFAULT '[]',
        mobile INTEGER NOT NULL DEFAULT 0,
        cell_code TEXT,
        status TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        registered_at INTEGER NOT NULL,
        last_seen INTEGER,
        attributes TEXT NOT NULL DEFAULT '{}'
    )""",
    "CREATE INDEX devices_cell ON devices (cell_code)",
    # The unique index (device_id, ts, metric) is the idempotency key and also serves
    # per-device time ranges, so no separate (device_id, ts) index is needed.
    """CREATE TABLE readings (
        device_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        ts INTEGER NOT NULL,
        value REAL NOT NULL,
        cell_code TEXT,
        seq INTEGER,
        lat REAL,
        lon REAL,
        ts_estimated INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE UNIQUE INDEX readings_key ON readings (device_id, ts, metric)",
    "CREATE INDEX readings_cell_metric_ts ON readings (cell_code, metric, ts)",
    """CREATE TABLE camera_events (
        camera_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        state TEXT NOT NULL,
        ts INTEGER NOT NULL,
        type TEXT NOT NULL,
        confidence REAL NOT NULL,
        cell_code TEXT,
        zone TEXT,
        lat REAL,
        lon REAL,
        snapshot_url TEXT,
        PRIMARY KEY (camera_id, event_id, state)
    )""",
    "CREATE INDEX camera_events_cell_ts ON camera_events (cell_code, ts)",
    "CREATE INDEX camera_events_ts ON camera_events (ts)",
    """CREATE TABLE cell_states (
        code TEXT PRIMARY KEY,
        level TEXT NOT NULL,
        metric_values TEXT NOT NULL DEFAULT '{}',
        updated_at INTEGER,
        open_anomalies INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE anomalies (
        id TEXT NOT NULL,
        status TEXT NOT NULL,
        type TEXT NOT NULL,
        severity TEXT NOT NULL,
        cell_code TEXT NOT NULL,
        device_id TEXT NOT NULL,
        detector TEXT NOT NULL,
        ts INTEGER NOT NULL,
        explanation TEXT NOT NULL,
        metric TEXT,
        value REAL,
        threshold REAL,
        lat REAL,
        lon REAL,
        details TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (id, status)
    )""",
    "CREATE INDEX anomalies_cell_ts ON anomalies (cell_code, ts)",
    "CREATE INDEX anomalies_ts ON anomalies (ts)",
    """CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        reason TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload BLOB NOT NULL,
        received_at INTEGER NOT NULL,
        device_id TEXT,
        detail TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX dead_letters_device_reason ON dead_letters (device_id, reason)",
)

MIGRATIONS: tuple[Migration, ...] = (Migration("0001_initial", INITIAL),)
