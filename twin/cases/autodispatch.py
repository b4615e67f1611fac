"""Auto-dispatch rules: pairs of anomalies that are trusted enough to dispatch a case at once.

A rule names a trigger (an anomaly of some types from some detectors, at least some
severity: a camera seeing fire) and what confirms it (an anomaly of other types from
other devices: a smoke sensor alarming) in the same cell or a neighbouring one, within
a time window in either order. When a pair matches, the trigger's case is filed and
dispatched to the cell's grid worker without waiting for a dispatcher. A rule without
confirmation types dispatches on the trigger alone.

    [[cases.dispatch_rules]]
    name = "fire-or-smoke-confirmed"
    types = ["fire", "smoke"]              # trigger anomaly types (= the case type)
    detectors = ["camera"]                 # trigger detectors; empty: any
    min_severity = "critical"
    confirm_types = ["smoke", "smoke_obscuration_high"]
    confirm_detectors = ["threshold"]      # empty: any
    within = "5m"
    neighbours = true                      # the confirmation may come from a neighbouring cell

Rules in the configuration replace the defaults (`DEFAULT_RULES`); `dispatch_rules = []`
turns auto-dispatch off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from twin.cases.deadlines import parse_duration
from twin.errors import ConfigError
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level

if TYPE_CHECKING:
    from twin.grid.cells import Grid

__all__ = ["DispatchRule", "DEFAULT_RULES", "Match", "rules_from_config", "find_matches"]


@dataclass(frozen=True, slots=True)
class DispatchRule:
    name: str
    types: tuple[str, ...]
    detectors: tuple[str, ...] = ("camera",)
    min_severity: Level = Level.CRITICAL
    confirm_types: tuple[str, ...] = ()
    confirm_detectors: tuple[str, ...] = ()
    within_s: float = 300.0
    neighbours: bool = True

    def triggers(self, a: Anomaly) -> bool:
        return (a.status == "opened" and a.type in self.types and a.severity >= self.min_severity
                and (not self.detectors or a.detector in self.detectors))

    def confirms(self, a: Anomaly) -> bool:
        return (a.status == "opened" and a.type in self.confirm_types
                and (not self.confirm_detectors or a.detector in self.confirm_detectors))

    def describe(self) -> str:
        trigger = f"{'/'.join(self.types)} from {'/'.join(self.detectors) or 'any detector'}"
        if not self.confirm_types:
            return f"{self.min_severity.label} {trigger}"
        where = "the same or a neighbouring cell" if self.neighbours else "the same cell"
        return (f"{self.min_severity.label} {trigger} confirmed by {'/'.join(self.confirm_types)} in {where} "
                f"within {self.within_s:g} s")


DEFAULT_RULES: tuple[DispatchRule, ...] = (
    DispatchRule("fire-or-smoke-confirmed", types=("fire", "smoke"), confirm_types=("smoke", "smoke_obscuration_high"),
                 confirm_detectors=("threshold",), within_s=300.0),
    DispatchRule("waterlogging-confirmed", types=("waterlogging",), confirm_types=("water_level_cm_high",),
                 confirm_detectors=("threshold",), within_s=600.0),
)


@dataclass(frozen=True, slots=True)
class Match:
    """`trigger` (whose case is dispatched) confirmed by `confirmation` (None for a rule without one)."""

    rule: DispatchRule
    trigger: Anomaly
    confirmation: Anomaly | None

    def explanation(self) -> str:
        if self.confirmation is None:
            return (f"auto-dispatch rule {self.rule.name}: {self.trigger.type} from {self.trigger.device_id} "
                    f"({self.trigger.severity.label})")
        c = self.confirmation
        gap = abs(c.ts - self.trigger.ts)
        where = "the same cell" if c.cell_code == self.trigger.cell_code else f"neighbouring cell {c.cell_code}"
        return (f"auto-dispatch rule {self.rule.name}: {self.trigger.type} from {self.trigger.device_id} confirmed "
                f"by {c.type} from {c.device_id} in {where} {gap:.0f} s apart")


def cells_near(rule: DispatchRule, grid: Grid, cell_code: str) -> tuple[str, ...]:
    if not rule.neighbours or cell_code not in grid:
        return (cell_code,)
    return (cell_code, *grid.neighbours(cell_code))


def find_matches(rules: Sequence[DispatchRule], anomaly: Anomaly, nearby: Iterable[Anomaly], grid: Grid) -> list[Match]:
    """The (trigger, confirmation) pairs that `anomaly`, just opened, completes with anomalies
    `nearby` (opened around the same time in the cells around it), rule by rule."""
    nearby = [a for a in nearby if a.status == "opened" and a.id != anomaly.id]
    matches = []
    for rule in rules:
        def close(a: Anomaly, b: Anomaly) -> bool:
            return (abs(a.ts - b.ts) <= rule.within_s and a.device_id != b.device_id
                    and b.cell_code in cells_near(rule, grid, a.cell_code))

        if rule.triggers(anomaly):
            if not rule.confirm_types:
                matches.append(Match(rule, anomaly, None))
                continue
            confirmation = next((b for b in nearby if rule.confirms(b) and close(anomaly, b)), None)
            if confirmation is not None:
                matches.append(Match(rule, anomaly, confirmation))
        if rule.confirm_types and rule.confirms(anomaly):
            matches += [Match(rule, t, anomaly) for t in nearby if rule.triggers(t) and close(t, anomaly)]
    return matches


_KEYS = ("name", "types", "detectors", "min_severity", "confirm_types", "confirm_detectors", "within", "neighbours")


def rules_from_config(items: Any) -> tuple[DispatchRule, ...]:
    """`[[cases.dispatch_rules]]` tables -> rules; None keeps the defaults."""
    if items is None:
        return DEFAULT_RULES
    if not isinstance(items, list):
        raise ConfigError("cases.dispatch_rules must be an array of tables ([[cases.dispatch_rules]])")
    rules, names = [], set()
    for i, table in enumerate(items):
        where = f"cases.dispatch_rules[{i}]"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} must be a table")
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}")
        name = table.get("name")
        if not isinstance(name, str) or not name or name in names:
            raise ConfigError(f"{where}.name: a unique, non-empty name is required")
        names.add(name)
        try:
            severity = Level.parse(str(table.get("min_severity", "critical")))
        except KeyError:
            raise ConfigError(f"{where}.min_severity: warning or critical") from None
        types = _names(f"{where}.types", table.get("types"))
        if not types:
            raise ConfigError(f"{where}.types: at least one case type is required")
        rules.append(DispatchRule(
            name=name, types=types, detectors=_names(f"{where}.detectors", table.get("detectors", ["camera"])),
            min_severity=severity, confirm_types=_names(f"{where}.confirm_types", table.get("confirm_types", [])),
            confirm_detectors=_names(f"{where}.confirm_detectors", table.get("confirm_detectors", [])),
            within_s=parse_duration(table.get("within", 300), f"{where}.within"),
            neighbours=_bool(f"{where}.neighbours", table.get("neighbours", True)),
        ))
    return tuple(rules)


def _names(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where} must be a list of names")
    return tuple(value)


def _bool(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false")
    return value
