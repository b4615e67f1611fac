"""Simulated time: the wall clock, an accelerated clock that runs a day in minutes, or a manual one.

A clock only answers "what time is it in the simulation" (Unix epoch seconds,
UTC). Devices still publish on wall-clock intervals; the clock decides the
timestamps they carry and the time of day their behaviour follows.

>>> clock = ManualClock(1_800_000_000.0)
>>> clock.advance(60)
>>> clock.now()
1800000060.0
"""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Simulated time, Unix epoch seconds (UTC)."""


class RealClock:
    """The wall clock."""

    speed = 1.0

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "RealClock()"


class AcceleratedClock:
    """Starts at `start` (epoch seconds) and runs `speed` times faster than the wall clock.

    `AcceleratedClock(start, speed=1440)` plays a whole day in one minute.
    """

    def __init__(self, start: float, speed: float = 1.0):
        if speed <= 0:
            raise ValueError(f"clock speed must be positive, got {speed}")
        self.start = float(start)
        self.speed = float(speed)
        self._origin = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self._origin) * self.speed

    def __repr__(self) -> str:
        return f"AcceleratedClock(start={format_ts(self.start)}, speed={self.speed:g})"


class ManualClock:
    """A clock that moves only when told to; for tests and offline generation."""

    speed = 1.0

    def __init__(self, start: float = 0.0):
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def __repr__(self) -> str:
        return f"ManualClock({format_ts(self.t)})"


def format_ts(ts: float) -> str:
    """RFC 3339 UTC with milliseconds, as the payload contract writes it.

    >>> format_ts(1795939200.1234)
    '2026-11-29T08:00:00.123Z'
    """
    seconds, ms = divmod(int(ts * 1000), 1000)
    return f"{_second(seconds)}.{ms:03d}Z"


@functools.lru_cache(maxsize=256)
def _second(seconds: int) -> str:
    # A fleet stamps many readings within one second; formatting the date once per second saves time.
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
