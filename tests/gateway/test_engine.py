"""The detection engine, fed readings directly: what becomes an incident, what becomes a
device-health alert, what is nothing, and what every anomaly says about why."""

from __future__ import annotations

import pytest

from gateway.detectors import DetectionEngine
from tests.gateway.conftest import A, B, C, D, small_grid
from twin.sensing.anomalies import DEVICE_HEALTH, INCIDENT
from twin.sensing.catalog import Level, Metric, MetricCatalog
from twin.sensing.detection import DetectionSettings

T0 = 1_795_939_200.0  # 2026-11-29T08:00:00Z, 16:00 in Kaifeng
STEP = 300.0


class Feed:
    """Readings into an engine, in time order, with the engine's clock moving along."""

    def __init__(self, **settings):
        self.engine = DetectionEngine(DetectionSettings(**settings), MetricCatalog.default(), small_grid())
        self.out: list = []
        self.seq: dict[str, int] = {}

    def reading(self, device: str, cell: str, ts: float, values: dict, battery: float = 0.9, seq: int | None = None):
        if seq is None:
            seq = self.seq[device] = self.seq.get(device, -1) + 1
        self.engine.observe(device, cell, None, None, ts, seq, battery, ts, ts, self.out)
        for name, value in values.items():
            self.engine.reading(device, name, float(value), ts, cell, None, None, self.out)
        self.engine.tick(ts, self.out)

    def history(self, device: str, cell: str, metric: str, value, start: float, n: int):
        """`n` ordinary readings every STEP from `start`; `value` may be a function of the index."""
        for i in range(n):
            self.reading(device, cell, start + i * STEP, {metric: value(i) if callable(value) else value})
        return start + n * STEP

    def tick(self, ts: float):
        self.engine.tick(ts, self.out)

    def opened(self, category: str | None = None, type_: str | None = None) -> list:
        return [a for a in self.out if a.status == "opened" and (category is None or a.category == category)
                and (type_ is None or a.type == type_)]


def noisy(base: float, amplitude: float):
    """A deterministic wobble, so a sensor never repeats itself exactly."""
    return lambda i: round(base + amplitude * ((i * 7919) % 13 - 6) / 6.0, 2)


def test_one_reading_past_critical_is_not_an_incident_the_second_one_is():
    feed = Feed()
    t = feed.history("wl-1", A, "water_level_cm", noisy(1.0, 0.4), T0, 6)  # interval known: 300 s
    feed.reading("wl-1", A, t, {"water_level_cm": 42.0})
    assert feed.opened() == []  # one reading: waiting for the next
    feed.reading("wl-1", A, t + STEP, {"water_level_cm": 44.5})
    (anomaly,) = feed.opened()
    assert (anomaly.category, anomaly.type, anomaly.severity) == (INCIDENT, "water_level_cm_high", Level.CRITICAL)
    assert anomaly.detector == "threshold" and "threshold" in anomaly.details["detectors"]
    assert "critical threshold of 30 cm" in anomaly.explanation and "next reading" in anomaly.explanation
    assert anomaly.details["figures"]["onset_value"] == 42.0 and anomaly.ts == t + STEP


def test_a_reading_back_to_normal_at_once_was_a_spike_and_spikes_make_a_health_alert():
    feed = Feed()
    t = feed.history("wl-1", A, "water_level_cm", noisy(1.0, 0.4), T0, 6)
    for k in range(2):
        feed.reading("wl-1", A, t, {"water_level_cm": 60.0})
        feed.reading("wl-1", A, t + STEP, {"water_level_cm": 1.1 + k / 10})
        t = feed.history("wl-1", A, "water_level_cm", noisy(1.0, 0.4), t + 2 * STEP, 3)
    assert feed.opened(INCIDENT) == []
    (alert,) = feed.opened(DEVICE_HEALTH)
    assert (alert.type, alert.detector, alert.device_id) == ("sensor_spikes", "spike", "wl-1")
    assert alert.details["figures"]["spikes"] == 2 and "single reading" in alert.explanation


def test_neighbours_that_agree_confirm_at_once_and_raise_severity():
    feed = Feed()
    t = feed.history("ns-1", A, "noise_db", noisy(55, 2), T0, 6)
    feed.history("ns-2", B, "noise_db", noisy(57, 2), T0 + 10, 6)
    feed.reading("ns-1", A, t, {"noise_db": 88.0})
    feed.reading("ns-2", B, t + 20, {"noise_db": 90.5})
    by_device = {a.device_id: a for a in feed.opened(INCIDENT)}
    assert set(by_device) == {"ns-1", "ns-2"}
    first, second = by_device["ns-1"], by_device["ns-2"]
    for anomaly in (first, second):
        assert "spatial" in anomaly.details["detectors"] and anomaly.severity == Level.CRITICAL
        assert anomaly.details["corroborated_by"] and anomaly.details["confidence"] >= 0.8
        assert anomaly.ts == t + 20  # when the second device agreed
    assert "confirmed by ns-1" in second.explanation and "neighbouring cell" in second.explanation
    assert [(n["device_id"], n["deviating"]) for n in first.details["neighbours"]] == [("ns-2", True)]


def test_a_camera_confirms_a_sensor_and_a_sensor_raises_a_cameras_severity():
    feed = Feed()
    t = feed.history("ns-1", B, "noise_db", noisy(55, 2), T0, 6)
    feed.engine.camera("cam-1", "e-1", "crowding", "start", 0.9, t, B, None, None, feed.out)
    feed.reading("ns-1", B, t + 30, {"noise_db": 95.0})
    camera, sensor = feed.opened(INCIDENT)
    assert camera.detector == "camera" and camera.severity == Level.WARNING  # crowding alone: a warning
    assert sensor.device_id == "ns-1" and "camera" in sensor.details["detectors"]
    assert "camera cam-1" in sensor.explanation
    feed.engine.camera("cam-2", "e-2", "crowding", "start", 0.4, t + 60, B, None, None, feed.out)
    weak = feed.opened(INCIDENT)[-1]
    assert weak.device_id == "cam-2" and weak.severity == Level.CRITICAL  # unsure alone, confirmed by ns-1
    feed.engine.camera("cam-3", "e-3", "street_vendor", "start", 0.4, t + 60, C, None, None, feed.out)
    assert feed.opened(INCIDENT)[-1].device_id == "cam-2"  # unsure and alone: nothing
    feed.engine.camera("cam-1", "e-1", "crowding", "end", 0.9, t + 600, B, None, None, feed.out)
    assert [a.id for a in feed.out if a.status == "cleared"] == [camera.id]


def test_one_sensor_deviating_while_its_neighbour_reads_normal_is_a_faulty_sensor():
    feed = Feed()
    t = feed.history("wl-1", A, "water_level_cm", noisy(1.0, 0.4), T0, 6)
    feed.history("wl-2", A, "water_level_cm", noisy(1.5, 0.4), T0 + 100, 6)
    feed.reading("wl-1", A, t, {"water_level_cm": 41.0})
    feed.reading("wl-2", A, t + 100, {"water_level_cm": 1.4})
    feed.reading("wl-1", A, t + STEP, {"water_level_cm": 41.6})
    assert feed.opened(INCIDENT) == []
    (alert,) = feed.opened(DEVICE_HEALTH)
    assert (alert.type, alert.detector) == ("sensor_disagrees", "spatial")
    assert "wl-2 reads 1.4 cm in the same cell" in alert.explanation
    assert [n["device_id"] for n in alert.details["neighbours"]] == ["wl-2"]


def test_a_stuck_value_is_a_health_alert_not_an_incident():
    feed = Feed()
    t = feed.history("wl-1", A, "water_level_cm", noisy(1.0, 0.4), T0, 12)
    t = feed.history("wl-1", A, "water_level_cm", 37.5, t, 10)  # jumps past critical and stays exactly there
    assert feed.opened(INCIDENT) == []
    (alert,) = feed.opened(DEVICE_HEALTH)
    assert (alert.type, alert.detector, alert.value) == ("sensor_stuck", "flatline", 37.5)
    feed.reading("wl-1", A, t, {"water_level_cm": 1.2})
    assert [a.type for a in feed.out if a.status == "cleared"] == ["sensor_stuck"]


def day_of(feed, device, cell, metric, value, days: int, start: float = T0 - 3 * 86400):
    """`days` of ordinary readings every STEP (baselines need two days of an hour)."""
    return feed.history(device, cell, metric, value, start, int(days * 86400 / STEP))


def test_a_slow_drift_is_a_health_alert_before_it_crosses_a_threshold():
    feed = Feed()
    t = day_of(feed, "wl-1", A, "water_level_cm", noisy(1.0, 0.3), 3)
    t = feed.history("wl-1", A, "water_level_cm", lambda i: round(1.0 + 0.25 * i, 2), t, 140)  # 3 cm/h, to 36 cm
    assert feed.opened(INCIDENT) == []
    alerts = feed.opened(DEVICE_HEALTH)
    assert [a.type for a in alerts] == ["sensor_drift"] and alerts[0].value < 15  # before even the warning



def test_a_leap_after_hours_of_reading_high_is_an_event_not_the_drift():
    # Hours above its usual values (a busy day), then a leap far past critical: a fire nearby, not
    # a sensor creeping. The long elevated spell must not make the leap look gradual.
    feed = Feed()
    t = day_of(feed, "aq-1", A, "pm25", noisy(30.0, 2.0), 3)
    t = feed.history("aq-1", A, "pm25", noisy(58.0, 2.0), t, 12)  # an hour high
    feed.history("aq-1", A, "pm25", noisy(260.0, 4.0), t, 2)
    assert feed.opened(DEVICE_HEALTH, "sensor_drift") == []
    (anomaly,) = feed.opened(INCIDENT)
    assert anomaly.type == "pm25_high" and anomaly.value > 200

def test_context_decides_whether_a_warning_is_an_incident():
    # PM2.5 at 80 is usual for this junction at 16:00 (its own hour-of-day baseline); at 03:00 it is not.
    def usual(i):
        hour = ((T0 - 3 * 86400 + i * STEP + 8 * 3600) % 86400) / 3600
        return round((78.0 if 15 <= hour < 17 else 20.0) * (1 + 0.05 * ((i * 7919) % 13 - 6) / 6), 1)

    feed = Feed()
    t = day_of(feed, "aq-1", A, "pm25", usual, 3)
    assert t == T0
    learning = len(feed.opened(INCIDENT))  # while it could not yet know its interval or what is usual
    feed.history("aq-1", A, "pm25", 80.4, T0, 1)
    feed.history("aq-1", A, "pm25", 81.1, T0 + STEP, 1)
    assert len(feed.opened(INCIDENT)) == learning  # a warning-level value, usual here at this hour
    night = T0 + 11 * 3600  # 03:00 local
    feed.history("aq-1", A, "pm25", noisy(20, 1), T0 + 2 * STEP, int((night - T0) / STEP) - 2)
    feed.reading("aq-1", A, night, {"pm25": 80.4})
    feed.reading("aq-1", A, night + STEP, {"pm25": 82.0})
    (anomaly,) = feed.opened(INCIDENT)[learning:]
    assert anomaly.type == "pm25_high" and anomaly.details["figures"]["context"] == "baseline"
    assert "usually" in anomaly.explanation and anomaly.details["figures"]["z"] >= 4


def test_a_sudden_rise_names_the_rate_of_change_detector():
    feed = Feed()
    t = feed.history("sm-1", C, "smoke_obscuration", noisy(0.1, 0.03), T0, 6)
    feed.reading("sm-1", C, t, {"smoke_obscuration": 14.0})
    feed.reading("sm-1", C, t + STEP, {"smoke_obscuration": 16.2})
    (anomaly,) = feed.opened(INCIDENT)
    assert "rate_of_change" in anomaly.details["detectors"] and "rate_per_min" in anomaly.details["figures"]
    assert "rose" in anomaly.explanation


def test_a_device_whose_interval_is_not_known_yet_alarms_at_once():
    feed = Feed()
    feed.reading("aq-9", D, T0, {"pm25": 40.0})
    feed.reading("aq-9", D, T0 + 1, {"pm25": 180.0})
    (anomaly,) = feed.opened(INCIDENT)
    assert anomaly.severity == Level.CRITICAL and "not known yet" in anomaly.explanation


def test_a_deviation_whose_device_says_nothing_more_opens_after_its_wait():
    feed = Feed(settle_s=0.0)
    t = feed.history("wl-1", A, "water_level_cm", noisy(1.0, 0.4), T0, 6)
    feed.reading("wl-1", A, t, {"water_level_cm": 45.0})
    feed.tick(t + 1.4 * STEP)
    assert feed.opened() == []
    feed.tick(t + 1.5 * STEP)
    (anomaly,) = feed.opened(INCIDENT)
    assert anomaly.ts == t + 1.5 * STEP and "no further reading" in anomaly.explanation


def test_offline_by_last_will_and_silent_by_the_clock():
    feed = Feed()
    t = feed.history("wl-1", A, "water_level_cm", noisy(1.0, 0.4), T0, 6)
    feed.history("wl-2", B, "water_level_cm", noisy(1.0, 0.4), T0, 6)
    feed.engine.status("wl-1", A, False, t, feed.out)
    feed.tick(t + 10 * STEP)
    offline, silent = feed.opened(DEVICE_HEALTH)
    assert (offline.type, offline.device_id, offline.detector) == ("device_offline", "wl-1", "offline")
    assert (silent.type, silent.device_id) == ("device_silent", "wl-2")  # nothing for 3 intervals
    assert "last will" in offline.explanation and "sent nothing for 15 min" in silent.explanation
    feed.reading("wl-1", A, t + 11 * STEP, {"water_level_cm": 1.0})
    assert [a.type for a in feed.out if a.status == "cleared"] == ["device_offline"]


def test_battery_clock_and_transport_faults():
    feed = Feed()
    cells = {"wl-1": A, "wl-2": B, "wl-3": C, "wl-4": D}
    for device, cell in cells.items():
        t = feed.history(device, cell, "water_level_cm", noisy(1.0, 0.4), T0, 4)
    feed.reading("wl-1", A, t, {"water_level_cm": 1.0}, battery=0.12)  # nearly flat
    for i in range(3):  # readings 20 min ahead of the stream, refused as future
        feed.engine.time_rejected("wl-2", B, t + i * STEP + 1200, t + i * STEP, feed.out)
    for i in range(3):  # the same reading again, three times
        feed.engine.observe("wl-3", C, None, None, t - STEP, 3, 0.9, t + i, t + i, feed.out)
    for i in range(3):  # readings older than one already read (a moment late, not from a wrong clock)
        late = t - 1.5 * STEP - i
        feed.engine.observe("wl-4", D, None, None, late, 100 + i, 0.9, t + i, late + 5, feed.out)
    feed.tick(t + 1)
    found = {a.device_id: a.type for a in feed.opened(DEVICE_HEALTH)}
    assert found == {"wl-1": "battery_low", "wl-2": "clock_skew", "wl-3": "duplicate_messages",
                     "wl-4": "out_of_order_messages"}
    assert feed.opened(INCIDENT) == []
    clock = feed.opened(DEVICE_HEALTH, "clock_skew")[0]
    assert clock.detector == "clock" and "20 min ahead" in clock.explanation


@pytest.mark.parametrize("value, readings", [
    (300.0, 3),  # out of range three times (water level is valid up to 500 cm): a refused value
])
def test_values_refused_as_out_of_range_make_a_health_alert(value, readings):
    feed = Feed()
    for i in range(readings):
        feed.engine.out_of_range("wl-1", A, "water_level_cm", value * 2, T0 + i * STEP, feed.out)
    (alert,) = feed.opened(DEVICE_HEALTH)
    assert alert.type == "sensor_out_of_range" and alert.detector == "range"


def test_a_metric_valid_only_up_to_a_bound_says_so_when_its_values_are_refused():
    # A metric configured with a maximum and no minimum: the alert shows the open end.
    catalog = MetricCatalog({"level_pct": Metric("level_pct", "%", "Tank level", valid_max=100.0)})
    engine = DetectionEngine(DetectionSettings(), catalog, small_grid())
    out: list = []
    for i in range(3):
        engine.out_of_range("tk-1", A, "level_pct", 130.0, T0 + i * STEP, out)
    (alert,) = out
    assert alert.type == "sensor_out_of_range" and "outside the valid ..100 %" in alert.explanation


def test_rain_raising_every_water_level_is_no_incident():
    feed = Feed()
    devices = [(f"wl-{i}", cell) for i, cell in enumerate((A, B, C, D, A))]
    start = T0 - 3 * 86400
    for device, cell in devices:
        day_of(feed, device, cell, "water_level_cm", noisy(0.5, 0.3), 3, start + hash(device) % 60)
    for k in range(24):  # two hours of rain: 12 cm everywhere, below the warning of 15 cm
        for j, (device, cell) in enumerate(devices):
            feed.reading(device, cell, T0 + k * STEP + j, {"water_level_cm": round(11.5 + 0.1 * ((k + j) % 5), 1)})
    assert feed.opened(INCIDENT) == []
    assert feed.opened(DEVICE_HEALTH) == []
