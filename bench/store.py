"""The twin store: its write path beside a raw COPY of the same rows, and the history queries.

    python -m bench store [--rows 100000] [--repeat 3] [--days 30] [--backend all|sqlite|postgres] [--json]

Writes. `write_readings` of N readings (500 devices, 3 metrics) into a freshly migrated store,
beside, on PostgreSQL (a throwaway cluster, gridtwin.pgcluster):
- `psql_copy`: the same rows as CSV, `\\copy readings (...) FROM file` through `psql` into the
  same freshly migrated `readings` table (same partition, key and indexes): the raw COPY;
- `psql_copy_plain`: the same into a table of the same columns without any key or index.
On SQLite the baseline is a bare `executemany` INSERT of the prebuilt rows into a table with
the same key and indexes, with the store's pragmas. The best of `--repeat` runs is reported
(each on a fresh database); the psql times include starting psql (a few milliseconds).

Queries. A district of 100 cells and 200 devices reporting two metrics every 10 minutes for
`--days` days (about 1.7 million rows at 30 days), written through `write_readings`; then,
median of `--queries` runs each:
- `cell_day`: one cell's readings of one metric over one day (`GET /api/cells/{code}/series`
  without `bucket`: `store.readings`);
- `cell_hourly`: one cell's hourly aggregates over the whole span (the same route with
  `bucket=1h`: `store.aggregate`);
- `district_hourly`: the district's hourly aggregates of one metric over the whole span, as
  SQL on the store's connection (the web app has no district series route; this is the
  query one would run).
Each store call is shown beside its bare SQL on a bare connection (the baseline).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from bench.common import emit
from twin.sensing.readings import Reading

METRICS = ("pm25", "noise_db")
DISTRICT = "410204"
QUERY_CELLS = 100
QUERY_DEVICES = 200
QUERY_INTERVAL_S = 600
T0 = 1_764_403_200.0  # 2025-11-29 08:00 UTC


def make_readings(n: int, *, seed: int = 1, t0: float = T0) -> list[Reading]:
    """n readings of 500 devices, 3 metrics each, every 0.5 s, microsecond timestamps."""
    rng = random.Random(seed)
    return [
        Reading(
            device_id=f"aq-{i % 500:04d}",
            metric=("pm25", "noise_db", "pm10")[i % 3],
            ts=round((t0 + (i // 1500) * 0.5 + (i % 500) * 1e-4) * 1e6) / 1e6,
            value=rng.uniform(0, 200),
            cell_code=f"{DISTRICT}001001{(i % 500) // 10:03d}",
            seq=i // 3,
            lat=34.79 + rng.random() * 0.02,
            lon=114.33 + rng.random() * 0.04,
        )
        for i in range(n)
    ]


def history_readings(days: float, *, seed: int = 2, end: float = T0):
    """Chunks of the query data set: QUERY_DEVICES devices in QUERY_CELLS cells, both METRICS every
    QUERY_INTERVAL_S seconds for `days` days before `end`."""
    rng = random.Random(seed)
    steps = int(days * 86_400 / QUERY_INTERVAL_S)
    start = end - steps * QUERY_INTERVAL_S
    chunk: list[Reading] = []
    for step in range(steps):
        ts = start + step * QUERY_INTERVAL_S
        for d in range(QUERY_DEVICES):
            cell = cell_code(d % QUERY_CELLS)
            for metric in METRICS:
                chunk.append(Reading(f"hist-{d:04d}", metric, ts + d * 0.01, rng.uniform(5, 150), cell, step))
        if len(chunk) >= 50_000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def cell_code(i: int) -> str:
    return f"{DISTRICT}{1 + i // 50:03d}{1 + i % 50 // 10:03d}{1 + i % 10:03d}"


def best(runs: list[float]) -> float:
    return min(runs)


def median_ms(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 2), out


# -- SQLite ------------------------------------------------------------------------------------
def sqlite_writes(readings: list[Reading], repeat: int) -> dict:
    import sqlite3

    from twin.store import codec
    from twin.store.sqlite import SqliteStore

    rows = [(r.device_id, r.metric, codec.to_us(r.ts), r.value, r.cell_code, r.seq, r.lat, r.lon, r.ts_estimated) for r in readings]
    columns = """device_id TEXT NOT NULL, metric TEXT NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,
        cell_code TEXT, seq INTEGER, lat REAL, lon REAL, ts_estimated INTEGER NOT NULL DEFAULT 0"""
    times: dict[str, list[float]] = {"ours": [], "duplicates": [], "insert": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            conn = sqlite3.connect(Path(tmp) / "bare.db", isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-65536"):
                conn.execute(f"PRAGMA {pragma}")
            conn.execute(f"CREATE TABLE readings ({columns})")
            conn.execute("CREATE UNIQUE INDEX readings_key ON readings (device_id, ts, metric)")
            conn.execute("CREATE INDEX readings_cell ON readings (cell_code, metric, ts)")
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
            times["insert"].append(time.perf_counter() - started)
            conn.close()
            with SqliteStore(f"sqlite:///{Path(tmp) / 'bench.db'}") as store:
                store.migrate()
                started = time.perf_counter()
                assert store.write_readings(readings) == len(readings)
                times["ours"].append(time.perf_counter() - started)
                started = time.perf_counter()
                assert store.write_readings(readings) == 0
                times["duplicates"].append(time.perf_counter() - started)
    n = len(readings)
    out = {"rows_per_s": round(n / best(times["ours"])), "duplicates_rows_per_s": round(n / best(times["duplicates"])),
           "baseline_insert_rows_per_s": round(n / best(times["insert"]))}
    out["ratio"] = round(out["rows_per_s"] / out["baseline_insert_rows_per_s"], 3)
    return out


def sqlite_queries(days: float, runs: int) -> dict:
    import sqlite3

    from twin.store.sqlite import SqliteStore

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.db"
        with SqliteStore(f"sqlite:///{path}") as store:
            store.migrate()
            rows = sum(store.write_readings(chunk) for chunk in history_readings(days))
            bare = sqlite3.connect(path)
            us = lambda t: round(t * 1e6)  # noqa: E731
            width = 3_600_000_000
            day_sql = ("SELECT device_id, metric, ts, value FROM readings WHERE cell_code = ? AND metric = ? "
                       "AND ts >= ? AND ts < ? ORDER BY ts, device_id, metric LIMIT ?")
            agg_sql = (f"SELECT (ts - ts % {width}) AS bucket, count(*), avg(value), min(value), max(value) "
                       "FROM readings WHERE {where} AND metric = ? AND ts >= ? AND ts < ? GROUP BY bucket ORDER BY bucket")
            return _queries(store, days, runs, rows,
                            bare_day=lambda c, m, s, e: bare.execute(day_sql, (c, m, us(s), us(e), 10_001)).fetchall(),
                            bare_cell=lambda c, m, s, e: bare.execute(agg_sql.format(where="cell_code = ?"),
                                                                      (c, m, us(s), us(e))).fetchall(),
                            district=lambda m, s, e: bare.execute(
                                agg_sql.format(where="cell_code >= ? AND cell_code < ?"),
                                (DISTRICT, str(int(DISTRICT) + 1), m, us(s), us(e))).fetchall())


# -- PostgreSQL --------------------------------------------------------------------------------
def _psql(url: str, command: str) -> None:
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", command], check=True,
                   stdout=subprocess.DEVNULL)


def _csv(readings: list[Reading], path: Path) -> None:
    utc = dt.timezone.utc
    with open(path, "w") as f:
        for r in readings:
            ts = dt.datetime.fromtimestamp(r.ts, utc).isoformat()
            f.write(f"{r.device_id},{r.metric},{ts},{r.value!r},{r.cell_code},{r.seq},{r.lat!r},{r.lon!r},"
                    f"{'t' if r.ts_estimated else 'f'}\n")


def postgres_writes(readings: list[Reading], repeat: int, cluster) -> dict:
    from twin.store import codec
    from twin.store.postgres import PostgresStore

    columns = ", ".join(codec.READING_COLUMNS)
    warmup = Reading("warmup", "pm25", readings[0].ts, 0.0, None)  # creates the day partition, as in a running gateway
    times: dict[str, list[float]] = {"ours": [], "duplicates": [], "psql_copy": [], "psql_copy_plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "readings.csv"
        _csv(readings, csv)
        os.chmod(tmp, 0o755)
        for _ in range(repeat):
            for target in ("ours", "psql_copy"):
                url = cluster.create_database()
                try:
                    with PostgresStore(url) as store:
                        store.migrate()
                        store.write_readings([warmup])
                        if target == "ours":
                            started = time.perf_counter()
                            assert store.write_readings(readings) == len(readings)
                            times["ours"].append(time.perf_counter() - started)
                            started = time.perf_counter()
                            assert store.write_readings(readings) == 0
                            times["duplicates"].append(time.perf_counter() - started)
                            continue
                    _psql(url, "CREATE TABLE plain (LIKE readings INCLUDING DEFAULTS)")
                    for table in ("readings", "plain"):
                        started = time.perf_counter()
                        _psql(url, f"\\copy {table} ({columns}) FROM '{csv}' WITH (FORMAT csv)")
                        times["psql_copy" if table == "readings" else "psql_copy_plain"].append(time.perf_counter() - started)
                finally:
                    cluster.drop_database(url)
    n = len(readings)
    out = {"rows_per_s": round(n / best(times["ours"])), "duplicates_rows_per_s": round(n / best(times["duplicates"])),
           "baseline_psql_copy_rows_per_s": round(n / best(times["psql_copy"])),
           "baseline_psql_copy_plain_rows_per_s": round(n / best(times["psql_copy_plain"]))}
    out["ratio"] = round(out["rows_per_s"] / out["baseline_psql_copy_rows_per_s"], 3)
    return out


def postgres_queries(days: float, runs: int, cluster) -> dict:
    import psycopg

    from twin.store.postgres import PostgresStore

    url = cluster.create_database()
    try:
        with PostgresStore(url) as store, psycopg.connect(url, autocommit=True) as bare:
            store.migrate()
            rows = sum(store.write_readings(chunk) for chunk in history_readings(days))
            bare.execute("ANALYZE readings")
            t = lambda s: dt.datetime.fromtimestamp(s, dt.timezone.utc)  # noqa: E731
            hour = dt.timedelta(hours=1)
            day_sql = ("SELECT device_id, metric, ts, value FROM readings WHERE cell_code = %s AND metric = %s "
                       "AND ts >= %s AND ts < %s ORDER BY ts, device_id, metric LIMIT %s")
            agg_sql = ("SELECT date_bin(%s, ts, 'epoch'::timestamptz) AS bucket, count(*), avg(value), min(value), "
                       "max(value) FROM readings WHERE {where} AND metric = %s AND ts >= %s AND ts < %s "
                       "GROUP BY bucket ORDER BY bucket")
            return _queries(store, days, runs, rows,
                            bare_day=lambda c, m, s, e: bare.execute(day_sql, (c, m, t(s), t(e), 10_001)).fetchall(),
                            bare_cell=lambda c, m, s, e: bare.execute(agg_sql.format(where="cell_code = %s"),
                                                                      (hour, c, m, t(s), t(e))).fetchall(),
                            district=lambda m, s, e: bare.execute(
                                agg_sql.format(where="cell_code >= %s AND cell_code < %s"),
                                (hour, DISTRICT, str(int(DISTRICT) + 1), m, t(s), t(e))).fetchall())
    finally:
        cluster.drop_database(url)


def _queries(store, days: float, runs: int, rows: int, *, bare_day, bare_cell, district) -> dict:
    cell, metric = cell_code(7), METRICS[0]
    end = T0
    start = end - days * 86_400
    day = max(start, end - 86_400)
    out: dict = {"rows": rows, "days": days}
    out["cell_day_ms"], got = median_ms(lambda: store.readings(cell_code=cell, metric=metric, start=day, end=end,
                                                                limit=10_001), runs)
    out["cell_day_rows"] = len(got)
    out["cell_day_bare_sql_ms"], _ = median_ms(lambda: bare_day(cell, metric, day, end), runs)
    out["cell_hourly_ms"], got = median_ms(lambda: store.aggregate(cell, metric, start, end, 3600), runs)
    out["cell_hourly_buckets"] = len(got)
    out["cell_hourly_bare_sql_ms"], _ = median_ms(lambda: bare_cell(cell, metric, start, end), runs)
    out["district_hourly_ms"], got = median_ms(lambda: district(metric, start, end), runs)
    out["district_hourly_buckets"] = len(got)
    return out


def measure(rows: int, repeat: int, days: float, queries: int, backends: tuple[str, ...], cluster=None) -> dict:
    from gridtwin.pgcluster import ThrowawayCluster

    readings = make_readings(rows)
    result: dict = {"benchmark": "store", "rows": rows, "repeat": repeat}
    if "sqlite" in backends:
        result["sqlite"] = {"write": sqlite_writes(readings, repeat), "queries": sqlite_queries(days, queries)}
    if "postgres" in backends:
        with nullcontext(cluster) if cluster is not None else ThrowawayCluster() as pg:
            result["postgres"] = {"write": postgres_writes(readings, repeat, pg), "queries": postgres_queries(days, queries, pg)}
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench store", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000, help="readings written per run (default 100000)")
    p.add_argument("--repeat", type=int, default=3, help="write runs, the best reported (default 3)")
    p.add_argument("--days", type=float, default=30.0, help="days of history for the queries (default 30)")
    p.add_argument("--queries", type=int, default=9, help="runs of each query, the median reported (default 9)")
    p.add_argument("--backend", choices=("all", "sqlite", "postgres"), default="all")
    p.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = p.parse_args(argv)
    backends = ("sqlite", "postgres") if args.backend == "all" else (args.backend,)
    r = measure(args.rows, args.repeat, args.days, args.queries, backends)
    lines = [f"store: write_readings of {r['rows']:,} readings, best of {r['repeat']}; history queries, medians"]
    for name in backends:
        w, q = r[name]["write"], r[name]["queries"]
        base = (f"psql COPY into the same table {w['baseline_psql_copy_rows_per_s']:,}/s (into a bare table "
                f"{w['baseline_psql_copy_plain_rows_per_s']:,}/s)") if name == "postgres" else \
            f"bare executemany with the same indexes {w['baseline_insert_rows_per_s']:,}/s"
        lines += [f"  {name}: write {w['rows_per_s']:,} rows/s, {base}: ratio {w['ratio']}; "
                  f"repeated rows {w['duplicates_rows_per_s']:,}/s",
                  f"  {name}: {q['rows']:,} rows over {q['days']:g} days: cell day {q['cell_day_ms']} ms "
                  f"({q['cell_day_rows']} rows; bare SQL {q['cell_day_bare_sql_ms']} ms), cell hourly "
                  f"{q['cell_hourly_ms']} ms ({q['cell_hourly_buckets']} buckets; bare SQL {q['cell_hourly_bare_sql_ms']} "
                  f"ms), district hourly {q['district_hourly_ms']} ms ({q['district_hourly_buckets']} buckets)"]
    emit(r, args.json, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
