"""What the SQLite store does beyond the contract: WAL sharing between processes, URLs,
in-memory stores, error translation, and `gridtwin db migrate`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import gridtwin.cli as cli
from twin.devices.device import DeviceKind
from twin.errors import StoreError
from twin.sensing.readings import Reading
from twin.store import open_store
from twin.store.migrations.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from twin.store.sqlite import SqliteStore, sqlite_path

ALL = [m.name for m in SQLITE_MIGRATIONS]  # every migration, in order
APPLIED = "".join(f"applied {name}\n" for name in ALL)

T0 = 1_764_403_200.0
ROOT = Path(__file__).resolve().parents[3]


def readings(n: int, device: str = "aq-0001", start: float = T0) -> list[Reading]:
    return [Reading(device, "pm25", start + i * 0.001, float(i), "410204001001001") for i in range(n)]


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'twin.db'}"


@pytest.mark.parametrize(
    "url, path",
    [
        ("sqlite:///gridtwin.db", "gridtwin.db"),  # three slashes: relative to the working directory
        ("sqlite:///var/twin.db", "var/twin.db"),
        ("sqlite:////srv/gt/twin.db", "/srv/gt/twin.db"),  # four slashes: absolute
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
    ],
)
def test_sqlite_path(url, path):
    assert sqlite_path(url) == path


def test_a_url_with_two_slashes_is_refused():
    with pytest.raises(StoreError, match="three slashes"):
        sqlite_path("sqlite://twin.db")


def test_wal_mode_and_a_second_process_sees_the_writes(url):
    with open_store(url) as store:
        store.migrate()
        assert store.write_readings(readings(100)) == 100
        with sqlite3.connect(sqlite_path(url)) as other:
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # a property of the file
        # Another process (the web app) opens the file while the gateway's store stays open.
        script = (
            "import sys, json\n"
            "from twin.store import open_store\n"
            "from twin.devices import Device, DeviceKind\n"
            "with open_store(sys.argv[1]) as s:\n"
            "    rows = s.readings(device_id='aq-0001')\n"
            "    s.put_devices([Device('from-child', DeviceKind.SENSOR, 34.79, 114.35)])\n"
            "    print(json.dumps([s.count_readings(), rows[-1].value, rows[-1].ts]))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", script, url], capture_output=True, text=True, cwd=ROOT, timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == [100, 99.0, T0 + 0.099]
        # ... and its writes reach this process.
        assert store.get_device("from-child").kind is DeviceKind.SENSOR


def test_two_stores_on_one_file_write_concurrently(url):
    """Two connections (as two processes would have) wait for each other instead of failing."""
    with open_store(url) as first, open_store(url) as second:
        first.migrate()
        errors = []

        def write(store, device):
            try:
                for batch in range(30):
                    store.write_readings(readings(50, device, T0 + batch))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(s, d)) for s, d in ((first, "a"), (second, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert first.count_readings() == second.count_readings() == 2 * 30 * 50


def test_memory_store_works_from_threads():
    with open_store("sqlite:///:memory:") as store:
        assert store.migrate() == ALL and ALL[0] == "0001_initial"
        threads = [threading.Thread(target=store.write_readings, args=(readings(200, f"d{i}"),)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert store.count_readings() == 800
    with open_store("sqlite:///:memory:") as other:  # a new, empty database
        other.migrate()
        assert other.count_readings() == 0


def test_device_lookups_do_not_wait_behind_a_write_transaction(url):
    """The gateway looks up devices it does not know on its live path; a long write of the
    previous batch must not hold it up."""
    from twin.devices.device import Device

    with open_store(url) as store:
        store.migrate()
        store.put_devices([Device("aq-1", DeviceKind.SENSOR, 34.79, 114.34)])
        writing, release = threading.Event(), threading.Event()

        def long_write():
            with store._transaction("a long write") as cur:
                cur.execute("UPDATE devices SET name = 'renamed' WHERE id = 'aq-1'")
                writing.set()
                release.wait(10)

        writer = threading.Thread(target=long_write)
        writer.start()
        try:
            assert writing.wait(5)
            found = []
            lookup = threading.Thread(target=lambda: found.extend(store.get_devices(["aq-1", "aq-2"])))
            lookup.start()
            lookup.join(5)
            assert not lookup.is_alive(), "the lookup waited for the write transaction"
            assert [(d.id, d.name) for d in found] == [("aq-1", "")]  # the committed row, not the write in flight
        finally:
            release.set()
            writer.join(10)
        assert [d.name for d in store.get_devices(["aq-1"])] == ["renamed"]


def test_parent_directories_are_created(tmp_path):
    with SqliteStore(f"sqlite:///{tmp_path}/var/lib/twin.db") as store:
        store.migrate()
    assert (tmp_path / "var" / "lib" / "twin.db").exists()


def test_driver_errors_become_store_errors_naming_the_operation(tmp_path):
    garbage = tmp_path / "not-a-db.db"
    garbage.write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(StoreError, match="opening the store failed") as err:
        SqliteStore(f"sqlite:///{garbage}").migrate()
    assert isinstance(err.value.__cause__, sqlite3.DatabaseError)

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="opening the store failed") as err:
        SqliteStore(f"sqlite:///{blocker}/twin.db")  # a file where a directory should be
    assert isinstance(err.value.__cause__, OSError)


def test_rollback_leaves_nothing_behind(url):
    """A batch that fails half-way stores none of its rows."""
    with open_store(url) as store:
        store.migrate()
        bad = readings(10) + [Reading("aq-0001", "pm25", T0 + 99, None, None)]  # value NOT NULL
        with pytest.raises(StoreError, match="write_readings failed"):
            store.write_readings(bad)
        assert store.count_readings() == 0
        assert store.write_readings(readings(10)) == 10


# -- gridtwin db migrate ------------------------------------------------------------
@pytest.fixture
def run(monkeypatch, capsys):
    monkeypatch.setattr(cli, "COMMANDS", ("db",))
    for name in list(os.environ):
        if name.startswith("GRIDTWIN_"):
            monkeypatch.delenv(name)

    def run(*argv: str) -> tuple[int, str, str]:
        status = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_db_migrate_prints_applied_migrations_then_up_to_date(run, url):
    assert run("db", "migrate", "--store", url) == (0, APPLIED, "")
    status, out, _ = run("db", "migrate", "--store", url)
    assert (status, out) == (0, f"{url} is up to date\n")
    status, out, _ = run("db", "migrate", "--store", url, "--json")
    assert status == 0 and json.loads(out.splitlines()[-1]) == {"store": url, "applied": []}


def test_db_migrate_reads_the_store_from_config_and_environment(run, tmp_path, monkeypatch):
    config = tmp_path / "gridtwin.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/from-config.db"\n')
    assert run("db", "migrate", "--config", config)[0] == 0
    assert (tmp_path / "from-config.db").exists()
    monkeypatch.setenv("GRIDTWIN_STORE_URL", f"sqlite:///{tmp_path}/from-env.db")
    assert run("db", "migrate", "--config", config)[1] == APPLIED
    assert (tmp_path / "from-env.db").exists()


def test_db_migrate_reports_a_bad_store_url(run):
    status, out, err = run("db", "migrate", "--store", "mysql://nope")
    assert status == 2 and out == "" and "not supported" in err
