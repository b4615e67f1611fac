"""Alibaba Cloud IoT Alink JSON: property post with and without value/time, batch, gateway pack and history posts."""

import pytest

from gateway.adapters import IGNORE, AlinkAdapter
from gateway.deadletters import Reason
from tests.gateway.adapters.common import NOW, decode, make, only, reasons

ALINK = make(AlinkAdapter)
MS = int(NOW * 1000)
BASE = "/sys/a1Kf3Xq9Hj2/noise-kf-017/thing/event"


def request(method: str, params) -> dict:
    return {"id": "1542", "version": "1.0", "sys": {"ack": 0}, "params": params, "method": method}


def test_property_post_with_value_and_time():
    doc = request("thing.event.property.post", {
        "NoiseValue": {"value": 63.5, "time": MS}, "CurrentTemperature": {"value": 4.0, "time": MS},
        "PowerSwitch": {"value": 1, "time": MS}})
    obs = only(decode(ALINK, f"{BASE}/property/post", doc))
    assert obs.device_id == "alink-a1kf3xq9hj2-noise-kf-017"
    assert obs.values == {"noise_db": 63.5, "temperature_c": 4.0} and obs.ts == NOW


def test_property_post_with_plain_values():
    obs = only(decode(ALINK, f"{BASE}/property/post",
                      request("thing.event.property.post", {"PM25": 57, "PM10": 88.0, "CurrentHumidity": 61})))
    assert obs.values == {"pm25": 57.0, "pm10": 88.0, "humidity_pct": 61.0} and obs.ts is None


def test_batch_post_lists_values_per_time():
    doc = request("thing.event.property.batch.post", {
        "properties": {"PM25": [{"value": 40, "time": MS}, {"value": 44, "time": MS + 60_000}],
                       "CurrentTemperature": [{"value": 3.5, "time": MS + 60_000}]},
        "events": {"alarmEvent": [{"value": {"Level": 2}, "time": MS}]}})
    out = decode(ALINK, f"{BASE}/property/batch/post", doc)
    assert not out.rejections
    assert [(o.ts, o.values) for o in out.observations] == [
        (NOW, {"pm25": 40.0}), (NOW + 60, {"pm25": 44.0, "temperature_c": 3.5})]


def test_gateway_pack_post_with_sub_devices():
    doc = request("thing.event.property.pack.post", {
        "properties": {"CurrentTemperature": {"value": 2.5, "time": MS}},
        "events": {},
        "subDevices": [
            {"identity": {"productKey": "a1WtR8sJ0bZ", "deviceName": "well-03"},
             "properties": {"WaterLevel": {"value": 12.5, "time": MS}}, "events": {}},
            {"identity": {"productKey": "a1WtR8sJ0bZ", "deviceName": "well-04"},
             "properties": {"WaterLevel": {"value": 0.0, "time": MS}}},
        ]})
    out = decode(ALINK, "/sys/a1Kf3Xq9Hj2/gw-east/thing/event/property/pack/post", doc)
    assert [(o.device_id, o.values) for o in out.observations] == [
        ("alink-a1kf3xq9hj2-gw-east", {"temperature_c": 2.5}),
        ("alink-a1wtr8sj0bz-well-03", {"water_level_cm": 12.5}),
        ("alink-a1wtr8sj0bz-well-04", {"water_level_cm": 0.0}),
    ]


def test_history_post():
    doc = request("thing.event.property.history.post", [
        {"identity": {"productKey": "a1Kf3Xq9Hj2", "deviceName": "noise-kf-017"},
         "properties": [{"NoiseValue": {"value": 55, "time": MS - 3600_000}},
                        {"NoiseValue": {"value": 57, "time": MS - 1800_000}}]}])
    out = decode(ALINK, f"{BASE}/property/history/post", doc)
    assert [(o.ts, o.values) for o in out.observations] == [(NOW - 3600, {"noise_db": 55.0}),
                                                            (NOW - 1800, {"noise_db": 57.0})]


def test_module_identifiers_and_geolocation():
    doc = request("thing.event.property.post", {
        "env:PM25": {"value": 31, "time": MS},
        "GeoLocation": {"value": {"Longitude": 114.3361, "Latitude": 34.7955, "Altitude": 70, "CoordinateSystem": 1},
                        "time": MS}})
    obs = only(decode(ALINK, f"{BASE}/property/post", doc))
    assert obs.values == {"pm25": 31.0} and (obs.lat, obs.lon) == (34.7955, 114.3361)


def test_replies_events_and_services_are_ignored():
    for topic in (f"{BASE}/property/post_reply", f"{BASE}/alarmEvent/post",
                  "/sys/a1Kf3Xq9Hj2/noise-kf-017/thing/service/property/set"):
        assert ALINK.match(topic).kind == IGNORE
    assert ALINK.match("/ota/device/inform/a1Kf3Xq9Hj2/noise-kf-017") is None


@pytest.mark.parametrize("topic, payload, reason", [
    ("property/post", b"{\"params\": ", Reason.MALFORMED_JSON),
    ("property/post", {"id": "1", "version": "1.0"}, Reason.SCHEMA),  # no params
    ("property/post", request("thing.event.property.post", [1, 2]), Reason.SCHEMA),
    ("property/post", request("thing.event.property.post", {"PM25": {"value": 3, "time": "noon"}}), Reason.SCHEMA),
    ("property/post", request("thing.event.property.post", {"PM25": {"value": "lots", "time": MS}}), Reason.SCHEMA),
    ("property/post", request("thing.event.property.post", {"PowerSwitch": 1}), Reason.UNKNOWN_METRIC),
    ("property/batch/post", request("thing.event.property.batch.post", {"properties": {"PM25": 3}}), Reason.SCHEMA),
    ("property/pack/post", request("thing.event.property.pack.post", {"subDevices": [{"properties": {}}]}),
     Reason.SCHEMA),  # a sub-device without identity
    ("property/history/post", request("thing.event.property.history.post", {"identity": {}}), Reason.SCHEMA),
    ("property/post", request("thing.event.property.post", {
        "GeoLocation": {"Longitude": 114.33, "Latitude": 34.79, "CoordinateSystem": 2}, "PM25": 3}), Reason.SCHEMA),
])
def test_malformed_posts_are_rejected(topic, payload, reason):
    out = decode(ALINK, f"{BASE}/{topic}", payload)
    assert reasons(out) == [reason] and not out.observations
