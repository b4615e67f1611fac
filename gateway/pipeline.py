"""The gateway's processing of one batch of messages, without I/O.

decode (adapter) -> resolve device -> check time, metric and range -> locate
cell (one vectorized lookup for the batch) -> readings + live state + detectors.
The service around it does the I/O: store writes, acks and outbound publishing.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np

from gateway.adapters.native import NativeAdapter
from gateway.deadletters import Reason
from gateway.detectors import CameraDetector, ThresholdDetector
from gateway.livestate import LiveState
from gateway.messages import Decoded, Inbound, Rejection
from gateway.topics import Topics
from twin.anomalies import Anomaly
from twin.cells import CellState
from twin.config import Settings
from twin.devices import Device, DeviceKind, DeviceStatus
from twin.readings import CameraEvent, DeadLetter, Reading


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


@dataclass
class PipelineStats:
    messages: int = 0
    observations: int = 0
    readings: int = 0
    camera_events: int = 0
    anomalies_opened: int = 0
    anomalies_cleared: int = 0
    seq_gaps: int = 0
    dead_letters: Counter = field(default_factory=Counter)


class Pipeline:
    """Stateful batch processor: detectors, live state, device registry cache and seq tracking."""

    def __init__(self, settings: Settings, grid, devices: dict[str, Device] | None = None,
                 initial_states: dict[str, CellState] | None = None):
        self.settings = settings
        self.limits = settings.gateway
        self.catalog = settings.metrics
        self.grid = grid
        self.topics = Topics(settings.mqtt.prefix)
        self.adapters = [NativeAdapter(self.topics, self.limits.max_batch_readings)]
        self.devices: dict[str, Device] = dict(devices or {})
        self.thresholds = ThresholdDetector(self.catalog)
        self.cameras = CameraDetector()
        self.live = LiveState(self.limits.state_publish_interval, initial_states)
        self.stats = PipelineStats()
        self._last_ts: dict[tuple[str, str], float] = {}
        self._routes: dict[str, object] = {}  # topic -> (adapter, route) | None; topics repeat
        self._last_seq: dict[str, int] = {}

    # -- registry cache -------------------------------------------------------
    def unknown_ids(self, decoded: Decoded) -> set[str]:
        """Devices the decoded batch speaks of that the registry cache does not know."""
        return {i for i in decoded.device_ids() if i not in self.devices}

    def learn(self, devices: list[Device]) -> None:
        for device in devices:
            self.devices[device.id] = device

    # -- processing -----------------------------------------------------------
    def match(self, topic: str):
        """(adapter, route) of the first adapter that accepts `topic`, or None; cached per topic."""
        found = self._routes.get(topic, False)
        if found is False:
            if len(self._routes) > 200_000:
                self._routes.clear()
            found = None
            for adapter in self.adapters:
                route = adapter.match(topic)
                if route is not None:
                    found = (adapter, route)
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
            if len(message.payload) > self.limits.max_payload_bytes:
                detail = f"{len(message.payload)} bytes; at most {self.limits.max_payload_bytes} are accepted"
                rejections.append(Rejection(Reason.OVERSIZED, detail, message.topic, message.payload[:4096]))
            else:
                found = self.match(message.topic)
                if found is None:
                    rejections.append(Rejection(Reason.UNKNOWN_TOPIC, "no route accepts this topic",
                                                message.topic, message.payload))
                else:
                    found[0].decode(message, found[1], decoded)
            for i in range(before, len(rejections)):
                rejections[i] = replace(rejections[i], received_at=message.received_at)
        return decoded

    def resolve(self, decoded: Decoded, now: float) -> Outcome:
        """Step 2, against the registry cache: readings, detections, live state, dead letters."""
        out = Outcome()
        self._statuses(decoded, out)
        self._readings(decoded, now, out)
        self._camera(decoded, now, out)

        for anomaly in out.anomalies:
            self.live.apply(anomaly)
            if anomaly.status == "opened":
                self.stats.anomalies_opened += 1
            else:
                self.stats.anomalies_cleared += 1
        out.states = self.live.take_due(now)
        for rejection in decoded.rejections:
            self.stats.dead_letters[rejection.reason] += 1
            out.dead_letters.append(DeadLetter(
                reason=str(rejection.reason), topic=rejection.topic, payload=rejection.payload,
                received_at=rejection.received_at or now, device_id=rejection.device_id,
                detail=rejection.detail,
            ))
        self.stats.readings += len(out.readings)
        self.stats.camera_events += len(out.camera_events)
        return out

    def process(self, batch: list[Inbound], now: float) -> Outcome:
        """decode + resolve, for callers that keep the registry cache complete themselves."""
        return self.resolve(self.decode(batch), now)

    def flush_states(self, now: float) -> list[CellState]:
        """Cell states whose publication was held back by the interval and is now due."""
        return self.live.take_due(now)

    # -- steps ----------------------------------------------------------------
    def _device(self, device_id: str, topic: str, raw: bytes, kind: DeviceKind, rejections: list,
                received_at: float) -> Device | None:
        device = self.devices.get(device_id)
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

    def _statuses(self, decoded: Decoded, out: Outcome) -> None:
        for status in decoded.statuses:
            device = self.devices.get(status.device_id)
            if device is None:
                # A status of an unregistered device is not worth a dead letter per retained message.
                continue
            value = DeviceStatus.ONLINE if status.online else DeviceStatus.OFFLINE
            if device.status != DeviceStatus.DISABLED:
                out.statuses.append((status.device_id, value, status.received_at))

    def _readings(self, decoded: Decoded, now: float, out: Outcome) -> None:
        rejections = decoded.rejections
        accepted = []  # (observation, device, ts, estimated)
        to_locate: list[int] = []
        for obs in decoded.observations:
            self.stats.observations += 1
            device = self._device(obs.device_id, obs.topic, obs.raw, DeviceKind.SENSOR, rejections, obs.received_at)
            if device is None:
                continue
            ts, estimated, problem = self._time(obs.ts, obs.received_at or now, now)
            if problem:
                rejections.append(Rejection(problem, f"ts {ts:.3f} is outside the accepted window", obs.topic,
                                            obs.raw, obs.device_id))
                continue
            if obs.lat is None and device.mobile:
                rejections.append(Rejection(Reason.SCHEMA, f"device {device.id} is mobile: loc is required",
                                            obs.topic, obs.raw, obs.device_id, obs.received_at))
                continue
            if obs.lat is not None:
                to_locate.append(len(accepted))
            accepted.append((obs, device, ts, estimated))

        cells: list[str | None] = [device.cell_code for _, device, _, _ in accepted]
        located = self._locate([(accepted[i][0].lat, accepted[i][0].lon) for i in to_locate])
        for i, code in zip(to_locate, located):
            cells[i] = code

        catalog = self.catalog.metrics
        for (obs, device, ts, estimated), cell in zip(accepted, cells):
            if cell is None:
                where = f"lat {obs.lat}, lon {obs.lon}" if obs.lat is not None else "its registered location"
                rejections.append(Rejection(Reason.OUT_OF_AREA, f"{where} is outside every grid cell",
                                            obs.topic, obs.raw, obs.device_id, obs.received_at))
                continue
            self._track_seq(obs.device_id, obs.seq)
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
                        continue
                else:
                    rejections.append(Rejection(Reason.SCHEMA, f"{str(name)[:64]} must be a finite number or boolean",
                                                obs.topic, obs.raw, obs.device_id, obs.received_at))
                    continue
                out.readings.append(Reading(obs.device_id, name, ts, value, cell, obs.seq, obs.lat, obs.lon, estimated))
                key = (obs.device_id, name)
                if ts < self._last_ts.get(key, float("-inf")):
                    continue  # late (out of order): stored, but it does not move live state backwards
                self._last_ts[key] = ts
                self.live.observe(cell, name, value, ts)
                out.anomalies.extend(self.thresholds.update(obs.device_id, name, value, ts, cell, obs.lat, obs.lon))

    def _track_seq(self, device_id: str, seq: int | None) -> None:
        if seq is None:
            return
        last = self._last_seq.get(device_id)
        if last is not None and seq > last + 1:
            self.stats.seq_gaps += seq - last - 1
        if last is None or seq > last:
            self._last_seq[device_id] = seq

    def _camera(self, decoded: Decoded, now: float, out: Outcome) -> None:
        rejections = decoded.rejections
        for obs in decoded.camera:
            device = self._device(obs.camera_id, obs.topic, obs.raw, DeviceKind.CAMERA, rejections, obs.received_at)
            if device is None:
                continue
            ts, _, problem = self._time(obs.ts, obs.received_at or now, now)
            if problem:
                rejections.append(Rejection(problem, f"ts {ts:.3f} is outside the accepted window", obs.topic,
                                            obs.raw, obs.camera_id, obs.received_at))
                continue
            lat, lon = (obs.lat, obs.lon) if obs.lat is not None else (device.lat, device.lon)
            cell = self._locate([(obs.lat, obs.lon)])[0] if obs.lat is not None else device.cell_code
            if cell is None:
                rejections.append(Rejection(Reason.OUT_OF_AREA, "the event's location is outside every grid cell",
                                            obs.topic, obs.raw, obs.camera_id, obs.received_at))
                continue
            if ts > out.last_seen.get(obs.camera_id, 0.0):
                out.last_seen[obs.camera_id] = ts
            out.camera_events.append(CameraEvent(obs.camera_id, obs.event_id, ts, obs.type, obs.confidence, obs.state,
                                                 cell, obs.zone, lat, lon, obs.snapshot_url))
            out.anomalies.extend(self.cameras.update(obs.camera_id, obs.event_id, obs.type, obs.state,
                                                     obs.confidence, ts, cell, lat, lon))
