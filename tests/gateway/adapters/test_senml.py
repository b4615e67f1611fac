"""SenML JSON (RFC 8428): base fields, relative times, names, lat/lon records and the RFC's rejection rules."""

import pytest

from gateway.adapters import SenmlAdapter
from gateway.adapters.senml import resolve
from gateway.deadletters import Reason
from tests.gateway.adapters.common import NOW, decode, make, only, reasons

SENML = make(SenmlAdapter)


def test_single_datapoint_names_its_sensor():
    # The RFC's first form: one record whose name is the sensor, with a unit from the SenML registry.
    obs = only(decode(SENML, "senml", [{"n": "urn:dev:ow:10e2073a01080063", "u": "Cel", "v": 23.1}]))
    assert obs.device_id == "senml-urn:dev:ow:10e2073a01080063"
    assert obs.values == {"temperature_c": 23.1} and obs.ts is None  # no time: "now", the receive time


def test_base_fields_times_and_position():
    pack = [
        {"bn": "urn:dev:mac:0024befffe804ff1:", "bt": NOW - 120, "bu": "Cel", "bver": 10, "n": "temp", "v": 7.5},
        {"n": "temp", "t": 60, "v": 7.25},
        {"n": "humidity", "u": "%RH", "t": 60, "v": 81},
        {"n": "lat", "u": "lat", "v": 34.7871},
        {"n": "lon", "u": "lon", "v": 114.3446},
    ]
    out = decode(SENML, "senml/kf/node-3", pack)
    assert not out.rejections
    assert [(o.device_id, o.ts, o.values) for o in out.observations] == [
        ("senml-urn:dev:mac:0024befffe804ff1", NOW - 120, {"temperature_c": 7.5}),
        ("senml-urn:dev:mac:0024befffe804ff1", NOW - 60, {"temperature_c": 7.25, "humidity_pct": 81.0}),
    ]
    assert {(o.lat, o.lon) for o in out.observations} == {(34.7871, 114.3446)}


def test_relative_times_are_relative_to_the_receive_time():
    # t below 2**28 is relative to now; t plus bt may be too.
    out = decode(SENML, "senml/node-7", [{"n": "temperature", "u": "Cel", "t": -30, "v": 20},
                                         {"bt": -10, "n": "temperature", "u": "Cel", "v": 21}], received_at=NOW)
    assert [o.ts for o in out.observations] == [NOW - 30, NOW - 10]
    assert {o.device_id for o in out.observations} == {"senml-node-7"}  # no base name: the topic names it


def test_base_value_and_unit_conversion():
    pack = [{"bn": "well-3/", "bv": 100.0, "bu": "mm", "n": "water_level", "v": -75.0, "t": 0}]
    obs = only(decode(SENML, "senml", pack))
    assert obs.device_id == "senml-well-3" and obs.values == {"water_level_cm": 2.5}


def test_boolean_and_string_values():
    pack = [{"bn": "dev-9:", "n": "smoke", "vb": True}, {"n": "noise", "vs": "58.5", "u": "dB"},
            {"n": "image", "vd": "aGVsbG8"}]
    assert only(decode(SENML, "senml", pack)).values == {"smoke": True, "noise_db": 58.5}


def test_ipso_object_names():
    pack = [{"bn": "3303/0/", "n": "5700", "u": "Cel", "v": 19.5}]
    obs = only(decode(SENML, "senml/lwm2m-client-4", pack))
    assert obs.values == {"temperature_c": 19.5} and obs.device_id == "senml-lwm2m-client-4"
    # A name must start with a letter or digit: LwM2M's "/3303/0/5700" is not valid SenML.
    assert reasons(decode(SENML, "senml/lwm2m-client-4", [{"bn": "/3303/0/", "n": "5700", "v": 1}])) == [Reason.SCHEMA]


@pytest.mark.parametrize("pack, detail", [
    ({"n": "temp", "v": 1}, "array"),  # an object, not a pack
    ([], "array"),  # empty pack
    ([{"n": "temp", "v": 1, "ct_": "60"}], "must be understood"),  # must-understand field
    ([{"bver": 11, "n": "temp", "v": 1}], "newer"),  # a version this adapter does not know
    ([{"bver": 10, "n": "a", "v": 1}, {"bver": 9, "n": "b", "v": 2}], "same SenML version"),
    ([{"u": "Cel", "v": 23.1}], "no name"),  # neither bn nor n
    ([{"n": "temp room", "v": 1}], "characters"),  # a space is not allowed in names
    ([{"n": "-temp", "v": 1}], "characters"),  # names start with a letter or digit
    ([{"n": "temp", "v": 1, "vs": "1"}], "more than one value"),
    ([{"n": "temp", "u": "Cel"}], "neither a value nor a sum"),
    ([{"n": "temp", "v": "21"}], "v must be a number"),
    ([{"n": "temp", "vb": 1}], "vb must be"),
    ([{"bn": 7, "n": "temp", "v": 1}], "bn must be a string"),
    (["record"], "not a JSON object"),
])
def test_rfc_rejections_refuse_the_whole_pack(pack, detail):
    good = {"bn": "dev-1:", "n": "temperature", "u": "Cel", "v": 20}
    out = decode(SENML, "senml/dev-1", [*pack, good] if isinstance(pack, list) and pack else pack)
    assert reasons(out) == [Reason.SCHEMA] and detail in out.rejections[0].detail
    assert not out.observations  # nothing of a refused pack is stored


def test_unknown_fields_without_underscore_are_ignored():
    assert only(decode(SENML, "senml", [{"n": "dev:temp", "u": "Cel", "v": 20, "foo": "bar"}])).values == {
        "temperature_c": 20}


def test_a_pack_of_unmapped_measurements_is_an_unknown_metric():
    out = decode(SENML, "senml", [{"bn": "urn:dev:ow:10e2073a01080063:", "n": "voltage", "u": "V", "v": 120.1},
                                  {"n": "current", "u": "A", "v": 1.2}])
    assert reasons(out) == [Reason.UNKNOWN_METRIC] and "voltage" in out.rejections[0].detail


@pytest.mark.parametrize("payload, reason", [
    (b"[{", Reason.MALFORMED_JSON),
    ([{"n": "temp", "u": "furlong", "v": 1}], Reason.SCHEMA),  # a unit that cannot be converted
    ([{"bn": "d:", "n": "temp", "v": 1}, {"n": "lat", "v": 95.0}, {"n": "lon", "v": 114.0}], Reason.OUT_OF_AREA),
])
def test_bad_values_are_rejected(payload, reason):
    assert reasons(decode(SENML, "senml/x", payload)) == [reason]


def test_resolution_keeps_absolute_times():
    (record,) = resolve([{"bt": NOW, "t": 0.5, "n": "x", "v": 1}], now=0.0)
    assert record["time"] == NOW + 0.5
