"""Threshold detection with hysteresis, and camera start/end pairing."""

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.detectors import CameraDetector, ThresholdDetector, next_level
from gateway.detectors.context import Ring, robust
from twin.sensing.catalog import Level, MetricCatalog

CATALOG = MetricCatalog.default()
PM25 = CATALOG["pm25"]  # warning 75, critical 150, hysteresis 10


def feed(values, metric="pm25"):
    det = ThresholdDetector(CATALOG)
    events = []
    for i, v in enumerate(values):
        events += det.update("aq-1", metric, v, float(i), "410204001001001", None, None)
    return det, events


def test_opens_escalates_and_clears():
    det, events = feed([50, 80, 160, 145, 100, 60])
    assert [(e.status, e.severity.label, e.value) for e in events] == [
        ("opened", "warning", 80),  # 80 passes 75
        ("cleared", "warning", 160), ("opened", "critical", 160),  # 160 passes 150
        # 145 stays critical (within the 10-unit band): the critical alarm ends at 100, not at 145
        ("cleared", "critical", 100), ("opened", "warning", 100),
        ("cleared", "warning", 60),  # 60 < 75 - 10
    ]
    assert events[0].type == "pm25_high" and events[0].threshold == 75
    assert "above the warning threshold of 75" in events[0].explanation
    assert events[0].id == events[1].id  # opened and cleared share the anomaly id
    assert events[-1].explanation == "PM2.5 at aq-1 is 60 ug/m3, back below the warning band"
    assert events[1].explanation == "PM2.5 at aq-1 is 160 ug/m3, now critical"
    assert det.level("aq-1", "pm25") == Level.NORMAL


def test_hovering_at_a_threshold_does_not_flap():
    _, events = feed([74, 76, 73, 77, 72, 78, 70, 76])
    assert len(events) == 1 and events[0].status == "opened"


def test_boolean_alarm():
    _, events = feed([False, True, True, False], metric="smoke")
    assert [(e.status, e.severity) for e in events] == [("opened", Level.CRITICAL), ("cleared", Level.CRITICAL)]
    assert events[0].type == "smoke"


# A metric alarmed below its thresholds, as configured (no default metric is): a backup battery
# warns at 20 % and is critical at 10 %, each alarm ending 5 % above its threshold.
LOW = MetricCatalog.from_config({"battery_pct": {"unit": "%", "label": "Battery", "warning": 20, "critical": 10,
                                                 "direction": "below", "hysteresis": 5}})
BATTERY = LOW["battery_pct"]
# A band wider than the gap between the thresholds (70 and 85): a falling value is never raised by it.
WIDE = MetricCatalog.from_config({"noise_db": {"hysteresis": 20}})["noise_db"]


@pytest.mark.parametrize("metric, current, value, expected", [
    # pm25, above: warning 75, critical 150, hysteresis 10
    (PM25, Level.NORMAL, 74.9, Level.NORMAL),
    (PM25, Level.NORMAL, 75, Level.WARNING),  # raised at the threshold itself
    (PM25, Level.WARNING, 150, Level.CRITICAL),
    (PM25, Level.WARNING, 65, Level.WARNING),  # held at the lower edge of the band
    (PM25, Level.WARNING, 64.9, Level.NORMAL),  # cleared past it
    (PM25, Level.CRITICAL, 140, Level.CRITICAL),
    (PM25, Level.CRITICAL, 139.9, Level.WARNING),
    (PM25, Level.CRITICAL, 64.9, Level.NORMAL),  # past both bands at once
    # battery_pct, below: warning 20, critical 10, hysteresis 5
    (BATTERY, Level.NORMAL, 20.1, Level.NORMAL),
    (BATTERY, Level.NORMAL, 20, Level.WARNING),  # raised at the threshold, from above
    (BATTERY, Level.NORMAL, 10, Level.CRITICAL),
    (BATTERY, Level.NORMAL, 80, Level.NORMAL),  # high is good
    (BATTERY, Level.WARNING, 10.1, Level.WARNING),
    (BATTERY, Level.WARNING, 25, Level.WARNING),  # held at the upper edge of the band
    (BATTERY, Level.WARNING, 25.1, Level.NORMAL),  # cleared past it
    (BATTERY, Level.WARNING, 18, Level.WARNING),  # a recovering value inside the band: no change
    (BATTERY, Level.CRITICAL, 15, Level.CRITICAL),
    (BATTERY, Level.CRITICAL, 15.1, Level.WARNING),
    (BATTERY, Level.CRITICAL, 25.1, Level.NORMAL),
    # noise_db with a 20 dB band: 66 + 20 would be critical, but the value fell from warning
    (WIDE, Level.WARNING, 66, Level.WARNING),
    (WIDE, Level.WARNING, 49.9, Level.NORMAL),
])
def test_levels_at_the_edges_of_the_thresholds_and_bands(metric, current, value, expected):
    assert next_level(metric, current, value) == expected


def test_a_metric_alarmed_below_opens_holds_and_clears_as_it_rises():
    det = ThresholdDetector(LOW)
    events = []
    for i, v in enumerate([60, 21, 20, 12, 9, 14, 15, 16, 24, 25, 26]):
        events += det.update("ups-1", "battery_pct", v, float(i), "410204001001001", None, None)
    assert [(e.status, e.severity.label, e.value) for e in events] == [
        ("opened", "warning", 20),
        ("cleared", "warning", 9), ("opened", "critical", 9),
        ("cleared", "critical", 16), ("opened", "warning", 16),  # 14 and 15 are within the band
        ("cleared", "warning", 26),  # 24 and 25 too
    ]
    assert {e.type for e in events} == {"battery_pct_low"}
    assert events[0].threshold == 20 and events[2].threshold == 10
    assert "is 20 %, below the warning threshold of 20 %" in events[0].explanation
    assert events[-1].explanation == "Battery at ups-1 is 26 %, back above the warning band"
    assert events[0].details["direction"] == "below" and events[0].details["hysteresis"] == 5


@given(st.lists(st.floats(min_value=0, max_value=400), min_size=1, max_size=50))
def test_level_never_drops_while_value_is_above_the_lower_band(values):
    level = Level.NORMAL
    for v in values:
        new = next_level(PM25, level, v)
        if v >= PM25.critical:
            assert new == Level.CRITICAL
        elif v >= PM25.warning:
            assert new >= Level.WARNING
        elif v < PM25.warning - PM25.hysteresis:
            assert new == Level.NORMAL
        level = new


@given(st.lists(st.floats(min_value=0, max_value=400), min_size=1, max_size=60))
def test_events_alternate_open_clear_per_anomaly(values):
    _, events = feed(values)
    open_ids = set()
    for e in events:
        if e.status == "opened":
            assert not open_ids
            open_ids.add(e.id)
        else:
            assert open_ids == {e.id}
            open_ids.clear()


def test_camera_pairs_start_and_end_and_ignores_low_confidence():
    det = CameraDetector(min_confidence=0.6)
    assert det.update("cam-1", "e0", "fire", "start", 0.4, 1.0, "c", None, None) == []
    (opened,) = det.update("cam-1", "e1", "fire", "start", 0.9, 1.0, "c", None, None)
    assert opened.severity == Level.CRITICAL and "confidence 0.90" in opened.explanation
    assert det.update("cam-1", "e1", "fire", "start", 0.9, 1.0, "c", None, None) == []  # redelivered start
    (cleared,) = det.update("cam-1", "e1", "fire", "end", 0.9, 5.0, "c", None, None)
    assert cleared.id == opened.id and cleared.status == "cleared"
    assert det.update("cam-1", "e9", "fire", "end", 0.9, 5.0, "c", None, None) == []  # end without start


@given(st.integers(1, 20), st.lists(st.floats(-1e6, 1e6, width=32), max_size=80))
def test_a_ring_holds_what_a_bounded_deque_holds(size, values):
    ring, reference = Ring(size), deque(maxlen=size)
    for v in values:
        ring.append(v)
        reference.append(v)
        assert len(ring) == len(reference) and sorted(ring) == sorted(reference)
    if values:
        assert robust(ring) == robust(reference)
