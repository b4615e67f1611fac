"""Live state of grid cells: the worst level of their devices and their latest values."""

from __future__ import annotations

from dataclasses import dataclass, field

from twin.sensing.catalog import Level

__all__ = ["CellState"]


@dataclass(frozen=True, slots=True)
class CellState:
    """State of one cell as shown on the map and published on `.../cells/{district}/{code}/state`."""

    code: str
    level: Level = Level.NO_DATA
    values: dict[str, float] = field(default_factory=dict, hash=False)  # metric -> latest value
    updated_at: float | None = None  # Unix epoch seconds of the latest reading
    open_anomalies: int = 0

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "level": self.level.label,
            "values": self.values,
            "updated_at": self.updated_at,
            "open_anomalies": self.open_anomalies,
        }
