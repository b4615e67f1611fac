"""Detectors: readings, camera events and device statuses in; anomalies out, each an incident in a
cell or a device-health alert, with the figures and neighbours behind it.

    engine.py        the detection engine: keeps the devices, routes every message to the parts below
    measures.py      a reading's level, robust z in context, rate of change; baselines learn
    phases.py        the phase machine: deviation, confirmation, corroboration, escalation, clearing
    sensorfaults.py  sensor-health alerts from the values: stuck, drift, spikes, disagreement, range
    devicefaults.py  device-health alerts (the open ones, and offline, silent, battery, clock, transport)
    camera.py        camera detections: confidence thresholds, start/end pairing, corroboration
    threshold.py     warning/critical thresholds with hysteresis
    context.py       hour-of-day baselines (median/MAD) and cross-sections of peers
    spatial.py       devices and evidence per cell and its neighbours
    signatures.py    which metrics and camera events point to which kind of incident
    state.py         what is remembered per device and per track (device and metric)
    explain.py       plain-language explanations

Parameters: twin.sensing.detection.DetectionSettings (`[detection]`), documented in docs/detection.md.
"""

from gateway.detectors.camera import CAMERA_SEVERITY, CameraDetector
from gateway.detectors.devicefaults import DeviceMonitor, HealthAlerts
from gateway.detectors.engine import DetectionEngine
from gateway.detectors.signatures import SIGNATURES, kinds_of_camera, kinds_of_metric
from gateway.detectors.threshold import ThresholdDetector, next_level, raw_level

__all__ = [
    "CAMERA_SEVERITY", "SIGNATURES", "CameraDetector", "DetectionEngine", "DeviceMonitor", "HealthAlerts",
    "ThresholdDetector", "kinds_of_camera", "kinds_of_metric", "next_level", "raw_level",
]
