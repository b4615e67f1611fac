"""The Things Stack v3 uplinks: decoded_payload, received_at, locations.user and left-out zero fields."""

import copy

import pytest

from gateway.adapters import IGNORE, TheThingsStackAdapter
from gateway.deadletters import Reason
from tests.gateway.adapters.common import NOW, decode, make, only, reasons

TTN = make(TheThingsStackAdapter)
TOPIC = "v3/kaifeng-air@ttn/devices/aq-lora-07/up"

# An uplink in the documented JSON form of The Things Stack's MQTT server.
UPLINK = {
    "end_device_ids": {
        "device_id": "aq-lora-07",
        "application_ids": {"application_id": "kaifeng-air"},
        "dev_eui": "70B3D57ED005A1B2",
        "join_eui": "0000000000000000",
        "dev_addr": "260B1A2C",
    },
    "correlation_ids": ["as:up:01J0000000000000000000000", "rpc:/ttn.lorawan.v3.GsNs/HandleUplink:01J00000000000"],
    "received_at": "2026-11-29T08:00:01.204551812Z",  # nanoseconds, as The Things Stack writes them
    "uplink_message": {
        "session_key_id": "AZN0dWx0aGVzZXNzaW9uaWQ=",
        "f_port": 2,
        "f_cnt": 4182,
        "frm_payload": "AQIDBA==",
        "decoded_payload": {"pm2_5": 38.4, "pm10": 61.0, "temperature": 11.2, "humidity": 72.5},
        "rx_metadata": [{
            "gateway_ids": {"gateway_id": "kf-gw-01", "eui": "B827EBFFFE000001"},
            "time": "2026-11-29T08:00:00.981Z", "timestamp": 2463457000, "rssi": -97, "channel_rssi": -97,
            "snr": 7.25, "uplink_token": "ChIKEAoEa2YtZ3cSCLgn6//+AAAB", "channel_index": 2,
        }],
        "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 9}}, "coding_rate": "4/5",
                     "frequency": "470300000", "timestamp": 2463457000},
        "received_at": "2026-11-29T08:00:00.998114393Z",
        "consumed_airtime": "0.185344s",
        "locations": {"user": {"latitude": 34.7953, "longitude": 114.3358, "altitude": 72, "source": "SOURCE_REGISTRY"}},
    },
}


def uplink(**changes):
    doc = copy.deepcopy(UPLINK)
    doc["uplink_message"].update(changes)
    return doc


def test_documented_uplink():
    obs = only(decode(TTN, TOPIC, UPLINK))
    assert obs.device_id == "ttn-aq-lora-07"
    assert obs.values == {"pm25": 38.4, "pm10": 61.0, "temperature_c": 11.2, "humidity_pct": 72.5}
    assert obs.ts == pytest.approx(NOW + 0.998114)  # the Network Server's received_at
    assert (obs.lat, obs.lon) == (34.7953, 114.3358)  # locations.user
    assert obs.seq == 4182


def test_left_out_zero_fields():
    doc = uplink()
    del doc["uplink_message"]["f_cnt"]  # frame 0
    doc["uplink_message"]["locations"]["user"] = {"longitude": 114.3358, "source": "SOURCE_REGISTRY"}  # latitude 0
    obs = only(decode(TTN, TOPIC, doc))
    assert obs.seq == 0 and (obs.lat, obs.lon) == (0.0, 114.3358)


def test_without_location_and_network_server_time():
    doc = uplink()
    del doc["uplink_message"]["locations"], doc["uplink_message"]["received_at"]
    obs = only(decode(TTN, TOPIC, doc))
    assert obs.lat is None and obs.ts == pytest.approx(NOW + 1.204551)  # the Application Server's received_at


def test_units_in_field_names_and_value_objects():
    doc = uplink(decoded_payload={"air": {"temperature_f": 50.0}, "water_level_m": 0.32,
                                  "noise": {"value": 64.5, "unit": "dB(A)"}, "status": "ok"})
    assert only(decode(TTN, TOPIC, doc)).values == {"temperature_c": 10.0, "water_level_cm": 32.0, "noise_db": 64.5}


def test_a_trackers_payload_position_wins_over_the_registered_one():
    doc = uplink(decoded_payload={"latitude": 34.7851, "longitude": 114.3452, "pm25": 12})
    obs = only(decode(TTN, TOPIC, doc))
    assert (obs.lat, obs.lon) == (34.7851, 114.3452) and obs.values == {"pm25": 12.0}


def test_configured_field_names():
    adapter = make(TheThingsStackAdapter, {"fields": {"lvl": {"metric": "water_level_cm", "unit": "mm"},
                                                      "db": "noise_db"}})
    obs = only(decode(adapter, TOPIC, uplink(decoded_payload={"lvl": 125, "db": 58})))
    assert obs.values == {"water_level_cm": 12.5, "noise_db": 58.0}


def test_mac_only_uplinks_and_other_events_are_dropped():
    doc = copy.deepcopy(UPLINK)
    for key in ("decoded_payload", "frm_payload", "f_port"):
        del doc["uplink_message"][key]
    out = decode(TTN, TOPIC, doc)
    assert not out.observations and not out.rejections
    for topic in ("v3/kaifeng-air@ttn/devices/aq-lora-07/join", "v3/kaifeng-air@ttn/devices/aq-lora-07/down/sent",
                  "v3/kaifeng-air/devices/aq-lora-07/service/data"):
        assert TTN.match(topic).kind == IGNORE


def test_open_source_topics_without_tenant():
    assert only(decode(TTN, "v3/kaifeng-air/devices/aq-lora-07/up", UPLINK)).device_id == "ttn-aq-lora-07"


def test_simulated_uplinks_can_be_refused():
    doc = dict(UPLINK, simulated=True)
    assert only(decode(TTN, TOPIC, doc))
    out = decode(make(TheThingsStackAdapter, {"accept_simulated": False}), TOPIC, doc)
    assert not out.observations and not out.rejections


@pytest.mark.parametrize("payload, reason", [
    (b"\x00\x01", Reason.MALFORMED_JSON),  # binary
    ({"end_device_ids": {"device_id": "aq-lora-07"}}, Reason.SCHEMA),  # no uplink_message
    (uplink(decoded_payload=None), Reason.SCHEMA),  # application data, but no payload formatter
    (uplink(decoded_payload=[1, 2]), Reason.SCHEMA),  # not an object
    (uplink(f_cnt=-1), Reason.SCHEMA),
    (uplink(received_at="yesterday"), Reason.SCHEMA),
    (uplink(locations={"user": {"latitude": 134.0, "longitude": 114.0}}), Reason.OUT_OF_AREA),
    (uplink(decoded_payload={"bytes": [1, 2, 3], "port": 2}), Reason.UNKNOWN_METRIC),  # nothing maps
    (uplink(decoded_payload={"temperature": "hot"}), Reason.SCHEMA),
])
def test_malformed_uplinks_are_rejected(payload, reason):
    out = decode(TTN, TOPIC, payload)
    assert reasons(out) == [reason] and not out.observations
    assert out.rejections[0].device_id == "ttn-aq-lora-07"


def test_filters_follow_the_applications_option():
    assert TTN.filters == ("v3/+/devices/+/up",)
    assert make(TheThingsStackAdapter, {"applications": ["a@t", "b@t"]}).filters == (
        "v3/a@t/devices/+/up", "v3/b@t/devices/+/up")
