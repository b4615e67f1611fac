"""What the sensors say and what is made of it: the metric catalogue (names, units, valid
ranges, alarm levels), readings, camera events and dead letters as stored, anomalies, the live
state of a cell, and the settings of detection. The gateway's detectors (gateway/detectors/)
fill these types; the store keeps them.
"""

from __future__ import annotations

from twin.sensing.anomalies import CATEGORIES, DEVICE_HEALTH, INCIDENT, Anomaly
from twin.sensing.catalog import DEFAULT_METRICS, Level, Metric, MetricCatalog
from twin.sensing.cellstate import CellState
from twin.sensing.detection import DetectionSettings
from twin.sensing.readings import Bucket, CameraEvent, DeadLetter, Reading

__all__ = ["DEFAULT_METRICS", "Level", "Metric", "MetricCatalog", "Bucket", "CameraEvent", "DeadLetter", "Reading",
           "CATEGORIES", "DEVICE_HEALTH", "INCIDENT", "Anomaly", "CellState", "DetectionSettings"]
