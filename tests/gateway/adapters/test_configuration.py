"""Which adapters run, with which options: `[adapters]` in the settings, `build_adapters`, the pipeline's use."""

import pytest

from gateway.adapters import ADAPTERS, FrigateAdapter, NativeAdapter, build_adapters
from gateway.pipeline import Pipeline
from mqttwire.topics import Topics
from tests.gateway.conftest import small_grid
from twin.config import ALL_ADAPTERS, Settings, load_settings
from twin.errors import ConfigError


def test_default_runs_every_adapter_native_first_home_assistant_last():
    adapters = build_adapters(Settings(), Topics())
    assert [a.name for a in adapters] == list(ADAPTERS) == list(ALL_ADAPTERS)
    assert isinstance(adapters[0], NativeAdapter) and adapters[-1].name == "homeassistant"


def test_toml_and_environment(tmp_path):
    path = tmp_path / "gridtwin.toml"
    path.write_text('[adapters]\nenabled = ["native", "frigate"]\n\n'
                    '[adapters.frigate]\ntopic_prefix = "nvr"\n'
                    '[adapters.frigate.cameras.gate]\ndevice = "cam-1"\nzones = { road = "410204001001002" }\n')
    settings = load_settings(path, env={})
    adapters = build_adapters(settings, Topics())
    assert [a.name for a in adapters] == ["native", "frigate"]
    assert adapters[1].filters == ("nvr/events",) and adapters[1].zone_cells == {("cam-1", "road"): "410204001001002"}
    only_native = load_settings(path, env={"GRIDTWIN_ADAPTERS_ENABLED": "native"})
    assert [a.name for a in build_adapters(only_native, Topics())] == ["native"]


@pytest.mark.parametrize("adapters, message", [
    ({"enabled": ("native", "lorawan")}, "unknown adapter"),
    ({"options": {"zigbee": {}}}, "no such adapter"),
    ({"options": {"native": {"prefix": "x"}}}, "takes no options"),
    ({"options": {"ttn": {"applications": "#"}}}, "not a valid MQTT topic filter"),
    ({"options": {"senml": {"topics": ["+/+/#"]}}}, "own topics"),  # would receive the gateway's own tree
    ({"options": {"zigbee2mqtt": {"base_topic": 7}}}, "must be a str"),
])
def test_configuration_errors_name_the_problem(adapters, message):
    settings = Settings().replace(adapters=adapters)
    with pytest.raises(ConfigError, match=message):
        build_adapters(settings, Topics())


def test_a_zone_map_to_a_cell_outside_the_grid_stops_the_pipeline():
    settings = Settings().replace(adapters={"options": {"frigate": {
        "cameras": {"gate": {"zones": {"road": "410204009009009"}}}}}})
    with pytest.raises(ConfigError, match="not in the grid"):
        Pipeline(settings, small_grid())


def test_load_settings_checks_the_table_shapes(tmp_path):
    path = tmp_path / "gridtwin.toml"
    path.write_text('[adapters]\nenabled = "native"\n')
    with pytest.raises(ConfigError, match="list of adapter names"):
        load_settings(path, env={})
    path.write_text('[adapters]\nfrigate = 3\n')
    with pytest.raises(ConfigError, match="must be a table"):
        load_settings(path, env={})


def test_pipeline_subscribes_to_every_enabled_adapters_filters():
    pipeline = Pipeline(Settings().replace(adapters={"enabled": ("native", "tasmota", "frigate")}), small_grid())
    assert [a.name for a in pipeline.adapters] == ["native", "frigate", "tasmota"]
    assert isinstance(pipeline.adapters[1], FrigateAdapter)
