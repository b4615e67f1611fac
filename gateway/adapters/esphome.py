"""ESPHome's MQTT component: plain-text states on `{topic_prefix}/sensor/{object_id}/state` and
`{topic_prefix}/binary_sensor/{object_id}/state`, birth and last will on `{topic_prefix}/status`.

A node's topic prefix is its name unless configured otherwise. States carry no
unit and no time: an object id maps to a metric by the `fields` option
(`{pm_2_5 = "pm25"}`, `{tank = {metric = "water_level_cm", unit = "m"}}`) or by
its name, in the metric's unit; the time is when the gateway received it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from gateway.adapters._common import IGNORED, AdapterRoute, ThirdPartyAdapter, check_filters, text, topic_matches
from gateway.adapters.native import PayloadError
from gateway.deadletters import Reason
from gateway.messages import Decoded
from mqttwire.packets import Inbound

COMPONENTS = ("sensor", "binary_sensor")
UNKNOWN_STATES = frozenset({"", "nan", "-nan", "unknown", "none", "unavailable"})


class EsphomeAdapter(ThirdPartyAdapter):
    """ESPHome nodes. `topic_prefixes` are MQTT filters for the nodes' prefixes (default `+`: every
    single-level prefix); `ignore_nodes` are prefixes that are not ESPHome nodes (Home Assistant's
    own `homeassistant/status` birth message)."""

    name = "esphome"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "topic_prefixes": ("+",), "ignore_nodes": ("homeassistant",), "device_prefix": "esphome", "fields": {}
    }

    def __init__(self, settings, topics, table=None):
        super().__init__(settings, topics, table)
        self.prefixes = tuple(p.strip("/") for p in self.options["topic_prefixes"])
        filters = [f"{p}/{c}/+/state" for p in self.prefixes for c in COMPONENTS] + [f"{p}/status" for p in self.prefixes]
        self._filters = check_filters(f"adapters.{self.name}.topic_prefixes", filters, topics)
        self.ignored = frozenset(self.options["ignore_nodes"])

    @property
    def filters(self) -> tuple[str, ...]:
        return self._filters

    def _node(self, prefix: str, kind: str, key: str = "") -> AdapterRoute | None:
        if not any(topic_matches(p, prefix) for p in self.prefixes):
            return None
        if prefix in self.ignored:
            return IGNORED  # under our subscriptions, but not an ESPHome node
        device_id = self.identify(prefix, name=prefix, model="ESPHome")
        return IGNORED if device_id is None else AdapterRoute(kind, device_id, key)

    def match(self, topic: str) -> AdapterRoute | None:
        levels = topic.split("/")
        if len(levels) >= 2 and levels[-1] == "status":
            return self._node("/".join(levels[:-1]), "status")
        if len(levels) >= 4 and levels[-1] == "state" and levels[-3] in COMPONENTS:
            return self._node("/".join(levels[:-3]), levels[-3], levels[-2])
        return None

    def decode(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        if route.kind == "ignore":
            return
        try:
            state = text(message.payload)
            if route.kind == "status":
                if not message.payload:
                    return  # an empty retained message clears the retained status: nothing to record
                if state.lower() not in ("online", "offline"):
                    raise PayloadError(Reason.SCHEMA, "status must be online or offline")
                self.status(out, message, route.device_id, state.lower() == "online")
            elif state.lower() not in UNKNOWN_STATES:
                self.observe(out, message, route.device_id, None, [(route.key, state, None)])
        except PayloadError as exc:
            self.reject(out, message, exc.reason, str(exc), route.device_id)

