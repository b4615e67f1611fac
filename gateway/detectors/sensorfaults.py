"""Sensor faults seen in the values: device-health alerts (devicefaults.HealthAlerts) about a
sensor that misreads, as opposed to a cell where something happens.

    sensor_stuck         (flatline) the same value reading after reading, unlikely for this sensor
    sensor_drift         (drift) far from its own baseline for most readings of a while, or
                         across a threshold after creeping up, while its peers are not
    sensor_spikes        (spike) single readings far off and back at the next, again and again
    sensor_disagrees     (spatial) a deviation the same cell's sensors of the metric do not show
    sensor_out_of_range  (range) values outside the metric's valid range, refused, again and again

Each check raises or clears its alert and says what it did; what a fault means for a deviation
under way is the phase machine's business (phases.py): while a track has one of the first four
open, its deviations are not incidents (`suspect`).
"""

from __future__ import annotations

import itertools
import math

from gateway.detectors.devicefaults import HealthAlerts
from gateway.detectors.explain import amount, clock, listing, neighbours, num, span
from gateway.detectors.measures import context_of
from gateway.detectors.spatial import SpatialIndex
from gateway.detectors.state import Candidate, DeviceState, Track
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Metric, MetricCatalog
from twin.sensing.detection import DetectionSettings

# How unlikely a run of repeats must be for a sensor to be called stuck: odds below 1 in a million
# (thousands of sensors try every day).
FLATLINE_LOG_ODDS = math.log(1e-6)

# A last step this small (in robust sigma) is noise, not a jump.
GRADUAL_JUMP_Z = 4.0
JUMP_STEPS = 8.0  # a last step this many times a device's median step is a jump, whatever came before

# A track with one of these open is suspect: its deviations are not incidents.
SUSPECT = ("sensor_stuck", "sensor_drift", "sensor_disagrees", "sensor_spikes")

History = list[tuple[float, float, bool, float | None]]


class SensorFaults:
    """The value-based health checks of every track."""

    def __init__(self, settings: DetectionSettings, catalog: MetricCatalog, alerts: HealthAlerts,
                 space: SpatialIndex):
        self.s = settings
        self.catalog = catalog
        self.alerts = alerts
        self.space = space

    def suspect(self, tr: Track) -> bool:
        """Whether one of the track's own health alerts is open."""
        alerts = self.alerts
        return any(alerts.is_open(tr.device_id, kind, tr.metric.name) for kind in SUSPECT)

    # -- valid range -----------------------------------------------------------------------------
    def out_of_range(self, dev: DeviceState, name: str, value: float, now: float, out: list[Anomaly]) -> None:
        """A value refused as outside the metric's valid range: once is a glitch, often is a sensor fault."""
        s = self.s
        times = dev.out_of_range.setdefault(name, [])
        times.append(now)
        del times[:-s.transport_count]
        if len(times) < s.transport_count or now - times[0] > s.transport_window_s:
            return
        metric = self.catalog.metrics[name]
        found = self.alerts.raise_(
            device_id=dev.id, type_="sensor_out_of_range", detector="range", cell=dev.cell, ts=now,
            explanation=f"{metric.label} at {dev.id} read {amount(metric, value)}, outside the valid "
                        f"{_bound(metric.valid_min)}..{_bound(metric.valid_max)} {metric.unit}, {len(times)} times "
                        f"within {span(now - times[0])}: the readings are refused; check the sensor",
            details={"figures": {"value": value, "valid_min": metric.valid_min, "valid_max": metric.valid_max,
                                 "count": len(times)}},
            metric=name, value=value, lat=dev.lat, lon=dev.lon)
        if found:
            out.append(found)

    def in_range(self, dev: DeviceState, tr: Track, value: float, ts: float, out: list[Anomaly]) -> None:
        """A valid reading of a metric whose values were refused: the range alert clears."""
        if dev.out_of_range.pop(tr.metric.name, None) is None:
            return
        self._clear(tr, "sensor_out_of_range", ts, value, "reads {}, within its valid range again", out)

    # -- stuck -----------------------------------------------------------------------------------
    def flatline(self, tr: Track, value: float, ts: float, out: list[Anomaly]) -> bool:
        """Stuck: the same number again and again from a sensor that used to vary. True when the
        alert opened now; it clears at the first different value."""
        s, metric, alerts = self.s, tr.metric, self.alerts
        if tr.run == 1:
            tr.stuck = False
            self._clear(tr, "sensor_stuck", ts, value, "varies again ({})", out)
            return False
        if tr.stuck or ts - tr.run_start < s.flatline_min_s or tr.changes < 3 or at_bound(metric, value) \
                or self._shared_limit(tr, value, ts):
            return False
        # A coarse sensor repeats itself now and then: the run must be unlikely for this one. With
        # `repeat` the share of readings equal to the one before, a run of n has odds repeat^(n-1).
        if tr.repeat > 0 and (tr.run - 1) * math.log(tr.repeat) > FLATLINE_LOG_ODDS:
            return False
        found = alerts.raise_(
            device_id=tr.device_id, type_="sensor_stuck", detector="flatline", cell=tr.cell, ts=ts,
            explanation=f"{metric.label} at {tr.device_id} has read exactly {amount(metric, value)} "
                        f"{tr.run} times in a row over {span(ts - tr.run_start)}; a working sensor varies "
                        "from reading to reading: stuck sensor suspected",
            details={"figures": {"run": tr.run, "run_s": ts - tr.run_start, "value": value,
                                 "limit_readings": s.flatline_readings, "limit_s": s.flatline_min_s},
                     "neighbours": neighbours(self.space, tr)},
            metric=metric.name, value=value, lat=tr.lat, lon=tr.lon)
        if not found:
            return False
        tr.stuck = True
        out.append(found)
        return True

    def _shared_limit(self, tr: Track, value: float, ts: float) -> bool:
        """A value at the end of the valid range that other devices of the metric read right now
        too (humidity at 100 % in the rain): saturated by the weather, not stuck."""
        metric = tr.metric
        if value != metric.valid_max and value != metric.valid_min:
            return False
        window = self.s.peer_window_s
        near = 0.02 * ((metric.valid_max or 0.0) - (metric.valid_min or 0.0))
        return any(other is not tr and other.last_value is not None and abs(other.last_value - value) <= near
                   and ts - other.last_ts <= window for other in tr.section.tracks)

    # -- drift -----------------------------------------------------------------------------------
    def drift(self, tr: Track, value: float, own_z: float, ts: float, prev_ts: float,
              out: list[Anomaly]) -> str | None:
        """Drift: the share of recent readings far from its own baseline, in continuous time.
        "opened" or "cleared" when the alert did so now, else None."""
        s = self.s
        if prev_ts > float("-inf"):
            weight = 1.0 - math.exp(-max(0.0, ts - prev_ts) / s.drift_window_s)
            # Signed: a sensor reading high half the time and low the other half does not drift.
            elevated = 1.0 if own_z >= s.drift_z else -1.0 if own_z <= -s.drift_z else 0.0
            tr.elevated += weight * (elevated - tr.elevated)
        if tr.elevated >= s.drift_share or tr.elevated <= -s.drift_share:
            return "opened" if self._drift_alert(tr, value, own_z, ts, out) else None
        if tr.drifting and -s.drift_share / 2 < tr.elevated < s.drift_share / 2:
            tr.drifting = False
            self._clear(tr, "sensor_drift", ts, value, "is back near its usual values ({})", out)
            return "cleared"
        return None

    def drifted_across(self, tr: Track, value: float, own_z: float, ts: float, out: list[Anomaly]) -> bool:
        """A threshold crossed after creeping up rather than jumping: a drifting sensor, not an event,
        unless its neighbours crept up too (the drift alert checks). True when the track is now suspect."""
        if not self._gradual(tr, own_z):
            return False
        self._drift_alert(tr, value, own_z, ts, out, crossing=True)
        return self.suspect(tr)

    def _drift_alert(self, tr: Track, value: float, z: float, ts: float, out: list[Anomaly],
                     crossing: bool = False) -> bool:
        s, metric = self.s, tr.metric
        if tr.drifting:
            return False
        # Most devices of the metric far from their baselines too: weather or a real change, not drift.
        sign = 1.0 if z >= 0 else -1.0
        now = [t.history[-1][3] for t in tr.section.tracks
               if t is not tr and t.history and ts - t.history[-1][0] <= s.peer_window_s]
        now_z = [z_other for z_other in now if z_other is not None]
        if now_z and sum(z_other * sign >= s.drift_z for z_other in now_z) * 2 >= len(now_z):
            return False
        near = self.space.same_metric(tr, self.space.near(tr.cell))
        figures = context_of(tr, z, "baseline")
        baseline = figures["baseline"]
        how = (f"crossed its threshold after creeping away from its usual {amount(metric, baseline)} for hours"
               if crossing else f"has been far from its usual {amount(metric, baseline)} at this hour for most "
                                f"readings of the last {span(s.drift_window_s * 1.6)}")
        found = self.alerts.raise_(
            device_id=tr.device_id, type_="sensor_drift", detector="drift", cell=tr.cell, ts=ts,
            explanation=f"{metric.label} at {tr.device_id} is {amount(metric, value)} and {how}, while "
                        f"{'its neighbours do not' if near else 'nothing nearby agrees'}: sensor drift suspected "
                        "(recalibrate or clean it)",
            details={"figures": {"value": value, "z": round(z, 2),
                                 "elevated_share": round(tr.elevated, 3), "drift_z": s.drift_z, **figures},
                     "neighbours": neighbours(self.space, tr)},
            metric=metric.name, value=value, threshold=round(baseline, 3), lat=tr.lat, lon=tr.lon)
        if not found:
            return False
        tr.drifting = True
        out.append(found)
        return True

    def _gradual(self, tr: Track, own_z: float) -> bool:
        """Whether a deviation crept up: far from its own baseline for a while already (by the
        share of elevated readings, or for the last `gradual_readings` readings), with the last
        step only a small part of the way. Incidents jump; drifting sensors creep."""
        s = self.s
        if self._jumped(tr, own_z):
            return False
        if tr.elevated >= s.gradual_share:
            return True
        recent = tr.history[-s.gradual_readings:]
        zs = [h[3] for h in recent if h[3] is not None]
        if len(recent) < s.gradual_readings or len(zs) < len(recent):
            return False
        before = sum(zs) / len(zs)
        # Already well off before, and the last step small: within a reading's noise (a few robust
        # sigma) or a small part of the way. Incidents jump tens of sigma in one reading.
        step = own_z - max(before, zs[-1])
        return before >= s.gradual_z and step <= max(GRADUAL_JUMP_Z, s.gradual_rise * own_z)

    def _jumped(self, tr: Track, own_z: float) -> bool:
        """Whether the last step was a jump: more than `gradual_rise` of the way from the usual value
        in one reading, and many times the size of the device's recent steps from one to the next.
        A sensor that has read high for hours and then leaps is showing an event, not its drift."""
        zs = [h[3] for h in tr.history if h[3] is not None]
        if len(zs) < 3:
            return False
        step = own_z - zs[-1]
        steps = sorted(abs(b - a) for a, b in itertools.pairwise(zs))
        usual = steps[len(steps) // 2]
        return step > self.s.gradual_rise * own_z and step > max(JUMP_STEPS * usual, 1.0)

    # -- spikes ----------------------------------------------------------------------------------
    def spiked(self, tr: Track, cand: Candidate, value: float, ts: float, out: list[Anomaly]) -> None:
        """A deviation over at the next reading. Back near where it came from: a spike, and spikes add
        up to a faulty sensor. Merely below the bar again: nothing to say either way."""
        before = cand.before
        if before is None or abs(value - before) > 0.5 * abs(cand.onset_value - before):
            return
        tr.spiked(cand.onset_ts)
        s, metric = self.s, tr.metric
        recent = [t for t in tr.spikes if ts - t <= s.spike_window_s]
        if len(recent) < s.spike_count:
            return
        found = self.alerts.raise_(
            device_id=tr.device_id, type_="sensor_spikes", detector="spike", cell=tr.cell, ts=ts,
            explanation=f"{metric.label} at {tr.device_id} jumped to {amount(metric, cand.onset_value)} for a "
                        f"single reading and was back to {amount(metric, value)} at the next; "
                        f"{len(recent)} such spikes within {span(s.spike_window_s)}: a faulty sensor or "
                        "connection, not an incident (its readings raise no incident while this lasts)",
            details={"figures": {"spikes": len(recent), "window_s": s.spike_window_s,
                                 "last_spike_value": cand.onset_value, "back_to": value},
                     "neighbours": neighbours(self.space, tr)},
            metric=metric.name, value=cand.onset_value, threshold=None, lat=tr.lat, lon=tr.lon)
        if found:
            out.append(found)

    def expire_spikes(self, devices: dict[str, DeviceState], now: float, out: list[Anomaly]) -> None:
        """Spike alerts clear once a whole window passed without another spike."""
        window = self.s.spike_window_s
        for device_id, type_, metric in [k for k in self.alerts.open if k[1] == "sensor_spikes"]:
            dev = devices.get(device_id)
            tr = dev.tracks.get(metric) if dev and metric else None
            if tr is not None and (not tr.spikes or now - tr.spikes[-1] > window):
                cleared = self.alerts.clear(device_id, type_, now, f"no spike from {device_id} for {span(window)}",
                                            metric=metric)
                if cleared:
                    out.append(cleared)

    # -- neighbours ------------------------------------------------------------------------------
    def disagrees(self, tr: Track, cand: Candidate, heard: list[tuple[Track, History]], ts: float,
                  out: list[Anomaly]) -> None:
        """A deviation that the sensors of the same metric in the same cell did not show meanwhile."""
        metric, value = tr.metric, tr.last_value
        assert value is not None  # it deviated: it has read something
        others = [f"{p.device_id} reads {amount(metric, h[-1][1])}" for p, h in heard]
        found = self.alerts.raise_(
            device_id=tr.device_id, type_="sensor_disagrees", detector="spatial", cell=tr.cell, ts=ts,
            explanation=f"{metric.label} at {tr.device_id} is {amount(metric, value)} "
                        f"(from {clock(cand.onset_ts, self.s.utc_offset_h)}), but {listing(others)} in the same cell: "
                        "one sensor deviating while its neighbours do not is a faulty sensor, not an incident",
            details={"figures": {"value": value, "onset_ts": cand.onset_ts, **cand.context},
                     "neighbours": neighbours(self.space, tr)},
            metric=metric.name, value=value, lat=tr.lat, lon=tr.lon)
        if found:
            out.append(found)

    def back_to_normal(self, tr: Track, value: float, ts: float, out: list[Anomaly]) -> None:
        """A suppressed track reads normal again: one reading off and back was one more spike, and
        a disagreement with its neighbours is over."""
        history = tr.history
        if len(history) >= 2 and history[-1][2] and not history[-2][2]:
            tr.spiked(history[-1][0])
        self._clear(tr, "sensor_disagrees", ts, value, "reads {} again, like its neighbours", out)

    def _clear(self, tr: Track, type_: str, ts: float, value: float, how: str, out: list[Anomaly]) -> None:
        """Clear a sensor alert of the track, if open; `how` says what it reads now, with {} for the value."""
        metric = tr.metric
        cleared = self.alerts.clear(tr.device_id, type_, ts, f"{metric.label} at {tr.device_id} "
                                    + how.format(amount(metric, value)), metric=metric.name, value=value)
        if cleared:
            out.append(cleared)


def at_bound(metric: Metric, value: float) -> bool:
    """A value at the alarming end of the metric's range may repeat: the sensor is saturated (a full
    bin reads 100 % until it is emptied, a meter pegs at its maximum in a deafening crowd), not stuck.
    A sensor stuck at that very value cannot be told from one that is saturated."""
    if metric.direction == "above":
        return value == metric.valid_max and metric.critical is not None and metric.critical <= value
    return value == metric.valid_min and metric.critical is not None and metric.critical >= value


def _bound(value: float | None) -> str:
    """One end of a valid range; nothing for an open end (`..500`)."""
    return num(value) if value is not None else ""
