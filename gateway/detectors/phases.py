"""The phase machine of a track (one device's one metric): what is a deviation, and what becomes
of it. Phases are `state.Phase`:

    NORMAL --deviation--> PENDING --confirmed or corroborated--> OPEN --back--> NORMAL (cleared)
      |                     |                                      `--worse--> OPEN (escalated)
      |                     |--back at the next reading--> NORMAL (a spike if back where it was)
      |                     `--a sensor fault found; the same cell reads normal; below the
      |                        thresholds with nothing agreeing--> SUPPRESSED
      `--deviation while a fault of its sensor is open--> SUPPRESSED
    SUPPRESSED --back to normal, or its drift over--> NORMAL

1. A deviation (`_deviation`) is a critical level that is not usual here, a warning level that
   is clearly unusual, or a value far outside its context even below the thresholds.
2. Corroboration: a deviation becomes an incident at once when something nearby agrees (a
   sensor of another device in the same or a neighbouring cell, a camera; spatial.py and
   signatures.py say what agrees with what), which raises severity and confidence.
3. Confirmation: otherwise it waits for the device's next reading. Back to normal then: a spike.
   Still deviating and alive: an incident, unless sensors of the same metric in the same cell
   read normal meanwhile: then the sensor disagrees with its neighbours (a device-health alert).
   A device that says nothing more is decided at its deadline (`settle`).
4. Escalation and clearing: an open incident clears when the value is back and escalates (a new
   anomaly) when it passes a higher level.

A track with an open health alert of its own (sensorfaults.SUSPECT) raises no incident.
"""

from __future__ import annotations

from gateway.detectors.explain import amount, incident, neighbours, span
from gateway.detectors.measures import Measures, context_of
from gateway.detectors.sensorfaults import SensorFaults, at_bound
from gateway.detectors.spatial import Evidence, SpatialIndex
from gateway.detectors.state import Candidate, DeviceState, Phase, Track
from gateway.detectors.threshold import incident_type, threshold_at, threshold_figures
from twin.ids import new_id
from twin.sensing.anomalies import INCIDENT, Anomaly
from twin.sensing.catalog import Level
from twin.sensing.detection import DetectionSettings

# Enum members as plain names: looking them up on the class costs more than the rest of a reading.
NORMAL, WARNING, CRITICAL = Level.NORMAL, Level.WARNING, Level.CRITICAL
IDLE, PENDING, OPEN, SUPPRESSED = Phase.NORMAL, Phase.PENDING, Phase.OPEN, Phase.SUPPRESSED

Support = list[tuple[Evidence, str]]  # evidence nearby, with its relation ("same cell", ...)


class PhaseMachine:
    """The phases of every track, and the deviations waiting for confirmation (`pending`)."""

    def __init__(self, settings: DetectionSettings, space: SpatialIndex, measures: Measures, faults: SensorFaults):
        self.s = settings
        self.space = space
        self.measures = measures
        self.faults = faults
        self.pending: dict[tuple[str, str], Track] = {}

    def step(self, tr: Track, dev: DeviceState, value: float, level: Level, own_z: float | None,
             sudden: float | None, ts: float, now: float, out: list[Anomaly]) -> bool:
        """Judge the reading just measured on `tr` (measures.take) and move its phase; `now` is the
        stream's clock. Returns whether the reading deviates."""
        if level is NORMAL and (own_z is None or own_z < self.s.warning_context_z):
            deviating, z = False, own_z  # the common case, settled without the rules of `_deviation`
        else:
            deviating, z = self._deviation(tr, level, own_z, sudden, ts, now)
        tr.deviating = deviating
        phase = tr.phase
        if phase is OPEN:
            self._follow_open(tr, value, level, z, ts, out)
        elif phase is PENDING:
            self._pending(tr, dev, value, level, deviating, ts, out)
        elif phase is SUPPRESSED:
            if not deviating and level == NORMAL:
                tr.phase = IDLE
                self.faults.back_to_normal(tr, value, ts, out)
        elif deviating:
            self._onset(tr, dev, value, level, z, own_z, sudden, ts, out)
        return deviating

    def _deviation(self, tr: Track, level: Level, own_z: float | None, sudden: float | None, ts: float,
                   now: float) -> tuple[bool, float | None]:
        """Whether a reading past a threshold or unusual in its own context deviates, and its z: the
        more forgiving of its own context and its peers' where the peers were asked. A deviation
        under way keeps going a robust sigma below the bar that started it (the hour changed, say)."""
        s = self.s
        if ts < now - s.late_s:
            return False, own_z  # arrived too late to act on (a backlog after an outage): kept, not judged
        if tr.boolean:
            return level == CRITICAL, own_z
        under_way = tr.phase is not IDLE
        if level == CRITICAL:
            # Past critical, the device's own history decides where it has one: peers of a metric
            # may differ by design (bins emptied on different schedules).
            z = own_z if own_z is not None else self.measures.peers(tr, None)
            return z is None or z >= s.critical_context_z - under_way, z
        if level == WARNING:
            z = self.measures.peers(tr, own_z)
            return z is None or z >= s.warning_context_z - under_way, z
        if ts < tr.cooldown_until or own_z is None or not tr.signals:
            # Below the thresholds it takes the device's own history (peers alone say too little:
            # bins emptied on different schedules differ by design) and a metric that points to
            # a kind of incident.
            return False, own_z
        # Far outside its context, or a sudden rise that is clearly unusual.
        z = self.measures.peers(tr, own_z)
        return z >= s.context_z or (sudden is not None and z >= s.warning_context_z), z

    # -- onset and confirmation ------------------------------------------------------------------
    def _onset(self, tr: Track, dev: DeviceState, value: float, level: Level, z: float | None,
               own_z: float | None, sudden: float | None, ts: float, out: list[Anomaly]) -> None:
        """A new deviation: pending, open at once when something nearby agrees."""
        s, metric = self.s, tr.metric
        if self.faults.suspect(tr) or (level >= WARNING and own_z is not None
                                       and self.faults.drifted_across(tr, value, own_z, ts, out)):
            tr.phase = SUPPRESSED
            return
        detectors = {"threshold"} if level >= WARNING else {"baseline"}
        if sudden is not None:
            detectors.add("rate_of_change")
        hold = s.confirm_intervals * dev.interval if dev.interval else None
        tr.candidate = Candidate(ts, value, level, detectors, ts + hold if hold else None,
                                 context_of(tr, z), sudden, tr.history[-1][1] if tr.history else None)
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
            self.suppress(tr)
        self.wake(evidence, ts, out)

    def _pending(self, tr: Track, dev: DeviceState, value: float, level: Level, deviating: bool, ts: float,
                 out: list[Anomaly]) -> None:
        """The next reading of a pending deviation."""
        cand = _candidate(tr)
        if not deviating or (cand.level >= WARNING and level < WARNING):
            # Back, or at least back below the threshold it crossed.
            self._forget(tr)
            tr.phase = IDLE
            self.faults.spiked(tr, cand, value, ts, out)
        elif tr.run > 1 and not at_bound(tr.metric, value):
            cand.readings += 1  # the same number again: alive? wait for more (or a stuck-value alert)
            if cand.deadline is not None and dev.interval:
                cand.deadline = ts + self.s.confirm_intervals * dev.interval
        else:
            cand.readings += 1
            self._decide(tr, ts, f"still {amount(tr.metric, value)} at the next reading, "
                         f"{span(ts - cand.onset_ts)} later", out)

    def settle(self, due: float, devices: dict[str, DeviceState], out: list[Anomaly]) -> None:
        """Deviations whose device said nothing more by their deadline (at or before `due`)."""
        s = self.s
        late = [(tr, cand.deadline) for tr in self.pending.values()
                if (cand := _candidate(tr)).deadline is not None and cand.deadline <= due]
        for tr, deadline in late:
            interval = devices[tr.device_id].interval
            self._decide(tr, deadline, f"no further reading from {tr.device_id} within "
                         f"{span(s.confirm_intervals * (interval or 0))} to say otherwise", out)

    def _decide(self, tr: Track, ts: float, reason: str, out: list[Anomaly]) -> None:
        """A deviation that persisted (or whose device fell silent): an incident, unless the sensors
        of the same metric in the same cell read normal meanwhile."""
        cand = _candidate(tr)
        peers = self.space.same_metric(tr)
        heard = [(p, [h for h in p.history if h[0] > cand.onset_ts]) for p in peers]
        heard = [(p, h) for p, h in heard if h]
        if heard and not any(any(item[2] for item in h) for _, h in heard):
            self._forget(tr)
            tr.phase = SUPPRESSED
            self.faults.disagrees(tr, cand, heard, ts, out)
            return
        support = self.space.around(tr.cell, tr.kinds, ts, self.s.corroboration_window_s,
                                    exclude=("track", tr.device_id, tr.metric.name))
        if cand.level < WARNING and not _strong(support, tr.device_id):
            # Unusual but below every threshold, and nobody else sees anything: not enough.
            self.suppress(tr)
            return
        self._open(tr, ts, support, reason, out)

    def wake(self, evidence: Evidence, ts: float, out: list[Anomaly]) -> None:
        """Pending deviations nearby that this new evidence corroborates open now."""
        window = self.s.corroboration_window_s
        for other, _ in self.space.around(evidence.cell, evidence.kinds, ts, window, exclude=evidence.key):
            track = other.track
            if track is not None and track.phase is PENDING and track.device_id != evidence.device_id:
                support = self.space.around(track.cell, track.kinds, ts, window, exclude=other.key)
                self._open(track, ts, support, "", out)

    def suppress(self, tr: Track) -> None:
        """A deviation waiting for confirmation that is not to be an incident (a sensor fault found,
        or nothing agrees with a deviation below the thresholds): none until back to normal."""
        if tr.phase is PENDING:
            self._forget(tr)
            tr.phase = SUPPRESSED

    def release(self, tr: Track) -> None:
        """The sensor's drift is over: a suppressed track that no longer deviates is judged afresh."""
        if tr.phase is SUPPRESSED and not tr.deviating:
            tr.phase = IDLE

    def _forget(self, tr: Track) -> None:
        self.pending.pop(tr.key, None)
        self.space.drop(tr.cell, ("track", tr.device_id, tr.metric.name))
        tr.candidate = None

    # -- open incidents --------------------------------------------------------------------------
    def _open(self, tr: Track, ts: float, support: Support, reason: str, out: list[Anomaly]) -> None:
        """Open the incident anomaly of a pending deviation."""
        if tr.phase is not PENDING:
            return
        metric, cand = tr.metric, _candidate(tr)
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
        severity = CRITICAL if sensors or cameras else WARNING if baseline_only else cand.level
        confidence = (0.45 if baseline_only else 0.5 if cand.level == WARNING else 0.65)
        confidence += 0.1 * bool(cand.rate) + 0.1 * bool(reason and "next reading" in reason) + 0.1 * bool(own)
        confidence += 0.15 * len(sensors) + 0.15 * len(cameras)
        type_ = f"{metric.name}_unusual" if baseline_only else incident_type(metric)
        threshold = cand.context.get("baseline") if baseline_only else threshold_at(metric, cand.level)
        agreed = own + sensors + cameras
        tr.phase, tr.anomaly_id, tr.severity, tr.open_type = OPEN, new_id(), severity, type_
        tr.open_threshold = threshold
        tr.opened_from = cand
        tr.candidate = None
        out.append(Anomaly(
            id=tr.anomaly_id, type=type_, status="opened", severity=severity, cell_code=tr.cell,
            device_id=tr.device_id, detector=_primary(detectors), ts=max([ts] + [e.ts for e, _ in support]),
            explanation=incident(tr, cand, baseline_only, threshold, agreed, reason),
            metric=metric.name, value=tr.last_value, threshold=threshold, lat=tr.lat, lon=tr.lon,
            details={"detectors": sorted(detectors), "confidence": round(min(0.99, confidence), 2),
                     "level": cand.level.label,
                     "figures": {**threshold_figures(metric), **cand.context, "onset_ts": cand.onset_ts,
                                 "onset_value": cand.onset_value,
                                 **({"rate_per_min": round(cand.rate * 60, 3)} if cand.rate else {}),
                                 "confirmation": reason or "corroborated"},
                     "corroborated_by": [e.as_dict(r) for e, r in agreed], "neighbours": neighbours(self.space, tr)},
            category=INCIDENT))

    def _follow_open(self, tr: Track, value: float, level: Level, z: float | None, ts: float,
                     out: list[Anomaly]) -> None:
        """An open incident anomaly: it clears when the value is back, escalates when it worsens."""
        metric, s = tr.metric, self.s
        baseline_only = tr.open_type.endswith("_unusual")
        still = (z is not None and z >= s.context_z / 2) if baseline_only else level >= WARNING
        if still and not (not baseline_only and level > tr.severity):
            return
        detector = "baseline" if baseline_only else "threshold"
        out.append(Anomaly(
            id=_anomaly_id(tr), type=tr.open_type, status="cleared", severity=tr.severity, cell_code=tr.cell,
            device_id=tr.device_id, detector=detector, ts=ts,
            explanation=(f"{metric.label} at {tr.device_id} is {amount(metric, value)}"
                         + (", back to usual" if not still else f", now {level.label}")),
            metric=metric.name, value=value, threshold=tr.open_threshold, lat=tr.lat, lon=tr.lon,
            details={"detectors": [detector], "level": level.label}, category=INCIDENT))
        if still:  # worse than when it opened: a new anomaly at the new severity
            self._escalate(tr, value, level, ts, out)
            return
        tr.phase = IDLE
        tr.anomaly_id = None
        tr.cooldown_until = ts + s.cooldown_s
        self.space.end(tr.cell, ("track", tr.device_id, metric.name), ts)
        # Opened on one reading (something nearby agreed) and back where it was at the next:
        # still a spike, and spikes add up to a faulty sensor.
        cand = tr.opened_from
        if cand is not None and tr.history and tr.history[-1][0] == cand.onset_ts:
            self.faults.spiked(tr, cand, value, ts, out)
        tr.opened_from = None

    def _escalate(self, tr: Track, value: float, level: Level, ts: float, out: list[Anomaly]) -> None:
        metric = tr.metric
        threshold = threshold_at(metric, level)
        assert threshold is not None  # a boolean metric has one level: it never escalates
        tr.anomaly_id, tr.severity, tr.open_threshold = new_id(), level, threshold
        out.append(Anomaly(
            id=tr.anomaly_id, type=tr.open_type, status="opened", severity=level, cell_code=tr.cell,
            device_id=tr.device_id, detector="threshold", ts=ts,
            explanation=(f"{metric.label} at {tr.device_id} is {amount(metric, value)}, now past the "
                         f"{level.label} threshold of {amount(metric, threshold)}"),
            metric=metric.name, value=value, threshold=threshold, lat=tr.lat, lon=tr.lon,
            details={"detectors": ["threshold"], "level": level.label, "figures": threshold_figures(metric),
                     "escalated_from": "warning", "neighbours": neighbours(self.space, tr)},
            category=INCIDENT))


def _candidate(tr: Track) -> Candidate:
    """The deviation of a pending track."""
    cand = tr.candidate
    assert cand is not None, f"{tr.key} is {tr.phase.value}, with no deviation waiting"
    return cand


def _anomaly_id(tr: Track) -> str:
    """The anomaly of an open track."""
    anomaly_id = tr.anomaly_id
    assert anomaly_id is not None, f"{tr.key} is {tr.phase.value}, with no anomaly open"
    return anomaly_id


def _independent(support: Support, device_id: str) -> bool:
    """Whether evidence comes from another device or a camera: a device's metrics share its sensing
    element and its faults, so they do not confirm each other."""
    return any(e.camera or e.device_id != device_id for e, _ in support)


def _strong(support: Support, device_id: str) -> bool:
    """Whether a camera, or another device past a threshold, agrees: context-only deviations of
    many sensors at once are what weather looks like, so they do not confirm each other."""
    return any(e.camera or (e.device_id != device_id and e.track is not None and e.track.level >= WARNING)
               for e, _ in support)


def _primary(detectors: set[str]) -> str:
    for name in ("threshold", "rate_of_change", "baseline", "camera", "spatial"):
        if name in detectors:
            return name
    return "threshold"
