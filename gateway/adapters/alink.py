"""Alibaba Cloud IoT Platform, Alink JSON property posts on `/sys/{productKey}/{deviceName}/thing/event/...`.

- `.../property/post` (thing.event.property.post): `params` maps each property
  identifier to its value, or to `{"value": ..., "time": epoch ms}`;
- `.../property/batch/post` (thing.event.property.batch.post): `params.properties`
  maps each identifier to a list of `{"value", "time"}`;
- `.../property/pack/post` (thing.event.property.pack.post, a gateway): `params.properties`
  of the gateway itself and `params.subDevices[]` with their `identity` and `properties`;
- `.../property/history/post` (thing.event.property.history.post): `params` is a list
  of `{"identity", "properties": [...]}`.

Events (`events` members, `thing/event/{id}/post`) are not readings and are
ignored. The device id is `alink-{productKey}-{deviceName}`. The standard
`GeoLocation` property (WGS84, CoordinateSystem 1) gives the device's position.
"""

from __future__ import annotations

from typing import Any, ClassVar

from gateway.adapters._common import IGNORED, AdapterRoute, ThirdPartyAdapter, check_filters, epoch, loads, position
from gateway.adapters.native import PayloadError
from gateway.deadletters import Reason
from gateway.messages import Decoded
from mqttwire.packets import Inbound

KINDS = {
    "thing/event/property/post": "post",
    "thing/event/property/batch/post": "batch",
    "thing/event/property/pack/post": "pack",
    "thing/event/property/history/post": "history",
}
GEOLOCATION = "GeoLocation"


class AlinkAdapter(ThirdPartyAdapter):
    """Alink JSON property posts; `product_keys` narrows the products subscribed to (default all)."""

    name = "alink"
    DEFAULTS: ClassVar[dict[str, Any]] = {"product_keys": ("+",), "device_prefix": "alink", "fields": {}}

    def __init__(self, settings, topics, table=None):
        super().__init__(settings, topics, table)
        filters = [f"/sys/{pk}/+/{tail}" for pk in self.options["product_keys"] for tail in KINDS]
        self._filters = check_filters(f"adapters.{self.name}.product_keys", filters, topics)

    @property
    def filters(self) -> tuple[str, ...]:
        return self._filters

    def match(self, topic: str) -> AdapterRoute | None:
        levels = topic.split("/")
        if len(levels) < 5 or levels[0] != "" or levels[1] != "sys":
            return None
        kind = KINDS.get("/".join(levels[4:]))
        if kind is None:
            return IGNORED  # replies, events and services
        device_id = self._device(levels[2], levels[3])
        return IGNORED if device_id is None else AdapterRoute(kind, device_id)

    def _device(self, product_key: object, device_name: object) -> str | None:
        if not isinstance(product_key, str) or not isinstance(device_name, str) or not product_key or not device_name:
            return None
        return self.identify(f"{product_key}-{device_name}", name=device_name, model=f"Alink product {product_key}")

    def decode(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        if route.kind == "ignore":
            return
        before = len(out.rejections)
        try:
            doc = loads(message.payload)
            if not isinstance(doc, dict) or "params" not in doc:
                raise PayloadError(Reason.SCHEMA, "an Alink request must be a JSON object with params")
            params = doc["params"]
            posts = getattr(self, f"_{route.kind}")(params, route.device_id)
        except PayloadError as exc:
            self.reject(out, message, exc.reason, str(exc), route.device_id)
            return
        observed = False
        for device_id, samples in posts:
            try:
                observed |= self._observe(out, message, device_id, samples)
            except PayloadError as exc:
                self.reject(out, message, exc.reason, str(exc), device_id)
        if not observed and len(out.rejections) == before:
            self.reject(out, message, Reason.UNKNOWN_METRIC, "no property maps to a catalog metric; map the "
                        f"identifiers under [adapters.{self.name}.fields]", route.device_id)

    # -- the four shapes -> [(device id, [(identifier, value, time ms | None)])] ---------------
    def _post(self, params: object, device_id: str) -> list:
        if not isinstance(params, dict):
            raise PayloadError(Reason.SCHEMA, "params must be an object of property identifier -> value")
        return [(device_id, [_sample(k, v) for k, v in params.items()])]

    def _batch(self, params: object, device_id: str) -> list:
        properties = params.get("properties") if isinstance(params, dict) else None
        if not isinstance(properties, dict):
            raise PayloadError(Reason.SCHEMA, "params.properties must be an object of identifier -> [{value, time}]")
        samples = []
        for identifier, items in properties.items():
            if not isinstance(items, list):
                raise PayloadError(Reason.SCHEMA, f"params.properties.{identifier[:40]} must be a list of {{value, time}}")
            samples += [_sample(identifier, item) for item in items]
        return [(device_id, samples)]

    def _pack(self, params: object, device_id: str) -> list:
        if not isinstance(params, dict):
            raise PayloadError(Reason.SCHEMA, "params must be an object with properties and subDevices")
        posts = []
        if params.get("properties") is not None:
            posts += self._post(params["properties"], device_id)
        subs = params.get("subDevices", [])
        if not isinstance(subs, list):
            raise PayloadError(Reason.SCHEMA, "params.subDevices must be a list")
        for index, sub in enumerate(subs):
            sub_id = self._identity(sub, f"params.subDevices[{index}]")
            posts += self._post(sub.get("properties", {}), sub_id)
        return posts

    def _history(self, params: object, device_id: str) -> list:
        if not isinstance(params, list):
            raise PayloadError(Reason.SCHEMA, "params must be a list of {identity, properties}")
        posts = []
        for index, item in enumerate(params):
            item_id = self._identity(item, f"params[{index}]")
            properties = item.get("properties", [])
            for block in properties if isinstance(properties, list) else [properties]:
                posts += self._post(block, item_id)
        return posts

    def _identity(self, item: object, where: str) -> str:
        identity = item.get("identity") if isinstance(item, dict) else None
        if not isinstance(identity, dict):
            raise PayloadError(Reason.SCHEMA, f"{where}.identity must be {{productKey, deviceName}}")
        device_id = self._device(identity.get("productKey"), identity.get("deviceName"))
        if device_id is None:
            raise PayloadError(Reason.SCHEMA, f"{where}.identity needs a productKey and a deviceName")
        return device_id

    def _observe(self, out: Decoded, message: Inbound, device_id: str, samples: list) -> bool:
        loc = None
        by_time: dict[float | None, list] = {}
        for identifier, value, time_ms in samples:
            if identifier == GEOLOCATION and isinstance(value, dict):
                if value.get("CoordinateSystem", 1) not in (1, "1"):
                    raise PayloadError(Reason.SCHEMA, "GeoLocation must be WGS84 (CoordinateSystem 1)")
                loc = position(value.get("Latitude"), value.get("Longitude"))
                continue
            if isinstance(value, (int, float, str, bool)):
                ts = None if time_ms is None else epoch(time_ms, "ms")
                # A TSL module's property is "module:identifier".
                by_time.setdefault(ts, []).append((identifier.rsplit(":", 1)[-1], value, None))
        observed = False
        for ts, fields in by_time.items():
            observed |= self.observe(out, message, device_id, ts, fields, loc=loc)
        return observed


def _sample(identifier: str, item: object) -> tuple[str, object, object]:
    """(identifier, value, time ms or None) of `value` or `{"value": ..., "time": ...}`."""
    if isinstance(item, dict) and "value" in item:
        time_ms = item.get("time")
        if time_ms is not None and (isinstance(time_ms, bool) or not isinstance(time_ms, (int, float, str))):
            raise PayloadError(Reason.SCHEMA, f"{identifier[:40]}.time must be epoch milliseconds")
        if isinstance(time_ms, str):
            try:
                time_ms = int(time_ms)
            except ValueError:
                raise PayloadError(Reason.SCHEMA, f"{identifier[:40]}.time must be epoch milliseconds") from None
        return identifier, item["value"], time_ms
    return identifier, item, None
