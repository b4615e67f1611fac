"""The case loop over HTTP on a real SQLite store: every role allowed and denied every action,
logins and tokens, the answers 200/201/401/403/404/409/415/422, lists, timelines, the audit
log and the governance figures with their CSV export."""

from __future__ import annotations

import csv
import io

import httpx
import jsonschema
import pytest

from maps.app import create_app
from tests.maps.common import T0, A, B, E, centre
from twin.people.access import Principal
from twin.people.accounts import create_user, issue_token
from twin.people.users import Role

FAST = (2**10, 8, 1)  # password hashing cost for test users; the default is checked in tests/twin
PASSWORD = "correct horse battery"
# name -> role; worker-1 is cell A's grid worker in the test grid.
PEOPLE = {"vic": "viewer", "dana": "dispatcher", "worker-1": "grid_worker", "worker-2": "grid_worker", "ann": "admin"}
STEPS = [  # how to bring a case to the status where each action is legal: (action, actor, fields)
    ("file", "dana", {}),
    ("dispatch", "dana", {}),  # to cell A's worker, worker-1
    ("accept", "worker-1", {}),
    ("handle", "worker-1", {"note": "swept the street"}),
    ("close", "dana", {}),
]
ACTIONS = {  # action -> (steps taken before it, its fields)
    "file": (0, {}),
    "cancel": (0, {"reason": "duplicate"}),
    "dispatch": (1, {}),
    "reassign": (2, {"assignee": "worker-2"}),
    "accept": (2, {}),
    "handle": (3, {"note": "done"}),
    "close": (4, {}),
    "reopen": (4, {"note": "still dirty"}),
    "evaluate": (5, {"satisfaction": 5}),
}
DESK = {"dana", "ann"}
ALLOWED = {  # action -> who may take it on a case assigned to worker-1
    "file": DESK, "cancel": DESK, "dispatch": DESK, "reassign": DESK, "close": DESK, "reopen": DESK,
    "evaluate": DESK, "accept": {"worker-1"}, "handle": {"worker-1"},
}
CALLERS = ["anonymous", *PEOPLE]


@pytest.fixture
def settings(settings):
    return settings.replace(auth={"secret": "test-secret-of-sixteen+"})


@pytest.fixture
def tokens(store) -> dict[str, str]:
    out = {}
    for name, role in PEOPLE.items():
        create_user(store, name, role, now=T0, actor="test", password=PASSWORD, cost=FAST)
        out[name] = issue_token(store, name, now=T0, actor="test")
    return out


@pytest.fixture
async def web(settings, store, grid, tokens):
    app = create_app(settings, store=store, grid=grid)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gridtwin.test") as c:
            c.app = app
            c.tokens = tokens
            yield c


def who(web, name: str) -> dict:
    return {} if name == "anonymous" else {"Authorization": f"Bearer {web.tokens[name]}"}


def book(web):
    return web.app.state.ctx.book


def case_after(web, steps: int, cell: str = A) -> str:
    """A case in cell `cell` moved through the first `steps` of STEPS; its id."""
    b = book(web)
    case = b.report(Principal("dana", Role.DISPATCHER), type_="litter", cell=cell, description="bags by the gate")
    for action, actor, fields in STEPS[:steps]:
        case = b.act(case.id, action, Principal(actor, Role(PEOPLE[actor])), **fields)
    return case.id


def error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    for word in words:
        assert word in body["error"], (word, body["error"])
    return body


# -- each role, each action ------------------------------------------------------------
@pytest.mark.parametrize("action, caller", [(a, c) for a in ACTIONS for c in CALLERS])
async def test_each_role_is_allowed_or_denied_each_action(web, action, caller):
    steps, fields = ACTIONS[action]
    case_id = case_after(web, steps)
    before = book(web).get(case_id)
    response = await web.post(f"/api/cases/{case_id}/transitions", json={"action": action, **fields},
                              headers=who(web, caller))
    if caller in ALLOWED[action]:
        assert response.status_code == 200, response.text
        assert response.json()["id"] == case_id and response.json()["updated_at"] != before.updated_at
        last = book(web).timeline(case_id)[-1]
        assert (last.action, last.actor) == (action, caller)  # every write is audited with its actor
    else:
        error(response, 401 if caller == "anonymous" else 403)
        assert book(web).get(case_id) == before  # nothing changed


@pytest.mark.parametrize("caller, status", [("anonymous", 401), ("vic", 403), ("dana", 201), ("worker-1", 201),
                                            ("worker-2", 201), ("ann", 201)])
async def test_who_may_report_a_case(web, caller, status):
    response = await web.post("/api/cases", json={"type": "pothole", "cell": B}, headers=who(web, caller))
    assert response.status_code == status, response.text


@pytest.mark.parametrize("caller, status", [("anonymous", 401), ("vic", 403), ("dana", 403), ("worker-1", 403),
                                            ("ann", 200)])
async def test_only_admins_read_the_audit_log(web, caller, status):
    assert (await web.get("/api/audit", headers=who(web, caller))).status_code == status


@pytest.mark.parametrize("caller, status", [("anonymous", 401), ("dana", 403), ("ann", 201)])
async def test_registering_a_device_needs_an_admin_and_is_audited(web, store, caller, status):
    lat, lon = centre(B)
    response = await web.post("/api/devices", json={"id": f"new-{caller}", "kind": "sensor", "lat": lat, "lon": lon},
                              headers=who(web, caller))
    assert response.status_code == status, response.text
    audited = [(r.actor, r.subject, r.subject_id) for r in store.audit_log(action="device.register")]
    assert audited == ([("ann", "device", "new-ann")] if status == 201 else [])
    conflict = await web.post("/api/devices", json={"id": "aq-1", "kind": "sensor", "lat": lat, "lon": lon},
                              headers=who(web, "ann"))
    assert conflict.status_code == 409 and len(store.audit_log(action="device.register")) == len(audited)


async def test_a_grid_worker_is_told_the_case_is_not_theirs(web):
    case_id = case_after(web, 2)
    body = error(await web.post(f"/api/cases/{case_id}/transitions", json={"action": "accept"},
                                headers=who(web, "worker-2")), 403, "accept cases only when they are assigned to them", "worker-1")
    assert body["detail"] is None


async def test_the_anonymous_viewer_reads_the_wall_but_writes_nothing(web):
    case_id = case_after(web, 1)
    for path in ("/api/cells", "/api/events", "/api/cases", f"/api/cases/{case_id}", "/api/kpi", "/api/me"):
        assert (await web.get(path)).status_code == 200, path
    me = (await web.get("/api/me")).json()
    assert me == {"name": "anonymous", "role": "viewer", "authenticated": False, "via": "anonymous",
                  "permissions": ["case.read", "kpi.read"], "csrf_token": None}


async def test_without_an_anonymous_role_everything_but_login_needs_credentials(settings, store, grid, tokens):
    app = create_app(settings.replace(auth={"anonymous": "none"}), store=store, grid=grid)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            for path in ("/api/cells", "/api/cases", "/api/kpi", "/api/me", "/api/stream"):
                body = error(await c.get(path), 401, "requires a login")
                assert body["detail"] is None
            assert (await c.get("/api/openapi.json")).status_code == 200
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/api/cases", headers={"Authorization": f"Bearer {tokens['vic']}"})).status_code == 200
            login = await c.post("/api/login", json={"name": "vic", "password": PASSWORD})
            assert login.status_code == 200
            assert (await c.get("/api/cells")).status_code == 200  # the session cookie


# -- logins, sessions and tokens -------------------------------------------------------------
async def test_login_sets_a_signed_httponly_lax_cookie_and_logout_ends_the_session(web, store):
    response = await web.post("/api/login", json={"name": "dana", "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["name"] == "dana" and response.json()["role"] == "dispatcher"
    cookie = response.headers.get_list("set-cookie")[0]
    assert cookie.startswith("gridtwin_session=gts_") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie and "Max-Age=43200" in cookie and "Secure" not in cookie
    value = cookie.split(";")[0].split("=", 1)[1]
    assert "." in value  # session id and signature
    me = (await web.get("/api/me")).json()
    assert (me["name"], me["via"], me["authenticated"]) == ("dana", "session", True)
    assert "case.dispatch" in me["permissions"] and "audit.read" not in me["permissions"]
    assert [r.action for r in store.audit_log(subject="user", subject_id="dana")][-1] == "login"

    out = await web.post("/api/logout", json={}, headers={"X-CSRF-Token": response.json()["csrf_token"]})
    assert out.json() == {"logged_out": True} and "Max-Age=0" in out.headers.get_list("set-cookie")[0]
    assert [r.action for r in store.audit_log(subject="user", subject_id="dana")][-1] == "logout"
    web.cookies.set("gridtwin_session", value)  # the old cookie, replayed
    assert (await web.get("/api/me")).json()["name"] == "anonymous"


async def test_a_forged_or_tampered_cookie_is_anonymous(web):
    response = await web.post("/api/login", json={"name": "ann", "password": PASSWORD})
    session, signature = response.headers.get_list("set-cookie")[0].split(";")[0].split("=", 1)[1].rsplit(".", 1)
    web.cookies.clear()
    web.cookies.set("gridtwin_session", f"{session}.{signature[:-2]}xx")
    assert (await web.get("/api/me")).json()["name"] == "anonymous"
    web.cookies.set("gridtwin_session", session)
    assert (await web.get("/api/me")).json()["name"] == "anonymous"


@pytest.mark.parametrize("body", [{"name": "dana", "password": "wrong password"},
                                  {"name": "nobody", "password": PASSWORD}])
async def test_wrong_logins_are_refused_alike(web, body):
    response = await web.post("/api/login", json=body)
    error(response, 401, "wrong user name or password")
    assert "set-cookie" not in response.headers


async def test_a_login_without_name_or_password_is_unprocessable(web):
    body = error(await web.post("/api/login", json={"name": "dana"}), 422)
    assert body["detail"] == [{"field": "password", "message": "required text"}]


async def test_a_session_write_must_send_json(web):
    token = (await web.post("/api/login", json={"name": "dana", "password": PASSWORD})).json()["csrf_token"]
    case_id = case_after(web, 0)
    response = await web.post(f"/api/cases/{case_id}/transitions", content=b'{"action": "file"}',
                              headers={"content-type": "text/plain", "X-CSRF-Token": token})
    error(response, 415, "Content-Type: application/json")
    assert book(web).get(case_id).status == "reported"


@pytest.mark.parametrize("authorization", ["Bearer gtt_not-a-real-token", "Bearer ", "Basic ZGFuYTpwdw=="])
async def test_a_bad_bearer_token_is_refused_even_for_reading(web, authorization):
    response = await web.get("/api/cells", headers={"Authorization": authorization})
    error(response, 401, "bearer token is not valid")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_token_stops_working(web, store):
    assert (await web.get("/api/audit", headers=who(web, "ann"))).status_code == 200
    (token,) = [c for c in store.list_credentials("ann") if c.kind == "token"]
    store.delete_credential(token.digest)
    error(await web.get("/api/audit", headers=who(web, "ann")), 401)


# -- transitions: the answers ------------------------------------------------------------
async def test_an_illegal_transition_is_409_with_the_allowed_actions(web):
    case_id = case_after(web, 1)  # filed
    body = error(await web.post(f"/api/cases/{case_id}/transitions", json={"action": "close"}, headers=who(web, "dana")),
                 409, f"case {case_id} is filed", "close is not allowed")
    assert body["detail"] == {"status": "filed", "action": "close", "allowed": ["dispatch", "reassign"]}


@pytest.mark.parametrize("body, field", [
    ({"action": "cancel"}, "reason"),  # cancel needs a reason
    ({"action": "cancel", "reason": "bored"}, "reason"),  # from the kept list
    ({"action": "fly"}, "action"),  # no such action
    ({"action": "escalate"}, "action"),  # only the system escalates
    ({"action": "file", "colour": "red"}, "colour"),  # a member no transition has
    ({"note": "no action"}, "action"),  # the action is required
])
async def test_bad_transition_bodies_are_422_naming_the_field(web, body, field):
    case_id = case_after(web, 0)
    answer = error(await web.post(f"/api/cases/{case_id}/transitions", json=body, headers=who(web, "dana")), 422)
    assert field in [p["field"] for p in answer["detail"]]


async def test_a_transition_on_an_unknown_case_is_404(web):
    error(await web.post("/api/cases/C-20000101-0001/transitions", json={"action": "file"}, headers=who(web, "dana")),
          404, "C-20000101-0001 does not exist")


async def test_the_whole_loop_over_http_with_the_timeline(web):
    report = await web.post("/api/cases", json={"type": "waterlogging", "severity": "critical", "cell": A,
                                                "title": "Flooded underpass", "description": "20 cm of water"},
                            headers=who(web, "worker-2"))
    assert report.status_code == 201
    case = report.json()
    assert report.headers["location"] == f"/api/cases/{case['id']}"
    assert (case["status"], case["source"], case["reporter"], case["responsible"]) == ("reported", "manual",
                                                                                        "worker-2", "worker-1")
    path = f"/api/cases/{case['id']}/transitions"
    for body, actor, status in [
        ({"action": "file", "note": "confirmed by phone"}, "dana", "filed"),
        ({"action": "dispatch"}, "dana", "dispatched"),
        ({"action": "accept"}, "worker-1", "accepted"),
        ({"action": "handle", "note": "pumped out", "photo_url": "https://photos.local/u1.jpg"}, "worker-1", "handled"),
        ({"action": "reopen", "note": "water is back"}, "dana", "reopened"),
        ({"action": "dispatch", "assignee": "worker-2"}, "dana", "dispatched"),
        ({"action": "accept"}, "worker-2", "accepted"),
        ({"action": "handle", "note": "drain cleared"}, "worker-2", "handled"),
        ({"action": "close"}, "dana", "closed"),
        ({"action": "evaluate", "satisfaction": 4}, "dana", "evaluated"),
    ]:
        response = await web.post(path, json=body, headers=who(web, actor))
        assert response.status_code == 200, (body, response.text)
        assert response.json()["status"] == status
    done = (await web.get(f"/api/cases/{case['id']}")).json()
    assert done["satisfaction"] == 4 and done["feedback"] == "drain cleared" and done["allowed_actions"] == []
    assert done["assignee"] == "worker-2" and done["dispatched_at"] < done["closed_at"]
    timeline = done["timeline"]
    assert [(t["action"], t["actor"]) for t in timeline] == [
        ("report", "worker-2"), ("file", "dana"), ("dispatch", "dana"), ("accept", "worker-1"), ("handle", "worker-1"),
        ("reopen", "dana"), ("dispatch", "dana"), ("accept", "worker-2"), ("handle", "worker-2"), ("close", "dana"),
        ("evaluate", "dana")]
    assert timeline[1]["note"] == "confirmed by phone" and timeline[4]["details"] == {"photo_url": "https://photos.local/u1.jpg"}
    assert [t["seq"] for t in timeline] == sorted(t["seq"] for t in timeline)
    assert timeline[5]["from_status"] == "handled" and timeline[5]["to_status"] == "reopened"


async def test_a_report_placed_by_coordinates_and_the_bad_ones(web):
    lat, lon = centre(E)
    response = await web.post("/api/cases", json={"type": "pothole", "lat": lat, "lon": lon}, headers=who(web, "dana"))
    assert response.status_code == 201 and response.json()["cell"]["code"] == E
    assert response.json()["location"] == {"lat": lat, "lon": lon}
    body = error(await web.post("/api/cases", json={"type": "pothole", "lat": 39.9, "lon": 116.4},
                                headers=who(web, "dana")), 422, "outside every grid cell")
    assert body["detail"][0]["field"] is None
    body = error(await web.post("/api/cases", json={"type": "Pot Hole", "severity": "urgent", "cell": "1"},
                                headers=who(web, "dana")), 422)
    assert {p["field"] for p in body["detail"]} == {"type", "severity", "cell"}
    error(await web.post("/api/cases", json={"type": "pothole"}, headers=who(web, "dana")), 422, "cell")
    error(await web.post("/api/cases", json={"type": "pothole", "cell": A, "urgent": True}, headers=who(web, "dana")),
          422, "unknown field")
    error(await web.post("/api/cases", json=["pothole"], headers=who(web, "dana")), 422, "JSON object")


# -- lists -------------------------------------------------------------------------------------
async def test_case_lists_filter_and_page(web):
    reported, filed, dispatched = case_after(web, 0), case_after(web, 1, B), case_after(web, 2)

    async def ids(query: str, caller: str = "vic") -> list[str]:
        response = await web.get(f"/api/cases{query}", headers=who(web, caller))
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["cases"]]

    assert await ids("") == [dispatched, filed, reported]
    assert await ids("?status=filed,dispatched") == [dispatched, filed]
    assert await ids(f"?cell={B}") == [filed]
    assert await ids("?assignee=worker-1") == [dispatched]
    assert await ids("?assignee=me", "worker-1") == [dispatched] and await ids("?assignee=me", "dana") == []
    assert await ids("?level=grid") == [dispatched, filed, reported] and await ids("?level=county") == []
    assert await ids("?overdue=true") == [] and len(await ids("?overdue=false")) == 3
    page = (await web.get("/api/cases?limit=1&offset=1")).json()
    assert [c["id"] for c in page["cases"]] == [filed] and page["total"] == 3
    assert (page["limit"], page["offset"]) == (1, 1)
    error(await web.get("/api/cases?status=open"), 400, "status", "dispatched")
    error(await web.get("/api/cases?offset=-1"), 400, "offset")
    error(await web.get("/api/cases?level=city"), 400, "level")
    error(await web.get("/api/cases?sort=id"), 400, "unknown query parameter")


async def test_a_case_page_lists_its_anomalies(web):
    from twin.sensing.anomalies import Anomaly
    from twin.sensing.catalog import Level

    b = book(web)
    anomalies = [Anomaly(f"x-{i}", "noise_db_high", "opened", Level.WARNING, B, "aq-1", "threshold", T0 + i * 60,
                         "Noise above 70 dB(A)") for i in range(3)]
    b.store.write_anomalies(anomalies)
    b.settings = b.settings.__class__(merge_window_s=10 ** 9, dispatch_rules=())  # old anomalies still merge
    (case,) = b.take_anomalies(anomalies)
    detail = (await web.get(f"/api/cases/{case.id}")).json()
    assert detail["anomaly_ids"] == ["x-0", "x-1", "x-2"] and detail["anomaly_count"] == 3
    assert [t["action"] for t in detail["timeline"]] == ["report", "merge", "merge"]
    error(await web.get("/api/cases/C-20000101-0009"), 404, "does not exist")


# -- the audit log --------------------------------------------------------------------------
async def test_the_audit_log_filters_and_pages(web):
    case_id = case_after(web, 2)
    everything = (await web.get("/api/audit", headers=who(web, "ann"))).json()
    assert [e["action"] for e in everything["entries"]][-3:] == ["report", "file", "dispatch"]
    assert everything["next_after"] is None
    users = (await web.get("/api/audit?subject=user&action=user.create", headers=who(web, "ann"))).json()["entries"]
    assert sorted(e["subject_id"] for e in users) == sorted(PEOPLE)
    case_rows = (await web.get(f"/api/audit?id={case_id}&limit=2", headers=who(web, "ann"))).json()
    assert [e["action"] for e in case_rows["entries"]] == ["report", "file"]
    rest = (await web.get(f"/api/audit?id={case_id}&after={case_rows['next_after']}", headers=who(web, "ann"))).json()
    assert [e["action"] for e in rest["entries"]] == ["dispatch"]
    assert all(len(e["hash"]) == 64 for e in everything["entries"])
    error(await web.get("/api/audit?after=x", headers=who(web, "ann")), 400, "after")


# -- governance figures ---------------------------------------------------------------------
async def test_kpi_as_json_and_csv(web, store):
    b = book(web)
    clock = {"now": T0}
    b.clock = lambda: clock["now"]  # the case routes read the case book's clock
    dana, worker = Principal("dana", Role.DISPATCHER), Principal("worker-1", Role.GRID_WORKER)
    closed = b.report(dana, type_="litter", cell=A)
    for action, actor, fields, dt in [("file", dana, {}, 60), ("dispatch", dana, {}, 60), ("accept", worker, {}, 60),
                                      ("handle", worker, {"note": "done"}, 600), ("close", dana, {}, 60),
                                      ("evaluate", dana, {"satisfaction": 3}, 60)]:
        clock["now"] += dt
        b.act(closed.id, action, actor, **fields)
    cancelled = b.report(dana, type_="litter", cell=B)
    b.act(cancelled.id, "cancel", dana, reason="out_of_scope")
    clock["now"] = T0 + 3600

    body = (await web.get(f"/api/kpi?level=grid&from={T0 - 1}&to={T0 + 3600}")).json()
    assert (body["level"], body["computed_at"]) == ("grid", "2026-11-29T09:00:00.000Z")
    rows = {r["code"]: r for r in body["rows"]}
    assert set(rows) == {A, B} and rows[A]["name"] == "Grid 001"
    assert rows[A]["resolution_rate"] == 1.0 and rows[A]["on_time_rate"] == 1.0
    assert rows[A]["mean_satisfaction"] == 3 and rows[A]["mean_time_to_dispatch_s"] == 120
    assert rows[A]["mean_time_to_close_s"] == 840 and rows[B]["resolution_rate"] is None
    assert body["total"]["cases"] == 2 and body["total"]["cancelled"] == 1
    assert body["total"]["warning_accuracy"] is None  # manual reports are no warnings

    response = await web.get(f"/api/kpi?level=street&from={T0 - 1}&to={T0 + 3600}&format=csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["code"] for r in table] == ["410204001", ""] and table[0]["cases"] == "2"
    assert table[0]["mean_satisfaction"] == "3.0" and table[1]["name"] == "total"

    error(await web.get("/api/kpi?level=city"), 400, "level")
    error(await web.get(f"/api/kpi?from={T0}&to={T0}"), 400, "must be before")
    error(await web.get("/api/kpi?format=xlsx"), 400, "format")


# -- the OpenAPI document tells the truth ------------------------------------------------------
async def test_answers_match_the_openapi_schemas(web):
    document = (await web.get("/api/openapi.json")).json()

    def check(name, instance):
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        jsonschema.Draft202012Validator(schema).validate(instance)

    case_id = case_after(web, 3)
    check("CaseList", (await web.get("/api/cases")).json())
    check("CaseDetail", (await web.get(f"/api/cases/{case_id}")).json())
    check("Case", (await web.post("/api/cases", json={"type": "pothole", "cell": B}, headers=who(web, "dana"))).json())
    check("IllegalTransition", (await web.post(f"/api/cases/{case_id}/transitions", json={"action": "file"},
                                               headers=who(web, "dana"))).json())
    check("AuditLog", (await web.get("/api/audit", headers=who(web, "ann"))).json())
    check("Kpi", (await web.get("/api/kpi?level=street")).json())
    check("Principal", (await web.get("/api/me", headers=who(web, "worker-1"))).json())
    check("Principal", (await web.post("/api/login", json={"name": "vic", "password": PASSWORD})).json())
    with pytest.raises(jsonschema.ValidationError):
        check("Case", {"id": "C-1"})
