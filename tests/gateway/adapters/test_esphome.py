"""ESPHome: plain-text sensor states mapped by object id, binary sensors, node status."""

import pytest

from gateway.adapters import IGNORE, EsphomeAdapter
from gateway.deadletters import Reason
from tests.gateway.adapters.common import decode, make, only, reasons

ESPHOME = make(EsphomeAdapter, {"fields": {"tank": {"metric": "water_level_cm", "unit": "m"}, "db_meter": "noise_db"}})


@pytest.mark.parametrize("object_id, state, values", [
    ("outdoor_temperature", "4.8", {"temperature_c": 4.8}),  # by name, in the metric's unit
    ("pm_2_5", "35", {"pm25": 35.0}),  # ESPHome's object id of "PM 2.5"
    ("relative_humidity", "80.12", {"humidity_pct": 80.12}),
    ("tank", "0.42", {"water_level_cm": 42.0}),  # configured, with a unit
    ("db_meter", "66.1", {"noise_db": 66.1}),
])
def test_sensor_states(object_id, state, values):
    obs = only(decode(ESPHOME, f"pump-station-2/sensor/{object_id}/state", state))
    assert obs.device_id == "esphome-pump-station-2" and obs.values == values and obs.ts is None


def test_binary_sensor_states():
    assert only(decode(ESPHOME, "kiosk/binary_sensor/smoke/state", "ON")).values == {"smoke": True}
    assert only(decode(ESPHOME, "kiosk/binary_sensor/smoke/state", "OFF")).values == {"smoke": False}


@pytest.mark.parametrize("state", ["nan", "", "unknown"])
def test_no_reading_yet_is_not_an_error(state):
    out = decode(ESPHOME, "kiosk/sensor/temperature/state", state)
    assert not out.observations and not out.rejections


def test_unmapped_sensors_are_dropped_quietly():
    for object_id in ("wifi_signal", "uptime", "cpu_temperature"):
        out = decode(ESPHOME, f"kiosk/sensor/{object_id}/state", "-61")
        assert not out.observations and not out.rejections


@pytest.mark.parametrize("payload, online", [(b"online", True), (b"offline", False)])
def test_status(payload, online):
    (status,) = decode(ESPHOME, "kiosk/status", payload).statuses
    assert (status.device_id, status.online) == ("esphome-kiosk", online)


def test_home_assistants_birth_message_is_not_a_node():
    assert ESPHOME.match("homeassistant/status").kind == IGNORE


def test_multi_level_prefixes():
    adapter = make(EsphomeAdapter, {"topic_prefixes": ["esphome/+"]})
    assert "esphome/+/sensor/+/state" in adapter.filters
    assert only(decode(adapter, "esphome/kiosk-3/sensor/temperature/state", "7")).device_id == "esphome-esphome-kiosk-3"
    assert adapter.match("kiosk/sensor/temperature/state") is None


@pytest.mark.parametrize("topic, payload", [
    ("kiosk/sensor/temperature/state", "warm"),
    ("kiosk/binary_sensor/smoke/state", "MAYBE"),
    ("kiosk/status", "rebooting"),
])
def test_bad_states_are_rejected(topic, payload):
    assert reasons(decode(ESPHOME, topic, payload)) == [Reason.SCHEMA]


def test_non_utf8_is_malformed():
    assert reasons(decode(ESPHOME, "kiosk/sensor/temperature/state", b"\xff\xfe")) == [Reason.MALFORMED_JSON]
