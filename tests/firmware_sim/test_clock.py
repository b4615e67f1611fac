"""Clocks and the payload timestamp format."""

from __future__ import annotations

import re
import time
from datetime import datetime

from firmware_sim.clock import AcceleratedClock, ManualClock, RealClock, format_ts


def test_accelerated_clock_runs_speed_times_faster_from_its_start():
    clock = AcceleratedClock(1_000_000.0, speed=1440)
    first = clock.now()
    time.sleep(0.05)
    elapsed = clock.now() - first
    assert 1_000_000.0 <= first < 1_000_000.0 + 1440 * 0.05
    assert 1440 * 0.04 < elapsed < 1440 * 0.5


def test_real_and_manual_clocks():
    assert abs(RealClock().now() - time.time()) < 1.0
    clock = ManualClock(100.0)
    clock.advance(2.5)
    assert clock.now() == 102.5


def test_format_ts_is_rfc3339_utc_with_milliseconds():
    text = format_ts(1795939200.1234)
    assert text == "2026-11-29T08:00:00.123Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", format_ts(time.time()))
    assert datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() == 1795939200.123
