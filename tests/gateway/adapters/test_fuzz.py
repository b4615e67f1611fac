"""Property tests: whatever arrives on an adapter's topics (any bytes, any JSON, any topic), decoding never
raises, and everything it makes is either a well-formed observation or a rejection with a known reason."""

import math

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.adapters import ADAPTERS, build_adapters
from gateway.deadletters import Reason
from gateway.messages import Decoded
from mqttwire.packets import Inbound
from mqttwire.topics import Topics
from twin.config import Settings
from twin.devices.device import DEVICE_ID

ADAPTER_SET = [a for a in build_adapters(Settings().replace(adapters={"options": {"homeassistant": {
    "state_filters": ["home/#"]}}}), Topics()) if a.name != "native"]

# A topic each adapter decodes (not one it ignores), so that the payload reaches the parsing.
TOPICS = {
    "frigate": ["frigate/events"],
    "ttn": ["v3/app@ttn/devices/dev-1/up"],
    "zigbee2mqtt": ["zigbee2mqtt/a/b", "zigbee2mqtt/a/availability"],
    "senml": ["senml/node-1", "senml"],
    "tasmota": ["tele/t1/SENSOR", "tele/t1/LWT"],
    "esphome": ["n1/sensor/temperature/state", "n1/binary_sensor/smoke/state", "n1/status"],
    "alink": [f"/sys/pk/dn/thing/event/property/{k}" for k in ("post", "batch/post", "pack/post", "history/post")],
    "homeassistant": ["homeassistant/sensor/n/o/config", "homeassistant/device/o/config", "home/n/state"],
}
KNOWN_REASONS = set(Reason)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["v", "n", "bn", "bt", "t", "u", "vb", "type", "after", "camera", "id", "label", "top_score",
                         "uplink_message", "decoded_payload", "params", "properties", "subDevices", "identity",
                         "temperature", "Time", "BME280", "stat_t", "val_tpl", "dev", "state", "last_seen",
                         "value", "time", "cmps", "p", "x_"]) | st.text(max_size=6), children, max_size=5),
    max_leaves=20,
)


def check(adapter, topic: str, payload: bytes) -> None:
    route = adapter.match(topic)
    if route is None:
        return
    out = Decoded()
    adapter.decode(Inbound(topic, payload, 1_795_939_200.0), route, out)
    for obs in out.observations:
        assert DEVICE_ID.match(obs.device_id)
        assert obs.values and all(isinstance(v, bool) or math.isfinite(v) for v in obs.values.values())
        assert obs.ts is None or math.isfinite(obs.ts)
    for cam in out.camera:
        assert DEVICE_ID.match(cam.camera_id) and 0.0 <= cam.confidence <= 1.0
    for rejection in out.rejections:
        assert rejection.reason in KNOWN_REASONS and rejection.detail


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(index=st.integers(0, 100), payload=st.binary(max_size=300))
def test_any_bytes(index, payload):
    adapter = ADAPTER_SET[index % len(ADAPTER_SET)]
    for topic in TOPICS[adapter.name]:
        check(adapter, topic, payload)


@FAST
@given(index=st.integers(0, 100), doc=json_values)
def test_any_json(index, doc):
    adapter = ADAPTER_SET[index % len(ADAPTER_SET)]
    payload = orjson.dumps(doc)
    for topic in TOPICS[adapter.name]:
        check(adapter, topic, payload)


@FAST
@given(doc=st.lists(st.dictionaries(st.sampled_from(["bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vs", "vb", "vd",
                                                     "s", "t", "ut", "lat_"]),
                                    st.none() | st.booleans() | st.integers(-2**30, 2**31) | st.floats(
                                        allow_nan=False, allow_infinity=False) | st.text(max_size=8)),
                    max_size=6))
def test_senml_shaped_packs(doc):
    check(next(a for a in ADAPTER_SET if a.name == "senml"), "senml/node-1", orjson.dumps(doc))


@FAST
@given(topic=st.lists(st.text(alphabet="abz+#/$ _-.:", max_size=8), min_size=1, max_size=6).map("/".join),
       payload=st.binary(max_size=40))
def test_any_topic(topic, payload):
    for adapter in ADAPTER_SET:
        check(adapter, topic, payload)


def test_every_adapter_is_fuzzed():
    assert {a.name for a in ADAPTER_SET} == set(ADAPTERS) - {"native"} == set(TOPICS)


@FAST
@given(template=st.from_regex(r"\{\{ ?(value|value_json(\.[a-z]{1,3}|\['[a-z0-9]{0,3}'\]|\[[0-9]\]){0,3})"
                              r"( ?\| ?(float|int|round|default|lower|upper|trim|string|multiply)"
                              r"(\([a-z0-9'=,. ]{0,6}\))?){0,3} ?\}\}", fullmatch=True),
       doc=json_values)
def test_value_templates_parse_or_refuse_and_render_anything(template, doc):
    from gateway.adapters.homeassistant import Template
    from gateway.adapters.native import PayloadError

    try:
        parsed = Template.parse(template)
    except PayloadError:
        return
    parsed.render(orjson.dumps(doc).decode(), doc)
