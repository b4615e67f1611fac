"""The detection engine: every reading, camera event and status of a batch goes through it, and
it decides what is an incident, what is a misbehaving device, and what is nothing.

For each reading of a device's metric (a track):

1. level: the catalog's warning/critical thresholds with hysteresis (threshold);
2. context: how unusual the value is for this device at this hour (own median/MAD baseline),
   corrected for what every device shows right now, or against its peers (baseline);
3. rate of change: a rise faster than `rate_fraction` of the warning threshold per window;
4. a deviation is a critical level that is not usual here, a warning level that is clearly
   unusual, or a value far outside its context even below the thresholds;
5. a deviation becomes an incident at once when something nearby agrees (another metric of
   the device, a sensor in the same or a neighbouring cell, a camera: spatial corroboration,
   which raises severity and confidence); otherwise it waits for the device's next reading.
   Back to normal then: a spike. Still deviating and alive: an incident, unless sensors of the
   same metric in the same cell read normal meanwhile: then the sensor disagrees with its
   neighbours and it is a device-health alert, not an incident;
6. device health: stuck values (flatline), repeated spikes, drift (a slow departure from its
   own baseline), offline and silent devices, low battery, skewed clocks, duplicated and
   out-of-order messages (gateway/detectors/devicefaults.py).

Every anomaly says which detectors agreed (`details.detectors`), with their figures and the
devices consulted, in `explanation` and in `details`. Decisions depend on payload timestamps
and the stream's clock (`now` of each batch), never on how fast messages arrive.
"""

from __future__ import annotations

import math

from gateway.detectors.camera import CAMERA_SEVERITY
from gateway.detectors.context import CrossSection
from gateway.detectors.explain import amount, clock, listing, num, span
from gateway.detectors.devicefaults import DeviceMonitor, HealthAlerts
from gateway.detectors.signatures import kinds_of_camera
from gateway.detectors.spatial import Evidence, SpatialIndex
from gateway.detectors.state import HISTORY, Candidate, DeviceState, Phase, Track
from gateway.detectors.threshold import ThresholdDetector, next_level
from twin.ids import new_id
from twin.sensing.anomalies import INCIDENT, Anomaly
from twin.sensing.catalog import Level, Metric, MetricCatalog
from twin.sensing.detection import DetectionSettings

# Enum members as plain names: looking them up on the class costs more than the rest of a reading.
NORMAL, WARNING, CRITICAL = Level.NORMAL, Level.WARNING, Level.CRITICAL
IDLE, PENDING, OPEN, SUPPRESSED = Phase.NORMAL, Phase.PENDING, Phase.OPEN, Phase.SUPPRESSED

# How fast a track learns how often it repeats its last value, and how unlikely a run of repeats
# must be for it to be called stuck (odds below 1 in a million: thousands of sensors try every day).
REPEAT_MEMORY = 500
FLATLINE_LOG_ODDS = math.log(1e-6)

# A last step this small (in robust sigma) is noise, not a jump.
GRADUAL_JUMP_Z = 4.0
JUMP_STEPS = 8.0  # a last step this many times a device's median step is a jump, whatever came before

# Tracks whose own health alerts keep their deviations from being incidents.
SUSPECT = ("sensor_stuck", "sensor_drift", "sensor_disagrees", "sensor_spikes")


class _CameraOpen:
    __slots__ = ("anomaly_id", "severity", "type", "cell", "evidence")

    def __init__(self, anomaly_id, severity, type_, cell, evidence):
        self.anomaly_id, self.severity, self.type, self.cell, self.evidence = anomaly_id, severity, type_, cell, evidence


class DetectionEngine:
    """Stateful; fed by the pipeline in arrival order. Methods append anomalies to `out`."""

    def __init__(self, settings: DetectionSettings, catalog: MetricCatalog, grid):
        self.s = settings
        self.catalog = catalog
        self.devices: dict[str, DeviceState] = {}
        self.alerts = HealthAlerts()
        self.monitor = DeviceMonitor(settings, self.alerts)
        self.space = SpatialIndex(grid)
        self.sections: dict[str, CrossSection] = {}
        self.pending: dict[tuple[str, str], Track] = {}
        self.cameras: dict[tuple[str, str], _CameraOpen] = {}
        self.now = float("-inf")
        self._touched: set[DeviceState] = set()
        self._local = settings.utc_offset_h * 3600.0
        self._metrics = catalog.metrics
        self._pruned = float("-inf")

    # -- state ---------------------------------------------------------------------------------
    def device(self, device_id: str, cell: str | None = None, lat=None, lon=None) -> DeviceState:
        dev = self.devices.get(device_id)
        if dev is None:
            dev = self.devices[device_id] = DeviceState(device_id)
        if cell is not None:
            dev.cell = cell
            if lat is not None:
                dev.lat, dev.lon = lat, lon
        return dev

    def _track(self, dev: DeviceState, metric: Metric) -> Track:
        track = dev.tracks.get(metric.name)
        if track is None:
            s = self.s
            track = dev.tracks[metric.name] = Track(dev.id, metric, s.baseline_max_samples, s.baseline_min_samples,
                                                    s.baseline_min_days)
            track.log = metric.name in s.log_metrics
            if metric.name not in self.sections:
                self.sections[metric.name] = CrossSection(s.peer_window_s, s.common_min)
            track.section = self.sections[metric.name]
            track.section.tracks.append(track)
            # On a log scale the floor is relative: scale_floor is then a share of the value itself.
            track.floor = self.s.scale_floor * (1.0 if track.log else _reference(metric))
            track.rate_limit = self._rate_limit(metric)
            thresholds = [t for t in (metric.warning, metric.critical) if t is not None]
            if metric.kind != "bool" and metric.direction == "above" and thresholds:
                track.below = min(thresholds)
        return track

    def _rate_limit(self, metric: Metric) -> float | None:
        """Units per second past which a rise counts as sudden."""
        per_minute = self.s.rate_limits.get(metric.name)
        if per_minute is not None:
            return per_minute / 60.0
        reference = metric.warning if metric.warning is not None else metric.critical
        if metric.kind == "bool" or reference is None:
            return None
        return self.s.rate_fraction * abs(reference) / self.s.rate_window_s

    # -- device messages -----------------------------------------------------------------------------
    def observe(self, device_id: str, cell: str | None, lat, lon, ts: float, seq: int | None,
                battery: float | None, received_at: float, now: float, out: list) -> None:
        """One reading item of a message, before its values: interval, sequence, clock, battery."""
        dev = self.device(device_id, cell, lat, lon)
        self.monitor.observe(dev, ts, seq, battery, received_at, now, out)
        self._touched.add(dev)

    def time_rejected(self, device_id: str, cell: str | None, ts: float, now: float, out: list) -> None:
        """A reading refused as future or stale: a device clock that is off."""
        self.monitor.time_rejected(self.device(device_id, cell), ts, now, out)

    def status(self, device_id: str, cell: str | None, online: bool, now: float, out: list) -> None:
        """The retained status: `offline` is the last will the broker published."""
        self.monitor.status(self.device(device_id, cell), online, now, out)

    def out_of_range(self, device_id: str, cell: str | None, name: str, value: float, now: float, out: list) -> None:
        """A value refused as outside the metric's valid range: once is a glitch, often is a sensor fault."""
        s = self.s
        dev = self.device(device_id, cell)
        times = dev.out_of_range.setdefault(name, [])
        times.append(now)
        del times[:-s.transport_count]
        if len(times) < s.transport_count or now - times[0] > s.transport_window_s:
            return
        metric = self.catalog.metrics[name]
        found = self.alerts.raise_(
            device_id=device_id, type_="sensor_out_of_range", detector="range", cell=dev.cell, ts=now,
            explanation=f"{metric.label} at {device_id} read {amount(metric, value)}, outside the valid "
                        f"{num(metric.valid_min)}..{num(metric.valid_max)} {metric.unit}, {len(times)} times within "
                        f"{span(now - times[0])}: the readings are refused; check the sensor",
            details={"figures": {"value": value, "valid_min": metric.valid_min, "valid_max": metric.valid_max,
                                 "count": len(times)}},
            metric=name, value=value, lat=dev.lat, lon=dev.lon)
        if found:
            out.append(found)

    # -- readings ------------------------------------------------------------------------------------
    def reading(self, device_id: str, name: str, value: float, ts: float, cell: str, lat, lon, out: list) -> None:
        """One value of one metric, in time order per device and metric."""
        dev = self.devices.get(device_id)
        if dev is None:
            dev = self.device(device_id, cell, lat, lon)
        tr = dev.tracks.get(name)
        if tr is None:
            metric = self._metrics.get(name)
            if metric is None:
                return
            tr = self._track(dev, metric)
        if ts <= tr.last_ts:
            return  # a duplicate or a late reading: counted by the monitor, judged no further
        s, metric = self.s, tr.metric
        if dev.out_of_range and dev.out_of_range.pop(name, None) is not None:
            cleared = self.alerts.clear(device_id, "sensor_out_of_range", ts, f"{metric.label} at {device_id} reads "
                                        f"{amount(metric, value)}, within its valid range again", metric=name,
                                        value=value)
            if cleared:
                out.append(cleared)
        if tr.cell != cell:
            self.space.place(tr, cell)
        tr.lat, tr.lon = lat, lon
        prev_value, prev_ts = tr.last_value, tr.last_ts
        if value == prev_value:
            tr.run += 1
        else:
            if prev_value is not None:
                tr.changes += 1
                if not tr.stuck:
                    # How often this sensor repeats itself, from the runs that ended (the one under
                    # way would argue for itself): repeats / pairs, with a long memory.
                    tr.pairs += tr.run
                    tr.repeats += tr.run - 1
                    if tr.pairs > REPEAT_MEMORY:
                        tr.repeats *= REPEAT_MEMORY / tr.pairs
                        tr.pairs = REPEAT_MEMORY
                    tr.repeat = tr.repeats / tr.pairs
            tr.run, tr.run_start = 1, ts
        tr.last_value, tr.last_ts = value, ts
        # Most readings are nowhere near a threshold: skip the level rules for them.
        if tr.level is NORMAL and tr.below is not None and value < tr.below:
            level = NORMAL
        else:
            level = tr.level = next_level(metric, tr.level, value)
        boolean = tr.boolean

        z = own_z = None
        hour = 0
        judged = value
        if not boolean:
            of_day = ((ts + self._local) % 86400.0) / 3600.0
            hour = int(of_day)
            if tr.log:
                judged = math.log1p(value) if value > 0 else 0.0
            z, own_z = self._context(tr, judged, ts, hour, of_day - hour)
        rate_hit = False
        rate = None
        if not boolean and prev_value is not None and 0 < ts - prev_ts <= s.rate_window_s:
            dt = ts - prev_ts
            rate = (value - prev_value) / (dt if dt > 1.0 else 1.0)
            limit = tr.rate_limit
            rate_hit = limit is not None and (rate if tr.sign > 0 else -rate) >= limit

        if level is NORMAL and (own_z is None or own_z < s.warning_context_z):
            deviating = False  # the common case, settled without the rules below
        elif ts < self.now - s.late_s:
            deviating = False  # arrived too late to act on (a backlog after an outage): kept, not judged
        elif boolean:
            deviating = level == CRITICAL
        elif level == CRITICAL:
            # Past critical, the device's own history decides where it has one: peers of a metric
            # may differ by design (bins emptied on different schedules). A deviation under way
            # keeps going a robust sigma below the bar that started it (the hour changed, say).
            if own_z is None:
                z = self._peers(tr, judged, ts, None)
            deviating = z is None or z >= s.critical_context_z - (tr.phase is not IDLE)
        elif level == WARNING:
            z = self._peers(tr, judged, ts, own_z)
            deviating = z is None or z >= s.warning_context_z - (tr.phase is not IDLE)
        elif ts < tr.cooldown_until or own_z is None or not tr.signals:
            # Below the thresholds it takes the device's own history (peers alone say too little:
            # bins emptied on different schedules differ by design) and a metric that points to
            # a kind of incident.
            deviating = False
        else:
            # Far outside its context, or a sudden rise that is clearly unusual.
            z = self._peers(tr, judged, ts, own_z)
            deviating = z >= s.context_z or (rate_hit and z >= s.warning_context_z)

        tr.deviating = deviating
        if deviating:
            tr.deviating_ts = ts
        phase = tr.phase
        if phase is OPEN:
            self._follow_open(tr, value, level, z, ts, out)
        elif phase is PENDING:
            cand = tr.candidate
            if not deviating or (cand.level >= WARNING and level < WARNING):
                self._ended(tr, ts, value, out)  # back, or at least back below the threshold it crossed
            elif value == prev_value and not _at_bound(metric, value):
                cand.readings += 1  # the same number again: alive? wait for more (or a stuck-value alert)
                if cand.deadline is not None and dev.interval:
                    cand.deadline = ts + s.confirm_intervals * dev.interval
            else:
                cand.readings += 1
                self._decide(tr, ts, f"still {amount(metric, value)} at the next reading, "
                             f"{span(ts - cand.onset_ts)} later", out)
        elif phase is SUPPRESSED:
            if not deviating and level == NORMAL:
                tr.phase = IDLE
                history = tr.history
                if len(history) >= 2 and history[-1][2] and not history[-2][2]:
                    tr.spiked(history[-1][0])  # one reading off and back: it keeps spiking
                cleared = self.alerts.clear(tr.device_id, "sensor_disagrees", ts,
                                            f"{metric.label} at {tr.device_id} reads {amount(metric, value)} again, "
                                            "like its neighbours", metric=name, value=value)
                if cleared:
                    out.append(cleared)
        elif deviating:
            self._onset(tr, dev, value, level, z, own_z, rate if rate_hit else None, ts, out)

        if not boolean:
            if tr.run >= s.flatline_readings or (tr.run == 1 and tr.stuck):
                self._flatline(tr, value, ts, out)
            if own_z is not None and tr.phase is not OPEN and ts >= tr.cooldown_until:
                self._drift(tr, value, own_z, ts, prev_ts, out)
            # Learn what is usual from what is not far off it (while there is no baseline yet,
            # from everything: a robust median shrugs off the odd incident).
            # Not critical values either: learning an incident's values would make the next one usual.
            if level is not CRITICAL and (own_z is None or -s.drift_z < own_z < s.drift_z):
                tr.baseline.add(hour, judged, int((ts + self._local) // 86400.0), of_day - hour)
        history = tr.history
        history.append((ts, value, deviating, own_z))
        if len(history) > HISTORY:
            del history[0]

    def _context(self, tr: Track, value: float, ts: float, hour: int, frac: float):
        """(z, own z): how unusual a value (on the track's scale) is; None where nothing is known.
        The figures behind them stay on the track (`context_of`).

        Two contexts: the device's own hour-of-day baseline (shifted by what every device shows
        right now) and its peers' values right now. A value is as unusual as the more forgiving
        of the two says: 84 ug/m3 at a busy junction in the rush hour is usual if every junction
        reads about that today, even if this one read less on other days. Drift is judged
        against the device's own baseline alone."""
        section = tr.section
        tr.judged = value
        if ts - section.at >= section.refresh:
            section.refresh_at(ts)
        z = own_z = None
        tr.ctx_kind = None
        tr.hour = hour
        stats = tr.baseline.ready[hour]
        if stats is not None:
            _, spread, n = stats
            med = tr.baseline.expected(hour, frac)
            residual = value - med
            tr.residual, tr.residual_ts = residual, ts
            common = section.common
            floor = tr.floor
            scale = spread if spread > floor else floor
            z = own_z = tr.sign * (residual - common) / scale
            tr.own = (med + common, scale, n)
            tr.ctx_kind = "baseline"
        return z, own_z

    def _peers(self, tr: Track, value: float, ts: float, z):
        """The smaller of `z` and the z against the peers' values now (None: no peers to ask)."""
        summary = tr.section.peers(True, self.s.peer_min)
        if summary is None:
            return z
        med, spread, n = summary
        scale = spread if spread > tr.floor else tr.floor
        z_peers = tr.sign * (value - med) / scale
        tr.peer = (med, scale, n)
        if z is None or z_peers < z:
            tr.ctx_kind = "peers"
            return z_peers
        return z

    def context_of(self, tr: Track, z, kind: str | None = None) -> dict:
        """The figures behind a track's last z: which context, its baseline and spread."""
        kind = kind or tr.ctx_kind
        if kind is None:
            return {"context": "unknown"}
        baseline, scale, samples = tr.own if kind == "baseline" else tr.peer
        found = {"context": kind, "baseline": round(math.expm1(baseline) if tr.log else baseline, 3),
                 "spread": round(scale, 3), "samples": samples, "hour": tr.hour,
                 "z": round(z, 2) if z is not None else None}
        if tr.log:
            found["scale"] = "log"  # concentrations: baseline and spread of log(1 + value)
        return found

    # -- phases --------------------------------------------------------------------------------------
    def _suspect(self, tr: Track) -> bool:
        alerts = self.alerts
        return any(alerts.is_open(tr.device_id, kind, tr.metric.name) for kind in SUSPECT)

    def _onset(self, tr: Track, dev: DeviceState, value: float, level: Level, z, own_z, rate, ts: float,
               out: list) -> None:
        s, metric = self.s, tr.metric
        if self._suspect(tr):
            tr.phase = SUPPRESSED
            return
        if level >= WARNING and own_z is not None and self._gradual(tr, own_z):
            # Crept up rather than jumped: a drifting sensor, not an event (unless its neighbours
            # crept up too, which the drift alert checks).
            self._drift_alert(tr, value, own_z, ts, out, crossing=True)
            if self._suspect(tr):
                tr.phase = SUPPRESSED
                return
        detectors = {"threshold"} if level >= WARNING else {"baseline"}
        if rate is not None:
            detectors.add("rate_of_change")
        hold = s.confirm_intervals * dev.interval if dev.interval else None
        tr.candidate = Candidate(ts, value, level, detectors, ts + hold if hold else None,
                                 self.context_of(tr, z), rate, tr.history[-1][1] if tr.history else None)
        tr.phase = PENDING
        self.pending[tr.key] = tr
        evidence = Evidence(("track", tr.device_id, metric.name), tr.device_id, tr.cell, tr.kinds, ts,
                            f"{metric.label} {amount(metric, value)}", track=tr)
        self.space.add(evidence)
        support = self.space.around(tr.cell, tr.kinds, ts, s.corroboration_window_s, exclude=evidence.key)
        if _independent(support, tr.device_id):
            self._open(tr, ts, support, "", out)
        elif hold is None and level >= WARNING:
            self._open(tr, ts, [], f"at once: {tr.device_id}'s reporting interval is not known yet", out)
        elif hold is None:
            self._forget_candidate(tr)
            tr.phase = SUPPRESSED
        self._wake(evidence, ts, out)

    def _gradual(self, tr: Track, own_z) -> bool:
        """Whether a deviation crept up: far from its own baseline for a while already (by the
        share of elevated readings, or for the last `gradual_readings` readings), with the last
        step only a small part of the way. Incidents jump; drifting sensors creep."""
        s = self.s
        if self._jumped(tr, own_z):
            return False
        if tr.elevated >= s.gradual_share:
            return True
        recent = list(tr.history)[-s.gradual_readings:]
        if len(recent) < s.gradual_readings or any(h[3] is None for h in recent):
            return False
        before = sum(h[3] for h in recent) / len(recent)
        now = own_z if own_z is not None else 0.0
        # Already well off before, and the last step small: within a reading's noise (a few robust
        # sigma) or a small part of the way. Incidents jump tens of sigma in one reading.
        step = now - max(before, recent[-1][3])
        return before >= s.gradual_z and step <= max(GRADUAL_JUMP_Z, s.gradual_rise * now)

    def _jumped(self, tr: Track, own_z: float) -> bool:
        """Whether the last step was a jump: more than `gradual_rise` of the way from the usual value
        in one reading, and many times the size of the device's recent steps from one to the next.
        A sensor that has read high for hours and then leaps is showing an event, not its drift."""
        zs = [h[3] for h in tr.history if h[3] is not None]
        if len(zs) < 3:
            return False
        step = own_z - zs[-1]
        steps = sorted(abs(b - a) for a, b in zip(zs, zs[1:]))
        usual = steps[len(steps) // 2]
        return step > self.s.gradual_rise * own_z and step > max(JUMP_STEPS * usual, 1.0)

    def _wake(self, evidence: Evidence, ts: float, out: list) -> None:
        """Pending deviations nearby that this new evidence corroborates open now."""
        window = self.s.corroboration_window_s
        for other, _ in self.space.around(evidence.cell, evidence.kinds, ts, window, exclude=evidence.key):
            track = other.track
            if track is not None and track.phase is PENDING and track.device_id != evidence.device_id:
                support = self.space.around(track.cell, track.kinds, ts, window, exclude=other.key)
                self._open(track, ts, support, "", out)

    def _decide(self, tr: Track, ts: float, reason: str, out: list) -> None:
        """A deviation that persisted (or whose device fell silent): an incident, unless the sensors
        of the same metric in the same cell read normal meanwhile."""
        cand = tr.candidate
        peers = self.space.same_metric(tr)
        heard = [(p, [h for h in p.history if h[0] > cand.onset_ts]) for p in peers]
        heard = [(p, h) for p, h in heard if h]
        if heard and not any(any(item[2] for item in h) for _, h in heard):
            self._disagrees(tr, heard, ts, out)
            return
        support = self.space.around(tr.cell, tr.kinds, ts, self.s.corroboration_window_s,
                                    exclude=("track", tr.device_id, tr.metric.name))
        if cand.level < WARNING and not _strong(support, tr.device_id):
            # Unusual but below every threshold, and nobody else sees anything: not enough.
            self._forget_candidate(tr)
            tr.phase = SUPPRESSED
            return
        self._open(tr, ts, support, reason, out)

    def _ended(self, tr: Track, ts: float, value: float, out: list) -> None:
        """A deviation gone at the next reading. Back near where it came from: a spike, not an
        incident. Merely below the bar again: nothing to say either way."""
        cand = tr.candidate
        self._forget_candidate(tr)
        tr.phase = IDLE
        self._spiked(tr, cand, value, ts, out)

    def _spiked(self, tr: Track, cand: Candidate, value: float, ts: float, out: list) -> None:
        before = cand.before
        if before is None or abs(value - before) > 0.5 * abs(cand.onset_value - before):
            return
        tr.spiked(cand.onset_ts)
        s, metric = self.s, tr.metric
        recent = [t for t in tr.spikes if ts - t <= s.spike_window_s]
        if len(recent) >= s.spike_count:
            found = self.alerts.raise_(
                device_id=tr.device_id, type_="sensor_spikes", detector="spike", cell=tr.cell, ts=ts,
                explanation=f"{metric.label} at {tr.device_id} jumped to {amount(metric, cand.onset_value)} for a "
                            f"single reading and was back to {amount(metric, value)} at the next; "
                            f"{len(recent)} such spikes within {span(s.spike_window_s)}: a faulty sensor or "
                            "connection, not an incident (its readings raise no incident while this lasts)",
                details={"figures": {"spikes": len(recent), "window_s": s.spike_window_s,
                                     "last_spike_value": cand.onset_value, "back_to": value},
                         "neighbours": self._neighbours(tr)},
                metric=metric.name, value=cand.onset_value, threshold=None, lat=tr.lat, lon=tr.lon)
            if found:
                out.append(found)

    def _disagrees(self, tr: Track, heard, ts: float, out: list) -> None:
        metric, cand = tr.metric, tr.candidate
        self._forget_candidate(tr)
        tr.phase = SUPPRESSED
        others = [f"{p.device_id} reads {amount(metric, h[-1][1])}" for p, h in heard]
        found = self.alerts.raise_(
            device_id=tr.device_id, type_="sensor_disagrees", detector="spatial", cell=tr.cell, ts=ts,
            explanation=f"{metric.label} at {tr.device_id} is {amount(metric, tr.last_value)} "
                        f"(from {clock(cand.onset_ts, self.s.utc_offset_h)}), but {listing(others)} in the same cell: "
                        "one sensor deviating while its neighbours do not is a faulty sensor, not an incident",
            details={"figures": {"value": tr.last_value, "onset_ts": cand.onset_ts, **cand.context},
                     "neighbours": self._neighbours(tr)},
            metric=metric.name, value=tr.last_value, lat=tr.lat, lon=tr.lon)
        if found:
            out.append(found)

    def _forget_candidate(self, tr: Track) -> None:
        self.pending.pop(tr.key, None)
        self.space.drop(tr.cell, ("track", tr.device_id, tr.metric.name))
        tr.candidate = None

    def _open(self, tr: Track, ts: float, support: list, reason: str, out: list) -> None:
        """Open the incident anomaly of a pending deviation."""
        if tr.phase is not PENDING:
            return
        metric, cand = tr.metric, tr.candidate
        if cand.level < WARNING and not _strong(support, tr.device_id):
            return  # unusual but below every threshold: only a camera or a sensor past its threshold confirms
        self.pending.pop(tr.key, None)
        detectors = set(cand.detectors)
        sensors = [(e, r) for e, r in support if not e.camera and e.device_id != tr.device_id]
        cameras = [(e, r) for e, r in support if e.camera]
        own = [(e, "same device") for e, r in support if not e.camera and e.device_id == tr.device_id]
        if sensors:
            detectors.add("spatial")
        if cameras:
            detectors.add("camera")
        baseline_only = cand.level < WARNING
        severity = WARNING if baseline_only else cand.level
        if sensors or cameras:
            severity = CRITICAL
        confidence = (0.45 if baseline_only else 0.5 if cand.level == WARNING else 0.65)
        confidence += 0.1 * bool(cand.rate) + 0.1 * bool(reason and "next reading" in reason) + 0.1 * bool(own)
        confidence += 0.15 * len(sensors) + 0.15 * len(cameras)
        confidence = round(min(0.99, confidence), 2)
        opened_at = max([ts] + [e.ts for e, _ in support])
        type_ = f"{metric.name}_unusual" if baseline_only else ThresholdDetector._type(metric)
        threshold = (cand.context.get("baseline") if baseline_only
                     else ThresholdDetector._threshold(metric, cand.level))
        corroborated = [e.as_dict(r) for e, r in own + sensors + cameras]
        text = self._incident_text(tr, cand, baseline_only, threshold, own + sensors + cameras, reason)
        anomaly_id = new_id()
        tr.phase, tr.anomaly_id, tr.severity, tr.open_type = OPEN, anomaly_id, severity, type_
        tr.open_threshold = threshold
        tr.opened_from = cand
        tr.candidate = None
        out.append(Anomaly(
            id=anomaly_id, type=type_, status="opened", severity=severity, cell_code=tr.cell,
            device_id=tr.device_id, detector=_primary(detectors), ts=opened_at, explanation=text,
            metric=metric.name, value=tr.last_value, threshold=threshold, lat=tr.lat, lon=tr.lon,
            details={"detectors": sorted(detectors), "confidence": confidence, "level": cand.level.label,
                     "figures": {**_threshold_figures(metric), **cand.context, "onset_ts": cand.onset_ts,
                                 "onset_value": cand.onset_value,
                                 **({"rate_per_min": round(cand.rate * 60, 3)} if cand.rate else {}),
                                 "confirmation": reason or "corroborated"},
                     "corroborated_by": corroborated, "neighbours": self._neighbours(tr)},
            category=INCIDENT))

    def _incident_text(self, tr: Track, cand: Candidate, baseline_only: bool, threshold, support, reason) -> str:
        metric = tr.metric
        value = cand.onset_value
        if metric.kind == "bool":
            text = f"{metric.label} reported by {tr.device_id}"
        elif baseline_only:
            ctx = cand.context
            usual = (f"about {amount(metric, ctx['baseline'])} here at {ctx['hour']:02d}:00"
                     if ctx.get("context") == "baseline" else
                     f"its {ctx['samples']} peers read {amount(metric, ctx['baseline'])}")
            text = (f"{metric.label} at {tr.device_id} is {amount(metric, value)}, far from what is usual "
                    f"({usual}; robust z {ctx['z']:.1f})")
        else:
            word = "above" if metric.direction == "above" else "below"
            text = (f"{metric.label} at {tr.device_id} is {amount(metric, value)}, {word} the {cand.level.label} "
                    f"threshold of {amount(metric, threshold)}")
            ctx = cand.context
            if ctx.get("context") == "baseline":
                text += f" (usually {amount(metric, ctx['baseline'])} here at {ctx['hour']:02d}:00)"
            elif ctx.get("context") == "peers":
                text += f" (its {ctx['samples']} peers read {amount(metric, ctx['baseline'])})"
        if cand.rate:
            text += f"; it rose {num(abs(cand.rate) * 60)} {metric.unit}/min".rstrip()
        if support:
            parts = []
            for e, relation in support:
                where = "" if relation == "same device" else f" in the {relation}"
                parts.append(f"{'camera ' if e.camera else ''}{e.device_id} ({e.label}){where}")
            text += f"; confirmed by {listing(parts)}"
        if reason:
            text += f"; {reason}"
        return text

    def _follow_open(self, tr: Track, value: float, level: Level, z, ts: float, out: list) -> None:
        """An open incident anomaly: it clears when the value is back, escalates when it worsens."""
        metric, s = tr.metric, self.s
        baseline_only = tr.open_type.endswith("_unusual")
        still = (z is not None and z >= s.context_z / 2) if baseline_only else level >= WARNING
        if still and not (not baseline_only and level > tr.severity):
            return
        out.append(Anomaly(
            id=tr.anomaly_id, type=tr.open_type, status="cleared", severity=tr.severity, cell_code=tr.cell,
            device_id=tr.device_id, detector="threshold" if not baseline_only else "baseline", ts=ts,
            explanation=(f"{metric.label} at {tr.device_id} is {amount(metric, value)}"
                         + (", back to usual" if not still else f", now {level.label}")),
            metric=metric.name, value=value, threshold=tr.open_threshold, lat=tr.lat, lon=tr.lon,
            details={"detectors": ["threshold" if not baseline_only else "baseline"], "level": level.label},
            category=INCIDENT))
        key = ("track", tr.device_id, metric.name)
        if still:  # worse than when it opened: a new anomaly at the new severity
            anomaly_id = new_id()
            tr.anomaly_id, tr.severity = anomaly_id, level
            tr.open_threshold = ThresholdDetector._threshold(metric, level)
            out.append(Anomaly(
                id=anomaly_id, type=tr.open_type, status="opened", severity=level, cell_code=tr.cell,
                device_id=tr.device_id, detector="threshold", ts=ts,
                explanation=(f"{metric.label} at {tr.device_id} is {amount(metric, value)}, now past the "
                             f"{level.label} threshold of {amount(metric, tr.open_threshold)}"),
                metric=metric.name, value=value, threshold=tr.open_threshold, lat=tr.lat, lon=tr.lon,
                details={"detectors": ["threshold"], "level": level.label, "figures": _threshold_figures(metric),
                         "escalated_from": "warning", "neighbours": self._neighbours(tr)},
                category=INCIDENT))
            return
        tr.phase = IDLE
        tr.anomaly_id = None
        tr.cooldown_until = ts + s.cooldown_s
        self.space.end(tr.cell, key, ts)
        # Opened on one reading (something nearby agreed) and back where it was at the next:
        # still a spike, and spikes add up to a faulty sensor.
        cand = tr.opened_from
        if cand is not None and tr.history and tr.history[-1][0] == cand.onset_ts:
            self._spiked(tr, cand, value, ts, out)
        tr.opened_from = None

    # -- device health from values -----------------------------------------------------------------
    def _flatline(self, tr: Track, value: float, ts: float, out: list) -> None:
        """Stuck: the same number again and again from a sensor that used to vary."""
        s, metric, alerts = self.s, tr.metric, self.alerts
        if tr.run == 1:
            tr.stuck = False
            cleared = alerts.clear(tr.device_id, "sensor_stuck", ts, f"{metric.label} at {tr.device_id} varies "
                                   f"again ({amount(metric, value)})", metric=metric.name, value=value)
            if cleared:
                out.append(cleared)
            return
        if tr.stuck or ts - tr.run_start < s.flatline_min_s or tr.changes < 3 or _at_bound(metric, value) \
                or self._shared_limit(tr, value, ts):
            return
        # A coarse sensor repeats itself now and then: the run must be unlikely for this one. With
        # `repeat` the share of readings equal to the one before, a run of n has odds repeat^(n-1).
        if tr.repeat > 0 and (tr.run - 1) * math.log(tr.repeat) > FLATLINE_LOG_ODDS:
            return
        found = alerts.raise_(
            device_id=tr.device_id, type_="sensor_stuck", detector="flatline", cell=tr.cell, ts=ts,
            explanation=f"{metric.label} at {tr.device_id} has read exactly {amount(metric, value)} "
                        f"{tr.run} times in a row over {span(ts - tr.run_start)}; a working sensor varies "
                        "from reading to reading: stuck sensor suspected",
            details={"figures": {"run": tr.run, "run_s": ts - tr.run_start, "value": value,
                                 "limit_readings": s.flatline_readings, "limit_s": s.flatline_min_s},
                     "neighbours": self._neighbours(tr)},
            metric=metric.name, value=value, lat=tr.lat, lon=tr.lon)
        if found:
            tr.stuck = True
            out.append(found)
            if tr.phase is PENDING:
                self._forget_candidate(tr)
                tr.phase = SUPPRESSED

    def _drift(self, tr: Track, value: float, own_z: float, ts: float, prev_ts: float, out: list) -> None:
        """Drift: the share of recent readings far from its own baseline, in continuous time."""
        s = self.s
        if prev_ts > float("-inf"):
            weight = 1.0 - math.exp(-max(0.0, ts - prev_ts) / s.drift_window_s)
            # Signed: a sensor reading high half the time and low the other half does not drift.
            elevated = 1.0 if own_z >= s.drift_z else -1.0 if own_z <= -s.drift_z else 0.0
            tr.elevated += weight * (elevated - tr.elevated)
        if tr.elevated >= s.drift_share or tr.elevated <= -s.drift_share:
            self._drift_alert(tr, value, own_z, ts, out)
        elif tr.drifting and -s.drift_share / 2 < tr.elevated < s.drift_share / 2:
            tr.drifting = False
            metric = tr.metric
            out.append(self.alerts.clear(tr.device_id, "sensor_drift", ts, f"{metric.label} at {tr.device_id} is "
                                         f"back near its usual values ({amount(metric, value)})", metric=metric.name,
                                         value=value))
            if tr.phase is SUPPRESSED and not tr.deviating:
                tr.phase = IDLE

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

    def _drift_alert(self, tr: Track, value: float, z, ts: float, out: list, crossing: bool = False) -> None:
        s, metric = self.s, tr.metric
        if tr.drifting:
            return
        # Most devices of the metric far from their baselines too: weather or a real change, not drift.
        sign = 1.0 if z >= 0 else -1.0
        now = [t.history[-1][3] for t in tr.section.tracks
               if t is not tr and t.history and ts - t.history[-1][0] <= s.peer_window_s]
        now = [z_other for z_other in now if z_other is not None]
        if now and sum(z_other * sign >= s.drift_z for z_other in now) * 2 >= len(now):
            return
        near = self.space.same_metric(tr, self.space.near(tr.cell))
        figures = self.context_of(tr, z, "baseline")
        baseline = figures["baseline"]
        how = (f"crossed its threshold after creeping away from its usual {amount(metric, baseline)} for hours"
               if crossing else f"has been far from its usual {amount(metric, baseline)} at this hour for most "
                                f"readings of the last {span(s.drift_window_s * 1.6)}")
        found = self.alerts.raise_(
            device_id=tr.device_id, type_="sensor_drift", detector="drift", cell=tr.cell, ts=ts,
            explanation=f"{metric.label} at {tr.device_id} is {amount(metric, value)} and {how}, while "
                        f"{'its neighbours do not' if near else 'nothing nearby agrees'}: sensor drift suspected "
                        "(recalibrate or clean it)",
            details={"figures": {"value": value, "z": round(z, 2) if z is not None else None,
                                 "elevated_share": round(tr.elevated, 3), "drift_z": s.drift_z, **figures},
                     "neighbours": self._neighbours(tr)},
            metric=metric.name, value=value, threshold=round(baseline, 3), lat=tr.lat, lon=tr.lon)
        if found:
            tr.drifting = True
            out.append(found)
            if tr.phase is PENDING:
                self._forget_candidate(tr)
                tr.phase = SUPPRESSED

    def _neighbours(self, tr: Track, most: int = 8) -> list[dict]:
        """The devices of the same metric consulted: same cell first, then neighbouring cells."""
        out = []
        for code in self.space.near(tr.cell):
            for other in self.space.same_metric(tr, (code,)):
                if other.last_value is None:
                    continue
                out.append({"device_id": other.device_id, "cell": code,
                            "relation": "same cell" if code == tr.cell else "neighbouring cell",
                            "metric": other.metric.name, "value": other.last_value, "ts": other.last_ts,
                            "deviating": other.deviating})
                if len(out) >= most:
                    return out
        return out

    # -- cameras -------------------------------------------------------------------------------------
    def camera(self, camera_id: str, event_id: str, type_: str, state: str, confidence: float, ts: float,
               cell: str, lat, lon, out: list) -> None:
        s = self.s
        key = (camera_id, event_id)
        if state == "end":
            found = self.cameras.pop(key, None)
            if found is None:
                return
            self.space.end(found.cell, ("camera", camera_id, event_id), ts)
            if found.anomaly_id is not None:
                out.append(Anomaly(
                    id=found.anomaly_id, type=found.type, status="cleared", severity=found.severity, cell_code=found.cell,
                    device_id=camera_id, detector="camera", ts=ts,
                    explanation=f"camera {camera_id} reports {type_.replace('_', ' ')} ended",
                    value=confidence, threshold=s.camera_min_confidence, lat=lat, lon=lon,
                    details={"event_id": event_id, "detectors": ["camera"]}, category=INCIDENT))
            return
        if key in self.cameras or confidence < s.camera_weak_confidence:
            return  # a redelivered start, or too unsure to say anything
        evidence = Evidence(("camera", camera_id, event_id), camera_id, cell, kinds_of_camera(type_), ts,
                            f"{type_.replace('_', ' ')}, confidence {confidence:.2f}", camera=True,
                            confidence=confidence)
        support = [(e, r) for e, r in self.space.around(cell, evidence.kinds, ts, s.corroboration_window_s)
                   if e.track is None or e.track.phase in (PENDING, OPEN)]
        sensors = [(e, r) for e, r in support if not e.camera]
        anomaly_id = None
        severity = CAMERA_SEVERITY.get(type_, WARNING)
        if confidence >= s.camera_min_confidence or sensors:
            anomaly_id = new_id()
            detectors = ["camera"] + (["spatial"] if sensors else [])
            if sensors:
                severity = CRITICAL
            text = (f"camera {camera_id} detected {type_.replace('_', ' ')} with confidence {confidence:.2f} "
                    f"(threshold {s.camera_min_confidence:.2f})")
            if support:
                parts = [f"{'camera ' if e.camera else ''}{e.device_id} ({e.label}) in the {r}" for e, r in support]
                text += f"; confirmed by {listing(parts)}"
            confidence_out = round(min(0.99, confidence + 0.1 * len(support)), 2)
            out.append(Anomaly(
                id=anomaly_id, type=type_, status="opened", severity=severity, cell_code=cell, device_id=camera_id,
                detector="camera", ts=ts, explanation=text, value=confidence, threshold=s.camera_min_confidence,
                lat=lat, lon=lon,
                details={"event_id": event_id, "detectors": detectors, "confidence": confidence_out,
                         "corroborated_by": [e.as_dict(r) for e, r in support],
                         "neighbours": [e.as_dict(r) for e, r in support]},
                category=INCIDENT))
        self.cameras[key] = _CameraOpen(anomaly_id, severity, type_, cell, evidence)
        self.space.add(evidence)
        self._wake(evidence, ts, out)

    # -- time ----------------------------------------------------------------------------------------
    def tick(self, now: float, out: list) -> None:
        """Decisions that wait for time to pass: unconfirmed deviations whose device said nothing
        more, silent devices, expired alerts. Call after each batch and now and then."""
        s = self.s
        if now < self.now:
            now = self.now
        self.now = now
        for dev in self._touched:
            self.monitor.finish_message(dev, out)
        self._touched.clear()
        due = now - s.settle_s
        for tr in [t for t in self.pending.values() if t.candidate.deadline is not None and t.candidate.deadline <= due]:
            dev = self.devices[tr.device_id]
            self._decide(tr, tr.candidate.deadline,
                         f"no further reading from {tr.device_id} within {span(s.confirm_intervals * (dev.interval or 0))}"
                         " to say otherwise", out)
        self.monitor.silent(self.devices, due, out)
        if now - self._pruned >= 60.0:
            self._pruned = now
            self.monitor.expire(self.devices, due, out)
            self._expire_spikes(due, out)
            self.space.prune(due, s.corroboration_window_s)

    def _expire_spikes(self, now: float, out: list) -> None:
        window = self.s.spike_window_s
        for device_id, type_, metric in [k for k in self.alerts.open if k[1] == "sensor_spikes"]:
            dev = self.devices.get(device_id)
            tr = dev.tracks.get(metric) if dev else None
            if tr is not None and (not tr.spikes or now - tr.spikes[-1] > window):
                cleared = self.alerts.clear(device_id, type_, now, f"no spike from {device_id} for {span(window)}",
                                            metric=metric)
                if cleared:
                    out.append(cleared)


def _independent(support: list, device_id: str) -> bool:
    """Whether evidence comes from another device or a camera: a device's metrics share its sensing
    element and its faults, so they do not confirm each other."""
    return any(e.camera or e.device_id != device_id for e, _ in support)


def _strong(support: list, device_id: str) -> bool:
    """Whether a camera, or another device past a threshold, agrees: context-only deviations of
    many sensors at once are what weather looks like, so they do not confirm each other."""
    return any(e.camera or (e.device_id != device_id and e.track is not None and e.track.level >= WARNING)
               for e, _ in support)


def _reference(metric: Metric) -> float:
    """The size of a metric's values that matter: its warning (or critical) threshold, else half
    its valid range, else 1."""
    for value in (metric.warning, metric.critical):
        if value:
            return abs(value)
    if metric.valid_min is not None and metric.valid_max is not None and metric.valid_max > metric.valid_min:
        return (metric.valid_max - metric.valid_min) / 2.0
    return 1.0


def _at_bound(metric: Metric, value: float) -> bool:
    """A value at the alarming end of the metric's range may repeat: the sensor is saturated (a full
    bin reads 100 % until it is emptied, a meter pegs at its maximum in a deafening crowd), not stuck.
    A sensor stuck at that very value cannot be told from one that is saturated."""
    if metric.direction == "above":
        return value == metric.valid_max and metric.critical is not None and metric.critical <= value
    return value == metric.valid_min and metric.critical is not None and metric.critical >= value


def _primary(detectors: set) -> str:
    for name in ("threshold", "rate_of_change", "baseline", "camera", "spatial"):
        if name in detectors:
            return name
    return "threshold"


def _threshold_figures(metric: Metric) -> dict:
    return {"warning": metric.warning, "critical": metric.critical, "hysteresis": metric.hysteresis,
            "direction": metric.direction, "unit": metric.unit}
