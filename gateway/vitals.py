"""What the gateway hears of each device between two store writes: messages, battery, signal, clock.

The consumer notes every resolved batch (`note`); the store-writing thread takes the sum at
most every `interval` seconds (`take`), so a busy gateway writes each device's vitals a few
times a minute, not once per batch.
"""

from __future__ import annotations

import threading
import time

from gateway.messages import Decoded
from twin.devices.health import Vitals

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
        # One row per device for the batch ([at, messages, battery, rssi, snr, linkquality, skew]), turned
        # into one Vitals at the end: a Vitals per observation merged into the next was a tenth of the
        # gateway's CPU. A later (or equally late) message's figures win; an earlier one only fills gaps.
        rows: dict[str, list] = {}
        for obs in decoded.observations:
            device_id = obs.device_id
            if device_id not in accepted:
                continue
            signal = obs.signal
            figures = (obs.battery, *((signal.get("rssi"), signal.get("snr"), signal.get("linkquality"))
                                      if signal else (None, None, None)),
                       None if obs.ts is None else round(obs.ts - obs.received_at, 3))
            row = rows.get(device_id)
            if row is None:
                rows[device_id] = [obs.received_at, 1, *figures]
                continue
            row[1] += 1
            later = obs.received_at >= row[0]
            if later:
                row[0] = obs.received_at
            for i, value in enumerate(figures, 2):
                if value is not None and (later or row[i] is None):
                    row[i] = value
        for event in decoded.camera:
            if event.camera_id in accepted:
                row = rows.setdefault(event.camera_id, [event.received_at, 0, None, None, None, None, None])
                row[0] = max(row[0], event.received_at)
                row[1] += 1
        batch = {device_id: Vitals(device_id, *row) for device_id, row in rows.items()}
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
