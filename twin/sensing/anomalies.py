"""Anomalies: what a detector found, with the figures and a plain-language explanation.

Every anomaly has a `category`:

- `incident` (INCIDENT): something is happening in a cell (a fire, standing water, a crowd).
  These are what the operations room acts on; the case desk opens cases for them.
- `device_health` (DEVICE_HEALTH): a device misbehaves (offline, stuck value, drift, spikes,
  flat battery, skewed clock, duplicated or out-of-order messages). These go to technicians.
  **Case creation must skip them**: a dead battery is not an incident in the cell, and they
  do not count towards a cell's alarm level either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.sensing.catalog import Level

__all__ = ["Anomaly", "INCIDENT", "DEVICE_HEALTH", "CATEGORIES"]

INCIDENT = "incident"
DEVICE_HEALTH = "device_health"
CATEGORIES = (INCIDENT, DEVICE_HEALTH)


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An anomaly opened or cleared by a detector.

    `type` names the problem and is the last level of the event topic
    (`pm25_high`, `water_level_cm_high`, `smoke`, `fire`, ...). The pair
    (`id`, `status`) is unique: an anomaly is written once when it opens and
    once more when it clears, with the same `id`.

    `category` is INCIDENT or DEVICE_HEALTH (see the module docstring): only incidents
    become cases; device-health alerts never do.
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
    category: str = INCIDENT

    @property
    def is_incident(self) -> bool:
        return self.category == INCIDENT
