"""The gateway's field desk and device vitals through a real Mosquitto: zero-touch claims (once),
mobile reports into the case loop, and what the gateway keeps of each device's health."""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import asynccontextmanager

import orjson
import pytest

from gridtwin.localbroker import MosquittoBroker
from mqttwire.mosquitto import write_broker_files
from tests.gateway.conftest import Publisher, Recorder, gateway_running, running_gateway, wait_until
from tests.mqttclients import LoggedIn, wait_refused
from twin.config import Settings
from twin.devices.provisioning import ensure_service_accounts, issue_claim_code
from twin.people.accounts import create_user

P = "gridtwin/v1"


@asynccontextmanager
async def gateway_on(broker, store, grid, username, password, files, prefix=P):
    settings = Settings().replace(
        mqtt={"host": broker.host, "port": broker.port, "prefix": prefix, "username": username, "password": password,
              "client_id": f"gw-{uuid.uuid4().hex[:8]}"},
        store={"url": store.url},
        provisioning={"password_file": str(files.password_file), "acl_file": str(files.acl_file),
                      "broker_pid_file": str(broker.pid_file), "broker_port": broker.port},
    )
    async with gateway_running(settings, store, grid) as gw:
        yield gw


async def test_a_claim_code_gets_the_device_its_credentials_once(tmp_path, twin_store):
    store, grid = twin_store
    now = time.time()
    code = issue_claim_code(store, "aq-2", now=now)
    (gw_user, gw_password), = [v for k, v in ensure_service_accounts(store, Settings(), now=now).items()
                               if k == "gateway"]
    files = write_broker_files(store, P, tmp_path / "broker", now=now)
    with MosquittoBroker(password_file=files.password_file, acl_file=files.acl_file,
                         workdir=tmp_path / "mosquitto") as broker:
        async with gateway_on(broker, store, grid, gw_user, gw_password, files):
            with LoggedIn(broker, "claim-aq-2", code, client_id="aq-2") as device:
                device.subscribe(f"{P}/claim/aq-2/reply")
                device.publish(f"{P}/claim/aq-2", {"claim_code": code})
                bundle = orjson.loads(await asyncio.to_thread(device.wait_for, f"{P}/claim/aq-2/reply"))
            assert bundle["username"] == bundle["client_id"] == "aq-2"
            assert bundle["broker"] == {"host": broker.host, "port": broker.port, "tls": False}
            assert bundle["topics"]["readings"] == f"{P}/readings/aq-2"
            # The gateway wrote the broker files and reloaded Mosquitto: the new login works at once...
            await asyncio.to_thread(wait_refused, broker, "aq-2", bundle["password"], False)
            with LoggedIn(broker, "aq-2", bundle["password"], client_id="aq-2") as device:
                device.publish(bundle["topics"]["readings"], {"values": {"pm25": 41.0}})
            await wait_until(lambda: store.readings(device_id="aq-2"), what="the claimed device's reading stored")
            # ...and the claim code, used, no longer logs in.
            await asyncio.to_thread(wait_refused, broker, "claim-aq-2", code)
    assert [r.value for r in store.readings(device_id="aq-2")] == [41.0]


async def test_a_second_claim_is_answered_with_a_refusal(mosquitto, twin_store):
    """Without the broker files (or before they are written), the claim login still works: the gateway
    itself refuses the second use, and gives no credentials."""
    store, grid = twin_store
    code = issue_claim_code(store, "aq-1", now=time.time())
    async with running_gateway(mosquitto, store, grid) as gw:
        prefix = gw.settings.mqtt.prefix
        recorder = Recorder(mosquitto, f"{prefix}/claim/#")
        publisher = Publisher(mosquitto)
        try:
            publisher.send(f"{prefix}/claim/aq-1", {"claim_code": "WRONG-CODE-0000-0000"})
            publisher.send(f"{prefix}/claim/aq-1", {"claim_code": code})
            publisher.send(f"{prefix}/claim/aq-1", {"claim_code": code})
            replies = await recorder.wait_for(lambda t, body: t.endswith("/reply") and len(
                [1 for t2, _ in recorder.json() if t2.endswith("/reply")]) >= 3)
        finally:
            recorder.close()
            publisher.close()
    bodies = [body for topic, body in recorder.json() if topic == f"{prefix}/claim/aq-1/reply"]
    assert [b.get("code") for b in bodies] == ["wrong_code", None, "used"]
    assert bodies[1]["password"] and "password" not in bodies[2]
    assert replies and gw.field.claims == 1


async def test_a_field_report_opens_an_anonymous_case_once(mosquitto, twin_store):
    store, grid = twin_store
    create_user(store, "rider-7", "reporter", now=time.time(), actor="test")
    async with running_gateway(mosquitto, store, grid) as gw:
        prefix = gw.settings.mqtt.prefix
        recorder = Recorder(mosquitto, f"{prefix}/#")
        publisher = Publisher(mosquitto)
        report = {"report_id": "p-1", "type": "pothole", "note": "deep hole by the gate",
                  "loc": {"lat": 34.795, "lon": 114.335}, "photo_url": "https://photos.local/p-1.jpg"}
        try:
            publisher.send(f"{prefix}/reports/rider-7", report)
            publisher.send(f"{prefix}/reports/rider-7", report)  # sent twice by a phone on a bad network
            publisher.send(f"{prefix}/reports/rider-8", report)  # nobody's account
            publisher.send(f"{prefix}/reports/rider-7", {**report, "report_id": "p-2", "loc": {"lat": 1, "lon": 1}})
            await recorder.wait_for(lambda t, b: t == f"{prefix}/reports/rider-7/ack" and "error" in b)
            update = await recorder.wait_for(lambda t, b: t.startswith(f"{prefix}/cases/"))
        finally:
            recorder.close()
            publisher.close()
    acks = [b for t, b in recorder.json() if t == f"{prefix}/reports/rider-7/ack"]
    assert acks[0]["case_id"] == acks[1]["case_id"] and acks[0]["cell_code"] == "410204001001001"
    assert "outside every grid cell" in acks[2]["error"]
    case = store.get_case(acks[0]["case_id"])
    assert (case.source, case.reporter, case.type, case.status) == ("report", "field-reporter", "pothole", "reported")
    assert len(store.list_reports()) == 1 and store.list_reports()[0].report.reporter_id == "rider-7"
    # What integrators and the map wall see of the case never names the reporter.
    assert "rider-7" not in orjson.dumps(update[0][1]).decode()
    letters = {t.rsplit("/", 1)[1] for t, _ in recorder.json() if t.startswith(f"{prefix}/deadletter/")}
    assert letters == {"unauthorized", "out_of_area"}


async def test_the_gateway_keeps_battery_signal_and_message_counts(mosquitto, twin_store):
    store, grid = twin_store
    async with running_gateway(mosquitto, store, grid) as gw:
        prefix = gw.settings.mqtt.prefix
        publisher = Publisher(mosquitto)
        try:
            now = time.time()
            for n in range(3):
                publisher.send(f"{prefix}/readings/aq-1", {"ts": now - 10 + n, "values": {"pm25": 10.0 + n},
                                                            "battery": 0.5 - n / 100})
            publisher.send(f"{prefix}/readings/aq-1", b"{not json")
            await wait_until(lambda: len(store.readings(device_id="aq-1")) == 3)
        finally:
            publisher.close()
    vitals = store.device_vitals("aq-1", time.time())  # written at the latest when the gateway stops
    assert vitals.messages == 3 and vitals.battery == pytest.approx(0.48)
    assert vitals.clock_skew_s == pytest.approx(-8.0, abs=5.0)
    assert store.device_vitals("aq-2", time.time()) is None
