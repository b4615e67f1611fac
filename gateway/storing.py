"""The gateway's store writes: one batch (an outcome and the devices' vitals) in one go.

`StoreBatch` is what the service hands the spooled writer (gateway/spool.py): written straight
to the store, or kept in the spool while the store is away and written when it is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import msgspec

from gateway.outcome import Outcome
from gateway.types import IngestStore
from twin.devices.health import Vitals
from twin.sensing.anomalies import Anomaly

log = logging.getLogger(__name__)

__all__ = ["OutcomeWriter", "StoreBatch"]


class StoreBatch(msgspec.Struct, frozen=True):
    """One store write: what the pipeline made of some batches, and the vitals taken with them."""

    outcome: Outcome
    vitals: tuple[Vitals, ...] = ()

    @staticmethod
    def merged(batches: Sequence[StoreBatch]) -> StoreBatch:
        """Spooled batches replayed together: their outcomes merged, each device's vitals summed, oldest first."""
        vitals: dict[str, Vitals] = {}
        for batch in batches:
            for v in batch.vitals:
                vitals[v.device_id] = vitals[v.device_id].merge(v) if v.device_id in vitals else v
        return StoreBatch(Outcome.merged(b.outcome for b in batches), tuple(vitals.values()))


class OutcomeWriter:
    """Writes StoreBatches to the store (in a worker thread); the stored anomalies go to `stored_anomalies`
    (the case desk), once they are in the store."""

    def __init__(self, store: IngestStore, stored_anomalies: Callable[[Sequence[Anomaly]], None]):
        self.store = store
        self.stored_anomalies = stored_anomalies
        self.stored_readings = 0

    def write(self, batch: StoreBatch) -> None:
        o, store = batch.outcome, self.store
        # Pending devices first, so that their readings and statuses find them; one a technician
        # registered in the meantime is not overwritten.
        known = {d.id for d in store.get_devices(d.id for d in o.pending)} if o.pending else set()
        new = [d for d in o.pending if d.id not in known]
        if new:
            store.put_devices(new)
            for device in new:
                log.info("device %s (%s) seen for the first time: registered as pending for a technician to place",
                         device.id, device.attributes.get("adapter", "?"))
        if o.readings:
            self.stored_readings += store.write_readings(o.readings)
        if o.camera_events:
            store.write_camera_events(o.camera_events)
        if o.anomalies:
            store.write_anomalies(o.anomalies)
            self.stored_anomalies(o.anomalies)
        if o.dead_letters:
            store.write_dead_letters(o.dead_letters)
        if o.statuses:
            store.set_device_statuses(o.statuses)
        if o.last_seen:
            store.touch_devices(o.last_seen)
        if o.states:
            store.put_cell_states(o.states)
        for device_id, cell_code in o.placed:
            moved = store.assign_cell(device_id, cell_code)
            if moved:
                log.info("device %s placed in cell %s: %d more readings counted there", device_id, cell_code, moved)
        if batch.vitals:  # taken every few seconds, not every batch
            store.record_vitals(batch.vitals)
