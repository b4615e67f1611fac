"""Write throughput of the twin store: `write_readings` of N readings on SQLite and on
PostgreSQL, next to a raw binary COPY of the same rows in the same run.

    python -m bench.store_write [--rows 100000] [--repeat 3] [--json]

PostgreSQL runs on a throwaway cluster (twin.store.pgcluster). Baselines, measured on the
same rows already converted to tuples (so they exclude the store's own Python work):
- `copy_plain`: binary COPY into a table of the same columns without any index or key;
- `copy_indexed`: binary COPY into an unpartitioned table with the same key and indexes
  as `readings`: the work the database must do to index the rows anyway.
SQLite's baselines are the same two tables filled by a bare `executemany` INSERT.
Each run uses a fresh database; the best of `--repeat` runs is reported.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from twin.readings import Reading


def make_readings(n: int, *, seed: int = 1, t0: float = 1_764_403_200.0) -> list[Reading]:
    """n readings of 500 devices, 3 metrics each, every 0.5 s, microsecond timestamps."""
    rng = random.Random(seed)
    return [
        Reading(
            device_id=f"aq-{i % 500:04d}",
            metric=("pm25", "noise_db", "pm10")[i % 3],
            ts=round((t0 + (i // 1500) * 0.5 + (i % 500) * 1e-4) * 1e6) / 1e6,
            value=rng.uniform(0, 200),
            cell_code=f"410204001001{(i % 500) // 10:03d}",
            seq=i // 3,
            lat=34.79 + rng.random() * 0.02,
            lon=114.33 + rng.random() * 0.04,
        )
        for i in range(n)
    ]


def best(runs: list[float]) -> float:
    return min(runs)


def bench_sqlite(readings: list[Reading], repeat: int) -> dict:
    import sqlite3

    from twin.store import _codec as codec
    from twin.store.sqlite import SqliteStore

    rows = [(r.device_id, r.metric, codec.to_us(r.ts), r.value, r.cell_code, r.seq, r.lat, r.lon, r.ts_estimated) for r in readings]
    columns = """device_id TEXT NOT NULL, metric TEXT NOT NULL, ts INTEGER NOT NULL, value REAL NOT NULL,
        cell_code TEXT, seq INTEGER, lat REAL, lon REAL, ts_estimated INTEGER NOT NULL DEFAULT 0"""
    times: dict[str, list[float]] = {"fresh": [], "duplicates": [], "plain": [], "indexed": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            # Baselines: the same rows, prebuilt, by executemany on a bare connection with the store's pragmas.
            for table in ("plain", "indexed"):
                conn = sqlite3.connect(Path(tmp) / f"{table}.db", isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA cache_size=-65536")
                conn.execute(f"CREATE TABLE readings ({columns})")
                if table == "indexed":
                    conn.execute("CREATE UNIQUE INDEX readings_key ON readings (device_id, ts, metric)")
                    conn.execute("CREATE INDEX readings_cell ON readings (cell_code, metric, ts)")
                started = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
                times[table].append(time.perf_counter() - started)
                conn.close()
            with SqliteStore(f"sqlite:///{Path(tmp) / 'bench.db'}") as store:
                store.migrate()
                started = time.perf_counter()
                assert store.write_readings(readings) == len(readings)
                times["fresh"].append(time.perf_counter() - started)
                started = time.perf_counter()
                assert store.write_readings(readings) == 0
                times["duplicates"].append(time.perf_counter() - started)
    n = len(readings)
    out = {
        "sqlite_rows_per_s": n / best(times["fresh"]),
        "sqlite_duplicates_rows_per_s": n / best(times["duplicates"]),
        "sqlite_baseline_insert_plain_rows_per_s": n / best(times["plain"]),
        "sqlite_baseline_insert_indexed_rows_per_s": n / best(times["indexed"]),
    }
    out["sqlite_vs_insert_indexed"] = out["sqlite_rows_per_s"] / out["sqlite_baseline_insert_indexed_rows_per_s"]
    return out


def bench_postgres(readings: list[Reading], repeat: int) -> dict:
    import psycopg

    from twin.store import _codec as codec
    from twin.store.pgcluster import ThrowawayCluster
    from twin.store.postgres import PG_EPOCH_US, PostgresStore, _copy_readings

    rows = [
        (r.device_id, r.metric, codec.to_us(r.ts) - PG_EPOCH_US, r.value, r.cell_code, r.seq, r.lat, r.lon, r.ts_estimated)
        for r in readings
    ]
    columns = """device_id text NOT NULL, metric text NOT NULL, ts timestamptz NOT NULL, value float8 NOT NULL,
        cell_code text, seq bigint, lat float8, lon float8, ts_estimated boolean NOT NULL DEFAULT false"""
    times: dict[str, list[float]] = {"fresh": [], "duplicates": [], "copy_plain": [], "copy_indexed": []}
    warmup = Reading("warmup", "pm25", readings[0].ts, 0.0, None)  # creates the day partition, as in a running gateway
    with ThrowawayCluster() as cluster:
        for _ in range(repeat):
            url = cluster.create_database()
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"CREATE TABLE copy_plain ({columns})")
                    conn.execute(f"CREATE TABLE copy_indexed ({columns}, PRIMARY KEY (device_id, ts, metric))")
                    conn.execute("CREATE INDEX ON copy_indexed (cell_code, metric, ts)")
                    for table in ("copy_plain", "copy_indexed"):
                        started = time.perf_counter()
                        with conn.transaction():
                            _copy_readings(conn, table, rows)
                        times[table].append(time.perf_counter() - started)
                with PostgresStore(url) as store:
                    store.migrate()
                    store.write_readings([warmup])
                    started = time.perf_counter()
                    assert store.write_readings(readings) == len(readings)
                    times["fresh"].append(time.perf_counter() - started)
                    started = time.perf_counter()
                    assert store.write_readings(readings) == 0
                    times["duplicates"].append(time.perf_counter() - started)
            finally:
                cluster.drop_database(url)
    n = len(readings)
    out = {
        "postgres_rows_per_s": n / best(times["fresh"]),
        "postgres_duplicates_rows_per_s": n / best(times["duplicates"]),
        "postgres_baseline_copy_plain_rows_per_s": n / best(times["copy_plain"]),
        "postgres_baseline_copy_indexed_rows_per_s": n / best(times["copy_indexed"]),
    }
    out["postgres_vs_copy_indexed"] = out["postgres_rows_per_s"] / out["postgres_baseline_copy_indexed_rows_per_s"]
    out["postgres_vs_copy_plain"] = out["postgres_rows_per_s"] / out["postgres_baseline_copy_plain_rows_per_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.store_write", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("all", "sqlite", "postgres"), default="all")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args(argv)
    readings = make_readings(args.rows)
    result: dict = {"rows": args.rows, "repeat": args.repeat}
    if args.backend in ("all", "sqlite"):
        result.update(bench_sqlite(readings, args.repeat))
    if args.backend in ("all", "postgres"):
        result.update(bench_postgres(readings, args.repeat))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:40s} {value:12,.2f}" if isinstance(value, float) else f"{key:40s} {value:12,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
