"""Thresholds with hysteresis: warning/critical levels per metric from the catalog, so that a value
hovering at a threshold does not flap.

`raw_level` and `next_level` are the rules; the detection engine applies them with context and
confirmation. `ThresholdDetector` applies them alone: an anomaly on every change of level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin.ids import new_id
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level, Metric, MetricCatalog

_NORMAL, _WARNING, _CRITICAL = Level.NORMAL, Level.WARNING, Level.CRITICAL  # enum lookups are slow


def raw_level(metric: Metric, value: float) -> Level:
    """The level of one value by the metric's thresholds, ignoring history.

    >>> m = Metric("pm25", "ug/m3", "PM2.5", warning=75, critical=150)
    >>> raw_level(m, 80), raw_level(m, 150), raw_level(m, 10)
    (<Level.WARNING: 1>, <Level.CRITICAL: 2>, <Level.NORMAL: 0>)
    """
    if metric.kind == "bool":
        return _CRITICAL if (metric.alarm_on_true and value) else _NORMAL
    sign = 1.0 if metric.direction == "above" else -1.0
    if metric.critical is not None and sign * (value - metric.critical) >= 0:
        return _CRITICAL
    if metric.warning is not None and sign * (value - metric.warning) >= 0:
        return _WARNING
    return _NORMAL


def next_level(metric: Metric, current: Level, value: float) -> Level:
    """The level after `value` given the `current` one: up at once, down only past the hysteresis band.

    >>> m = Metric("pm25", "ug/m3", "PM2.5", warning=75, critical=150, hysteresis=10)
    >>> next_level(m, Level.NORMAL, 76), next_level(m, Level.WARNING, 70), next_level(m, Level.WARNING, 64)
    (<Level.WARNING: 1>, <Level.WARNING: 1>, <Level.NORMAL: 0>)
    """
    raw = raw_level(metric, value)
    if raw >= current or metric.kind == "bool":
        return raw
    # Going down: judge the value as if it were `hysteresis` worse.
    shifted = value + metric.hysteresis if metric.direction == "above" else value - metric.hysteresis
    return min(current, max(raw, raw_level(metric, shifted)))


def incident_type(metric: Metric) -> str:
    """The anomaly type of a metric past its thresholds: `pm25_high`, `temperature_c_low`, or the
    boolean metric's own name (`smoke`)."""
    if metric.kind == "bool":
        return metric.name
    return f"{metric.name}_{'high' if metric.direction == 'above' else 'low'}"


def threshold_at(metric: Metric, level: Level) -> float | None:
    """The threshold of a level (None for a boolean metric)."""
    if metric.kind == "bool":
        return None
    return metric.critical if level == _CRITICAL else metric.warning


def threshold_figures(metric: Metric) -> dict[str, Any]:
    """A metric's thresholds as an anomaly's details give them."""
    return {"warning": metric.warning, "critical": metric.critical, "hysteresis": metric.hysteresis,
            "direction": metric.direction, "unit": metric.unit}


def _fmt(value: float) -> str:
    return f"{value:g}"


@dataclass(slots=True)
class _Open:
    anomaly_id: str
    level: Level


class ThresholdDetector:
    """Per (device, metric) level with hysteresis; emits an anomaly when the level changes."""

    name = "threshold"

    def __init__(self, catalog: MetricCatalog):
        self.catalog = catalog
        self.levels: dict[tuple[str, str], Level] = {}
        self.open: dict[tuple[str, str], _Open] = {}

    def level(self, device_id: str, metric: str) -> Level:
        return self.levels.get((device_id, metric), Level.NORMAL)

    def update(self, device_id: str, metric_name: str, value: float, ts: float, cell_code: str,
               lat: float | None, lon: float | None) -> list[Anomaly]:
        metric = self.catalog[metric_name]
        key = (device_id, metric_name)
        current = self.levels.get(key, Level.NORMAL)
        new = next_level(metric, current, value)
        if new == current:
            return []
        self.levels[key] = new
        out: list[Anomaly] = []
        base: dict[str, Any] = {"cell_code": cell_code, "device_id": device_id, "detector": self.name, "ts": ts,
                                "metric": metric_name, "value": value, "lat": lat, "lon": lon}
        previous = self.open.pop(key, None)
        if previous is not None:
            back = "below" if metric.direction == "above" else "above"
            explanation = (
                f"{metric.label} at {device_id} is {_fmt(value)} {metric.unit}".rstrip()
                + (f", back {back} the {previous.level.label} band" if new == Level.NORMAL else f", now {new.label}")
            )
            out.append(Anomaly(id=previous.anomaly_id, type=incident_type(metric), status="cleared",
                               severity=previous.level, threshold=threshold_at(metric, previous.level),
                               explanation=explanation, details={**threshold_figures(metric), "level": previous.level.label}, **base))
        if new > Level.NORMAL:
            threshold = threshold_at(metric, new)
            if metric.kind == "bool":
                explanation = f"{metric.label} reported by {device_id}"
            else:
                assert threshold is not None  # it reached a level: the metric has its threshold
                word = "above" if metric.direction == "above" else "below"
                explanation = (
                    f"{metric.label} at {device_id} is {_fmt(value)} {metric.unit}, {word} the {new.label} "
                    f"threshold of {_fmt(threshold)} {metric.unit}"
                ).replace("  ", " ")
            anomaly_id = new_id()
            self.open[key] = _Open(anomaly_id, new)
            out.append(Anomaly(id=anomaly_id, type=incident_type(metric), status="opened", severity=new,
                               threshold=threshold, explanation=explanation,
                               details={**threshold_figures(metric), "level": new.label}, **base))
        return out
