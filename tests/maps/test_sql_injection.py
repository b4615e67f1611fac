"""SQL injection through the read API is harmless, on SQLite and on PostgreSQL: classic payloads in
every query and path parameter of every GET route the OpenAPI document lists, over real HTTP.
Each answer is a clear 4xx with a JSON error, or the same answer a harmless value that matches
nothing gets; no 5xx; and every table holds what it held before."""

from __future__ import annotations

import sqlite3
import time
from urllib.parse import quote

import httpx
import pytest

from maps.app import create_app
from tests.maps.common import T0, A, fill_store, serving, small_grid
from twin.cases.book import CaseBook
from twin.cases.reports import file_report, parse_report
from twin.people.access import Principal
from twin.people.accounts import create_user, issue_token
from twin.people.users import Role
from twin.store import open_store

PAYLOADS = [
    "' OR '1'='1",  # the classic tautology
    "1' OR 1=1 --",  # tautology, rest commented out
    "'; DROP TABLE readings; --",  # stacked statement
    "\" OR \"\"=\"",  # double-quoted variant
    "1 UNION SELECT name, password_hash FROM users --",
    "%' OR 1=1 OR '%'='",  # LIKE-pattern escape
    "\\'; DELETE FROM devices; --",  # backslash-escaped quote
    f"{A}' OR '1'='1",  # a valid value with a tail
    "1); DROP TABLE cases; --",
    "abc\x00def",  # a NUL byte: PostgreSQL refuses it in text
]
BENIGN = "zz-no-such-thing"
# Fields that change between two identical requests.
VOLATILE = {"computed_at", "server_time", "generated_at"}
# Not the read API: HTML pages, the live stream, the document itself.
SKIP = {"/api/stream", "/api/openapi.json"}


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sqli.db"
    return request.getfixturevalue("migrated_postgres_url")


def fingerprint(url: str) -> dict[str, int]:
    """Row counts of every table."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    import psycopg

    with psycopg.connect(url) as db:
        names = [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}


def read_routes(document: dict) -> list[tuple[str, list[dict]]]:
    return [(path, ops["get"].get("parameters", [])) for path, ops in sorted(document["paths"].items())
            if path.startswith("/api/") and path not in SKIP and "get" in ops]


def stable(body):
    if isinstance(body, dict):
        return {k: stable(v) for k, v in body.items() if k not in VOLATILE}
    if isinstance(body, list):
        return [stable(v) for v in body]
    return body


def test_sql_injection_in_every_read_parameter_is_harmless(settings, store_url):
    store = open_store(store_url)
    store.migrate()
    fill_store(store)
    grid = small_grid()
    create_user(store, "root", "admin", now=T0, actor="test")
    token = issue_token(store, "root", now=T0, actor="test")
    create_user(store, "rita", "reporter", now=T0, actor="test")
    book = CaseBook(store, grid, settings.cases, settings.responsibility)
    case = book.report(Principal("root", Role.ADMIN), type_="litter", cell=A, title="bags")
    lat, lon = grid.by_code[A].geometry.centroid.y, grid.by_code[A].geometry.centroid.x
    file_report(store, grid, parse_report({"type": "pothole", "loc": {"lat": lat, "lon": lon}}, reporter_id="rita",
                                          channel="http", now=time.time(), grid=grid),
                responsibility=settings.responsibility)
    before = fingerprint(store_url)
    app = create_app(settings, store=store, grid=grid)
    tried = 0
    try:
        with serving(app) as url, httpx.Client(base_url=url, timeout=30,
                                               headers={"Authorization": f"Bearer {token}"}) as http:
            routes = read_routes(http.get("/api/openapi.json").json())
            assert len(routes) >= 14 and sum(len(p) for _, p in routes) >= 30

            def get(path: str, params: dict) -> httpx.Response:
                filled = path.replace("{code}", quote(params.pop("code", A), safe=""))
                default_id = case.id if path.startswith("/api/cases/") else "aq-1"
                filled = filled.replace("{id}", quote(params.pop("id", default_id), safe=""))
                return http.get(filled, params=params)

            for path, parameters in routes:
                for parameter in parameters:
                    name = parameter["name"]
                    for payload in PAYLOADS:
                        response = get(path, {name: payload})
                        tried += 1
                        where = f"GET {path} {name}={payload!r}"
                        assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
                        if response.status_code >= 400:
                            assert response.json()["error"], where  # a clear message
                            continue
                        assert response.status_code == 200, where
                        # Taken as plain text: it matches what a value that matches nothing matches.
                        benign = get(path, {name: BENIGN})
                        assert benign.status_code == 200, f"{where}: accepted, but {BENIGN!r} is not"
                        if response.headers["content-type"].startswith("application/json"):
                            assert stable(response.json()) == stable(benign.json()), f"{where}: matched something"
    finally:
        store.close()
    assert tried >= 300
    assert fingerprint(store_url) == before
