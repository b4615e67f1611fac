"""The gateway's processing of one batch of messages, without I/O.

decode (adapter) -> resolve device -> check time, metric and range -> locate
cell (one vectorized lookup for the batch) -> readings + live state + detectors.
The service around it does the I/O: store writes, acks and outbound publishing.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import msgspec
import numpy as np

from gateway.adapters import IGNORE, build_adapters
from gateway.deadletters import Reason
from gateway.judge import Judge, Recorder, replay
from gateway.messages import Decoded, Inbound, Rejection
from gateway.topics import Topics
from twin.config import Settings
from twin.devices.device import DEVICE_ID, Device, DeviceKind, DeviceStatus
from twin.errors import ConfigError
from twin.sensing.anomalies import Anomaly
from twin.sensing.cellstate import CellState
from twin.sensing.readings import CameraEvent, DeadLetter, Reading


MAX_SEQ_GAP = 100_000  # skipped sequence numbers one jump may count as lost messages


@dataclass(slots=True)
class Outcome:
    """What one batch produced; the service persists it, then acks and publishes."""

    readings: list[Reading] = field(default_factory=list)
    camera_events: list[CameraEvent] = field(default_factory=list)
    anomalies: list[Anomaly] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    statuses: list[tuple[str, DeviceStatus, float]] = field(default_factory=list)
    last_seen: dict[str, float] = field(default_factory=dict)
    states: list[CellState] = field(default_factory=list)
    # Devices first seen through a third-party adapter, to be registered as pending (written first).
    pending: list[Device] = field(default_factory=list)
    # (device id, cell code) of pending devices that were placed: their cell-less readings move to the cell.
    placed: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class PipelineStats:
    messages: int = 0
    observations: int = 0
    readings: int = 0
    camera_events: int = 0
    anomalies_opened: int = 0
    anomalies_cleared: int = 0
    seq_gaps: int = 0
    resolved: int = 0  # messages through resolve(): detection has seen them (or they were recorded for it)
    judged: int = 0  # messages of a group (any member's) judged here from their records
    dead_letters: Counter = field(default_factory=Counter)


class Pipeline:
    """Stateful batch processor: detectors, live state, device registry cache and seq tracking."""

    def __init__(self, settings: Settings, grid, devices: dict[str, Device] | None = None,
                 initial_states: dict[str, CellState] | None = None, *, judges: bool = True,
                 records: bool = False):
        self.settings = settings
        self.limits = settings.gateway
        self.catalog = settings.metrics
        self.grid = grid
        self.topics = Topics(settings.mqtt.prefix)
        self.adapters = build_adapters(settings, self.topics)
        self.zone_cells: dict[tuple[str, str], str] = {}  # (camera id, zone) -> cell, from the adapters' zone maps
        for adapter in self.adapters:
            for key, code in getattr(adapter, "zone_cells", {}).items():
                if code not in grid.by_code:
                    raise ConfigError(f"adapters.{adapter.name}: zone {key[1]} of camera {key[0]} maps to cell {code}, "
                                      "which is not in the grid")
                self.zone_cells[key] = code
        self.devices: dict[str, Device] = dict(devices or {})
        self._sources: dict[str, object] = {}  # unregistered device id -> the third-party adapter that reported it
        self._placed: list[tuple[str, str]] = []
        # In a group of gateways every member records what it would judge, and member 0 judges the
        # records of all (gateway/judge.py, gateway/cluster.py); a gateway on its own judges at once.
        self.judging: Judge | None = Judge(settings, grid, initial_states) if judges else None
        self.judge: Judge | Recorder = Recorder() if records or not judges else self.judging
        self.stats = PipelineStats()
        self._routes: dict[str, object] = {}  # topic -> (adapter, route) | None; topics repeat
        self._last_seq: dict[str, int] = {}
        self._untimed: dict[str, int] = {}  # device id -> the time (us) given to its last reading without one

    # -- registry cache -------------------------------------------------------
    def unknown_ids(self, decoded: Decoded) -> set[str]:
        """Devices the decoded batch speaks of that the registry cache does not know, or knows as pending
        (a technician may have placed them since). An id no device can have is not among them."""
        devices, valid = self.devices, DEVICE_ID.match
        return {i for i in decoded.device_ids()
                if (i not in devices or devices[i].status == DeviceStatus.PENDING) and valid(i)}

    def learn(self, devices: list[Device]) -> list[tuple[str, str]]:
        """Update the registry cache; returns (id, cell) of the cached pending devices that are now placed."""
        placed = []
        for device in devices:
            before = self.devices.get(device.id)
            if (before is not None and before.status == DeviceStatus.PENDING
                    and device.status != DeviceStatus.PENDING and device.cell_code is not None):
                placed.append((device.id, device.cell_code))
            self.devices[device.id] = device
        self._placed += placed
        return placed

    def take_placed(self) -> list[tuple[str, str]]:
        """(id, cell) of the devices placed since the last call, whose cell-less readings need their cell."""
        placed, self._placed = self._placed, []
        return placed

    def forget_pending(self, devices: list[Device]) -> None:
        """Drop pending devices whose registration was not stored, so that they are registered again."""
        for device in devices:
            if self.devices.get(device.id) is device:
                del self.devices[device.id]

    # -- processing -----------------------------------------------------------
    def match(self, topic: str):
        """(adapter, route, third party) of the first adapter that accepts `topic`, or None; cached per topic."""
        found = self._routes.get(topic, False)
        if found is False:
            if len(self._routes) > 200_000:
                self._routes.clear()
            found = None
            for adapter in self.adapters:
                route = adapter.match(topic)
                if route is not None:
                    found = (adapter, route, getattr(adapter, "creates_pending", False))
                    break
            self._routes[topic] = found
        return found

    def decode(self, batch: list[Inbound]) -> Decoded:
        """Step 1, no state: every message decoded by its adapter or rejected."""
        decoded = Decoded(messages=batch)
        rejections = decoded.rejections
        for message in batch:
            self.stats.messages += 1
            before = len(rejections)
            found = self.match(message.topic)
            if found is not None and found[1].kind == IGNORE:
                continue  # received on purpose and dropped (a bridge's chatter, binary snapshots)
            if len(message.payload) > self.limits.max_payload_bytes:
                detail = f"{len(message.payload)} bytes; at most {self.limits.max_payload_bytes} are accepted"
                rejections.append(Rejection(Reason.OVERSIZED, detail, message.topic, message.payload[:4096]))
            elif found is None:
                rejections.append(Rejection(Reason.UNKNOWN_TOPIC, "no route accepts this topic",
                                            message.topic, message.payload))
            elif found[2]:
                self._decode_third_party(found[0], message, found[1], decoded)
            else:
                found[0].decode(message, found[1], decoded)
            for i in range(before, len(rejections)):
                rejections[i] = msgspec.structs.replace(rejections[i], received_at=message.received_at)
        return decoded

    def _decode_third_party(self, adapter, message: Inbound, route, decoded: Decoded) -> None:
        """Decode, and remember which adapter reported each device the registry does not know."""
        sizes = len(decoded.observations), len(decoded.camera), len(decoded.statuses)
        adapter.decode(message, route, decoded)
        new = (decoded.observations[sizes[0]:], decoded.camera[sizes[1]:], decoded.statuses[sizes[2]:])
        for device_id in [o.device_id for o in new[0]] + [c.camera_id for c in new[1]] + [s.device_id for s in new[2]]:
            if device_id not in self.devices and device_id not in self._sources:
                self._sources[device_id] = adapter

    def _pending(self, device_id: str, kind: DeviceKind, now: float, out: Outcome) -> Device | None:
        """A device first seen through a third-party adapter: registered as pending, without a place."""
        adapter = self._sources.pop(device_id, None)
        if adapter is None:
            return None
        info = adapter.describe(device_id)
        device = Device(device_id, info.get("kind") or kind, None, None, model=info.get("model", ""),
                        status=DeviceStatus.PENDING, name=info.get("name", ""), registered_at=now,
                        attributes=info.get("attributes", {}))
        self.devices[device_id] = device
        out.pending.append(device)
        return device

    def resolve(self, decoded: Decoded, now: float) -> Outcome:
        """Step 2, against the registry cache: readings, detections, live state, dead letters."""
        out = Outcome(placed=self.take_placed())
        self._statuses(decoded, now, out)
        self._readings(decoded, now, out)
        self._camera(decoded, now, out)
        self.judge.tick(now, out.anomalies)
        self._apply(out.anomalies)
        out.states = self.judge.take_due(now)
        for rejection in decoded.rejections:
            self.stats.dead_letters[rejection.reason] += 1
            out.dead_letters.append(DeadLetter(
                reason=str(rejection.reason), topic=rejection.topic, payload=rejection.payload,
                received_at=rejection.received_at or now, device_id=rejection.device_id,
                detail=rejection.detail.replace("\x00", "\\x00"),  # details quote payloads; PostgreSQL text: no NUL
            ))
        self.stats.readings += len(out.readings)
        self.stats.camera_events += len(out.camera_events)
        self.stats.resolved += len(decoded.messages)
        return out

    def _apply(self, anomalies: list[Anomaly]) -> None:
        for anomaly in anomalies:
            self.judging.apply(anomaly)
            if anomaly.status == "opened":
                self.stats.anomalies_opened += 1
            else:
                self.stats.anomalies_cleared += 1

    def tick(self, now: float) -> Outcome:
        """Time passing between batches: the detections that wait for it (silent devices,
        deviations nobody confirmed or denied) and cell states held back by the interval."""
        out = Outcome()
        if self.judging is not None:
            self.judging.tick(now, out.anomalies)
            self._apply(out.anomalies)
            out.states = self.judging.take_due(now)
        return out

    def judged(self, calls: list[list], messages: int, now: float) -> Outcome:
        """Recorded calls of `messages` messages (of any member of a group) judged here, in their order."""
        out = Outcome()
        replay(self.judging, calls, now, out.anomalies)
        self.judging.tick(now, out.anomalies)
        self._apply(out.anomalies)
        out.states = self.judging.take_due(now)
        self.stats.judged += messages
        return out

    def process(self, batch: list[Inbound], now: float) -> Outcome:
        """decode + resolve, for callers that keep the registry cache complete themselves."""
        return self.resolve(self.decode(batch), now)

    def flush_states(self, now: float) -> list[CellState]:
        """Cell states whose publication was held back by the interval and is now due."""
        return self.judging.take_due(now) if self.judging is not None else []

    # -- steps ----------------------------------------------------------------
    def _device(self, device_id: str, topic: str, raw: bytes, kind: DeviceKind, rejections: list,
                received_at: float, out: Outcome) -> Device | None:
        device = self.devices.get(device_id) or self._pending(device_id, kind, received_at, out)
        if device is None:
            rejections.append(Rejection(Reason.UNKNOWN_DEVICE, f"device {device_id} is not registered",
                                        topic, raw, device_id, received_at))
            return None
        if device.status == DeviceStatus.DISABLED:
            rejections.append(Rejection(Reason.UNAUTHORIZED, f"device {device_id} is disabled", topic, raw,
                                        device_id, received_at))
            return None
        if kind == DeviceKind.CAMERA and device.kind != DeviceKind.CAMERA:
            rejections.append(Rejection(Reason.UNAUTHORIZED, f"device {device_id} is a {device.kind}, not a camera",
                                        topic, raw, device_id, received_at))
            return None
        return device

    def _time(self, ts: float | None, received: float, now: float) -> tuple[float, bool, str | None]:
        if ts is None:
            return received, True, None
        if ts > now + self.limits.max_future_s:
            return ts, False, Reason.FUTURE_TIMESTAMP
        if ts < now - self.limits.max_age_s:
            return ts, False, Reason.STALE_TIMESTAMP
        return ts, False, None

    def _locate(self, points: list[tuple[float, float]]) -> list[str | None]:
        if not points:
            return []
        lat = np.fromiter((p[0] for p in points), float, len(points))
        lon = np.fromiter((p[1] for p in points), float, len(points))
        return list(self.grid.locate(lon, lat))

    def _statuses(self, decoded: Decoded, now: float, out: Outcome) -> None:
        judge = self.judge
        for status in decoded.statuses:
            judge.at = status.received_at
            device = self.devices.get(status.device_id) or self._pending(status.device_id, DeviceKind.SENSOR,
                                                                          status.received_at, out)
            if device is None:
                # A status of an unregistered device is not worth a dead letter per retained message.
                continue
            if device.status == DeviceStatus.PENDING:
                if status.online:
                    out.last_seen[status.device_id] = max(out.last_seen.get(status.device_id, 0.0), status.received_at)
                continue  # stays pending until a technician places it
            value = DeviceStatus.ONLINE if status.online else DeviceStatus.OFFLINE
            if device.status != DeviceStatus.DISABLED:
                out.statuses.append((status.device_id, value, status.received_at))
                self.judge.status(status.device_id, device.cell_code, status.online, now, out.anomalies)

    def _readings(self, decoded: Decoded, now: float, out: Outcome) -> None:
        rejections = decoded.rejections
        accepted = []  # (observation, device, ts, estimated)
        to_locate: list[int] = []
        judge = self.judge
        for obs in decoded.observations:
            self.stats.observations += 1
            judge.at = obs.received_at
            device = self._device(obs.device_id, obs.topic, obs.raw, DeviceKind.SENSOR, rejections, obs.received_at,
                                  out)
            if device is None:
                continue
            ts, estimated, problem = self._time(obs.ts, obs.received_at or now, now)
            if problem:
                rejections.append(Rejection(problem, f"ts {ts:.3f} is outside the accepted window", obs.topic,
                                            obs.raw, obs.device_id))
                self.judge.time_rejected(obs.device_id, device.cell_code, ts, now, out.anomalies)
                continue
            if obs.lat is None and device.mobile:
                rejections.append(Rejection(Reason.SCHEMA, f"device {device.id} is mobile: loc is required",
                                            obs.topic, obs.raw, obs.device_id, obs.received_at))
                continue
            if estimated:
                ts = self._receive_time(obs.device_id, ts)
            if obs.lat is not None:
                to_locate.append(len(accepted))
            accepted.append((obs, device, ts, estimated))

        cells: list[str | None] = [device.cell_code for _, device, _, _ in accepted]
        located = self._locate([(accepted[i][0].lat, accepted[i][0].lon) for i in to_locate])
        for i, code in zip(to_locate, located):
            cells[i] = code

        catalog = self.catalog.metrics
        for (obs, device, ts, estimated), cell in zip(accepted, cells):
            judge.at = obs.received_at
            unplaced = cell is None and obs.lat is None and device.status == DeviceStatus.PENDING
            if cell is None and not unplaced:
                where = f"lat {obs.lat}, lon {obs.lon}" if obs.lat is not None else "its registered location"
                rejections.append(Rejection(Reason.OUT_OF_AREA, f"{where} is outside every grid cell",
                                            obs.topic, obs.raw, obs.device_id, obs.received_at))
                continue
            self._track_seq(obs.device_id, obs.seq)
            lat, lon = (obs.lat, obs.lon) if obs.lat is not None else (device.lat, device.lon)
            self.judge.observe(obs.device_id, cell, lat, lon, ts, obs.seq, obs.battery, obs.received_at, now,
                                   out.anomalies)
            previous_seen = out.last_seen.get(obs.device_id, 0.0)
            if ts > previous_seen:
                out.last_seen[obs.device_id] = ts
            for name, raw_value in obs.values.items():
                metric = catalog.get(name)
                if metric is None:
                    rejections.append(Rejection(Reason.UNKNOWN_METRIC, f"metric {str(name)[:64]!r} is not in the catalog",
                                                obs.topic, obs.raw, obs.device_id, obs.received_at))
                    continue
                if isinstance(raw_value, bool):
                    if metric.kind != "bool":
                        rejections.append(Rejection(Reason.SCHEMA, f"{name} must be a number, not a boolean",
                                                    obs.topic, obs.raw, obs.device_id, obs.received_at))
                        continue
                    value = 1.0 if raw_value else 0.0
                elif isinstance(raw_value, (int, float)) and math.isfinite(raw_value):
                    value = float(raw_value)
                    if not metric.in_range(value):
                        rejections.append(Rejection(
                            Reason.OUT_OF_RANGE,
                            f"{name} = {value:g} is outside {metric.valid_min:g}..{metric.valid_max:g} {metric.unit}",
                            obs.topic, obs.raw, obs.device_id, obs.received_at))
                        self.judge.out_of_range(obs.device_id, cell, name, value, now, out.anomalies)
                        continue
                else:
                    rejections.append(Rejection(Reason.SCHEMA, f"{str(name)[:64]} must be a finite number or boolean",
                                                obs.topic, obs.raw, obs.device_id, obs.received_at))
                    continue
                out.readings.append(Reading(obs.device_id, name, ts, value, cell, obs.seq, obs.lat, obs.lon, estimated))
                if unplaced:
                    continue  # kept without a cell; counted to its cell once a technician places the device
                judge.reading(obs.device_id, name, value, ts, cell, lat, lon, out.anomalies)

    def _receive_time(self, device_id: str, received: float) -> float:
        """The time of a reading without one: its receive time, or a microsecond (the store's resolution)
        after the device's previous such reading when that is not earlier. Messages read from the broker
        together share a receive time, and two readings of one device at one time are one to the store."""
        us = round(received * 1e6)
        last = self._untimed.get(device_id)
        if last is not None and us <= last:
            us = last + 1
        self._untimed[device_id] = us
        return us / 1e6

    def _track_seq(self, device_id: str, seq: int | None) -> None:
        """Count the sequence numbers a device skipped. A jump of more than MAX_SEQ_GAP either way is a
        counter that restarted or a number that is no counter at all, not lost messages: it only moves the
        mark (counted, a seq of 2**62 made the gateway's figures too large to publish)."""
        if seq is None:
            return
        last = self._last_seq.get(device_id)
        if last is not None and last + 1 < seq <= last + 1 + MAX_SEQ_GAP:
            self.stats.seq_gaps += seq - last - 1
        if last is None or seq > last or last - seq > MAX_SEQ_GAP:
            self._last_seq[device_id] = seq

    def _camera(self, decoded: Decoded, now: float, out: Outcome) -> None:
        rejections, judge = decoded.rejections, self.judge
        for obs in decoded.camera:
            judge.at = obs.received_at
            device = self._device(obs.camera_id, obs.topic, obs.raw, DeviceKind.CAMERA, rejections, obs.received_at,
                                  out)
            if device is None:
                continue
            ts, _, problem = self._time(obs.ts, obs.received_at or now, now)
            if problem:
                rejections.append(Rejection(problem, f"ts {ts:.3f} is outside the accepted window", obs.topic,
                                            obs.raw, obs.camera_id, obs.received_at))
                continue
            lat, lon = (obs.lat, obs.lon) if obs.lat is not None else (device.lat, device.lon)
            cell = self.zone_cells.get((obs.camera_id, obs.zone)) if obs.zone is not None else None
            if cell is None:
                cell = self._locate([(obs.lat, obs.lon)])[0] if obs.lat is not None else device.cell_code
            unplaced = cell is None and obs.lat is None and device.status == DeviceStatus.PENDING
            if cell is None and not unplaced:
                rejections.append(Rejection(Reason.OUT_OF_AREA, "the event's location is outside every grid cell",
                                            obs.topic, obs.raw, obs.camera_id, obs.received_at))
                continue
            if ts > out.last_seen.get(obs.camera_id, 0.0):
                out.last_seen[obs.camera_id] = ts
            out.camera_events.append(CameraEvent(obs.camera_id, obs.event_id, ts, obs.type, obs.confidence, obs.state,
                                                 cell, obs.zone, lat, lon, obs.snapshot_url))
            if unplaced:
                continue
            self.judge.camera(obs.camera_id, obs.event_id, obs.type, obs.state, obs.confidence, ts, cell, lat,
                                  lon, out.anomalies)
