"""Hostile corpora of the bridge formats: Zigbee2MQTT, Tasmota, ESPHome and Home Assistant discovery."""

from __future__ import annotations

from bench.hostile.corpus import (CLEARED, Case, Expect, Letter, Row, bad_time, deep, dumps, future, iso, json_junk,
                                  letter, nothing, out_of, recent, stale, value_in)
from bench.hostile.source import FIELDS, IGNORED, STATUS, Source, _values


# -- Zigbee2MQTT --------------------------------------------------------------------------------
class Zigbee2Mqtt(Source):
    name, prefix = "zigbee2mqtt", "z2m"

    def __init__(self, world, seed):
        super().__init__(world, seed, [f"street {i}/th" for i in range(12)] + [f"bin_{i}" for i in range(12)]
                         + ["Kitchen/Floor Light", "0x00158D0001A2B3C4", "\u6e29\u6e7f\u5ea6-07", "a/b/c/d/e",
                            "\u6e29\u6e7f\u5ea6\u4f20\u611f\u5668", "\u4e1c\u95e8/\u5783\u573e\u6876"])

    def topic(self, name: str) -> str:
        return f"{self.world.tag}/z2m/{name}"

    def valid(self, rng, values, klass="valid"):
        name = rng.choice(self.names)
        values = _values(rng, values)
        doc: dict = dict(values)
        ts = None
        if rng.random() < 0.8:
            ts = recent(rng, self.world.now)
            doc["last_seen"] = rng.choice([round(ts * 1000), iso(ts), iso(ts, 8)])
        doc.update({"linkquality": rng.randint(0, 255), "battery": rng.randint(0, 100), "voltage": 3000})
        device = self.device(name)
        return self.case(klass, self.topic(name), dumps(doc), Expect(rows=self.rows(device, values, ts)))

    def hostile(self, rng):
        name = rng.choice(self.names)
        topic, device = self.topic(name), self.device(name)
        ts = recent(rng, self.world.now)
        values = _values(rng, None)
        doc = {**values, "last_seen": round(ts * 1000)}
        pick = rng.random()
        if broken := self.broken(pick, topic, doc):
            return broken
        if pick < 0.33:
            payload = dumps([doc])
            return self.case("state_array", topic, payload, letter("schema", topic, payload))
        if pick < 0.38:
            return self.case("single_value", topic, dumps(rng.choice([21.5, "ON", None, True])),
                             nothing("a single value (output: attribute) is not a device state"))
        if pick < 0.46:
            doc["last_seen"] = bad_time(rng)
            payload = dumps(doc)
            return self.case("bad_last_seen", topic, payload, letter("schema", topic, payload))
        if pick < 0.52:
            reason = rng.choice(["stale_timestamp", "future_timestamp"])
            t = (stale if reason == "stale_timestamp" else future)(rng, self.world.now)
            doc["last_seen"] = t * 1000 if isinstance(t, (int, float)) and abs(t) < 1e300 else t
            payload = dumps(doc)
            return self.case(reason, topic, payload, letter(reason, topic, payload))
        if pick < 0.62:
            field = rng.choice(list(values))
            bad, reason = rng.choice([("abc", "schema"), ("", "schema"), (out_of(rng, FIELDS[field]), "out_of_range")])
            doc[field] = bad
            payload = dumps(doc)
            rest = {k: v for k, v in values.items() if k != field}
            return self.case(f"field_{reason}", topic, payload,
                             Expect(rows=self.rows(device, rest, ts), letters=(Letter(reason, topic, payload),)))
        if pick < 0.67:
            return self.case("no_measurement", topic, dumps({"state": "ON", "linkquality": 80, "brightness": 254}),
                             nothing("no field maps to a metric (a switch): dropped quietly, as for a bridge"))
        if pick < 0.8:
            payload = rng.choice([b"online", b"offline", b'{"state":"online"}', b'{"state":"offline"}', b"ONLINE"])
            return self.case("availability", f"{topic}/availability", payload, nothing(STATUS))
        if pick < 0.86:
            payload = rng.choice([b"", b"maybe", b'{"state":1}', b'{"online":true}', b"[]", b"\xef\xbb\xbfonline"])
            if payload == b"":
                return self.case("cleared_status", f"{topic}/availability", payload, CLEARED)
            return self.case("bad_availability", f"{topic}/availability", payload,
                             letter("schema", f"{topic}/availability", payload))
        if pick < 0.95:
            t = rng.choice([f"{topic}/set", f"{topic}/get", f"{topic}/set/brightness", f"{self.world.tag}/z2m/bridge/state",
                            f"{self.world.tag}/z2m/bridge/devices"])
            payload = rng.choice([b"{", b"\xff" * 10, b"x" * 300_000, dumps(doc)])
            return self.case("ignored_topic", t, payload, nothing(IGNORED))
        # Deep nesting in a member nobody reads: the state is still stored.
        payload = b'{"extra":' + deep(rng.randint(100, 1000)) + b"," + dumps({**values, "last_seen": round(ts * 1000)})[1:]
        return self.case("deep_nesting", topic, payload, Expect(rows=self.rows(device, values, round(ts * 1000) / 1000)))


# -- Tasmota -------------------------------------------------------------------------------------
class Tasmota(Source):
    name, prefix = "tasmota", "tasmota"
    DRIVERS = {"temperature": ("BME280", "Temperature"), "humidity": ("BME280", "Humidity"), "pm25": ("SDS0X1", "PM2.5")}

    def __init__(self, world, seed):
        super().__init__(world, seed, [f"tasmota_{i:06X}" for i in range(16)] + ["kitchen-plug"])

    def topic(self, name: str, tail: str = "SENSOR") -> str:
        return f"{self.world.tag}/tele/{name}/{tail}"

    def sensor(self, rng, values, ts, fahrenheit=False):
        doc: dict = {"Time": iso(ts).replace("Z", "")[:19]}
        for field, value in values.items():
            driver, key = self.DRIVERS[field]
            doc.setdefault(driver, {})[key] = round(value * 9 / 5 + 32, 2) if fahrenheit and field == "temperature" else value
        doc["ESP32"] = {"Temperature": 55.1}
        doc["TempUnit"] = "F" if fahrenheit else "C"
        return doc

    def valid(self, rng, values, klass="valid"):
        name = rng.choice(self.names)
        values = _values(rng, values)
        ts = float(int(recent(rng, self.world.now)))
        fahrenheit = rng.random() < 0.3
        doc = self.sensor(rng, values, ts, fahrenheit)
        scale = None
        if fahrenheit and "temperature" in values:
            sent = doc["BME280"]["Temperature"]
            values = {**values, "temperature": (sent - 32) * 5 / 9}
        return self.case(klass, self.topic(name), dumps(doc), Expect(rows=self.rows(self.device(name), values, ts, scale)))

    def hostile(self, rng):
        name = rng.choice(self.names)
        topic, device = self.topic(name), self.device(name)
        values = _values(rng, None)
        ts = float(int(recent(rng, self.world.now)))
        doc = self.sensor(rng, values, ts)
        pick = rng.random()
        if broken := self.broken(pick, topic, doc):
            return broken
        if pick < 0.34:
            payload = dumps(rng.choice([[doc], 1, "SENSOR", None]))
            return self.case("not_object", topic, payload, letter("schema", topic, payload))
        if pick < 0.42:
            doc["Time"] = rng.choice([True, [], "yesterday", "2026-13-45T00:00:00", "", {"t": 1}])
            payload = dumps(doc)
            return self.case("bad_time", topic, payload, letter("schema", topic, payload))
        if pick < 0.48:
            reason = rng.choice(["stale_timestamp", "future_timestamp"])
            doc["Time"] = rng.choice(["1970-01-01T00:00:00", "2018.02.15 01:00:50"]) if reason[0] == "s" else \
                rng.choice(["2099-01-01T00:00:00", "9999-12-31T23:59:59"])
            payload = dumps(doc)
            return self.case(reason, topic, payload, letter(reason, topic, payload))
        if pick < 0.58:
            field = rng.choice(list(values))
            driver, key = self.DRIVERS[field]
            bad, reason = rng.choice([("abc", "schema"), (out_of(rng, FIELDS[field]), "out_of_range")])
            doc[driver][key] = bad
            payload = dumps(doc)
            rest = {k: v for k, v in values.items() if k != field}
            return self.case(f"field_{reason}", topic, payload,
                             Expect(rows=self.rows(device, rest, ts), letters=(Letter(reason, topic, payload),)))
        if pick < 0.62 and "temperature" in values:
            doc["TempUnit"] = rng.choice(["X", "Kelvins", "%"])
            payload = dumps(doc)
            rest = {k: v for k, v in values.items() if k != "temperature"}
            return self.case("bad_temp_unit", topic, payload,
                             Expect(rows=self.rows(device, rest, ts), letters=(Letter("schema", topic, payload),)))
        if pick < 0.66:
            return self.case("no_measurement", topic, dumps({"Time": doc["Time"], "Switch1": "ON", "ESP32": {"Temperature": 50}}),
                             nothing("no field maps to a metric (a switch, the chip's own temperature): dropped quietly"))
        if pick < 0.8:
            payload = rng.choice([b"Online", b"Offline", b"online", b" Offline\n"])
            return self.case("lwt", self.topic(name, "LWT"), payload, nothing(STATUS))
        if pick < 0.86:
            payload = rng.choice([b"", b"Maybe", b"\xff", b'"Online"', b"1"])
            if payload == b"":
                return self.case("cleared_status", self.topic(name, "LWT"), payload, CLEARED)
            return self.case("bad_lwt", self.topic(name, "LWT"), payload, letter("schema" if payload != b"\xff" else
                                                                                 "malformed_json", self.topic(name, "LWT"), payload))
        return self.valid(rng, None)


# -- ESPHome ---------------------------------------------------------------------------------------
class Esphome(Source):
    name, prefix = "esphome", "esphome"

    def __init__(self, world, seed):
        super().__init__(world, seed, [f"node-{i:02d}" for i in range(60)] + ["\u6e29\u5ea6\u8282\u70b9"])

    def source_id(self, name: str) -> str:
        return f"{self.world.tag}/esp/{name}"

    def topic(self, name: str, component: str, obj: str) -> str:
        return f"{self.world.tag}/esp/{name}/{component}/{obj}/state"

    def valid(self, rng, values, klass="valid"):
        name = rng.choice(self.names)
        field, value = next(iter(_values(rng, values, 1).items()))  # one state a message
        values = {field: value}
        device = self.device(name)
        return self.case(klass, self.topic(name, "sensor", field), str(value).encode(),
                         Expect(rows=self.rows(device, values, None)))

    def hostile(self, rng):
        name = rng.choice(self.names[:-1])
        device = self.device(name)
        field = rng.choice(list(FIELDS))
        topic = self.topic(name, "sensor", field)
        pick = rng.random()
        if pick < 0.15:
            payload = rng.choice([b"nan", b"NaN", b"unknown", b"", b"  ", b"None", b"unavailable", b"-nan"])
            return self.case("unknown_state", topic, payload, nothing("a sensor with no state yet (nan, unknown, empty)"))
        if pick < 0.35:
            payload = rng.choice([b"abc", b"1e999", b"Infinity", b"-inf", b"\xef\xbb\xbf21.5", b"21,5", b"0x10", b"{}",
                                  b"[1]", b"21.5 C", b"ON"])
            return self.case("not_a_number", topic, payload, letter("schema", topic, payload))
        if pick < 0.42:
            payload = rng.choice([b"\xff", b"21.\xc35", b"\xed\xa0\x80"])
            return self.case("invalid_utf8", topic, payload, letter("malformed_json", topic, payload))
        if pick < 0.45:
            payload = b"21.5" + b" " * (256 * 1024)
            return self.case("oversized", topic, payload, letter("oversized", topic, payload[:4096]))
        if pick < 0.55:
            payload = str(out_of(rng, FIELDS[field])).encode()
            return self.case("out_of_range", topic, payload, letter("out_of_range", topic, payload))
        if pick < 0.65:
            topic = self.topic(name, "binary_sensor", "smoke")
            state = rng.choice(["ON", "OFF", "on", "off"])
            if rng.random() < 0.3:
                return self.case("bad_binary", topic, b"MAYBE", letter("schema", topic, b"MAYBE"))
            return self.case("binary", topic, state.encode(),
                             Expect(rows=(Row(device, "smoke", 1.0 if state.upper() == "ON" else 0.0, self.cell(device), None),)))
        if pick < 0.7:
            topic = self.topic(name, "sensor", rng.choice(["wifi_signal", "uptime"]))
            return self.case("unmapped", topic, b"-61", nothing("an object id that maps to no metric: dropped quietly"))
        status = f"{self.world.tag}/esp/{name}/status"
        if pick < 0.85:
            return self.case("status", status, rng.choice([b"online", b"offline", b"Online"]), nothing(STATUS))
        payload = rng.choice([b"", b"maybe", b"\xff"])
        if payload == b"":
            return self.case("cleared_status", status, payload, CLEARED)
        return self.case("bad_status", status, payload, letter("malformed_json" if payload == b"\xff" else "schema",
                                                               status, payload))


# -- Home Assistant discovery --------------------------------------------------------------------------
HA_CLASSES = {"temperature": ("temperature", "\u00b0C"), "humidity": ("humidity", "%"), "pm25": ("pm25", "\u00b5g/m\u00b3")}


class HomeAssistant(Source):
    name, prefix = "homeassistant", "ha"

    def __init__(self, world, seed):
        super().__init__(world, seed, [f"ha-dev-{i:02d}" for i in range(12)])
        self.entities: list[tuple[str, str, str, str]] = []  # (device name, field, state topic, template kind)
        self.pending_configs: list[Case] = []
        for i in range(36):
            device, field = self.names[i % len(self.names)], list(FIELDS)[i % 3]
            kind = "json" if i % 2 else "plain"
            state_topic = f"{world.tag}/hass/{device}/{field}-{i}"
            self.entities.append((device, field, state_topic, kind))
            self.pending_configs.append(self.config_case(i, device, field, state_topic, kind))

    def config_case(self, i, device, field, state_topic, kind) -> Case:
        device_class, unit = HA_CLASSES[field]
        config = {"name": f"{field} {i}", "stat_t": state_topic, "dev_cla": device_class, "unit_of_meas": unit,
                  "uniq_id": f"{device}-{field}-{i}",
                  "dev": {"ids": [device], "name": device + ("\u0000" if i % 4 == 0 else ""), "mdl": "ZG\u0001-01"}}
        if kind == "json":
            config["val_tpl"] = "{{ value_json.v | float }}"
        topic = f"{self.world.tag}/ha/sensor/{device}/{field}_{i}/config"
        return self.case("discovery", topic, dumps(config), nothing("a discovery config: an entity learned, no row"))

    def make(self, i, structured):
        if self.pending_configs:
            return self.pending_configs.pop(0)
        return super().make(i, structured)

    def valid(self, rng, values, klass="valid"):
        device, field, state_topic, kind = rng.choice(self.entities)
        value = (values or {}).get(field, value_in(rng, FIELDS[field]))
        payload = dumps({"v": value, "other": 1}) if kind == "json" else str(value).encode()
        return self.case(klass, state_topic, payload,
                         Expect(rows=self.rows(self.device(device), {field: value}, None)))

    def hostile(self, rng):
        device, field, state_topic, kind = rng.choice(self.entities)
        pick = rng.random()
        junk_topic = f"{self.world.tag}/ha/sensor/junk/j{rng.randrange(10**6)}/config"
        if pick < 0.2:
            klass, payload = json_junk(rng, dumps({"stat_t": "x"}))
            if payload == b"":
                return self.case("empty_config", junk_topic, payload, nothing("an empty config removes the entity"))
            return self.case(klass, junk_topic, payload, letter("malformed_json", junk_topic, payload))
        if pick < 0.32:
            config = rng.choice([[1], "config", {"name": "x"}, {"stat_t": 5}, {"stat_t": "a/+/b"}, {"stat_t": ""},
                                 {"stat_t": f"{self.world.tag}/hass/t", "val_tpl": "{{ value_json.v * 2 }}"},
                                 {"stat_t": f"{self.world.tag}/hass/t", "val_tpl": "{% if true %}1{% endif %}"},
                                 {"stat_t": f"{self.world.tag}/hass/t", "val_tpl": "{{ value | multiply(2) }}"}])
            payload = dumps(config)
            return self.case("bad_config", junk_topic, payload, letter("schema", junk_topic, payload))
        if pick < 0.35:
            payload = b'{"stat_t":"' + b"x" * (300 * 1024) + b'"}'
            return self.case("oversized", junk_topic, payload, letter("oversized", junk_topic, payload[:4096]))
        if pick < 0.45:
            payload = rng.choice([b"unknown", b"unavailable", b"", b"None"]) if kind == "plain" else \
                rng.choice([dumps({"other": 1}), dumps({"v": None}), b"null", dumps({"v": "unknown"})])
            return self.case("no_state", state_topic, payload, nothing("a state with no value (unknown, missing)"))
        if pick < 0.55:
            if kind == "json":
                klass, payload = json_junk(rng, dumps({"v": 1}))
                return self.case(f"state_{klass}", state_topic, payload, letter("malformed_json", state_topic, payload))
            payload = rng.choice([b"abc", b"1e999", b"inf", b"21,5"])
            return self.case("state_not_number", state_topic, payload, letter("schema", state_topic, payload))
        if pick < 0.62:
            value = out_of(rng, FIELDS[field])
            payload = dumps({"v": value}) if kind == "json" else str(value).encode()
            return self.case("state_out_of_range", state_topic, payload, letter("out_of_range", state_topic, payload))
        if pick < 0.7:
            topic = f"{self.world.tag}/hass/nobody/{rng.randrange(10**6)}"
            return self.case("unknown_state_topic", topic, rng.choice([b"21.5", b"{", b"\xff"]),
                             nothing("a state topic no discovered entity names (or not yet): dropped"))
        if pick < 0.75:
            topic = rng.choice([f"{self.world.tag}/ha/status", f"{self.world.tag}/ha/sensor/x/y/z/w/config",
                                f"{self.world.tag}/ha/sensor/x/state"])
            return self.case("ignored_topic", topic, rng.choice([b"online", b"{", b"\xff"]), nothing(IGNORED))
        if pick < 0.78:
            payload = b"9" * (260 * 1024)
            return self.case("oversized_state", state_topic, payload, letter("oversized", state_topic, payload[:4096]))
        return self.valid(rng, None)
