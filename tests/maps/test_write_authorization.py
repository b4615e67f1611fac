"""Every write route of the web app, taken from its route table, refuses anonymous callers (401) and
every role that may not do it (403), over real HTTP (uvicorn) against a real SQLite store; the store
is unchanged by the refusals. A new write route fails the first test until it is classified here."""

from __future__ import annotations

import httpx
import pytest
from starlette.routing import Mount, Route

from maps.app import create_app
from tests.maps.common import T0, A, centre, serving
from twin.cases.book import CaseBook
from twin.people.access import Principal
from twin.people.accounts import create_user, issue_token
from twin.people.users import Role

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# (method, route path) -> the roles that get past authorization. Every other role must get 403.
WRITES: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/devices"): frozenset({"technician", "admin"}),
    ("POST", "/api/devices/{id}/placement"): frozenset({"technician", "admin"}),
    ("POST", "/api/devices/{id}/credentials"): frozenset({"technician", "admin"}),
    ("DELETE", "/api/devices/{id}/credentials"): frozenset({"technician", "admin"}),
    ("POST", "/api/devices/{id}/claim-code"): frozenset({"technician", "admin"}),
    ("POST", "/api/cases"): frozenset({"dispatcher", "grid_worker", "admin"}),
    # Filing a reported case: the desk's action (grid workers act only on cases assigned to them).
    ("POST", "/api/cases/{id}/transitions"): frozenset({"dispatcher", "admin"}),
    ("POST", "/api/reports"): frozenset({"reporter", "grid_worker"}),
}
# Writes anyone may send: logging in, and logging out (which ends only the caller's own session).
OPEN_WRITES = {("POST", "/api/login"), ("POST", "/api/logout")}


def write_routes(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if isinstance(route, Route):
            found |= {(method, route.path) for method in (route.methods or ()) if method in WRITE_METHODS}
        else:
            assert isinstance(route, Mount), f"unexpected route type {route!r}: classify its writes"
    return found


def body_for(method: str, path: str, n: int) -> dict | None:
    lat, lon = centre(A)
    return {
        ("POST", "/api/devices"): {"id": f"aq-w{n}", "kind": "sensor", "lat": lat, "lon": lon, "metrics": ["pm25"]},
        ("POST", "/api/devices/{id}/placement"): {"lat": lat, "lon": lon},
        ("POST", "/api/devices/{id}/credentials"): {},
        ("POST", "/api/devices/{id}/claim-code"): {},
        ("POST", "/api/cases"): {"type": "litter", "cell": A, "title": "bags"},
        ("POST", "/api/cases/{id}/transitions"): {"action": "file", "note": "seen"},
        ("POST", "/api/reports"): {"type": "pothole", "loc": {"lat": lat, "lon": lon}, "note": "deep"},
    }.get((method, path))


@pytest.fixture
def callers(store) -> dict[str, str]:
    """A bearer token per role."""
    tokens = {}
    for role in Role:
        name = f"u-{role}"
        create_user(store, name, role, now=T0, actor="test")
        tokens[str(role)] = issue_token(store, name, now=T0, actor="test")
    return tokens


async def test_every_write_route_is_classified(settings, store, grid):
    app = create_app(settings, store=store, grid=grid)
    routes = write_routes(app)
    assert routes - set(WRITES) - OPEN_WRITES == set(), "a write route nobody classified: add it to WRITES"
    assert set(WRITES) | OPEN_WRITES <= routes, "a classified route is gone: remove it here"
    # The mounts serve files: they take no write at all.
    mounts = [r for r in app.routes if isinstance(r, Mount)]
    assert mounts
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        for mount in mounts:
            for method in sorted(WRITE_METHODS):
                response = await http.request(method, f"{mount.path}/leaflet.js")
                assert response.status_code == 405, (method, mount.path, response.status_code)


def test_every_write_refuses_anonymous_callers_and_roles_that_may_not(settings, store, grid, callers):
    case_id = CaseBook(store, grid, settings.cases, settings.responsibility).report(
        Principal("u-dispatcher", Role.DISPATCHER), type_="litter", cell=A, description="bags").id
    app = create_app(settings, store=store, grid=grid)
    audit_before, devices_before = len(store.audit_log()), store.list_devices()
    refused = 0
    with serving(app) as url, httpx.Client(base_url=url, timeout=10) as http:
        def call(method, path, token, n):
            target = path.replace("{id}", case_id if path.startswith("/api/cases/") else "aq-1")
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return http.request(method, target, json=body_for(method, path, n), headers=headers)

        for n, (method, path) in enumerate(sorted(write_routes(app) - OPEN_WRITES)):
            response = call(method, path, None, n)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"] and response.headers["www-authenticate"].startswith("Bearer")
            for role in sorted(set(callers) - WRITES[(method, path)]):
                response = call(method, path, callers[role], n)
                assert response.status_code == 403, (method, path, role, response.text)
                assert role in response.json()["error"], response.text  # says who may not
                refused += 1
        # Nothing was written by any of them.
        assert len(store.audit_log()) == audit_before
        assert store.list_devices() == devices_before
        assert store.get_case(case_id).status == "reported"

        # The roles that may are let through (their answer is not a refusal), so the table is true.
        for n, (method, path) in enumerate(sorted(WRITES)):
            for role in sorted(WRITES[(method, path)]):
                response = call(method, path, callers[role], 100 + n)
                assert response.status_code not in (401, 403), (method, path, role, response.text)
    assert refused >= 20
