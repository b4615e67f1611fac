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

# Cases, their audit log (append-only: triggers refuse changes), the people who work them
# and the relay cursors. Cases are numbered per UTC day (C-20261129-0001).
CASES = (
    """CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        day TEXT NOT NULL,
        number INTEGER NOT NULL,
        type TEXT NOT NULL,
        severity TEXT NOT NULL,
        cell_code TEXT NOT NULL,
        status TEXT NOT NULL,
        level TEXT NOT NULL,
        assignee TEXT,
        responsible TEXT,
        source TEXT NOT NULL,
        reporter TEXT NOT NULL,
        title TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        lat REAL,
        lon REAL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_anomaly_at INTEGER,
        anomaly_count INTEGER NOT NULL DEFAULT 0,
        filed_at INTEGER,
        dispatched_at INTEGER,
        accepted_at INTEGER,
        handled_at INTEGER,
        closed_at INTEGER,
        evaluated_at INTEGER,
        cancelled_at INTEGER,
        cancel_reason TEXT,
        accept_due INTEGER,
        handle_due INTEGER,
        due_at INTEGER,
        escalate_at INTEGER,
        escalations INTEGER NOT NULL DEFAULT 0,
        late INTEGER NOT NULL DEFAULT 0,
        satisfaction INTEGER CHECK (satisfaction BETWEEN 1 AND 5),
        feedback TEXT NOT NULL DEFAULT '',
        photo_url TEXT,
        version INTEGER NOT NULL,
        UNIQUE (day, number)
    )""",
    "CREATE INDEX cases_merge ON cases (cell_code, type, status)",
    "CREATE INDEX cases_status ON cases (status, created_at)",
    "CREATE INDEX cases_assignee ON cases (assignee, status)",
    "CREATE INDEX cases_escalate_at ON cases (escalate_at) WHERE escalate_at IS NOT NULL",
    "CREATE INDEX cases_created_at ON cases (created_at)",
    """CREATE TABLE case_anomalies (
        anomaly_id TEXT PRIMARY KEY,
        case_id TEXT NOT NULL REFERENCES cases (id),
        ts INTEGER NOT NULL
    )""",
    "CREATE INDEX case_anomalies_case ON case_anomalies (case_id)",
    """CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        from_status TEXT,
        to_status TEXT,
        note TEXT NOT NULL DEFAULT '',
        details TEXT NOT NULL,
        snapshot TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX audit_log_subject ON audit_log (subject, subject_id, seq)",
    "CREATE INDEX audit_log_at ON audit_log (at)",
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TABLE users (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        password_hash TEXT,
        display_name TEXT NOT NULL DEFAULT '',
        created_at INTEGER NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE credentials (
        digest TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        user_name TEXT NOT NULL REFERENCES users (name),
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        label TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX credentials_user ON credentials (user_name, kind)",
    "CREATE TABLE audit_cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
)

# Incident or device-health alert (twin.sensing.anomalies); rows written before it were all incidents.
ANOMALY_CATEGORY = (
    "ALTER TABLE anomalies ADD COLUMN category TEXT NOT NULL DEFAULT 'incident'",
)

# MQTT accounts (twin/devices/mqttaccounts.py), what the gateway hears of each device
# (twin/devices/health.py), field reports and the reporters' ledger (twin/cases/reports.py).
FIELD = (
    """CREATE TABLE mqtt_accounts (
        username TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER,
        applied_at INTEGER,
        expires_at INTEGER
    )""",
    "CREATE INDEX mqtt_accounts_subject ON mqtt_accounts (subject)",
    """CREATE TABLE device_vitals (
        device_id TEXT PRIMARY KEY,
        last_message_at INTEGER NOT NULL,
        battery REAL,
        rssi REAL,
        snr REAL,
        linkquality REAL,
        clock_skew_s REAL,
        messages INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE device_traffic (
        device_id TEXT NOT NULL,
        hour INTEGER NOT NULL,
        messages INTEGER NOT NULL,
        PRIMARY KEY (device_id, hour)
    )""",
    """CREATE TABLE reports (
        id TEXT PRIMARY KEY,
        reporter_id TEXT NOT NULL,
        type TEXT NOT NULL,
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        cell_code TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        channel TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        photo_url TEXT,
        client_ref TEXT,
        ts INTEGER,
        case_id TEXT,
        UNIQUE (reporter_id, client_ref)
    )""",
    "CREATE INDEX reports_case ON reports (case_id)",
    "CREATE INDEX reports_received ON reports (received_at)",
    """CREATE TABLE reporter_ledger (
        report_id TEXT PRIMARY KEY REFERENCES reports (id),
        reporter_id TEXT NOT NULL,
        district TEXT NOT NULL,
        cell_code TEXT NOT NULL,
        points INTEGER NOT NULL,
        at INTEGER NOT NULL
    )""",
    "CREATE INDEX reporter_ledger_district ON reporter_ledger (district, reporter_id)",
)

# Hourly figures per cell and metric of readings that retention removed (twin/store/retention.py):
# history queries add them to the raw readings still kept. `ts` is the hour's start.
READINGS_HOURLY = (
    """CREATE TABLE readings_hourly (
        cell_code TEXT NOT NULL,
        metric TEXT NOT NULL,
        ts INTEGER NOT NULL,
        count INTEGER NOT NULL,
        sum REAL NOT NULL,
        min REAL NOT NULL,
        max REAL NOT NULL,
        PRIMARY KEY (cell_code, metric, ts)
    )""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_initial", INITIAL),
    Migration("0002_cases", CASES),
    Migration("0003_anomaly_category", ANOMALY_CATEGORY),
    Migration("0004_field", FIELD),
    Migration("0005_readings_hourly", READINGS_HOURLY),
)
