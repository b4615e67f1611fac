"""The judge: the part of the gateway that must see every device's messages, in order.

Detection (gateway/detectors/) compares a reading with its device's own history, with every
device of the metric right now (peers, the area-wide shift) and with the devices and cameras in
the same and neighbouring cells; live cell state is the worst anomaly of a cell over all its
devices. None of that can be split by device without changing what it decides, so one judge
holds it. The rest of the pipeline (decoding, validation, cell lookup, storage) has no state
across devices and scales out.

Two implementations of one interface (`gateway.types.Judging`): every call names `at`, the
receive time of the message it comes from, and `out`, where anomalies go.

- `Judge` decides, in the gateway that runs detection (a single gateway, or the judge of a
  group: docs/scaling.md);
- `Recorder` writes the calls down as records (gateway/handoff.py), in every member of a group;
  the judge replays them (`replay`), merged from every member's hand-offs (gateway/cluster.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gateway.detectors import DetectionEngine
from gateway.handoff import (
    AnyRecord,
    CameraRecord,
    ObserveRecord,
    OutOfRangeRecord,
    ReadingRecord,
    Record,
    StatusRecord,
    TimeRejectedRecord,
)
from gateway.livestate import LiveState
from twin.config import Settings
from twin.sensing.anomalies import Anomaly
from twin.sensing.cellstate import CellState

if TYPE_CHECKING:
    from gateway.types import DataClock, JudgedSink
    from mqttwire.packets import Inbound
    from twin.grid.cells import Grid

__all__ = ["Judge", "LocalLink", "Recorder", "replay"]


class Judge:
    """Detection engine, live cell state and the latest judged time of each device's metric."""

    def __init__(self, settings: Settings, grid: Grid, initial_states: dict[str, CellState] | None = None):
        self.detection = DetectionEngine(settings.detection, settings.metrics, grid)
        self.live = LiveState(settings.gateway.state_publish_interval, initial_states)
        self._last_ts: dict[tuple[str, str], float] = {}

    def observe(self, at: float, device_id: str, cell: str | None, lat: float | None, lon: float | None, ts: float,
                seq: int | None, battery: float | None, now: float, out: list[Anomaly]) -> None:
        self.detection.observe(device_id, cell, lat, lon, ts, seq, battery, at, now, out)

    def time_rejected(self, at: float, device_id: str, cell: str | None, ts: float, now: float,
                      out: list[Anomaly]) -> None:
        self.detection.time_rejected(device_id, cell, ts, now, out)

    def status(self, at: float, device_id: str, cell: str | None, online: bool, now: float,
               out: list[Anomaly]) -> None:
        self.detection.status(device_id, cell, online, now, out)

    def out_of_range(self, at: float, device_id: str, cell: str | None, metric: str, value: float, now: float,
                     out: list[Anomaly]) -> None:
        self.detection.out_of_range(device_id, cell, metric, value, now, out)

    def reading(self, at: float, device_id: str, metric: str, value: float, ts: float, cell: str,
                lat: float | None, lon: float | None, out: list[Anomaly]) -> None:
        key = (device_id, metric)
        if ts < self._last_ts.get(key, float("-inf")):
            return  # late (out of order): stored, but it does not move live state backwards
        self._last_ts[key] = ts
        self.live.observe(cell, metric, value, ts)
        self.detection.reading(device_id, metric, value, ts, cell, lat, lon, out)

    def camera(self, at: float, camera_id: str, event_id: str, type_: str, state: str, confidence: float, ts: float,
               cell: str, lat: float | None, lon: float | None, out: list[Anomaly]) -> None:
        self.detection.camera(camera_id, event_id, type_, state, confidence, ts, cell, lat, lon, out)

    def tick(self, now: float, out: list[Anomaly]) -> None:
        self.detection.tick(now, out)

    def apply(self, anomaly: Anomaly) -> None:
        self.live.apply(anomaly)

    def take_due(self, now: float) -> list[CellState]:
        return self.live.take_due(now)


class Recorder:
    """Stands in for the judge in a member of a group: every call becomes a record (gateway/handoff.py),
    taken per batch by `take`; `now` and `out` are left out, being the judge's own when it replays them."""

    def __init__(self) -> None:
        self.calls: list[AnyRecord] = []

    def observe(self, at: float, device_id: str, cell: str | None, lat: float | None, lon: float | None, ts: float,
                seq: int | None, battery: float | None, now: float, out: list[Anomaly]) -> None:
        self.calls.append(ObserveRecord(at, device_id, cell, lat, lon, ts, seq, battery))

    def time_rejected(self, at: float, device_id: str, cell: str | None, ts: float, now: float,
                      out: list[Anomaly]) -> None:
        self.calls.append(TimeRejectedRecord(at, device_id, cell, ts))

    def status(self, at: float, device_id: str, cell: str | None, online: bool, now: float,
               out: list[Anomaly]) -> None:
        self.calls.append(StatusRecord(at, device_id, cell, online))

    def out_of_range(self, at: float, device_id: str, cell: str | None, metric: str, value: float, now: float,
                     out: list[Anomaly]) -> None:
        self.calls.append(OutOfRangeRecord(at, device_id, cell, metric, value))

    def reading(self, at: float, device_id: str, metric: str, value: float, ts: float, cell: str,
                lat: float | None, lon: float | None, out: list[Anomaly]) -> None:
        self.calls.append(ReadingRecord(at, device_id, metric, value, ts, cell, lat, lon))

    def camera(self, at: float, camera_id: str, event_id: str, type_: str, state: str, confidence: float, ts: float,
               cell: str, lat: float | None, lon: float | None, out: list[Anomaly]) -> None:
        self.calls.append(CameraRecord(at, camera_id, event_id, type_, state, confidence, ts, cell, lat, lon))

    def tick(self, now: float, out: list[Anomaly]) -> None:
        pass  # time passing is the judge's to notice

    def apply(self, anomaly: Anomaly) -> None:
        pass

    def take_due(self, now: float) -> list[CellState]:
        return []

    def take(self) -> list[AnyRecord]:
        calls, self.calls = self.calls, []
        return calls


def replay(judge: Judge, calls: Sequence[Record], now: float, out: list[Anomaly]) -> None:
    """Make recorded calls on `judge`, in their order, at the judge's `now`."""
    for call in calls:
        call.replay(judge, now, out)


class LocalLink:
    """The link to the judge of a gateway on its own (`gateway.types.JudgeLink`): its pipeline judges
    as it resolves each batch, so there is nothing to carry (a group's link: gateway/cluster.py)."""

    filters: tuple[str, ...] = ()
    counts = False

    def __init__(self, clock: DataClock):
        self.intake = clock

    def take(self, batch: list[Inbound], now: float) -> list[Inbound]:
        return batch

    def recorded(self, messages: int, now: float) -> None:
        pass

    async def run(self, put: JudgedSink) -> None:
        await asyncio.sleep(0)

    async def finish(self, put: JudgedSink) -> None:
        pass

    def figures(self) -> dict[str, int]:
        return {"handoffs_sent": 0, "handoffs_received": 0}
