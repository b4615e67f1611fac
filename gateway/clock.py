"""Clocks for timers that wait for a wall-clock time: the system clock, and a manual one for tests.

A timer here sleeps until a deadline stored as Unix time (a case's `escalate_at`),
or until it is woken because the deadlines changed. `SystemClock` sleeps in slices of
at most `max_sleep` seconds so a jump of the system clock (NTP, a suspended VM) is
noticed within that time; `ManualClock` moves only when told to.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Unix time, seconds."""

    async def sleep_until(self, deadline: float | None, wake: asyncio.Event) -> None:
        """Return at or after `deadline` (never, when None), or as soon as `wake` is set."""


async def _first(*aws) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class SystemClock:
    def __init__(self, max_sleep: float = 60.0):
        self.max_sleep = max_sleep

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float | None, wake: asyncio.Event) -> None:
        timeout = self.max_sleep if deadline is None else min(self.max_sleep, max(0.0, deadline - time.time()))
        try:
            await asyncio.wait_for(wake.wait(), timeout)
        except TimeoutError:
            pass


class ManualClock:
    """A clock that stands still until `advance` or `set` moves it; sleepers wake when it passes
    their deadline (not when it reaches it: a case's limit passes only after its deadline).

    >>> clock = ManualClock(100.0)
    >>> clock.advance(5) or clock.now()
    105.0
    """

    def __init__(self, start: float):
        self._now = float(start)
        self._moved = asyncio.Event()

    def now(self) -> float:
        return self._now

    def set(self, now: float) -> None:
        self._now = float(now)
        moved, self._moved = self._moved, asyncio.Event()
        moved.set()

    def advance(self, seconds: float) -> None:
        self.set(self._now + seconds)

    async def sleep_until(self, deadline: float | None, wake: asyncio.Event) -> None:
        while (deadline is None or self._now <= deadline) and not wake.is_set():
            await _first(wake.wait(), self._moved.wait())
