"""Zigbee2MQTT: device state on `zigbee2mqtt/{friendly name}` (the name may contain "/"), availability
on `.../{friendly name}/availability` as plain `online`/`offline` or JSON `{"state": "online"}`."""

from __future__ import annotations

from typing import Any, ClassVar

from gateway.adapters._common import IGNORED, AdapterRoute, ThirdPartyAdapter, check_filters, epoch, loads, number, text
from gateway.adapters.native import PayloadError
from gateway.deadletters import Reason
from gateway.messages import Decoded
from mqttwire.packets import Inbound

COMMANDS = frozenset({"set", "get"})
# Members of a state payload that are about the radio link or the bridge, not measurements.
SKIP = frozenset({"last_seen", "linkquality", "battery", "voltage", "update", "update_available", "device",
                  "elapsed", "battery_low"})


class Zigbee2MqttAdapter(ThirdPartyAdapter):
    """Zigbee2MQTT's MQTT API with `output: json` (its default): one JSON object per state change."""

    name = "zigbee2mqtt"
    DEFAULTS: ClassVar[dict[str, Any]] = {"base_topic": "zigbee2mqtt", "device_prefix": "z2m", "fields": {}}

    def __init__(self, settings, topics, table=None):
        super().__init__(settings, topics, table)
        self.base = self.options["base_topic"].strip("/")
        self._filters = check_filters(f"adapters.{self.name}.base_topic", [f"{self.base}/#"], topics)

    @property
    def filters(self) -> tuple[str, ...]:
        return self._filters

    def match(self, topic: str) -> AdapterRoute | None:
        head = self.base + "/"
        if not topic.startswith(head):
            return None
        levels = topic[len(head):].split("/")
        if levels[0] == "bridge" or levels[-1] in COMMANDS or (len(levels) > 1 and levels[-2] in COMMANDS):
            return IGNORED  # the bridge's own topics, and commands to devices
        kind = "state"
        if levels[-1] == "availability" and len(levels) > 1:
            kind, levels = "availability", levels[:-1]
        friendly = "/".join(levels)
        device_id = self.identify(friendly, name=friendly)
        return IGNORED if device_id is None else AdapterRoute(kind, device_id, friendly)

    def decode(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        if route.kind == "ignore":
            return
        try:
            if route.kind == "availability":
                self._availability(message, route, out)
            else:
                self._state(message, route, out)
        except PayloadError as exc:
            self.reject(out, message, exc.reason, str(exc), route.device_id)

    def _availability(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        if not message.payload:
            return  # an empty retained message clears the retained availability: nothing to record
        state: object = text(message.payload)
        if isinstance(state, str) and state.startswith("{"):
            doc = loads(message.payload)
            state = doc.get("state") if isinstance(doc, dict) else None
        if not isinstance(state, str) or state.strip('"').lower() not in ("online", "offline"):
            raise PayloadError(Reason.SCHEMA, 'availability must be "online", "offline" or {"state": "online"|"offline"}')
        self.status(out, message, route.device_id, state.strip('"').lower() == "online")

    def _state(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        doc = loads(message.payload)
        if not isinstance(doc, dict):
            if isinstance(doc, list):
                raise PayloadError(Reason.SCHEMA, "a device state must be a JSON object")
            return  # `output: attribute` publishes single values on sub-topics; only JSON objects are read
        ts = None
        if doc.get("last_seen") is not None:
            ts = epoch(doc["last_seen"], "ms")  # "ISO_8601", "ISO_8601_local" or "epoch" (milliseconds)
        battery = number(doc.get("battery"))
        battery = None if battery is None else min(max(battery / 100.0, 0.0), 1.0)
        fields = [(k, v, None) for k, v in doc.items()
                  if k not in SKIP and isinstance(v, (int, float, str, bool)) and not isinstance(v, dict)]
        quality = number(doc.get("linkquality"))
        self.observe(out, message, route.device_id, ts, fields, battery=battery,
                     signal=None if quality is None else {"linkquality": quality})
