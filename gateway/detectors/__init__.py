"""Detectors: readings, camera events and device statuses in; anomalies out, each an incident in a
cell or a device-health alert, with the figures and neighbours behind it.

    engine.py        the detection engine: context, confirmation, corroboration, device health
    threshold.py     warning/critical thresholds with hysteresis
    context.py       hour-of-day baselines (median/MAD) and cross-sections of peers
    camera.py        camera detections: confidence threshold, start/end pairing
    spatial.py       devices and evidence per cell and its neighbours
    devicefaults.py  device-health alerts: offline, silent, battery, clock, transport
    signatures.py    which metrics and camera events point to which kind of incident
    explain.py       plain-language pieces of explanations

Parameters: twin.sensing.detection.DetectionSettings (`[detection]`), documented in docs/detection.md.
"""

from gateway.detectors.camera import CAMERA_SEVERITY, CameraDetector
from gateway.detectors.engine import DetectionEngine
from gateway.detectors.devicefaults import DeviceMonitor, HealthAlerts
from gateway.detectors.signatures import SIGNATURES, kinds_of_camera, kinds_of_metric
from gateway.detectors.threshold import ThresholdDetector, next_level, raw_level

__all__ = [
    "CAMERA_SEVERITY", "CameraDetector", "DetectionEngine", "DeviceMonitor", "HealthAlerts", "SIGNATURES",
    "ThresholdDetector", "kinds_of_camera", "kinds_of_metric", "next_level", "raw_level",
]
