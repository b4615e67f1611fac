"""Acceptance: a real Mosquitto running the password file and ACL GridTwin generates.

A device cannot publish as another device (its publish on the other's topic reaches no
subscriber) nor read another device's topics; an unknown, wrong or revoked login is refused;
a rotated password replaces the old one; the gateway's and the web app's accounts have their
rights and no more.
"""

from __future__ import annotations

import time

import pytest

from gridtwin.localbroker import MosquittoBroker
from mqttwire.mosquitto import write_broker_files
from tests.mqttclients import LoggedIn, Refused, refused, wait_refused
from twin.config import Settings
from twin.devices.provisioning import ensure_service_accounts, issue_device_credentials, revoke_device_credentials

P = "gridtwin/v1"


@pytest.fixture
def secured(tmp_path, twin_store):
    """(broker, store, passwords): aq-1 and aq-2 with credentials, the gateway and web accounts, and a
    Mosquitto started on the files written from the store."""
    store, _grid = twin_store
    now = time.time()
    passwords = {d: issue_device_credentials(store, d, now=now)[1] for d in ("aq-1", "aq-2")}
    services = ensure_service_accounts(store, Settings(), now=now)
    passwords |= {name: password for name, password in services.values()}
    files = write_broker_files(store, P, tmp_path / "broker", now=now)
    with MosquittoBroker(password_file=files.password_file, acl_file=files.acl_file,
                         workdir=tmp_path / "mosquitto") as broker:
        yield broker, store, passwords


def regenerate(broker, store, tmp_path):
    write_broker_files(store, P, tmp_path / "broker", now=time.time())
    broker.reload()


def test_a_device_cannot_publish_as_another_device(secured):
    broker, _store, pw = secured
    forged = [(f"{P}/readings/aq-2", {"values": {"pm25": 999}}),  # as aq-2
              (f"{P}/status/aq-2", "offline"),
              (f"{P}/camera/aq-2/events", {"event_id": "e", "type": "fire", "confidence": 1, "state": "start"}),
              (f"{P}/events/410204/410204001001001/fire", {"forged": True}),  # outbound: the gateway's
              (f"{P}/claim/aq-1/reply", {"password": "mine"})]  # it may read its claim reply, not write it
    with LoggedIn(broker, "gridtwin-gateway", pw["gridtwin-gateway"]) as gateway:
        gateway.subscribe("#")
        for n, (topic, payload) in enumerate(forged):
            # Mosquitto 2.0 drops the connection of a client whose publish it denied: one login each.
            with LoggedIn(broker, "aq-1", pw["aq-1"], client_id=f"aq-1-{n}") as device:
                device.publish(topic, payload, qos=0)
        time.sleep(0.3)  # all handled (and denied) before the next login even connects
        with LoggedIn(broker, "aq-1", pw["aq-1"], client_id="aq-1") as device:
            device.publish(f"{P}/readings/aq-1", {"values": {"pm25": 12}})  # its own: delivered
            assert gateway.wait_for(f"{P}/readings/aq-1") == b'{"values":{"pm25":12}}'
        assert gateway.topics() == [f"{P}/readings/aq-1"]


def test_a_device_cannot_read_another_devices_topics(secured):
    broker, _store, pw = secured
    with LoggedIn(broker, "aq-1", pw["aq-1"], client_id="aq-1") as spy, \
            LoggedIn(broker, "aq-2", pw["aq-2"], client_id="aq-2") as victim, \
            LoggedIn(broker, "gridtwin-gateway", pw["gridtwin-gateway"]) as gateway:
        spy.subscribe(f"{P}/readings/aq-2")
        spy.subscribe(f"{P}/claim/aq-2/reply")
        spy.subscribe("#")
        victim.publish(f"{P}/readings/aq-2", {"values": {"pm25": 30}})
        gateway.publish(f"{P}/claim/aq-2/reply", {"password": "aq-2's secret"})
        gateway.publish(f"{P}/cells/410204/410204001001001/state", {"level": "normal"})
        gateway.publish(f"{P}/claim/aq-1/reply", {"hello": "aq-1"})  # the one topic aq-1 may read
        assert spy.wait_for(f"{P}/claim/aq-1/reply") == b'{"hello":"aq-1"}'
        assert spy.topics() == [f"{P}/claim/aq-1/reply"]


def test_the_web_app_reads_state_events_and_cases_and_publishes_nothing(secured):
    broker, _store, pw = secured
    with LoggedIn(broker, "gridtwin-web", pw["gridtwin-web"]) as web, \
            LoggedIn(broker, "gridtwin-gateway", pw["gridtwin-gateway"]) as gateway:
        for topic_filter in (f"{P}/cells/+/+/state", f"{P}/events/#", f"{P}/cases/#",  # the live feed's
                             f"{P}/#", f"{P}/readings/#"):  # wider than its ACL: nothing more arrives
            web.subscribe(topic_filter)
        gateway.subscribe(f"{P}/#")
        # A denied publish makes Mosquitto 2.0 drop a paho connection: forge from a second login.
        with LoggedIn(broker, "gridtwin-web", pw["gridtwin-web"]) as forger:
            forger.publish(f"{P}/cases/410204/C-20261129-0001", {"forged": True}, qos=0)
        time.sleep(0.3)  # handled (and denied) before the gateway's messages below are even sent
        with LoggedIn(broker, "aq-2", pw["aq-2"], client_id="aq-2") as device:
            device.publish(f"{P}/readings/aq-2", {"values": {"pm25": 3}})  # readings are not the web app's
        for topic in (f"{P}/cases/410204/C-1", f"{P}/events/410204/410204001001001/fire",
                      f"{P}/cells/410204/410204001001001/state"):
            gateway.publish(topic, {"n": 1})
        assert web.wait_for(f"{P}/cells/410204/410204001001001/state")
        assert list(dict.fromkeys(web.topics())) == [f"{P}/cases/410204/C-1", f"{P}/events/410204/410204001001001/fire",
                                f"{P}/cells/410204/410204001001001/state"]
        assert gateway.wait_for(f"{P}/cells/410204/410204001001001/state")
        assert f"{P}/cases/410204/C-20261129-0001" not in gateway.topics()
        assert f"{P}/readings/aq-2" in gateway.topics()


@pytest.mark.parametrize("username, password", [
    ("aq-1", "not-its-password"),  # a wrong password
    ("aq-3", "anything"),  # a user the store never issued
    (None, None),  # anonymous
])
def test_unknown_wrong_and_anonymous_logins_are_refused(secured, username, password):
    broker, _store, _pw = secured
    with pytest.raises(Refused):
        LoggedIn(broker, username, password)


def test_a_revoked_credential_is_refused_after_the_files_are_written_again(secured, tmp_path):
    broker, store, pw = secured
    assert not refused(broker, "aq-1", pw["aq-1"])
    assert revoke_device_credentials(store, "aq-1", now=time.time()) == ["aq-1"]
    assert not refused(broker, "aq-1", pw["aq-1"])  # the broker does not know yet
    regenerate(broker, store, tmp_path)
    wait_refused(broker, "aq-1", pw["aq-1"])
    assert not refused(broker, "aq-2", pw["aq-2"])  # the others are untouched


def test_a_rotated_password_replaces_the_old_one(secured, tmp_path):
    broker, store, pw = secured
    _account, new = issue_device_credentials(store, "aq-2", now=time.time(), rotate=True)
    assert new != pw["aq-2"]
    regenerate(broker, store, tmp_path)
    wait_refused(broker, "aq-2", pw["aq-2"])
    assert not refused(broker, "aq-2", new)
