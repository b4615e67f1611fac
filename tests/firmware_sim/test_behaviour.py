"""Sensor behaviour over simulated days: valid ranges, daily patterns, counters and battery."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.behaviour import (
    SensorModel,
    Weather,
    activity,
    local_hour,
    parking_probability,
    temperature,
    traffic,
)
from firmware_sim.fleet import MOBILE_TYPE, SENSOR_TYPES
from firmware_sim.incidents import INCIDENT_TYPES, Incident
from twin.sensing.catalog import MetricCatalog

CATALOG = MetricCatalog.default()
ALL_METRICS = tuple(m.name for m in CATALOG)
# Local midnight (UTC+8) starting 2026-11-29 in Kaifeng.
MIDNIGHT = 1795881600.0
DRY = Weather(seed=0, chance=0.0)


def day(model: SensorModel, start: float = MIDNIGHT, step: float = 60.0, incidents=()) -> list[tuple[float, dict]]:
    return [(t, model.sample(t, incidents)) for t in np.arange(start, start + 86400.0, step)]


def assert_valid(name: str, value) -> None:
    metric = CATALOG[name]
    if metric.kind == "bool":
        assert isinstance(value, bool), (name, value)
    else:
        assert isinstance(value, float) and math.isfinite(value), (name, value)
        assert metric.in_range(value), (name, value)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31), start_day=st.integers(0, 365), rain=st.sampled_from([0.0, 0.5, 1.0]))
def test_every_metric_stays_in_its_valid_range_over_a_day(seed, start_day, rain):
    model = SensorModel("all-0001", ALL_METRICS, seed=seed, weather=Weather(seed, chance=rain))
    for _, values in day(model, start=MIDNIGHT + start_day * 86400.0, step=240.0):
        assert set(values) == set(ALL_METRICS)
        for name, value in values.items():
            assert_valid(name, value)


def test_values_stay_valid_under_every_incident_at_full_strength():
    incidents = [Incident(name, "410204001001001", MIDNIGHT + 3600, MIDNIGHT + 7200, magnitude=50.0) for name in INCIDENT_TYPES]
    model = SensorModel("all-0002", ALL_METRICS, seed=3)
    for _, values in day(model, step=300.0, incidents=incidents):
        for name, value in values.items():
            assert_valid(name, value)


def test_normal_days_stay_below_critical():
    # Without incidents the fleet should not raise critical alarms (warning accuracy in the demo).
    for type_ in (*SENSOR_TYPES, MOBILE_TYPE):
        for seed in range(5):
            model = SensorModel(f"{type_.prefix}-{seed}", type_.metrics, seed=seed, weather=Weather(seed, chance=0.5))
            for _, values in day(model, step=300.0):
                for name, value in values.items():
                    metric = CATALOG[name]
                    if metric.kind == "bool":
                        assert not (value and metric.alarm_on_true), (name, value)
                    elif metric.critical is not None:
                        assert value < metric.critical, (type_.name, name, value)


def mean_at(metric: str, hour: float, devices: int = 60) -> float:
    values = []
    for i in range(devices):
        model = SensorModel(f"d-{i}", (metric,), seed=i, weather=DRY)
        values.append(model.sample(MIDNIGHT + hour * 3600.0)[metric])
    return float(np.mean(values))


def test_daily_patterns_of_air_and_noise_follow_traffic():
    assert mean_at("pm25", 8.0) > 1.5 * mean_at("pm25", 3.0)
    assert mean_at("pm25", 18.0) > mean_at("pm25", 13.0)
    assert mean_at("noise_db", 3.0) + 10 < mean_at("noise_db", 11.0)
    assert mean_at("noise_db", 8.0) > mean_at("noise_db", 13.0)
    assert traffic(8.0) == traffic(18.0) == 1.0 and traffic(3.0) < 0.01
    assert activity(3.0) < 0.05 and activity(12.0) > 0.95


def test_temperature_peaks_in_the_afternoon_and_humidity_moves_inversely():
    model = SensorModel("wx-0001", ("temperature_c", "humidity_pct"), seed=1, weather=DRY)
    samples = day(model, step=600.0)
    hours = np.array([local_hour(t) for t, _ in samples])
    temps = np.array([v["temperature_c"] for _, v in samples])
    humidity = np.array([v["humidity_pct"] for _, v in samples])
    assert 12.0 <= hours[np.argmax(temps)] <= 17.0
    assert hours[np.argmin(temps)] <= 7.0 or hours[np.argmin(temps)] >= 23.0
    assert np.corrcoef(temps, humidity)[0, 1] < -0.6
    # A 10 degC swing from two at night to two in the afternoon (the season moves a little meanwhile).
    assert 9.5 < temperature(MIDNIGHT + 14 * 3600) - temperature(MIDNIGHT + 2 * 3600) < 10.5


def test_ar1_noise_is_smooth_between_close_samples():
    model = SensorModel("wx-0002", ("temperature_c", "noise_db"), seed=2, weather=DRY)
    samples = [model.sample(MIDNIGHT + 12 * 3600 + 10.0 * k) for k in range(200)]
    temps = np.array([s["temperature_c"] for s in samples])
    assert np.abs(np.diff(temps)).max() < 0.6
    noise = np.array([s["noise_db"] for s in samples])
    # Correlated, not white: successive values differ much less than the spread of values.
    assert np.std(np.diff(noise)) < 0.8 * np.std(noise) * math.sqrt(2)


def test_bin_fills_up_and_is_emptied_at_collection():
    for seed in range(10):
        model = SensorModel(f"bin-{seed}", ("bin_fill_pct",), seed=seed, weather=DRY)
        collections = model.bin_collections
        last = collections[-1] if len(collections) > 1 else collections[0] + 24.0
        before = model.sample(MIDNIGHT + (last - 0.2) * 3600)["bin_fill_pct"]
        after = model.sample(MIDNIGHT + (last + 0.1) * 3600)["bin_fill_pct"]
        assert before > 30.0 and after < 10.0, (seed, collections, before, after)
        hourly = [model.sample(MIDNIGHT + (collections[0] + h + 0.05) * 3600)["bin_fill_pct"] for h in range(11)]
        assert hourly[-1] > hourly[0] + 20


def test_water_level_is_near_zero_when_dry_and_rises_in_rain():
    dry = SensorModel("wl-0001", ("water_level_cm",), seed=1, weather=DRY)
    levels = [v["water_level_cm"] for _, v in day(dry, step=300.0)]
    assert max(abs(x) for x in levels) < 2.0
    wet = SensorModel("wl-0002", ("water_level_cm",), seed=1, weather=Weather(seed=1, chance=1.0))
    samples = day(wet, step=300.0)
    raining = [v["water_level_cm"] for t, v in samples if wet.weather.rain(t) > 5.0]
    assert raining and max(raining) > 3.0
    assert max(v["water_level_cm"] for _, v in samples) < CATALOG["water_level_cm"].warning


def test_parking_occupancy_follows_the_hour():
    def occupancy(hour: float) -> float:
        bays = [SensorModel(f"pk-{i}", ("parking_occupied",), seed=i) for i in range(300)]
        return float(np.mean([b.sample(MIDNIGHT + hour * 3600)["parking_occupied"] for b in bays]))

    assert occupancy(11.0) > 0.75 and occupancy(3.0) < 0.4
    assert parking_probability(11.0) > 0.85 and parking_probability(3.0) < 0.3


def test_parking_bay_keeps_its_state_between_close_samples():
    bay = SensorModel("pk-0001", ("parking_occupied",), seed=4)
    states = [bay.sample(MIDNIGHT + 12 * 3600 + 10.0 * k)["parking_occupied"] for k in range(360)]
    changes = sum(a != b for a, b in zip(states, states[1:]))
    assert changes <= 6  # about one turnover an hour, not a coin toss every ten seconds


def test_manhole_tilt_stays_near_zero():
    model = SensorModel("mh-0001", ("manhole_tilt_deg", "manhole_open"), seed=5)
    samples = day(model, step=300.0)
    assert max(v["manhole_tilt_deg"] for _, v in samples) < CATALOG["manhole_tilt_deg"].warning
    assert not any(v["manhole_open"] for _, v in samples)


def test_seq_counts_from_zero_and_battery_drains():
    model = SensorModel("aq-0001", ("pm25", "pm10"), seed=6, battery=0.5)
    readings = [model.reading(MIDNIGHT + 10.0 * k) for k in range(1000)]
    assert [r["seq"] for r in readings] == list(range(1000))
    batteries = [r["battery"] for r in readings]
    assert batteries[0] == 0.5 and batteries[-1] < 0.5
    assert all(a >= b for a, b in zip(batteries, batteries[1:]))
    assert all(0.0 <= b <= 1.0 for b in batteries)
    assert set(readings[0]) == {"seq", "values", "battery"}


def test_same_seed_same_readings_and_different_seed_different_readings():
    def run(seed):
        model = SensorModel("aq-0001", ("pm25", "noise_db"), seed=seed)
        return [model.sample(MIDNIGHT + 60.0 * k) for k in range(30)]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_a_metric_without_a_pattern_gets_quiet_valid_values():
    catalog = MetricCatalog.from_config({"co_ppm": {"unit": "ppm", "valid_min": 0, "valid_max": 1000, "warning": 35, "critical": 100}})
    model = SensorModel("co-0001", ("co_ppm",), seed=1, catalog=catalog)
    values = [model.sample(MIDNIGHT + 60.0 * k)["co_ppm"] for k in range(100)]
    assert all(0 <= v < 35 for v in values)
