"""From a Scenario to a World: the grid, the fleet, the simulator's incidents (one per affected
cell) and faults, with every "pick one for me" resolved by the scenario's seed, and the ground
truth to score detection against."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field

from firmware_sim.behaviour import Storm, Weather
from firmware_sim.errors import FleetError, ScenarioError
from firmware_sim.faults import VALUE_FAULTS, Fault
from firmware_sim.fleet import make_fleet
from firmware_sim.incidents import INCIDENT_TYPES, Incident, camera_event_types
from firmware_sim.scenarios.model import FaultSpec, IncidentSpec, Scenario
from twin.devices.device import Device, DeviceKind
from twin.errors import GridError
from twin.grid.cells import Grid
from twin.grid.demo import demo_grid, square_demo_grid
from twin.grid.generate import generate_grid
from twin.sensing.catalog import MetricCatalog


@dataclass(frozen=True, slots=True)
class TruthIncident:
    """One injected incident as the ground truth: every cell it reached, when, and which devices
    were there to notice it (none: it cannot be detected, and scoring says so)."""

    id: str
    type: str
    cells: tuple[str, ...]
    start: float
    end: float
    magnitude: float
    cell_starts: dict = field(default_factory=dict, compare=False)
    observers: tuple[str, ...] = ()

    @property
    def observable(self) -> bool:
        return bool(self.observers)

    def to_dict(self) -> dict:
        return {"id": self.id, "type": self.type, "cells": list(self.cells), "start": self.start, "end": self.end,
                "magnitude": self.magnitude, "observers": list(self.observers)}


@dataclass
class World:
    """A scenario made concrete, ready to play."""

    scenario: Scenario
    grid: Grid
    devices: list[Device]
    intervals: dict[str, float]  # device id -> simulated seconds between its readings
    incidents: list[Incident]  # per affected cell, for the simulator
    truth: list[TruthIncident]
    faults: list[Fault]
    weather: Weather
    notes: list[str] = field(default_factory=list)

    def truth_dict(self) -> dict:
        return {"incidents": [t.to_dict() for t in self.truth],
                "faults": [dataclasses.asdict(f) for f in self.faults]}


def build_world(scenario: Scenario, catalog: MetricCatalog | None = None) -> World:
    catalog = catalog or MetricCatalog.default()
    grid = _grid(scenario)
    fleet = scenario.fleet
    try:
        devices = make_fleet(grid, sensors=fleet.sensors, cameras=fleet.cameras, seed=fleet.seed, mix=fleet.mix)
    except FleetError as exc:
        raise ScenarioError(str(exc), path=scenario.path, field="devices") from None
    if fleet.camera_events is not None:
        devices = [dataclasses.replace(d, attributes=d.attributes | {"events": list(fleet.camera_events)})
                   if d.kind is DeviceKind.CAMERA else d for d in devices]
    intervals = {d.id: float(fleet.intervals.get("camera" if d.kind is DeviceKind.CAMERA else d.model, fleet.interval_s))
                 for d in devices}
    world = World(scenario, grid, devices, intervals, [], [], [],
                  Weather(scenario.seed, scenario.rain_chance, tuple(Storm(s.start, s.end, s.peak_mm_h)
                                                                    for s in scenario.storms)))
    by_cell: dict[str, list[Device]] = {}
    for device in devices:
        by_cell.setdefault(device.cell_code, []).append(device)
    used: set[str] = set()
    for i, spec in enumerate(scenario.incidents):
        _add_incident(world, spec, i, by_cell, used, catalog)
    taken: set[str] = set()
    incident_cells = {c for t in world.truth for c in t.cells}
    for i, spec in enumerate(scenario.faults):
        world.faults.append(_fault(world, spec, i, taken, incident_cells, catalog))
    return world


def _grid(s: Scenario) -> Grid:
    area = s.area
    if area.grid == "demo":
        return demo_grid()
    if area.grid == "demo-square":
        return square_demo_grid()
    try:
        return generate_grid(area.bbox, area.cell_size_m, shape=area.shape, district_code=area.district_code,
                             district_name=area.district_name or f"District {area.district_code}",
                             streets=area.streets, communities=area.communities)
    except GridError as exc:
        raise ScenarioError(str(exc), path=s.path, field="area") from None


def can_observe(device: Device, incident_type: str, catalog: MetricCatalog) -> bool:
    """Whether `device`, placed in the incident's cell, gives a detector something to go on."""
    kind = INCIDENT_TYPES[incident_type]
    if device.kind is DeviceKind.CAMERA:
        return bool(set(kind.camera_events) & set(camera_event_types(device)))
    for name in set(kind.metrics) & set(device.metrics):
        metric = catalog.get(name)
        if metric is None:
            continue
        if metric.kind == "bool" and metric.alarm_on_true:
            return True
        if metric.kind != "bool" and (metric.critical is not None or metric.warning is not None):
            return True
    return False


def _rings(grid: Grid, cell: str, spread: int) -> list[list[str]]:
    rings, seen = [[cell]], {cell}
    for _ in range(spread):
        ring = sorted({n for c in rings[-1] for n in grid.neighbours(c)} - seen)
        if not ring:
            break
        seen.update(ring)
        rings.append(ring)
    return rings


def _add_incident(world: World, spec: IncidentSpec, index: int, by_cell, used: set[str], catalog) -> None:
    s, grid = world.scenario, world.grid
    field_ = f"incidents[{index}]"
    if spec.cell is not None:
        if spec.cell not in grid.by_code:
            raise ScenarioError(f"cell {spec.cell} is not in the scenario's grid", path=s.path,
                                line=spec.lines.get("cell", spec.line), field=f"{field_}.cell")
        cell = spec.cell
    else:
        candidates = sorted(c for c, devices in by_cell.items()
                            if any(can_observe(d, spec.type, catalog) for d in devices))
        if not candidates:
            raise ScenarioError(f"no device of this fleet can notice a {spec.type} (see docs/scenarios.md); "
                                "give it a cell or change the device mix", path=s.path, line=spec.line, field=field_)
        fresh = [c for c in candidates if c not in used] or candidates
        cell = random.Random(f"{s.seed}|incident|{index}").choice(fresh)
    truth_id = spec.id or f"{spec.type}-{index + 1}"
    cells, starts, observers = [], {}, []
    for k, ring in enumerate(_rings(grid, cell, spec.spread)):
        begin = spec.start + k * spec.spread_delay_s
        if begin >= spec.end:
            break
        magnitude = max(1.1, spec.magnitude * (1.0 - 0.1 * k))
        for code in ring:
            cells.append(code)
            starts[code] = begin
            used.add(code)
            world.incidents.append(Incident(spec.type, code, begin, spec.end, magnitude, id=f"{truth_id}@{code}"))
            observers += [d.id for d in by_cell.get(code, ()) if can_observe(d, spec.type, catalog)]
    truth = TruthIncident(truth_id, spec.type, tuple(cells), spec.start, spec.end, spec.magnitude, starts,
                          tuple(observers))
    world.truth.append(truth)
    if not truth.observable:
        world.notes.append(f"incident {truth_id} ({spec.type} in {cell}): no device there can notice it; "
                           "it is reported but not counted in recall")
        return
    kinds = {d.id: d.kind for code in cells for d in by_cell.get(code, ())}
    cameras = [o for o in observers if kinds.get(o) is DeviceKind.CAMERA]
    slowest = min(world.intervals[o] for o in observers)
    if not cameras and spec.end - spec.start < 2 * slowest:
        world.notes.append(f"incident {truth_id} lasts {spec.end - spec.start:.0f} s, less than two readings of "
                           f"the devices that can notice it ({slowest:.0f} s apart): it may pass for a spike")


def _fault(world: World, spec: FaultSpec, index: int, taken: set[str], incident_cells: set[str], catalog) -> Fault:
    s = world.scenario
    field_ = f"faults[{index}]"
    devices = {d.id: d for d in world.devices}
    if spec.device is not None:
        device = devices.get(spec.device)
        if device is None:
            raise ScenarioError(f"device {spec.device} is not in the fleet (ids count per type: aq-0001, wl-0003, "
                                "cam-0002, ...)", path=s.path, line=spec.lines.get("device", spec.line),
                                field=f"{field_}.device")
    else:
        pool = [d for d in world.devices if d.kind is DeviceKind.SENSOR and d.id not in taken
                and (spec.sensor_type is None or d.model == spec.sensor_type)
                and (spec.kind not in VALUE_FAULTS or _fault_metric(d, spec.metric, catalog))]
        quiet = [d for d in pool if d.cell_code not in incident_cells] or pool
        if not quiet:
            what = f"{spec.sensor_type} sensor" if spec.sensor_type else "sensor"
            raise ScenarioError(f"no {what} is left for this fault", path=s.path, line=spec.line, field=field_)
        device = random.Random(f"{s.seed}|fault|{index}").choice(sorted(quiet, key=lambda d: d.id))
    metric = None
    if spec.kind in VALUE_FAULTS:
        metric = _fault_metric(device, spec.metric, catalog)
        if metric is None:
            wanted = f"metric {spec.metric}" if spec.metric else "a numeric metric"
            raise ScenarioError(f"device {device.id} has no {wanted} for a {spec.kind} fault "
                                f"(it reports {', '.join(device.metrics) or 'camera events'})",
                                path=s.path, line=spec.lines.get("metric", spec.line), field=f"{field_}.metric")
    taken.add(device.id)
    return Fault(spec.kind, device.id, spec.start, spec.end, metric=metric, value=spec.value, size=spec.size,
                 every_s=spec.every_s, rate=spec.rate, offset_s=spec.offset_s, will=spec.will,
                 id=spec.id or f"{spec.kind}-{index + 1}")


def _fault_metric(device: Device, wanted: str | None, catalog: MetricCatalog) -> str | None:
    numeric = [m for m in device.metrics if catalog.get(m) is not None and catalog[m].kind != "bool"]
    if wanted is not None:
        return wanted if wanted in numeric else None
    with_threshold = [m for m in numeric if catalog[m].critical is not None or catalog[m].warning is not None]
    return (with_threshold or numeric or [None])[0]
