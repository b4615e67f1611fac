"""Plain-language explanations: values with their units, times and lists, the evidence that
confirmed an incident, the devices a detector consulted, and the text of an incident anomaly.
The one-line texts of device-health alerts stay beside the check that raises them."""

from __future__ import annotations

from gateway.detectors.spatial import Evidence, SpatialIndex
from gateway.detectors.state import Candidate, Track
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


def confirmed_by(support: list[tuple[Evidence, str]]) -> str:
    """'confirmed by ns-0003 (Noise 91 dB(A)) in the same cell and camera cam-0001 (...) in the
    neighbouring cell': the evidence that agreed, with where it is."""
    parts = []
    for e, relation in support:
        where = "" if relation == "same device" else f" in the {relation}"
        parts.append(f"{'camera ' if e.camera else ''}{e.device_id} ({e.label}){where}")
    return f"confirmed by {listing(parts)}"


def neighbours(space: SpatialIndex, tr: Track, most: int = 8) -> list[dict]:
    """The devices of the same metric a detector consulted: same cell first, then neighbouring cells."""
    out = []
    for code in space.near(tr.cell):
        for other in space.same_metric(tr, (code,)):
            if other.last_value is None:
                continue
            out.append({"device_id": other.device_id, "cell": code,
                        "relation": "same cell" if code == tr.cell else "neighbouring cell",
                        "metric": other.metric.name, "value": other.last_value, "ts": other.last_ts,
                        "deviating": other.deviating})
            if len(out) >= most:
                return out
    return out


def incident(tr: Track, cand: Candidate, baseline_only: bool, threshold: float | None,
             support: list[tuple[Evidence, str]], reason: str) -> str:
    """Why a deviation of `tr` is an incident: the value against its threshold or its usual value,
    how fast it rose, what agreed, and what confirmed it."""
    metric = tr.metric
    value = cand.onset_value
    ctx = cand.context
    if metric.kind == "bool":
        text = f"{metric.label} reported by {tr.device_id}"
    elif baseline_only:
        usual = (f"about {amount(metric, ctx['baseline'])} here at {ctx['hour']:02d}:00"
                 if ctx.get("context") == "baseline" else
                 f"its {ctx['samples']} peers read {amount(metric, ctx['baseline'])}")
        text = (f"{metric.label} at {tr.device_id} is {amount(metric, value)}, far from what is usual "
                f"({usual}; robust z {ctx['z']:.1f})")
    else:
        assert threshold is not None  # it reached a level: the metric has its threshold
        word = "above" if metric.direction == "above" else "below"
        text = (f"{metric.label} at {tr.device_id} is {amount(metric, value)}, {word} the {cand.level.label} "
                f"threshold of {amount(metric, threshold)}")
        if ctx.get("context") == "baseline":
            text += f" (usually {amount(metric, ctx['baseline'])} here at {ctx['hour']:02d}:00)"
        elif ctx.get("context") == "peers":
            text += f" (its {ctx['samples']} peers read {amount(metric, ctx['baseline'])})"
    if cand.rate:
        text += f"; it rose {num(abs(cand.rate) * 60)} {metric.unit}/min".rstrip()
    if support:
        text += f"; {confirmed_by(support)}"
    if reason:
        text += f"; {reason}"
    return text
