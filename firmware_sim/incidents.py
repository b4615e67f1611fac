"""Incidents: a fire, a flood or a pile of rubbish in one cell, pushing its sensors past the
catalog's critical thresholds and making its cameras report the matching events.

An incident's effect is a pure function of time: while it lasts, each affected
metric starts just past its critical threshold and rises to `magnitude` times
the threshold; booleans (smoke, manhole open) are true. After it ends, the
value falls back to the normal behaviour, slowly for standing water.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from twin.devices.device import Device, DeviceKind
from twin.sensing.catalog import Metric, MetricCatalog

CAMERA_EVENT_TYPES = ("fire", "smoke", "crowding", "illegal_parking", "street_vendor", "waterlogging")


@dataclass(frozen=True, slots=True)
class IncidentType:
    """What an incident of one kind does: metrics pushed past critical, camera events reported."""

    name: str
    metrics: tuple[str, ...] = ()
    camera_events: tuple[str, ...] = ()
    linger_s: float = 30.0  # time constant of the fall back to normal after the end


INCIDENT_TYPES: Mapping[str, IncidentType] = {
    t.name: t
    for t in (
        IncidentType("fire", ("smoke", "smoke_obscuration", "pm25", "pm10", "temperature_c"), ("fire", "smoke"), 120.0),
        IncidentType("smoke", ("smoke", "smoke_obscuration", "pm25", "pm10"), ("smoke",), 60.0),
        IncidentType("air_pollution", ("pm25", "pm10"), (), 300.0),
        IncidentType("noise", ("noise_db",)),
        IncidentType("crowding", ("noise_db",), ("crowding",)),
        IncidentType("waterlogging", ("water_level_cm",), ("waterlogging",), 900.0),
        IncidentType("bin_overflow", ("bin_fill_pct",)),
        IncidentType("manhole_open", ("manhole_open", "manhole_tilt_deg"), (), 5.0),
        IncidentType("illegal_parking", ("parking_occupied",), ("illegal_parking",), 0.0),
        IncidentType("street_vendor", (), ("street_vendor",), 0.0),
    )
}


@dataclass(frozen=True, slots=True)
class Incident:
    """Something happening in one cell from `start` to `end` (simulated epoch seconds).

    `magnitude` is how far past the critical threshold the affected metrics
    climb (1.5: to one and a half times the threshold).
    """

    type: str
    cell_code: str
    start: float
    end: float
    magnitude: float = 1.5
    id: str = field(default="", compare=False)

    def __post_init__(self):
        if self.type not in INCIDENT_TYPES:
            raise ValueError(f"unknown incident type {self.type!r}; known: {', '.join(INCIDENT_TYPES)}")
        if self.end <= self.start:
            raise ValueError(f"incident {self.type} in {self.cell_code} ends ({self.end}) before it starts ({self.start})")
        if not self.id:
            key = f"{self.type}|{self.cell_code}|{self.start:.3f}".encode()
            object.__setattr__(self, "id", f"inc-{zlib.crc32(key):08x}")

    @property
    def kind(self) -> IncidentType:
        return INCIDENT_TYPES[self.type]

    def active(self, t: float) -> bool:
        return self.start <= t < self.end

    def effect(self, metric: Metric, t: float) -> float | bool | None:
        """The value the incident imposes on `metric` at `t`, or None where it has no say."""
        kind = self.kind
        if metric.name not in kind.metrics or t < self.start:
            return None
        if metric.kind == "bool":
            return True if t < self.end else None
        threshold = _threshold(metric)
        if threshold is None:
            return None
        rise = min(120.0, 0.25 * (self.end - self.start))
        peak = max(self.magnitude, 1.1)
        if t < self.end:
            ramp = min(1.0, (t - self.start) / rise) if rise > 0 else 1.0
            factor = 1.05 + (peak - 1.05) * ramp
            return threshold * factor if metric.direction == "above" else threshold / factor
        if kind.linger_s <= 0:
            return None
        decay = math.exp(-(t - self.end) / kind.linger_s)
        if decay < 0.01:
            return None
        return threshold * peak * decay if metric.direction == "above" else None


def _threshold(metric: Metric) -> float | None:
    if metric.critical is not None:
        return float(metric.critical)
    if metric.warning is not None:
        return float(metric.warning)
    return None


def apply_incidents(values: dict, incidents: Iterable[Incident], t: float, catalog: MetricCatalog,
                    jitter: Callable[[], float] | None = None) -> dict:
    """`values` (metric -> value) with the incidents' effects at `t` laid over them, in place.

    `jitter()`, when given, returns a factor close to 1 for each imposed value: measurement
    noise (kept within a few per cent, so an incident still reads past its threshold)."""
    for incident in incidents:
        for name in incident.kind.metrics:
            if name not in values:
                continue
            metric = catalog.get(name)
            if metric is None:
                continue
            forced = incident.effect(metric, t)
            if forced is None:
                continue
            if metric.kind == "bool":
                values[name] = True
            else:
                if jitter is not None:
                    forced *= jitter()
                worse = max if metric.direction == "above" else min
                value = worse(values[name], forced)
                if metric.valid_max is not None:
                    value = min(value, metric.valid_max)
                if metric.valid_min is not None:
                    value = max(value, metric.valid_min)
                values[name] = round(float(value), 2)
    return values


def suitable_cells(fleet: Sequence[Device], incident_type: str) -> list[str]:
    """Codes of the cells with a device that would notice an incident of this type, sorted."""
    kind = INCIDENT_TYPES[incident_type]
    cells = set()
    for device in fleet:
        if device.cell_code is None or device.mobile:
            continue
        if device.kind is DeviceKind.CAMERA:
            if set(kind.camera_events) & set(camera_event_types(device)):
                cells.add(device.cell_code)
        elif set(kind.metrics) & set(device.metrics):
            cells.add(device.cell_code)
    return sorted(cells)


def camera_event_types(device: Device) -> tuple[str, ...]:
    """The event types a camera detects: its `events` attribute, else all of them."""
    return tuple(device.attributes.get("events") or CAMERA_EVENT_TYPES)


def random_incidents(
    grid,
    fleet: Sequence[Device],
    n: int,
    start: float,
    seed: int = 0,
    *,
    spread: float = 0.0,
    duration: tuple[float, float] = (300.0, 900.0),
    magnitude: tuple[float, float] = (1.3, 2.0),
) -> list[Incident]:
    """`n` incidents of varied types in cells whose devices will notice them.

    They start between `start` and `start + spread` (simulated seconds), so a
    demo shows anomalies as soon as each device has reported once. Types take
    turns; each incident gets a cell of its own while unused suitable cells remain.
    """
    rng = random.Random(seed)
    known = {c.code for c in grid.cells}
    candidates = {
        name: [code for code in suitable_cells(fleet, name) if code in known] for name in INCIDENT_TYPES
    }
    types = [name for name, cells in candidates.items() if cells]
    if not types or n <= 0:
        return []
    rng.shuffle(types)
    used: set[str] = set()
    incidents = []
    for i in range(n):
        name = types[i % len(types)]
        cells = candidates[name]
        fresh = [c for c in cells if c not in used]
        code = rng.choice(fresh or cells)
        used.add(code)
        begin = start + rng.uniform(0.0, spread)
        incidents.append(
            Incident(name, code, begin, begin + rng.uniform(*duration), round(rng.uniform(*magnitude), 2))
        )
    return incidents
