"""Anomalies: what a detector found, with the figures and a plain-language explanation."""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.metrics import Level


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An anomaly opened or cleared by a detector.

    `type` names the problem and is the last level of the event topic
    (`pm25_high`, `water_level_cm_high`, `smoke`, `fire`, ...). The pair
    (`id`, `status`) is unique: an anomaly is written once when it opens and
    once more when it clears, with the same `id`.
    """

    id: str
    type: str
    status: str  # "opened" | "cleared"
    severity: Level
    cell_code: str
    device_id: str
    detector: str
    ts: float
    explanation: str
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None
    lat: float | None = None
    lon: float | None = None
    details: dict = field(default_factory=dict, hash=False)
