"""Live state of every cell, kept in memory by the gateway and published when it changes."""

from __future__ import annotations

from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level
from twin.sensing.cellstate import CellState


class LiveState:
    """Latest values and open anomalies per cell.

    A cell's level is the worst severity among its open incident anomalies (device-health
    alerts do not count), `normal` when it has data and none open, `no_data` before its
    first reading.
    Changes mark the cell dirty; `take_due` hands out the cells to publish:
    at once when the level changed, otherwise at most once per `interval`.
    """

    def __init__(self, interval: float = 1.0, initial: dict[str, CellState] | None = None):
        self.interval = interval
        self.values: dict[str, dict[str, float]] = {}
        self.updated_at: dict[str, float] = {}
        self.open: dict[str, dict[str, Level]] = {}  # cell -> anomaly id -> severity
        self._anomaly_cell: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._published: dict[str, tuple[float, Level]] = {}
        for code, state in (initial or {}).items():
            if state.values:
                self.values[code] = dict(state.values)
            if state.updated_at is not None:
                self.updated_at[code] = state.updated_at

    def observe(self, cell_code: str, metric: str, value: float, ts: float) -> None:
        values = self.values.get(cell_code)
        if values is None:
            values = self.values[cell_code] = {}
        values[metric] = value
        if ts > self.updated_at.get(cell_code, float("-inf")):
            self.updated_at[cell_code] = ts
        self._dirty.add(cell_code)

    def apply(self, anomaly: Anomaly) -> None:
        if not anomaly.is_incident:
            return  # a misbehaving device says nothing about the cell's state
        if anomaly.status == "opened":
            self.open.setdefault(anomaly.cell_code, {})[anomaly.id] = anomaly.severity
            self._anomaly_cell[anomaly.id] = anomaly.cell_code
            self._dirty.add(anomaly.cell_code)
        else:
            cell = self._anomaly_cell.pop(anomaly.id, anomaly.cell_code)
            if self.open.get(cell, {}).pop(anomaly.id, None) is not None:
                self._dirty.add(cell)

    def level(self, cell_code: str) -> Level:
        open_ = self.open.get(cell_code)
        if open_:
            return max(open_.values())
        return Level.NORMAL if cell_code in self.values else Level.NO_DATA

    def state(self, cell_code: str) -> CellState:
        return CellState(
            code=cell_code,
            level=self.level(cell_code),
            values=dict(self.values.get(cell_code, {})),
            updated_at=self.updated_at.get(cell_code),
            open_anomalies=len(self.open.get(cell_code, ())),
        )

    def take_due(self, now: float) -> list[CellState]:
        """States to publish now; the rest stay dirty for a later call."""
        due: list[CellState] = []
        for code in list(self._dirty):
            level = self.level(code)
            last = self._published.get(code)
            if last is None or last[1] != level or now - last[0] >= self.interval:
                self._dirty.discard(code)
                self._published[code] = (now, level)
                due.append(self.state(code))
        return due

    @property
    def pending(self) -> int:
        return len(self._dirty)
