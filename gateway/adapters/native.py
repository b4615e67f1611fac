"""The native GridTwin format: readings (one object or an array), camera events and status."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Literal, overload

import orjson

from gateway.deadletters import Reason
from gateway.messages import CameraObservation, Decoded, Observation, Rejection, StatusObservation
from mqttwire.packets import Inbound
from mqttwire.topics import Route, Topics

CAMERA_STATES = ("start", "end")
# An event type becomes the last level of the event topic: no '/', '+', '#' or spaces.
EVENT_TYPE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# C0 and C1 control characters: never part of an id, a zone or a URL, and PostgreSQL text cannot hold NUL.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class PayloadError(ValueError):
    """A payload field is invalid; `reason` is the dead-letter reason."""

    def __init__(self, reason: Reason, detail: str):
        super().__init__(detail)
        self.reason = reason


def parse_ts(value: object) -> float | None:
    """RFC 3339 with an offset, or Unix epoch seconds -> epoch seconds; None when missing.

    >>> parse_ts("2026-11-29T08:00:00.123Z")
    1795939200.123
    >>> parse_ts(1795939200)
    1795939200.0
    >>> parse_ts(None) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise PayloadError(Reason.SCHEMA, "ts must be an RFC 3339 string or epoch seconds, not a boolean")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise PayloadError(Reason.SCHEMA, "ts must be finite")
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PayloadError(Reason.SCHEMA, f"ts {value[:40]!r} is not RFC 3339") from None
        if parsed.tzinfo is None:
            raise PayloadError(Reason.SCHEMA, f"ts {value[:40]!r} has no UTC offset")
        return parsed.timestamp()
    raise PayloadError(Reason.SCHEMA, f"ts must be an RFC 3339 string or epoch seconds, not {type(value).__name__}")


def parse_loc(value: object) -> tuple[float | None, float | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise PayloadError(Reason.SCHEMA, "loc must be an object with lat and lon")
    lat, lon = value.get("lat"), value.get("lon")
    numbers = []
    for name, v in (("lat", lat), ("lon", lon)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise PayloadError(Reason.SCHEMA, f"loc.{name} must be a finite number")
        numbers.append(float(v))
    la, lo = numbers
    if not (-90.0 <= la <= 90.0 and -180.0 <= lo <= 180.0):
        raise PayloadError(Reason.OUT_OF_AREA, f"loc lat {lat}, lon {lon} is outside WGS84")
    return la, lo


def _reading(item: object, device_id: str, topic: str, raw: bytes, received_at: float) -> Observation:
    if not isinstance(item, dict):
        raise PayloadError(Reason.SCHEMA, "a reading must be a JSON object")
    values = item.get("values")
    if not isinstance(values, dict) or not values:
        raise PayloadError(Reason.SCHEMA, "values must be a non-empty object of metric -> number or boolean")
    seq = item.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise PayloadError(Reason.SCHEMA, "seq must be a non-negative integer")
    battery = item.get("battery")
    if battery is not None and (isinstance(battery, bool) or not isinstance(battery, (int, float))
                                or not 0.0 <= battery <= 1.0):
        raise PayloadError(Reason.SCHEMA, "battery must be a number from 0 to 1")
    lat, lon = parse_loc(item.get("loc"))
    return Observation(
        device_id=device_id,
        ts=parse_ts(item.get("ts")),
        values=values,
        topic=topic,
        raw=raw,
        received_at=received_at,
        seq=seq,
        battery=None if battery is None else float(battery),
        lat=lat,
        lon=lon,
    )


@overload
def _text(item: dict, key: str, required: Literal[True] = True, limit: int = 200) -> str: ...


@overload
def _text(item: dict, key: str, required: bool, limit: int = 200) -> str | None: ...


def _text(item: dict, key: str, required: bool = True, limit: int = 200) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise PayloadError(Reason.SCHEMA, f"{key} must be a non-empty string of at most {limit} characters")
    if CONTROL.search(value):
        raise PayloadError(Reason.SCHEMA, f"{key} must not contain control characters")
    return value


def _event_type(value: object) -> str:
    if not isinstance(value, str) or not EVENT_TYPE.match(value):
        raise PayloadError(Reason.SCHEMA, "type must be 1-64 letters, digits, '_', '.' or '-'")
    return value


def _camera(item: object, camera_id: str, topic: str, raw: bytes, received_at: float) -> CameraObservation:
    if not isinstance(item, dict):
        raise PayloadError(Reason.SCHEMA, "a camera event must be a JSON object")
    confidence = item.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.0 <= confidence <= 1.0:
        raise PayloadError(Reason.SCHEMA, "confidence must be a number from 0 to 1")
    state = item.get("state")
    if state not in CAMERA_STATES:
        raise PayloadError(Reason.SCHEMA, "state must be 'start' or 'end'")
    lat, lon = parse_loc(item.get("loc"))
    return CameraObservation(
        camera_id=camera_id,
        ts=parse_ts(item.get("ts")),
        event_id=_text(item, "event_id"),
        type=_event_type(item.get("type")),
        confidence=float(confidence),
        state=state,
        topic=topic,
        raw=raw,
        received_at=received_at,
        zone=_text(item, "zone", required=False),
        lat=lat,
        lon=lon,
        snapshot_url=_text(item, "snapshot_url", required=False, limit=2000),
    )


def _item_json(item: object, payload: bytes) -> bytes:
    """An array item's own JSON, kept for its dead letters; the whole payload when the item nests deeper
    than orjson writes (255 levels; it reads up to 1024), which would otherwise stop the gateway."""
    try:
        return orjson.dumps(item)
    except orjson.JSONEncodeError:
        return payload


class NativeAdapter:
    """Decodes the contract's own payloads on `{prefix}/readings|camera|status/...`."""

    name = "native"
    creates_pending = False  # a device must be registered before its readings count
    zone_cells: Mapping[tuple[str, str], str] = {}

    def __init__(self, topics: Topics | None = None, max_batch_readings: int = 1000):
        self.topics = topics or Topics()
        self.max_batch_readings = max_batch_readings

    @property
    def filters(self) -> tuple[str, ...]:
        return self.topics.inbound_filters

    def match(self, topic: str) -> Route | None:
        return self.topics.route(topic)

    def describe(self, device_id: str) -> dict:
        raise NotImplementedError("the native adapter makes no pending devices")

    def take_subscriptions(self) -> list[str]:
        return []  # its topics are known from the start

    def decode(self, message: Inbound, route: Route, out: Decoded) -> None:
        topic, payload, device_id = message.topic, message.payload, route.device_id
        if route.kind == "status":
            if not payload:
                return  # an empty retained message clears the retained status: nothing to record
            text = payload.decode("utf-8", errors="replace").strip().strip('"').lower()
            if text not in ("online", "offline"):
                out.rejections.append(
                    Rejection(Reason.SCHEMA, "status must be 'online' or 'offline'", topic, payload, device_id)
                )
            else:
                out.statuses.append(StatusObservation(device_id, text == "online", topic, message.received_at))
            return
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            out.rejections.append(Rejection(Reason.MALFORMED_JSON, str(exc)[:200], topic, payload, device_id))
            return
        if route.kind == "camera":
            try:
                out.camera.append(_camera(doc, device_id, topic, payload, message.received_at))
            except PayloadError as exc:
                out.rejections.append(Rejection(exc.reason, str(exc), topic, payload, device_id))
            return
        if isinstance(doc, list):
            if not doc:
                out.rejections.append(Rejection(Reason.SCHEMA, "the reading array is empty", topic, payload, device_id))
                return
            if len(doc) > self.max_batch_readings:
                detail = f"{len(doc)} readings in one array; at most {self.max_batch_readings} are accepted"
                out.rejections.append(Rejection(Reason.OVERSIZED, detail, topic, payload, device_id))
                return
            for index, item in enumerate(doc):
                raw = _item_json(item, payload)
                try:
                    out.observations.append(_reading(item, device_id, topic, raw, message.received_at))
                except PayloadError as exc:
                    out.rejections.append(Rejection(exc.reason, f"item {index}: {exc}", topic, raw, device_id))
            return
        try:
            out.observations.append(_reading(doc, device_id, topic, payload, message.received_at))
        except PayloadError as exc:
            out.rejections.append(Rejection(exc.reason, str(exc), topic, payload, device_id))
