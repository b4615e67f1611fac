"""The field's HTTP API: the cell at a point, placing and provisioning devices (technician), device health,
field reports into the case loop, the ledger's leaderboard and who may see reporters' names."""

from __future__ import annotations

import base64
import re
import time

import jsonschema
import pytest

from tests.maps.common import T0, A, B, E, centre
from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.people.accounts import create_user, issue_token
from twin.sensing.readings import DeadLetter


@pytest.fixture
def tokens(store) -> dict[str, str]:
    """A bearer token per person: a technician, two reporters, a grid worker, a dispatcher, a viewer."""
    people = {"tom": "technician", "rider-7": "reporter", "rider-8": "reporter", "worker-1": "grid_worker",
              "dana": "dispatcher", "wall": "viewer"}
    for name, role in people.items():
        create_user(store, name, role, now=T0, actor="test", display_name=name.title())
    return {name: issue_token(store, name, now=T0, actor="test") for name in people}


def as_(tokens, name) -> dict:
    return {"Authorization": f"Bearer {tokens[name]}"}


ANON = {"Authorization": ""}  # no credentials: the anonymous viewer of the map wall


async def openapi_check(client, schema_name, instance):
    document = (await client.get("/api/openapi.json")).json()
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


# -- the technician's map ---------------------------------------------------------------------
async def test_locate_names_the_cell_at_a_point(client):
    lat, lon = centre(B)
    found = (await client.get(f"/api/locate?lat={lat}&lon={lon}")).json()
    assert found["cell"]["code"] == B and found["cell"]["path"].endswith("Grid 002")
    await openapi_check(client, "Located", found)
    assert (await client.get("/api/locate?lat=0&lon=0")).json()["cell"] is None
    assert (await client.get("/api/locate?lat=91&lon=0")).status_code == 400
    assert (await client.get("/api/locate?lat=34.79")).status_code == 400


async def test_a_technician_places_a_pending_device_and_its_readings_follow(client, store, tokens):
    store.put_devices([Device("z2m-1", DeviceKind.SENSOR, None, None, status=DeviceStatus.PENDING, registered_at=T0,
                              attributes={"adapter": "zigbee2mqtt"})])
    from twin.sensing.readings import Reading

    store.write_readings([Reading("z2m-1", "pm25", T0, 12.0, None)])
    lat, lon = centre(E)
    denied = await client.post("/api/devices/z2m-1/placement", json={"lat": lat, "lon": lon}, headers=as_(tokens, "wall"))
    assert denied.status_code == 403 and "technician" in denied.json()["error"]
    assert (await client.post("/api/devices/z2m-1/placement", json={"lat": lat, "lon": lon},
                              headers=ANON)).status_code == 401
    bad = await client.post("/api/devices/z2m-1/placement", json={"lat": "north"}, headers=as_(tokens, "tom"))
    assert bad.status_code == 422 and {p["field"] for p in bad.json()["detail"]} == {"lat", "lon"}
    placed = await client.post("/api/devices/z2m-1/placement", json={"lat": lat, "lon": lon}, headers=as_(tokens, "tom"))
    assert placed.status_code == 200
    body = placed.json()
    assert (body["cell"]["code"], body["status"], body["was_pending"]) == (E, "registered", True)
    assert store.readings(device_id="z2m-1")[0].cell_code == E
    outside = await client.post("/api/devices/z2m-1/placement", json={"lat": 1.0, "lon": 1.0}, headers=as_(tokens, "tom"))
    assert outside.status_code == 422 and "outside every grid cell" in outside.json()["error"]
    missing = await client.post("/api/devices/nope/placement", json={"lat": lat, "lon": lon}, headers=as_(tokens, "tom"))
    assert missing.status_code == 404


async def test_credentials_issue_rotate_revoke_and_claim_code(client, store, tokens):
    tech = as_(tokens, "tom")
    assert (await client.post("/api/devices/aq-2/credentials", json={}, headers=as_(tokens, "dana"))).status_code == 403
    issued = await client.post("/api/devices/aq-2/credentials", json={}, headers=tech)
    assert issued.status_code == 201
    body = issued.json()
    await openapi_check(client, "Credentials", body)
    assert body["bundle"]["username"] == "aq-2" and body["bundle"]["topics"]["readings"].endswith("/readings/aq-2")
    assert base64.b64decode(body["qr_png"])[:8] == b"\x89PNG\r\n\x1a\n"
    again = await client.post("/api/devices/aq-2/credentials", json={}, headers=tech)
    assert again.status_code == 409 and "rotate" in again.json()["error"]
    rotated = (await client.post("/api/devices/aq-2/credentials", json={"rotate": True}, headers=tech)).json()
    assert rotated["bundle"]["password"] != body["bundle"]["password"]
    health = (await client.get("/api/devices/aq-2")).json()["health"]
    assert health["credentials"]["state"] == "not_applied"  # no password file was written since
    assert health["diagnosis"] == "refused_credentials" and "gridtwin broker config" in health["message"]
    claim = await client.post("/api/devices/aq-2/claim-code", json={}, headers=tech)
    assert claim.status_code == 201 and claim.json()["username"] == "claim-aq-2"
    revoked = await client.delete("/api/devices/aq-2/credentials", headers=tech)
    assert revoked.status_code == 200 and sorted(revoked.json()["revoked"]) == ["aq-2", "claim-aq-2"]
    health = (await client.get("/api/devices/aq-2")).json()["health"]
    assert health["credentials"]["state"] == "revoked" and health["diagnosis"] == "refused_credentials"


async def test_device_health_in_the_device_answer(client, store):
    now = time.time()
    store.write_dead_letters([DeadLetter("schema", "gridtwin/v1/readings/cam-1", b"{}", now - 60, "cam-1",
                                         "values must be ...")])
    device = (await client.get("/api/devices/cam-1")).json()
    await openapi_check(client, "DeviceHealth", device["health"])
    assert device["health"]["diagnosis"] == "rejected_payloads"
    assert device["health"]["dead_letters"] == {"schema": 1}
    never = (await client.get("/api/devices/aq-2")).json()["health"]
    assert never["diagnosis"] == "never_connected" and never["silent"] is True


# -- field reports and the ledger ------------------------------------------------------------
async def report(client, tokens, who, cell=A, **fields):
    lat, lon = centre(cell)
    return await client.post("/api/reports", json={"type": "pothole", "loc": {"lat": lat, "lon": lon}, **fields},
                             headers=as_(tokens, who))


async def test_a_report_becomes_an_anonymous_case(client, tokens):
    sent = await report(client, tokens, "rider-7", note="deep hole", photo_url="https://photos.local/1.jpg",
                        report_id="p-1")
    assert sent.status_code == 201
    body = sent.json()
    await openapi_check(client, "FieldReport", body)
    assert (body["reporter"], body["cell_code"], body["case_status"], body["confirmed"]) == ("rider-7", A, "reported",
                                                                                           False)
    assert (await report(client, tokens, "rider-7", report_id="p-1")).json()["case_id"] == body["case_id"]  # resent
    case = await client.get(f"/api/cases/{body['case_id']}", headers=ANON)
    assert case.status_code == 200
    assert (case.json()["source"], case.json()["reporter"]) == ("report", "field-reporter")
    assert "rider-7" not in case.text and "Rider-7" not in case.text  # not even in the timeline
    listed = await client.get("/api/cases", headers=ANON)
    assert "rider-7" not in listed.text
    # Who may send: reporters and grid workers; not the wall, not a dispatcher.
    assert (await report(client, tokens, "worker-1")).status_code == 201
    assert (await report(client, tokens, "dana")).status_code == 403
    bad = await client.post("/api/reports", json={"type": "Pot Hole", "loc": {"lat": 1}}, headers=as_(tokens, "rider-7"))
    assert bad.status_code == 422 and {"type", "loc.lon"} <= {p["field"] for p in bad.json()["detail"]}


async def test_confirmed_reports_earn_points_and_the_wall_sees_no_names(client, tokens):
    cases = {}
    for who, cell in (("rider-7", A), ("rider-7", B), ("rider-8", A), ("rider-8", A)):
        cases.setdefault(who, []).append((await report(client, tokens, who, cell=cell)).json()["case_id"])
    desk = as_(tokens, "dana")
    for case_id in (*cases["rider-7"], cases["rider-8"][0]):
        assert (await client.post(f"/api/cases/{case_id}/transitions", json={"action": "file"},
                                  headers=desk)).status_code == 200
    assert (await client.post(f"/api/cases/{cases['rider-8'][1]}/transitions",
                              json={"action": "cancel", "reason": "false_alarm"}, headers=desk)).status_code == 200

    board = (await client.get("/api/reporters/leaderboard?district=410204", headers=desk)).json()
    assert [(e["reporter"], e["name"], e["points"], e["confirmed_reports"]) for e in board["entries"]] == \
        [("rider-7", "Rider-7", 20, 2), ("rider-8", "Rider-8", 10, 1)]
    assert board["anonymous"] is False
    await openapi_check(client, "Leaderboard", board)

    for viewer in (ANON, as_(tokens, "wall")):
        wall = await client.get("/api/reporters/leaderboard?district=410204", headers=viewer)
        assert wall.status_code == 200 and wall.json()["anonymous"] is True
        assert [(e["rank"], e["reporter"], e["name"], e["label"], e["points"]) for e in wall.json()["entries"]] == \
            [(1, None, None, "Reporter #1", 20), (2, None, None, "Reporter #2", 10)]
        assert "rider" not in wall.text.lower()
    own = (await client.get("/api/reporters/leaderboard", headers=as_(tokens, "rider-8"))).json()["entries"]
    assert [(e["reporter"], e["you"]) for e in own] == [(None, False), ("rider-8", True)]
    assert (await client.get("/api/reporters/leaderboard?district=4102", headers=desk)).status_code == 400

    mine = (await client.get("/api/reports", headers=as_(tokens, "rider-8"))).json()["reports"]
    assert {(r["reporter"], r["case_status"], r["points"]) for r in mine} == {("rider-8", "filed", 10),
                                                                              ("rider-8", "cancelled", None)}
    everyone = (await client.get("/api/reports", headers=desk)).json()["reports"]
    assert {r["reporter"] for r in everyone} == {"rider-7", "rider-8"}
    for viewer, status in ((ANON, 401), (as_(tokens, "wall"), 403), (as_(tokens, "tom"), 403)):
        assert (await client.get("/api/reports", headers=viewer)).status_code == status


async def test_the_field_pages_are_served_with_local_assets_only(client):
    for path, script in (("/technician", "js/technician.js"), ("/report", "js/report.js")):
        page = await client.get(path, headers=ANON)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert f'<script type="module" src="/static/gridtwin/{script}"></script>' in page.text
        assert not re.findall(r'(?:src|href)="(?:https?:)?//', page.text)  # nothing from another host
        asset = await client.get(f"/static/gridtwin/{script}", headers=ANON)
        assert asset.status_code == 200 and 'from "./lib/api.js"' in asset.text
