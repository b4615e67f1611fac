"""The native adapter: contract payloads decode, bad ones are rejected with the right reason."""

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.adapters.native import NativeAdapter, parse_ts
from gateway.deadletters import Reason
from gateway.messages import Decoded
from mqttwire.packets import Inbound
from mqttwire.topics import Topics

T = Topics()


def decode(topic: str, payload) -> Decoded:
    if not isinstance(payload, bytes):
        payload = orjson.dumps(payload)
    out = Decoded()
    NativeAdapter(max_batch_readings=1000).decode(Inbound(topic, payload, 1000.0), T.route(topic), out)
    return out


CONTRACT_READING = {
    "ts": "2026-11-29T08:00:00.123Z", "seq": 1042, "values": {"pm25": 35.2, "noise_db": 61.0},
    "battery": 0.82, "loc": {"lat": 34.7972, "lon": 114.3076},
}


def test_contract_example_decodes():
    out = decode(T.readings("aq-1"), CONTRACT_READING)
    assert not out.rejections
    (obs,) = out.observations
    assert obs.ts == pytest.approx(1795939200.123)
    assert obs.seq == 1042 and obs.battery == 0.82
    assert (obs.lat, obs.lon) == (34.7972, 114.3076)
    assert obs.values == {"pm25": 35.2, "noise_db": 61.0}


def test_array_keeps_good_items_and_rejects_bad_ones():
    items = [dict(CONTRACT_READING, seq=i) for i in range(5)]
    items[2] = {"seq": 2, "values": "nope"}
    out = decode(T.readings("aq-1"), items)
    assert [o.seq for o in out.observations] == [0, 1, 3, 4]
    (rej,) = out.rejections
    assert rej.reason == Reason.SCHEMA and rej.detail.startswith("item 2:")
    assert orjson.loads(rej.payload) == items[2]  # exactly the refused item, not the whole array


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"{not json", Reason.MALFORMED_JSON),
        (b"\xff\xfe{}", Reason.MALFORMED_JSON),  # invalid UTF-8
        (b'{"values": {"pm25": NaN}}', Reason.MALFORMED_JSON),  # NaN is not JSON
        ({"values": {}}, Reason.SCHEMA),  # no values
        ({"values": {"pm25": 1}, "seq": -1}, Reason.SCHEMA),  # negative seq
        ({"values": {"pm25": 1}, "seq": True}, Reason.SCHEMA),  # boolean seq
        ({"values": {"pm25": 1}, "battery": 1.5}, Reason.SCHEMA),  # battery over 1
        ({"values": {"pm25": 1}, "ts": "yesterday"}, Reason.SCHEMA),  # not RFC 3339
        ({"values": {"pm25": 1}, "ts": "2026-11-29T08:00:00"}, Reason.SCHEMA),  # no offset
        ({"values": {"pm25": 1}, "loc": {"lat": 91, "lon": 0}}, Reason.OUT_OF_AREA),  # outside WGS84
        ({"values": {"pm25": 1}, "loc": {"lat": "x", "lon": 0}}, Reason.SCHEMA),
        ([], Reason.SCHEMA),  # empty array
        ([{"values": {"pm25": 1}}] * 1001, Reason.OVERSIZED),  # over the array limit
        (42, Reason.SCHEMA),  # not an object
    ],
)
def test_rejections(payload, reason):
    out = decode(T.readings("aq-1"), payload)
    assert not out.observations
    assert [r.reason for r in out.rejections] == [reason]
    assert all(r.device_id == "aq-1" for r in out.rejections)


def test_camera_event_decodes_and_validates():
    good = {"ts": 1795939200, "event_id": "e1", "type": "fire", "confidence": 0.91, "state": "start",
            "zone": "north_gate", "snapshot_url": "http://cam/1.jpg"}
    out = decode(T.camera_events("cam-1"), good)
    (cam,) = out.camera
    assert (cam.type, cam.state, cam.confidence, cam.zone) == ("fire", "start", 0.91, "north_gate")
    for bad in (
        dict(good, state="middle"),
        dict(good, confidence=2),
        dict(good, event_id=""),
        dict(good, type="fire/smoke"),  # would break the event topic's levels
        dict(good, type="fire+"),  # a wildcard cannot be published
    ):
        out = decode(T.camera_events("cam-1"), bad)
        assert [r.reason for r in out.rejections] == [Reason.SCHEMA]


def test_status_messages():
    out = decode(T.status("aq-1"), b"online")
    assert out.statuses[0].online is True
    assert decode(T.status("aq-1"), b"offline").statuses[0].online is False
    assert decode(T.status("aq-1"), b"maybe").rejections[0].reason == Reason.SCHEMA


def test_parse_ts_forms():
    assert parse_ts("2026-11-29T16:00:00.123+08:00") == pytest.approx(1795939200.123)
    assert parse_ts(1795939200.5) == 1795939200.5
    assert parse_ts(None) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_any_json_is_decoded_or_rejected_never_raises(doc):
    payload = orjson.dumps(doc)
    out = decode(T.readings("aq-1"), payload)
    assert out.observations or out.rejections
    for obs in out.observations:
        assert obs.values and isinstance(obs.values, dict)
        assert obs.ts is None or math.isfinite(obs.ts)


@given(st.binary(max_size=200))
def test_any_bytes_are_decoded_or_rejected_never_raise(payload):
    out = decode(T.readings("aq-1"), payload)
    assert out.observations or out.rejections


def test_array_item_nested_deeper_than_orjson_writes_is_decoded():
    """Regression: orjson reads 1,024 levels but writes 255; re-encoding such an item for its dead letters
    raised and stopped the gateway. The item is decoded, and keeps the whole payload as its raw JSON."""
    payload = b'[{"extra":' + b"[" * 600 + b"]" * 600 + b',"values":{"pm25":12.5},"ts":1000.0}, {"values":[]}]'
    out = decode(T.readings("aq-1"), payload)
    (obs,) = out.observations
    assert obs.values == {"pm25": 12.5} and obs.raw == payload
    (rejection,) = out.rejections
    assert rejection.reason == Reason.SCHEMA and rejection.payload == b'{"values":[]}'


@pytest.mark.parametrize("field, value", [
    ("event_id", "e\u0000x"),  # NUL: PostgreSQL text cannot hold it, and the batch's write failed for ever
    ("zone", "gate\u0001"),  # a C0 control character
    ("snapshot_url", "http://nvr/\u009b.jpg"),  # a C1 control character
])
def test_camera_text_with_control_characters_is_refused(field, value):
    event = {"ts": 1000.0, "event_id": "e-1", "type": "crowding", "confidence": 0.9, "state": "start", field: value}
    out = decode(T.camera_events("cam-1"), event)
    assert not out.camera
    (rejection,) = out.rejections
    assert rejection.reason == Reason.SCHEMA and "control characters" in rejection.detail
