"""The Things Stack v3 (The Things Network, The Things Industries): uplinks on
`v3/{application id}@{tenant id}/devices/{device id}/up` (`v3/{application id}/...` on open-source
deployments), measurements from the payload formatter's `decoded_payload`.

The Things Stack leaves out every field whose value is zero, "" or false (proto3
JSON): a missing `f_cnt` is frame 0, a missing `latitude` is 0 degrees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from gateway.adapters._common import (
    IGNORED,
    AdapterRoute,
    ThirdPartyAdapter,
    check_filters,
    epoch,
    loads,
    number,
    position,
)
from gateway.adapters._units import LATITUDE, LONGITUDE, normalize
from gateway.adapters.native import PayloadError
from gateway.deadletters import Reason
from gateway.messages import Decoded
from mqttwire.packets import Inbound

MAX_DEPTH = 3


def flatten(doc: dict, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, object, str | None]]:
    """(name, value, unit) of a decoded payload's leaves: nested objects join their names with "_";
    an object with a `value` (and maybe a `unit`) is one leaf.

    >>> list(flatten({"air": {"temperature": 21.5}, "noise": {"value": 61, "unit": "dBA"}, "tags": [1]}))
    [('air_temperature', 21.5, None), ('noise', 61, 'dBA')]
    """
    for key, value in doc.items():
        name = f"{prefix}_{key}" if prefix else str(key)
        if isinstance(value, dict):
            if "value" in value and not isinstance(value["value"], (dict, list)):
                unit = value.get("unit")
                yield name, value["value"], unit if isinstance(unit, str) else None
            elif depth < MAX_DEPTH:
                yield from flatten(value, name, depth + 1)
        elif isinstance(value, (int, float, str, bool)):
            yield name, value, None


class TheThingsStackAdapter(ThirdPartyAdapter):
    """Uplink messages of The Things Stack's MQTT server (or an MQTT bridge of its integrations)."""

    name = "ttn"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "applications": ("+",), "device_prefix": "ttn", "accept_simulated": True, "fields": {}
    }

    def __init__(self, settings, topics, table=None):
        super().__init__(settings, topics, table)
        filters = [f"v3/{app}/devices/+/up" for app in self.options["applications"]]
        self._filters = check_filters(f"adapters.{self.name}.applications", filters, topics)

    @property
    def filters(self) -> tuple[str, ...]:
        return self._filters

    def match(self, topic: str) -> AdapterRoute | None:
        levels = topic.split("/")
        if len(levels) < 4 or levels[0] != "v3" or levels[2] != "devices":
            return None
        if len(levels) != 5 or levels[4] != "up":
            return IGNORED  # join, downlink, service and location events
        device_id = self.identify(levels[3], name=levels[3], model=f"The Things Stack application {levels[1]}")
        return IGNORED if device_id is None else AdapterRoute("up", device_id, levels[1])

    def decode(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        if route.kind != "up":
            return
        try:
            self._uplink(message, route, out)
        except PayloadError as exc:
            self.reject(out, message, exc.reason, str(exc), route.device_id)

    def _uplink(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        doc = loads(message.payload)
        if not isinstance(doc, dict):
            raise PayloadError(Reason.SCHEMA, "an uplink must be a JSON object")
        up = doc.get("uplink_message")
        if not isinstance(up, dict):
            raise PayloadError(Reason.SCHEMA, "uplink_message is missing or not an object")
        if doc.get("simulated") is True and not self.options["accept_simulated"]:
            return
        decoded = up.get("decoded_payload")
        if decoded is None:
            normalized = up.get("normalized_payload")
            if isinstance(normalized, list) and normalized and isinstance(normalized[0], dict):
                decoded = normalized[0]
            elif "frm_payload" not in up:
                return  # f_port 0 (left out): MAC commands only, no application data
            else:
                raise PayloadError(Reason.SCHEMA, "the uplink has no decoded_payload: give the device or its "
                                                  "application a payload formatter")
        if not isinstance(decoded, dict):
            raise PayloadError(Reason.SCHEMA, "decoded_payload must be a JSON object")
        stamp = up.get("received_at", doc.get("received_at"))
        ts = None if stamp is None else epoch(stamp)
        f_cnt = up.get("f_cnt", 0)
        if isinstance(f_cnt, bool) or not isinstance(f_cnt, int) or f_cnt < 0:
            raise PayloadError(Reason.SCHEMA, "f_cnt must be a non-negative integer")
        fields = list(flatten(decoded))
        loc = self._payload_position(fields) or self._user_location(up.get("locations", doc.get("locations")))
        battery = up.get("last_battery_percentage")
        battery = number(battery.get("value", 0)) if isinstance(battery, dict) else None
        battery = None if battery is None else min(max(battery / 100.0, 0.0), 1.0)
        fields = [f for f in fields if normalize(f[0]) not in LATITUDE | LONGITUDE]
        self.observe(out, message, route.device_id, ts, fields, loc=loc, seq=f_cnt, battery=battery, strict=True,
                     signal=self._signal(up.get("rx_metadata")))

    @staticmethod
    def _signal(rx_metadata) -> dict | None:
        """RSSI and SNR at the gateway that heard the uplink best (`rx_metadata`, one entry per gateway)."""
        best, best_rssi = None, float("-inf")
        for rx in rx_metadata if isinstance(rx_metadata, list) else ():
            if not isinstance(rx, dict):
                continue
            rssi = number(rx.get("rssi", rx.get("channel_rssi")))
            if rssi is not None and (best is None or rssi > best_rssi):
                best, best_rssi = {"rssi": rssi, "snr": number(rx.get("snr"))}, rssi
        return best

    @staticmethod
    def _payload_position(fields) -> tuple[float, float] | None:
        """A GPS tracker's own position in its decoded payload (`latitude`/`longitude`, `lat`/`lon`)."""
        found: dict[str, float] = {}
        for name, value, _ in fields:
            key = normalize(name).rsplit("_", 1)[-1]
            if key in LATITUDE:
                found.setdefault("lat", value)
            elif key in LONGITUDE:
                found.setdefault("lon", value)
        if "lat" in found and "lon" in found:
            return position(found["lat"], found["lon"])
        return None

    @staticmethod
    def _user_location(locations: object) -> tuple[float, float] | None:
        """`locations.user`, the location set in the console or the device repository."""
        if not isinstance(locations, dict) or not isinstance(locations.get("user"), dict):
            return None
        user = locations["user"]
        if "latitude" not in user and "longitude" not in user:
            return None  # nothing set (0, 0 would be in the Gulf of Guinea anyway)
        return position(user.get("latitude", 0.0), user.get("longitude", 0.0))
