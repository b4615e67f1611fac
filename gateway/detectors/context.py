"""Context: how unusual a value is for this device at this hour of the day (median and MAD of its
own past readings in that hour), corrected for what every device of the metric shows right now
(a rainstorm raises every water level at once), or, without enough history, for its peers.

The robust z-score is (value - baseline median - common shift) / robust spread, where the
spread is 1.4826 x MAD but never less than `scale_floor` x the metric's warning threshold
(a very steady sensor must not turn noise into alarms).
"""

from __future__ import annotations

from array import array

MAD_TO_SIGMA = 1.4826


def robust(values) -> tuple[float, float]:
    """(median, 1.4826 x median absolute deviation) of a non-empty sequence.

    >>> robust([1.0, 2.0, 3.0, 4.0, 100.0])
    (3.0, 1.4826)
    """
    m = _median(sorted(values))
    return m, MAD_TO_SIGMA * _median(sorted([abs(v - m) for v in values]))


def _median(ordered: list) -> float:
    n = len(ordered)
    half = n // 2
    return ordered[half] if n % 2 else (ordered[half - 1] + ordered[half]) / 2.0


class Ring:
    """The last `size` numbers, the oldest overwritten first: a deque(maxlen=size) of floats as an
    array of single-precision numbers. A full hour-of-day baseline holds about 1,900 numbers per
    device and metric; 4 bytes each instead of a float object and its pointer (32) is what lets a
    small server keep tens of thousands of baselines. Seven significant digits are more than any
    sensor reading carries. Order is not kept: only the numbers matter (medians)."""

    __slots__ = ("next", "size", "values")

    def __init__(self, size: int):
        self.values = array("f")
        self.size = size
        self.next = 0  # where the next number goes once it is full

    def append(self, value: float) -> None:
        values = self.values
        if len(values) < self.size:
            values.append(value)
        else:
            values[self.next] = value
            self.next = (self.next + 1) % self.size

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self):
        return iter(self.values)


POOLED_MIN = 48  # residuals (over all hours) before their spread replaces an hour's own


class HourlyBaseline:
    """The last `size` readings of one device and metric for each hour of the day, with their
    median and spread recomputed only when a quarter of them are new. An hour counts once it has
    readings from `min_days` different days: one day shows how a value moves within the hour, not
    how much it differs from one day to the next."""

    __slots__ = ("buckets", "days", "filled", "fresh", "last_day", "min_days", "min_samples", "pooled",
                 "pooled_fresh", "pooled_spread", "ready", "size", "slots")

    def __init__(self, size: int, min_samples: int = 1, min_days: int = 1):
        self.size, self.min_samples, self.min_days = size, min_samples, min_days
        self.buckets: list[Ring | None] = [None] * 24
        # (median, spread, samples) per hour; None before `min_samples` readings from `min_days` days
        self.ready: list[tuple[float, float, int] | None] = [None] * 24
        self.fresh = [0] * 24  # readings added since the hour's figures were computed
        self.days = [0] * 24  # different days the hour has readings from
        self.last_day = [-1] * 24
        # Residuals from the hour's median over all hours: a day or two of one hour shows little
        # of how much days differ, all hours together show more.
        self.pooled = Ring(size * 8)
        self.pooled_spread = 0.0
        self.pooled_fresh = 0
        # A day gives an hour at most `slots` readings, spread over the hour: a device reporting every
        # minute must not make today (or a drift today) most of what is usual.
        self.slots = max(1, size // 5)
        self.filled = [0] * 24  # bit mask of today's slots taken, per hour

    def add(self, hour: int, value: float, day: int = 0, frac: float = 0.5) -> None:
        slot = 1 << min(self.slots - 1, int(frac * self.slots))
        if day != self.last_day[hour]:
            self.filled[hour] = 0
        elif self.filled[hour] & slot:
            return
        self.filled[hour] |= slot
        bucket = self.buckets[hour]
        if bucket is None:
            bucket = Ring(self.size)
            self.buckets[hour] = bucket
        ready = self.ready[hour]
        if ready is not None:
            self.pooled.append(value - self.expected(hour, frac))
            self.pooled_fresh += 1
        bucket.append(value)
        fresh = self.fresh[hour] = self.fresh[hour] + 1
        if day != self.last_day[hour]:
            self.last_day[hour] = day
            self.days[hour] += 1
        if ready is None or fresh * 4 >= len(bucket):
            self.ready[hour] = self._compute(hour, bucket)

    def expected(self, hour: int, frac: float) -> float:
        """The usual value at `frac` (0..1) into `hour` (which must be ready): the hour's median,
        leaning towards the next or previous hour's away from the middle of the hour, so a value
        rising through the hour (the morning rush) is compared with the right part of the curve."""
        ready = self.ready[hour]
        if ready is None:
            raise ValueError(f"hour {hour} has no baseline yet")
        median = ready[0]
        other = self.ready[(hour + 1) % 24 if frac >= 0.5 else (hour - 1) % 24]
        if other is None:
            return median
        weight = frac - 0.5 if frac >= 0.5 else 0.5 - frac
        return median + (other[0] - median) * weight

    def _compute(self, hour: int, bucket: Ring) -> tuple[float, float, int] | None:
        if len(bucket) < self.min_samples or self.days[hour] < self.min_days:
            return None
        self.fresh[hour] = 0
        m, spread = robust(bucket)
        pooled = self.pooled
        if self.pooled_fresh >= 16 and self.pooled_fresh * 4 >= len(pooled):
            self.pooled_spread = MAD_TO_SIGMA * _median(sorted([abs(r) for r in pooled]))
            self.pooled_fresh = 0
        if len(pooled) >= POOLED_MIN:
            # The residuals from the interpolated curve: an hour's own spread also holds how the
            # value moves through the hour, which the curve already follows.
            spread = self.pooled_spread
        # Readings of one day move together: with k days the median sits among them and the
        # deviations from it understate how much a new day may differ, by about sqrt((k-1)/k).
        days = self.days[hour]
        if days >= 2:
            spread *= (days / (days - 1)) ** 0.5
        return m, spread, len(bucket)


class CrossSection:
    """What all devices of one metric show now: each track's latest value and its residual from its
    own baseline, summarized (median, spread) at most every `refresh_s` of stream time. The
    summaries are read on every reading; they are computed once a minute."""

    __slots__ = ("at", "common", "common_min", "refresh", "summary", "tracks", "window")

    def __init__(self, window_s: float, common_min: int = 3, refresh_s: float = 60.0):
        self.tracks: list = []  # Track objects of the metric: last_ts, judged, residual_ts, residual
        self.window, self.refresh, self.common_min = window_s, refresh_s, common_min
        self.summary: tuple[float, float, int] | None = None  # peers now: (median, spread, devices)
        self.common = 0.0  # the shift every device shows from its own baseline now
        self.at = float("-inf")

    def refresh_at(self, now: float) -> None:
        """Summarize now (the caller checks `now - at >= refresh`)."""
        self.at = now
        window = self.window
        recent = [t.judged for t in self.tracks if now - t.last_ts <= window]
        self.summary = (*robust(recent), len(recent)) if recent else None
        # The shift everyone shows, from those not deviating on their own (a fire in one cell and a
        # drifting sensor in another are not a shift of the whole area).
        residuals = [t.residual for t in self.tracks if now - t.residual_ts <= window and not t.deviating
                     and t.anomaly_id is None and not t.stuck and not t.drifting]
        if len(residuals) >= self.common_min:
            self.common = _median(sorted(residuals))
        elif not any(now - t.residual_ts <= window for t in self.tracks):
            self.common = 0.0
        # else: too few quiet devices to say (many deviate at once): the shift stays what it was

    def peers(self, exclude_recent: bool, minimum: int) -> tuple[float, float, int] | None:
        """(median, spread, devices) of the recent values, or None with too few other devices."""
        summary = self.summary
        if summary is None or summary[2] - exclude_recent < minimum:
            return None
        return summary
