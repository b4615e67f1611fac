"""Generated fleets: deterministic placement inside cells, types and ids."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
import shapely

from firmware_sim.errors import FleetError
from firmware_sim.fleet import SENSOR_TYPES, make_fleet, random_points
from firmware_sim.incidents import CAMERA_EVENT_TYPES
from twin.devices.device import DeviceKind, check_device_id
from twin.grid.cells import Grid
from twin.sensing.catalog import MetricCatalog


def test_same_seed_same_fleet_and_another_seed_another(grid):
    a = make_fleet(grid, sensors=40, cameras=4, mobile=2, seed=7)
    assert a == make_fleet(grid, sensors=40, cameras=4, mobile=2, seed=7)
    b = make_fleet(grid, sensors=40, cameras=4, mobile=2, seed=8)
    assert [(d.lat, d.lon) for d in a] != [(d.lat, d.lon) for d in b]


def test_fixed_devices_lie_strictly_inside_their_cell(grid):
    fleet = make_fleet(grid, sensors=2000, cameras=20, seed=1)
    fixed = [d for d in fleet if not d.mobile]
    geoms = np.array([grid.by_code[d.cell_code].geometry for d in fixed])
    lon = np.array([d.lon for d in fixed])
    lat = np.array([d.lat for d in fixed])
    assert shapely.contains_xy(geoms, lon, lat).all()
    # The L-shaped cell gets its share although most of its bounding box is outside it.
    assert sum(d.cell_code == "410204001002007" for d in fixed) > 150


def test_counts_types_ids_and_metrics(grid):
    fleet = make_fleet(grid, sensors=100, cameras=5, mobile=3, seed=2)
    kinds = Counter(d.kind for d in fleet)
    assert kinds[DeviceKind.SENSOR] == 103 and kinds[DeviceKind.CAMERA] == 5
    assert len({d.id for d in fleet}) == len(fleet)
    for d in fleet:
        assert check_device_id(d.id) == d.id
        assert re.fullmatch(r"[a-z]+-\d{4}", d.id)
    models = Counter(d.model for d in fleet if d.kind is DeviceKind.SENSOR and not d.mobile)
    assert set(models) == {t.name for t in SENSOR_TYPES}
    assert sum(models.values()) == 100
    catalog = MetricCatalog.default()
    assert all(m in catalog for d in fleet for m in d.metrics)
    prefixes = {t.name: t.prefix for t in SENSOR_TYPES}
    assert all(d.id.startswith(prefixes[d.model] + "-") for d in fleet if d.model in prefixes)
    cameras = [d for d in fleet if d.kind is DeviceKind.CAMERA]
    assert [d.id for d in cameras] == ["cam-0001", "cam-0002", "cam-0003", "cam-0004", "cam-0005"]
    assert all(tuple(d.attributes["events"]) == CAMERA_EVENT_TYPES and d.attributes["zone"] for d in cameras)
    mobile = [d for d in fleet if d.mobile]
    assert [d.id for d in mobile] == ["mob-0001", "mob-0002", "mob-0003"]
    assert all(d.cell_code is None and d.lat is not None for d in mobile)


def test_every_sensor_type_appears_in_a_small_fleet(grid):
    fleet = make_fleet(grid, sensors=len(SENSOR_TYPES), cameras=0, seed=3)
    assert sorted(d.model for d in fleet) == sorted(t.name for t in SENSOR_TYPES)


def test_cameras_take_distinct_cells_while_cells_remain(grid):
    fleet = make_fleet(grid, sensors=0, cameras=len(grid.cells), seed=4)
    assert sorted(d.cell_code for d in fleet) == sorted(c.code for c in grid.cells)


def test_random_points_in_an_l_shaped_polygon_cover_both_arms():
    ell = shapely.Polygon([(0, 0), (10, 0), (10, 1), (1, 1), (1, 10), (0, 10)])
    x, y = random_points(np.array([ell] * 4000), np.random.default_rng(0))
    assert shapely.contains_xy(ell, x, y).all()
    assert (x > 5).sum() > 1000 and (y > 5).sum() > 1000


def test_random_points_in_a_sliver_fall_back_to_a_point_on_its_surface():
    sliver = shapely.Polygon([(0, 0), (1, 1), (1, 1 + 1e-12)])
    x, y = random_points(np.array([sliver]), np.random.default_rng(0))
    assert shapely.intersects_xy(sliver.buffer(1e-9), x[0], y[0])


def test_bad_requests_are_fleet_errors(grid):
    with pytest.raises(FleetError, match="negative"):
        make_fleet(grid, sensors=-1, cameras=0)
    with pytest.raises(FleetError, match="no cell"):
        make_fleet(Grid([]), sensors=1, cameras=0)
    assert make_fleet(Grid([]), sensors=0, cameras=0) == []
