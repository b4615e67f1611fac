"""Source names and units -> catalog metrics in catalog units; the shared helpers' docstring examples."""

import doctest
import importlib

import pytest

from gateway.adapters._units import FieldMapper, unit
from gateway.adapters.native import PayloadError
from twin.errors import ConfigError
from twin.sensing.catalog import MetricCatalog

MAPPER = FieldMapper(MetricCatalog.default())


@pytest.mark.parametrize("module", [
    "gateway.adapters._units", "gateway.adapters._common", "gateway.adapters.ttn", "gateway.adapters.senml",
    "gateway.adapters.homeassistant",
])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name, unit_text, metric, value, raw", [
    ("temperature", "°F", "temperature_c", 20.0, 68),
    ("Temperature", "K", "temperature_c", 21.85, 295.0),
    ("temp", "Cel", "temperature_c", 21.0, 21),  # SenML's unit name
    ("pm2_5", "mg/m3", "pm25", 35.0, 0.035),
    ("PM2.5", "µg/m³", "pm25", 35.0, 35),
    ("noise", "dBA", "noise_db", 61.0, 61),
    ("sound_pressure_level", "dB", "noise_db", 61.0, 61),
    ("water_level", "m", "water_level_cm", 25.0, 0.25),
    ("water_level_mm", None, "water_level_cm", 2.5, 25),  # the unit in the name
    ("waterLevel", "ft", "water_level_cm", 30.48, 1),
    ("CurrentHumidity", "%RH", "humidity_pct", 55.0, 55),
    ("tilt", "rad", "manhole_tilt_deg", 90.0, 1.5707963267948966),
    ("fill_level", "%", "bin_fill_pct", 80.0, "80"),
])
def test_names_and_units(name, unit_text, metric, value, raw):
    field = MAPPER.field(name, unit_text)
    assert field.metric.name == metric
    assert MAPPER.value(field, raw, unit_text) == pytest.approx(value)


@pytest.mark.parametrize("name", ["cpu_temperature", "device_temperature", "max_temperature", "dew_point",
                                  "linkquality", "voltage", "wifi_signal", "water_temperature", ""])
def test_names_that_are_not_street_measurements(name):
    assert MAPPER.field(name) is None


def test_a_unit_alone_picks_a_metric_only_when_allowed():
    assert MAPPER.field("urn:dev:ow:10e2073a01080063", "Cel").metric.name == "temperature_c"
    assert MAPPER.field("urn:dev:ow:10e2073a01080063", "dBA").metric.name == "noise_db"
    assert MAPPER.field("snr", "dB") is None  # a ratio, not a sound level
    assert MAPPER.field("urn:dev:ow:10e2073a01080063", "Cel", by_unit=False) is None


@pytest.mark.parametrize("name, raw, unit_text", [
    ("temperature", 20, "%"),  # a unit of another quantity
    ("temperature", 20, "furlong"),  # not a unit
    ("temperature", True, None),  # a boolean for a number
    ("temperature", float("nan"), None),
    ("smoke", "maybe", None),
])
def test_bad_values(name, raw, unit_text):
    with pytest.raises(PayloadError):
        MAPPER.value(MAPPER.field(name), raw, unit_text)


def test_configured_fields_and_custom_metrics():
    catalog = MetricCatalog.from_config({"no2": {"unit": "ug/m3", "label": "NO2", "valid_min": 0}})
    mapper = FieldMapper(catalog, {"NO2_ppb": "no2", "lvl": {"metric": "water_level_cm", "unit": "in", "scale": 0.1},
                                   "temperature": ""})
    assert mapper.field("NO2_ppb").metric.name == "no2"
    assert mapper.field("no2").metric.name == "no2"  # a catalog name maps to itself
    assert mapper.value(mapper.field("lvl"), 100) == pytest.approx(25.4)
    assert mapper.field("temperature") is None  # "" drops a field


@pytest.mark.parametrize("fields", [
    {"x": "radon"},  # not in the catalog
    {"x": {"metric": "pm25", "unit": "degC"}},  # a unit pm25 cannot have
    {"x": {"metric": "pm25", "scale": 0}},
    {"x": {"metric": "pm25", "offset": 1}},
    {"x": 3},
])
def test_bad_field_options(fields):
    with pytest.raises(ConfigError):
        FieldMapper(MetricCatalog.default(), fields)


def test_unit_spellings():
    assert unit("℃") == unit("degC") == unit("celsius") == "degc"
    assert unit("μg/m3") == unit("ug/m^3") == "ug/m3"
    assert unit("parsecs") is None
