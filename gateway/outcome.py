"""What the pipeline made of a batch, for the service to store, then acknowledge and publish.

An `Outcome` is immutable: the pipeline builds one per batch, the service merges those of
several batches into one store write (`Outcome.merged`), and the spool keeps it on disk as it
is while the store is away (gateway/spool.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from twin.devices.device import Device, DeviceStatus
from twin.sensing.anomalies import Anomaly
from twin.sensing.cellstate import CellState
from twin.sensing.readings import CameraEvent, DeadLetter, Reading

__all__ = ["Draft", "Outcome"]


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What one batch produced: rows to store, anomalies and cell states to publish."""

    readings: tuple[Reading, ...] = ()
    camera_events: tuple[CameraEvent, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = ()
    statuses: tuple[tuple[str, DeviceStatus, float], ...] = ()
    last_seen: dict[str, float] = {}  # device id -> the latest time it was heard of (never changed once made)
    states: tuple[CellState, ...] = ()
    # Devices first seen through a third-party adapter, to be registered as pending (written first).
    pending: tuple[Device, ...] = ()
    # (device id, cell code) of pending devices that were placed: their cell-less readings move to the cell.
    placed: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in self.__struct_fields__)

    def merge(self, *others: Outcome) -> Outcome:
        """This outcome and `others` as one, in their order (each device's latest last-seen time)."""
        return Outcome.merged((self, *others))

    @staticmethod
    def merged(outcomes: Iterable[Outcome]) -> Outcome:
        """The outcomes as one, in their order: written in one transaction."""
        outcomes = [o for o in outcomes if o]
        if len(outcomes) < 2:
            return outcomes[0] if outcomes else Outcome()
        last_seen: dict[str, float] = {}
        for o in outcomes:
            for device_id, ts in o.last_seen.items():
                if ts > last_seen.get(device_id, 0.0):
                    last_seen[device_id] = ts
        joined = {name: tuple(x for o in outcomes for x in getattr(o, name))
                  for name in Outcome.__struct_fields__ if name != "last_seen"}
        return Outcome(last_seen=last_seen, **joined)


@dataclass(slots=True)
class Draft:
    """An outcome while the pipeline builds it, batch by batch; `outcome` makes the immutable one."""

    readings: list[Reading] = field(default_factory=list)
    camera_events: list[CameraEvent] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    statuses: list[tuple[str, DeviceStatus, float]] = field(default_factory=list)
    last_seen: dict[str, float] = field(default_factory=dict)
    pending: list[Device] = field(default_factory=list)

    def seen(self, device_id: str, ts: float) -> None:
        if ts > self.last_seen.get(device_id, 0.0):
            self.last_seen[device_id] = ts

    def outcome(self, *, dead_letters: list[DeadLetter], states: list[CellState],
                placed: list[tuple[str, str]]) -> Outcome:
        return Outcome(readings=tuple(self.readings), camera_events=tuple(self.camera_events),
                       anomalies=tuple(self.anomalies), dead_letters=tuple(dead_letters), statuses=tuple(self.statuses),
                       last_seen=self.last_seen, states=tuple(states), pending=tuple(self.pending), placed=tuple(placed))
