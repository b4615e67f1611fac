"""What every third-party adapter shares: routes, device ids, topic matching, options, times, observations.

A third-party adapter claims every topic under its own subscriptions: the ones
it decodes, and the ones it knowingly ignores (bridge chatter, commands,
binary snapshots), so that none of them becomes an `unknown_topic` dead letter.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, ClassVar

import orjson

from gateway.adapters._units import FieldMapper
from gateway.adapters.native import CONTROL, PayloadError
from gateway.deadletters import Reason
from gateway.messages import Decoded, Observation, Rejection, StatusObservation
from mqttwire.packets import Inbound
from mqttwire.topics import Topics
from twin.config import Settings
from twin.devices.device import DeviceKind
from twin.errors import ConfigError

IGNORE = "ignore"  # the kind of a route whose messages are received and dropped on purpose
MAX_NOTES = 100_000


@dataclass(frozen=True, slots=True)
class AdapterRoute:
    """What a third-party topic addresses: `kind` is the adapter's own word ("state", "availability",
    "ignore", ...); `device_id` the GridTwin id when the topic names the device; `key` anything else."""

    kind: str
    device_id: str = ""
    key: str = ""


IGNORED = AdapterRoute(IGNORE)


# -- device ids --------------------------------------------------------------------
_UNSAFE = re.compile(r"[^a-z0-9_.:-]+")


def slug(text: str) -> str:
    """Lower-case, topic-safe form of a source identity: runs of other characters become "-".

    >>> slug("Kitchen/Floor Light"), slug("0x00158D0001A2B3C4"), slug("  ")
    ('kitchen-floor-light', '0x00158d0001a2b3c4', '')
    """
    return _UNSAFE.sub("-", text.strip().lower()).strip("-_.:")


def make_device_id(prefix: str, source_id: object) -> str | None:
    """`{prefix}-{slug}`, at most 64 characters (a long one keeps a hash of the whole); a name in another
    script, of which the slug keeps nothing, is named by its hash; None without a letter or digit.

    >>> make_device_id("z2m", "kitchen/th sensor")
    'z2m-kitchen-th-sensor'
    >>> len(make_device_id("ttn", "x" * 100)), make_device_id("ttn", "//") is None
    (64, True)
    >>> make_device_id("z2m", "\u6e29\u6e7f\u5ea6")
    'z2m-x91b9c0d3e6'
    """
    if not isinstance(source_id, str):
        return None
    text = slug(source_id)
    if not text:
        if not any(ch.isalnum() for ch in source_id):
            return None
        # Dropped, its readings were lost without a dead letter; the technician sees the name itself.
        return f"{prefix}-x{hashlib.sha1(source_id.encode('utf-8', 'replace')).hexdigest()[:10]}"
    device_id = f"{prefix}-{text}"
    if len(device_id) > 64:
        digest = hashlib.sha1(source_id.encode("utf-8", "replace")).hexdigest()[:8]
        device_id = f"{device_id[:55]}-{digest}"
    return device_id


# -- topics ------------------------------------------------------------------------
def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether `topic` matches the MQTT filter (`+` one level, `#` the rest, including none).

    >>> topic_matches("tele/+/SENSOR", "tele/kitchen/SENSOR"), topic_matches("a/#", "a"), topic_matches("a/+", "a/b/c")
    (True, True, False)
    """
    f_levels, t_levels = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(f_levels):
        if level == "#":
            return True
        if i >= len(t_levels) or (level != "+" and level != t_levels[i]):
            return False
    return len(f_levels) == len(t_levels)


def wildcard_levels(topic_filter: str, topic: str) -> str:
    """The levels of `topic` that the filter's wildcards matched, joined by "/".

    >>> wildcard_levels("senml/#", "senml/site-3/node-7"), wildcard_levels("a/+/b", "a/x/b")
    ('site-3/node-7', 'x')
    """
    levels, parts = topic.split("/"), []
    for i, level in enumerate(topic_filter.split("/")):
        if level == "#":
            parts.extend(levels[i:])
            break
        if level == "+" and i < len(levels):
            parts.append(levels[i])
    return "/".join(parts)


def covers_prefix(topic_filter: str, prefix: str) -> bool:
    """Whether the filter can match a topic under `prefix/` (the gateway's own topic tree).

    >>> covers_prefix("#", "gridtwin/v1"), covers_prefix("+/status", "gridtwin/v1"), covers_prefix("+/+/#", "gridtwin/v1")
    (True, False, True)
    """
    f_levels, p_levels = topic_filter.split("/"), prefix.split("/")
    for i, level in enumerate(p_levels):
        if i >= len(f_levels):
            return False
        if level != f_levels[i] and f_levels[i] not in ("+", "#"):
            return False
        if f_levels[i] == "#":
            return True
    return len(f_levels) > len(p_levels)


def check_filters(where: str, filters: Iterable[str], topics: Topics) -> tuple[str, ...]:
    """The filters, refused when malformed or when they would also receive the gateway's own topics."""
    checked = []
    for f in filters:
        levels = f.split("/") if isinstance(f, str) else []
        bad_hash = any(level == "#" and i != len(levels) - 1 for i, level in enumerate(levels))
        if not isinstance(f, str) or not f or bad_hash or any(("+" in lv or "#" in lv) and len(lv) > 1 for lv in levels):
            raise ConfigError(f"{where}: {f!r} is not a valid MQTT topic filter")
        if covers_prefix(f, topics.prefix):
            raise ConfigError(f"{where}: {f!r} also covers the gateway's own topics under {topics.prefix}/; "
                              "name the devices' topic roots instead")
        checked.append(f)
    return tuple(checked)


# -- options -----------------------------------------------------------------------
def options(name: str, table: Mapping[str, Any] | None, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """An adapter's `[adapters.NAME]` table over its defaults; unknown keys and wrong types are errors."""
    table = dict(table or {})
    unknown = set(table) - set(defaults)
    if unknown:
        raise ConfigError(f"[adapters.{name}]: unknown key(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(defaults)}")
    merged = dict(defaults)
    for key, value in table.items():
        default = defaults[key]
        expected = type(default)
        if isinstance(default, (list, tuple)):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"adapters.{name}.{key} must be a list of strings")
            value = tuple(value)
        elif isinstance(default, dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"adapters.{name}.{key} must be a table")
            value = dict(value)
        elif not isinstance(value, expected) or isinstance(value, bool) != isinstance(default, bool):
            raise ConfigError(f"adapters.{name}.{key} must be a {expected.__name__}, not {value!r}")
        merged[key] = value
    return merged


# -- payloads and times --------------------------------------------------------------
def loads(payload: bytes) -> object:
    """JSON of a payload; PayloadError(MALFORMED_JSON) when it is not UTF-8 JSON."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(Reason.MALFORMED_JSON, str(exc)[:200]) from None


def text(payload: bytes) -> str:
    """A plain-text payload, trimmed; PayloadError(MALFORMED_JSON) when it is not UTF-8."""
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise PayloadError(Reason.MALFORMED_JSON, "the payload is not UTF-8 text") from None


def time_zone(where: str, name: str) -> tzinfo:
    """"UTC", a fixed offset like "+08:00", or an IANA zone name like "Asia/Shanghai"."""
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name.strip())
    if match:
        sign = 1 if match.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    if name.strip().upper() in ("UTC", "Z"):
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed ("../x"), unreadable
        raise ConfigError(f"{where}: time zone {name!r} is unknown; use UTC, +08:00 or a name like Asia/Shanghai") from None


def epoch(value: object, unit: str = "s", local: tzinfo | None = None) -> float:
    """A source's time as Unix epoch seconds.

    Numbers are epoch seconds (`unit="s"`), milliseconds ("ms"), or either by size
    ("auto": above 1e11 they are milliseconds). Strings are ISO 8601; one without
    an offset is read in `local` and refused when no zone was configured.

    >>> epoch("2026-11-29T08:00:00Z"), epoch(1795939200000, "ms"), epoch(1795939200000, "auto")
    (1795939200.0, 1795939200.0, 1795939200.0)
    >>> epoch("2026-11-29T16:00:00", local=timezone(timedelta(hours=8)))
    1795939200.0
    """
    if isinstance(value, bool) or value is None:
        raise PayloadError(Reason.SCHEMA, f"time {value!r} is not a time")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise PayloadError(Reason.SCHEMA, "time must be finite")
        if unit == "ms" or (unit == "auto" and abs(value) > 1e11):
            return float(value) / 1000.0
        return float(value)
    if isinstance(value, str):
        stamp = value.strip()
        if re.fullmatch(r"\d{4}\.\d{2}\.\d{2} \d{2}:\d{2}:\d{2}", stamp):  # older Tasmota: "2018.02.15 01:00:50"
            stamp = stamp.replace(".", "-", 2).replace(" ", "T")
        try:
            parsed = datetime.fromisoformat(stamp.replace("z", "Z"))
        except ValueError:
            raise PayloadError(Reason.SCHEMA, f"time {value[:40]!r} is not ISO 8601") from None
        if parsed.tzinfo is None:
            if local is None:
                raise PayloadError(Reason.SCHEMA, f"time {value[:40]!r} has no UTC offset")
            parsed = parsed.replace(tzinfo=local)
        return parsed.timestamp()
    raise PayloadError(Reason.SCHEMA, f"time must be a string or a number, not {type(value).__name__}")


def number(value: object) -> float | None:
    """A finite number (or numeric string) as a float, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def position(lat: object, lon: object) -> tuple[float, float] | None:
    """(lat, lon) when both are finite WGS84 degrees; None when both are missing; PayloadError otherwise."""
    if lat is None and lon is None:
        return None
    la, lo = number(lat), number(lon)
    if la is None or lo is None:
        raise PayloadError(Reason.SCHEMA, "a location needs a finite latitude and longitude")
    if not (-90.0 <= la <= 90.0 and -180.0 <= lo <= 180.0):
        raise PayloadError(Reason.OUT_OF_AREA, f"lat {la}, lon {lo} is outside WGS84")
    return la, lo


# -- the shared base ------------------------------------------------------------------
class ThirdPartyAdapter:
    """Base of the adapters for other projects' formats.

    Subclasses set `name`, `DEFAULTS` (their options) and implement `filters`,
    `match` and `decode`. Devices they report and the registry does not know
    become pending devices; `describe` tells the pipeline what the adapter
    learned about one (its source identity and name) for the technician.
    """

    name = "third-party"
    creates_pending = True
    DEFAULTS: ClassVar[dict[str, Any]] = {}
    zone_cells: Mapping[tuple[str, str], str] = {}  # (camera id, zone) -> cell code; Frigate's cameras have them

    def __init__(self, settings: Settings, topics: Topics, table: Mapping[str, Any] | None = None):
        self.topics = topics
        self.options = options(self.name, table, self.DEFAULTS)
        self.mapper = FieldMapper(settings.metrics, self.options.get("fields"), f"adapters.{self.name}")
        self._notes: dict[str, dict] = {}

    # -- identities ----------------------------------------------------------------
    def identify(self, source_id: object, *, name: str = "", model: str = "",
                 kind: DeviceKind = DeviceKind.SENSOR, prefix: str | None = None) -> str | None:
        """The GridTwin id of a source identity (None when it has none), remembered for `describe`."""
        device_id = make_device_id(prefix or self.options.get("device_prefix", self.name), source_id)
        if device_id is not None:
            self.note(device_id, source_id, name=name, model=model, kind=kind)
        return device_id

    def note(self, device_id: str, source_id: object, *, name: str = "", model: str = "",
             kind: DeviceKind = DeviceKind.SENSOR) -> None:
        """Remember what a device id stands for (the first word wins), for `describe`."""
        if device_id not in self._notes:
            if len(self._notes) >= MAX_NOTES:
                self._notes.clear()
            # Stored with the pending device: without control characters (PostgreSQL text cannot hold NUL).
            source, name, model = (CONTROL.sub("\ufffd", str(text)) for text in (source_id, name, model))
            self._notes[device_id] = {"source_id": source, "name": name or source, "model": model, "kind": kind}

    def describe(self, device_id: str) -> dict:
        """What a pending device is: kind, name, model and attributes naming its source."""
        note = self._notes.get(device_id, {})
        return {
            "kind": note.get("kind"),  # None: what the device reported decides
            "name": note.get("name", device_id)[:200],
            "model": note.get("model", "")[:200],
            "attributes": {"adapter": self.name, "source_id": note.get("source_id", device_id)},
        }

    def take_subscriptions(self) -> list[str]:
        """Topics learned since the last call that need subscribing; only Home Assistant's discovery has any."""
        return []

    # -- output ----------------------------------------------------------------------
    @staticmethod
    def reject(out: Decoded, message: Inbound, reason: str, detail: str, device_id: str | None = None) -> None:
        out.rejections.append(Rejection(reason, detail, message.topic, message.payload, device_id))

    @staticmethod
    def status(out: Decoded, message: Inbound, device_id: str, online: bool) -> None:
        out.statuses.append(StatusObservation(device_id, online, message.topic, message.received_at))

    def observe(self, out: Decoded, message: Inbound, device_id: str, ts: float | None,
                fields: Iterable[tuple[str, object, str | None]], *, device_class: Mapping[str, str] | None = None,
                loc: tuple[float, float] | None = None, seq: int | None = None, battery: float | None = None,
                strict: bool = False, by_unit: bool = True, signal: Mapping[str, float] | None = None) -> bool:
        """One observation of the fields that map to catalog metrics; bad values are rejected one by one.

        `fields` are (source name, raw value, unit or None). With `strict`, a payload
        in which no field maps to a metric is rejected as `unknown_metric` (formats
        whose payloads are all measurements); otherwise it is dropped quietly
        (bridges that also publish switches, buttons and link quality). `by_unit` lets a
        unit alone pick the metric (see FieldMapper.field). `signal` is the radio signal the source
        reported (rssi, snr, linkquality), kept for device health. Returns whether an observation was made.
        """
        values: dict[str, float | bool] = {}
        unmapped: list[str] = []
        rejected = False
        for name, raw, unit_text in fields:
            field = self.mapper.field(name, unit_text, (device_class or {}).get(name), by_unit)
            if field is None:
                unmapped.append(str(name))
                continue
            if field.metric.name in values:
                continue  # the first field of a metric wins ("temperature" before "temp")
            try:
                values[field.metric.name] = self.mapper.value(field, raw, unit_text)
            except PayloadError as exc:
                rejected = True
                self.reject(out, message, exc.reason, f"{str(name)[:64]}: {exc}", device_id)
        if values:
            lat, lon = loc if loc is not None else (None, None)
            out.observations.append(Observation(
                device_id=device_id, ts=ts, values=values, topic=message.topic, raw=message.payload,
                received_at=message.received_at, seq=seq, battery=battery, lat=lat, lon=lon,
                signal=dict(signal) if signal else None,
            ))
            return True
        if strict and not rejected:
            names = ", ".join(unmapped[:8]) or "none"
            self.reject(out, message, Reason.UNKNOWN_METRIC,
                        f"no field maps to a catalog metric (fields: {names}); map them under "
                        f"[adapters.{self.name}.fields]", device_id)
        return False
