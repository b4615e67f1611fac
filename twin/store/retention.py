"""Retention of readings: raw readings kept `readings_days`, their hourly figures `hourly_days`.

A prune rolls the readings older than the cutoff up into `readings_hourly` (count, sum, min and
max per cell, metric and hour, added to what an earlier prune stored for the same hour) and
removes them, each step rolling up exactly the rows it removes even while the gateway writes, so
a history query (`TwinStore.aggregate`) counts every reading exactly once: raw while it is kept,
hourly after. SQLite goes in chunks of 100,000 readings, one transaction each. On PostgreSQL
with native partitions the day partitions that lie wholly before the cutoff are rolled up and
dropped rather than emptied row by row, one transaction each; with TimescaleDB, emptied chunks
are dropped with `drop_chunks`.

    report = prune(store, readings_days=90, hourly_days=1825, now=time.time())
    report = prune(store, readings_days=90, hourly_days=1825, now=time.time(), dry_run=True)  # counts only

The cutoff is the start of the hour `readings_days` before now; 0 days keeps everything.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from twin.errors import StoreError
from twin.store import codec
from twin.store.migrations import postgres as schema
from twin.store.sqlite import SqliteStore
from twin.times import rfc3339

__all__ = ["PruneReport", "prune", "cutoff", "backend_of"]

log = logging.getLogger(__name__)

HOUR_S = 3600
DAY_S = 86_400
_HOUR_US = HOUR_S * codec.US


@dataclass
class PruneReport:
    """What a prune removed (or, with dry_run, would remove)."""

    readings_cutoff: float | None  # epoch seconds; readings before it are rolled up and removed
    hourly_cutoff: float | None  # hourly figures of hours before it are removed
    readings_removed: int = 0
    hourly_written: int = 0  # hourly rows made or added to (an hour added to in two steps counts twice)
    hourly_removed: int = 0
    partitions_dropped: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def cutoff(now: float, days: float) -> float | None:
    """The start of the hour `days` before `now`; None when `days` is 0 (keep everything).

    >>> cutoff(1_764_403_200.0 + 5_000, 1)  # 2025-11-29 09:23:20 UTC: 2025-11-28 09:00 UTC
    1764320400.0
    >>> cutoff(1_764_403_200.0, 0) is None
    True
    """
    if not days:
        return None
    moment = now - days * DAY_S
    return float(moment - moment % HOUR_S)


def prune(store, *, readings_days: float, hourly_days: float, now: float, dry_run: bool = False) -> PruneReport:
    """Roll up and remove readings older than `readings_days`, and hourly figures older than
    `hourly_days` (0: keep). Returns what was (or would be) removed."""
    if readings_days < 0 or hourly_days < 0:
        raise StoreError("retention days must be 0 (keep everything) or more")
    if readings_days and hourly_days and hourly_days < readings_days:
        raise StoreError(f"hourly figures ({hourly_days} days) must be kept at least as long as raw readings "
                         f"({readings_days} days)")
    report = PruneReport(cutoff(now, readings_days), cutoff(now, hourly_days), dry_run=dry_run)
    backend = backend_of(store)
    if report.readings_cutoff is not None:
        backend.prune_readings(store, report)
    if report.hourly_cutoff is not None:
        with store.write_transaction("prune") as cur:
            backend.prune_hourly(cur, report)
    if not dry_run and (report.readings_removed or report.hourly_removed):
        log.info("store %s: pruned %d readings before %s into %d hourly rows (%d partitions dropped), "
                 "%d hourly rows before %s", codec.redact(store.url), report.readings_removed,
                 _when(report.readings_cutoff), report.hourly_written, len(report.partitions_dropped),
                 report.hourly_removed, _when(report.hourly_cutoff))
    backend.after(store, report)
    return report


def _when(ts: float | None) -> str:
    return rfc3339(ts) if ts is not None else "-"


def backend_of(store) -> "_Backend":
    """The SQL of retention for the store's backend (parameter marker, time of a cutoff, roll-up)."""
    if isinstance(store, SqliteStore):
        return _Sqlite()
    from twin.store.postgres import PostgresStore  # psycopg is loaded only for a PostgreSQL store

    if isinstance(store, PostgresStore):
        return _Postgres(store.readings_layout())
    raise StoreError(f"retention does not know the store {type(store).__name__}")


class _Backend:
    param = "?"
    hour_sql = ""
    least, greatest = "min", "max"

    def time_in(self, ts: float):
        raise NotImplementedError

    def rollup_sql(self, source: str = "readings", condition: str = "") -> str:
        """Add the readings of `source` (matching `condition`, default ts < the parameter) to the hourly figures."""
        condition = condition or f"ts < {self.param}"
        return (
            f"INSERT INTO readings_hourly (cell_code, metric, ts, count, sum, min, max)"
            f" SELECT cell_code, metric, {self.hour_sql} AS hour, count(*), sum(value), min(value), max(value)"
            f" FROM {source} WHERE {condition} AND cell_code IS NOT NULL GROUP BY cell_code, metric, hour"
            f" ON CONFLICT (cell_code, metric, ts) DO UPDATE SET count = readings_hourly.count + excluded.count,"
            f" sum = readings_hourly.sum + excluded.sum,"
            f" min = {self.least}(readings_hourly.min, excluded.min), max = {self.greatest}(readings_hourly.max, excluded.max)"
        )

    def count_hours_sql(self) -> str:
        return (f"SELECT count(*) FROM (SELECT 1 FROM readings WHERE ts < {self.param} AND cell_code IS NOT NULL"
                f" GROUP BY cell_code, metric, {self.hour_sql}) AS hours")

    def prune_readings(self, store, report: PruneReport) -> None:
        with store.write_transaction("prune") as cur:
            self._count_rollup_delete(cur, report)

    def _count_rollup_delete(self, cur, report: PruneReport) -> None:
        # SQLite: the transaction holds the write lock, so no reading comes in between the three.
        limit = self.time_in(report.readings_cutoff)
        report.readings_removed = cur.execute(f"SELECT count(*) FROM readings WHERE ts < {self.param}",
                                              [limit]).fetchone()[0]
        if not report.readings_removed:
            return
        if report.dry_run:
            report.hourly_written = cur.execute(self.count_hours_sql(), [limit]).fetchone()[0]
            return
        cur.execute(self.rollup_sql(), [limit])
        report.hourly_written = cur.rowcount
        cur.execute(f"DELETE FROM readings WHERE ts < {self.param}", [limit])

    def prune_hourly(self, cur, report: PruneReport) -> None:
        limit = self.time_in(report.hourly_cutoff)
        if report.dry_run:
            report.hourly_removed = cur.execute(f"SELECT count(*) FROM readings_hourly WHERE ts < {self.param}",
                                                [limit]).fetchone()[0]
        else:
            report.hourly_removed = cur.execute(f"DELETE FROM readings_hourly WHERE ts < {self.param}", [limit]).rowcount

    def after(self, store, report: PruneReport) -> None:
        pass


class _Sqlite(_Backend):
    param = "?"
    # Integer microseconds floored to the hour (% keeps the dividend's sign, hence the second %).
    hour_sql = f"(ts - ((ts % {_HOUR_US}) + {_HOUR_US}) % {_HOUR_US})"

    def time_in(self, ts: float) -> int:
        return codec.to_us(ts)

    def prune_readings(self, store, report: PruneReport) -> None:
        """In chunks of `CHUNK` readings, each rolled up and deleted in one transaction: the write
        lock is held for one chunk at a time, so the gateway's batches go in between."""
        if report.dry_run:
            super().prune_readings(store, report)
            return
        limit = self.time_in(report.readings_cutoff)
        while True:
            with store.write_transaction("prune") as cur:
                # Found in rowid order: old readings mostly went in first, so the scan ends early.
                cur.execute("CREATE TEMP TABLE IF NOT EXISTS prune_chunk "
                            "(rid INTEGER PRIMARY KEY, cell_code TEXT, metric TEXT, ts INTEGER, value REAL)")
                cur.execute("DELETE FROM prune_chunk")
                cur.execute("INSERT INTO prune_chunk SELECT rowid, cell_code, metric, ts, value FROM readings "
                            "WHERE ts < ? LIMIT ?", [limit, self.CHUNK])
                taken = cur.rowcount
                if taken:
                    cur.execute(self.rollup_sql("prune_chunk", "true"))
                    report.hourly_written += cur.rowcount
                    cur.execute("DELETE FROM readings WHERE rowid IN (SELECT rid FROM prune_chunk)")
                    report.readings_removed += taken
                cur.execute("DELETE FROM prune_chunk")
            if taken < self.CHUNK:
                return

    CHUNK = 100_000


class _Postgres(_Backend):
    param = "%s"
    hour_sql = "date_bin('1 hour', ts, 'epoch'::timestamptz)"
    least, greatest = "LEAST", "GREATEST"

    def __init__(self, layout: str):
        self.layout = layout

    def time_in(self, ts: float):
        from twin.store.postgres import pg_time  # psycopg is loaded only for a PostgreSQL store

        return pg_time(ts)

    def prune_readings(self, store, report: PruneReport) -> None:
        """Writers go on meanwhile, so each step rolls up exactly the rows it removes.

        Each expired day partition goes in a transaction of its own that first takes the
        advisory lock of partition creation, then a SHARE ROW EXCLUSIVE lock on `readings` (writes
        wait, reads go on), rolls the partition up and drops it: writers pause for one partition's
        roll-up, and taking the locks in the order writers take them leaves no deadlock. The rest
        goes in one statement that deletes readings and rolls up exactly what it deleted, under the
        same advisory lock, since partition creation moves rows out of the default partition."""
        with store.write_transaction("prune") as cur:
            if report.dry_run:
                self._count_rollup_delete(cur, report)
                report.partitions_dropped = self.expired_partitions(cur, report.readings_cutoff)
                return
            expired = self.expired_partitions(cur, report.readings_cutoff)
        for name in expired:
            with store.write_transaction("prune") as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [schema.PARTITION_LOCK])
                cur.execute("LOCK TABLE readings IN SHARE ROW EXCLUSIVE MODE")
                removed, hours = cur.execute(
                    f"WITH hourly AS ({self.rollup_sql(name, 'true')} RETURNING 1) "
                    f"SELECT (SELECT count(*) FROM {name}), (SELECT count(*) FROM hourly)").fetchone()
                cur.execute(f"DROP TABLE {name}")
            report.partitions_dropped.append(name)
            report.readings_removed += removed
            report.hourly_written += hours
        limit = self.time_in(report.readings_cutoff)
        with store.write_transaction("prune") as cur:
            # Creating a partition moves rows out of the default partition, then needs it exclusively:
            # deleting from it at the same time would deadlock, so wait for partition creation to end.
            cur.execute("SELECT pg_advisory_xact_lock(%s)", [schema.PARTITION_LOCK])
            removed, hours = cur.execute(
                f"WITH gone AS (DELETE FROM readings WHERE ts < %s RETURNING cell_code, metric, ts, value), "
                f"hourly AS ({self.rollup_sql('gone', 'true')} RETURNING 1) "
                f"SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM hourly)", [limit]).fetchone()
            report.readings_removed += removed
            report.hourly_written += hours
            if self.layout == schema.HYPERTABLE:
                cur.execute("SELECT drop_chunks('readings', older_than => %s)", [limit])  # emptied above
                report.partitions_dropped += [str(row[0]) for row in cur.fetchall()]

    def expired_partitions(self, cur, before: float) -> list[str]:
        if self.layout != schema.PARTITIONED:
            return []
        last_day = int(before // DAY_S)  # partitions of days before this one end at or before the cutoff
        cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'readings'::regclass")
        return sorted(name for (name,) in cur.fetchall()
                      if (day := schema.partition_day(name)) is not None and day < last_day)

    def after(self, store, report: PruneReport) -> None:
        if report.partitions_dropped and not report.dry_run and self.layout == schema.PARTITIONED:
            store.forget_partitions({schema.partition_day(name) for name in report.partitions_dropped})
