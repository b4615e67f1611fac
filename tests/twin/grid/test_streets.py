"""Street-block grids from roads and an area: blocks, splitting, slivers, units, numbering and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import LineString, box

from twin.errors import GridError
from twin.grid.checks import grid_violations
from twin.grid.generate import metres_per_degree
from twin.grid.grouping import shared_edges
from twin.grid.streets import Unit, street_grid

W, S = 114.30, 34.70
MX, MY = metres_per_degree(34.705)


def at(x_m: float, y_m: float) -> tuple[float, float]:
    """A point `x_m` east and `y_m` north of (W, S), in degrees."""
    return W + x_m / MX, S + y_m / MY


def road(*points_m) -> LineString:
    return LineString([at(*p) for p in points_m])


def area(width_m: float, height_m: float) -> shapely.Polygon:
    return box(*at(0, 0), *at(width_m, height_m))


def areas_m2(grid) -> np.ndarray:
    return shapely.area(grid.geometries) * MX * MY


# A 1 km square crossed by a north-south avenue at 400 m and an east-west one at 600 m.
AREA = area(1000, 1000)
CROSS = [road((400, -50), (400, 1050)), road((-50, 600), (1050, 600))]


def test_blocks_are_split_to_about_the_cell_size_and_cover_the_area():
    grid = street_grid(CROSS, AREA, district_code="410204")
    assert grid_violations(grid, area=AREA, connected_communities=True) == []
    assert 20 <= len(grid) <= 30  # 1 km² of 200 m cells
    assert 0.6 * 200**2 < np.median(areas_m2(grid)) < 1.4 * 200**2
    # The avenues run along cell edges: no cell crosses them.
    for line in CROSS:
        crossing = [c.code for c in grid.cells if shapely.crosses(line, shapely.buffer(c.geometry, -1e-7))]
        assert crossing == [], crossing


def test_neighbours_share_their_edges_exactly():
    """A cut across one block ends on the road as a vertex of the cells on both sides, so cells across
    a road share their edges vertex for vertex: no hairline between them."""
    grid = street_grid(CROSS, AREA, district_code="410204")
    left, right, length = shared_edges(grid.geometries)
    west = np.array([c.geometry.centroid.x < at(400, 0)[0] for c in grid.cells])
    across = west[left] != west[right]
    assert length[across].sum() == pytest.approx(1000 / MY, rel=1e-6)  # the whole avenue, in degrees
    assert shapely.coverage_is_valid(grid.geometries)


def test_slivers_between_close_parallel_roads_are_merged():
    # Two roads 30 m apart leave a strip 30 m wide: no cell may be that thin.
    grid = street_grid([road((500, -50), (500, 1050)), road((530, -50), (530, 1050))], AREA, district_code="410204")
    assert grid_violations(grid, area=AREA) == []
    for cell in grid.cells:
        envelope = shapely.get_coordinates(shapely.oriented_envelope(cell.geometry))[:3]
        sides = sorted([np.hypot(*((envelope[1] - envelope[0]) * (MX, MY))), np.hypot(*((envelope[2] - envelope[1]) * (MX, MY)))])
        assert cell.geometry.area * MX * MY / sides[1] >= 100, cell.code  # at least half a cell wide


def test_a_road_stopping_short_of_another_still_bounds_its_blocks():
    stub = road((470, 605), (470, 1050))  # stops 5 m short of the east-west avenue
    joined = street_grid([stub, CROSS[1]], AREA, district_code="410204")
    apart = street_grid([stub, CROSS[1]], AREA, district_code="410204", snap_m=0)
    inside = lambda grid: sum(stub.intersection(shapely.buffer(c.geometry, -1e-7)).length for c in grid.cells)  # noqa: E731
    assert inside(joined) < 1e-9 < inside(apart)


def test_units_give_codes_names_and_bounds():
    """Given streets keep their codes and names; communities are generated inside them; a street the
    units do not give is generated with the next free number; no cell crosses a unit boundary."""
    west = Unit("410204003", "Xiangguosi Subdistrict 相国寺街道", area(450, 1000), district_name="Gulou District 鼓楼区")
    grid = street_grid(CROSS, AREA, units=[west], district_code="410204")
    assert grid_violations(grid, area=AREA, units=[west], connected_communities=True) == []
    streets = grid.streets()
    assert streets["410204003"] == "Xiangguosi Subdistrict 相国寺街道"
    assert set(streets) == {"410204003", "410204001"}  # the rest: generated, numbered from 001
    assert grid.districts() == {"410204": "Gulou District 鼓楼区"}
    for cell in grid.select("410204003"):
        assert shapely.area(shapely.difference(cell.geometry, west.geometry)) * MX * MY < 1.0
    assert all(c.community_name.startswith("Community 03-") for c in grid.select("410204003"))


def test_community_units_are_kept_whole():
    street = Unit("410204001", "Zhouqiao Subdistrict 州桥街道", AREA, district_name="Gulou District 鼓楼区")
    community = Unit("410204001002", "Dazhifang Community 大纸坊社区", area(400, 600))
    grid = street_grid(CROSS, AREA, units=[street, community], community_cells=6)
    assert grid_violations(grid, area=AREA, units=[street, community], connected_communities=True) == []
    communities = grid.communities()
    assert communities["410204001002"] == "Dazhifang Community 大纸坊社区"
    assert grid.streets() == {"410204001": "Zhouqiao Subdistrict 州桥街道"}
    # The street's other communities are generated, numbered around the given one.
    assert "410204001001" in communities and "410204001003" in communities
    cells = shapely.union_all([c.geometry for c in grid.select("410204001002")])
    assert shapely.area(shapely.symmetric_difference(cells, community.geometry)) * MX * MY < 1.0  # the very unit


def test_generation_is_deterministic():
    a = street_grid(CROSS, AREA, district_code="410204", community_cells=5)
    b = street_grid(CROSS, AREA, district_code="410204", community_cells=5)
    assert [c.code for c in a.cells] == [c.code for c in b.cells]
    assert all(shapely.equals_exact(x.geometry, y.geometry, 0) for x, y in zip(a.cells, b.cells))
    # The order of the roads in the file does not matter.
    c = street_grid(list(reversed(CROSS)), AREA, district_code="410204", community_cells=5)
    assert [x.code for x in a.cells] == [z.code for z in c.cells]
    assert all(shapely.area(shapely.symmetric_difference(x.geometry, z.geometry)) * MX * MY < 0.01
               for x, z in zip(a.cells, c.cells))


def test_generated_meta_says_so():
    grid = street_grid(CROSS, AREA, district_code="410204", district_name="Gulou", city_name="Kaifeng 开封市")
    assert grid.meta["source"] == grid.meta["geometry"] == grid.meta["grouping"] == "generated"
    assert grid.meta["shape"] == "streets" and grid.meta["cell_size_m"] == 200
    assert grid.meta["crs"] == "EPSG:4326"


@pytest.mark.parametrize("roads, area_, options, fragment", [
    (CROSS, LineString([(0, 0), (1, 1)]), {}, "must be a polygon"),  # a line for an area
    (CROSS, shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), {}, "not a valid polygon"),  # a bow tie
    (CROSS, box(500000, 0, 500001, 1), {}, "not in WGS84"),  # projected metres
    (CROSS, AREA, {"cell_size_m": 0}, "positive"),  # no cell size
    (CROSS, AREA, {"district_code": "410200"}, "county part is 00"),  # a city, not a district
    (CROSS, AREA, {"units": [Unit("4102041", "x", AREA)], "district_code": "410204"}, "not 6, 9 or 12 digits"),
    (CROSS, AREA, {"units": [Unit("410204001", "a", AREA), Unit("410204001", "b", AREA)]}, "given 2 times"),
    (CROSS, AREA, {"units": [Unit("410204001", "a", area(300, 300))]}, "is in no unit"),  # units leave a part out
    (CROSS, area(100000, 100000), {"cell_size_m": 20}, "more than"),  # millions of cells
])
def test_bad_input_is_refused(roads, area_, options, fragment):
    with pytest.raises(GridError, match=fragment):
        street_grid(roads, area_, **options)
