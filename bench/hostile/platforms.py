"""Hostile corpora of other platforms' formats: Frigate, The Things Stack, SenML and Alibaba Cloud Alink."""

from __future__ import annotations

from bench.hostile.corpus import (
    DAY,
    Event,
    Expect,
    Letter,
    bad_time,
    dumps,
    future,
    iso,
    letter,
    nothing,
    out_of,
    recent,
    stale,
)
from bench.hostile.source import FIELDS, Source, _values
from twin.devices.device import DeviceKind


# -- Frigate -----------------------------------------------------------------------------------------
class Frigate(Source):
    name, prefix, kind = "frigate", "frigate", DeviceKind.CAMERA
    LABELS = {"person": "person", "car": "car", "fire": "fire", "License Plate": "license_plate", "dog": "dog"}

    def __init__(self, world, seed):
        super().__init__(world, seed, [f"cam_{i:02d}" for i in range(12)] + ["north_gate", "Market Street",
                                                                             "\u30ab\u30e1\u30e9", "\u5317\u95e8"])
        self.started: list[tuple[str, dict]] = []
        self.count = 0

    def topic(self) -> str:
        return f"{self.world.tag}/frigate/events"

    def event(self, rng, camera, score=None):
        self.count += 1
        label = rng.choice(list(self.LABELS))
        start = round(recent(rng, self.world.now), 6)
        return {"id": f"{start:.6f}-{self.count}", "camera": camera, "label": label, "sub_label": None,
                "top_score": round(rng.random(), 4) if score is None else score, "score": 0.5, "false_positive": False,
                "start_time": start, "end_time": None, "current_zones": [], "entered_zones": ["yard"],
                "has_snapshot": True, "has_clip": False, "frame_time": start}

    def expect(self, after, state="start"):
        device = self.device(after["camera"])
        ts = after["start_time"] if state == "start" else after["end_time"]
        return Expect(events=(Event(device, after["id"], state, self.LABELS[after["label"]], after["top_score"],
                                    self.cell(device), ts),))

    def valid(self, rng, values, klass="valid"):
        camera = rng.choice(self.names)
        score = None if values is None else min(max(next(iter(values.values())) / 2000.0, 0.0), 1.0)
        if self.started and rng.random() < 0.3:  # the end of a detection that started earlier
            camera, after = self.started.pop(rng.randrange(len(self.started)))
            after = {**after, "end_time": round(after["start_time"] + rng.uniform(1, 60), 6)}
            return self.case(klass, self.topic(), dumps({"type": "end", "before": after, "after": after}),
                             self.expect(after, "end"))
        after = self.event(rng, camera, score)
        self.started.append((camera, after))
        return self.case(klass, self.topic(), dumps({"type": "new", "before": after, "after": after}), self.expect(after))

    def hostile(self, rng):
        camera = rng.choice(self.names)
        after = self.event(rng, camera)
        doc = {"type": "new", "before": after, "after": after}
        topic = self.topic()
        pick = rng.random()
        if broken := self.broken(pick, topic, doc):
            return broken
        if pick < 0.5:
            mutate = rng.choice(["not_object", "no_after", "camera", "type", "id", "label", "score", "time"])
            if mutate == "not_object":
                doc = rng.choice([[doc], 1, None])
            elif mutate == "no_after":
                doc["after"] = rng.choice([None, [], "after"])
            elif mutate == "camera":
                after["camera"] = rng.choice([None, "", 5, "///", "\u3000"])
            elif mutate == "type":
                doc["type"] = rng.choice(["old", None, 1, "NEW"])
            elif mutate == "id":
                after["id"] = rng.choice([None, "", 7, "i" * 201, "e\u0000", "\u0007"])
            elif mutate == "label":
                after["label"] = rng.choice([None, "", 3])
            elif mutate == "score":
                after["top_score"] = rng.choice([1.5, -0.1, "0.9", True])
            else:
                after["start_time"] = rng.choice(["abc", True, [], {}])
            payload = dumps(doc)
            return self.case(f"bad_{mutate}", topic, payload, letter("schema", topic, payload))
        if pick < 0.56:
            reason = rng.choice(["stale_timestamp", "future_timestamp"])
            t = (stale if reason == "stale_timestamp" else future)(rng, self.world.now)
            after["start_time"] = t
            payload = dumps(doc)
            return self.case(reason, topic, payload, letter(reason, topic, payload))
        if pick < 0.59:  # control characters in the camera's name and zones: not stored (the id is a slug)
            after["camera"] = rng.choice(["cam\u0000nul", "cam\u001bnul"])
            after["current_zones"] = ["gate\u0000", "yard"]
            return self.case("control_characters", topic, dumps(doc), self.expect(after))
        if pick < 0.62:
            after["false_positive"] = True
            return self.case("false_positive", topic, dumps(doc), nothing("a detection Frigate marks false_positive"))
        if pick < 0.8 and self.started:  # an update of a detection already started: the same event, stored once
            camera, started = rng.choice(self.started)
            doc = {"type": "update", "before": started, "after": {**started, "top_score": min(1.0, started["top_score"] + 0.01)}}
            return self.case("update", topic, dumps(doc),
                             nothing("an update of a started detection: the same camera event, stored once"))
        return self.valid(rng, None)


# -- The Things Stack ------------------------------------------------------------------------------
class TheThingsStack(Source):
    name, prefix = "ttn", "ttn"

    def __init__(self, world, seed):
        super().__init__(world, seed, [f"aq-lora-{i:02d}" for i in range(16)] + ["eui-70b3d57ed005a1b2"])
        self.f_cnt = 0

    def topic(self, name: str, tail: str = "up") -> str:
        return f"v3/{self.world.tag}@ttn/devices/{name}/{tail}"

    def uplink(self, rng, name, values, ts):
        self.f_cnt += 1
        up = {"f_port": 2, "f_cnt": self.f_cnt, "frm_payload": "AQI=", "decoded_payload": dict(values),
              "rx_metadata": [{"gateway_ids": {"gateway_id": "gw"}, "rssi": -rng.randint(40, 120), "snr": 7.5}],
              "received_at": iso(ts)}
        return {"end_device_ids": {"device_id": name}, "received_at": iso(ts + 0.2), "uplink_message": up}

    def valid(self, rng, values, klass="valid"):
        name = rng.choice(self.names)
        values = _values(rng, values)
        ts = recent(rng, self.world.now)
        doc = self.uplink(rng, name, values, ts)
        device = self.device(name)
        cell = False
        if rng.random() < 0.2:
            lat, lon, cell = self.world.point(rng)
            doc["uplink_message"]["locations"] = {"user": {"latitude": lat, "longitude": lon, "source": "SOURCE_REGISTRY"}}
        if rng.random() < 0.1:
            doc["simulated"] = True
        return self.case(klass, self.topic(name), dumps(doc), Expect(rows=self.rows(device, values, ts, cell=cell)))

    def hostile(self, rng):
        name = rng.choice(self.names)
        topic, device = self.topic(name), self.device(name)
        values = _values(rng, None)
        ts = recent(rng, self.world.now)
        doc = self.uplink(rng, name, values, ts)
        up = doc["uplink_message"]
        pick = rng.random()
        if broken := self.broken(pick, topic, doc):
            return broken
        if pick < 0.45:
            mutate = rng.choice(["not_object", "no_uplink", "decoded_list", "f_cnt", "formatter", "received_at"])
            if mutate == "not_object":
                doc = rng.choice([[doc], 1, "up", None])
            elif mutate == "no_uplink":
                doc.pop("uplink_message")
            elif mutate == "decoded_list":
                up["decoded_payload"] = rng.choice([[1, 2], "AQI=", 5, True])
            elif mutate == "f_cnt":
                up["f_cnt"] = rng.choice([-1, 1.5, "7", True, None])
            elif mutate == "formatter":
                up.pop("decoded_payload")
            else:
                up["received_at"] = bad_time(rng)
            payload = dumps(doc)
            return self.case(f"bad_{mutate}", topic, payload, letter("schema", topic, payload))
        if pick < 0.5:
            up.pop("decoded_payload")
            up.pop("frm_payload")
            return self.case("mac_only", topic, dumps(doc), nothing("an uplink without application data (f_port 0)"))
        if pick < 0.56:
            up["decoded_payload"] = {"counter": 5, "status": "ok", "bytes": [1, 2]}
            payload = dumps(doc)
            return self.case("nothing_maps", topic, payload, letter("unknown_metric", topic, payload))
        if pick < 0.63:
            where = rng.choice([{"latitude": 91.0, "longitude": 0.0}, {"latitude": 0.0, "longitude": 200.0},
                                {"latitude": 31.23, "longitude": 121.47}, {"latitude": -33.9, "longitude": 18.4}])
            up["locations"] = {"user": where}
            payload = dumps(doc)
            return self.case("loc_outside", topic, payload, letter("out_of_area", topic, payload))
        if pick < 0.7:
            reason = rng.choice(["stale_timestamp", "future_timestamp"])
            t = (stale if reason == "stale_timestamp" else future)(rng, self.world.now)
            up["received_at"] = t if isinstance(t, str) else iso(max(min(t, 2.5e11), -6.2e10))
            payload = dumps(doc)
            return self.case(reason, topic, payload, letter(reason, topic, payload))
        if pick < 0.8:
            field = rng.choice(list(values))
            bad, reason = rng.choice([("abc", "schema"), (out_of(rng, FIELDS[field]), "out_of_range")])
            up["decoded_payload"][field] = bad
            payload = dumps(doc)
            rest = {k: v for k, v in values.items() if k != field}
            return self.case(f"field_{reason}", topic, payload,
                             Expect(rows=self.rows(device, rest, ts), letters=(Letter(reason, topic, payload),)))
        if pick < 0.86:
            nest: dict = {"t": 1}
            for _ in range(rng.randint(4, 200)):
                nest = {"deeper": nest}
            up["decoded_payload"]["nested"] = nest
            return self.case("deep_nesting", topic, dumps(doc), Expect(rows=self.rows(device, values, ts)))
        return self.valid(rng, None)


# -- SenML ---------------------------------------------------------------------------------------
SENML_UNITS = {"temperature": "Cel", "humidity": "%RH", "pm25": "ug/m3"}


class Senml(Source):
    name, prefix = "senml", "senml"

    def __init__(self, world, seed):
        names = [f"urn:dev:mac:0024befffe80{i:04x}" for i in range(12)] + [f"node-{i}" for i in range(8)]
        super().__init__(world, seed, names)

    def topic(self, node: str = "") -> str:
        return f"{self.world.tag}/senml/{node}" if node else f"{self.world.tag}/senml"

    def pack(self, rng, values, ts, name):
        records = []
        if name.startswith("urn:"):
            first = {"bn": name + ":", "bt": ts}
            topic = self.topic(rng.choice(["site-1", "", "a/b"]))
        else:
            first = {"bt": ts}
            topic = self.topic(name)
        for i, (field, value) in enumerate(values.items()):
            record = {**(first if i == 0 else {}), "n": field, "u": SENML_UNITS[field], "v": value}
            records.append(record)
        return topic, records

    def valid(self, rng, values, klass="valid"):
        name = rng.choice(self.names)
        values = _values(rng, values)
        ts = recent(rng, self.world.now)
        topic, records = self.pack(rng, values, ts, name)
        return self.case(klass, topic, dumps(records), Expect(rows=self.rows(self.device(name), values, ts)))

    def hostile(self, rng):
        name = rng.choice(self.names)
        values = _values(rng, None)
        ts = recent(rng, self.world.now)
        topic, records = self.pack(rng, values, ts, name)
        device = self.device(name)
        pick = rng.random()
        if pick < 0.25:
            return self.junk(topic, dumps(records))
        if pick < 0.28:
            return self.oversized(topic, {"records": records})
        if pick < 0.5:
            r = records[-1]
            mutate = rng.choice(["not_array", "empty", "not_record", "must_understand", "bver", "bad_name", "two_values",
                                 "no_value", "wrong_type", "bver_changes"])
            if mutate == "not_array":
                records = records[0]
            elif mutate == "empty":
                records = []
            elif mutate == "not_record":
                records.append(rng.choice([1, "x", None, []]))
            elif mutate == "must_understand":
                r["tz_"] = "UTC"
            elif mutate == "bver":
                records[0]["bver"] = rng.choice([11, 0, -1, 1.5, "10"])
            elif mutate == "bad_name":
                r["n"] = rng.choice(["temp erature", "-temp", "t\u00e9mp", "a+b", "#"])
                records[0].pop("bn", None)
            elif mutate == "two_values":
                r["vs"] = "x"
            elif mutate == "no_value":
                r.pop("v")
            elif mutate == "wrong_type":
                key, bad = rng.choice([("v", "1"), ("v", True), ("v", [1]), ("n", 5), ("t", "0"), ("u", 1), ("bt", "x")])
                r[key] = bad
            else:
                records[0]["bver"] = 10
                records.append({"bver": 9, "n": "humidity", "v": 1})
            payload = dumps(records)
            return self.case(f"bad_{mutate}", topic, payload, letter("schema", topic, payload))
        if pick < 0.56:
            records = [{"bn": f"{name}:" if name.startswith("urn:") else "", "n": "counter", "v": 4, "bt": ts},
                       {"n": "rssi", "v": -80}]
            records[0] = {k: v for k, v in records[0].items() if v != ""}
            payload = dumps(records)
            return self.case("nothing_maps", topic, payload, letter("unknown_metric", topic, payload))
        if pick < 0.62:
            lat, lon = rng.choice([(91.0, 0.0), (0.0, -181.0), (31.23, 121.47), (-90.0, 180.0)])
            records += [{"n": "lat", "v": lat}, {"n": "lon", "v": lon}]
            payload = dumps(records)
            return self.case("loc_outside", topic, payload, letter("out_of_area", topic, payload))
        if pick < 0.7:
            reason = rng.choice(["stale_timestamp", "future_timestamp"])
            t = (stale if reason == "stale_timestamp" else future)(rng, self.world.now)
            t = t if isinstance(t, (int, float)) else (self.world.now - 30 * DAY if reason[0] == "s" else self.world.now + DAY)
            if 0 <= t < 2**28:
                t = self.world.now - 30 * DAY  # below 2**28 a time is relative to now
            records[0]["bt"] = t
            payload = dumps(records)
            return self.case(reason, topic, payload, letter(reason, topic, payload))
        if pick < 0.8:
            field = rng.choice(list(values))
            index = list(values).index(field)
            records[index]["v"] = out_of(rng, FIELDS[field])
            payload = dumps(records)
            rest = {k: v for k, v in values.items() if k != field}
            return self.case("field_out_of_range", topic, payload,
                             Expect(rows=self.rows(device, rest, ts), letters=(Letter("out_of_range", topic, payload),)))
        # Times relative to now, or none at all: the receive time (checked within the run's window).
        records[0].pop("bt")
        if rng.random() < 0.5:
            for r in records:
                r["t"] = -rng.randint(0, 600)
            records = records[:1]
            values = dict(list(values.items())[:1])
        return self.case("relative_time", topic, dumps(records), Expect(rows=self.rows(device, values, None)))


# -- Alink -------------------------------------------------------------------------------------------
class Alink(Source):
    name, prefix = "alink", "alink"

    def __init__(self, world, seed):
        super().__init__(world, seed, [f"dn{i:03d}" for i in range(16)] + ["Sensor_A-1"])

    def source_id(self, name: str) -> str:
        return f"{self.world.tag}-{name}"

    def topic(self, name: str, tail: str = "thing/event/property/post") -> str:
        return f"/sys/{self.world.tag}/{name}/{tail}"

    def valid(self, rng, values, klass="valid"):
        name = rng.choice(self.names)
        values = _values(rng, values)
        device = self.device(name)
        ts = recent(rng, self.world.now)
        ms = round(ts * 1000)
        shape = rng.choice(["post", "post_plain", "batch"])
        if shape == "post":
            params = {k: {"value": v, "time": rng.choice([ms, str(ms)])} for k, v in values.items()}
            tail, row_ts = "thing/event/property/post", ms / 1000
        elif shape == "post_plain":
            params, tail, row_ts = dict(values), "thing/event/property/post", None
        else:
            params = {"properties": {k: [{"value": v, "time": ms}] for k, v in values.items()}}
            tail, row_ts = "thing/event/property/batch/post", ms / 1000
        doc = {"id": str(rng.randrange(10**6)), "version": "1.0", "params": params, "method": "thing.event.property.post"}
        cell = False
        if rng.random() < 0.15:
            lat, lon, cell = self.world.point(rng)
            doc["params"]["GeoLocation"] = {"value": {"Longitude": lon, "Latitude": lat, "Altitude": 80,
                                                      "CoordinateSystem": 1}}
            if shape == "batch":
                doc["params"]["properties"]["GeoLocation"] = [{"value": doc["params"].pop("GeoLocation")["value"], "time": ms}]
        return self.case(klass, self.topic(name, tail), dumps(doc), Expect(rows=self.rows(device, values, row_ts, cell=cell)))

    def hostile(self, rng):
        name = rng.choice(self.names)
        topic, device = self.topic(name), self.device(name)
        values = _values(rng, None)
        ts = recent(rng, self.world.now)
        ms = round(ts * 1000)
        doc = {"id": "1", "params": {k: {"value": v, "time": ms} for k, v in values.items()}}
        pick = rng.random()
        if broken := self.broken(pick, topic, doc):
            return broken
        if pick < 0.45:
            mutate = rng.choice(["no_params", "params_list", "time", "geo_system", "not_object", "batch_shape"])
            if mutate == "no_params":
                doc.pop("params")
            elif mutate == "params_list":
                doc["params"] = [1, 2]
            elif mutate == "time":
                key = next(iter(values))
                doc["params"][key]["time"] = rng.choice(["abc", True, [], {"t": 1}, "1.5e3"])
                if rng.random() < 0.3:  # a NUL in the identifier the detail names
                    doc["params"]["temp\u0000" + key] = doc["params"].pop(key)
            elif mutate == "geo_system":
                doc["params"]["GeoLocation"] = {"value": {"Longitude": 114.34, "Latitude": 34.79, "CoordinateSystem": 2}}
            elif mutate == "not_object":
                doc = rng.choice([[doc], "params", 7])
            else:
                topic = self.topic(name, "thing/event/property/batch/post")
                doc["params"] = rng.choice([{"properties": []}, {"properties": {"temperature": 21}}, {}])
            payload = dumps(doc)
            return self.case(f"bad_{mutate}", topic, payload, letter("schema", topic, payload))
        if pick < 0.52:
            doc["params"] = {"LightSwitch": 1, "WIFI_RSSI": -60}
            payload = dumps(doc)
            return self.case("nothing_maps", topic, payload, letter("unknown_metric", topic, payload))
        if pick < 0.58:
            doc["params"]["GeoLocation"] = {"value": rng.choice([
                {"Longitude": 121.47, "Latitude": 31.23, "CoordinateSystem": 1},
                {"Longitude": 190.0, "Latitude": 34.0, "CoordinateSystem": 1}, {"Longitude": 0, "Latitude": -91}])}
            payload = dumps(doc)
            return self.case("loc_outside", topic, payload, letter("out_of_area", topic, payload))
        if pick < 0.65:
            reason = rng.choice(["stale_timestamp", "future_timestamp"])
            t = (stale if reason == "stale_timestamp" else future)(rng, self.world.now)
            t = t if isinstance(t, (int, float)) and abs(t) < 1e12 else (0 if reason[0] == "s" else 253402300799)
            for k in values:
                doc["params"][k]["time"] = round(t * 1000)
            payload = dumps(doc)
            return self.case(reason, topic, payload, letter(reason, topic, payload))
        if pick < 0.75:
            field = rng.choice(list(values))
            bad, reason = rng.choice([("abc", "schema"), (out_of(rng, FIELDS[field]), "out_of_range")])
            doc["params"][field]["value"] = bad
            payload = dumps(doc)
            rest = {k: v for k, v in values.items() if k != field}
            return self.case(f"field_{reason}", topic, payload,
                             Expect(rows=self.rows(device, rest, ms / 1000), letters=(Letter(reason, topic, payload),)))
        return self.valid(rng, None)
