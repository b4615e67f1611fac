"""The hostile corpus's vocabulary: what a generated message is (`Case`), what it must become (`Expect`),
the world it is sent into (`World`: topic roots, registered devices, the clock), and the hostile byte
classes that every JSON source shares (zero length, BOM, invalid UTF-8, NaN tokens, deep nesting, ...).

Every case carries its own expectation, written from the contract (docs/adapters.md,
docs/mqtt.md), not from the gateway's code: the rows it must store, the camera events,
the dead letters (reason, topic, payload) it must cause, or, when it legitimately
produces nothing, why (`nothing`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import orjson

from gateway.adapters import make_device_id
from twin.devices.device import Device, DeviceKind, DeviceStatus

DAY = 86400.0
MAX_PAYLOAD = 256 * 1024  # gateway.max_payload_bytes
MAX_ARRAY = 1000  # gateway.max_batch_readings
DEAD_LETTER_HEAD = 4096  # an oversized payload is dead-lettered truncated to this many bytes
# Metrics the generators use, with their valid range (the default catalog's).
RANGES = {"pm25": (0.0, 2000.0), "noise_db": (0.0, 160.0), "temperature_c": (-50.0, 80.0), "humidity_pct": (0.0, 100.0)}


@dataclass(frozen=True, slots=True)
class Row:
    """A reading row that must be stored; `ts` None: the receive time (no time in the payload)."""

    device: str
    metric: str
    value: float
    cell: str | None
    ts: float | None


@dataclass(frozen=True, slots=True)
class Event:
    """A camera event row that must be stored; `ts` None: the receive time."""

    camera: str
    event_id: str
    state: str
    type: str
    confidence: float
    cell: str | None
    ts: float | None


@dataclass(frozen=True, slots=True)
class Letter:
    """A dead letter that must be published: its reason, the original topic and the payload it carries."""

    reason: str
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Expect:
    rows: tuple[Row, ...] = ()
    events: tuple[Event, ...] = ()
    letters: tuple[Letter, ...] = ()
    nothing: str = ""  # why the message legitimately stores and dead-letters nothing

    @property
    def outcome(self) -> str:
        """stored, dead_lettered, partly (stored and dead-lettered) or nothing."""
        stored = bool(self.rows or self.events)
        if stored and self.letters:
            return "partly"
        if stored:
            return "stored"
        if self.letters:
            return "dead_lettered"
        if not self.nothing:
            raise ValueError("an expectation of nothing must say why")
        return "nothing"


@dataclass(frozen=True, slots=True)
class Case:
    """One generated message: its source, its class, where it goes and what it must become."""

    source: str
    klass: str
    topic: str
    payload: bytes
    expect: Expect


def letter(reason: str, topic: str, payload: bytes) -> Expect:
    return Expect(letters=(Letter(reason, topic, payload),))


def nothing(why: str) -> Expect:
    return Expect(nothing=why)


# An empty retained message on a status topic is how a retained status is deleted.
CLEARED = nothing("an empty retained message clears a retained status: nothing to record")


def dumps(doc) -> bytes:
    return orjson.dumps(doc)


def iso(ts: float, offset_hours: int = 0) -> str:
    """RFC 3339 with milliseconds and an offset (Z for UTC), exact to the millisecond."""
    ms = round(ts * 1000)
    zone = timezone(timedelta(hours=offset_hours))
    stamp = datetime.fromtimestamp(ms // 1000, zone) + timedelta(milliseconds=ms % 1000)
    text = stamp.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


# -- the world ------------------------------------------------------------------------------
@dataclass
class World:
    """Where a corpus is sent: topic roots under `tag` (a shared broker stays clean), the grid,
    the devices registered before the run, and `now`, the generation time."""

    tag: str
    grid: object
    now: float
    sensors: list[Device] = field(default_factory=list)
    mobiles: list[Device] = field(default_factory=list)
    cameras: list[Device] = field(default_factory=list)
    disabled: Device | None = None
    placed: dict[str, str] = field(default_factory=dict)  # third-party device id -> its registered cell

    @property
    def prefix(self) -> str:
        return f"{self.tag}/v1"

    def adapter_options(self) -> dict:
        """Every adapter on its own topic roots under the tag; Home Assistant's state topics statically
        subscribed, so that a state right after its config is never published before the subscription."""
        tag = self.tag
        return {
            "frigate": {"topic_prefix": f"{tag}/frigate"},
            "ttn": {"applications": [f"{tag}@ttn"]},
            "zigbee2mqtt": {"base_topic": f"{tag}/z2m"},
            "senml": {"topics": [f"{tag}/senml/#"]},
            "tasmota": {"telemetry_prefix": f"{tag}/tele"},
            "esphome": {"topic_prefixes": [f"{tag}/esp/+"]},
            "alink": {"product_keys": [tag]},
            "homeassistant": {"discovery_prefix": f"{tag}/ha", "state_filters": [f"{tag}/hass/#"]},
        }

    def cell_of(self, lat: float, lon: float) -> str | None:
        return self.grid.locate([lon], [lat])[0]

    def point(self, rng: random.Random) -> tuple[float, float, str]:
        """A point well inside a random cell: (lat, lon, cell)."""
        cell = rng.choice(self.grid.cells)
        p = cell.geometry.representative_point()
        return round(p.y, 6), round(p.x, 6), self.cell_of(round(p.y, 6), round(p.x, 6))

    def devices(self) -> list[Device]:
        return [*self.sensors, *self.mobiles, *self.cameras, *([self.disabled] if self.disabled else []),
                *self._third_party]

    def place(self, adapter_prefix: str, source_id: str, rng: random.Random, kind=DeviceKind.SENSOR) -> None:
        """Register a third-party device (the id its adapter derives) where a random cell is."""
        device_id = make_device_id(adapter_prefix, source_id)
        lat, lon, cell = self.point(rng)
        self.placed[device_id] = cell
        self._third_party.append(Device(device_id, kind, lat, lon, cell_code=cell, registered_at=self.now))

    def __post_init__(self) -> None:
        self._third_party: list[Device] = []

    def third_party_cell(self, device_id: str) -> str | None:
        """The cell of a third-party device: its registered one, or None for one that becomes pending."""
        return self.placed.get(device_id)


def make_world(tag: str, grid, now: float, *, sensors: int = 40, mobiles: int = 8, cameras: int = 12,
               seed: int = 0) -> World:
    rng = random.Random(seed)
    world = World(tag, grid, now)
    for i in range(sensors):
        lat, lon, cell = world.point(rng)
        world.sensors.append(Device(f"{tag}-s{i:03d}", DeviceKind.SENSOR, lat, lon, cell_code=cell,
                                    metrics=tuple(RANGES), registered_at=now))
    for i in range(mobiles):
        world.mobiles.append(Device(f"{tag}-m{i:03d}", DeviceKind.SENSOR, None, None, mobile=True, registered_at=now))
    for i in range(cameras):
        lat, lon, cell = world.point(rng)
        world.cameras.append(Device(f"{tag}-c{i:03d}", DeviceKind.CAMERA, lat, lon, cell_code=cell, registered_at=now))
    lat, lon, cell = world.point(rng)
    world.disabled = Device(f"{tag}-off", DeviceKind.SENSOR, lat, lon, cell_code=cell, status=DeviceStatus.DISABLED,
                            registered_at=now)
    return world


# -- times ----------------------------------------------------------------------------------
def recent(rng: random.Random, now: float) -> float:
    """A time well inside the accepted window (7 days back, 5 minutes ahead), to the millisecond."""
    return round(now - rng.uniform(120.0, 6 * DAY), 3)


def stale(rng: random.Random, now: float) -> object:
    return rng.choice([round(now - rng.uniform(8 * DAY, 3650 * DAY), 3), 0, -1e308, -62135596800.0,
                       "1970-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", iso(now - 30 * DAY, 8)])


def future(rng: random.Random, now: float) -> object:
    return rng.choice([round(now + rng.uniform(3600.0, 3650 * DAY), 3), 1e308, 253402300799.0,
                       "9999-12-31T23:59:59-23:59", iso(now + 2 * DAY, -5)])


def bad_time(rng: random.Random) -> object:
    """Not a time at all: wrong types and unparseable strings (schema)."""
    return rng.choice([True, False, [], {}, [1795939200], {"s": 1}, "yesterday", "2026-13-45T00:00:00Z",
                       "2026-11-29T08:00:00", "", "\u0661\u0662:\u0663\u0664", "1795939200x"])


def value_in(rng: random.Random, metric: str) -> float:
    low, high = RANGES[metric]
    return round(rng.uniform(low, high), 2)


def out_of(rng: random.Random, metric: str) -> float:
    low, high = RANGES[metric]
    return rng.choice([round(low - rng.uniform(1, 1e6), 2), round(high + rng.uniform(1, 1e6), 2), -1e308, 1e308])


# -- byte-level hostile classes -------------------------------------------------------------
def nan_token(rng: random.Random) -> bytes:
    return rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"nan", b"inf", b"1" * 400])


def with_bom(payload: bytes) -> bytes:
    return b"\xef\xbb\xbf" + payload


def invalid_utf8(rng: random.Random, payload: bytes) -> bytes:
    """A JSON payload with a string member holding bytes that are not UTF-8."""
    junk = rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80abc"])
    if payload.startswith(b"{") and len(payload) > 2:
        return b'{"note":"' + junk + b'",' + payload[1:]
    if payload.startswith(b"[") and len(payload) > 2:
        return b'["' + junk + b'",' + payload[1:]
    return payload + junk


def truncated(rng: random.Random, payload: bytes) -> bytes:
    return payload[: rng.randrange(1, max(2, len(payload) - 1))]


def deep(depth: int, inner: bytes = b"0") -> bytes:
    return b"[" * depth + inner + b"]" * depth


def padded(doc: dict, rng: random.Random) -> bytes:
    """The document with a padding member that makes it larger than the gateway accepts."""
    size = rng.choice([MAX_PAYLOAD + 1, MAX_PAYLOAD + rng.randrange(1, 4096), rng.randrange(300_000, 1_000_000)])
    base = dumps(doc)
    fill = size - len(base) - len(b',"pad":""')
    return base[:-1] + b',"pad":"' + b"x" * max(fill, 0) + b'"}'


def oversized(topic: str, doc: dict, rng: random.Random) -> tuple[Expect, bytes]:
    """(expectation, payload) of a document padded past the size limit: dead-lettered truncated."""
    payload = padded(doc, rng)
    return Expect(letters=(Letter("oversized", topic, payload[:DEAD_LETTER_HEAD]),)), payload


def json_junk(rng: random.Random, payload: bytes) -> tuple[str, bytes]:
    """One of the byte classes every JSON source must refuse as `malformed_json`: (class, payload)."""
    klass = rng.choice(["zero_length", "bom", "invalid_utf8", "nan_token", "truncated", "too_deep", "not_json",
                        "lone_surrogate"])
    if klass == "zero_length":
        return klass, b""
    if klass == "bom":
        return klass, with_bom(payload)
    if klass == "invalid_utf8":
        return klass, invalid_utf8(rng, payload)
    if klass == "nan_token":
        if payload.startswith(b"{") and len(payload) > 2:
            return klass, b'{"x":' + nan_token(rng) + b"," + payload[1:]
        return klass, b"[" + nan_token(rng) + b"]"
    if klass == "truncated":
        return klass, truncated(rng, payload)
    if klass == "too_deep":
        return klass, deep(rng.randrange(1025, 5000))
    if klass == "lone_surrogate":
        return klass, b'{"x":"\\ud800",' + payload[1:] if payload.startswith(b"{") else b'["\\udfff"]'
    return klass, rng.choice([b"{", b"}", b"{'a': 1}", b"undefined", b"\x00\x01\x02", b"<xml/>", b"{\"a\":01}",
                              b"[1,]", b"{\"a\" 1}", b"\"unterminated", b"\xff\xd8\xff\xe0JFIF"])
