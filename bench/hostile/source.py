"""What the generators of the third-party adapters' corpora share (bridges.py, platforms.py).

Each source has `valid(rng, values)` (one well-formed message of its documented format and the rows
or events it must store; hypothesis draws `values` for the structured share) and `hostile(rng)`
(its own hostile classes, each with the outcome docs/adapters.md gives it). The byte classes that
every JSON source shares come from `corpus.json_junk`.
"""

from __future__ import annotations

import random

from bench.hostile.corpus import Case, Expect, Row, World, dumps, json_junk, letter, oversized, value_in
from gateway.adapters import make_device_id
from twin.devices.device import DeviceKind

FIELDS = {"temperature": "temperature_c", "humidity": "humidity_pct", "pm25": "pm25"}
STATUS = "a status: the device's online/offline state, no row"
IGNORED = "a topic the adapter takes and ignores on purpose (commands, the bridge, snapshots, replies)"


def _values(rng: random.Random, values: dict | None, k: int | None = None) -> dict[str, float]:
    """Source field -> value: hypothesis-drawn `values` when given, else random ones in range."""
    if values is not None:
        return dict(values)
    names = rng.sample(list(FIELDS), k or rng.randint(1, 3))
    return {n: value_in(rng, FIELDS[n]) for n in names}


class Source:
    """A third-party source: its name, the id prefix its adapter gives devices, and its device pool
    (half registered with a place, half left to become pending)."""

    name = ""
    prefix = ""
    kind = DeviceKind.SENSOR

    def __init__(self, world: World, seed: int, names: list[str]):
        self.world = world
        self.rng = random.Random(seed)
        self.names = names
        for i, name in enumerate(names):
            if i % 2 == 0 and make_device_id(self.prefix, self.source_id(name)) is not None:
                world.place(self.prefix, self.source_id(name), self.rng, self.kind)

    def source_id(self, name: str) -> str:
        return name

    def device(self, name: str) -> str | None:
        return make_device_id(self.prefix, self.source_id(name))

    def cell(self, device_id: str) -> str | None:
        return self.world.third_party_cell(device_id)

    def rows(self, device_id: str, values: dict, ts: float | None, scale=None, cell: str | None | bool = False) -> tuple:
        cell = self.cell(device_id) if cell is False else cell
        return tuple(Row(device_id, FIELDS[n], scale(v) if scale else v, cell, ts) for n, v in values.items())

    def case(self, klass: str, topic: str, payload: bytes, expect: Expect) -> Case:
        return Case(self.name, klass, topic, payload, expect)

    def junk(self, topic: str, payload: bytes) -> Case:
        klass, bad = json_junk(self.rng, payload)
        return self.case(klass, topic, bad, letter("malformed_json", topic, bad))

    def oversized(self, topic: str, doc) -> Case:
        expect, payload = oversized(topic, doc if isinstance(doc, dict) else {"doc": doc}, self.rng)
        return self.case("oversized", topic, payload, expect)

    def broken(self, pick: float, topic: str, doc) -> Case | None:
        """The share every JSON source gives to broken bytes: a quarter JSON junk, 3 % oversized."""
        if pick < 0.25:
            return self.junk(topic, dumps(doc))
        if pick < 0.28:
            return self.oversized(topic, doc)
        return None

    def make(self, i: int, structured: list) -> Case:
        if i % 5 == 0 and structured:
            return self.valid(self.rng, structured[(i // 5) % len(structured)], klass="hypothesis")
        if self.rng.random() < 0.3:
            return self.valid(self.rng, None)
        return self.hostile(self.rng)

    def valid(self, rng: random.Random, values: dict | None, klass: str = "valid") -> Case:
        raise NotImplementedError

    def hostile(self, rng: random.Random) -> Case:
        raise NotImplementedError
