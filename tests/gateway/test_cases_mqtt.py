"""Cases through the real gateway on a real Mosquitto and a real SQLite store: anomalies open and
join cases, a camera fire confirmed by a smoke sensor is dispatched at once, case updates are
published per the schema, and escalations fire within a second of their deadline, also after a
restart of the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import pytest

from tests.gateway.conftest import A, B, C, Publisher, Recorder, gateway_running, wait_until
from twin.cases.book import CaseBook
from twin.cases.workflow import CaseQuery, Status, Tier
from twin.config import Settings
from twin.contract import schemas
from twin.devices.device import Device, DeviceKind
from twin.people.access import Principal
from twin.people.users import Role

DANA = Principal("dana", Role.DISPATCHER)


@pytest.fixture(autouse=True)
def no_logged_errors(caplog):
    """Fail a test whose background work only logged an error."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, "errors were logged: " + "; ".join(r.getMessage() for r in errors)


@pytest.fixture
def twin(twin_store):
    store, grid = twin_store
    store.put_devices([Device("smoke-1", DeviceKind.SENSOR, 34.795, 114.335, metrics=("smoke",), cell_code=A)])
    return store, grid


def settings_for(broker, store, **cases) -> Settings:
    prefix = f"t{uuid.uuid4().hex[:6]}/v1"
    return Settings().replace(
        mqtt={"host": broker.host, "port": broker.port, "prefix": prefix, "client_id": f"gw-{uuid.uuid4().hex[:8]}"},
        store={"url": store.url},
        gateway={"state_publish_interval": 0.2},
        cases={"relay_interval_s": 0.1, **cases},
        responsibility={"workers": {A: "worker-a", B: "worker-b"}},
    )


@contextlib.asynccontextmanager
async def gateway(settings, store, grid):
    async with gateway_running(settings, store, grid) as gw:
        yield gw


def case_messages(rec: Recorder, prefix: str) -> list[tuple[str, dict]]:
    return rec.json(f"{prefix}/cases/")


async def test_anomalies_open_a_case_and_join_it_within_the_merge_window(mosquitto, twin):
    store, grid = twin
    settings = settings_for(mosquitto, store)
    prefix = settings.mqtt.prefix
    rec = Recorder(mosquitto, f"{prefix}/cases/#")
    pub = Publisher(mosquitto)
    now = time.time()
    try:
        async with gateway(settings, store, grid):
            for i, pm25 in enumerate([20.0, 90.0, 20.0, 95.0]):  # warning opens, clears, opens again
                pub.send(f"{prefix}/readings/aq-1", {"ts": now + i, "seq": i, "values": {"pm25": pm25}})
            await rec.wait_for(lambda t, p: p["data"]["action"] == "merge")
            await asyncio.sleep(0.3)
        messages = case_messages(rec, prefix)
        assert [p["data"]["action"] for _, p in messages] == ["report", "merge"]
        for topic, event in messages:
            schemas.validate_event(event)
            assert schemas.event_schema_name(event) == "case-update-cloudevent"
        (topic, reported), (_, merged) = messages
        case_id = reported["subject"]
        assert topic == f"{prefix}/cases/410204/{case_id}" and reported["type"] == "org.gridtwin.case.reported"
        assert reported["id"] == f"{case_id}:{reported['data']['seq']}"
        data = reported["data"]["case"]
        assert (data["type"], data["severity"], data["status"], data["cell"]["code"]) == ("pm25_high", "warning",
                                                                                           "reported", A)
        assert data["responsible"] == "worker-a" and "PM2.5" in reported["data"]["note"]
        assert merged["subject"] == case_id and merged["data"]["case"]["anomaly_count"] == 2
        cases, total = store.find_cases(CaseQuery())
        assert total == 1 and len(store.case_anomaly_ids(case_id)) == 2
    finally:
        rec.close()
        pub.close()


async def test_a_camera_fire_confirmed_by_a_smoke_sensor_next_door_is_dispatched_at_once(mosquitto, twin):
    store, grid = twin
    settings = settings_for(mosquitto, store)
    prefix = settings.mqtt.prefix
    rec = Recorder(mosquitto, f"{prefix}/cases/#")
    pub = Publisher(mosquitto)
    now = time.time()
    try:
        async with gateway(settings, store, grid):
            pub.send(f"{prefix}/camera/cam-1/events", {"ts": now, "event_id": "f-1", "type": "fire",
                                                        "confidence": 0.93, "state": "start"})
            await rec.wait_for(lambda t, p: p["data"]["action"] == "report")
            sent = time.time()
            pub.send(f"{prefix}/readings/smoke-1", {"ts": now + 2, "values": {"smoke": True}})
            ((topic, dispatched),) = await rec.wait_for(lambda t, p: p["data"]["action"] == "dispatch")
            assert time.time() - sent < 1.0
        for _, event in case_messages(rec, prefix):
            schemas.validate_event(event)
        data = dispatched["data"]
        assert data["actor"] == "system:auto-dispatch" and data["from_status"] == "filed"
        assert data["details"]["rule"] == "fire-or-smoke-confirmed"
        assert "confirmed by smoke from smoke-1 in neighbouring cell" in data["note"]
        case = data["case"]
        assert (case["type"], case["cell"]["code"], case["assignee"], case["status"]) == ("fire", B, "worker-b",
                                                                                           "dispatched")
        assert case["accept_due"] is not None and case["level"] == "grid"
        fire = store.get_case(dispatched["subject"])
        assert fire.accept_due - fire.dispatched_at == 15 * 60  # critical: accept within 15 min
        actions = [p["data"]["action"] for _, p in case_messages(rec, prefix) if p["subject"] == fire.id]
        assert actions == ["report", "file", "dispatch"]
        smoke_cases, _ = store.find_cases(CaseQuery(types=("smoke",)))
        assert [c.status for c in smoke_cases] == [Status.REPORTED]  # the sensor's own case waits for a dispatcher
    finally:
        rec.close()
        pub.close()


async def test_an_escalation_fires_within_a_second_of_its_deadline_and_after_a_restart(mosquitto, twin):
    store, grid = twin
    limits = {"warning": {"accept": 1.5, "handle": 60, "township": 1.5, "county": 60}}
    settings = settings_for(mosquitto, store, limits=limits)
    prefix = settings.mqtt.prefix
    rec = Recorder(mosquitto, f"{prefix}/cases/#")
    book = CaseBook(store, grid, settings.cases, settings.responsibility)  # the web app's side
    try:
        async with gateway(settings, store, grid):
            case = book.report(DANA, type_="litter", cell=C)
            book.act(case.id, "file", DANA)
            dispatched = book.act(case.id, "dispatch", DANA, assignee="worker-c")
            ((_, event),) = await rec.wait_for(lambda t, p: p["data"]["action"] == "escalate", timeout=5)
            arrived = time.time()
            schemas.validate_event(event)
            assert event["data"]["case"]["level"] == "township"
            assert 0 <= arrived - dispatched.accept_due < 1.0  # at the subscriber within 1 s of the deadline
        township = store.get_case(case.id)
        assert township.level is Tier.TOWNSHIP and township.escalate_at > time.time()
        # The gateway is down while the township's limit passes; the next one escalates at once.
        await asyncio.sleep(max(0.0, township.escalate_at - time.time()) + 0.5)
        restarted = settings.replace(mqtt={"client_id": f"gw-{uuid.uuid4().hex[:8]}"})
        started = time.time()
        async with gateway(restarted, store, grid):
            ((_, event),) = await rec.wait_for(lambda t, p: p["data"]["case"]["level"] == "county", timeout=5)
            assert time.time() - started < 1.0
        assert event["data"]["action"] == "escalate" and store.get_case(case.id).level is Tier.COUNTY
        await wait_until(lambda: store.audit_cursor("case-relay:gw-1") == store.last_audit_seq())
    finally:
        rec.close()
