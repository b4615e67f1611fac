"""Tasmota: tele/{topic}/SENSOR with nested driver keys, TempUnit, local Time; LWT Online/Offline."""

import pytest

from gateway.adapters import IGNORE, TasmotaAdapter
from gateway.deadletters import Reason
from tests.gateway.adapters.common import NOW, decode, make, only, reasons
from twin.errors import ConfigError

TASMOTA = make(TasmotaAdapter, {"timezone": "+08:00"})  # devices set to China Standard Time (Timezone 8)


def test_driver_objects_and_local_time():
    payload = {"Time": "2026-11-29T16:00:00", "BME280": {"Temperature": 6.4, "Humidity": 77.3, "DewPoint": 2.7,
                                                         "Pressure": 1021.4},
               "SDS0X1": {"PM2.5": 41.2, "PM10": 68.9}, "PressureUnit": "hPa", "TempUnit": "C"}
    obs = only(decode(TASMOTA, "tele/tasmota_5C1E7A/SENSOR", payload))
    assert obs.device_id == "tasmota-tasmota_5c1e7a"
    assert obs.ts == NOW  # 16:00 at UTC+8
    assert obs.values == {"temperature_c": 6.4, "humidity_pct": 77.3, "pm25": 41.2, "pm10": 68.9}


def test_fahrenheit_and_several_probes():
    payload = {"Time": "2026-11-29T16:00:00+08:00",  # SetOption52 1: the offset is in the time
               "DS18B20-1": {"Id": "01131B5D1EAA", "Temperature": 50.0},
               "DS18B20-2": {"Id": "01131B5D7F20", "Temperature": 51.8}, "TempUnit": "F"}
    obs = only(decode(make(TasmotaAdapter), "tele/boiler/SENSOR", payload))
    assert obs.values == {"temperature_c": 10.0}  # the first probe; one value per metric and time
    assert obs.ts == NOW


def test_pms5003_keys_and_older_time_format():
    payload = {"Time": "2026.11.29 16:00:00", "PMS5003": {"CF1": 12, "CF2.5": 20, "CF10": 22, "PM1": 11, "PM2.5": 18,
                                                          "PM10": 21, "PB0.3": 2430}}
    assert only(decode(TASMOTA, "tele/air-1/SENSOR", payload)).values == {"pm25": 18.0, "pm10": 21.0}


def test_switch_only_telemetry_makes_nothing():
    out = decode(TASMOTA, "tele/plug/SENSOR", {"Time": "2026-11-29T16:00:00", "Switch1": "ON"})
    assert not out.observations and not out.rejections


@pytest.mark.parametrize("payload, online", [(b"Online", True), (b"Offline", False), (b"online", True)])
def test_lwt(payload, online):
    (status,) = decode(TASMOTA, "tele/air-1/LWT", payload).statuses
    assert (status.device_id, status.online) == ("tasmota-air-1", online)


def test_other_telemetry_is_ignored_and_other_trees_not_claimed():
    assert TASMOTA.match("tele/air-1/STATE").kind == IGNORE
    assert TASMOTA.match("tele/air-1/INFO1").kind == IGNORE
    assert TASMOTA.match("stat/air-1/RESULT") is None
    assert TASMOTA.filters == ("tele/+/SENSOR", "tele/+/LWT")


def test_custom_full_topic():
    adapter = make(TasmotaAdapter, {"full_topic": "kaifeng/%prefix%/%topic%/"})
    assert adapter.filters == ("kaifeng/tele/+/SENSOR", "kaifeng/tele/+/LWT")
    obs = only(decode(adapter, "kaifeng/tele/bin-12/SENSOR", {"HCSR04": {"Distance": 41.5}, "VL53L0X": {},
                                                              "Fill": {"Level": 64}}))
    assert obs.device_id == "tasmota-bin-12" and obs.values == {"bin_fill_pct": 64.0}


@pytest.mark.parametrize("payload, reason", [
    (b"{\"Time\": ", Reason.MALFORMED_JSON),
    (b"[]", Reason.SCHEMA),
    ({"Time": "Sunday", "SI7021": {"Temperature": 20}}, Reason.SCHEMA),
    ({"Time": "2026-11-29T16:00:00", "SI7021": {"Temperature": "--"}}, Reason.SCHEMA),
    ({"Time": "2026-11-29T16:00:00", "SI7021": {"Temperature": 20}, "TempUnit": "R"}, Reason.SCHEMA),
])
def test_malformed_telemetry_is_rejected(payload, reason):
    assert reasons(decode(TASMOTA, "tele/air-1/SENSOR", payload)) == [reason]


def test_naive_times_need_a_time_zone_unless_utc():
    payload = {"Time": "2026-11-29T08:00:00", "SI7021": {"Temperature": 20}}
    assert only(decode(make(TasmotaAdapter), "tele/air-1/SENSOR", payload)).ts == NOW  # the default zone is UTC
    assert reasons(decode(TASMOTA, "tele/air-1/LWT", b"Rebooting")) == [Reason.SCHEMA]


@pytest.mark.parametrize("options", [{"full_topic": "tasmota/%prefix%/"}, {"timezone": "Mars/Olympus"}])
def test_bad_options(options):
    with pytest.raises(ConfigError):
        make(TasmotaAdapter, options)


def test_the_chips_own_temperature_is_not_the_airs():
    payload = {"Time": "2026-11-29T16:00:00", "ESP32": {"Temperature": 47.2}, "AM2301": {"Temperature": 5.1}}
    assert only(decode(TASMOTA, "tele/air-1/SENSOR", payload)).values == {"temperature_c": 5.1}
