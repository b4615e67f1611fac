"""A generated fleet: sensors of every type and AI cameras at random points inside grid cells,
and mobile sensors carried around by delivery riders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import shapely

from firmware_sim.errors import FleetError
from firmware_sim.incidents import CAMERA_EVENT_TYPES
from twin.devices.device import Device, DeviceKind


@dataclass(frozen=True, slots=True)
class SensorType:
    """A kind of sensor: its model name, device id prefix, metrics and share of a generated fleet."""

    name: str
    prefix: str
    metrics: tuple[str, ...]
    weight: float = 1.0


SENSOR_TYPES: tuple[SensorType, ...] = (
    SensorType("air_quality", "aq", ("pm25", "pm10"), 0.18),
    SensorType("noise", "ns", ("noise_db",), 0.14),
    SensorType("water_level", "wl", ("water_level_cm",), 0.10),
    SensorType("weather", "wx", ("temperature_c", "humidity_pct"), 0.08),
    SensorType("smoke", "sm", ("smoke", "smoke_obscuration"), 0.12),
    SensorType("bin", "bin", ("bin_fill_pct",), 0.14),
    SensorType("manhole", "mh", ("manhole_tilt_deg", "manhole_open"), 0.10),
    SensorType("parking", "pk", ("parking_occupied",), 0.14),
)
MOBILE_TYPE = SensorType("mobile_air_noise", "mob", ("pm25", "pm10", "noise_db"), 0.0)
CAMERA_MODEL, CAMERA_PREFIX = "ai_camera", "cam"
CAMERA_ZONES = ("north_gate", "south_gate", "market", "main_road", "square", "school_gate", "riverside")


def make_fleet(grid, *, sensors: int, cameras: int, seed: int = 0, mobile: int = 0,
               mix: Mapping[str, float] | None = None) -> list[Device]:
    """`sensors` fixed sensors, `cameras` cameras and `mobile` mobile sensors on `grid`, the same for the same seed.

    Sensor types share the fleet by their weights (each type at least once when
    there are enough sensors), or by `mix` (sensor type name -> weight; types it
    leaves out get none); ids count per type: aq-0001, cam-0001, mob-0001.
    Fixed devices lie at uniform random points inside a random cell and carry its
    code; cameras take distinct cells while there are cells left. Mobile sensors
    start inside the grid and are located per reading.
    """
    if min(sensors, cameras, mobile) < 0:
        raise FleetError(f"device counts must not be negative (sensors={sensors}, cameras={cameras}, mobile={mobile})")
    cells = [c for c in grid.cells if not c.geometry.is_empty and c.geometry.area > 0]
    if not cells and sensors + cameras + mobile:
        raise FleetError("the grid has no cell with an area; cannot place devices")
    rng = np.random.default_rng(seed)
    geoms = np.array([c.geometry for c in cells], dtype=object)
    codes = [c.code for c in cells]

    types = _allocate(sensors, rng, mix)
    sensor_cells = rng.integers(0, len(cells), size=sensors) if sensors else np.empty(0, dtype=int)
    camera_cells = _spread(cameras, len(cells), rng)
    mobile_cells = rng.integers(0, len(cells), size=mobile) if mobile else np.empty(0, dtype=int)
    where = np.concatenate([sensor_cells, camera_cells, mobile_cells]).astype(int)
    lon, lat = random_points(geoms[where], rng) if len(where) else (np.empty(0), np.empty(0))

    devices: list[Device] = []
    counters: dict[str, int] = {}

    def next_id(prefix: str) -> str:
        counters[prefix] = counters.get(prefix, 0) + 1
        return f"{prefix}-{counters[prefix]:04d}"

    for i, kind in enumerate(types):
        c = sensor_cells[i]
        devices.append(
            Device(next_id(kind.prefix), DeviceKind.SENSOR, float(lat[i]), float(lon[i]), model=kind.name,
                   metrics=kind.metrics, cell_code=codes[c])
        )
    zones = rng.integers(0, len(CAMERA_ZONES), size=cameras)
    for j in range(cameras):
        i = sensors + j
        devices.append(
            Device(next_id(CAMERA_PREFIX), DeviceKind.CAMERA, float(lat[i]), float(lon[i]), model=CAMERA_MODEL,
                   cell_code=codes[camera_cells[j]],
                   attributes={"events": list(CAMERA_EVENT_TYPES), "zone": CAMERA_ZONES[zones[j]]})
        )
    for k in range(mobile):
        i = sensors + cameras + k
        devices.append(
            Device(next_id(MOBILE_TYPE.prefix), DeviceKind.SENSOR, float(lat[i]), float(lon[i]),
                   model=MOBILE_TYPE.name, metrics=MOBILE_TYPE.metrics, mobile=True)
        )
    return devices


def random_points(geoms: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One uniform random point strictly inside each polygon of `geoms`: (x, y) arrays.

    Rejection sampling in the bounding boxes, all polygons at once; only the
    rejected points are drawn again. A polygon that keeps rejecting (a sliver)
    gets its `point_on_surface`.

    >>> x, y = random_points(np.array([shapely.box(0, 0, 1, 1)]), np.random.default_rng(0))
    >>> bool(0 < x[0] < 1 and 0 < y[0] < 1)
    True
    """
    n = len(geoms)
    bounds = shapely.bounds(geoms)
    x, y = np.empty(n), np.empty(n)
    todo = np.arange(n)
    for _ in range(50):
        b = bounds[todo]
        u = rng.random((len(todo), 2))
        px = b[:, 0] + u[:, 0] * (b[:, 2] - b[:, 0])
        py = b[:, 1] + u[:, 1] * (b[:, 3] - b[:, 1])
        inside = shapely.contains_xy(geoms[todo], px, py)
        x[todo[inside]], y[todo[inside]] = px[inside], py[inside]
        todo = todo[~inside]
        if not len(todo):
            return x, y
    fallback = shapely.point_on_surface(geoms[todo])
    x[todo], y[todo] = shapely.get_x(fallback), shapely.get_y(fallback)
    return x, y


def _allocate(n: int, rng: np.random.Generator, mix: Mapping[str, float] | None = None) -> list[SensorType]:
    """`n` sensor types in random order, in proportion to their weights (largest remainder)."""
    if n == 0:
        return []
    if mix is not None:
        unknown = set(mix) - {t.name for t in SENSOR_TYPES}
        if unknown:
            raise FleetError(f"unknown sensor type(s) {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(t.name for t in SENSOR_TYPES)}")
        if any(w < 0 for w in mix.values()) or not sum(mix.values()) > 0:
            raise FleetError("sensor type weights must not be negative and must not all be zero")
    weights = np.array([t.weight if mix is None else float(mix.get(t.name, 0.0)) for t in SENSOR_TYPES])
    share = weights / weights.sum() * n
    counts = np.floor(share).astype(int)
    if n >= len(SENSOR_TYPES) and mix is None:
        counts = np.maximum(counts, 1)
    while counts.sum() > n:
        counts[np.argmax(counts)] -= 1
    remainder = share - np.floor(share)
    for i in np.argsort(-remainder, kind="stable"):
        if counts.sum() >= n:
            break
        counts[i] += 1
    order = np.repeat(np.arange(len(SENSOR_TYPES)), counts)
    rng.shuffle(order)
    return [SENSOR_TYPES[i] for i in order]


def _spread(n: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """`n` cell indexes, each cell once before any cell twice."""
    if n == 0:
        return np.empty(0, dtype=int)
    rounds = -(-n // cells)
    return np.concatenate([rng.permutation(cells) for _ in range(rounds)])[:n]
