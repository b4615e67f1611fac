"""Zigbee2MQTT: device state JSON under friendly names with '/', both availability forms, bridge and commands ignored."""

import pytest

from gateway.adapters import IGNORE, Zigbee2MqttAdapter
from gateway.deadletters import Reason
from tests.gateway.adapters.common import NOW, decode, make, only, reasons

Z2M = make(Zigbee2MqttAdapter)


def test_state_of_a_device_named_with_slashes():
    # A temperature/humidity sensor as Zigbee2MQTT publishes it with `advanced.last_seen: ISO_8601`.
    payload = {"temperature": 23.41, "humidity": 51.2, "pressure": 1008.1, "battery": 91, "voltage": 2995,
               "linkquality": 134, "last_seen": "2026-11-29T07:59:58.120Z"}
    obs = only(decode(Z2M, "zigbee2mqtt/street 3/bin-corner/th", payload))
    assert obs.device_id == "z2m-street-3-bin-corner-th"
    assert obs.values == {"temperature_c": 23.41, "humidity_pct": 51.2}
    assert obs.ts == pytest.approx(NOW - 1.88)
    assert obs.battery == pytest.approx(0.91)


@pytest.mark.parametrize("last_seen, expected", [
    ("2026-11-29T16:00:00+08:00", NOW),  # ISO_8601_local
    (1795939200000, NOW),  # epoch: milliseconds
    (None, None),  # last_seen disabled: the receive time is used
])
def test_last_seen_forms(last_seen, expected):
    payload = {"smoke": True, "battery_low": False}
    if last_seen is not None:
        payload["last_seen"] = last_seen
    obs = only(decode(Z2M, "zigbee2mqtt/0x00158d00045a1b2c", payload))
    assert obs.device_id == "z2m-0x00158d00045a1b2c"
    assert obs.values == {"smoke": True} and obs.ts == expected


@pytest.mark.parametrize("payload, online", [
    (b"online", True), (b"offline", False),  # legacy availability payloads
    (b'{"state":"online"}', True), (b'{"state":"offline"}', False),  # JSON availability (Zigbee2MQTT 1.x late, 2.x)
])
def test_availability_plain_and_json(payload, online):
    out = decode(Z2M, "zigbee2mqtt/kitchen/th/availability", payload)
    (status,) = out.statuses
    assert (status.device_id, status.online) == ("z2m-kitchen-th", online) and not out.rejections


@pytest.mark.parametrize("topic", [
    "zigbee2mqtt/bridge/state", "zigbee2mqtt/bridge/devices", "zigbee2mqtt/bridge/response/permit_join",
    "zigbee2mqtt/lamp/set", "zigbee2mqtt/lamp/set/state", "zigbee2mqtt/kitchen/lamp/get",
])
def test_bridge_and_command_topics_are_ignored(topic):
    assert Z2M.match(topic).kind == IGNORE


def test_other_base_topics_are_not_claimed():
    assert Z2M.match("zigbee2mqttx/a") is None and Z2M.match("tele/a/SENSOR") is None
    custom = make(Zigbee2MqttAdapter, {"base_topic": "z2m/site-4"})
    assert custom.filters == ("z2m/site-4/#",)
    assert only(decode(custom, "z2m/site-4/door", {"temperature": 20})).device_id == "z2m-door"


def test_switches_and_buttons_map_to_nothing_quietly():
    out = decode(Z2M, "zigbee2mqtt/button", {"action": "single", "linkquality": 90})
    assert not out.observations and not out.rejections


def test_numeric_strings_of_older_bridges_are_read():
    assert only(decode(Z2M, "zigbee2mqtt/old", {"temperature": "19.50", "battery": "100.00"})).values == {
        "temperature_c": 19.5}


@pytest.mark.parametrize("payload, reason", [
    (b'{"temperature": 21', Reason.MALFORMED_JSON),  # cut short
    (b"[1, 2]", Reason.SCHEMA),  # not an object
    ({"temperature": "warm"}, Reason.SCHEMA),  # not a number
    ({"temperature": 21, "last_seen": "yesterday"}, Reason.SCHEMA),  # not a time
])
def test_malformed_states_are_rejected(payload, reason):
    out = decode(Z2M, "zigbee2mqtt/th", payload)
    assert reasons(out) == [reason] and out.rejections[0].device_id == "z2m-th"


@pytest.mark.parametrize("payload", [b"maybe", b'{"state": "sleepy"}', b"[]"])
def test_bad_availability_is_rejected(payload):
    assert reasons(decode(Z2M, "zigbee2mqtt/th/availability", payload)) == [Reason.SCHEMA]


def test_a_device_named_in_another_script_is_read():
    """Regression: a friendly name of which the id's slug keeps nothing (温湿度传感器) was ignored, and its
    readings lost without a dead letter; its hash names it now, and the name itself describes it."""
    adapter = make(Zigbee2MqttAdapter)
    obs = only(decode(adapter, "zigbee2mqtt/温湿度传感器", {"temperature": 6.5}))
    assert obs.device_id.startswith("z2m-x") and obs.values == {"temperature_c": 6.5}
    assert adapter.describe(obs.device_id)["name"] == "温湿度传感器"
    other = only(decode(adapter, "zigbee2mqtt/东门", {"temperature": 7.0}))
    assert other.device_id != obs.device_id
    assert adapter.match("zigbee2mqtt/////").kind == IGNORE  # still nothing to name: no letter or digit
