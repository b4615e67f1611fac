"""SenML JSON (RFC 8428): a pack (JSON array) of records on the configured topics (default `senml/#`).

Records are resolved as the RFC says: base name + name, base time + time (a
resolved time below 2**28 is relative to now, i.e. to the message's receive
time), base value + value, unit or base unit. The base name names the device
(`urn:dev:ow:10e2073a01080063:` -> `senml-urn:dev:ow:10e2073a01080063`); without
one, the topic levels under the filter do. Records named `lat`/`lon` (or with
the units `lat`/`lon`) give the device's position.

Rejected as a whole, as the RFC requires: a pack that is not an array of
objects, an unknown field ending in `_` (must-understand), a `bver` above 10 or
changing within the pack, a record without a name or with an invalid one, a
record with more than one value field or with neither a value nor a sum, and
fields of the wrong JSON type.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from gateway.adapters._common import (
    AdapterRoute,
    ThirdPartyAdapter,
    check_filters,
    loads,
    position,
    topic_matches,
    wildcard_levels,
)
from gateway.adapters._units import LATITUDE, LONGITUDE, normalize
from gateway.adapters.native import PayloadError
from gateway.deadletters import Reason
from gateway.messages import Decoded
from mqttwire.packets import Inbound

VERSION = 10  # the SenML version this adapter understands (RFC 8428)
RELATIVE_LIMIT = 2**28
STRINGS = ("bn", "bu", "n", "u", "vs", "vd")
NUMBERS = ("bt", "bv", "bs", "t", "v", "s", "ut")
KNOWN = frozenset(STRINGS + NUMBERS + ("bver", "vb"))
VALUE_FIELDS = ("v", "vs", "vb", "vd")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:./_-]*")
SEPARATORS = ":/._-"
OBJECT_PATH = re.compile(r"[\d/]+")  # an IPSO object path ("3303/0/") names a resource, not a device


def _check_types(index: int, record: dict) -> None:
    for key in STRINGS:
        if key in record and not isinstance(record[key], str):
            raise PayloadError(Reason.SCHEMA, f"record {index}: {key} must be a string")
    for key in NUMBERS:
        if key in record and (isinstance(record[key], bool) or not isinstance(record[key], (int, float))):
            raise PayloadError(Reason.SCHEMA, f"record {index}: {key} must be a number")
    if "vb" in record and not isinstance(record["vb"], bool):
        raise PayloadError(Reason.SCHEMA, f"record {index}: vb must be true or false")


def resolve(pack: object, now: float) -> list[dict]:
    """The pack's resolved records: {"name", "base", "n", "time" (None: no time given), "value", "unit"}.

    Raises PayloadError(SCHEMA) for every violation the RFC makes fatal.

    >>> resolve([{"bn": "dev1:", "bt": 1.8e9, "bu": "Cel", "n": "temp", "v": 21.5},
    ...          {"n": "temp", "t": 60, "v": 22}], now=0.0)[1]
    {'name': 'dev1:temp', 'base': 'dev1:', 'n': 'temp', 'time': 1800000060.0, 'value': 22.0, 'unit': 'Cel'}
    >>> resolve([{"n": "temp", "t": -10, "v": 20}], now=1.8e9)[0]["time"]
    1799999990.0
    """
    if not isinstance(pack, list) or not pack:
        raise PayloadError(Reason.SCHEMA, "a SenML pack must be a non-empty JSON array of records")
    base_name, base_time, base_unit, base_value, version = "", None, None, 0.0, None
    resolved = []
    for index, record in enumerate(pack):
        if not isinstance(record, dict):
            raise PayloadError(Reason.SCHEMA, f"record {index} is not a JSON object")
        must = [k for k in record if k not in KNOWN and str(k).endswith("_")]
        if must:
            raise PayloadError(Reason.SCHEMA, f"record {index}: field {must[0][:40]!r} must be understood "
                                              "and is not supported")
        _check_types(index, record)
        if "bver" in record:
            bver = record["bver"]
            if isinstance(bver, bool) or not isinstance(bver, int) or bver < 1:
                raise PayloadError(Reason.SCHEMA, f"record {index}: bver must be a positive integer")
            if bver > VERSION:
                raise PayloadError(Reason.SCHEMA, f"SenML version {bver} is newer than the supported {VERSION}")
            if version is not None and bver != version:
                raise PayloadError(Reason.SCHEMA, "all records of a pack must have the same SenML version")
            version = bver
        base_name = record.get("bn", base_name)
        base_time = record.get("bt", base_time)
        base_unit = record.get("bu", base_unit)
        base_value = record.get("bv", base_value)
        name = base_name + record.get("n", "")
        if not name:
            raise PayloadError(Reason.SCHEMA, f"record {index} has no name (neither bn nor n)")
        if not NAME.fullmatch(name):
            raise PayloadError(Reason.SCHEMA, f"record {index}: name {name[:60]!r} has characters SenML does not "
                                              "allow (letters, digits and - : . / _, starting with a letter or digit)")
        present = [k for k in VALUE_FIELDS if k in record]
        if len(present) > 1:
            raise PayloadError(Reason.SCHEMA, f"record {index} has more than one value field ({', '.join(present)})")
        if not present and "s" not in record:
            raise PayloadError(Reason.SCHEMA, f"record {index} has neither a value nor a sum")
        if "t" in record or base_time is not None:
            time = (base_time or 0.0) + record.get("t", 0.0)
            time = float(now + time) if time < RELATIVE_LIMIT else float(time)
        else:
            time = None  # "now": the pipeline uses the receive time and marks it estimated
        value = None
        if "v" in record:
            value = base_value + record["v"]
        elif present and present[0] != "vd":
            value = record[present[0]]  # vb, vs; vd (opaque data) carries no measurement
        resolved.append({"name": name, "base": base_name, "n": record.get("n", ""), "time": time, "value": value,
                         "unit": record.get("u", base_unit)})
    return resolved


class SenmlAdapter(ThirdPartyAdapter):
    """SenML packs; `topics` are the MQTT filters they arrive on."""

    name = "senml"
    DEFAULTS: ClassVar[dict[str, Any]] = {"topics": ("senml/#",), "device_prefix": "senml", "fields": {}}

    def __init__(self, settings, topics, table=None):
        super().__init__(settings, topics, table)
        self._filters = check_filters(f"adapters.{self.name}.topics", self.options["topics"], topics)

    @property
    def filters(self) -> tuple[str, ...]:
        return self._filters

    def match(self, topic: str) -> AdapterRoute | None:
        for topic_filter in self._filters:
            if topic_matches(topic_filter, topic):
                return AdapterRoute("pack", key=wildcard_levels(topic_filter, topic))
        return None

    def decode(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        doc = None
        try:
            doc = loads(message.payload)
            records = resolve(doc, message.received_at)
        except PayloadError as exc:
            first = doc[0] if isinstance(doc, list) and doc and isinstance(doc[0], dict) else {}
            base = first.get("bn") if isinstance(first.get("bn"), str) and first.get("n") else None
            self.reject(out, message, exc.reason, str(exc), self._device(base.rstrip(SEPARATORS) if base else route.key))
            return
        groups: dict[tuple[str | None, float | None], list] = {}
        places: dict[str | None, dict] = {}  # None: a record whose name gives no device
        for record in records:
            unit = record["unit"] if isinstance(record["unit"], str) else None
            source, measurement = self._split(record, route.key)
            device_id = self._device(source)
            key = normalize(measurement)
            if key in LATITUDE or (unit or "").lower() == "lat":
                places.setdefault(device_id, {})["lat"] = record["value"]
            elif key in LONGITUDE or (unit or "").lower() == "lon":
                places.setdefault(device_id, {})["lon"] = record["value"]
            elif record["value"] is not None:
                groups.setdefault((device_id, record["time"]), []).append((measurement, record["value"], unit))
        before, observed = len(out.rejections), False
        for (device_id, ts), fields in groups.items():
            if device_id is None:  # not reached: resolve() admits only names with a letter or digit
                self.reject(out, message, Reason.SCHEMA, "a record's name (bn + n) names no device")
                continue
            try:
                place = places.get(device_id)
                loc = None if place is None else position(place.get("lat"), place.get("lon"))
            except PayloadError as exc:
                self.reject(out, message, exc.reason, str(exc), device_id)
                continue
            observed |= self.observe(out, message, device_id, ts, fields, loc=loc)
        if not observed and len(out.rejections) == before:
            names = ", ".join(sorted({m for fields in groups.values() for m, _, _ in fields})[:8]) or "none"
            device_id = next(iter(groups))[0] if groups else self._device(route.key)
            self.reject(out, message, Reason.UNKNOWN_METRIC, f"no record maps to a catalog metric (names: {names}); "
                                                             f"map them under [adapters.{self.name}.fields]", device_id)

    def _split(self, record: dict, topic_key: str) -> tuple[str, str]:
        """(device, measurement) of a resolved record.

        The base name names the device when the record adds a name to it; else the
        topic's wildcard levels do; else the name's last ':' or '/' part is the
        measurement when it names a metric ("urn:dev:mac:0024befffe804ff1:temp"),
        and otherwise the whole name is the sensor ("urn:dev:ow:10e2073a01080063", u "Cel").
        """
        name, base, n = record["name"], record["base"], record["n"]
        if base.rstrip(SEPARATORS) and n and not OBJECT_PATH.fullmatch(base):
            return base.rstrip(SEPARATORS), n
        if topic_key:
            return topic_key, name
        cut = max(name.rfind(":"), name.rfind("/"))
        if cut > 0 and self.mapper.field(name[cut + 1:]) is not None:
            return name[:cut], name[cut + 1:]
        return name, name

    def _device(self, source: str) -> str | None:
        return self.identify(source, name=source) if source else None
