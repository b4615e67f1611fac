"""Home Assistant MQTT discovery: devices learned from config messages (abbreviated or not, per entity or per
device), their state topics decoded through simple value templates, removed by an empty config."""

import pytest

from gateway.adapters import IGNORE, HomeAssistantAdapter
from gateway.adapters.homeassistant import Template
from gateway.adapters.native import PayloadError
from gateway.deadletters import Reason
from tests.gateway.adapters.common import decode, make, only, reasons


@pytest.fixture
def ha():
    return make(HomeAssistantAdapter)


def learn(adapter, topic, config):
    out = decode(adapter, topic, config)
    assert not out.rejections and not out.observations, [r.detail for r in out.rejections]


# A multi-sensor announcing two entities on one JSON state topic, abbreviated, with a `~` base topic.
TEMPERATURE = {"~": "kf/air-12", "name": "Temperature", "uniq_id": "air12_t", "stat_t": "~/state",
               "dev_cla": "temperature", "unit_of_meas": "°F", "val_tpl": "{{ value_json.temperature }}",
               "avty_t": "~/status", "dev": {"ids": ["air12"], "name": "Air station 12", "mdl": "AS-2", "mf": "Acme"}}
PM25 = {"~": "kf/air-12", "name": "PM2.5", "uniq_id": "air12_pm25", "stat_t": "~/state", "dev_cla": "pm25",
        "unit_of_meas": "µg/m³", "val_tpl": "{{ value_json['pm']['2_5'] | float }}", "dev": {"ids": "air12"}}


def test_entities_of_one_device_share_a_state_topic(ha):
    learn(ha, "homeassistant/sensor/air12/temperature/config", TEMPERATURE)
    learn(ha, "homeassistant/sensor/air12/pm25/config", PM25)
    assert ha.take_subscriptions() == ["kf/air-12/state", "kf/air-12/status"]
    assert ha.take_subscriptions() == []
    obs = only(decode(ha, "kf/air-12/state", {"temperature": 41.0, "pm": {"2_5": "36.5"}, "rssi": -70}))
    assert obs.device_id == "ha-air12" and obs.values == {"temperature_c": 5.0, "pm25": 36.5} and obs.ts is None
    assert ha.describe("ha-air12")["name"] == "Air station 12" and ha.describe("ha-air12")["model"] == "AS-2"


def test_availability_topic(ha):
    learn(ha, "homeassistant/sensor/air12/temperature/config", TEMPERATURE)
    (status,) = decode(ha, "kf/air-12/status", "offline").statuses
    assert (status.device_id, status.online) == ("ha-air12", False)


def test_full_names_without_node_id_and_plain_values(ha):
    config = {"name": "Water level", "state_topic": "drain/kf-3/level", "unit_of_measurement": "m",
              "unique_id": "drain3_level", "device": {"identifiers": ["drain-kf-3"], "name": "Drain 3"}}
    learn(ha, "homeassistant/sensor/drain3_level/config", config)
    assert only(decode(ha, "drain/kf-3/level", "0.18")).values == {"water_level_cm": 18.0}


def test_binary_sensor_with_its_payloads(ha):
    config = {"name": "Smoke", "stat_t": "shop/7/smoke", "dev_cla": "smoke", "pl_on": "1", "pl_off": "0",
              "uniq_id": "shop7_smoke", "dev": {"ids": "shop7"}}
    learn(ha, "homeassistant/binary_sensor/shop7/smoke/config", config)
    assert only(decode(ha, "shop/7/smoke", "1")).values == {"smoke": True}
    assert only(decode(ha, "shop/7/smoke", "0")).values == {"smoke": False}
    assert reasons(decode(ha, "shop/7/smoke", "ON")) == [Reason.SCHEMA]


def test_device_discovery_with_components(ha):
    config = {"dev": {"ids": "noise-kf-4", "name": "Noise 4"}, "o": {"name": "meter2mqtt"},
              "stat_t": "meters/noise-kf-4", "cmps": {
                  "laeq": {"p": "sensor", "dev_cla": "sound_pressure", "unit_of_meas": "dBA",
                           "val_tpl": "{{ value_json.laeq }}", "uniq_id": "nkf4_laeq"},
                  "link": {"p": "sensor", "val_tpl": "{{ value_json.rssi }}", "uniq_id": "nkf4_rssi"},
                  "reset": {"p": "button", "cmd_t": "meters/noise-kf-4/reset"}}}
    learn(ha, "homeassistant/device/noise-kf-4/config", config)
    assert ha.take_subscriptions() == ["meters/noise-kf-4"]
    assert only(decode(ha, "meters/noise-kf-4", {"laeq": 71.5, "rssi": -80})).values == {"noise_db": 71.5}
    # A component left with only its platform is removed.
    config["cmps"]["laeq"] = {"p": "sensor"}
    learn(ha, "homeassistant/device/noise-kf-4/config", config)
    out = decode(ha, "meters/noise-kf-4", {"laeq": 71.5})
    assert not out.observations and not out.rejections


def test_empty_config_removes_the_entity(ha):
    learn(ha, "homeassistant/sensor/air12/temperature/config", TEMPERATURE)
    learn(ha, "homeassistant/sensor/air12/temperature/config", b"")
    out = decode(ha, "kf/air-12/state", {"temperature": 41.0})
    assert not out.observations and not out.rejections


def test_entities_without_a_metric_are_not_subscribed(ha):
    learn(ha, "homeassistant/sensor/air12/rssi/config", {"stat_t": "kf/air-12/rssi", "dev_cla": "signal_strength",
                                                         "unit_of_meas": "dBm", "dev": {"ids": "air12"}})
    assert ha.take_subscriptions() == []


def test_states_before_their_config_are_dropped_not_dead_lettered(ha):
    out = decode(ha, "somewhere/else", "12")
    assert not out.observations and not out.rejections


def test_topic_claims(ha):
    assert ha.match("homeassistant/status").kind == IGNORE  # Home Assistant's birth message
    assert ha.match("homeassistant/sensor/a/b/config").kind == "config"
    assert ha.match("gridtwin/v1/readings/aq-1/extra") is None  # the native tree keeps its dead letters
    assert ha.filters == ("homeassistant/#",)


def test_unknown_and_empty_states_are_skipped(ha):
    learn(ha, "homeassistant/sensor/air12/temperature/config", TEMPERATURE)
    for payload in ({"temperature": None}, {"other": 1}, {"temperature": "unavailable"}):
        out = decode(ha, "kf/air-12/state", payload)
        assert not out.observations and not out.rejections


@pytest.mark.parametrize("config, detail", [
    (b"{", "char"),  # cut short
    ([1], "JSON object"),
    ({"name": "T", "dev_cla": "temperature"}, "state_topic"),  # no state topic
    ({"stat_t": "a/+/b"}, "state_topic"),  # a filter, not a topic
    ({"stat_t": "a/b", "val_tpl": "{% if value %}1{% endif %}"}, "not supported"),
    ({"stat_t": "a/b", "val_tpl": "{{ value_json.t | multiply(2) }}"}, "not supported"),
])
def test_malformed_configs_are_rejected(ha, config, detail):
    out = decode(ha, "homeassistant/sensor/x/y/config", config)
    assert len(out.rejections) == 1 and detail in out.rejections[0].detail


def test_state_that_is_not_json_for_a_json_template(ha):
    learn(ha, "homeassistant/sensor/air12/temperature/config", TEMPERATURE)
    assert reasons(decode(ha, "kf/air-12/state", "41")) == []  # a JSON number: no temperature member
    assert reasons(decode(ha, "kf/air-12/state", "{oops")) == [Reason.MALFORMED_JSON]


@pytest.mark.parametrize("source, payload, value", [
    ("{{ value }}", "12.5", "12.5"),
    ("{{value_json.a.b}}", '{"a": {"b": 3}}', 3),
    ('{{ value_json["a"][1] }}', '{"a": [5, 6]}', 6),
    ("{{ value_json.t | float | round(1) }}", '{"t": "21.456"}', 21.5),
    ("{{ value_json.t | int }}", '{"t": 21.9}', 21),
    ("{{ value_json.missing | default(7) }}", "{}", 7.0),
    ("{{ value | lower }}", "ON", "on"),
])
def test_simple_templates(source, payload, value):
    import orjson

    assert Template.parse(source).render(payload, orjson.loads(payload) if payload.startswith("{") else None) == value


@pytest.mark.parametrize("source", [
    "{{ (value_json.t - 32) * 5 / 9 }}",  # arithmetic
    "{{ value | round(precision=1) }}",  # keyword arguments
    "{{ value | round(1e30) }}",
    "{{ states('sensor.x') }}",
])
def test_unsupported_templates(source):
    with pytest.raises(PayloadError):
        Template.parse(source)
