"""The built-in demo: Kaifeng's old city in street blocks over the shipped basemap, and the square demo
grid the scenario files name their cells in."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from tests.common import assert_tiles
from twin.grid.checks import grid_violations
from twin.grid.demo import AREA, BASEMAP, UNITS, demo_grid, square_demo_grid
from twin.grid.files import read_area, read_roads, read_units
from twin.grid.generate import metres_per_degree
from twin.grid.streets import street_grid

MX, MY = metres_per_degree(34.8)
DISTRICTS = {
    "410202": "Longting District 龙亭区",
    "410203": "Shunhe Hui District 顺河回族区",
    "410204": "Gulou District 鼓楼区",
    "410205": "Yuwangtai District 禹王台区",
}
# Streets (街道) with their NBS statistical codes, the ones inside the wall and the station's.
STREETS = {
    "410202001": "Beishudian Subdistrict 北书店街道", "410202002": "Wuchaomen Subdistrict 午朝门街道",
    "410202003": "Daxing Subdistrict 大兴街道", "410202005": "Beidaomen Subdistrict 北道门街道",
    "410203001": "Qingping Subdistrict 清平街道", "410203002": "Tieta Subdistrict 铁塔街道",
    "410203003": "Caomen Subdistrict 曹门街道", "410203004": "Songmen Subdistrict 宋门街道",
    "410204001": "Xiangguosi Subdistrict 相国寺街道", "410204002": "Xinhua Subdistrict 新华街道",
    "410204003": "Wolong Subdistrict 卧龙街道", "410204004": "Zhouqiao Subdistrict 州桥街道",
    "410204005": "Xisimen Subdistrict 西司门街道", "410205004": "Guanfang Subdistrict 官坊街道",
}


def basemap_features() -> list[dict]:
    return json.loads(BASEMAP.read_text(encoding="utf-8"))["features"]


def test_demo_grid_is_kaifeng_old_city_in_street_blocks():
    grid = demo_grid()
    assert demo_grid() is grid  # cached
    assert grid.districts() == DISTRICTS
    assert grid.streets() == STREETS
    assert grid_violations(grid, area=read_area(AREA), units=read_units(UNITS), connected_communities=True) == []
    assert 300 <= len(grid) <= 500
    assert grid._lattice is None  # street blocks, not squares
    areas = shapely.area(grid.geometries) * MX * MY
    assert areas.min() > 200**2 / 3 and 0.7 * 200**2 < np.median(areas) < 1.3 * 200**2
    meta = grid.meta
    assert (meta["city"], meta["source"], meta["crs"], meta["shape"]) == ("Kaifeng 开封市", "generated", "EPSG:4326", "streets")
    assert meta["geometry"] == "generated" and meta["grouping"] == "generated"
    assert "generated" in meta["note"] and "not official" in meta["note"]
    assert all(c.worker and c.code in c.worker for c in grid.cells)
    assert len(set(c.worker for c in grid.cells)) == len(grid)


@pytest.mark.parametrize("lon, lat, street", [
    (114.34113, 34.790646, "410204004"),  # 开封府, Zhouqiao
    (114.349, 34.7932, "410204001"),  # 大相国寺, Xiangguosi
    (114.364889, 34.816667, "410203002"),  # 铁塔, Tieta
    (114.3455, 34.8118, "410202002"),  # 龙亭, Wuchaomen
    (114.333234, 34.793794, "410204005"),  # 包公祠, Xisimen
    (114.3457, 34.7785, "410205004"),  # 开封站, Guanfang (outside the wall)
])
def test_landmarks_fall_in_their_streets(lon, lat, street):
    assert demo_grid().locate(lon, lat).startswith(street)


def test_the_main_streets_bound_the_cells():
    """The streets that cross the old city from wall to wall (or to another street) run along cell
    edges, never through a cell."""
    grid = demo_grid()
    interiors = shapely.union_all([shapely.buffer(c.geometry, -1e-6) for c in grid.cells])
    through = {"宋都御街", "中山路", "西门大街", "西大街", "东大街", "曹门大街", "自由路", "寺后街", "鼓楼街", "徐府街",
               "书店街", "马道街", "北门大街", "解放大道（解放路）", "明伦街", "龙亭北路", "龙亭西路", "龙亭东路", "迎宾路"}
    roads = {f["properties"]["name_zh"]: shape(f["geometry"]) for f in basemap_features()
             if f["properties"]["kind"] == "road"}
    assert through <= set(roads)
    for name in through:
        assert roads[name].intersection(interiors).length < 1e-3 * roads[name].length, name


def test_demo_numbering_runs_west_to_east_then_north_to_south():
    grid = demo_grid()
    by_community: dict[str, list] = {}
    for c in grid.cells:
        by_community.setdefault(c.community_code, []).append(c)
    for cells in by_community.values():
        cells.sort(key=lambda c: c.code)
        assert [int(c.code[12:]) for c in cells] == list(range(1, len(cells) + 1))
        centres = [c.geometry.centroid for c in cells]
        north = max(p.y for p in centres)
        bands = [round((north - p.y) * MY / 200) for p in centres]  # the nearest of rows 200 m apart
        assert bands == sorted(bands)
        for (a, band_a), (b, band_b) in zip(zip(centres, bands), zip(centres[1:], bands[1:])):
            assert band_a < band_b or a.x <= b.x + 1e-9  # (cells one above the other: north first)


def test_demo_districts_sit_where_the_real_ones_are():
    grid = demo_grid()
    centre = {d: grid.cell_centroids[[c.district == d for c in grid.cells]].mean(axis=0) for d in grid.districts()}
    longting, shunhe, gulou, yuwangtai = (centre[d] for d in ("410202", "410203", "410204", "410205"))
    assert longting[1] > gulou[1]  # Longting is north (and north-west)
    assert shunhe[0] > gulou[0] and shunhe[0] > longting[0]  # Shunhe is east
    wall = shapely.Polygon(next(shape(f["geometry"]) for f in basemap_features() if f["properties"]["kind"] == "wall").coords)
    yuwangtai_cells = shapely.union_all([c.geometry for c in grid.select("410205")])
    assert yuwangtai[1] < gulou[1] and shapely.area(shapely.intersection(yuwangtai_cells, wall)) < 1e-9  # south, outside the wall
    for d in ("410202", "410203", "410204"):  # inside the wall
        assert shapely.area(shapely.difference(shapely.union_all([c.geometry for c in grid.select(d)]), wall)) < 1e-9
    # Every district is one connected piece; every street has several communities.
    for d in grid.districts():
        assert shapely.union_all([c.geometry for c in grid.select(d)]).geom_type == "Polygon"
    for s in grid.streets():
        assert len([k for k in grid.communities() if k.startswith(s)]) >= 2, s


def test_demo_grid_is_made_again_the_same():
    again = street_grid(read_roads(BASEMAP), read_area(AREA), units=read_units(UNITS), city_name="Kaifeng 开封市")
    grid = demo_grid()
    assert [c.code for c in again.cells] == [c.code for c in grid.cells]
    assert all(shapely.equals_exact(a.geometry, b.geometry, 0) for a, b in zip(again.cells, grid.cells))


def test_basemap_is_labelled_in_chinese_and_english():
    features = basemap_features()
    kinds = {f["properties"]["kind"] for f in features}
    assert kinds == {"wall", "gate", "road", "water", "park", "landmark", "district"}
    for f in features:
        props = f["properties"]
        assert props["accuracy"] in ("sourced", "derived", "approximate")
        if props["name_zh"]:  # the inner ring road's name is unverified: drawn, not labelled
            assert props["name_en"] and props["sources"], props
    named = {f["properties"]["name_zh"] for f in features}
    assert {"开封城墙", "铁塔（开宝寺塔/祐国寺塔）", "包公东湖", "龙亭公园", "大相国寺", "中山路"} <= named


# -- the square demo grid ------------------------------------------------------------

def test_square_demo_grid_is_the_old_square_one():
    grid = square_demo_grid()
    assert square_demo_grid() is grid  # cached
    assert grid.districts() == DISTRICTS
    assert_tiles(grid, (114.33, 34.78, 114.37, 34.81))
    assert len(grid) == 323
    assert grid._lattice is not None
    meta = grid.meta
    assert (meta["city"], meta["source"], meta["crs"], meta["shape"]) == ("Kaifeng 开封市", "generated", "EPSG:4326", "square")
    assert "generated" in meta["note"] and "not official" in meta["note"]
    assert all(c.worker and c.code in c.worker for c in grid.cells)


def test_square_demo_districts_sit_where_the_real_ones_are():
    grid = square_demo_grid()
    centre = {d: grid.cell_centroids[[c.district == d for c in grid.cells]].mean(axis=0) for d in grid.districts()}
    longting, shunhe, gulou, yuwangtai = (centre[d] for d in ("410202", "410203", "410204", "410205"))
    assert longting[1] > gulou[1] and longting[1] > yuwangtai[1]  # Longting is north
    assert shunhe[0] > gulou[0] and shunhe[0] > longting[0]  # Shunhe is east
    assert yuwangtai[0] > gulou[0] and yuwangtai[1] < shunhe[1]  # Yuwangtai is south-east
    for d in grid.districts():
        assert shapely.union_all([c.geometry for c in grid.select(d)]).geom_type == "Polygon"
        streets = [s for s in grid.streets() if s.startswith(d)]
        assert len(streets) >= 2
        assert len([k for k in grid.communities() if k.startswith(d)]) >= 2 * len(streets)
