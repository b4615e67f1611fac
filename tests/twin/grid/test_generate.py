"""Generated square and hexagonal grids: coverage, sizes, numbering, grouping and metadata."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod

from tests.common import SMALL_BBOX, assert_tiles, small_hex_grid, small_square_grid
from twin.errors import GridError
from twin.grid.codes import is_cell_code
from twin.grid.generate import generate_grid

GEOD = Geod(ellps="WGS84")


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_generated_cells_tile_the_bbox(shape):
    grid = small_square_grid(shape=shape)
    assert_tiles(grid, SMALL_BBOX)
    assert all(is_cell_code(c.code) for c in grid.cells)
    assert all(c.geometry.is_valid for c in grid.cells)


def test_square_cells_are_the_requested_size_in_metres():
    grid = small_square_grid(cell_size_m=200)
    for c in grid.cells[:: max(1, len(grid) // 7)]:
        w, s, e, n = c.geometry.bounds
        _, _, width = GEOD.inv(w, (s + n) / 2, e, (s + n) / 2)
        _, _, height = GEOD.inv(w, s, w, n)
        assert width == pytest.approx(200, rel=2e-3)
        assert height == pytest.approx(200, rel=2e-3)


def test_hexagons_are_the_requested_width_across_flats():
    grid = small_hex_grid()
    areas = [abs(GEOD.geometry_area_perimeter(c.geometry)[0]) for c in grid.cells]
    # A regular hexagon w wide across flats has area sqrt(3)/2 * w^2; only whole ones (the median) count.
    assert np.median(areas) == pytest.approx(np.sqrt(3) / 2 * 200**2, rel=5e-3)
    assert all(len(c.geometry.exterior.coords) == 7 for c in grid.cells)


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_numbering_runs_west_to_east_then_north_to_south(shape):
    grid = small_square_grid(shape=shape)
    by_community: dict[str, list] = {}
    for c in grid.cells:
        by_community.setdefault(c.community_code, []).append(c)
    for cells in by_community.values():
        centres = [c.geometry.centroid for c in sorted(cells, key=lambda c: c.code)]
        rows = [round(p.y, 7) for p in centres]
        # Sequence order is reading order: rows from north, within a row from west.
        assert rows == sorted(rows, reverse=True)
        for a, b in zip(centres, centres[1:]):
            if round(a.y, 7) == round(b.y, 7):
                assert a.x < b.x
        assert [int(c.code[12:]) for c in sorted(cells, key=lambda c: c.code)] == list(range(1, len(cells) + 1))


def test_streets_and_communities_are_blocks_numbered_like_cells():
    grid = small_square_grid(streets=(2, 2), communities=(2, 1))
    streets = sorted(grid.streets())
    assert streets == [f"410204{i:03d}" for i in range(1, 5)]
    centre = {s: shapely.union_all([c.geometry for c in grid.select(s)]).centroid for s in streets}
    # 2 x 2 street blocks: 001 north-west, 002 north-east, 003 south-west, 004 south-east.
    assert centre[streets[0]].x < centre[streets[1]].x and centre[streets[0]].y > centre[streets[2]].y
    assert centre[streets[2]].x < centre[streets[3]].x
    for s in streets:
        communities = sorted({c.community_code for c in grid.select(s)})
        assert [c[9:] for c in communities] == ["001", "002"]
        west, east = (shapely.union_all([c.geometry for c in grid.select(k)]).centroid for k in communities)
        assert west.x < east.x
        # Every street and community is one connected block.
        assert shapely.union_all([c.geometry for c in grid.select(s)]).geom_type == "Polygon"
    cell = grid.select(streets[1])[0]
    assert cell.street_name == "Street 02"
    assert cell.community_name == "Community 02-01"
    assert cell.name == "Grid 001"


def test_generated_meta_says_so():
    grid = small_square_grid()
    assert grid.meta["source"] == "generated"
    assert grid.meta["grouping"] == "generated" and grid.meta["geometry"] == "generated"
    assert grid.meta["crs"] == "EPSG:4326"
    assert grid.meta["city"] == "Kaifeng 开封市"
    assert grid.meta["bbox"] == list(SMALL_BBOX)


@pytest.mark.parametrize(
    "bbox, size, options, fragment",
    [
        ((114.36, 34.78, 114.34, 34.79), 200, {}, "west < east"),  # west and east swapped
        ((114.34, 34.78, 114.36), 200, {}, "four numbers"),  # three numbers
        ((114.34, 34.78, 114.36, float("nan")), 200, {}, "non-finite"),  # NaN
        (SMALL_BBOX, 0, {}, "positive"),  # zero cell size
        (SMALL_BBOX, 200, {"shape": "triangle"}, "'square' or 'hex'"),  # unknown shape
        (SMALL_BBOX, 200, {"district_code": "410200"}, "county part is 00"),  # a city, not a district
        (SMALL_BBOX, 200, {"streets": (0, 1)}, "at least"),  # no streets
        ((100.0, 20.0, 120.0, 40.0), 10, {}, "more than"),  # billions of cells
        (SMALL_BBOX, 40, {"communities": (1, 1)}, "more than 999 cells in a community"),  # 1400 cells, 1 community
    ],
)
def test_generate_grid_refuses_bad_input(bbox, size, options, fragment):
    kwargs = {"district_code": "410204"} | options
    with pytest.raises(GridError, match=fragment):
        generate_grid(bbox, size, **kwargs)


def test_generation_is_deterministic():
    a = small_square_grid(shape="hex")
    b = small_square_grid(shape="hex")
    assert [c.code for c in a.cells] == [c.code for c in b.cells]
    assert all(shapely.equals_exact(x.geometry, y.geometry, 0) for x, y in zip(a.cells, b.cells))
