"""A clock that follows the stream: "now" is what the devices' own timestamps say, not the machine's
wall clock. A gateway replaying a scenario a thousand times faster than real time, or catching up
on a backlog, then judges stale and future readings, silences and confirmations by the data's time.

"Now" is a high quantile (0.9) of the latest timestamp of each device, and never goes back. The
devices that reported last set it, whatever their reporting intervals; a few devices whose clocks
run ahead do not (their readings are refused as future, and they get a clock_skew alert), and
neither do buffered uploads of old readings.

    clock = StreamClock()
    gateway = Gateway(settings, store, grid, clock=clock)   # the gateway feeds it every batch

`WallClock` is the machine's clock with the same surface (gateway.types.DataClock), learning nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from gateway.messages import Decoded


class StreamClock:
    """Callable: `clock()` is now, Unix seconds. `observe(decoded)` learns from a decoded batch."""

    def __init__(self, quantile: float = 0.9, start: float | None = None):
        if not 0.0 < quantile <= 1.0:
            raise ValueError("quantile must be in (0, 1]")
        self.quantile = quantile
        self._latest: dict[str, float] = {}
        self._now = start

    def observe(self, decoded: Decoded) -> None:
        latest = self._latest
        moved = False
        for obs in decoded.observations:
            ts = obs.ts
            if ts is not None and ts > latest.get(obs.device_id, float("-inf")):
                latest[obs.device_id] = ts
                moved = True
        for event in decoded.camera:
            ts = event.ts
            if ts is not None and ts > latest.get(event.camera_id, float("-inf")):
                latest[event.camera_id] = ts
                moved = True
        if moved:
            self._advance()

    def observe_times(self, pairs: Iterable[tuple[str, float]]) -> None:
        """Learn from (device id, timestamp) pairs: what another member of a group observed."""
        latest = self._latest
        moved = False
        for device_id, ts in pairs:
            if isinstance(ts, (int, float)) and ts > latest.get(device_id, float("-inf")):
                latest[device_id] = ts
                moved = True
        if moved:
            self._advance()

    def _advance(self) -> None:
        ordered = sorted(self._latest.values())
        candidate = ordered[min(len(ordered) - 1, int(self.quantile * len(ordered)))]
        if self._now is None or candidate > self._now:
            self._now = candidate

    def set(self, now: float) -> None:
        """Move forward to `now` (a scenario player may tell the time directly); never back."""
        if self._now is None or now > self._now:
            self._now = now

    def __call__(self) -> float:
        return self._now if self._now is not None else time.time()

    now = __call__

    def fork(self) -> StreamClock:
        """A stream clock of the same quantile that has seen nothing yet."""
        return StreamClock(quantile=self.quantile)

    def __repr__(self) -> str:
        return f"StreamClock(now={self._now})"


class WallClock:
    """The machine's clock, as a DataClock: `clock()` is time.time(); it learns nothing."""

    def __call__(self) -> float:
        return time.time()

    def observe(self, decoded: Decoded) -> None:
        pass

    def observe_times(self, pairs: Iterable[tuple[str, float]]) -> None:
        pass

    def fork(self) -> WallClock:
        return self
