"""Governance figures: outcomes of the cases reported in a period, per grid cell, street or district.

The store counts and sums in SQL (`TwinStore.kpi_counts`); this module turns the
counts into the figures good practice asks for, adds a total row, and writes CSV.

- resolution rate: resolved (closed or evaluated) / real cases (all but the cancelled)
- on-time rate: resolved without ever missing a time limit / resolved
- mean satisfaction: over the evaluated cases (1-5)
- warning accuracy: of the cases raised by detectors that were decided (filed, or
  cancelled), the share not cancelled as a false alarm
- mean time to dispatch / to close: from report to first dispatch / to close, seconds
- escalations: how many times a limit passed and the case went up a level
- open and overdue: as of the time the figures are computed

A rate whose denominator is zero is None (no figure rather than a misleading 0 or 1).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from twin.grid.cells import Grid

__all__ = ["GROUPS", "KpiCounts", "figures", "to_csv", "CSV_COLUMNS"]

GROUPS = {"grid": 15, "street": 9, "district": 6}  # level -> length of the code prefix


@dataclass(frozen=True, slots=True)
class KpiCounts:
    """Counts and sums over the cases of one unit (a cell, street or district code)."""

    unit: str
    cases: int = 0
    open: int = 0
    cancelled: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    overdue: int = 0
    warnings_decided: int = 0
    warnings_false: int = 0
    evaluated: int = 0
    satisfaction_sum: float = 0.0
    dispatched: int = 0
    dispatch_seconds: float = 0.0
    closed: int = 0
    close_seconds: float = 0.0
    escalations: int = 0

    def __add__(self, other: "KpiCounts") -> "KpiCounts":
        values = {f.name: getattr(self, f.name) + getattr(other, f.name)
                  for f in dataclasses.fields(self) if f.name != "unit"}
        return KpiCounts(self.unit, **values)


def _ratio(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def row(counts: KpiCounts, name: str = "") -> dict:
    """The figures of one unit."""
    c = counts
    real = c.cases - c.cancelled
    return {
        "code": c.unit,
        "name": name,
        "cases": c.cases,
        "open": c.open,
        "overdue": c.overdue,
        "cancelled": c.cancelled,
        "resolved": c.resolved,
        "resolution_rate": _ratio(c.resolved, real),
        "on_time_rate": _ratio(c.resolved_on_time, c.resolved),
        "mean_satisfaction": _ratio(c.satisfaction_sum, c.evaluated, 2),
        "evaluated": c.evaluated,
        "warning_accuracy": _ratio(c.warnings_decided - c.warnings_false, c.warnings_decided),
        "warnings_decided": c.warnings_decided,
        "false_alarms": c.warnings_false,
        "mean_time_to_dispatch_s": _ratio(c.dispatch_seconds, c.dispatched, 1),
        "mean_time_to_close_s": _ratio(c.close_seconds, c.closed, 1),
        "escalations": c.escalations,
    }


CSV_COLUMNS = tuple(row(KpiCounts("")))


def _name(grid: Grid, group: str, code: str) -> str:
    if grid is None:
        return ""
    if group == "grid":
        cell = grid.get(code)
        return cell.name if cell else ""
    names = grid.streets() if group == "street" else grid.districts()
    return names.get(code, "")


def figures(counts: list[KpiCounts], group: str, grid: Grid=None) -> dict:
    """{"rows": [...one per unit with cases...], "total": {...}} from the store's counts."""
    if group not in GROUPS:
        raise ValueError(f"level must be one of {', '.join(GROUPS)}")
    total = KpiCounts("")
    for c in counts:
        total = total + c
    return {"rows": [row(c, _name(grid, group, c.unit)) for c in counts], "total": row(total, "total")}


def to_csv(result: dict) -> str:
    """The rows and the total as CSV (comma-separated, a header line, empty cells for no figure)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in [*result["rows"], result["total"]]:
        writer.writerow({k: "" if v is None else v for k, v in r.items()})
    return out.getvalue()
