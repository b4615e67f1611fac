"""Messages inside the gateway: what an adapter made of what arrived (an mqttwire.packets.Inbound),
and what was rejected."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from mqttwire.packets import Inbound


# Observation is a msgspec Struct, as Inbound is, not a dataclass: one is made per message, and a
# frozen dataclass's __init__ (one object.__setattr__ per field) is twenty times slower.
class Observation(msgspec.Struct, frozen=True, gc=False):
    """A decoded reading before validation against the registry and catalog.

    `ts` is None when the payload had no timestamp. `raw` is the item's own
    JSON, kept so that a rejection can dead-letter exactly what was refused.
    """

    device_id: str
    ts: float | None
    values: dict
    topic: str
    raw: bytes
    received_at: float = 0.0
    seq: int | None = None
    battery: float | None = None
    lat: float | None = None
    lon: float | None = None
    signal: dict | None = None  # radio signal the source reported: rssi (dBm), snr (dB), linkquality (0-255)


@dataclass(frozen=True, slots=True)
class CameraObservation:
    camera_id: str
    ts: float | None
    event_id: str
    type: str
    confidence: float
    state: str
    topic: str
    raw: bytes
    received_at: float = 0.0
    zone: str | None = None
    lat: float | None = None
    lon: float | None = None
    snapshot_url: str | None = None


@dataclass(frozen=True, slots=True)
class StatusObservation:
    device_id: str
    online: bool
    topic: str
    received_at: float


class Rejection(msgspec.Struct, frozen=True, gc=False):
    """Input refused with one of the dead-letter reasons; `detail` says exactly what was wrong."""

    reason: str
    detail: str
    topic: str
    payload: bytes
    device_id: str | None = None
    received_at: float = 0.0


@dataclass(slots=True)
class Decoded:
    """Everything the adapters made of a batch of messages."""

    observations: list[Observation] = field(default_factory=list)
    camera: list[CameraObservation] = field(default_factory=list)
    statuses: list[StatusObservation] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    messages: list[Inbound] = field(default_factory=list)

    def device_ids(self) -> set[str]:
        """Every device the decoded batch speaks of."""
        return ({o.device_id for o in self.observations} | {c.camera_id for c in self.camera}
                | {s.device_id for s in self.statuses})
