"""What the gateway hears of each device between two store writes: messages, battery, signal, clock.

The consumer notes every resolved batch (`note`); the store-writing thread takes the sum at
most every `interval` seconds (`take`), so a busy gateway writes each device's vitals a few
times a minute, not once per batch.
"""

from __future__ import annotations

import threading
import time

from gateway.messages import Decoded
from twin.health import Vitals

__all__ = ["VitalsBook"]


class VitalsBook:
    def __init__(self, interval: float = 2.0):
        self.interval = interval
        self._pending: dict[str, Vitals] = {}
        self._lock = threading.Lock()
        self._last_take = time.monotonic()

    def note(self, decoded: Decoded, accepted: dict[str, float]) -> None:
        """Count the batch's observations of the devices it accepted a message of (`accepted`: the
        outcome's last-seen times), with the latest battery, signal and clock skew of each."""
        if not accepted:
            return
        batch: dict[str, Vitals] = {}
        for obs in decoded.observations:
            if obs.device_id not in accepted:
                continue
            signal = obs.signal or {}
            skew = None if obs.ts is None else round(obs.ts - obs.received_at, 3)
            v = Vitals(obs.device_id, obs.received_at, 1, obs.battery, signal.get("rssi"), signal.get("snr"),
                       signal.get("linkquality"), skew)
            batch[obs.device_id] = batch[obs.device_id].merge(v) if obs.device_id in batch else v
        for event in decoded.camera:
            if event.camera_id in accepted:
                v = Vitals(event.camera_id, event.received_at, 1)
                batch[event.camera_id] = batch[event.camera_id].merge(v) if event.camera_id in batch else v
        with self._lock:
            for device_id, v in batch.items():
                before = self._pending.get(device_id)
                self._pending[device_id] = v if before is None else before.merge(v)

    def take(self, force: bool = False) -> list[Vitals]:
        """The vitals noted since the last take, when `interval` has passed (or `force`)."""
        now = time.monotonic()
        with self._lock:
            if not self._pending or (not force and now - self._last_take < self.interval):
                return []
            taken, self._pending = list(self._pending.values()), {}
        self._last_take = now
        return taken
