"""Device faults: what a broken sensor, a flat battery or a confused clock does to what a device
publishes. A scenario injects them next to real incidents; the gateway must report them as
device-health alerts, not as incidents.

A fault acts on one device from `start` to `end` (simulated epoch seconds):

    stuck         one metric repeats the same value (`value`, else the first reading's)
    spikes        one metric jumps to `size` times its critical threshold for a single reading,
                  about once every `every_s` seconds, then reads normally again
    drift         one metric creeps away by `rate` units per hour (a fouled or ageing sensor)
    dropout       the device is silent; with `will` its connection drops, so the broker publishes
                  its last will, and it uploads what it measured meanwhile when it comes back
    battery       the battery drains to empty at `end`; the device then dies (last will) for good
    clock_skew    timestamps are off by `offset_s` seconds
    duplicates    every message is published twice
    out_of_order  messages leave in swapped pairs (each one after its successor)

`FaultEffects` applies the faults of one device to its readings; the player asks it what to
publish and when.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from typing import Iterable

from twin.sensing.catalog import Metric, MetricCatalog

FAULT_KINDS = ("stuck", "spikes", "drift", "dropout", "battery", "clock_skew", "duplicates", "out_of_order")
VALUE_FAULTS = ("stuck", "spikes", "drift")  # these act on one metric


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected device fault; see the module docstring for what each kind does."""

    kind: str
    device_id: str
    start: float
    end: float
    metric: str | None = None
    value: float | None = None
    size: float = 2.0
    every_s: float = 1800.0
    rate: float = 0.0
    offset_s: float = 0.0
    will: bool = True
    id: str = field(default="", compare=False)

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.end <= self.start:
            raise ValueError(f"fault {self.kind} of {self.device_id} ends ({self.end}) before it starts ({self.start})")
        if self.kind in VALUE_FAULTS and not self.metric:
            raise ValueError(f"fault {self.kind} of {self.device_id} needs the metric it acts on")
        if self.kind == "spikes" and self.every_s <= 0:
            raise ValueError("spikes: every_s must be positive")
        if not self.id:
            key = f"{self.kind}|{self.device_id}|{self.start:.3f}".encode()
            object.__setattr__(self, "id", f"flt-{zlib.crc32(key):08x}")

    def active(self, t: float) -> bool:
        return self.start <= t < self.end


def spike_value(metric: Metric, size: float) -> float:
    """The value a spike reads: `size` times the metric's critical (else warning) threshold."""
    reference = metric.critical if metric.critical is not None else metric.warning
    if reference is None:
        reference = (metric.valid_max or 100.0) / 2.0
    value = reference * size if metric.direction == "above" else reference / size
    if metric.valid_max is not None:
        value = min(value, metric.valid_max)
    if metric.valid_min is not None:
        value = max(value, metric.valid_min)
    return round(value, 2)


class FaultEffects:
    """The faults of one device, applied reading by reading (in time order)."""

    def __init__(self, faults: Iterable[Fault], catalog: MetricCatalog, seed: int = 0):
        self.faults = tuple(sorted(faults, key=lambda f: f.start))
        self.catalog = catalog
        self.rng = random.Random(zlib.crc32(f"{seed}|{'|'.join(f.id for f in self.faults)}".encode()))
        self._held: dict[str, float] = {}  # stuck fault id -> the value it repeats
        self._next_spike: dict[str, float] = {}  # spikes fault id -> when the next spike is due
        self._spiked = False
        self._battery_at_start: dict[str, float] = {}

    def __bool__(self) -> bool:
        return bool(self.faults)

    def active(self, kind: str, t: float) -> Fault | None:
        for fault in self.faults:
            if fault.kind == kind and fault.active(t):
                return fault
        return None

    def dead(self, t: float) -> bool:
        """A battery fault ran out: the device is gone for good."""
        return any(f.kind == "battery" and t >= f.end for f in self.faults)

    def silent(self, t: float) -> Fault | None:
        """The dropout under way at `t`, if any."""
        return self.active("dropout", t)

    def reading(self, t: float, reading: dict, interval: float) -> dict:
        """`reading` (seq, values, battery) with the value and battery faults at `t` applied, in place."""
        values = reading["values"]
        spiked = False
        for fault in self.faults:
            if not fault.active(t):
                continue
            if fault.kind == "battery":
                start = self._battery_at_start.setdefault(fault.id, reading.get("battery", 1.0))
                left = (fault.end - t) / (fault.end - fault.start)
                reading["battery"] = round(max(0.0, start * left), 4)
                continue
            if fault.metric not in values:
                continue
            metric = self.catalog.get(fault.metric)
            if metric is None or metric.kind == "bool":
                continue
            if fault.kind == "stuck":
                held = self._held.setdefault(fault.id, fault.value if fault.value is not None else values[fault.metric])
                values[fault.metric] = held
            elif fault.kind == "drift":
                values[fault.metric] = metric.clip(round(values[fault.metric] + fault.rate * (t - fault.start) / 3600.0, 2))
            elif fault.kind == "spikes":
                # Isolated single readings, about every `every_s`: never two in a row.
                due = self._next_spike.setdefault(fault.id, fault.start + fault.every_s * self.rng.uniform(0.1, 1.0))
                if t >= due and not self._spiked:
                    values[fault.metric] = spike_value(metric, fault.size)
                    spiked = True
                    self._next_spike[fault.id] = t + max(interval * 2, fault.every_s * self.rng.uniform(0.5, 1.5))
        self._spiked = spiked
        return reading

    def timestamp(self, t: float) -> float:
        """The time the device stamps on what it measured at `t`."""
        skew = self.active("clock_skew", t)
        return t + skew.offset_s if skew else t

    def copies(self, t: float) -> int:
        """How many times the message measured at `t` is published."""
        return 2 if self.active("duplicates", t) else 1

    def swaps(self, t: float) -> bool:
        """Whether the message measured at `t` is held back and sent after the next one."""
        return self.active("out_of_order", t) is not None
