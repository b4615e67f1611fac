"""`gridtwin evaluate` end to end (devices -> Mosquitto -> gateway -> SQLite, scored against the
ground truth), the same scenario played in process giving the same anomalies, and detection
holding on generated scenarios nobody tuned it to."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from firmware_sim.scenarios import build_world, load_scenario, loads_scenario, random_scenario
from gridtwin.cli import main
from gridtwin.evaluation import acceptance, run_in_process, score
from tests.common import AFTERNOON_EVENTS

SCENARIO = """
# A small afternoon: two real incidents and two device faults, after two days of ordinary life.
[scenario]
name = "small-afternoon"
seed = 3
start = 2026-05-12T13:00:00+08:00
duration = "3h"
warmup = "2d"

[area]
grid = "generated"
bbox = [114.330, 34.780, 114.345, 34.790]
cell_size_m = 400
district_code = "410204"

[devices]
sensors = 24
cameras = 3
interval = "5m"

""" + AFTERNOON_EVENTS


@pytest.fixture
def scenario_file(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SCENARIO)
    return path


def opened(anomalies, start):
    return sorted((a.ts, a.type, a.device_id, a.category) for a in anomalies if a.status == "opened" and a.ts >= start)


async def test_evaluate_through_mosquitto_and_the_gateway(scenario_file, tmp_path, capsys):
    # Steps of five minutes: fewer round trips to the gateway, so the test stays quick.
    listing = tmp_path / "anomalies.jsonl"
    code = await asyncio.to_thread(main, ["evaluate", str(scenario_file), "--json", "--step", "300",
                                          "--anomalies", str(listing)])
    out = capsys.readouterr().out.strip().splitlines()
    result = json.loads(out[-1])
    assert code == 0, result["acceptance"]
    figures = result["score"]
    assert figures["overall"]["recall"] == 1.0 and figures["overall"]["precision"] == 1.0
    assert figures["overall"]["delay"]["median_s"] is not None
    assert set(figures["per_incident_type"]) == {"waterlogging", "street_vendor"}
    assert "camera" in figures["per_detector"] and figures["per_detector"]["camera"]["precision"] == 1.0
    faults = {f["id"]: f for f in figures["fault_details"]}
    assert faults["stuck"]["classified_as"] == faults["offline"]["classified_as"] == "health_alert"
    assert "sensor_stuck" in faults["stuck"]["health_alerts"] and "device_offline" in faults["offline"]["health_alerts"]
    assert result["cases"]["total"] >= 2 and result["cases"]["from_health_alerts"] == 0
    assert result["run"]["messages"] > 3000 and result["run"]["speedup"] > 100

    # --anomalies: every anomaly scored, one a line in time order, numbered in place of its random id.
    lines = [json.loads(line) for line in listing.read_text().splitlines()]
    assert [x["ts"] for x in lines] == sorted(x["ts"] for x in lines)
    incidents = [x for x in lines if x["category"] == "incident" and x["status"] == "opened"]
    assert len(incidents) >= figures["overall"]["anomalies"] > 0  # the warm-up's too, which are not scored
    assert {x["type"] for x in lines} >= {"sensor_stuck", "device_offline"}
    cleared = [x for x in lines if x["status"] == "cleared"]
    assert cleared and all(any(o["anomaly"] == c["anomaly"] and o["status"] == "opened" for o in lines)
                           for c in cleared)

    # The same scenario fed straight into a pipeline: the same anomalies at the same simulated times.
    world = build_world(loads_scenario(SCENARIO))
    direct = await run_in_process(world, step_s=300)
    assert score(world, direct.anomalies)["overall"] == figures["overall"]
    assert [f["classified_as"] for f in score(world, direct.anomalies)["fault_details"]] == \
        [f["classified_as"] for f in figures["fault_details"]]


def test_evaluate_says_what_is_wrong_with_a_scenario(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.replace('type = "street_vendor"', 'type = "street_vendr"'))
    assert main(["evaluate", str(bad)]) == 2
    assert f"{bad}:30: incidents[1].type: 'street_vendr' is not one of" in capsys.readouterr().err
    assert main(["evaluate", "no-such-scenario"]) == 2
    assert "no shipped scenario of that name" in capsys.readouterr().err
    assert main(["evaluate", str(bad), "--random", "3"]) == 2
    assert main(["evaluate", "--random", "3", "--anomalies", str(tmp_path / "no-such-dir" / "a.jsonl")]) == 2
    assert "--anomalies" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [101, 102])  # two generated worlds: areas, fleets and timings of their own
async def test_detection_holds_on_generated_scenarios(seed):
    world = build_world(loads_scenario(random_scenario(seed, hours=5, max_cells=36)))
    result = await run_in_process(world)
    figures = score(world, result.anomalies)
    checks = acceptance(figures)
    assert checks["ok"], (checks, figures["missed_incidents"], figures["false_alarms"], figures["fault_details"])
    assert figures["overall"]["incidents"] >= 3 and figures["faults"]["total"] >= 3


async def test_detection_holds_on_a_scenario_written_apart_from_the_shipped_ones():
    # Hex cells in another city, sensors every 15 minutes, short incidents barely past critical,
    # every kind of device fault (tests/fixtures/scenarios/hex-chengdu.toml).
    world = build_world(load_scenario(Path(__file__).parent / "fixtures" / "scenarios" / "hex-chengdu.toml"))
    figures = score(world, (await run_in_process(world)).anomalies)
    checks = acceptance(figures)
    assert checks["ok"], (checks, figures["missed_incidents"], figures["false_alarms"], figures["fault_details"])
    assert figures["overall"]["incidents"] == 6 and figures["faults"]["total"] == 8
