"""Backup and restore of a store with N readings (`gridtwin db backup|restore`), on SQLite and on
PostgreSQL, each next to a baseline measured in the same run on the same data.

    python -m bench backup [--rows 1000000] [--repeat 3] [--backend sqlite,postgres] [--json]

Baselines:
- SQLite: a plain copy of the database file (after a WAL checkpoint), for both directions: the
  least any backup or restore of the file must do.
- PostgreSQL: backup beside `COPY readings TO STDOUT (FORMAT BINARY)` read to the end (reading
  the rows once); restore beside a binary COPY of those bytes into an unpartitioned table with
  readings' key and indexes (writing and indexing the rows once).
Retention is measured on a restored copy: `prune` with every reading past its days (rolled up
into hourly figures and removed; on PostgreSQL their day partitions dropped), beside a plain
`DELETE FROM readings WHERE ts < cutoff` on another restored copy.
Figures are medians of `--repeat` runs; PostgreSQL runs on a throwaway cluster.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit, median
from bench.store import T0, make_readings

BATCH = 20_000


def _fill(store, rows: int) -> None:
    store.migrate()
    readings = make_readings(rows)
    for i in range(0, rows, BATCH):
        store.write_readings(readings[i:i + BATCH])


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_sqlite(rows: int, repeat: int, directory: Path) -> dict:
    from twin.store import open_store
    from twin.store.backup import backup, restore

    source = directory / "source.db"
    with open_store(f"sqlite:///{source}") as store:
        _fill(store, rows)
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    times: dict[str, list[float]] = {"backup": [], "restore": [], "copy_file": [], "prune": [], "delete": []}
    for k in range(repeat):
        target = directory / f"restored-{k}.db"
        times["copy_file"].append(_timed(lambda: shutil.copyfile(source, directory / "copy.db")))
        times["backup"].append(_timed(lambda: backup(f"sqlite:///{source}", directory / "twin.backup")))
        times["restore"].append(_timed(lambda: restore(f"sqlite:///{target}", directory / "twin.backup")))
        times["prune"].append(_prune(f"sqlite:///{target}"))
        restore(f"sqlite:///{target}", directory / "twin.backup", force=True)
        times["delete"].append(_delete(f"sqlite:///{target}"))
        target.unlink()
    return _figures("sqlite", rows, times, (directory / "twin.backup").stat().st_size)


def bench_postgres(rows: int, repeat: int, directory: Path) -> dict:
    import psycopg

    from gridtwin.pgcluster import ThrowawayCluster
    from twin.store.backup import backup, restore
    from twin.store.postgres import PostgresStore

    times: dict[str, list[float]] = {"backup": [], "restore": [], "copy_out": [], "copy_in": [], "prune": [],
                                     "delete": []}
    with ThrowawayCluster() as cluster:
        source = cluster.create_database("bench_source")
        with PostgresStore(source) as store:
            _fill(store, rows)
        dump = directory / "twin.pgdump"
        for k in range(repeat):
            data = bytearray()

            def copy_out() -> None:
                with psycopg.connect(source) as conn, conn.cursor() as cur:
                    with cur.copy("COPY (SELECT * FROM readings) TO STDOUT (FORMAT BINARY)") as copy:
                        for chunk in copy:
                            data.extend(chunk)

            def copy_in() -> None:
                with psycopg.connect(source) as conn, conn.cursor() as cur:
                    cur.execute("CREATE TEMP TABLE readings_copy (LIKE readings INCLUDING ALL)")
                    with cur.copy("COPY readings_copy FROM STDIN (FORMAT BINARY)") as copy:
                        copy.write(bytes(data))

            times["copy_out"].append(_timed(copy_out))
            times["copy_in"].append(_timed(copy_in))
            times["backup"].append(_timed(lambda: backup(source, dump)))
            target = cluster.create_database(f"bench_restore_{k}")
            times["restore"].append(_timed(lambda: restore(target, dump)))
            times["prune"].append(_prune(target))
            restore(target, dump, force=True)
            times["delete"].append(_delete(target))
            cluster.drop_database(target)
        size = dump.stat().st_size
    return _figures("postgres", rows, times, size)


def _prune(url: str) -> float:
    """Seconds of a prune that rolls up and removes every reading (they are from 2025-11-29)."""
    from twin.store import open_store
    from twin.store.retention import prune

    with open_store(url) as store:
        return _timed(lambda: prune(store, readings_days=1, hourly_days=0, now=T0 + 30 * 86_400))


def _delete(url: str) -> float:
    """Seconds of deleting the same readings row by row, as a prune without roll-up or partitions would."""
    from twin.store import open_store
    from twin.store.retention import backend_of, cutoff

    with open_store(url) as store, store.write_transaction("bench delete") as cur:
        backend = backend_of(store)
        limit = backend.time_in(cutoff(T0 + 30 * 86_400, 1))
        return _timed(lambda: cur.execute(f"DELETE FROM readings WHERE ts < {backend.param}", [limit]))


def _figures(backend: str, rows: int, times: dict[str, list[float]], size: int) -> dict:
    figures = {name: round(median(values), 3) for name, values in times.items()}
    baseline_backup, baseline_restore = (("copy_file", "copy_file") if backend == "sqlite"
                                         else ("copy_out", "copy_in"))
    return {"backend": backend, "rows": rows, "bytes": size, "runs": len(times["backup"]), **figures,
            "backup_vs_baseline": round(figures["backup"] / figures[baseline_backup], 2),
            "restore_vs_baseline": round(figures["restore"] / figures[baseline_restore], 2),
            "prune_vs_delete": round(figures["prune"] / figures["delete"], 2)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench backup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", default="sqlite,postgres")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results, lines = [], []
    with tempfile.TemporaryDirectory(prefix="gridtwin-bench-backup-") as tmp:
        for backend in args.backend.split(","):
            run = {"sqlite": bench_sqlite, "postgres": bench_postgres}[backend.strip()]
            r = run(args.rows, args.repeat, Path(tmp))
            results.append(r)
            if backend.strip() == "sqlite":
                lines.append(f"sqlite   {r['rows']:>9} readings, {r['bytes'] / 1e6:7.1f} MB: backup {r['backup']:6.2f} s, "
                             f"restore {r['restore']:6.2f} s; file copy {r['copy_file']:6.2f} s "
                             f"(backup {r['backup_vs_baseline']}x, restore {r['restore_vs_baseline']}x)")
                lines.append(f"         prune of every reading {r['prune']:6.2f} s; DELETE ... WHERE ts < cutoff {r['delete']:6.2f} s "
                             f"({r['prune_vs_delete']}x)")
            else:
                lines.append(f"postgres {r['rows']:>9} readings, {r['bytes'] / 1e6:7.1f} MB: backup {r['backup']:6.2f} s, "
                             f"restore {r['restore']:6.2f} s; COPY out {r['copy_out']:6.2f} s, COPY in (indexed) "
                             f"{r['copy_in']:6.2f} s (backup {r['backup_vs_baseline']}x, restore {r['restore_vs_baseline']}x)")
                lines.append(f"         prune of every reading {r['prune']:6.2f} s; DELETE ... WHERE ts < cutoff {r['delete']:6.2f} s "
                             f"({r['prune_vs_delete']}x)")
    lines.append(f"medians of {args.repeat} runs")
    emit({"results": results}, args.json, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
