"""Plain-language pieces of explanations: values with their units, times, and the devices a
detector consulted."""

from __future__ import annotations

from twin.sensing.catalog import Metric


def num(value: float) -> str:
    """A value as people write it: 42, 41.5, 0.05, 1.2e+03.

    >>> num(42.0), num(41.456), num(0.05)
    ('42', '41.5', '0.05')
    """
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}" if abs(value) < 1e5 else f"{value:.3g}"


def amount(metric: Metric, value: float) -> str:
    """`42 cm`, `true` for a boolean metric."""
    if metric.kind == "bool":
        return "true" if value else "false"
    return f"{num(value)} {metric.unit}".rstrip()


def clock(ts: float, utc_offset_h: float) -> str:
    """Local time of day, HH:MM, at a fixed UTC offset. Arithmetic, not datetime: it is
    called on the ingest path, and a datetime with a time zone costs ten times more.

    >>> clock(1795939200.0, 8.0), clock(1795939200.0 - 1, 0.0), clock(-60.0, 5.5)
    ('16:00', '07:59', '05:29')
    """
    # Whole microseconds first, rounded as datetime rounds them.
    minutes = round((ts + utc_offset_h * 3600.0) * 1e6) // 60_000_000 % 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def span(seconds: float) -> str:
    """`45 s`, `12 min`, `3.5 h`."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def listing(items: list[str], most: int = 3) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b, c and 2 more'."""
    if len(items) > most:
        items = items[:most] + [f"{len(items) - most} more"]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
