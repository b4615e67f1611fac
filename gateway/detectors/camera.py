"""Camera detections: at or above a confidence threshold a start opens an anomaly and the end
with the same event id clears it. The detection engine pairs them the same way and adds what
sensors nearby say; `CameraDetector` is the pairing alone."""

from __future__ import annotations

from twin.ids import new_id
from twin.sensing.anomalies import Anomaly
from twin.sensing.catalog import Level

# Severity of camera detections; other types are warnings.
CAMERA_SEVERITY = {
    "fire": Level.CRITICAL,
    "smoke": Level.CRITICAL,
    "waterlogging": Level.CRITICAL,
    "crowding": Level.WARNING,
    "illegal_parking": Level.WARNING,
    "street_vendor": Level.WARNING,
}


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
