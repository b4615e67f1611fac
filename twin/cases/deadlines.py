"""Time limits of cases: how long each level has, per case type and severity.

At the grid level a dispatched case must be accepted within `accept` and handled
within `handle` (both counted from dispatch). A missed limit escalates the case to
the township, which then has `township` to get it handled, and from there to the
county (`county`), the backstop. Configuration (`[cases.limits]`), durations as
seconds or with a unit (`"90s"`, `"15m"`, `"2h"`, `"1d"`):

    [cases.limits.critical]          # every critical case
    accept = "15m"
    handle = "2h"
    [cases.limits.fire]              # fire cases, any severity: only what differs
    accept = "5m"
    [cases.limits.fire.critical]     # critical fire cases
    handle = "1h"

A type's table overrides its severity's values, and the type's table for a severity
overrides both, so a type can never be named `warning` or `critical`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from twin.errors import ConfigError
from twin.sensing.catalog import Level

__all__ = ["Limits", "TimeLimits", "DEFAULT_LIMITS", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any, name: str = "duration") -> float:
    """Seconds from a number or a text with a unit.

    >>> parse_duration("15m"), parse_duration(90), parse_duration("1.5h")
    (900.0, 90.0, 5400.0)
    >>> parse_duration("soon", "accept")
    Traceback (most recent call last):
    ...
    twin.errors.ConfigError: accept: 'soon' is not a duration; use seconds (900) or a number with s, m, h or d (15m)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(value) if isinstance(value, str) else None
        if match is None:
            raise ConfigError(f"{name}: {value!r} is not a duration; use seconds (900) or a number with s, m, h or d (15m)")
        seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{name}: {value!r} must be a positive duration")
    return seconds


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one kind of case, in seconds."""

    accept: float
    handle: float
    township: float
    county: float

    def __post_init__(self) -> None:
        if self.accept > self.handle:
            raise ConfigError(f"accept ({self.accept:g} s) must not be longer than handle ({self.handle:g} s)")


_KEYS = tuple(f.name for f in dataclasses.fields(Limits))

DEFAULT_LIMITS: dict[Level, Limits] = {
    Level.CRITICAL: Limits(accept=15 * 60, handle=2 * 3600, township=30 * 60, county=3600),
    Level.WARNING: Limits(accept=3600, handle=24 * 3600, township=4 * 3600, county=12 * 3600),
}


@dataclass(frozen=True)
class TimeLimits:
    """Limits by severity, with per-type overrides."""

    by_severity: Mapping[Level, Limits] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    by_type: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    by_type_severity: Mapping[tuple[str, Level], Mapping[str, float]] = field(default_factory=dict)

    def for_case(self, type_: str, severity: Level) -> Limits:
        """The limits of a case of this type and severity (a normal severity counts as warning)."""
        severity = Level.CRITICAL if severity >= Level.CRITICAL else Level.WARNING
        base = self.by_severity[severity]
        changes = {**self.by_type.get(type_, {}), **self.by_type_severity.get((type_, severity), {})}
        return dataclasses.replace(base, **changes) if changes else base

    def shortest(self) -> float:
        """The shortest limit anywhere in the table (seconds)."""
        values = [getattr(limits, key) for limits in self.by_severity.values() for key in _KEYS]
        values += [v for table in (*self.by_type.values(), *self.by_type_severity.values()) for v in table.values()]
        return min(values)

    @classmethod
    def from_config(cls, table: Mapping[str, Any] | None) -> "TimeLimits":
        """From `[cases.limits]`; ConfigError names the key that is wrong."""
        if not table:
            return cls()
        if not isinstance(table, Mapping):
            raise ConfigError("cases.limits must be a table")
        severities = {level.label: level for level in DEFAULT_LIMITS}
        by_severity = dict(DEFAULT_LIMITS)
        by_type: dict[str, dict[str, float]] = {}
        by_type_severity: dict[tuple[str, Level], dict[str, float]] = {}
        for name, sub in table.items():
            if not isinstance(sub, Mapping):
                raise ConfigError(f"cases.limits.{name} must be a table ([cases.limits.{name}])")
            if name in severities:
                values = _values(f"cases.limits.{name}", sub, nested=False)
                by_severity[severities[name]] = _limits(f"cases.limits.{name}", by_severity[severities[name]], values)
                continue
            by_type[name] = _values(f"cases.limits.{name}", {k: v for k, v in sub.items() if not isinstance(v, Mapping)})
            for severity, nested in sub.items():
                if not isinstance(nested, Mapping):
                    continue
                if severity not in severities:
                    raise ConfigError(f"cases.limits.{name}.{severity}: a nested table names a severity "
                                      f"({', '.join(severities)})")
                by_type_severity[(name, severities[severity])] = _values(f"cases.limits.{name}.{severity}", nested)
        limits = cls(by_severity, by_type, by_type_severity)
        for name in by_type:  # every combination must still be consistent (accept <= handle)
            for level in by_severity:
                _checked(f"cases.limits.{name}", lambda: limits.for_case(name, level))
        return limits


def _values(where: str, table: Mapping[str, Any], nested: bool = True) -> dict[str, float]:
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}")
    return {key: parse_duration(value, f"{where}.{key}") for key, value in table.items()}


def _limits(where: str, base: Limits, values: dict[str, float]) -> Limits:
    return _checked(where, lambda: dataclasses.replace(base, **values))


def _checked(where: str, make):
    try:
        return make()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
