"""Context: how unusual a value is for this device at this hour of the day (median and MAD of its
own past readings in that hour), corrected for what every device of the metric shows right now
(a rainstorm raises every water level at once), or, without enough history, for its peers.

The robust z-score is (value - baseline median - common shift) / robust spread, where the
spread is 1.4826 x MAD but never less than `scale_floor` x the metric's warning threshold
(a very steady sensor must not turn noise into alarms).
"""

from __future__ import annotations

from collections import deque
from statistics import median

MAD_TO_SIGMA = 1.4826


def robust(values) -> tuple[float, float]:
    """(median, 1.4826 x median absolute deviation) of a non-empty sequence.

    >>> robust([1.0, 2.0, 3.0, 4.0, 100.0])
    (3.0, 1.4826)
    """
    m = median(values)
    return m, MAD_TO_SIGMA * median(abs(v - m) for v in values)


class HourlyBaseline:
    """The last `size` readings of one device and metric for each hour of the day, with their
    median and spread recomputed only when enough new readings came in. An hour counts once it
    has readings from `min_days` different days: one day shows how a value moves within the
    hour, not how much it differs from one day to the next."""

    __slots__ = ("buckets", "stats", "fresh", "size", "days", "last_day", "pooled", "pooled_spread", "pooled_fresh")

    def __init__(self, size: int):
        self.size = size
        self.buckets: list[deque | None] = [None] * 24
        self.stats: list[tuple[float, float, int] | None] = [None] * 24
        self.fresh = [0] * 24  # readings added since the stats were computed
        self.days = [0] * 24  # different days the hour has readings from
        self.last_day = [-1] * 24
        # Residuals from the hour's median over all hours: a day or two of one hour shows little
        # of how much days differ, all hours together show more.
        self.pooled: deque = deque(maxlen=size * 8)
        self.pooled_spread = 0.0
        self.pooled_fresh = 0

    def add(self, hour: int, value: float, day: int = 0) -> None:
        bucket = self.buckets[hour]
        if bucket is None:
            bucket = self.buckets[hour] = deque(maxlen=self.size)
        stats = self.stats[hour]
        if stats is not None:
            self.pooled.append(value - stats[0])
            self.pooled_fresh += 1
        bucket.append(value)
        self.fresh[hour] += 1
        if day != self.last_day[hour]:
            self.last_day[hour] = day
            self.days[hour] += 1

    def get(self, hour: int, min_samples: int, min_days: int = 1) -> tuple[float, float, int] | None:
        """(median, spread, samples) of the hour, or None before `min_samples` readings from
        `min_days` days."""
        bucket = self.buckets[hour]
        if bucket is None or len(bucket) < min_samples or self.days[hour] < min_days:
            return None
        stats = self.stats[hour]
        if stats is None or self.fresh[hour] * 8 >= len(bucket):
            m, spread = robust(bucket)
            stats = self.stats[hour] = (m, spread, len(bucket))
            self.fresh[hour] = 0
        pooled = self.pooled
        if pooled and self.pooled_fresh * 8 >= len(pooled):
            self.pooled_spread = MAD_TO_SIGMA * median(abs(r) for r in pooled)
            self.pooled_fresh = 0
        if self.pooled_spread > stats[1]:
            return stats[0], self.pooled_spread, stats[2]
        return stats


class CrossSection:
    """What all devices of one metric show now: the latest value and the latest residual from its
    own baseline per device, summarized (median, spread) at most every `refresh_s` of stream time."""

    __slots__ = ("latest", "residuals", "window", "refresh", "_summary", "_common", "_at", "_common_at")

    def __init__(self, window_s: float, refresh_s: float = 60.0):
        self.latest: dict[str, tuple[float, float]] = {}  # device -> (ts, value)
        self.residuals: dict[str, tuple[float, float]] = {}  # device -> (ts, value - its baseline median)
        self.window, self.refresh = window_s, refresh_s
        self._summary: tuple[float, float, int] | None = None
        self._common = 0.0
        self._at = self._common_at = float("-inf")

    def peers(self, now: float, exclude: str, minimum: int) -> tuple[float, float, int] | None:
        """(median, spread, devices) of the other devices' recent values, or None with too few."""
        if now - self._at >= self.refresh or self._summary is None:
            recent = [v for ts, v in self.latest.values() if now - ts <= self.window]
            self._summary = (*robust(recent), len(recent)) if recent else None
            self._at = now
        summary = self._summary
        if summary is None or summary[2] - (exclude in self.latest) < minimum:
            return None
        return summary

    def common(self, now: float, minimum: int) -> float:
        """The shift every device shows from its own baseline right now (0 with too few devices)."""
        if now - self._common_at >= self.refresh:
            recent = [r for ts, r in self.residuals.values() if now - ts <= self.window]
            self._common = median(recent) if len(recent) >= minimum else 0.0
            self._common_at = now
        return self._common
