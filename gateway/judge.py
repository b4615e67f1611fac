"""The judge: the part of the gateway that must see every device's messages, in order.

Detection (gateway/detectors/) compares a reading with its device's own history, with every
device of the metric right now (peers, the area-wide shift) and with the devices and cameras in
the same and neighbouring cells; live cell state is the worst anomaly of a cell over all its
devices. None of that can be split by device without changing what it decides, so one judge
holds it. The rest of the pipeline (decoding, validation, cell lookup, storage) has no state
across devices and scales out.

Two implementations of one interface (`observe`, `time_rejected`, `status`, `out_of_range`,
`reading`, `camera`, `tick`, `take_due`):

- `Judge` decides, in the gateway that runs detection (a single gateway, or member 0 of a
  group: docs/scaling.md);
- `Recorder` writes the calls down, in the other members of a group, and `replay` makes the
  same calls on the judge of member 0, which receives them as one hand-off message per batch
  (gateway/cluster.py).
"""

from __future__ import annotations

from gateway.detectors import DetectionEngine
from gateway.livestate import LiveState

__all__ = ["Judge", "Recorder", "replay", "TS_INDEX"]


class Judge:
    """Detection engine, live cell state and the latest judged time of each device's metric."""

    def __init__(self, settings, grid, initial_states=None):
        self.at = 0.0  # the receive time of the message judged; only a Recorder needs it
        self.detection = DetectionEngine(settings.detection, settings.metrics, grid)
        self.live = LiveState(settings.gateway.state_publish_interval, initial_states)
        self._last_ts: dict[tuple[str, str], float] = {}

    def observe(self, device_id, cell, lat, lon, ts, seq, battery, received_at, now, out) -> None:
        self.detection.observe(device_id, cell, lat, lon, ts, seq, battery, received_at, now, out)

    def time_rejected(self, device_id, cell, ts, now, out) -> None:
        self.detection.time_rejected(device_id, cell, ts, now, out)

    def status(self, device_id, cell, online, now, out) -> None:
        self.detection.status(device_id, cell, online, now, out)

    def out_of_range(self, device_id, cell, name, value, now, out) -> None:
        self.detection.out_of_range(device_id, cell, name, value, now, out)

    def reading(self, device_id, name, value, ts, cell, lat, lon, out) -> None:
        key = (device_id, name)
        if ts < self._last_ts.get(key, float("-inf")):
            return  # late (out of order): stored, but it does not move live state backwards
        self._last_ts[key] = ts
        self.live.observe(cell, name, value, ts)
        self.detection.reading(device_id, name, value, ts, cell, lat, lon, out)

    def camera(self, camera_id, event_id, type_, state, confidence, ts, cell, lat, lon, out) -> None:
        self.detection.camera(camera_id, event_id, type_, state, confidence, ts, cell, lat, lon, out)

    def tick(self, now, out) -> None:
        self.detection.tick(now, out)

    def apply(self, anomaly) -> None:
        self.live.apply(anomaly)

    def take_due(self, now):
        return self.live.take_due(now)


class Recorder:
    """Stands in for the judge in a member of a group: every call becomes a short list, taken per
    batch by `take`: the operation, `at` (the receive time of the message it comes from, which the
    pipeline sets before its calls; member 0 merges the members' records in that order) and the
    arguments but `now` and `out`, which are the judge's own when it replays them."""

    def __init__(self):
        self.calls: list[list] = []
        self.at = 0.0

    def observe(self, device_id, cell, lat, lon, ts, seq, battery, received_at, now, out) -> None:
        self.calls.append(["o", self.at, device_id, cell, lat, lon, ts, seq, battery, received_at])

    def time_rejected(self, device_id, cell, ts, now, out) -> None:
        self.calls.append(["t", self.at, device_id, cell, ts])

    def status(self, device_id, cell, online, now, out) -> None:
        self.calls.append(["s", self.at, device_id, cell, online])

    def out_of_range(self, device_id, cell, name, value, now, out) -> None:
        self.calls.append(["x", self.at, device_id, cell, name, value])

    def reading(self, device_id, name, value, ts, cell, lat, lon, out) -> None:
        self.calls.append(["r", self.at, device_id, name, value, ts, cell, lat, lon])

    def camera(self, camera_id, event_id, type_, state, confidence, ts, cell, lat, lon, out) -> None:
        self.calls.append(["c", self.at, camera_id, event_id, type_, state, confidence, ts, cell, lat, lon])

    def tick(self, now, out) -> None:
        pass  # time passing is the judge's to notice

    def apply(self, anomaly) -> None:
        pass

    def take_due(self, now) -> list:
        return []

    def take(self) -> list[list]:
        calls, self.calls = self.calls, []
        return calls


# Where a call keeps its timestamp (the stream clock learns from it), by operation.
TS_INDEX = {"o": 6, "t": 4, "c": 7}


def replay(judge: Judge, calls: list[list], now: float, out: list) -> None:
    """Make a Recorder's calls on `judge`, in their order, at the judge's `now`.

    Raises ValueError on a call it does not know (a member of another version)."""
    for call in calls:
        op = call[0]
        if op == "r":
            judge.reading(*call[2:9], out)
        elif op == "o":
            judge.observe(*call[2:10], now, out)
        elif op == "c":
            judge.camera(*call[2:11], out)
        elif op == "s":
            judge.status(*call[2:5], now, out)
        elif op == "t":
            judge.time_rejected(*call[2:5], now, out)
        elif op == "x":
            judge.out_of_range(*call[2:6], now, out)
        else:
            raise ValueError(f"unknown judge call {op!r}")
