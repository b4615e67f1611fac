"""What a reading measures, before anything is decided about it: its level by the thresholds
(with hysteresis), how unusual it is in context, how fast it rose, how often its sensor repeats
itself; and what the device's baseline learns from it.

Context: a value is compared with the device's own hour-of-day baseline, shifted by what every
device of the metric shows right now (context.py), and, where the phase machine asks, with its
peers right now; it is as unusual as the more forgiving of the two says. 84 ug/m3 at a busy
junction in the rush hour is usual if every junction reads about that today, even if this one
read less on other days. The robust z is signed so that positive is the alarming direction.

Also where a track starts: its scale (log for concentrations), the least spread it is judged
with, and the rise per second past which a rise is sudden.
"""

from __future__ import annotations

import math
from typing import overload

from gateway.detectors.context import CrossSection
from gateway.detectors.state import DeviceState, Track
from gateway.detectors.threshold import next_level
from twin.sensing.catalog import Level, Metric
from twin.sensing.detection import DetectionSettings

# Enum members as plain names: looking them up on the class costs more than the rest of a reading.
NORMAL, CRITICAL = Level.NORMAL, Level.CRITICAL

# How many of its last readings a track remembers when it learns how often it repeats its last value.
REPEAT_MEMORY = 500


class Measures:
    """The cross-section of every metric, and the arithmetic of every reading."""

    def __init__(self, settings: DetectionSettings):
        self.s = settings
        self.sections: dict[str, CrossSection] = {}
        self._local = settings.utc_offset_h * 3600.0

    def track(self, dev: DeviceState, metric: Metric) -> Track:
        """A new track of `dev`'s `metric`, with its baseline, its cross-section and its scales."""
        s = self.s
        section = self.sections.get(metric.name)
        if section is None:
            section = self.sections[metric.name] = CrossSection(s.peer_window_s, s.common_min)
        track = dev.tracks[metric.name] = Track(dev.id, metric, section, s.baseline_max_samples,
                                                s.baseline_min_samples, s.baseline_min_days)
        track.log = metric.name in s.log_metrics
        section.tracks.append(track)
        # On a log scale the floor is relative: scale_floor is then a share of the value itself.
        track.floor = s.scale_floor * (1.0 if track.log else _reference(metric))
        track.rate_limit = self._rate_limit(metric)
        thresholds = [t for t in (metric.warning, metric.critical) if t is not None]
        if metric.kind != "bool" and metric.direction == "above" and thresholds:
            track.below = min(thresholds)
        return track

    def _rate_limit(self, metric: Metric) -> float | None:
        """Units per second past which a rise counts as sudden."""
        per_minute = self.s.rate_limits.get(metric.name)
        if per_minute is not None:
            return per_minute / 60.0
        reference = metric.warning if metric.warning is not None else metric.critical
        if metric.kind == "bool" or reference is None:
            return None
        return self.s.rate_fraction * abs(reference) / self.s.rate_window_s

    def take(self, tr: Track, value: float, ts: float) -> tuple[Level, float | None, float | None]:
        """Book a reading newer than the track's last, and learn from it: (level, z against its own
        baseline or None without one, the rate per second of a sudden rise or None)."""
        prev_value, prev_ts = tr.last_value, tr.last_ts
        if value == prev_value:
            tr.run += 1
        else:
            if prev_value is not None:
                tr.changes += 1
                if not tr.stuck:
                    # How often this sensor repeats itself, from the runs that ended (the one under
                    # way would argue for itself): repeats / pairs, with a long memory.
                    tr.pairs += tr.run
                    tr.repeats += tr.run - 1
                    if tr.pairs > REPEAT_MEMORY:
                        tr.repeats *= REPEAT_MEMORY / tr.pairs
                        tr.pairs = REPEAT_MEMORY
                    tr.repeat = tr.repeats / tr.pairs
            tr.run, tr.run_start = 1, ts
        tr.last_value, tr.last_ts = value, ts
        # Most readings are nowhere near a threshold: skip the level rules for them.
        if tr.level is NORMAL and tr.below is not None and value < tr.below:
            level = NORMAL
        else:
            level = tr.level = next_level(tr.metric, tr.level, value)
        if tr.boolean:
            return level, None, None
        s = self.s
        local = ts + self._local
        of_day = (local % 86400.0) / 3600.0
        hour = int(of_day)
        judged = value
        if tr.log:
            judged = math.log1p(value) if value > 0 else 0.0
        own_z = self._context(tr, judged, ts, hour, of_day - hour)
        sudden = None
        if prev_value is not None and 0 < ts - prev_ts <= s.rate_window_s:
            dt = ts - prev_ts
            rate = (value - prev_value) / (dt if dt > 1.0 else 1.0)  # noqa: FURB136 (max() costs more, per reading)
            limit = tr.rate_limit
            if limit is not None and (rate if tr.sign > 0 else -rate) >= limit:
                sudden = rate
        # Learn what is usual from what is not far off it (while there is no baseline yet, from
        # everything: a robust median shrugs off the odd incident). Not critical values either:
        # learning an incident's values would make the next one usual. What a reading is judged
        # against was taken above: learning first changes nothing about this reading.
        if level is not CRITICAL and (own_z is None or -s.drift_z < own_z < s.drift_z):
            tr.baseline.add(hour, judged, int(local // 86400.0), of_day - hour)
        return level, own_z, sudden

    def _context(self, tr: Track, value: float, ts: float, hour: int, frac: float) -> float | None:
        """The z of a value (on the track's scale) against the device's own hour-of-day baseline,
        shifted by what every device shows right now; None while the hour has no baseline. The
        figures behind it stay on the track (`context_of`)."""
        section = tr.section
        tr.judged = value
        if ts - section.at >= section.refresh:
            section.refresh_at(ts)
        tr.ctx_kind = None
        tr.hour = hour
        stats = tr.baseline.ready[hour]
        if stats is None:
            return None
        _, spread, n = stats
        med = tr.baseline.expected(hour, frac)
        residual = value - med
        tr.residual, tr.residual_ts = residual, ts
        common = section.common
        floor = tr.floor
        scale = spread if spread > floor else floor  # noqa: FURB136 (max() costs more, per reading)
        tr.own = (med + common, scale, n)
        tr.ctx_kind = "baseline"
        return tr.sign * (residual - common) / scale

    @overload
    def peers(self, tr: Track, z: float) -> float: ...

    @overload
    def peers(self, tr: Track, z: None) -> float | None: ...

    def peers(self, tr: Track, z: float | None) -> float | None:
        """The smaller of `z` and the z of the track's last value against its peers' values now
        (`z` when there are too few peers to ask)."""
        summary = tr.section.peers(True, self.s.peer_min)
        if summary is None:
            return z
        med, spread, n = summary
        scale = max(tr.floor, spread)
        z_peers = tr.sign * (tr.judged - med) / scale
        tr.peer = (med, scale, n)
        if z is None or z_peers < z:
            tr.ctx_kind = "peers"
            return z_peers
        return z


def context_of(tr: Track, z: float | None, kind: str | None = None) -> dict:
    """The figures behind a track's last z: which context, its baseline and spread."""
    kind = kind or tr.ctx_kind
    if kind is None:
        return {"context": "unknown"}
    baseline, scale, samples = tr.own if kind == "baseline" else tr.peer
    found = {"context": kind, "baseline": round(math.expm1(baseline) if tr.log else baseline, 3),
             "spread": round(scale, 3), "samples": samples, "hour": tr.hour,
             "z": round(z, 2) if z is not None else None}
    if tr.log:
        found["scale"] = "log"  # concentrations: baseline and spread of log(1 + value)
    return found


def _reference(metric: Metric) -> float:
    """The size of a metric's values that matter: its warning (or critical) threshold, else half
    its valid range, else 1."""
    for value in (metric.warning, metric.critical):
        if value:
            return abs(value)
    if metric.valid_min is not None and metric.valid_max is not None and metric.valid_max > metric.valid_min:
        return (metric.valid_max - metric.valid_min) / 2.0
    return 1.0
