"""Threshold detection with hysteresis, and camera start/end pairing."""

from collections import deque

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
    assert [(e.status, e.severity.label) for e in events] == [
        ("opened", "warning"),  # 80 passes 75
        ("cleared", "warning"), ("opened", "critical"),  # 160 passes 150
        # 145 stays critical (within the 10-unit band), 100 drops to warning
        ("cleared", "critical"), ("opened", "warning"),
        ("cleared", "warning"),  # 60 < 75 - 10
    ]
    assert events[0].type == "pm25_high" and events[0].threshold == 75
    assert "above the warning threshold of 75" in events[0].explanation
    assert events[0].id == events[1].id  # opened and cleared share the anomaly id
    assert det.level("aq-1", "pm25") == Level.NORMAL


def test_hovering_at_a_threshold_does_not_flap():
    _, events = feed([74, 76, 73, 77, 72, 78, 70, 76])
    assert len(events) == 1 and events[0].status == "opened"


def test_boolean_alarm():
    _, events = feed([False, True, True, False], metric="smoke")
    assert [(e.status, e.severity) for e in events] == [("opened", Level.CRITICAL), ("cleared", Level.CRITICAL)]
    assert events[0].type == "smoke"


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
