"""Scenario files: an area, a fleet, the weather, and incidents and device faults injected with
their ground truth, played in simulated time (a day in minutes) by firmware_sim.player.

    scenario = load_scenario(scenario_path("rainstorm"))   # a shipped one, or any file
    world = build_world(scenario)                         # grid, devices, incidents, faults
    world.truth                                           # what detection should find

The shipped scenarios live next to this module (`*.toml`); docs/scenarios.md describes the
format and their ground truth. `random_scenario(seed)` writes a new one (random area, mix and
timings) for checking that detection generalizes.
"""

from __future__ import annotations

from pathlib import Path

from firmware_sim.errors import ScenarioError
from firmware_sim.scenarios.build import TruthIncident, World, build_world, can_observe
from firmware_sim.scenarios.generate import random_scenario
from firmware_sim.scenarios.loader import load_scenario, loads_scenario, parse_duration, parse_time
from firmware_sim.scenarios.model import Area, FaultSpec, Fleet, IncidentSpec, Scenario, StormSpec

__all__ = [
    "Area", "FaultSpec", "Fleet", "IncidentSpec", "Scenario", "ScenarioError", "StormSpec", "TruthIncident",
    "World", "build_world", "can_observe", "load_scenario", "loads_scenario", "parse_duration", "parse_time",
    "random_scenario", "scenario_path", "shipped_scenarios",
]

HERE = Path(__file__).resolve().parent


def shipped_scenarios() -> dict[str, Path]:
    """Name -> path of the scenarios shipped with GridTwin."""
    return {p.stem: p for p in sorted(HERE.glob("*.toml"))}


def scenario_path(name_or_path: str | Path) -> Path:
    """A file path as given, or the path of a shipped scenario by its name (`ordinary-week`)."""
    path = Path(name_or_path)
    if path.exists() or path.suffix == ".toml" or "/" in str(name_or_path):
        return path
    shipped = shipped_scenarios()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    raise ScenarioError(f"no scenario file {name_or_path!r}, and no shipped scenario of that name "
                        f"(shipped: {', '.join(shipped)})")
