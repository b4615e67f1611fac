"""The gateway's processing of one batch of messages, without I/O.

decode (adapter) -> resolve device -> check time, metric and range -> locate
cell (one vectorized lookup for the batch) -> readings + live state + detectors.
The service around it does the I/O: store writes, acks and outbound publishing.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from gateway.adapters import IGNORE, build_adapters
from gateway.deadletters import Reason
from gateway.handoff import Record
from gateway.judge import Judge, Recorder, replay
from gateway.messages import Decoded, Observation, Rejection
from gateway.outcome import Draft, Outcome
from gateway.registry import RegistryCache
from gateway.seqgaps import SeqGaps
from gateway.types import Adapter, Judging
from mqttwire.packets import Inbound
from mqttwire.topics import Topics
from twin.config import Settings
from twin.devices.device import Device, DeviceKind, DeviceStatus
from twin.errors import ConfigError
from twin.sensing.anomalies import Anomaly
from twin.sensing.cellstate import CellState
from twin.sensing.readings import CameraEvent, DeadLetter, Reading

if TYPE_CHECKING:
    from twin.grid.cells import Grid


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

    def __init__(self, settings: Settings, grid: Grid, devices: dict[str, Device] | None = None,
                 initial_states: dict[str, CellState] | None = None, *, judges: bool = True,
                 records: bool = False):
        self.settings = settings
        self.gateway_settings = settings.gateway  # the intake's limits: payload size, accepted time window
        self.catalog = settings.metrics
        self.grid = grid
        self.topics = Topics(settings.mqtt.prefix)
        self.adapters: list[Adapter] = build_adapters(settings, self.topics)
        self.zone_cells: dict[tuple[str, str], str] = {}  # (camera id, zone) -> cell, from the adapters' zone maps
        for adapter in self.adapters:
            for key, code in adapter.zone_cells.items():
                if code not in grid.by_code:
                    raise ConfigError(f"adapters.{adapter.name}: zone {key[1]} of camera {key[0]} maps to cell {code}, "
                                      "which is not in the grid")
                self.zone_cells[key] = code
        self.registry = RegistryCache(devices)
        self.devices = self.registry.devices
        # In a group of gateways every member records what it would judge, and the judge of the group
        # judges the records of all (gateway/judge.py, gateway/cluster.py); a gateway on its own judges at once.
        self.judging: Judge | None = Judge(settings, grid, initial_states) if judges else None
        self.judge: Judging = Recorder() if records or self.judging is None else self.judging
        self.stats = PipelineStats()
        self._routes: dict[str, tuple[Adapter, Any] | None] = {}  # topic -> (adapter, route) | None; topics repeat
        self.seq_gaps = SeqGaps()
        self._untimed: dict[str, int] = {}  # device id -> the time (us) given to its last reading without one

    # -- adapters ---------------------------------------------------------------
    def learned_subscriptions(self) -> list[str]:
        """Topics the adapters learned to subscribe to since the last call (Home Assistant's state topics)."""
        return [t for a in self.adapters for t in a.take_subscriptions()]

    # -- processing -----------------------------------------------------------
    def match(self, topic: str) -> tuple[Adapter, Any] | None:
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
        return found  # type: ignore[return-value]

    def decode(self, batch: list[Inbound]) -> Decoded:
        """Step 1, no state: every message decoded by its adapter or rejected."""
        decoded = Decoded(messages=batch)
        rejections = decoded.rejections
        max_bytes = self.gateway_settings.max_payload_bytes
        for message in batch:
            self.stats.messages += 1
            before = len(rejections)
            found = self.match(message.topic)
            if found is not None and found[1].kind == IGNORE:
                continue  # received on purpose and dropped (a bridge's chatter, binary snapshots)
            if len(message.payload) > max_bytes:
                detail = f"{len(message.payload)} bytes; at most {max_bytes} are accepted"
                rejections.append(Rejection(Reason.OVERSIZED, detail, message.topic, message.payload[:4096]))
            elif found is None:
                rejections.append(Rejection(Reason.UNKNOWN_TOPIC, "no route accepts this topic",
                                            message.topic, message.payload))
            elif found[0].creates_pending:
                self._decode_third_party(found[0], message, found[1], decoded)
            else:
                found[0].decode(message, found[1], decoded)
            for i in range(before, len(rejections)):
                rejections[i] = msgspec.structs.replace(rejections[i], received_at=message.received_at)
        return decoded

    def _decode_third_party(self, adapter: Adapter, message: Inbound, route: Any, decoded: Decoded) -> None:
        """Decode, and remember which adapter reported each device the registry does not know."""
        sizes = len(decoded.observations), len(decoded.camera), len(decoded.statuses)
        adapter.decode(message, route, decoded)
        new_ids = ([o.device_id for o in decoded.observations[sizes[0]:]]
                   + [c.camera_id for c in decoded.camera[sizes[1]:]]
                   + [s.device_id for s in decoded.statuses[sizes[2]:]])
        self.registry.reported(new_ids, adapter)

    def _pending(self, device_id: str, kind: DeviceKind, now: float, out: Draft) -> Device | None:
        device = self.registry.pending(device_id, kind, now)
        if device is not None:
            out.pending.append(device)
        return device

    def resolve(self, decoded: Decoded, now: float) -> Outcome:
        """Step 2, against the registry cache: readings, detections, live state, dead letters."""
        out = Draft()
        placed = self.registry.take_placed()
        self._statuses(decoded, now, out)
        self._readings(decoded, now, out)
        self._camera(decoded, now, out)
        self.judge.tick(now, out.anomalies)
        self._apply(out.anomalies)
        letters = []
        for rejection in decoded.rejections:
            self.stats.dead_letters[rejection.reason] += 1
            letters.append(DeadLetter(
                reason=str(rejection.reason), topic=rejection.topic, payload=rejection.payload,
                received_at=rejection.received_at or now, device_id=rejection.device_id,
                detail=rejection.detail.replace("\x00", "\\x00"),  # details quote payloads; PostgreSQL text: no NUL
            ))
        self.stats.readings += len(out.readings)
        self.stats.camera_events += len(out.camera_events)
        self.stats.resolved += len(decoded.messages)
        return out.outcome(dead_letters=letters, states=self.judge.take_due(now), placed=placed)

    def _apply(self, anomalies: list[Anomaly]) -> None:
        for anomaly in anomalies:
            self.judging.apply(anomaly)  # type: ignore[union-attr]  # anomalies come only from a judge
            if anomaly.status == "opened":
                self.stats.anomalies_opened += 1
            else:
                self.stats.anomalies_cleared += 1

    def tick(self, now: float) -> Outcome:
        """Time passing between batches: the detections that wait for it (silent devices,
        deviations nobody confirmed or denied) and cell states held back by the interval."""
        if self.judging is None:
            return Outcome()
        anomalies: list[Anomaly] = []
        self.judging.tick(now, anomalies)
        self._apply(anomalies)
        return Outcome(anomalies=tuple(anomalies), states=tuple(self.judging.take_due(now)))

    def judged(self, calls: Sequence[Record], messages: int, now: float) -> Outcome:
        """Recorded calls of `messages` messages (of any member of a group) judged here, in their order."""
        if self.judging is None:
            raise RuntimeError("this pipeline does not judge (a member of a group that hands off its records)")
        anomalies: list[Anomaly] = []
        replay(self.judging, calls, now, anomalies)
        self.judging.tick(now, anomalies)
        self._apply(anomalies)
        self.stats.judged += messages
        return Outcome(anomalies=tuple(anomalies), states=tuple(self.judging.take_due(now)))

    def process(self, batch: list[Inbound], now: float) -> Outcome:
        """decode + resolve, for callers that keep the registry cache complete themselves."""
        return self.resolve(self.decode(batch), now)

    # -- steps ----------------------------------------------------------------
    def _device(self, device_id: str, topic: str, raw: bytes, kind: DeviceKind, rejections: list[Rejection],
                received_at: float, out: Draft) -> Device | None:
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
        if ts > now + self.gateway_settings.max_future_s:
            return ts, False, Reason.FUTURE_TIMESTAMP
        if ts < now - self.gateway_settings.max_age_s:
            return ts, False, Reason.STALE_TIMESTAMP
        return ts, False, None

    def _locate(self, points: Sequence[tuple[float | None, float | None]]) -> list[str | None]:
        if not points:
            return []
        lat = np.fromiter((p[0] for p in points), float, len(points))
        lon = np.fromiter((p[1] for p in points), float, len(points))
        return list(self.grid.locate(lon, lat))

    def _statuses(self, decoded: Decoded, now: float, out: Draft) -> None:
        judge = self.judge
        for status in decoded.statuses:
            device = self.devices.get(status.device_id) or self._pending(status.device_id, DeviceKind.SENSOR,
                                                                          status.received_at, out)
            if device is None:
                # A status of an unregistered device is not worth a dead letter per retained message.
                continue
            if device.status == DeviceStatus.PENDING:
                if status.online:
                    out.seen(status.device_id, status.received_at)
                continue  # stays pending until a technician places it
            value = DeviceStatus.ONLINE if status.online else DeviceStatus.OFFLINE
            if device.status != DeviceStatus.DISABLED:
                out.statuses.append((status.device_id, value, status.received_at))
                judge.status(status.received_at, status.device_id, device.cell_code, status.online, now, out.anomalies)

    def _readings(self, decoded: Decoded, now: float, out: Draft) -> None:
        accepted = self._accepted(decoded, now, out)
        cells: list[str | None] = [device.cell_code for _, device, _, _ in accepted]
        to_locate = [i for i, (obs, _, _, _) in enumerate(accepted) if obs.lat is not None]
        located = self._locate([(accepted[i][0].lat, accepted[i][0].lon) for i in to_locate])
        for i, code in zip(to_locate, located):
            cells[i] = code
        rejections, judge = decoded.rejections, self.judge
        for (obs, device, ts, estimated), cell in zip(accepted, cells):
            unplaced = cell is None and obs.lat is None and device.status == DeviceStatus.PENDING
            if cell is None and not unplaced:
                where = f"lat {obs.lat}, lon {obs.lon}" if obs.lat is not None else "its registered location"
                rejections.append(Rejection(Reason.OUT_OF_AREA, f"{where} is outside every grid cell",
                                            obs.topic, obs.raw, obs.device_id, obs.received_at))
                continue
            if obs.seq is not None:
                self.stats.seq_gaps += self.seq_gaps.note(obs.device_id, obs.seq)
            lat, lon = (obs.lat, obs.lon) if obs.lat is not None else (device.lat, device.lon)
            judge.observe(obs.received_at, obs.device_id, cell, lat, lon, ts, obs.seq, obs.battery, now,
                          out.anomalies)
            out.seen(obs.device_id, ts)
            for name, raw_value in obs.values.items():
                value = self._value(obs, name, raw_value, cell, now, rejections, out.anomalies)
                if value is None:
                    continue
                out.readings.append(Reading(obs.device_id, name, ts, value, cell, obs.seq, obs.lat, obs.lon, estimated))
                if cell is not None:  # else unplaced: kept without a cell, counted to it once a technician places it
                    judge.reading(obs.received_at, obs.device_id, name, value, ts, cell, lat, lon, out.anomalies)

    def _accepted(self, decoded: Decoded, now: float, out: Draft) -> list[tuple[Observation, Device, float, bool]]:
        """The observations of registered (or pending) devices in the accepted time window, with their
        device, timestamp and whether the timestamp is the receive time."""
        rejections = decoded.rejections
        accepted = []
        for obs in decoded.observations:
            self.stats.observations += 1
            device = self._device(obs.device_id, obs.topic, obs.raw, DeviceKind.SENSOR, rejections, obs.received_at,
                                  out)
            if device is None:
                continue
            ts, estimated, problem = self._time(obs.ts, obs.received_at or now, now)
            if problem:
                rejections.append(Rejection(problem, f"ts {ts:.3f} is outside the accepted window", obs.topic,
                                            obs.raw, obs.device_id))
                self.judge.time_rejected(obs.received_at, obs.device_id, device.cell_code, ts, now, out.anomalies)
                continue
            if obs.lat is None and device.mobile:
                rejections.append(Rejection(Reason.SCHEMA, f"device {device.id} is mobile: loc is required",
                                            obs.topic, obs.raw, obs.device_id, obs.received_at))
                continue
            if estimated:
                ts = self._receive_time(obs.device_id, ts)
            accepted.append((obs, device, ts, estimated))
        return accepted

    def _value(self, obs: Observation, name: str, raw_value: object, cell: str | None, now: float,
               rejections: list[Rejection], anomalies: list[Anomaly]) -> float | None:
        """The reading's value of metric `name` as a float, or None after rejecting it."""
        metric = self.catalog.metrics.get(name)
        if metric is None:
            rejections.append(Rejection(Reason.UNKNOWN_METRIC, f"metric {str(name)[:64]!r} is not in the catalog",
                                        obs.topic, obs.raw, obs.device_id, obs.received_at))
            return None
        if isinstance(raw_value, bool):
            if metric.kind != "bool":
                rejections.append(Rejection(Reason.SCHEMA, f"{name} must be a number, not a boolean",
                                            obs.topic, obs.raw, obs.device_id, obs.received_at))
                return None
            return 1.0 if raw_value else 0.0
        if not (isinstance(raw_value, (int, float)) and math.isfinite(raw_value)):
            rejections.append(Rejection(Reason.SCHEMA, f"{str(name)[:64]} must be a finite number or boolean",
                                        obs.topic, obs.raw, obs.device_id, obs.received_at))
            return None
        value = float(raw_value)
        if not metric.in_range(value):
            rejections.append(Rejection(
                Reason.OUT_OF_RANGE,
                f"{name} = {value:g} is outside {metric.valid_min:g}..{metric.valid_max:g} {metric.unit}",
                obs.topic, obs.raw, obs.device_id, obs.received_at))
            self.judge.out_of_range(obs.received_at, obs.device_id, cell, name, value, now, anomalies)
            return None
        return value

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

    def _camera(self, decoded: Decoded, now: float, out: Draft) -> None:
        rejections, judge = decoded.rejections, self.judge
        for obs in decoded.camera:
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
            out.seen(obs.camera_id, ts)
            out.camera_events.append(CameraEvent(obs.camera_id, obs.event_id, ts, obs.type, obs.confidence, obs.state,
                                                 cell, obs.zone, lat, lon, obs.snapshot_url))
            if cell is None:
                continue  # unplaced
            judge.camera(obs.received_at, obs.camera_id, obs.event_id, obs.type, obs.state, obs.confidence, ts, cell,
                         lat, lon, out.anomalies)
