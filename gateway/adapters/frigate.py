"""Frigate NVR: tracked objects on `frigate/events` become camera detections.

A message of type `new` or `update` starts a detection (the pipeline keeps one
per Frigate event id), `end` ends it. The camera's zones map to grid cells
through the configured zone map; every other Frigate topic (counts, stats,
`frigate/{camera}/{label}/snapshot` JPEG frames) is received and ignored, never
read as JSON.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from gateway.adapters._common import IGNORED, AdapterRoute, ThirdPartyAdapter, check_filters, epoch, loads
from gateway.adapters.native import CONTROL, PayloadError
from gateway.deadletters import Reason
from gateway.messages import CameraObservation, Decoded
from mqttwire.packets import Inbound
from twin.devices.device import DeviceKind, check_device_id
from twin.errors import ConfigError, DeviceError
from twin.grid.codes import is_cell_code

TYPES = ("new", "update", "end")
# Frigate labels -> GridTwin detection types; other labels keep their own name.
LABELS = {"fire": "fire", "smoke": "smoke"}
_TYPE_UNSAFE = re.compile(r"[^a-z0-9_]+")


class FrigateAdapter(ThirdPartyAdapter):
    """Frigate's `events` topic. Options: `cameras.{name}.device` (a registered camera id; default
    `frigate-{name}`), `cameras.{name}.zones` (Frigate zone -> cell code), `labels` (label -> type,
    "" drops the label) and `url` (Frigate's address, for snapshot links)."""

    name = "frigate"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "topic_prefix": "frigate", "device_prefix": "frigate", "cameras": {}, "labels": {}, "url": ""
    }

    def __init__(self, settings, topics, table=None):
        super().__init__(settings, topics, table)
        self.prefix = self.options["topic_prefix"].strip("/")
        self._filters = check_filters(f"adapters.{self.name}.topic_prefix", [f"{self.prefix}/events"], topics)
        self.labels = dict(LABELS)
        for label, type_ in self.options["labels"].items():
            if not isinstance(type_, str) or (type_ and _TYPE_UNSAFE.sub("_", type_.lower()) != type_):
                raise ConfigError(f"adapters.frigate.labels.{label}: give a type in lower case, digits and '_', "
                                  "or \"\" to drop the label")
            self.labels[label] = type_
        self.cameras: dict[str, str] = {}
        self.zones: dict[str, dict[str, str]] = {}
        self.zone_cells: dict[tuple[str, str], str] = {}  # (camera id, zone) -> cell code, for the pipeline
        for camera, spec in self.options["cameras"].items():
            self._camera_option(camera, spec)

    def _camera_option(self, camera: str, spec: object) -> None:
        where = f"adapters.frigate.cameras.{camera}"
        if not isinstance(spec, dict) or set(spec) - {"device", "zones"}:
            raise ConfigError(f"{where}: give a table with `device` and/or `zones`")
        device = spec.get("device")
        if device is not None:
            try:
                check_device_id(device)
            except DeviceError as exc:
                raise ConfigError(f"{where}.device: {exc}") from None
        camera_id = device or self.identify(camera, name=camera, kind=DeviceKind.CAMERA)
        if device is not None:
            self.note(device, camera, name=camera, model="Frigate camera", kind=DeviceKind.CAMERA)
        if camera_id is None:
            raise ConfigError(f"{where}: the camera name gives no usable device id; set `device`")
        self.cameras[camera] = camera_id
        zones = spec.get("zones", {})
        if not isinstance(zones, dict):
            raise ConfigError(f"{where}.zones: give a table of Frigate zone -> 15-digit cell code")
        for zone, code in zones.items():
            if not isinstance(code, str) or not is_cell_code(code):
                raise ConfigError(f"{where}.zones.{zone}: {code!r} is not a 15-digit cell code")
            self.zone_cells[(camera_id, zone)] = code
        self.zones[camera_id] = dict(zones)

    @property
    def filters(self) -> tuple[str, ...]:
        return self._filters

    def match(self, topic: str) -> AdapterRoute | None:
        if topic == f"{self.prefix}/events":
            return AdapterRoute("events")
        if topic.startswith(self.prefix + "/"):
            return IGNORED  # availability, counts, stats, reviews, snapshots (binary JPEG)
        return None

    def decode(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        if route.kind != "events":
            return
        camera_id = None
        try:
            doc = loads(message.payload)
            if not isinstance(doc, dict):
                raise PayloadError(Reason.SCHEMA, "a Frigate event must be a JSON object")
            after = doc.get("after")
            if not isinstance(after, dict):
                raise PayloadError(Reason.SCHEMA, "the event has no `after` object")
            camera = after.get("camera")
            if not isinstance(camera, str) or not camera:
                raise PayloadError(Reason.SCHEMA, "after.camera must be a camera name")
            camera_id = self.cameras.get(camera) or self.identify(camera, name=camera, kind=DeviceKind.CAMERA)
            if camera_id is None:
                raise PayloadError(Reason.SCHEMA, f"camera name {camera[:40]!r} gives no usable device id")
            observation = self._detection(doc, after, camera_id, message)
        except PayloadError as exc:
            self.reject(out, message, exc.reason, str(exc), camera_id)
            return
        if observation is not None:
            out.camera.append(observation)

    def _detection(self, doc: dict, after: dict, camera_id: str, message: Inbound) -> CameraObservation | None:
        kind = doc.get("type")
        if kind not in TYPES:
            raise PayloadError(Reason.SCHEMA, 'type must be "new", "update" or "end"')
        event_id = after.get("id")
        if not isinstance(event_id, str) or not event_id or len(event_id) > 200 or CONTROL.search(event_id):
            raise PayloadError(Reason.SCHEMA, "after.id must be the event id (at most 200 characters, no control "
                                              "characters)")
        label = after.get("label")
        if not isinstance(label, str) or not label:
            raise PayloadError(Reason.SCHEMA, "after.label must be the object's label")
        if after.get("false_positive") is True:
            return None
        type_ = self.labels.get(label, _TYPE_UNSAFE.sub("_", label.lower()).strip("_")[:64])
        if not type_:
            return None  # a label the configuration drops
        score = after.get("top_score")
        if score is None:
            score = after.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= score <= 1.0:
            raise PayloadError(Reason.SCHEMA, "after.top_score must be a number from 0 to 1")
        state = "end" if kind == "end" else "start"
        stamp = after.get("end_time") if state == "end" else after.get("start_time")
        if stamp is None:
            stamp = after.get("frame_time")
        ts = None if stamp is None else epoch(stamp)
        snapshot = None
        if self.options["url"] and after.get("has_snapshot"):
            snapshot = f"{self.options['url'].rstrip('/')}/api/events/{event_id}/snapshot.jpg"
        return CameraObservation(
            camera_id=camera_id, ts=ts, event_id=event_id, type=type_, confidence=float(score), state=state,
            topic=message.topic, raw=message.payload, received_at=message.received_at,
            zone=self._zone(camera_id, after), snapshot_url=snapshot,
        )

    def _zone(self, camera_id: str, after: dict) -> str | None:
        """The first current zone with a cell, else the first entered one with a cell, else the first current one."""
        mapped = self.zones.get(camera_id, {})
        current = [z for z in after.get("current_zones") or () if isinstance(z, str) and not CONTROL.search(z)]
        entered = [z for z in after.get("entered_zones") or () if isinstance(z, str) and not CONTROL.search(z)]
        for zone in current + entered:
            if zone in mapped:
                return zone
        return current[0][:200] if current else None
