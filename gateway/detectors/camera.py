"""Camera detections: at or above a confidence threshold a start opens an anomaly and the end
with the same event id clears it. `CameraEvents` is how the detection engine takes them: the
same pairing, with what sensors nearby say (corroboration, both ways); `CameraDetector` is the
pairing alone."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.detectors.explain import confirmed_by
from gateway.detectors.phases import PhaseMachine
from gateway.detectors.signatures import kinds_of_camera
from gateway.detectors.spatial import Evidence, SpatialIndex
from gateway.detectors.state import Phase
from twin.ids import new_id
from twin.sensing.anomalies import INCIDENT, Anomaly
from twin.sensing.catalog import Level
from twin.sensing.detection import DetectionSettings

# Severity of camera detections; other types are warnings.
CAMERA_SEVERITY = {
    "fire": Level.CRITICAL,
    "smoke": Level.CRITICAL,
    "waterlogging": Level.CRITICAL,
    "crowding": Level.WARNING,
    "illegal_parking": Level.WARNING,
    "street_vendor": Level.WARNING,
}


@dataclass(frozen=True, slots=True)
class _Started:
    """A detection under way: its anomaly (None when too unsure to open one alone), and where."""

    anomaly_id: str | None
    severity: Level
    type: str
    cell: str


class CameraEvents:
    """Camera detections in the detection engine. A start at or above `camera_min_confidence`, or
    above `camera_weak_confidence` with a sensor nearby that deviates, opens an incident anomaly
    (critical when a sensor agrees); every start is evidence that wakes pending deviations nearby."""

    def __init__(self, settings: DetectionSettings, space: SpatialIndex, phases: PhaseMachine):
        self.s = settings
        self.space = space
        self.phases = phases
        self.started: dict[tuple[str, str], _Started] = {}

    def event(self, camera_id: str, event_id: str, type_: str, state: str, confidence: float, ts: float,
              cell: str, lat: float | None, lon: float | None, out: list[Anomaly]) -> None:
        """One start or end of a detection."""
        if state == "end":
            self._end(camera_id, event_id, type_, confidence, ts, lat, lon, out)
            return
        key = (camera_id, event_id)
        if key in self.started or confidence < self.s.camera_weak_confidence:
            return  # a redelivered start, or too unsure to say anything
        evidence = Evidence(("camera", camera_id, event_id), camera_id, cell, kinds_of_camera(type_), ts,
                            f"{type_.replace('_', ' ')}, confidence {confidence:.2f}", camera=True,
                            confidence=confidence)
        self.started[key] = self._start(evidence, event_id, type_, confidence, lat, lon, out)
        self.space.add(evidence)
        self.phases.wake(evidence, ts, out)

    def _start(self, evidence: Evidence, event_id: str, type_: str, confidence: float, lat: float | None,
               lon: float | None, out: list[Anomaly]) -> _Started:
        s, camera_id, cell, ts = self.s, evidence.device_id, evidence.cell, evidence.ts
        support = [(e, r) for e, r in self.space.around(cell, evidence.kinds, ts, s.corroboration_window_s)
                   if e.track is None or e.track.phase in (Phase.PENDING, Phase.OPEN)]
        sensors = [(e, r) for e, r in support if not e.camera]
        severity = CAMERA_SEVERITY.get(type_, Level.WARNING)
        if confidence < s.camera_min_confidence and not sensors:
            return _Started(None, severity, type_, cell)
        if sensors:
            severity = Level.CRITICAL
        text = (f"camera {camera_id} detected {type_.replace('_', ' ')} with confidence {confidence:.2f} "
                f"(threshold {s.camera_min_confidence:.2f})")
        if support:
            text += f"; {confirmed_by(support)}"
        anomaly_id = new_id()
        out.append(Anomaly(
            id=anomaly_id, type=type_, status="opened", severity=severity, cell_code=cell, device_id=camera_id,
            detector="camera", ts=ts, explanation=text, value=confidence, threshold=s.camera_min_confidence,
            lat=lat, lon=lon,
            details={"event_id": event_id, "detectors": ["camera"] + (["spatial"] if sensors else []),
                     "confidence": round(min(0.99, confidence + 0.1 * len(support)), 2),
                     "corroborated_by": [e.as_dict(r) for e, r in support],
                     "neighbours": [e.as_dict(r) for e, r in support]},
            category=INCIDENT))
        return _Started(anomaly_id, severity, type_, cell)

    def _end(self, camera_id: str, event_id: str, type_: str, confidence: float, ts: float, lat: float | None,
             lon: float | None, out: list[Anomaly]) -> None:
        found = self.started.pop((camera_id, event_id), None)
        if found is None:
            return
        self.space.end(found.cell, ("camera", camera_id, event_id), ts)
        if found.anomaly_id is not None:
            out.append(Anomaly(
                id=found.anomaly_id, type=found.type, status="cleared", severity=found.severity,
                cell_code=found.cell, device_id=camera_id, detector="camera", ts=ts,
                explanation=f"camera {camera_id} reports {type_.replace('_', ' ')} ended",
                value=confidence, threshold=self.s.camera_min_confidence, lat=lat, lon=lon,
                details={"event_id": event_id, "detectors": ["camera"]}, category=INCIDENT))


class CameraDetector:
    """Camera detections at or above `min_confidence` open an anomaly on start and clear it on end."""

    name = "camera"

    def __init__(self, min_confidence: float = 0.6):
        self.min_confidence = min_confidence
        self.open: dict[tuple[str, str], Anomaly] = {}

    def update(self, camera_id: str, event_id: str, type_: str, state: str, confidence: float, ts: float,
               cell_code: str, lat: float | None, lon: float | None) -> list[Anomaly]:
        key = (camera_id, event_id)
        if state == "end":
            opened = self.open.pop(key, None)
            if opened is None:
                return []
            return [Anomaly(id=opened.id, type=opened.type, status="cleared", severity=opened.severity,
                            cell_code=opened.cell_code, device_id=camera_id, detector=self.name, ts=ts,
                            explanation=f"camera {camera_id} reports {type_.replace('_', ' ')} ended",
                            value=confidence, threshold=self.min_confidence, lat=lat, lon=lon,
                            details={"event_id": event_id})]
        if key in self.open or confidence < self.min_confidence:
            return []
        severity = CAMERA_SEVERITY.get(type_, Level.WARNING)
        anomaly = Anomaly(
            id=new_id(), type=type_, status="opened", severity=severity, cell_code=cell_code,
            device_id=camera_id, detector=self.name, ts=ts,
            explanation=(f"camera {camera_id} detected {type_.replace('_', ' ')} with confidence "
                         f"{confidence:.2f} (threshold {self.min_confidence:.2f})"),
            value=confidence, threshold=self.min_confidence, lat=lat, lon=lon, details={"event_id": event_id},
        )
        self.open[key] = anomaly
        return [anomaly]
