"""Home Assistant MQTT discovery: learn sensors from `homeassistant/{component}/[{node_id}/]{object_id}/config`
(and device discovery on `homeassistant/device/{object_id}/config`), then read their state topics.

Config payloads may use Home Assistant's abbreviations (`stat_t`, `unit_of_meas`,
`dev`, `ids`, ...) and the `~` base topic. `sensor` and `binary_sensor` entities
are learned; an empty config payload removes the entity. A state is read through
the entity's `value_template` in its simple forms (`{{ value }}`,
`{{ value_json.a.b }}`, `{{ value_json['a'] }}`, with `float`, `int`, `round`,
`default` filters), mapped to a metric by device class, unit or name. Learned
state topics are subscribed at run time (see `take_subscriptions`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from gateway.adapters._common import IGNORED, AdapterRoute, ThirdPartyAdapter, check_filters, covers_prefix, loads, text
from gateway.adapters._units import Field
from gateway.adapters.native import PayloadError
from gateway.deadletters import Reason
from gateway.messages import Decoded, Observation
from mqttwire.packets import Inbound

log = logging.getLogger(__name__)

ABBREVIATIONS = {
    "avty": "availability", "avty_t": "availability_topic", "avty_tpl": "availability_template",
    "dev": "device", "dev_cla": "device_class", "obj_id": "object_id", "pl_avail": "payload_available",
    "pl_not_avail": "payload_not_available", "pl_on": "payload_on", "pl_off": "payload_off",
    "stat_t": "state_topic", "stat_cla": "state_class", "uniq_id": "unique_id", "unit_of_meas": "unit_of_measurement",
    "val_tpl": "value_template", "t": "topic", "p": "platform", "cmps": "components", "o": "origin",
    "exp_aft": "expire_after", "json_attr_t": "json_attributes_topic",
}  # fmt: skip
DEVICE_ABBREVIATIONS = {"ids": "identifiers", "cns": "connections", "mf": "manufacturer", "mdl": "model",
                        "sw": "sw_version", "hw": "hw_version", "sa": "suggested_area", "sn": "serial_number"}
COMPONENTS = ("sensor", "binary_sensor")
EMPTY_STATES = frozenset({"", "unknown", "unavailable", "none", "null", "nan"})

_PATH = r"value_json((?:\.[A-Za-z_][A-Za-z0-9_]*|\[\s*(?:'[^']*'|\"[^\"]*\"|\d+)\s*\])*)"
_TEMPLATE = re.compile(r"\{\{\s*(value|" + _PATH + r")\s*((?:\|\s*[a-z_]+\s*(?:\([^()]*\))?\s*)*)\}\}")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:'([^']*)'|\"([^\"]*)\"|(\d+))\s*\]")
_FILTER = re.compile(r"\|\s*([a-z_]+)\s*(?:\(([^()]*)\))?")
FILTERS = frozenset({"float", "int", "round", "default", "string", "trim", "lower", "upper", "is_defined"})


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed simple value template: a path into the JSON payload (None: the raw payload) and filters."""

    path: tuple | None
    filters: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, source: str | None) -> Template:
        """`{{ value_json.a['b'] | float }}` -> path ("a", "b"), filters (("float", ""),).

        >>> Template.parse("{{ value_json.temperature }}").path, Template.parse("{{value}}").path
        (('temperature',), None)
        >>> Template.parse("{{ value_json['PMS5003']['PM2.5'] | round(1) }}")
        Template(path=('PMS5003', 'PM2.5'), filters=(('round', '1'),))
        """
        if source is None:
            return cls(None)
        found = _TEMPLATE.fullmatch(source.strip())
        if found is None:
            raise PayloadError(Reason.SCHEMA, f"value_template {source[:80]!r} is not supported: use {{{{ value }}}} "
                                              "or {{ value_json.x }} / {{ value_json['x'] }} with float, int or round")
        path = None
        if found.group(1) != "value":
            path = tuple(int(m.group(4)) if m.group(4) is not None else (m.group(1) or m.group(2) or m.group(3) or "")
                         for m in _STEP.finditer(found.group(2)))
        filters = tuple((m.group(1), (m.group(2) or "").strip()) for m in _FILTER.finditer(found.group(3)))
        unknown = [name for name, _ in filters if name not in FILTERS]
        if unknown:
            raise PayloadError(Reason.SCHEMA, f"value_template filter {unknown[0]!r} is not supported")
        for name, argument in filters:
            first = argument.split(",")[0].strip()
            if name == "round" and first and not re.fullmatch(r"\d{1,2}", first):
                raise PayloadError(Reason.SCHEMA, f"value_template: round({argument[:20]}) is not supported; "
                                                  "use round(N) with N digits")
        return cls(path, filters)

    @property
    def uses_json(self) -> bool:
        return self.path is not None

    def render(self, payload: str, doc: object) -> object:
        """The value the template gives for a payload (its text, and its JSON when the template reads it)."""
        value: object = payload
        if self.path is not None:
            value = doc
            for step in self.path:
                if isinstance(value, dict) and isinstance(step, str) and step in value:  # noqa: SIM114 (typed apart)
                    value = value[step]
                elif isinstance(value, list) and isinstance(step, int) and -len(value) <= step < len(value):
                    value = value[step]
                else:
                    value = None
                    break
        for name, argument in self.filters:
            if name == "default":
                value = _literal(argument) if value is None else value
            elif value is None:
                continue
            elif name in ("float", "int", "round"):
                try:
                    number = float(value)  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    value = _literal(argument) if argument and name != "round" else None
                    continue
                digits = int(argument.split(",")[0]) if name == "round" and argument else 0
                value = int(number) if name == "int" else (round(number, digits) if name == "round" else number)
            elif name in ("lower", "upper", "trim", "string"):
                value = str(value)
                value = value.lower() if name == "lower" else value.upper() if name == "upper" else \
                    value.strip() if name == "trim" else value
        return value


def _literal(text_: str) -> object:
    text_ = text_.strip().strip("'\"")
    try:
        return float(text_)
    except ValueError:
        return text_


def _expand(config: dict, table: dict) -> dict:
    return {table.get(k, k): v for k, v in config.items()}


def _with_base(config: dict) -> dict:
    """`~` at the start or end of a topic option stands for the `~` base topic."""
    base = config.get("~")
    if not isinstance(base, str):
        return config
    fixed = dict(config)
    for key, value in config.items():
        if (key.endswith("_topic") or key == "topic") and isinstance(value, str):
            if value.startswith("~"):
                fixed[key] = base + value[1:]
            elif value.endswith("~"):
                fixed[key] = value[:-1] + base
    return fixed


@dataclass(frozen=True, slots=True)
class Entity:
    device_id: str
    component: str
    state_topic: str
    template: Template
    field: Field | None
    source: str
    payload_on: str = "ON"
    payload_off: str = "OFF"


class HomeAssistantAdapter(ThirdPartyAdapter):
    """Devices that announce themselves with Home Assistant's MQTT discovery."""

    name = "homeassistant"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "discovery_prefix": "homeassistant", "device_prefix": "ha", "state_filters": (), "subscribe_state_topics": True,
        "fields": {}
    }

    def __init__(self, settings, topics, table=None):
        super().__init__(settings, topics, table)
        self.prefix = self.options["discovery_prefix"].strip("/")
        where = f"adapters.{self.name}"
        static = [f"{self.prefix}/#", *self.options["state_filters"]]
        self._filters = check_filters(f"{where}.discovery_prefix / state_filters", static, topics)
        self.entities: dict[tuple, Entity] = {}
        self.by_topic: dict[str, dict[tuple, Entity]] = {}
        self.availability: dict[str, dict[str, tuple[str, str]]] = {}  # topic -> device id -> (online, offline)
        self._subscribed: set[str] = set()
        self._new: list[str] = []

    @property
    def filters(self) -> tuple[str, ...]:
        return self._filters

    def take_subscriptions(self) -> list[str]:
        """State and availability topics learned since the last call that no filter covers yet."""
        new, self._new = self._new, []
        return new

    def _want(self, topic: str) -> None:
        if (not self.options["subscribe_state_topics"] or topic in self._subscribed or "+" in topic or "#" in topic
                or covers_prefix(topic, self.topics.prefix) or topic.startswith(self.topics.prefix + "/")):
            return
        self._subscribed.add(topic)
        self._new.append(topic)

    def match(self, topic: str) -> AdapterRoute | None:
        if topic.startswith(self.topics.prefix + "/"):
            return None  # the gateway's own topic tree stays the native adapter's
        if topic.startswith(self.prefix + "/"):
            levels = topic[len(self.prefix) + 1:].split("/")
            if levels[-1] == "config" and len(levels) in (3, 4):
                return AdapterRoute("config", key="/".join(levels[:-1]))
            return IGNORED  # Home Assistant's own birth message and other discovery traffic
        # Any other topic may be a learned state topic; which one is looked up when it arrives,
        # so that a state delivered before its retained config is ignored, not dead-lettered.
        return AdapterRoute("state", key=topic)

    def decode(self, message: Inbound, route: AdapterRoute, out: Decoded) -> None:
        if route.kind == "config":
            try:
                self._config(message, route.key)
            except PayloadError as exc:
                self.reject(out, message, exc.reason, str(exc))
        elif route.kind == "state":
            self._state(message, out)

    # -- discovery ------------------------------------------------------------------------
    def _config(self, message: Inbound, key: str) -> None:
        levels = key.split("/")
        component, object_id = levels[0], levels[-1]
        node_id = levels[1] if len(levels) == 3 else ""
        if not message.payload.strip():
            self._forget(lambda k: k[:3] == (component, node_id, object_id))
            return
        doc = loads(message.payload)
        if not isinstance(doc, dict):
            raise PayloadError(Reason.SCHEMA, "a discovery config must be a JSON object")
        config = _with_base(_expand(doc, ABBREVIATIONS))
        if component == "device":
            self._device_config(config, object_id)
        elif component in COMPONENTS:
            self._learn((component, node_id, object_id, ""), component, config, node_id or object_id)

    def _device_config(self, config: dict, object_id: str) -> None:
        components = config.get("components")
        if not isinstance(components, dict):
            raise PayloadError(Reason.SCHEMA, "a device discovery config needs a components object")
        shared = {k: v for k, v in config.items() if k not in ("components", "device", "origin", "~")}
        for name, spec in components.items():
            if not isinstance(spec, dict):
                raise PayloadError(Reason.SCHEMA, f"components.{name[:40]} must be an object")
            spec = _with_base({"~": config.get("~"), **_expand(spec, ABBREVIATIONS)})
            platform = spec.get("platform")
            key = ("device", "", object_id, name)
            if set(spec) - {"platform", "~"} == set():
                self._forget(lambda k, key=key: k == key)  # only the platform left: the component is removed
            elif platform in COMPONENTS:
                self._learn(key, platform, {**shared, "device": config.get("device"), **spec}, object_id)

    def _learn(self, key: tuple, component: str, config: dict, fallback_id: str) -> None:
        state_topic = config.get("state_topic")
        if not isinstance(state_topic, str) or not state_topic or "+" in state_topic or "#" in state_topic:
            raise PayloadError(Reason.SCHEMA, f"{component} {key[2][:40]}: state_topic must be a topic")
        template = Template.parse(config.get("value_template"))
        given = config.get("device")
        device = _expand(given if isinstance(given, dict) else {}, DEVICE_ABBREVIATIONS)
        identifiers = device.get("identifiers")
        if isinstance(identifiers, list):
            identifiers = identifiers[0] if identifiers else None
        connections = device.get("connections")
        if identifiers is None and isinstance(connections, list) and connections and isinstance(connections[0], list):
            identifiers = connections[0][-1]
        unique_id = config.get("unique_id")
        source_id = str(identifiers or fallback_id or unique_id or key[2])
        device_id = self.identify(source_id, name=str(device.get("name") or config.get("name") or source_id),
                                  model=str(device.get("model") or ""))
        if device_id is None:
            raise PayloadError(Reason.SCHEMA, f"{component} {key[2][:40]}: the device has no usable identifier")
        source = unique_id if unique_id in self.mapper.fields else (key[3] or key[2])
        unit = config.get("unit_of_measurement")
        device_class = config.get("device_class")
        field = self.mapper.field(str(source), unit if isinstance(unit, str) else None,
                                  device_class if isinstance(device_class, str) else None)
        if field is None and isinstance(config.get("name"), str):
            field = self.mapper.field(config["name"], unit if isinstance(unit, str) else None)
        entity = Entity(device_id, component, state_topic, template, field,
                        str(source), str(config.get("payload_on", "ON")), str(config.get("payload_off", "OFF")))
        self._forget(lambda k: k == key)
        self.entities[key] = entity
        self.by_topic.setdefault(state_topic, {})[key] = entity
        if field is not None:  # link quality, switches and the like are not worth a subscription
            self._want(state_topic)
            self._learn_availability(config, device_id)
        log.debug("homeassistant entity %s of device %s on %s: %s", key, device_id, state_topic,
                  field.metric.name if field else "no metric")

    def _learn_availability(self, config: dict, device_id: str) -> None:
        entries = []
        if isinstance(config.get("availability_topic"), str):
            entries.append((config["availability_topic"], config))
        for item in config.get("availability") or ():
            if isinstance(item, dict):
                item = _expand(item, ABBREVIATIONS)
                if isinstance(item.get("topic"), str):
                    entries.append((item["topic"], item))
        for topic, spec in entries:
            on = str(spec.get("payload_available", config.get("payload_available", "online")))
            off = str(spec.get("payload_not_available", config.get("payload_not_available", "offline")))
            self.availability.setdefault(topic, {})[device_id] = (on, off)
            self._want(topic)

    def _forget(self, which) -> None:
        for key in [k for k in self.entities if which(k)]:
            entity = self.entities.pop(key)
            self.by_topic.get(entity.state_topic, {}).pop(key, None)

    # -- states ---------------------------------------------------------------------------
    def _state(self, message: Inbound, out: Decoded) -> None:
        topic = message.topic
        for device_id, (on, off) in self.availability.get(topic, {}).items():
            state = message.payload.decode("utf-8", "replace").strip()
            if state in (on, off):
                self.status(out, message, device_id, state == on)
        entities = [e for e in self.by_topic.get(topic, {}).values() if e.field is not None]
        if not entities:
            return
        try:
            payload = text(message.payload)
            doc = loads(message.payload) if any(e.template.uses_json for e in entities) else None
        except PayloadError as exc:
            self.reject(out, message, exc.reason, str(exc), entities[0].device_id)
            return
        per_device: dict[str, list] = {}
        for entity in entities:
            value = entity.template.render(payload, doc)
            if value is None or (isinstance(value, str) and value.strip().lower() in EMPTY_STATES):
                continue
            if entity.component == "binary_sensor":
                if str(value) not in (entity.payload_on, entity.payload_off):
                    self.reject(out, message, Reason.SCHEMA, f"{entity.source[:40]}: {str(value)[:20]!r} is neither "
                                f"{entity.payload_on!r} nor {entity.payload_off!r}", entity.device_id)
                    continue
                value = str(value) == entity.payload_on
            per_device.setdefault(entity.device_id, []).append((entity, value))
        for device_id, items in per_device.items():
            self.observe_fields(out, message, device_id, items)

    def observe_fields(self, out: Decoded, message: Inbound, device_id: str, items: list) -> None:
        """One observation of a device's entities on one state topic (their fields are already resolved)."""
        values = {}
        for entity, raw in items:
            if entity.field.metric.name in values:
                continue
            try:
                values[entity.field.metric.name] = self.mapper.value(entity.field, raw)
            except PayloadError as exc:
                self.reject(out, message, exc.reason, f"{entity.source[:40]}: {exc}", device_id)
        if values:
            out.observations.append(Observation(device_id, None, values, message.topic, message.payload,
                                                message.received_at))
