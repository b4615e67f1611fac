"""How simulated sensors behave: daily patterns, weather and noise, as functions of simulated time.

The patterns are pure functions of the local hour (`traffic`, `activity`,
`parking_probability`, ...), so tests can check them over a whole day without
a clock. A `SensorModel` adds per-device state: site offsets, AR(1) noise in
continuous time (Ornstein-Uhlenbeck, so an irregular sampling interval keeps
the same statistics), the lag of standing water, parking bays that stay
occupied, the message counter and the battery. Every value is clipped to its
metric's valid range.
"""

from __future__ import annotations

import functools
import math
import random
import zlib
from dataclasses import dataclass
from typing import Iterable

from firmware_sim.incidents import Incident, apply_incidents
from twin.sensing.catalog import MetricCatalog

DEFAULT_UTC_OFFSET_H = 8.0  # China Standard Time; the demo grid is in Kaifeng
BATTERY_DRAIN_PER_MESSAGE = 2e-6
INCIDENT_NOISE = 0.015  # relative noise of values incidents impose, clipped to +-3 %
_TWO_PI = 2.0 * math.pi


def local_hour(t: float, utc_offset_h: float = DEFAULT_UTC_OFFSET_H) -> float:
    """Hour of the local day, 0 <= h < 24, at epoch seconds `t`."""
    return ((t + utc_offset_h * 3600.0) % 86400.0) / 3600.0


def day_of_year(t: float, utc_offset_h: float = DEFAULT_UTC_OFFSET_H) -> float:
    return ((t + utc_offset_h * 3600.0) / 86400.0) % 365.2425


def _bump(hour: float, centre: float, width: float) -> float:
    d = (hour - centre + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (d / width) ** 2)


def traffic(hour: float) -> float:
    """Road traffic, 0..1: the morning and evening rush hours."""
    return max(_bump(hour, 8.0, 1.2), _bump(hour, 18.0, 1.5))


def activity(hour: float) -> float:
    """Street life, 0..1: quiet nights, waking around six, winding down after ten at night."""
    return 1.0 / (1.0 + math.exp(-(hour - 6.0) * 1.5)) / (1.0 + math.exp((hour - 22.5) * 1.2))


def parking_probability(hour: float) -> float:
    """Chance that a kerbside bay is taken: busy in business hours, some residents overnight."""
    business = 1.0 / (1.0 + math.exp(-(hour - 8.0) * 2.0)) * (1.0 / (1.0 + math.exp((hour - 19.5) * 1.5)))
    return 0.25 + 0.65 * business


def seasonal_mean_temperature(t: float, utc_offset_h: float = DEFAULT_UTC_OFFSET_H) -> float:
    """Daily mean temperature over the year (Kaifeng: about 1 degC in January, 27 degC in July)."""
    return 14.5 - 13.0 * math.cos(_TWO_PI * (day_of_year(t, utc_offset_h) - 15.0) / 365.2425)


def temperature(t: float, utc_offset_h: float = DEFAULT_UTC_OFFSET_H) -> float:
    """Air temperature without noise: the seasonal mean and a day cycle peaking at two in the afternoon."""
    return seasonal_mean_temperature(t, utc_offset_h) + 5.0 * math.cos(_TWO_PI * (local_hour(t, utc_offset_h) - 14.0) / 24.0)


@dataclass(frozen=True, slots=True)
class Storm:
    """Heavy rain from `start` to `end` (epoch seconds), building up to `peak_mm_h` and easing off."""

    start: float
    end: float
    peak_mm_h: float

    def rain(self, t: float) -> float:
        if not self.start <= t < self.end:
            return 0.0
        return self.peak_mm_h * math.sin(math.pi * (t - self.start) / (self.end - self.start)) ** 0.5


@dataclass(frozen=True, slots=True)
class Weather:
    """Rain shared by every sensor of a simulation: each six-hour block rains or not, per seed,
    and any `storms` a scenario adds on top."""

    seed: int = 0
    chance: float = 0.12
    storms: tuple[Storm, ...] = ()

    def rain(self, t: float) -> float:
        """Rain intensity in mm/h at `t` (0 when dry)."""
        storm = max((s.rain(t) for s in self.storms), default=0.0) if self.storms else 0.0
        block = int(t // 21600)
        shower = _shower(self.seed, self.chance, block)
        if shower is None:
            return storm
        begin, length, peak = shower
        offset = t - block * 21600 - begin
        if not 0.0 <= offset < length:
            return storm
        return max(storm, peak * math.sin(math.pi * offset / length))


@functools.lru_cache(maxsize=1024)
def _shower(seed: int, chance: float, block: int) -> tuple[float, float, float] | None:
    """The shower of one six-hour block: (start offset s, length s, peak mm/h), or None when dry."""
    rng = random.Random(seed * 1_000_003 + block)
    if rng.random() >= chance:
        return None
    return rng.uniform(0, 3 * 3600), rng.uniform(3600, 3 * 3600), rng.uniform(1.0, 10.0)


def stable_seed(*parts: object) -> int:
    """A seed from values, stable across processes (unlike hash() of a str)."""
    return zlib.crc32("|".join(map(str, parts)).encode())


class _Noise:
    """Ornstein-Uhlenbeck noise: AR(1) whose coefficient follows the time between samples."""

    __slots__ = ("sigma", "tau", "x")

    def __init__(self, sigma: float, tau: float, rng: random.Random):
        self.sigma, self.tau = sigma, tau
        self.x = rng.gauss(0.0, sigma)

    def step(self, dt: float, rng: random.Random) -> float:
        if dt > 0:
            a = math.exp(-dt / self.tau)
            self.x = a * self.x + self.sigma * math.sqrt(1.0 - a * a) * rng.gauss(0.0, 1.0)
        return self.x


class SensorModel:
    """Readings of one sensor over simulated time.

    `sample(t)` returns metric -> value; `reading(t)` returns the whole
    payload dict (without `ts` formatting or `loc`) and counts it: `seq`
    starts at 0 and the battery drains a little per message.
    """

    def __init__(
        self,
        device_id: str,
        metrics: Iterable[str],
        *,
        seed: int = 0,
        catalog: MetricCatalog | None = None,
        weather: Weather | None = None,
        utc_offset_h: float = DEFAULT_UTC_OFFSET_H,
        battery: float | None = None,
    ):
        self.device_id = device_id
        self.metrics = tuple(metrics)
        self.catalog = catalog or MetricCatalog.default()
        self.weather = weather or Weather(seed)
        self.utc_offset_h = utc_offset_h
        rng = self.rng = random.Random(stable_seed(seed, device_id))
        self.seq = 0
        self.battery = rng.uniform(0.55, 1.0) if battery is None else battery
        self.last_t: float | None = None
        # Site character: a busy road junction differs from a back lane.
        self.site = math.exp(rng.gauss(0.0, 0.15))
        self.pm10_ratio = rng.uniform(1.4, 1.8)
        # Bins are emptied once or twice a day and are at most half to three quarters full by then.
        self.bin_collections = (6.0, 18.0) if rng.random() < 0.7 else (7.0,)
        self.bin_rate = rng.uniform(45.0, 75.0) * len(self.bin_collections) / 24.0  # % per hour
        self.bin_offset = rng.uniform(0.0, 5.0)
        self.tilt_rest = rng.uniform(0.1, 0.8)
        self.water = 0.0
        self.parked = False
        self._first = True
        # Only the noise processes this sensor's metrics use, in a fixed order for determinism.
        wanted = {n for m in self.metrics for n in _NOISES_OF.get(m, ("other",))}
        self.noise = {name: _Noise(sigma, tau, rng) for name, (sigma, tau) in _NOISE.items() if name in wanted}

    # -- values --------------------------------------------------------------
    def sample(self, t: float, incidents: Iterable[Incident] = ()) -> dict[str, float | bool]:
        """Metric -> value at simulated time `t`, with the incidents of the device's cell applied."""
        self._first = self.last_t is None
        dt = 0.0 if self._first else max(0.0, t - self.last_t)
        self.last_t = t
        hour = local_hour(t, self.utc_offset_h)
        rain = self.weather.rain(t)
        step = {name: n.step(dt, self.rng) for name, n in self.noise.items()}
        values: dict[str, float | bool] = {}
        for name in self.metrics:
            generate = _GENERATORS.get(name)
            values[name] = generate(self, t, hour, dt, rain, step) if generate else self._other(name, step)
        apply_incidents(values, incidents, t, self.catalog, jitter=self._jitter)
        for name, value in values.items():
            metric = self.catalog.get(name)
            if metric is not None and metric.kind != "bool":
                values[name] = metric.clip(value)
        return values

    def _jitter(self) -> float:
        """Measurement noise on a value an incident imposes: a real sensor never reads a fire
        as the same number twice."""
        return math.exp(max(-0.03, min(0.03, self.rng.gauss(0.0, INCIDENT_NOISE))))

    def reading(self, t: float, incidents: Iterable[Incident] = ()) -> dict:
        """The next reading: `{"seq", "values", "battery"}`; advances seq and drains the battery."""
        values = self.sample(t, incidents)
        reading = {"seq": self.seq, "values": values, "battery": round(self.battery, 4)}
        self.seq += 1
        self.battery = max(0.0, self.battery - BATTERY_DRAIN_PER_MESSAGE)
        return reading

    def _pm25(self, t, hour, dt, rain, step) -> float:
        base = (22.0 + 14.0 * activity(hour) + 32.0 * traffic(hour)) * self.site
        washout = 0.6 if rain > 0 else 1.0
        return round(base * washout * math.exp(step["pm25"]), 1)

    def _pm10(self, t, hour, dt, rain, step) -> float:
        pm25 = self._pm25(t, hour, dt, rain, step)
        return round(pm25 * self.pm10_ratio * math.exp(step["pm10"]), 1)

    def _noise_db(self, t, hour, dt, rain, step) -> float:
        base = 41.0 + 15.0 * activity(hour) + 8.0 * traffic(hour) + 2.0 * math.log(self.site)
        return round(base + (2.0 if rain > 2 else 0.0) + step["noise_db"], 1)

    def _temperature_c(self, t, hour, dt, rain, step) -> float:
        cooling = 2.0 if rain > 0 else 0.0
        return round(temperature(t, self.utc_offset_h) - cooling + step["temperature_c"], 1)

    def _humidity_pct(self, t, hour, dt, rain, step) -> float:
        # Relative humidity falls as the air warms through the day: the inverse of the day cycle.
        swing = temperature(t, self.utc_offset_h) - seasonal_mean_temperature(t, self.utc_offset_h)
        wet = min(30.0, 6.0 * rain)
        return round(62.0 - 3.0 * swing + wet + step["humidity_pct"], 1)

    def _water_level_cm(self, t, hour, dt, rain, step) -> float:
        target = min(12.0, 1.2 * rain)
        tau = 900.0 if target > self.water else 2400.0
        self.water = target + (self.water - target) * math.exp(-dt / tau) if dt else self.water
        return round(self.water + step["water"], 1)

    def _bin_fill_pct(self, t, hour, dt, rain, step) -> float:
        since = min((hour - c) % 24.0 for c in self.bin_collections)
        return round(self.bin_offset + self.bin_rate * since + self.rng.gauss(0.0, 0.6), 1)

    def _manhole_tilt_deg(self, t, hour, dt, rain, step) -> float:
        return round(abs(self.tilt_rest + step["tilt"]), 2)

    def _parking_occupied(self, t, hour, dt, rain, step) -> bool:
        # A bay turns over about once an hour; between turnovers it keeps its state.
        if self._first or self.rng.random() < 1.0 - math.exp(-dt / 3600.0):
            self.parked = self.rng.random() < parking_probability(hour)
        return self.parked

    def _smoke_obscuration(self, t, hour, dt, rain, step) -> float:
        return round(0.05 + abs(step["smoke"]), 2)

    def _other(self, name: str, step) -> float | bool:
        """A metric the simulator has no pattern for: a quiet value well inside its normal band."""
        metric = self.catalog.get(name)
        if metric is None or metric.kind == "bool":
            return False
        low = metric.valid_min if metric.valid_min is not None else 0.0
        high = metric.warning if metric.warning is not None else (metric.valid_max if metric.valid_max is not None else low + 100.0)
        return round(low + (high - low) * (0.3 + step["other"]), 2)


# Noise processes: name -> (sigma, time constant s); and the processes each metric draws on.
_NOISE = {
    "pm25": (0.2, 1800.0),
    "pm10": (0.08, 600.0),
    "noise_db": (2.5, 120.0),
    "temperature_c": (0.5, 1800.0),
    "humidity_pct": (3.0, 3600.0),
    "tilt": (0.15, 600.0),
    "smoke": (0.03, 300.0),
    "water": (0.3, 300.0),
    "other": (0.1, 600.0),
}
_NOISES_OF = {
    "pm25": ("pm25",),
    "pm10": ("pm25", "pm10"),
    "noise_db": ("noise_db",),
    "temperature_c": ("temperature_c",),
    "humidity_pct": ("humidity_pct",),
    "water_level_cm": ("water",),
    "manhole_tilt_deg": ("tilt",),
    "smoke_obscuration": ("smoke",),
    "bin_fill_pct": (),
    "manhole_open": (),
    "parking_occupied": (),
    "smoke": (),
}


def _false(self, t, hour, dt, rain, step) -> bool:
    return False


_GENERATORS = {
    "pm25": SensorModel._pm25,
    "pm10": SensorModel._pm10,
    "noise_db": SensorModel._noise_db,
    "temperature_c": SensorModel._temperature_c,
    "humidity_pct": SensorModel._humidity_pct,
    "water_level_cm": SensorModel._water_level_cm,
    "bin_fill_pct": SensorModel._bin_fill_pct,
    "manhole_tilt_deg": SensorModel._manhole_tilt_deg,
    "manhole_open": _false,
    "parking_occupied": SensorModel._parking_occupied,
    "smoke": _false,
    "smoke_obscuration": SensorModel._smoke_obscuration,
}
