"""Source field names and units -> metrics of the catalog, in the catalog's units.

Third-party devices name their measurements freely ("temperature", "PM2.5",
"CurrentTemperature", "3303/0/5700") and may give units ("°F", "Cel", "m").
`FieldMapper` finds the catalog metric a field stands for and converts its
value into that metric's unit; a unit it cannot convert is an error, never a
silent guess.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.adapters.native import PayloadError
from gateway.deadletters import Reason
from twin.errors import ConfigError
from twin.sensing.catalog import Metric, MetricCatalog


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit as `scale * x + offset` of its family's base unit."""

    family: str
    scale: float = 1.0
    offset: float = 0.0


# Canonical spellings; `unit()` folds case, spaces, µ/μ and superscripts onto these keys.
UNITS: dict[str, Unit] = {
    "k": Unit("temperature"),
    "degc": Unit("temperature", 1.0, 273.15),
    "degf": Unit("temperature", 5 / 9, 273.15 - 32 * 5 / 9),
    "%": Unit("percent"),
    "ug/m3": Unit("mass_concentration"),
    "mg/m3": Unit("mass_concentration", 1000.0),
    "db": Unit("sound"),
    "m": Unit("length"),
    "cm": Unit("length", 0.01),
    "mm": Unit("length", 0.001),
    "km": Unit("length", 1000.0),
    "in": Unit("length", 0.0254),
    "ft": Unit("length", 0.3048),
    "deg": Unit("angle"),
    "rad": Unit("angle", 180 / math.pi),
    "%/m": Unit("obscuration"),
    "": Unit("none"),
}

ALIASES = {
    "kelvin": "k",
    "c": "degc", "°c": "degc", "℃": "degc", "cel": "degc", "celsius": "degc", "deg c": "degc", "degreesc": "degc",
    "f": "degf", "°f": "degf", "℉": "degf", "fahrenheit": "degf", "deg f": "degf", "degreesf": "degf",
    "%rh": "%", "rh": "%", "percent": "%", "pct": "%", "/100": "%",
    "ug/m^3": "ug/m3", "ugm3": "ug/m3", "ug/m³": "ug/m3", "mg/m^3": "mg/m3",
    "dba": "db", "db(a)": "db", "dbspl": "db", "db spl": "db", "dbz": "db",
    "meter": "m", "meters": "m", "metre": "m", "metres": "m",
    "inch": "in", "inches": "in", "feet": "ft", "foot": "ft",
    "°": "deg", "degree": "deg", "degrees": "deg",
    "1": "", "count": "", "bool": "",
}  # fmt: skip

# Names and units a value may carry that say "this is a position, not a measurement".
LATITUDE = frozenset({"lat", "latitude"})
LONGITUDE = frozenset({"lon", "lng", "long", "longitude"})


def unit(text: str | None) -> str | None:
    """The canonical key of a unit spelling, or None when the unit is not known.

    >>> unit("°F"), unit(" µg/m³ "), unit("Cel"), unit("%RH"), unit("dB(A)")
    ('degf', 'ug/m3', 'degc', '%', 'db')
    >>> unit("furlong") is None
    True
    """
    if text is None:
        return ""
    key = text.strip().lower().replace("µ", "u").replace("μ", "u").replace("³", "3")
    key = ALIASES.get(key, key)
    return key if key in UNITS else None


def convert(value: float, source: str, target: str) -> float:
    """`value` in canonical unit `source` expressed in canonical unit `target` (same family).

    >>> round(convert(70.0, "degf", "degc"), 2), convert(0.3, "m", "cm")
    (21.11, 30.0)
    """
    a, b = UNITS[source], UNITS[target]
    if a.family != b.family:
        raise ValueError(f"{source} and {target} measure different things")
    if source == target:
        return value
    # Rounded so that 70 degF is 21.1111111111, not 21.111111111111143 (float noise of the offsets).
    return round((a.scale * value + a.offset - b.offset) / b.scale, 10)


# -- names -> metrics -------------------------------------------------------------
# Normalized source names (snake_case, see `normalize`) per metric of the default catalog.
NAMES: dict[str, tuple[str, ...]] = {
    "temperature_c": ("temperature", "temp", "tmp", "air_temperature", "ambient_temperature", "temperature_c",
                      "temp_c", "outdoor_temperature", "tem"),
    "humidity_pct": ("humidity", "hum", "humi", "rh", "relative_humidity", "relativehumidity", "air_humidity",
                     "humidity_pct", "ambient_humidity"),
    "pm25": ("pm25", "pm2_5", "pm2p5", "pm_2_5", "pm_25", "pm2_5_atm", "pm25_atm", "pm2_5_concentration"),
    "pm10": ("pm10", "pm_10", "pm10_0", "pm10_atm", "pm10_concentration"),
    "noise_db": ("noise", "noise_db", "noise_level", "noise_value", "sound", "sound_level", "sound_pressure",
                 "sound_pressure_level", "spl", "laeq", "leq", "loudness", "decibel", "decibels"),
    "water_level_cm": ("water_level", "waterlevel", "water_level_cm", "water_depth", "flood_level", "flood_depth",
                       "liquid_level", "standing_water"),
    "smoke": ("smoke", "smoke_alarm", "smoke_detected", "smoke_alert"),
    "smoke_obscuration": ("smoke_obscuration", "smoke_density", "obscuration"),
    "bin_fill_pct": ("bin_fill", "bin_fill_pct", "fill_level", "fill", "fill_pct", "fullness", "bin_level"),
    "manhole_tilt_deg": ("manhole_tilt", "manhole_tilt_deg", "tilt", "tilt_angle", "inclination", "cover_tilt"),
    "manhole_open": ("manhole_open", "cover_open", "lid_open", "manhole_cover_open"),
    "parking_occupied": ("parking_occupied", "bay_occupied", "parking_space_occupied", "car_present"),
}  # fmt: skip

# Home Assistant / common device classes -> metric.
DEVICE_CLASSES = {
    "temperature": "temperature_c",
    "humidity": "humidity_pct",
    "pm25": "pm25",
    "pm10": "pm10",
    "sound_pressure": "noise_db",
    "smoke": "smoke",
}

# LwM2M / IPSO object ids (as in SenML names like "3303/0/5700").
IPSO_OBJECTS = {"3303": "temperature_c", "3304": "humidity_pct", "3324": "noise_db"}

# Name suffixes that carry a unit: "temperature_f", "water_level_m".
SUFFIX_UNITS = {
    "c": "degc", "celsius": "degc", "f": "degf", "fahrenheit": "degf", "k": "k",
    "cm": "cm", "mm": "mm", "m": "m", "in": "in", "ft": "ft",
    "db": "db", "dba": "db", "pct": "%", "percent": "%", "ug_m3": "ug/m3", "ugm3": "ug/m3", "mg_m3": "mg/m3",
}  # fmt: skip

# A qualifier that makes a name something else than the street-level measurement:
# "cpu_temperature" is not the air temperature, "max_temperature" not a reading.
QUALIFIERS = frozenset({"cpu", "chip", "internal", "core", "battery", "board", "soc", "esp", "processor", "target",
                        "setpoint", "set", "min", "max", "avg", "water", "soil", "dew", "feels", "apparent", "wifi",
                        "esp32", "esp8266", "rp2040", "mcu", "device"})
# Trailing words that add nothing: "noise_value", "smoke_sensor_state".
FILLERS = frozenset({"value", "reading", "data", "measurement", "sensor", "state", "status", "current", "now"})

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_IPSO = re.compile(r"^/?(\d{4,5})/\d+/5700$")


def normalize(name: str) -> str:
    """snake_case of a source name: "CurrentTemperature" -> "current_temperature", "PM2.5" -> "pm2_5".

    >>> normalize("CurrentTemperature"), normalize("PM2.5"), normalize("stat_data:temp"), normalize("Water Level")
    ('current_temperature', 'pm2_5', 'stat_data_temp', 'water_level')
    """
    return _NON_WORD.sub("_", _CAMEL.sub("_", name).lower()).strip("_")


def _candidates(words: list[str]):
    """Shorter and shorter readings of a name's words: fillers dropped from the end, words from the front."""
    while words and words[-1] in FILLERS:
        words = words[:-1]
    for start in range(len(words)):
        head = words[:start]
        if QUALIFIERS.intersection(head):
            return
        tail = words[start:]
        yield "_".join(tail)
        while len(tail) > 1 and tail[0] in FILLERS:
            tail = tail[1:]
            yield "_".join(tail)


@dataclass(frozen=True, slots=True)
class Field:
    """What one source field stands for: a catalog metric, and the unit the source uses (None: the metric's)."""

    metric: Metric
    unit: str | None = None
    scale: float = 1.0


class FieldMapper:
    """Maps source fields to catalog metrics, by configuration first, then by name, device class or unit.

    `fields` is a table of source field name -> metric name, or -> {metric, unit, scale}
    (`scale` multiplies the raw value first: 0.1 for a source reporting tenths).
    """

    def __init__(self, catalog: MetricCatalog, fields: Mapping[str, object] | None = None, where: str = "adapter"):
        self.catalog = catalog
        self._by_name: dict[str, str] = {}
        for metric in catalog:
            self._by_name.setdefault(metric.name, metric.name)
        for metric_name, names in NAMES.items():
            if metric_name in catalog:
                for n in names:
                    self._by_name.setdefault(n, metric_name)
        self.fields: dict[str, Field | None] = {}
        for source, spec in (fields or {}).items():
            self.fields[source] = self._configured(source, spec, where)

    def _configured(self, source: str, spec: object, where: str) -> Field | None:
        if spec == "":
            return None  # explicitly ignored
        if isinstance(spec, str):
            spec = {"metric": spec}
        if not isinstance(spec, Mapping) or not isinstance(spec.get("metric"), str):
            raise ConfigError(f"{where}.fields.{source}: give a metric name, or a table with metric, unit and scale")
        unknown = set(spec) - {"metric", "unit", "scale"}
        if unknown:
            raise ConfigError(f"{where}.fields.{source}: unknown key(s) {', '.join(sorted(unknown))}")
        metric = self.catalog.get(spec["metric"])
        if metric is None:
            raise ConfigError(f"{where}.fields.{source}: metric {spec['metric']!r} is not in the catalog")
        source_unit = spec.get("unit")
        if source_unit is not None:
            key = unit(str(source_unit))
            if key is None or not _compatible(key, metric):
                raise ConfigError(f"{where}.fields.{source}: unit {source_unit!r} cannot be converted to "
                                  f"{metric.name}'s unit {metric.unit!r}")
        scale = spec.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale == 0:
            raise ConfigError(f"{where}.fields.{source}.scale must be a finite, non-zero number")
        return Field(metric, None if source_unit is None else str(source_unit), float(scale))

    def field(self, name: str, unit_text: str | None = None, device_class: str | None = None,
              by_unit: bool = True) -> Field | None:
        """The metric a source field stands for, or None when it stands for none of the catalog's.

        With `by_unit`, a field whose name says nothing is still mapped by a unit that only one
        metric has ("Cel", "%RH", "dBA"); turn it off where the unit is a payload-wide default.

        >>> m = FieldMapper(MetricCatalog.default())
        >>> m.field("temperature_f").metric.name, m.field("temperature_f").unit
        ('temperature_c', 'degf')
        >>> m.field("PM2.5").metric.name, m.field("CurrentHumidity").metric.name, m.field("3303/0/5700").metric.name
        ('pm25', 'humidity_pct', 'temperature_c')
        >>> m.field("cpu_temperature") is None, m.field("linkquality") is None
        (True, True)
        """
        if name in self.fields:
            return self.fields[name]
        normalized = normalize(name)
        if normalized in self.fields:
            return self.fields[normalized]
        if device_class:
            metric_name = DEVICE_CLASSES.get(device_class)
            if metric_name is not None and metric_name in self.catalog:
                return Field(self.catalog[metric_name], unit_text)
        ipso = _IPSO.match(name)
        if ipso and IPSO_OBJECTS.get(ipso.group(1)) in self.catalog:
            return Field(self.catalog[IPSO_OBJECTS[ipso.group(1)]], unit_text)
        words = normalized.split("_") if normalized else []
        for candidate in _candidates(words):
            metric_name = self._by_name.get(candidate)
            if metric_name is not None:
                return Field(self.catalog[metric_name], unit_text)
        # A unit in the name's last word(s): "temperature_f", "pm25_ug_m3".
        for size in (2, 1):
            if len(words) > size:
                suffix = "_".join(words[-size:])
                if suffix in SUFFIX_UNITS:
                    for candidate in _candidates(words[:-size]):
                        metric_name = self._by_name.get(candidate)
                        if metric_name is not None:
                            return Field(self.catalog[metric_name], unit_text or SUFFIX_UNITS[suffix])
        # Last resort, a unit that only one metric can have.
        key = unit(unit_text) if unit_text and by_unit else None
        if key is not None and unit_text:
            family, spelled = UNITS[key].family, unit_text.strip().lower()
            by_family = {"temperature": "temperature_c"}
            if spelled == "%rh":
                by_family["percent"] = "humidity_pct"
            if spelled in ("dba", "db(a)", "dbspl", "db spl"):  # plain "dB" is as often a signal-to-noise ratio
                by_family["sound"] = "noise_db"
            metric_name = by_family.get(family)
            if metric_name is not None and metric_name in self.catalog:
                return Field(self.catalog[metric_name], unit_text)
        return None

    def value(self, field: Field, raw: object, unit_text: str | None = None) -> float | bool:
        """The raw value in the metric's unit; PayloadError(SCHEMA) when it is not a value or its unit is wrong.

        >>> m = FieldMapper(MetricCatalog.default())
        >>> m.value(m.field("temperature"), 68, "°F"), m.value(m.field("water_level"), "0.25", "m")
        (20.0, 25.0)
        >>> m.value(m.field("smoke"), "ON")
        True
        """
        metric = field.metric
        if metric.kind == "bool":
            return _boolean(metric, raw)
        number = _number(metric, raw) * field.scale
        source = unit_text if unit_text not in (None, "") else field.unit
        if source in (None, ""):
            return number
        key = unit(str(source))
        if key is None:
            raise PayloadError(Reason.SCHEMA, f"{metric.name}: unit {str(source)[:20]!r} is not known")
        target = unit(metric.unit)
        if target is None or not _compatible(key, metric):
            raise PayloadError(Reason.SCHEMA, f"{metric.name}: unit {str(source)[:20]!r} cannot be converted "
                                              f"to {metric.unit!r}")
        return convert(number, key, target)


def _compatible(key: str, metric: Metric) -> bool:
    target = unit(metric.unit)
    if target is None:
        return key == (metric.unit or "").strip().lower()
    return UNITS[key].family == UNITS[target].family


_TRUE = frozenset({"true", "on", "yes", "1", "open", "detected", "alarm", "occupied"})
_FALSE = frozenset({"false", "off", "no", "0", "closed", "clear", "normal", "idle", "free"})


def _boolean(metric: Metric, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, (int, float)) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise PayloadError(Reason.SCHEMA, f"{metric.name} must be true or false, not {str(raw)[:20]!r}")


def _number(metric: Metric, raw: object) -> float:
    if isinstance(raw, bool):
        raise PayloadError(Reason.SCHEMA, f"{metric.name} must be a number, not a boolean")
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise PayloadError(Reason.SCHEMA, f"{metric.name} must be a number, not {raw[:20]!r}") from None
    else:
        raise PayloadError(Reason.SCHEMA, f"{metric.name} must be a number, not {type(raw).__name__}")
    if not math.isfinite(value):
        raise PayloadError(Reason.SCHEMA, f"{metric.name} must be a finite number")
    return value
