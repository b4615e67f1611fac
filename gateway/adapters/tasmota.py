"""Tasmota: telemetry on `tele/{topic}/SENSOR`, one JSON object with a member per sensor driver
(`{"Time": "...", "BME280": {"Temperature": 21.3, "Humidity": 40.1}, "TempUnit": "C"}`), and the
last will on `tele/{topic}/LWT` (`Online` / `Offline`).

Tasmota's `Time` is the device's local time, without an offset unless
`SetOption52 1`: the `timezone` option says which zone the devices keep.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from gateway.adapters._common import (
    IGNORED,
    AdapterRoute,
    ThirdPartyAdapter,
    check_filters,
    epoch,
    loads,
    text,
    time_zone,
)
from gateway.adapters.native import PayloadError
from gateway.deadletters import Reason
from gateway.messages import Decoded
from mqttwire.packets import Inbound
from twin.errors import ConfigError

UNIT_KEYS = frozenset({"TempUnit", "PressureUnit", "SpeedUnit", "Time", "Epoch"})
PLACEHOLDERS = ("%topic%", "%hostname%", "%id%")


class TasmotaAdapter(ThirdPartyAdapter):
    """Tasmota telemetry. `full_topic` is the devices' FullTopic (default `%prefix%/%topic%/`);
    the level that `%topic%` (or `%hostname%`, `%id%`) fills names the device."""

    name = "tasmota"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "full_topic": "%prefix%/%topic%/", "telemetry_prefix": "tele", "device_prefix": "tasmota", "timezone": "UTC",
        "fields": {}
    }

    def __init__(self, settings, topics, table=None):
        super().__init__(settings, topics, table)
        where = f"adapters.{self.name}"
        levels = self.options["full_topic"].strip("/").replace("%prefix%", self.options["telemetry_prefix"]).split("/")
        names = [i for i, level in enumerate(levels) if level in PLACEHOLDERS]
        if len(names) != 1 or any("%" in level for i, level in enumerate(levels) if i != names[0]):
            raise ConfigError(f"{where}.full_topic: give a FullTopic with %prefix% and one %topic% level")
        self._name_level = names[0]
        pattern = [re.escape(level) if i != names[0] else "([^/]+)" for i, level in enumerate(levels)]
        self._pattern = re.compile("/".join(pattern) + "/([^/]+)")
        base = "/".join("+" if i == names[0] else level for i, level in enumerate(levels))
        self._filters = check_filters(f"{where}.full_topic", [f"{base}/SENSOR", f"{base}/LWT"], topics)
        self.zone = time_zone(f"{where}.timezone", self.options["timezone"])

    @property
    def filters(self) -> tuple[str, ...]:
        return self._filters

    def match(self, topic: str) -> AdapterRoute | None:
        found = self._pattern.fullmatch(topic)
        if found is None:
            return None
        device_topic, suffix = found.group(1), found.group(2)
        if suffix not in ("SENSOR", "LWT"):
            return IGNORED  # STATE, RESULT, INFO1...: switches, Wi-Fi and uptime
        device_id = self.identify(device_topic, name=device_topic, model="Tasmota")
        return IGNORED if device_id is None else AdapterRoute(suffix, device_id)

    def decode(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        try:
            if route.kind == "LWT":
                if not message.payload:
                    return  # an empty retained message clears the retained LWT: nothing to record
                state = text(message.payload).lower()
                if state not in ("online", "offline"):
                    raise PayloadError(Reason.SCHEMA, "the LWT payload must be Online or Offline")
                self.status(out, message, route.device_id, state == "online")
            elif route.kind == "SENSOR":
                self._sensor(message, route, out)
        except PayloadError as exc:
            self.reject(out, message, exc.reason, str(exc), route.device_id)

    def _sensor(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        doc = loads(message.payload)
        if not isinstance(doc, dict):
            raise PayloadError(Reason.SCHEMA, "a SENSOR message must be a JSON object")
        ts = None if doc.get("Time") is None else epoch(doc["Time"], local=self.zone)
        temp_unit = doc.get("TempUnit")
        temp_unit = temp_unit if isinstance(temp_unit, str) else "C"  # Tasmota's default is Celsius
        fields = []
        for key, value in doc.items():
            if key in UNIT_KEYS:
                continue
            # A driver's object ({"BME280": {...}}, {"DS18B20-1": {...}}), or a value of its own ({"Switch1": "ON"}).
            # Values are named "{driver}_{key}": the key names the measurement, the driver may qualify it
            # ("ESP32_Temperature" is the chip's own temperature, not the air's).
            items = [(f"{key}_{k}", k, v) for k, v in value.items()] if isinstance(value, dict) else [(key, key, value)]
            for name, own, raw in items:
                if isinstance(raw, (int, float, str, bool)):
                    fields.append((name, raw, temp_unit if "temp" in own.lower() else None))
        self.observe(out, message, route.device_id, ts, fields, by_unit=False)  # TempUnit is payload-wide

