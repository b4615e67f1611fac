"""Retention on both backends: raw readings older than the cutoff are rolled up into hourly
figures and removed (PostgreSQL: whole day partitions dropped), recent readings are untouched,
and the history the web app shows (`aggregate`, GET /api/cells/{code}/series) is the same
before and after; `gridtwin db prune --dry-run` counts and changes nothing."""

from __future__ import annotations

import json
import random

import httpx
import pytest

import gridtwin.cli as cli
from maps.app import create_app
from tests.gateway.conftest import DEVICES, small_grid
from tests.twin.store.test_contract import store  # noqa: F401 - the two-backend fixture
from twin.config import ConfigError, Settings, StoreSettings
from twin.people.accounts import create_user, issue_token
from twin.sensing.readings import Reading
from twin.store.retention import _Sqlite, cutoff, prune

DAY, HOUR = 86_400.0, 3_600.0
NOW = 1_795_939_200.0 + 7 * HOUR + 1234.5  # 2026-11-29T07:20:34.5Z
A, D = "410204001001001", "410204001001004"


def ten_days(store) -> list[Reading]:
    """Readings of two devices every 7.5 minutes over the last ten days, values at random."""
    rng = random.Random(7)
    rows = []
    for device, cell in (("aq-1", A), ("aq-2", D)):
        t = NOW - 10 * DAY
        while t < NOW:
            rows.append(Reading(device, "pm25", t, round(rng.uniform(5, 150), 3), cell))
            t += 450.0
    store.put_grid(small_grid())
    store.put_devices(DEVICES)
    store.write_readings(rows)
    return rows


def figures(store, bucket: float) -> list[tuple]:
    return [(b.start, b.count, round(b.mean, 6), b.min, b.max)
            for cell in (A, D) for b in store.aggregate(cell, "pm25", NOW - 11 * DAY, NOW + HOUR, bucket)]


def test_old_readings_roll_up_and_go_recent_ones_stay(store, monkeypatch):
    monkeypatch.setattr(_Sqlite, "CHUNK", 1000)  # SQLite prunes in chunks: several here
    rows = ten_days(store)
    limit = cutoff(NOW, 3)
    hourly_before, daily_before = figures(store, HOUR), figures(store, DAY)
    recent = [r for r in rows if r.ts >= limit]

    dry = prune(store, readings_days=3, hourly_days=30, now=NOW, dry_run=True)
    assert dry.readings_removed == len(rows) - len(recent) and dry.hourly_written > 0
    assert store.count_readings() == len(rows)  # a dry run changes nothing

    report = prune(store, readings_days=3, hourly_days=30, now=NOW)
    assert report.readings_removed == dry.readings_removed and report.hourly_written >= dry.hourly_written
    hours = [b for cell in (A, D) for b in store.aggregate(cell, "pm25", NOW - 11 * DAY, limit, HOUR)]
    assert len(hours) == dry.hourly_written  # one hourly row per cell and hour
    assert report.readings_cutoff == limit and limit % HOUR == 0
    assert store.count_readings() == len(recent)
    assert store.readings(end=limit, limit=10) == []
    assert store.readings(start=limit, limit=100_000) == sorted(recent, key=lambda r: (r.ts, r.device_id))
    # The history, hour by hour and day by day, is what it was.
    assert figures(store, HOUR) == hourly_before
    assert figures(store, DAY) == daily_before

    # A second run finds nothing more; expired hourly figures go with a shorter hourly retention.
    assert prune(store, readings_days=3, hourly_days=30, now=NOW).readings_removed == 0
    short = prune(store, readings_days=3, hourly_days=5, now=NOW)
    assert short.hourly_removed == 2 * 5 * 24 + (2 if NOW % HOUR else 0) - 2  # two cells, days 10..5 ago
    assert all(start >= cutoff(NOW, 5) for start, *_ in figures(store, HOUR))


def test_postgres_drops_whole_expired_day_partitions(migrated_postgres_url):
    from twin.store.postgres import PostgresStore

    with PostgresStore(migrated_postgres_url) as pg:
        ten_days(pg)
        partitions = lambda: {n for (n,) in pg._fetch("partitions", (  # noqa: E731
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'readings'::regclass AND c.relname <> 'readings_default'", []))}
        before = partitions()
        dry = prune(pg, readings_days=3, hourly_days=0, now=NOW, dry_run=True)
        assert partitions() == before and len(dry.partitions_dropped) == 7  # days 10..4 ago end before the cutoff
        report = prune(pg, readings_days=3, hourly_days=0, now=NOW)
        assert report.partitions_dropped == dry.partitions_dropped
        assert partitions() == before - set(report.partitions_dropped)
        # A late reading for a dropped day is stored again (its partition made anew), and counted.
        late = Reading("aq-1", "pm25", NOW - 8 * DAY + 1.0, 42.0, A)
        assert pg.write_readings([late]) == 1
        assert pg.readings(device_id="aq-1", end=NOW - 7 * DAY) == [late]


async def test_the_web_apps_series_answers_from_hourly_figures(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    settings = Settings().replace(store={"url": url})
    from twin.store import open_store

    store = open_store(url)
    store.migrate()
    ten_days(store)
    create_user(store, "viewer-1", "viewer", now=NOW, actor="test")
    token = issue_token(store, "viewer-1", now=NOW, actor="test")
    app = create_app(settings, store=store, grid=small_grid())
    # Whole hours: an hour's figures are counted when the hour starts within from..to.
    query = {"metric": "pm25", "from": cutoff(NOW, 9), "to": NOW, "bucket": "1h"}
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gridtwin.test",
                headers={"Authorization": f"Bearer {token}"}) as client:
            before = (await client.get(f"/api/cells/{A}/series", params=query)).json()
            prune(store, readings_days=2, hourly_days=0, now=NOW)
            after = (await client.get(f"/api/cells/{A}/series", params=query)).json()
    finally:
        store.close()
    assert len(before["points"]) >= 9 * 24 and [(p["ts"], p["count"], p["min"], p["max"]) for p in after["points"]] == [
        (p["ts"], p["count"], p["min"], p["max"]) for p in before["points"]]
    assert [p["mean"] for p in after["points"]] == pytest.approx([p["mean"] for p in before["points"]])


def test_gridtwin_db_prune_reads_the_store_section(tmp_path, monkeypatch, capsys):
    from twin.store import open_store

    url = f"sqlite:///{tmp_path}/twin.db"
    with open_store(url) as s:
        s.migrate()
        s.put_grid(small_grid())
        s.put_devices(DEVICES)
        s.write_readings([Reading("aq-1", "pm25", 1_000_000.0 + i * 60, 10.0, A) for i in range(100)])  # 1970
    config = tmp_path / "gridtwin.toml"
    config.write_text(f'[store]\nurl = "{url}"\nreadings_days = 30\nhourly_days = 400\n')
    monkeypatch.delenv("GRIDTWIN_STORE_URL", raising=False)
    assert cli.main(["db", "prune", "--config", str(config), "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert dry["dry_run"] and dry["readings_removed"] == 100 and dry["hourly_written"] == 3  # hours 277..279 after the epoch
    assert cli.main(["db", "prune", "--config", str(config)]) == 0
    assert "removed 100 readings, rolled up into 3 hourly rows; removed 3 hourly rows" in capsys.readouterr().out
    with open_store(url) as s:
        assert s.count_readings() == 0
    assert cli.main(["db", "prune", "--config", str(config), "--hourly-days", "10"]) == 2
    assert "hourly figures (10.0 days) must be kept at least as long as raw readings" in capsys.readouterr().err


@pytest.mark.parametrize("values, message", [
    ({"readings_days": -1}, "0 \\(keep everything\\) or more"),  # negative
    ({"readings_days": 30, "hourly_days": 7}, "must be at least store.readings_days"),  # hourly outlived by raw
    ({"prune_interval_s": 0}, "prune_interval_s must be positive"),
])
def test_retention_settings_are_checked(values, message):
    with pytest.raises(ConfigError, match=message):
        StoreSettings(**values)


def test_every_reading_is_counted_once_while_writers_go_on(store, monkeypatch):
    """Batches of readings spread over the last ten days (late ones among them) are written while
    prunes run: afterwards the raw readings kept and the hourly counts add up to every reading
    written, none lost and none counted twice."""
    import threading

    from twin.errors import StoreError

    ten_days(store)
    written, stop, rng = [store.count_readings()], threading.Event(), random.Random(3)
    monkeypatch.setattr(_Sqlite, "CHUNK", 500)  # writes go in between the chunks of a SQLite prune

    def writer():
        n = 0
        while not stop.is_set():
            batch = [Reading("aq-2", "pm25", NOW - rng.uniform(0, 10 * DAY), 1.0, D, seq=n * 100 + i)
                     for i in range(100)]
            n += 1
            for _attempt in range(20):  # a batch that meets a prune's lock or deadlock is written again
                try:
                    written[0] += store.write_readings(batch)
                    break
                except StoreError:
                    continue

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for k in range(6):
            prune(store, readings_days=3 + (k % 3), hourly_days=0, now=NOW)
    finally:
        stop.set()
        thread.join()
    prune(store, readings_days=3, hourly_days=0, now=NOW)
    hourly = sum(b.count for cell in (A, D) for b in store.aggregate(cell, "pm25", NOW - 11 * DAY, cutoff(NOW, 3), DAY))
    assert store.readings(end=cutoff(NOW, 3), limit=10) == []
    assert hourly + store.count_readings() == written[0]
