"""Backup and restore of a whole store on both backends, through `gridtwin db backup|restore`:
readings, cases with their audit rows, users, devices and the migrations come back identical,
the audit chain verifies on the restored store, a store with data is not overwritten unless
forced, and a damaged or foreign file is refused with a message."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

import gridtwin.cli as cli
from tests.gateway.conftest import DEVICES, small_grid
from tests.twin.store.test_contract_cases import moved, reported
from twin.cases.workflow import Action
from twin.people import accounts
from twin.sensing.readings import Reading
from twin.store import open_store
from twin.store.backup import store_tables_with_rows

T0 = 1_795_939_200.0  # 2026-11-29T08:00:00Z
A = "410204001001001"


@pytest.fixture
def run(monkeypatch, capsys):
    """`gridtwin ARGS...` in-process: (exit status, stdout, stderr)."""
    for name in list(__import__("os").environ):
        if name.startswith("GRIDTWIN_"):
            monkeypatch.delenv(name)

    def run(*argv) -> tuple[int, str, str]:
        status = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture(params=["sqlite", "postgres"])
def urls(request, tmp_path):
    """(source URL, empty target URL, backup file) of one backend; the source migrated, the target
    not even that (PostgreSQL: a new database with PostGIS only)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/source.db", f"sqlite:///{tmp_path}/restored/twin.db", tmp_path / "twin.backup"
        return
    server = request.getfixturevalue("postgres_server")
    source = request.getfixturevalue("migrated_postgres_url")
    target = server.create_database()
    yield source, target, tmp_path / "twin.pgdump"
    server.drop_database(target)


def populate(url: str, readings: int = 3000) -> None:
    with open_store(url) as store:
        store.migrate()
        store.put_grid(small_grid())
        store.put_devices(DEVICES)
        store.write_readings([Reading("aq-1", "pm25", T0 - 3 * 86_400 + i * 97.0, 10 + i % 50, A, seq=i,
                                      lat=34.795, lon=114.335) for i in range(readings)])
        case, _ = reported(store, now=T0)
        moved(store, moved(store, case, Action.FILE, T0 + 10), Action.DISPATCH, T0 + 20, assignee="wang")
        reported(store, type_="fire", now=T0 + 30)
        accounts.create_user(store, "dana", "dispatcher", now=T0, actor="cli:test", password="correct horse battery")
        accounts.issue_token(store, "dana", now=T0, actor="cli:test", label="wall")


def snapshot(url: str) -> dict[str, list]:
    """Every data table's rows, as comparable text, sorted."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            tables = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                                 "AND name NOT LIKE 'sqlite_%'")]
            return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"'))) for t in tables
                    if t != "schema_migrations"} | {
                "schema_migrations": sorted(n for (n,) in conn.execute("SELECT name FROM schema_migrations"))}
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [n for (n,) in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'spatial_ref_sys'")]
        rows = {t: sorted(r[0] for r in conn.execute(f'SELECT t::text FROM "{t}" t')) for t in tables
                if t != "schema_migrations"}
        rows["schema_migrations"] = sorted(n for (n,) in conn.execute("SELECT name FROM schema_migrations"))
        return rows


def test_a_restored_store_is_identical_and_its_audit_chain_verifies(run, urls):
    source, target, file = urls
    populate(source)
    status, out, err = run("db", "backup", file, "--store", source, "--json")
    assert status == 0, err
    report = json.loads(out.splitlines()[-1])
    assert report["readings"] == 3000 and report["bytes"] == file.stat().st_size > 0
    assert file.stat().st_mode & 0o077 == 0  # password hashes and token digests: the owner's only

    status, out, err = run("db", "restore", file, "--store", target, "--json")
    assert status == 0, err
    assert json.loads(out.splitlines()[-1])["readings"] == 3000
    before, after = snapshot(source), snapshot(target)
    assert {t: len(r) for t, r in after.items()} == {t: len(r) for t, r in before.items()}
    assert after == before
    assert len(after["readings"]) >= 3000 and len(after["audit_log"]) >= 5 and after["users"] and after["devices"]

    status, out, err = run("audit", "verify", "--store", target, "--json")
    assert status == 0, err
    assert json.loads(out.splitlines()[-1])["ok"] is True
    with open_store(target) as store:  # the restored store is a working store: cases go on
        case = store.find_cases(__import__("twin.cases", fromlist=["CaseQuery"]).CaseQuery())[0][0]
        assert store.get_case(case.id) == case and store.count_readings() == 3000
        reported(store, cell=A, type_="noise", now=T0 + 100)  # the next audit row chains on
    assert run("audit", "verify", "--store", target)[0] == 0


def test_a_store_with_data_is_not_overwritten_unless_forced(run, urls):
    source, target, file = urls
    populate(source)
    assert run("db", "backup", file, "--store", source)[0] == 0
    populate(target, readings=10)
    status, _out, err = run("db", "restore", file, "--store", target)
    assert status == 2 and "holds data" in err and "--force" in err
    with open_store(target) as store:
        assert store.count_readings() == 10  # untouched
    # A forced restore of a backup cut short fails and leaves the data as it was.
    whole = file.read_bytes()
    cut = file.with_name("cut-" + file.name)
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    kept = snapshot(target)
    status, _out, err = run("db", "restore", cut, "--store", target, "--force")
    assert status == 2 and "Traceback" not in err
    assert snapshot(target) == kept

    status, _out, err = run("db", "restore", file, "--store", target, "--force")
    assert status == 0, err
    assert snapshot(target) == snapshot(source)


def test_damaged_and_foreign_files_are_refused(run, urls, tmp_path):
    source, target, file = urls
    populate(source, readings=10)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"PK\x03\x04 this is a zip, not a backup" * 10)
    status, _, err = run("db", "restore", junk, "--store", target)
    assert status == 2 and "neither a SQLite database nor a PostgreSQL dump" in err

    status, _, err = run("db", "restore", tmp_path / "missing.db", "--store", target)
    assert status == 2 and "does not exist" in err

    # The other backend's backup: told where it belongs.
    other = tmp_path / "other"
    if source.startswith("sqlite"):
        other.write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 100)
        expected = "is a PostgreSQL dump (pg_dump custom format), not a backup of a SQLite store; restore it into a postgresql://"
    else:
        sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
        expected = "is a SQLite database, not a backup of a PostgreSQL store; restore it into a sqlite:///"
    status, _, err = run("db", "restore", other, "--store", target)
    assert status == 2 and expected in err

    # A backup cut short.
    assert run("db", "backup", file, "--store", source)[0] == 0
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    status, _, err = run("db", "restore", file, "--store", target)
    assert status == 2 and err.startswith("error: ") and "Traceback" not in err
    assert store_tables_with_rows(target) == []  # nothing half-restored


def test_sqlite_restore_refuses_a_database_that_is_not_a_gridtwin_store(run, tmp_path):
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (text)")
        conn.execute("INSERT INTO notes VALUES ('hello')")
    status, _, err = run("db", "restore", foreign, "--store", f"sqlite:///{tmp_path}/new.db")
    assert status == 2 and "not a backup of a GridTwin store" in err


def test_sqlite_backup_is_one_consistent_snapshot_while_the_gateway_writes(tmp_path):
    """Batches of 500 readings are written in their own transactions while the backups run: each
    backup holds whole batches only, and passes SQLite's integrity check."""
    from twin.store.backup import backup

    url = f"sqlite:///{tmp_path}/live.db"
    populate(url, readings=0)
    stop, written = threading.Event(), [0]

    def writer():
        with open_store(url) as store:
            n = 0
            while not stop.is_set():
                store.write_readings([Reading("aq-2", "pm25", T0 + (n * 500 + i) * 0.5, 20.0, A)
                                      for i in range(500)])
                n += 1
                written[0] = n

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        counts = []
        for k in range(5):
            report = backup(url, tmp_path / f"b{k}.db")
            with sqlite3.connect(tmp_path / f"b{k}.db") as conn:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                counts.append(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
            assert report.readings == counts[-1]
    finally:
        stop.set()
        thread.join()
    assert all(c % 500 == 0 for c in counts) and counts == sorted(counts)
    assert written[0] > 0
