"""What a scenario file says, as frozen dataclasses: the area, the fleet, the weather, and the
incidents and device faults injected on purpose (the ground truth). `build.py` turns a
Scenario into a World: a grid, devices, simulator incidents and faults, all resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True, slots=True)
class Area:
    """The built-in demo grid (in street blocks, or the square one), or a grid generated over `bbox`
    (min_lon, min_lat, max_lon, max_lat)."""

    grid: str = "demo"  # "demo" | "demo-square" | "generated"
    bbox: tuple[float, float, float, float] | None = None
    cell_size_m: float = 200.0
    shape: str = "square"
    district_code: str = "410204"
    district_name: str = ""
    streets: tuple[int, int] = (2, 2)
    communities: tuple[int, int] = (2, 2)


@dataclass(frozen=True, slots=True)
class Fleet:
    """The devices: counts, the sensor mix (type -> weight; None: the standard mix), reporting
    intervals (simulated seconds; per sensor type where given) and what cameras detect."""

    sensors: int = 100
    cameras: int = 10
    seed: int = 0
    interval_s: float = 300.0
    intervals: Mapping[str, float] = field(default_factory=dict)
    mix: Mapping[str, float] | None = None
    camera_events: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class StormSpec:
    start: float
    end: float
    peak_mm_h: float


@dataclass(frozen=True, slots=True)
class IncidentSpec:
    """An injected incident as written: `cell` None means "a cell where a device would notice it".

    With `spread` > 0 it reaches that many rings of neighbouring cells, each ring starting
    `spread_delay_s` later than the one inside it (water spreading down the street).
    """

    type: str
    start: float
    end: float
    cell: str | None = None
    magnitude: float = 1.5
    spread: int = 0
    spread_delay_s: float = 600.0
    id: str = ""
    line: int | None = None
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # key -> its line in the file


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """An injected device fault as written: `device` None means "pick one", of `sensor_type` if given."""

    kind: str
    start: float
    end: float
    device: str | None = None
    sensor_type: str | None = None
    metric: str | None = None
    value: float | None = None
    size: float = 2.0
    every_s: float = 1800.0
    rate: float = 0.0
    offset_s: float = 0.0
    will: bool = True
    id: str = ""
    line: int | None = None
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # key -> its line in the file


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario file. Times are Unix epoch seconds (UTC); `start` is when scoring begins and
    `warmup_s` of ordinary life before it lets detectors learn what is usual."""

    name: str
    start: float
    duration_s: float
    description: str = ""
    seed: int = 0
    warmup_s: float = 0.0
    utc_offset_h: float = 8.0
    rain_chance: float = 0.12
    storms: tuple[StormSpec, ...] = ()
    area: Area = field(default_factory=Area)
    fleet: Fleet = field(default_factory=Fleet)
    incidents: tuple[IncidentSpec, ...] = ()
    faults: tuple[FaultSpec, ...] = ()
    path: Path | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration_s

    @property
    def begin(self) -> float:
        """When the simulation starts: `start` minus the warm-up."""
        return self.start - self.warmup_s
