"""The metric catalog: every metric a device may report, its unit, valid range and alarm rules."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from twin.errors import ConfigError

__all__ = ["Level", "Metric", "MetricCatalog", "DEFAULT_METRICS"]


class Level(enum.IntEnum):
    """Alarm level of a value, a device or a cell; ordered so that max() is the worst."""

    NO_DATA = -1
    NORMAL = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Level":
        return cls[text.upper()]


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of the catalog.

    Numeric metrics alarm when the value passes `warning` or `critical` in
    `direction` ("above" or "below"); the alarm clears only once the value is
    back past the threshold by `hysteresis` (same unit), so a value hovering at a
    threshold does not flap. Boolean metrics (`kind == "bool"`) alarm at
    `critical` when the value is true and `alarm_on_true` is set.
    """

    name: str
    unit: str
    label: str
    kind: str = "number"  # "number" | "bool"
    valid_min: float | None = None
    valid_max: float | None = None
    warning: float | None = None
    critical: float | None = None
    direction: str = "above"
    hysteresis: float = 0.0
    alarm_on_true: bool = False

    def clip(self, value: float) -> float:
        """`value` moved into the valid range, as a sensor pegged at its limit reads."""
        if self.valid_min is not None and value < self.valid_min:
            return float(self.valid_min)
        if self.valid_max is not None and value > self.valid_max:
            return float(self.valid_max)
        return value

    def in_range(self, value: float) -> bool:
        if self.valid_min is not None and value < self.valid_min:
            return False
        if self.valid_max is not None and value > self.valid_max:
            return False
        return True


DEFAULT_METRICS: tuple[Metric, ...] = (
    # Air quality: China's AQI breakpoints (HJ 633-2012), 24 h class boundaries used as instant alarms.
    Metric("pm25", "ug/m3", "PM2.5", valid_min=0, valid_max=2000, warning=75, critical=150, hysteresis=10),
    Metric("pm10", "ug/m3", "PM10", valid_min=0, valid_max=3000, warning=150, critical=250, hysteresis=15),
    # Community noise (GB 3096-2008 class 2 daytime limit is 60 dB(A)).
    Metric("noise_db", "dB(A)", "Noise", valid_min=0, valid_max=160, warning=70, critical=85, hysteresis=3),
    # Standing water above the kerb reference, in centimetres.
    Metric("water_level_cm", "cm", "Water level", valid_min=-50, valid_max=500, warning=15, critical=30, hysteresis=3),
    Metric("temperature_c", "degC", "Temperature", valid_min=-50, valid_max=80, warning=38, critical=42, hysteresis=1),
    Metric("humidity_pct", "%", "Humidity", valid_min=0, valid_max=100),
    Metric("smoke", "", "Smoke alarm", kind="bool", alarm_on_true=True),
    Metric("smoke_obscuration", "%/m", "Smoke density", valid_min=0, valid_max=100, warning=4, critical=10, hysteresis=1),
    Metric("bin_fill_pct", "%", "Bin fill", valid_min=0, valid_max=100, warning=85, critical=100, hysteresis=5),
    Metric("manhole_tilt_deg", "deg", "Manhole cover tilt", valid_min=0, valid_max=180, warning=5, critical=15, hysteresis=1),
    Metric("manhole_open", "", "Manhole cover open", kind="bool", alarm_on_true=True),
    Metric("parking_occupied", "", "Parking bay occupied", kind="bool"),
)


@dataclass(frozen=True)
class MetricCatalog:
    """Metric name -> Metric, built from defaults and configuration overrides."""

    metrics: Mapping[str, Metric] = field(default_factory=dict)

    @classmethod
    def default(cls) -> "MetricCatalog":
        return cls({m.name: m for m in DEFAULT_METRICS})

    @classmethod
    def from_config(cls, table: Mapping[str, Mapping] | None) -> "MetricCatalog":
        """Defaults updated by a `[metrics.NAME]` TOML table per metric."""
        metrics = {m.name: m for m in DEFAULT_METRICS}
        fields = set(Metric.__dataclass_fields__) - {"name"}
        for name, spec in (table or {}).items():
            unknown = set(spec) - fields
            if unknown:
                raise ConfigError(f"metrics.{name}: unknown key(s) {', '.join(sorted(unknown))}")
            base = metrics.get(name)
            values = {f: getattr(base, f) for f in fields} if base else {"unit": "", "label": name}
            values.update(spec)
            if values.get("kind", "number") not in ("number", "bool"):
                raise ConfigError(f"metrics.{name}.kind must be 'number' or 'bool'")
            if values.get("direction", "above") not in ("above", "below"):
                raise ConfigError(f"metrics.{name}.direction must be 'above' or 'below'")
            metrics[name] = Metric(name=name, **values)
        return cls(metrics)

    def __contains__(self, name: object) -> bool:
        return name in self.metrics

    def __getitem__(self, name: str) -> Metric:
        return self.metrics[name]

    def __iter__(self):
        return iter(self.metrics.values())

    def get(self, name: str) -> Metric | None:
        return self.metrics.get(name)

    def names(self) -> Iterable[str]:
        return self.metrics.keys()
