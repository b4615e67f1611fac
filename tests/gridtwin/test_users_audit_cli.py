"""`gridtwin users ...` and `gridtwin audit verify` end to end on a real SQLite store, including an
audit log whose row was changed behind the store's back."""

from __future__ import annotations

import io
import json
import os
import sqlite3

import pytest

import gridtwin.cli as cli
from twin.people import accounts
from twin.people.users import verify_password
from twin.store import open_store


@pytest.fixture
def run(monkeypatch, capsys):
    """Run `gridtwin ARGS...` in-process with `stdin`: (exit status, stdout, stderr)."""
    monkeypatch.setattr(cli, "COMMANDS", ("users", "audit"))
    for name in list(os.environ):
        if name.startswith("GRIDTWIN_"):
            monkeypatch.delenv(name)

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            status = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            status = exc.code
        out, err = capsys.readouterr()
        return status, out, err

    return run


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/twin.db"


def test_users_add_token_and_list(run, url):
    status, out, _ = run("users", "add", "dana", "--role", "dispatcher", "--password-stdin", "--display-name",
                         "Dana Li", "--store", url, stdin="correct horse battery\n")
    assert status == 0 and "created dispatcher dana with a password" in out
    status, out, _ = run("users", "add", "bridge", "--role", "viewer", "--no-password", "--store", url, "--json")
    assert status == 0 and json.loads(out.splitlines()[-1]) == {"user": "bridge", "role": "viewer", "password": False}
    status, out, err = run("users", "token", "bridge", "--label", "dashboard", "--store", url, "--json")
    token = json.loads(out.splitlines()[-1])["token"]
    assert status == 0 and token.startswith("gtt_") and "shown once" in err
    with open_store(url) as store:
        dana = store.get_user("dana")
        assert verify_password("correct horse battery", dana.password_hash) and dana.display_name == "Dana Li"
        assert accounts.user_for_token(store, token, 0).name == "bridge"
        assert token not in {c.digest for c in store.list_credentials()}  # only the digest is kept
        assert [(r.actor.startswith("cli:"), r.action) for r in store.audit_log()] == [
            (True, "user.create"), (True, "user.create"), (True, "token.issue")]
        assert accounts.login(store, "bridge", "", now=0, hours=1) is None  # token-only: no login
    status, out, _ = run("users", "list", "--store", url, "--json")
    users = {u["name"]: u for u in json.loads(out.splitlines()[-1])["users"]}
    assert users["bridge"]["tokens"] == 1 and users["dana"]["password"] and users["dana"]["role"] == "dispatcher"
    status, out, _ = run("users", "list", "--store", url)
    assert "bridge" in out and "dispatcher" in out


@pytest.mark.parametrize("argv, stdin, message", [
    # the name is taken
    (("users", "add", "dana", "--role", "admin", "--no-password"), "", "already exists"),
    # a role that does not exist
    (("users", "add", "eve", "--role", "root", "--no-password"), "", "invalid choice"),
    # a name that cannot be one
    (("users", "add", "a b", "--role", "viewer", "--no-password"), "", "is not valid"),
    # a password too short
    (("users", "add", "eve", "--role", "viewer", "--password-stdin"), "short\n", "at least 8"),
    # no terminal to ask on
    (("users", "add", "eve", "--role", "viewer"), "", "--password-stdin"),
    # a token for nobody
    (("users", "token", "ghost"), "", "does not exist"),
])
def test_user_errors_are_clear(run, url, argv, stdin, message):
    run("users", "add", "dana", "--role", "dispatcher", "--no-password", "--store", url)
    status, _, err = run(*argv, "--store", url, stdin=stdin)
    assert status != 0 and message in err


def test_audit_verify_passes_then_finds_a_tampered_row(run, url, tmp_path):
    for name in ("ann", "dana", "wang"):
        run("users", "add", name, "--role", "viewer", "--no-password", "--store", url)
    status, out, _ = run("audit", "verify", "--store", url, "--json")
    result = json.loads(out.splitlines()[-1])
    assert status == 0 and result["ok"] and result["rows"] == 3 and result["head_seq"] == 3
    head = f"{result['head_seq']}:{result['head_hash']}"
    assert run("audit", "verify", "--store", url, "--expect-head", head)[0] == 0

    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit_log SET note = 'x' WHERE seq = 2")
        # Someone with the database file drops the guard and edits a row.
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("UPDATE audit_log SET actor = 'cli:nobody' WHERE seq = 2")
    status, out, err = run("audit", "verify", "--store", url, "--json")
    result = json.loads(out.splitlines()[-1])
    assert status == 1 and not result["ok"] and "row 2" in result["error"] and "row 2" in err


def test_audit_verify_finds_rows_removed_at_the_end_only_with_the_head(run, url):
    for name in ("ann", "dana", "wang"):
        run("users", "add", name, "--role", "viewer", "--no-password", "--store", url)
    result = json.loads(run("audit", "verify", "--store", url, "--json")[1].splitlines()[-1])
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        db.execute("DROP TRIGGER audit_log_no_delete")
        db.execute("DELETE FROM audit_log WHERE seq = 3")
    assert run("audit", "verify", "--store", url)[0] == 0  # a shorter chain is still a chain
    status, _, err = run("audit", "verify", "--store", url, "--expect-head", result["head_hash"])
    assert status == 1 and "rows were removed" in err
