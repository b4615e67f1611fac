"""Scenario files: the shipped ones load with observable ground truth, times and durations parse,
every mistake names its line and field, and generated scenarios go through the same loader."""

from __future__ import annotations

import datetime as dt

import pytest

from firmware_sim.scenarios import (
    ScenarioError,
    build_world,
    load_scenario,
    loads_scenario,
    parse_duration,
    parse_time,
    random_scenario,
    scenario_path,
    shipped_scenarios,
)

START = "2026-07-20T00:00:00+08:00"
T0 = dt.datetime.fromisoformat(START).timestamp()


def scenario(body: str = "", head: str = "") -> str:
    return f'[scenario]\nname = "t"\nstart = {START}\nduration = "6h"\nwarmup = "0s"\n{head}\n[area]\ngrid = "demo"\n' \
           f'[devices]\nsensors = 60\ncameras = 8\n{body}'


def test_the_shipped_scenarios_load_and_every_incident_can_be_noticed():
    shipped = shipped_scenarios()
    assert set(shipped) >= {"ordinary-week", "rainstorm", "festival-night"}
    for name, path in shipped.items():
        s = load_scenario(path)
        world = build_world(s)
        assert world.truth and world.faults and not world.notes, name
        assert all(t.observable for t in world.truth), name
        assert len({t.id for t in world.truth} | {f.id for f in world.faults}) == len(world.truth) + len(world.faults)
        assert all(s.start <= t.start < t.end for t in world.truth)
        assert scenario_path(name) == path
    storm = build_world(load_scenario(shipped["rainstorm"]))
    underpass = next(t for t in storm.truth if t.id == "underpass")
    assert len(underpass.cells) == 9  # the cell and its eight neighbours
    assert sorted(set(underpass.cell_starts.values())) == [underpass.start, underpass.start + 1200]
    assert storm.weather.rain(storm.scenario.start + 18 * 3600) > 40  # the storm's peak


@pytest.mark.parametrize("text, seconds", [
    ("1d6h30m", 109800.0),  # days, hours and minutes
    ("90m", 5400.0),
    ("45s", 45.0),
    ("1.5h", 5400.0),  # fractions
    (120, 120.0),  # a number is seconds
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("value, offset", [
    ("+2h", 7200.0),  # an offset from the start
    (600, 600.0),  # seconds after the start
    ("2026-07-20T01:00:00+08:00", 3600.0),  # an absolute time with its zone
    ("2026-07-20T01:00:00", 3600.0),  # local time of the scenario
])
def test_times(value, offset):
    assert parse_time(value, T0, 8.0) == T0 + offset


@pytest.mark.parametrize("body, line, field, message", [
    # a key nobody knows, named with its line
    ('[[incidents]]\ntype = "fire"\nstart = "+1h"\nduration = "1h"\ncolour = "red"\n', 16, "incidents[0].colour",
     "unknown key"),
    # a duration that is not one
    ('[[incidents]]\ntype = "fire"\nstart = "+1x"\nduration = "1h"\n', 14, "incidents[0].start", "not a duration"),
    # an incident type the simulator does not have
    ('[[incidents]]\ntype = "meteor"\nstart = "+1h"\nduration = "1h"\n', 13, "incidents[0].type", "not one of"),
    # a second incident that starts after the scenario ends
    ('[[incidents]]\ntype = "fire"\nstart = "+1h"\nduration = "1h"\n[[incidents]]\ntype = "noise"\n'
     'start = "+7h"\nduration = "1h"\n', 18, "incidents[1].start", "starts outside"),
    # a fault without its required rate: the line of its table
    ('[[faults]]\nkind = "drift"\nstart = "+1h"\nduration = "1h"\n', 12, "faults[0].rate", "needs a rate"),
    # a device the fleet does not have
    ('[[faults]]\nkind = "stuck"\ndevice = "zz-0001"\nstart = "+1h"\nduration = "1h"\n', 14, "faults[0].device",
     "not in the fleet"),
    # a cell that is not in the grid
    ('[[incidents]]\ntype = "fire"\ncell = "410204009009009"\nstart = "+1h"\nduration = "1h"\n', 14,
     "incidents[0].cell", "not in the scenario's grid"),
])
def test_mistakes_name_their_line_and_field(body, line, field, message):
    with pytest.raises(ScenarioError) as caught:
        build_world(loads_scenario(scenario(body), "s.toml"))
    error = caught.value
    assert (error.line, error.field) == (line, field), str(error)
    assert message in str(error) and str(error).startswith(f"s.toml:{line}: {field}: ")


def test_invalid_toml_and_missing_fields():
    with pytest.raises(ScenarioError, match=r"s.toml:2: not valid TOML"):
        loads_scenario('[scenario]\nname = "t\n', "s.toml")
    with pytest.raises(ScenarioError, match=r"scenario.duration: is required"):
        loads_scenario(f'[scenario]\nname = "t"\nstart = {START}\n', "s.toml")
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario("/nonexistent/scenario.toml")
    with pytest.raises(ScenarioError, match="shipped: "):
        scenario_path("no-such-scenario")


def test_cells_and_devices_left_open_are_picked_by_the_seed_where_they_can_be_noticed():
    body = ('[[incidents]]\ntype = "waterlogging"\nstart = "+1h"\nduration = "2h"\n'
            '[[faults]]\nkind = "spikes"\nsensor_type = "noise"\nstart = "+1h"\nduration = "3h"\n')
    one, two = (build_world(loads_scenario(scenario(body, "seed = 5"))) for _ in range(2))
    assert one.truth[0].cells == two.truth[0].cells and one.faults == two.faults
    (truth,) = one.truth
    assert truth.observers and any(d.cell_code in truth.cells for d in one.devices if d.id in truth.observers)
    (fault,) = one.faults
    assert fault.device_id.startswith("ns-") and fault.metric == "noise_db"
    other = build_world(loads_scenario(scenario(body, "seed = 6")))
    assert (other.truth[0].cells, other.faults[0].device_id) != (truth.cells, fault.device_id)


def test_random_scenarios_are_scenario_files_too():
    text = random_scenario(7, hours=6)
    assert text == random_scenario(7, hours=6) != random_scenario(8, hours=6)
    s = loads_scenario(text)
    world = build_world(s)
    assert s.duration_s == 6 * 3600 and s.warmup_s == 2 * 86400
    assert world.truth and world.faults and all(t.observable for t in world.truth)
