"""Payload adapters: each turns the messages of one source format into observations.

An adapter is one module with a class that has `name`, `filters` (the topic
filters it subscribes to), `match(topic) -> route | None` and
`decode(message, route, out: Decoded)`, and says what the pipeline needs beyond
decoding (`gateway.types.Adapter`; third-party formats inherit it from
`ThirdPartyAdapter`). `ADAPTERS` lists them in the order the
pipeline asks them about a topic; `build_adapters` makes the enabled ones from
the settings (`[adapters] enabled = [...]`, and one `[adapters.NAME]` table of
options each). A new format is one module here and one line in `ADAPTERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.adapters._common import IGNORE, AdapterRoute, ThirdPartyAdapter, make_device_id
from gateway.adapters.alink import AlinkAdapter
from gateway.adapters.esphome import EsphomeAdapter
from gateway.adapters.frigate import FrigateAdapter
from gateway.adapters.homeassistant import HomeAssistantAdapter
from gateway.adapters.native import NativeAdapter
from gateway.adapters.senml import SenmlAdapter
from gateway.adapters.tasmota import TasmotaAdapter
from gateway.adapters.ttn import TheThingsStackAdapter
from gateway.adapters.zigbee2mqtt import Zigbee2MqttAdapter
from gateway.types import Adapter
from mqttwire.topics import Topics
from twin.config import Settings
from twin.errors import ConfigError

__all__ = [
    "ADAPTERS",
    "IGNORE",
    "AdapterRoute",
    "AlinkAdapter",
    "EsphomeAdapter",
    "FrigateAdapter",
    "HomeAssistantAdapter",
    "NativeAdapter",
    "SenmlAdapter",
    "TasmotaAdapter",
    "TheThingsStackAdapter",
    "ThirdPartyAdapter",
    "Zigbee2MqttAdapter",
    "build_adapters",
    "make_device_id",
]


def _native(settings: Settings, topics: Topics, table: Mapping | None) -> NativeAdapter:
    if table:
        raise ConfigError(f"[adapters.native] takes no options (got {', '.join(sorted(table))}); "
                          "the native topics follow mqtt.prefix")
    return NativeAdapter(topics, settings.gateway.max_batch_readings)


# Asked in this order: the native adapter first (its prefix is the contract's), Home Assistant
# last (it may claim any topic that the others leave, since its state topics are learned).
ADAPTERS: dict[str, Callable[[Settings, Topics, Mapping | None], Adapter]] = {
    "native": _native,
    "frigate": FrigateAdapter,
    "ttn": TheThingsStackAdapter,
    "zigbee2mqtt": Zigbee2MqttAdapter,
    "senml": SenmlAdapter,
    "tasmota": TasmotaAdapter,
    "esphome": EsphomeAdapter,
    "alink": AlinkAdapter,
    "homeassistant": HomeAssistantAdapter,
}


def build_adapters(settings: Settings, topics: Topics) -> list[Adapter]:
    """The enabled adapters, in `ADAPTERS` order, each made with its `[adapters.NAME]` options.

    Raises ConfigError naming the adapter and key for an unknown adapter or option.
    """
    enabled = list(dict.fromkeys(settings.adapters.enabled))
    unknown = [name for name in enabled if name not in ADAPTERS]
    if unknown:
        raise ConfigError(f"adapters.enabled: unknown adapter(s) {', '.join(unknown)}; known: {', '.join(ADAPTERS)}")
    stray = [name for name in settings.adapters.options if name not in ADAPTERS]
    if stray:
        raise ConfigError(f"[adapters.{stray[0]}]: no such adapter; known: {', '.join(ADAPTERS)}")
    return [ADAPTERS[name](settings, topics, settings.adapters.options.get(name)) for name in ADAPTERS
            if name in enabled]
