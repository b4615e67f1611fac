"""Hostile corpora of the native format: readings, camera events and status messages.

Each generator makes `n` cases from a seeded `random.Random`, mixing hypothesis-drawn
structured variants (`structured`, drawn beforehand) with hand-written hostile classes; every
case says what it must become (docs/mqtt.md, docs/schemas).
"""

from __future__ import annotations

import random

from hypothesis import strategies as st

from bench.hostile.corpus import (CLEARED, DEAD_LETTER_HEAD, MAX_ARRAY, RANGES, Case, Event, Expect, Letter, Row, World,
                                  bad_time, deep, dumps, future, iso, json_junk, letter, nothing, out_of, oversized, recent,
                                  stale, value_in)

# Topic levels that are not device ids a registry could hold (unknown_device), and topics that no
# route accepts (unknown_topic). A publisher may not use '+', '#' or NUL in a topic name (the broker
# refuses them), so their look-alikes stand in.
ODD_IDS = ["\uff0b", "\uff03", "%2B", "%23", " ", "a b", "nul", "dev\u200bice",
           "\U0001F525" * 3, "\u0645\u0633\u062a\u0634\u0639\u0631", "x" * 300, "y" * 20_000, "..", "$SYS", "-",
           "\u00e9\u0301", "CON", "a\\b", "'; DROP TABLE readings; --"]


# -- readings -----------------------------------------------------------------------------------
def _ts_field(rng: random.Random, ts: float) -> object:
    """The same instant as epoch seconds or RFC 3339 (UTC or another offset)."""
    return rng.choice([ts, ts, iso(ts), iso(ts, 8), iso(ts, -5)])


def reading_item(rng: random.Random, world: World, device, *, ts: float | None | bool = True, seq: int | None = None,
                 metrics: int | None = None) -> tuple[dict, list[Row]]:
    """A valid reading of `device` and its rows. `ts` True: a random recent time; None: no time."""
    doc: dict = {}
    if ts is True:
        ts = recent(rng, world.now)
    if ts is not None:
        doc["ts"] = _ts_field(rng, ts)
    if seq is not None:
        doc["seq"] = seq
    names = rng.sample(list(RANGES), metrics or rng.randint(1, 3))
    doc["values"] = {m: value_in(rng, m) for m in names}
    if rng.random() < 0.3:
        doc["battery"] = round(rng.random(), 2)
    cell = device.cell_code
    if device.mobile or rng.random() < 0.1:
        lat, lon, _ = world.point(rng)
        lat, lon = round(lat + rng.uniform(-3e-4, 3e-4), 6), round(lon + rng.uniform(-3e-4, 3e-4), 6)
        doc["loc"] = {"lat": lat, "lon": lon}
        cell = world.cell_of(lat, lon)
    rows = [Row(device.id, m, v, cell, ts) for m, v in doc["values"].items()]
    return doc, rows


@st.composite
def structured_reading(draw, world: World):
    """A hypothesis-drawn valid reading or buffered array (values, times, seq, battery, loc all drawn)."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    device = draw(st.sampled_from(world.sensors + world.mobiles))
    count = draw(st.sampled_from([0, 0, 0, 1, 2, 5, 20]))  # 0: a single object
    items, rows = [], []
    for _ in range(max(count, 1)):
        # Items of one array share a receive time: only a single reading may leave its time out.
        times = st.floats(world.now - 6 * 86400, world.now - 60).map(lambda t: round(t, 3))
        ts = draw(times if count else st.none() | times)
        doc, item_rows = reading_item(rng, world, device, ts=ts, seq=draw(st.none() | st.integers(0, 2**62)))
        doc["values"] = {m: draw(st.floats(*RANGES[m]).map(lambda v: round(v, 4))) for m in doc["values"]}
        rows += [Row(r.device, r.metric, doc["values"][r.metric], r.cell, r.ts) for r in item_rows]
        items.append(doc)
    payload = dumps(items if count else items[0])
    return world.prefix + f"/readings/{device.id}", payload, Expect(rows=tuple(rows))


class _Readings:
    """State of one readings corpus: what was stored per device, for repeats and backward times."""

    def __init__(self, world: World, rng: random.Random):
        self.world, self.rng = world, rng
        self.stored: list[Case] = []
        self.seq: dict[str, int] = {}
        self.latest: dict[str, float] = {}

    def topic(self, device_id: str) -> str:
        return f"{self.world.prefix}/readings/{device_id}"

    def device(self):
        return self.rng.choice(self.world.sensors)

    def valid(self, klass="valid", device=None, **kw) -> Case:
        device = device or self.rng.choice(self.world.sensors + self.world.mobiles)
        seq = self.seq.get(device.id, -1) + 1
        self.seq[device.id] = seq
        doc, rows = reading_item(self.rng, self.world, device, seq=seq, **kw)
        case = Case("native-readings", klass, self.topic(device.id), dumps(doc), Expect(rows=tuple(rows)))
        if rows[0].ts is not None:  # only a timed reading is the same reading when it comes again
            self.latest[device.id] = max(self.latest.get(device.id, 0.0), rows[0].ts)
            self.stored.append(case)
        return case

    def make(self) -> Case:
        rng, world = self.rng, self.world
        pick = rng.random()
        device = self.device()
        topic = self.topic(device.id)
        if pick < 0.10:
            return self.valid()
        if pick < 0.14:  # a buffered upload with some bad items among good ones
            items, rows, letters = [], [], []
            for _ in range(rng.randint(2, 40)):
                doc, item_rows = reading_item(rng, world, device)
                kind = rng.random()
                if kind < 0.15:
                    doc["ts"] = stale(rng, world.now)
                    letters.append(("stale_timestamp", doc))
                elif kind < 0.25:
                    doc["values"] = []
                    letters.append(("schema", doc))
                elif kind < 0.3:
                    doc = rng.choice([1, "x", None, [], True])
                    letters.append(("schema", doc))
                else:
                    rows += item_rows
                items.append(doc)
            return Case("native-readings", "array_mixed", topic, dumps(items),
                        Expect(rows=tuple(rows), letters=tuple(Letter(r, topic, dumps(d)) for r, d in letters)))
        if pick < 0.145:  # the largest buffered upload accepted
            items, rows = [], []
            for _ in range(MAX_ARRAY):
                doc, item_rows = reading_item(rng, world, device, metrics=1)
                doc.pop("battery", None)
                items.append(doc)
                rows += item_rows
            return Case("native-readings", "array_max", topic, dumps(items), Expect(rows=tuple(rows)))
        if pick < 0.16:  # one item more than accepted: the whole array refused
            payload = dumps([{"values": {"pm25": 1}}] * rng.randint(MAX_ARRAY + 1, 5000))
            return Case("native-readings", "huge_array", topic, payload, letter("oversized", topic, payload))
        if pick < 0.17:
            doc, _ = reading_item(rng, world, device)
            expect, payload = oversized(topic, doc, rng)
            return Case("native-readings", "oversized", topic, payload, expect)
        if pick < 0.27:
            doc, _ = reading_item(rng, world, device)
            klass, payload = json_junk(rng, dumps(doc))
            return Case("native-readings", klass, topic, payload, letter("malformed_json", topic, payload))
        if pick < 0.30:  # deep nesting the parser accepts, in a member nobody reads: still stored
            doc, rows = reading_item(rng, world, device)
            inner = deep(rng.randint(250, 1000))
            if rng.random() < 0.5:
                payload = b'[{"extra":' + inner + b"," + dumps(doc)[1:] + b"]"
            else:
                payload = b'{"extra":' + inner + b"," + dumps(doc)[1:]
            return Case("native-readings", "deep_nesting", topic, payload, Expect(rows=tuple(rows)))
        if pick < 0.34:
            doc = rng.choice([1, -0.5, "reading", None, True, "", {"values": {"pm25": 1}}["values"]])
            if isinstance(doc, dict):
                payload = dumps(doc)  # a bare values object: no `values` member
            else:
                payload = dumps(doc)
            return Case("native-readings", "wrong_type", topic, payload, letter("schema", topic, payload))
        if pick < 0.44:  # a field of the wrong type or value: the whole reading is refused
            doc, _ = reading_item(rng, world, device)
            field, bad = rng.choice([
                ("values", []), ("values", {}), ("values", "pm25=3"), ("values", 3), ("values", None),
                ("seq", -1), ("seq", 1.5), ("seq", "7"), ("seq", True), ("seq", 1e19),
                ("battery", 1.5), ("battery", -0.1), ("battery", "full"), ("battery", True),
                ("loc", [34.79, 114.34]), ("loc", "34.79,114.34"), ("loc", {"lat": "34.79", "lon": 114.34}),
                ("loc", {"lat": 34.79}), ("loc", {"lat": None, "lon": None}), ("loc", {"lat": True, "lon": 1}),
                ("ts", bad_time(rng)),
            ])
            doc[field] = bad
            payload = dumps(doc)
            return Case("native-readings", f"bad_{field}", topic, payload, letter("schema", topic, payload))
        if pick < 0.52:  # one bad value among good ones: the good values are stored
            doc, rows = reading_item(rng, world, device)
            metric = rng.choice(list(doc["values"]))
            kind = rng.choice(["type", "unknown", "range"])
            if kind == "type":
                doc["values"][metric] = rng.choice(["12", None, [], {}, True, False, "NaN", [1.0]])
                reason = "schema"
            elif kind == "unknown":
                metric = rng.choice(["radon_bq", "", "PM25", "pm25 ", "pm\u000025", "\u6e29\u5ea6", "x" * 500,
                                     "values", "__proto__"])
                doc["values"][metric] = 1.0
                reason = "unknown_metric"
            else:
                doc["values"][metric] = out_of(rng, metric)
                reason = "out_of_range"
            rows = [r for r in rows if r.metric != metric]
            payload = dumps(doc)
            return Case("native-readings", f"value_{kind}", topic, payload,
                        Expect(rows=tuple(rows), letters=(Letter(reason, topic, payload),)))
        if pick < 0.58:
            doc, _ = reading_item(rng, world, device)
            reason = rng.choice(["stale_timestamp", "future_timestamp"])
            doc["ts"] = (stale if reason == "stale_timestamp" else future)(rng, world.now)
            payload = dumps(doc)
            return Case("native-readings", reason, topic, payload, letter(reason, topic, payload))
        if pick < 0.63:
            doc, _ = reading_item(rng, world, device)
            if rng.random() < 0.5:  # not a place on Earth: refused while decoding
                doc["loc"] = rng.choice([{"lat": 91.0, "lon": 114.3}, {"lat": 34.8, "lon": 180.5},
                                         {"lat": -1e308, "lon": 0}, {"lat": 34.8, "lon": -1e308}, {"lat": 1e308, "lon": 1e308}])
                klass = "outside_wgs84"
            else:  # a place on Earth outside every cell
                doc["loc"] = rng.choice([{"lat": 31.23, "lon": 121.47}, {"lat": 0, "lon": 0}, {"lat": -90, "lon": 180},
                                         {"lat": 34.8, "lon": 114.2}, {"lat": 90, "lon": -180}])
                klass = "outside_area"
            payload = dumps(doc)
            return Case("native-readings", klass, topic, payload, letter("out_of_area", topic, payload))
        if pick < 0.65:
            mobile = rng.choice(world.mobiles)
            doc, _ = reading_item(rng, world, world.sensors[0])
            doc.pop("loc", None)
            topic = self.topic(mobile.id)
            payload = dumps(doc)
            return Case("native-readings", "mobile_without_loc", topic, payload, letter("schema", topic, payload))
        if pick < 0.72:  # odd topics: an id no registry holds, or a topic no route accepts
            doc, _ = reading_item(rng, world, device)
            payload = dumps(doc)
            if rng.random() < 0.6:
                topic = self.topic(rng.choice(ODD_IDS + [f"{world.tag}-ghost-{rng.randrange(10**6)}"]))
                return Case("native-readings", "odd_topic_unknown_device", topic, payload,
                            letter("unknown_device", topic, payload))
            topic = rng.choice([f"{world.prefix}/readings", f"{world.prefix}/readings/", f"{world.prefix}/readings//x",
                                f"{topic}/", f"{topic}/extra", f"{world.prefix}/readings//", f"{topic}//",
                                f"{world.prefix}/readings/a/b/c/d/e/f/g/h"])
            return Case("native-readings", "odd_topic_no_route", topic, payload, letter("unknown_topic", topic, payload))
        if pick < 0.74:
            doc, _ = reading_item(rng, world, device)
            topic = self.topic(world.disabled.id)
            payload = dumps(doc)
            return Case("native-readings", "disabled_device", topic, payload, letter("unauthorized", topic, payload))
        if pick < 0.78 and self.stored:  # the same message again: stored once
            original = rng.choice(self.stored[-200:])
            return Case("native-readings", "redelivered", original.topic, original.payload,
                        nothing("a repeat of a stored reading (same device, metric and time): stored once"))
        if pick < 0.82:  # a sequence number already seen, with a new time: stored
            self.seq[device.id] = max(0, self.seq.get(device.id, 0) - rng.randint(1, 5))
            return self.valid("repeated_seq", device)
        if pick < 0.86 and device.id in self.latest:  # time running backwards: stored, late
            back = round(self.latest[device.id] - 3600 * 24 * 3 * rng.random() - 1, 3)
            if back > self.world.now - 6.5 * 86400:
                return self.valid("time_backwards", device, ts=back)
        if pick < 0.9:  # duplicate keys: the last one counts
            doc, rows = reading_item(rng, world, device)
            body = dumps(doc)[1:]
            payload = rng.choice([b'{"values":{"pm25":-5},', b'{"ts":"garbage",', b'{"values":7,']) + body
            return Case("native-readings", "duplicate_keys", topic, payload, Expect(rows=tuple(rows)))
        if pick < 0.93:  # no time: the receive time, marked estimated
            return self.valid("no_timestamp", ts=None)
        return self.valid("valid_late_in_mix")


def readings(world: World, n: int, seed: int, structured: list) -> list[Case]:
    gen = _Readings(world, random.Random(seed))
    cases = []
    for i in range(n):
        if i % 5 == 0 and structured:
            topic, payload, expect = structured[(i // 5) % len(structured)]
            cases.append(Case("native-readings", "hypothesis", topic, payload, expect))
        else:
            cases.append(gen.make())
    return cases


# -- camera events ------------------------------------------------------------------------------
TYPES = ["street_vendor", "crowding", "illegal_parking", "fire", "smoke", "garbage_overflow", "person", "a.b-c_9"]


def camera_doc(rng: random.Random, world: World, camera, event_id: str) -> tuple[dict, Event]:
    ts = recent(rng, world.now)
    doc = {"ts": _ts_field(rng, ts), "event_id": event_id, "type": rng.choice(TYPES),
           "confidence": round(rng.random(), 3), "state": rng.choice(["start", "end"])}
    cell = camera.cell_code
    if rng.random() < 0.3:
        doc["zone"] = rng.choice(["north_gate", "\u5317\u95e8", "z" * 200])
    if rng.random() < 0.2:
        lat, lon, cell = world.point(rng)
        doc["loc"] = {"lat": lat, "lon": lon}
    if rng.random() < 0.2:
        doc["snapshot_url"] = f"http://nvr.intranet/{event_id}.jpg"
    return doc, Event(camera.id, event_id, doc["state"], doc["type"], doc["confidence"], cell, ts)


@st.composite
def structured_camera(draw, world: World):
    camera = draw(st.sampled_from(world.cameras))
    event_id = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
                    .filter(lambda s: "\x00" not in s))
    rng = random.Random(draw(st.integers(0, 2**32)))
    doc, event = camera_doc(rng, world, camera, f"h-{event_id}")
    doc["confidence"] = draw(st.floats(0.0, 1.0))
    doc["type"] = draw(st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True))
    event = Event(event.camera, event.event_id, event.state, doc["type"], doc["confidence"], event.cell, event.ts)
    return f"{world.prefix}/camera/{camera.id}/events", dumps(doc), Expect(events=(event,))


def camera(world: World, n: int, seed: int, structured: list) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []
    stored: list[Case] = []
    seen_structured: set[tuple] = set()
    for i in range(n):
        cam = rng.choice(world.cameras)
        topic = f"{world.prefix}/camera/{cam.id}/events"
        doc, event = camera_doc(rng, world, cam, f"{world.tag}-e{i}")
        pick = rng.random()
        if i % 5 == 0 and structured:
            t, p, e = structured[(i // 5) % len(structured)]
            key = (t, e.events[0].event_id, e.events[0].state)
            if key in seen_structured:
                e = nothing("a repeat of a stored camera event (same camera, event id and state): stored once")
            seen_structured.add(key)
            case = Case("native-camera", "hypothesis", t, p, e)
        elif pick < 0.2:
            case = Case("native-camera", "valid", topic, dumps(doc), Expect(events=(event,)))
            stored.append(case)
        elif pick < 0.25:
            doc.pop("ts")
            event = Event(event.camera, event.event_id, event.state, event.type, event.confidence, event.cell, None)
            case = Case("native-camera", "no_timestamp", topic, dumps(doc), Expect(events=(event,)))
        elif pick < 0.35:
            klass, payload = json_junk(rng, dumps(doc))
            case = Case("native-camera", klass, topic, payload, letter("malformed_json", topic, payload))
        elif pick < 0.37:
            expect, payload = oversized(topic, doc, rng)
            case = Case("native-camera", "oversized", topic, payload, expect)
        elif pick < 0.55:
            field, bad = rng.choice([
                ("confidence", 1.5), ("confidence", -0.01), ("confidence", "0.9"), ("confidence", True),
                ("confidence", None), ("state", "middle"), ("state", "START"), ("state", None), ("state", 1),
                ("event_id", ""), ("event_id", None), ("event_id", 12), ("event_id", "e" * 201),
                ("type", ""), ("type", "a b"), ("type", "x/y"), ("type", "+"), ("type", "#"), ("type", "t" * 65),
                ("type", 5), ("type", "\u706b"), ("zone", 7), ("zone", ""), ("zone", "z" * 201),
                ("snapshot_url", "u" * 2001), ("snapshot_url", []), ("loc", [1, 2]), ("ts", bad_time(rng)),
                ("event_id", "e\u0000x"), ("zone", "gate\u0001"), ("snapshot_url", "http://nvr/\u0000.jpg"),
                ("event_id", "e\u009b1"),
            ])
            doc[field] = bad
            payload = dumps(doc)
            case = Case("native-camera", f"bad_{field}", topic, payload, letter("schema", topic, payload))
        elif pick < 0.6:
            payload = dumps(rng.choice([[doc], 1, "event", None, [], {}]))
            case = Case("native-camera", "wrong_type", topic, payload, letter("schema", topic, payload))
        elif pick < 0.66:
            reason = rng.choice(["stale_timestamp", "future_timestamp"])
            doc["ts"] = (stale if reason == "stale_timestamp" else future)(rng, world.now)
            payload = dumps(doc)
            case = Case("native-camera", reason, topic, payload, letter(reason, topic, payload))
        elif pick < 0.7:
            doc["loc"] = rng.choice([{"lat": 91, "lon": 0}, {"lat": 0, "lon": -181}, {"lat": 31.23, "lon": 121.47},
                                     {"lat": 0, "lon": 0}])
            payload = dumps(doc)
            case = Case("native-camera", "loc_outside", topic, payload, letter("out_of_area", topic, payload))
        elif pick < 0.76:
            payload = dumps(doc)
            if rng.random() < 0.5:
                topic = f"{world.prefix}/camera/{rng.choice(ODD_IDS)}/events"
                case = Case("native-camera", "unknown_camera", topic, payload, letter("unknown_device", topic, payload))
            else:
                topic = f"{world.prefix}/camera/{rng.choice(world.sensors + [world.disabled]).id}/events"
                case = Case("native-camera", "not_a_camera", topic, payload, letter("unauthorized", topic, payload))
        elif pick < 0.8:
            payload = dumps(doc)
            topic = rng.choice([f"{world.prefix}/camera/{cam.id}", f"{world.prefix}/camera/{cam.id}/events/",
                                f"{world.prefix}/camera//events", f"{world.prefix}/camera/{cam.id}/event",
                                f"{world.prefix}/camera", f"{world.prefix}/camera/{cam.id}/events/x/y"])
            case = Case("native-camera", "odd_topic_no_route", topic, payload, letter("unknown_topic", topic, payload))
        elif pick < 0.85 and stored:
            original = rng.choice(stored[-100:])
            case = Case("native-camera", "redelivered", original.topic, original.payload,
                        nothing("a repeat of a stored camera event (same camera, event id and state): stored once"))
        else:
            case = Case("native-camera", "valid", topic, dumps(doc), Expect(events=(event,)))
            stored.append(case)
        cases.append(case)
    return cases


# -- status -------------------------------------------------------------------------------------
def status(world: World, n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        device = rng.choice(world.sensors + world.cameras + world.mobiles)
        topic = f"{world.prefix}/status/{device.id}"
        pick = rng.random()
        if pick < 0.4:
            payload = rng.choice([b"online", b"offline", b'"online"', b" ONLINE\n", b"Offline", b'"offline"'])
            cases.append(Case("native-status", "status", topic, payload,
                              nothing("a status: the device's online/offline state, no row")))
        elif pick < 0.6:
            payload = rng.choice([b"", b"maybe", b"1", b"\xff\xfe", b'{"state":"online"}', b"on line", b"null",
                                  b"\xef\xbb\xbfonline", b"online\x00", "\u043e\u043d\u043b\u0430\u0439\u043d".encode()])
            if payload == b"":
                cases.append(Case("native-status", "cleared_status", topic, payload, CLEARED))
            else:
                cases.append(Case("native-status", "bad_status", topic, payload, letter("schema", topic, payload)))
        elif pick < 0.7:
            topic = f"{world.prefix}/status/{rng.choice(ODD_IDS)}"
            cases.append(Case("native-status", "unknown_device", topic, b"online",
                              nothing("the status of an unregistered device is not dead-lettered (retained "
                                      "statuses would repeat it on every connect)")))
        elif pick < 0.75:
            topic = f"{world.prefix}/status/{world.disabled.id}"
            cases.append(Case("native-status", "disabled_device", topic, b"online",
                              nothing("the status of a disabled device is dropped")))
        elif pick < 0.85:
            topic = rng.choice([f"{world.prefix}/status", f"{world.prefix}/status/", f"{world.prefix}/status/{device.id}/",
                                f"{world.prefix}/status//{device.id}", f"{world.prefix}/status/{device.id}/lwt"])
            cases.append(Case("native-status", "odd_topic_no_route", topic, b"online",
                              letter("unknown_topic", topic, b"online")))
        elif pick < 0.87:
            payload = b"online" + b" " * (256 * 1024)
            cases.append(Case("native-status", "oversized", topic, payload,
                              letter("oversized", topic, payload[:DEAD_LETTER_HEAD])))
        else:
            payload = rng.choice([b"online", b"offline"])
            cases.append(Case("native-status", "status", topic, payload,
                              nothing("a status: the device's online/offline state, no row")))
    return cases
