"""Why a device is silent: `diagnose` over every situation of the table in twin/devices/health.py, and
`health_of` on a real store."""

from __future__ import annotations

import dataclasses

import pytest

from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.devices.health import DeviceVitals, Vitals, diagnose, health_of
from twin.devices.mqttaccounts import AccountKind, MqttAccount
from twin.sensing.readings import DeadLetter
from twin.store import open_store

NOW = 1_795_939_200.0
DEVICE = Device("aq-1", DeviceKind.SENSOR, 34.79, 114.33, cell_code="410204001001001", registered_at=NOW - 86400)


def vitals(at=NOW - 60, skew=0.2, battery=0.8, **kw) -> DeviceVitals:
    return DeviceVitals("aq-1", at, battery, kw.get("rssi"), kw.get("snr"), kw.get("linkquality"), skew, 120, 60.0)


def account(created=NOW - 7200, applied=NOW - 7000, revoked=None) -> MqttAccount:
    return MqttAccount("aq-1", AccountKind.DEVICE, "aq-1", "$7$...", created, revoked_at=revoked, applied_at=applied)


CASES = [
    # heard a minute ago: fine
    ("ok", dict(last_seen=NOW - 60), vitals(), {}, account()),
    # disabled on purpose, whatever it sends
    ("disabled", dict(status=DeviceStatus.DISABLED, last_seen=NOW - 60), vitals(), {}, account()),
    # seen through an adapter, not placed
    ("pending", dict(status=DeviceStatus.PENDING, cell_code=None, lat=None, lon=None), vitals(), {}, None),
    # never heard, nothing refused, no credentials: it never connected
    ("never_connected", {}, None, {}, None),
    # its credentials are older than the password file: it could connect, it never did
    ("never_connected", {}, None, {}, account()),
    # said goodbye (last will) ten minutes ago
    ("offline", dict(status=DeviceStatus.OFFLINE, last_seen=NOW - 600), vitals(at=NOW - 600), {}, account()),
    # silent for an hour without a word
    ("offline", dict(last_seen=NOW - 3600), vitals(at=NOW - 3600), {}, account()),
    # its messages since it was last accepted were refused for their timestamps
    ("stale_clock", dict(last_seen=NOW - 3000), vitals(at=NOW - 3000),
     {"stale_timestamp": (40, NOW - 30)}, account()),
    # accepted, but its clock is five minutes ahead
    ("stale_clock", dict(last_seen=NOW - 30), vitals(at=NOW - 30, skew=300.0), {}, account()),
    # its latest messages were refused for their shape
    ("rejected_payloads", dict(last_seen=NOW - 3000), vitals(at=NOW - 3000), {"schema": (12, NOW - 20)}, account()),
    # refusals before its last accepted message are history, not the reason for anything
    ("ok", dict(last_seen=NOW - 10), vitals(at=NOW - 10), {"schema": (12, NOW - 20)}, account()),
    # refusals from yesterday do not explain today's silence
    ("offline", dict(last_seen=NOW - 90000), vitals(at=NOW - 90000), {"schema": (3, NOW - 86000)},
     account(created=NOW - 100000, applied=NOW - 99000)),
    # revoked after it was last heard: the broker refuses it
    ("refused_credentials", dict(last_seen=NOW - 3600), vitals(at=NOW - 3600), {},
     account(revoked=NOW - 1800)),
    # issued after the broker's password file was written
    ("refused_credentials", {}, None, {}, account(created=NOW - 600, applied=NOW - 7000)),
    # never written into a password file at all
    ("refused_credentials", {}, None, {}, account(applied=None)),
    # rotated (and applied) after it was last heard: it still uses the old password
    ("refused_credentials", dict(last_seen=NOW - 3600), vitals(at=NOW - 3600), {},
     account(created=NOW - 1800, applied=NOW - 1700)),
    # rotated while it keeps talking: it has the new one
    ("ok", dict(last_seen=NOW - 5), vitals(at=NOW - 5), {}, account(created=NOW - 1800, applied=NOW - 1700)),
]


@pytest.mark.parametrize("expected, changes, found, letters, credentials", CASES)
def test_diagnosis(expected, changes, found, letters, credentials):
    device = dataclasses.replace(DEVICE, **changes)
    health = diagnose(device, found, letters, credentials, NOW)
    assert health.diagnosis == expected, health.message
    assert "aq-1" in health.message
    # Silent: nothing accepted for 15 minutes (a device that said goodbye a moment ago is not, yet).
    last = found.last_message_at if found else None
    assert health.silent == (last is None or NOW - last > 900)


def test_health_json_carries_the_figures():
    health = diagnose(dataclasses.replace(DEVICE, last_seen=NOW - 60), vitals(rssi=-97.0, snr=6.5), {"schema": (2, NOW - 9000)},
                      account(), NOW).to_json()
    assert health["battery"] == 0.8 and health["signal"] == {"rssi": -97.0, "snr": 6.5, "linkquality": None}
    assert (health["messages_last_hour"], health["message_rate_per_min"]) == (60, 1.0)
    assert health["dead_letters"] == {"schema": 2} and health["credentials"]["state"] == "active"
    assert diagnose(DEVICE, None, {}, None, NOW).to_json()["signal"] is None


def test_health_of_reads_the_store(tmp_path):
    with open_store(f"sqlite:///{tmp_path}/t.db") as store:
        store.migrate()
        store.put_devices([DEVICE])
        assert health_of(store, DEVICE, NOW).diagnosis == "never_connected"
        store.record_vitals([Vitals("aq-1", NOW - 100, 5, battery=0.4)])
        assert health_of(store, DEVICE, NOW).diagnosis == "ok"
        store.write_dead_letters([DeadLetter("future_timestamp", "t", b"{}", NOW - 10, "aq-1")])
        health = health_of(store, DEVICE, NOW)
        assert health.diagnosis == "stale_clock" and "ahead" in health.message
        assert health.details["battery"] == 0.4
        # A reporter named like the device is not the device's account.
        store.put_mqtt_account(MqttAccount("aq-1", AccountKind.REPORTER, "aq-1", "$7$...", NOW, revoked_at=NOW))
        assert health_of(store, DEVICE, NOW).details["credentials"] is None
