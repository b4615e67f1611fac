"""Readings and camera events as stored in the twin: one row per device, metric and time."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

__all__ = ["Reading", "CameraEvent", "Bucket", "DeadLetter"]


# A msgspec Struct, not a dataclass: the gateway makes two or more per message, and a frozen
# dataclass's __init__ (one object.__setattr__ per field) cost 2 µs of its 40 µs per message.
class Reading(msgspec.Struct, frozen=True, gc=False):
    """One metric value of one device at one time.

    `ts` is Unix epoch seconds (UTC). `ts_estimated` is true when the payload
    carried no timestamp and the receive time was used. Booleans are stored as
    0.0 / 1.0. A reading is identified by (device_id, metric, ts): writing the
    same identity twice stores it once.
    """

    device_id: str
    metric: str
    ts: float
    value: float
    cell_code: str | None
    seq: int | None = None
    lat: float | None = None
    lon: float | None = None
    ts_estimated: bool = False


@dataclass(frozen=True, slots=True)
class CameraEvent:
    """A camera detection (start or end of one event), identified by (camera_id, event_id, state)."""

    camera_id: str
    event_id: str
    ts: float
    type: str
    confidence: float
    state: str  # "start" | "end"
    cell_code: str | None
    zone: str | None = None
    lat: float | None = None
    lon: float | None = None
    snapshot_url: str | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """A time-bucketed aggregate of one metric in one cell."""

    start: float
    count: int
    mean: float
    min: float
    max: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Rejected input, kept for diagnosis: why, where it came from, and the raw payload."""

    reason: str
    topic: str
    payload: bytes
    received_at: float
    device_id: str | None = None
    detail: str = ""
