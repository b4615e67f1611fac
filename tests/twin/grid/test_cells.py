"""Grid: point-in-cell lookup (lattice and STRtree paths), neighbours, hierarchy and conversions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.common import (
    brute_force_locate,
    cell,
    code,
    irregular_grid,
    small_hex_grid,
    small_square_grid,
    square,
)
from twin.grid.cells import Grid

SQUARE = small_square_grid()
HEX = small_hex_grid()
IRREGULAR = irregular_grid()
GRIDS = {"square": SQUARE, "hex": HEX, "irregular": IRREGULAR}


def tree_only(grid: Grid) -> Grid:
    """The same cells with the lattice fast path switched off."""
    twin = Grid(grid.cells, grid.meta)
    twin.__dict__["_lattice"] = None
    return twin


def vertex_coordinates(grid: Grid) -> np.ndarray:
    return np.unique(shapely.get_coordinates(grid.geometries), axis=0)


@st.composite
def points_on(draw, grid: Grid):
    """Points anywhere around the grid, or exactly on a vertex, or on an edge of a cell."""
    w, s, e, n = grid.bounds
    kind = draw(st.sampled_from(["anywhere", "vertex", "edge"]))
    if kind == "vertex":
        vertices = vertex_coordinates(grid)
        lon, lat = vertices[draw(st.integers(0, len(vertices) - 1))]
        return float(lon), float(lat)
    if kind == "edge":
        target = grid.cells[draw(st.integers(0, len(grid) - 1))].geometry.exterior
        p = target.interpolate(draw(st.floats(0, 1)), normalized=True)
        return p.x, p.y
    margin_x, margin_y = (e - w) * 0.1, (n - s) * 0.1
    lon = draw(st.floats(w - margin_x, e + margin_x, allow_nan=False))
    lat = draw(st.floats(s - margin_y, n + margin_y, allow_nan=False))
    return lon, lat


@pytest.mark.parametrize("name", GRIDS)  # one generated square, one hex, one irregular grid
def test_locate_matches_brute_force(name):
    grid = GRIDS[name]

    @settings(max_examples=150, deadline=None)
    @given(points=st.lists(points_on(grid), min_size=1, max_size=20))
    def check(points):
        lon, lat = (np.array(v) for v in zip(*points))
        expected = [brute_force_locate(grid, x, y) for x, y in points]
        assert grid.locate(lon, lat).tolist() == expected
        assert [grid.locate(x, y) for x, y in points] == expected

    check()


@settings(max_examples=100, deadline=None)
@given(points=st.lists(points_on(SQUARE), min_size=1, max_size=50))
def test_lattice_path_agrees_with_tree_path(points):
    lon, lat = (np.array(v) for v in zip(*points))
    assert SQUARE._lattice is not None
    assert SQUARE.locate(lon, lat).tolist() == tree_only(SQUARE).locate(lon, lat).tolist()


def test_lattice_is_used_for_squares_only():
    assert SQUARE._lattice is not None
    assert HEX._lattice is None
    assert IRREGULAR._lattice is None


def test_shared_edge_and_corner_go_to_the_lowest_code():
    # 2 x 2 squares; codes deliberately not in west-east order.
    cells = [
        cell(code(1, 1, 4), square(0.000, 0.001)),  # north-west
        cell(code(1, 1, 2), square(0.001, 0.001)),  # north-east
        cell(code(1, 1, 3), square(0.000, 0.000)),  # south-west
        cell(code(1, 1, 1), square(0.001, 0.000)),  # south-east
    ]
    for grid in (Grid(cells), tree_only(Grid(cells))):
        assert grid.locate(0.001, 0.001) == code(1, 1, 1)  # the corner of all four
        assert grid.locate(0.0005, 0.001) == code(1, 1, 3)  # NW/SW edge
        assert grid.locate(0.001, 0.0015) == code(1, 1, 2)  # NW/NE edge
        assert grid.locate(0.0, 0.0015) == code(1, 1, 4)  # outer boundary belongs to its cell
        assert grid.locate(0.0005, 0.0015) == code(1, 1, 4)  # interior
        assert grid.locate(0.0021, 0.001) is None  # just outside


def test_locate_shapes_and_missing_values():
    lon = np.array([[114.345, np.nan], [114.355, 200.0]])
    lat = np.array([[34.79, 34.79], [34.788, 34.79]])
    codes = SQUARE.locate(lon, lat)
    assert codes.shape == (2, 2)
    assert codes.dtype == object
    assert codes[0, 0] is not None and codes[1, 0] is not None
    assert codes[0, 1] is None and codes[1, 1] is None
    assert SQUARE.locate(np.array([]), np.array([])).shape == (0,)
    assert SQUARE.locate(114.345, np.array([34.79, 0.0])).tolist() == [codes[0, 0], None]  # broadcasts
    assert isinstance(SQUARE.locate(114.345, 34.79), str)


def test_locate_index_and_holes_in_a_lattice():
    # A 3 x 3 lattice with the centre missing: the centre is outside, its corners still resolve.
    cells = [cell(code(1, 1, 1 + i), square(0.001 * (i % 3), 0.001 * (i // 3))) for i in range(9) if i != 4]
    grid = Grid(cells)
    assert grid._lattice is not None
    assert grid.locate(0.0015, 0.0015) is None
    assert grid.locate(0.001, 0.001) == code(1, 1, 1)  # corner shared by cells 1, 2 and 4
    assert grid.locate_index(np.array([0.0005, 0.0015]), np.array([0.0005, 0.0015])).tolist() == [0, -1]


def test_overlapping_rectangles_fall_back_to_the_tree():
    cells = [cell(code(1, 1, 2), square(0.0, 0.0)), cell(code(1, 1, 1), square(0.0, 0.0))]
    grid = Grid(cells)
    assert grid._lattice is None
    assert grid.locate(0.0005, 0.0005) == code(1, 1, 1)


@pytest.mark.parametrize("name", ["square", "hex"])
def test_prepare_builds_the_lookup_before_the_first_locate(name):
    grid = Grid(GRIDS[name].cells, GRIDS[name].meta)
    built = ("_lattice", "tree", "_codes_or_none") + (("_raster",) if name == "hex" else ())
    assert not any(attr in vars(grid) for attr in built)
    assert grid.prepare() is grid
    assert all(attr in vars(grid) for attr in built)
    x, y = GRIDS[name].cell_centroids.T
    assert grid.locate(x, y).tolist() == GRIDS[name].locate(x, y).tolist() == [c.code for c in grid.cells]
    assert Grid([]).prepare().locate(114.0, 34.0) is None


def test_empty_grid_locates_nothing():
    grid = Grid([])
    assert grid.locate(114.0, 34.0) is None
    assert grid.locate([1.0, 2.0], [1.0, 2.0]).tolist() == [None, None]
    assert len(grid.to_geojson()["features"]) == 0


def test_neighbours():
    # Square grid: an inner cell has 8 neighbours, a corner cell 3.
    counts = sorted(len(SQUARE.neighbours(c.code)) for c in SQUARE.cells)
    assert counts[0] == 3 and counts[-1] == 8
    first = SQUARE.cells[0]
    for other in SQUARE.neighbours(first.code):
        assert first.code in SQUARE.neighbours(other)
        assert SQUARE[other].geometry.touches(first.geometry)
    # Hexagons: an inner cell has exactly 6.
    assert max(len(HEX.neighbours(c.code)) for c in HEX.cells) == 6
    with pytest.raises(KeyError):
        SQUARE.neighbours("410204999999999")


def test_hierarchy_maps_and_lookups():
    assert SQUARE.districts() == {"410204": "Gulou District 鼓楼区"}
    assert SQUARE.streets() == {"410204001": "Street 01", "410204002": "Street 02"}
    communities = SQUARE.communities()
    assert len(communities) == 8
    assert communities["410204002003"] == "Community 02-03"
    first = SQUARE.cells[0]
    assert SQUARE.contains(first.code) and first.code in SQUARE
    assert not SQUARE.contains("410204001001999")
    assert SQUARE.get(None) is None and SQUARE.get(first.code) is first
    assert all(c.code.startswith("410204002") for c in SQUARE.select("410204002"))
    assert len(SQUARE.select("410204001")) + len(SQUARE.select("410204002")) == len(SQUARE)


def test_bounds_and_centroids():
    w, s, e, n = SQUARE.bounds
    assert w == pytest.approx(114.34) and n == pytest.approx(34.795)
    assert e >= 114.36 and s <= 34.785
    centroids = SQUARE.cell_centroids
    assert centroids.shape == (len(SQUARE), 2)
    # Every centroid lies in its own cell.
    assert SQUARE.locate(centroids[:, 0], centroids[:, 1]).tolist() == SQUARE.codes.tolist()


def test_to_geojson():
    target = SQUARE.cells[3]
    collection = SQUARE.to_geojson({target.code: {"level": "warning"}})
    json.dumps(collection)  # serializable as is
    assert collection["type"] == "FeatureCollection"
    features = {f["id"]: f for f in collection["features"]}
    assert len(features) == len(SQUARE)
    props = features[target.code]["properties"]
    assert props["code"] == target.code
    assert props["path"] == f"Gulou District 鼓楼区 > {target.street_name} > {target.community_name} > {target.name}"
    assert (props["district"], props["street"], props["community"]) == (target.code[:6], target.code[:9], target.code[:12])
    assert props["level"] == "warning"
    assert "level" not in features[SQUARE.cells[0].code]["properties"]
    assert shapely.geometry.shape(features[target.code]["geometry"]).equals(target.geometry)
