"""How simulated AI cameras behave: a detection starts when an incident they can see starts,
and ends, under the same event id, when the incident ends."""

from __future__ import annotations

import random
import zlib
from typing import Iterable

from firmware_sim.behaviour import stable_seed
from firmware_sim.incidents import Incident, camera_event_types
from twin.devices.device import Device


class CameraModel:
    """Detections of one camera. `events(t, incidents)` returns the event payloads due at `t`
    (without `ts` formatting); each detection yields one `start` and, once over, one `end`."""

    def __init__(self, device: Device, *, seed: int = 0):
        self.device = device
        self.detects = frozenset(camera_event_types(device))
        self.zone = device.attributes.get("zone") or "main"
        self.rng = random.Random(stable_seed(seed, device.id))
        self._open: dict[str, dict] = {}  # event id -> its start payload
        self._done: set[str] = set()

    def event_id(self, incident: Incident, event_type: str) -> str:
        key = f"{self.device.id}|{incident.id}|{event_type}".encode()
        return f"evt-{zlib.crc32(key):08x}"

    def events(self, t: float, incidents: Iterable[Incident]) -> list[dict]:
        """Start events for incidents under way and not yet reported, end events for those over."""
        out = []
        for incident in incidents:
            for event_type in incident.kind.camera_events:
                if event_type not in self.detects:
                    continue
                event_id = self.event_id(incident, event_type)
                if event_id in self._done:
                    continue
                if event_id not in self._open:
                    if incident.active(t):
                        start = self._payload(event_id, event_type, "start")
                        self._open[event_id] = start
                        out.append(start)
                elif t >= incident.end:
                    start = self._open.pop(event_id)
                    self._done.add(event_id)
                    out.append(self._payload(event_id, event_type, "end", start["confidence"]))
        return out

    @property
    def open_events(self) -> int:
        return len(self._open)

    def _payload(self, event_id: str, event_type: str, state: str, confidence: float | None = None) -> dict:
        device = self.device
        if confidence is None:
            confidence = round(self.rng.uniform(0.8, 0.98), 2)
        payload = {
            "event_id": event_id,
            "type": event_type,
            "confidence": confidence,
            "state": state,
            "zone": self.zone,
            "snapshot_url": f"http://{device.id}.cameras.local/snapshots/{event_id}-{state}.jpg",
        }
        if device.lat is not None and device.lon is not None:
            payload["loc"] = {"lat": round(device.lat, 7), "lon": round(device.lon, 7)}
        return payload
