"""`gridtwin audit verify` finds tampering on both backends: a row edited, a row deleted in the middle,
and (with the head recorded earlier) rows deleted from the end, each by someone who first switched
off the store's append-only guard."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

import gridtwin.cli as cli
from twin.people.accounts import create_user
from twin.store import open_store

T0 = 1_795_939_200.0


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> str:
    url = (f"sqlite:///{tmp_path}/audit.db" if request.param == "sqlite"
           else request.getfixturevalue("migrated_postgres_url"))
    with open_store(url) as store:
        store.migrate()
        for n, name in enumerate(("ann", "dana", "wang", "zhou", "li")):
            create_user(store, name, "viewer", now=T0 + n, actor="test")
    return url


def verify(capsys, monkeypatch, url: str, *extra: str) -> tuple[int, dict, str]:
    monkeypatch.setattr(cli, "COMMANDS", ("audit",))
    for name in list(os.environ):
        if name.startswith("GRIDTWIN_"):
            monkeypatch.delenv(name)
    status = cli.main(["audit", "verify", "--store", url, "--json", *extra])
    out, err = capsys.readouterr()
    return status, json.loads(out.splitlines()[-1]), err


def tamper(url: str, statement: str) -> None:
    """Run `statement` on the audit log past its guard, as someone with the database's keys could."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
            db.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
            db.execute(statement)
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        db.execute(statement)


def test_an_untouched_log_verifies(url, capsys, monkeypatch):
    status, result, _ = verify(capsys, monkeypatch, url)
    assert status == 0 and result["ok"] and result["rows"] == 5 and result["head_seq"] == 5


@pytest.mark.parametrize("statement, row", [
    ("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2", 2),  # who did it, rewritten
    ("UPDATE audit_log SET note = 'nothing happened' WHERE seq = 4", 4),  # what was said, rewritten
    ("DELETE FROM audit_log WHERE seq = 3", 3),  # a row taken out of the middle
])
def test_an_edited_or_deleted_row_is_found(url, capsys, monkeypatch, statement, row):
    tamper(url, statement)
    status, result, err = verify(capsys, monkeypatch, url)
    assert status == 1 and not result["ok"]
    assert f"row {row}" in result["error"] and f"row {row}" in err


def test_rows_deleted_from_the_end_are_found_against_the_recorded_head(url, capsys, monkeypatch):
    _, before, _ = verify(capsys, monkeypatch, url)
    tamper(url, "DELETE FROM audit_log WHERE seq >= 4")
    status, result, _ = verify(capsys, monkeypatch, url, "--expect-head", f"{before['head_seq']}:{before['head_hash']}")
    assert status == 1 and "rows were removed" in result["error"] and result["head_seq"] == 3
