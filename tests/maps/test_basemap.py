"""The basemap on the server: what the pages are told to draw, the vector layers it serves, and cells,
devices and layers shifted for a page over GCJ-02 tiles."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from maps.app import create_app
from tests.maps.common import DEVICES
from twin.basemap import basemap_from_config
from twin.errors import ConfigError
from twin.gcj02 import to_gcj02
from twin.grid.cells import Cell, Grid
from twin.grid.demo import demo_grid
from twin.grid.generate import metres_per_degree

TIANDITU = {"url": "https://t{s}.tianditu.intranet/vec_w/wmts?tk=KEY", "subdomains": "01", "layer": "vec",
            "tile_matrix_set": "w", "format": "tiles", "attribution": "天地图"}


def with_basemap(settings, **table):
    return dataclasses.replace(settings, basemap=basemap_from_config(table, {}))


async def get(app, path: str):
    import httpx

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gridtwin.test") as c:
            return await c.get(path)


async def test_the_basemap_the_pages_draw(settings, store, grid):
    app = create_app(with_basemap(settings, crs="cgcs2000", tiles=[TIANDITU, TIANDITU | {"layer": "cva"}]),
                     store=store, grid=grid)
    body = (await get(app, "/api/basemap")).json()
    assert body["crs"] == "wgs84" and body["vectors"] == []  # not the demo grid: no demo map
    vec, cva = body["tiles"]
    assert "LAYER=vec" in vec["url"] and "LAYER=cva" in cva["url"] and vec["subdomains"] == ["0", "1"]
    assert vec["attribution"] == "天地图"
    policy = (await get(app, "/wall")).headers["content-security-policy"]
    assert "img-src 'self' data: https://t0.tianditu.intranet https://t1.tianditu.intranet;" in policy


async def test_the_demo_grid_comes_with_the_demo_map(settings, store):
    app = create_app(settings, store=store, grid=demo_grid())
    (layer,) = (await get(app, "/api/basemap")).json()["vectors"]
    assert layer["name"] == "demo" and layer["url"] == "/api/basemap/vectors/demo"
    answer = await get(app, layer["url"])
    assert answer.headers["content-type"] == "application/geo+json"
    features = answer.json()["features"]
    pagoda = next(f for f in features if f["properties"]["name_en"].startswith("Iron Pagoda ("))
    assert pagoda["properties"] == {"kind": "landmark", "name_zh": "铁塔（开宝寺塔/祐国寺塔）",
                                    "name_en": "Iron Pagoda (Youguo Temple Pagoda)"}
    assert pagoda["geometry"]["coordinates"] == [114.364889, 34.816667]
    roads = [f for f in features if f["properties"]["kind"] == "road"]
    assert len(roads) == 27 and all("road_class" in f["properties"] for f in roads)
    # Turned off: the demo grid on its own.
    app = create_app(with_basemap(settings, demo=False), store=store, grid=demo_grid())
    assert (await get(app, "/api/basemap")).json()["vectors"] == []


async def test_everything_a_page_draws_shifts_for_gcj02_tiles(settings, store, grid):
    app = create_app(with_basemap(settings, crs="gcj02"), store=store, grid=grid)
    plain = (await get(app, "/api/cells")).json()["features"]
    shifted = (await get(app, "/api/cells?crs=gcj02")).json()["features"]
    for a, b in zip(plain, shifted):
        ring = np.array(a["geometry"]["coordinates"][0])
        assert np.allclose(b["geometry"]["coordinates"][0], np.column_stack(to_gcj02(*ring.T)), atol=1e-12, rtol=0)
    one = (await get(app, f"/api/cells/{plain[0]['id']}?crs=gcj02")).json()
    assert one["geometry"] == shifted[0]["geometry"]
    devices = (await get(app, "/api/devices")).json()["devices"]
    moved = (await get(app, "/api/devices?crs=gcj02")).json()["devices"]
    fixed = [(a, b) for a, b in zip(devices, moved) if a["lat"] is not None]
    assert len(fixed) == len([d for d in DEVICES if d.lat is not None])
    for a, b in fixed:
        assert (b["lon"], b["lat"]) == pytest.approx(tuple(float(v) for v in to_gcj02(a["lon"], a["lat"])), abs=1e-12)
    assert (await get(app, "/api/basemap")).json()["crs"] == "gcj02"
    bad = await get(app, "/api/cells?crs=bd09")
    assert bad.status_code == 400 and bad.json()["detail"] == {"parameter": "crs", "value": "bd09"}


async def test_a_city_vector_layer_from_its_file(settings, store, grid, tmp_path):
    # A city's file of points of interest drawn on a GCJ-02 map, labelled in its own columns.
    at = (114.3530, 34.7950)
    gcj = tuple(float(v) for v in to_gcj02(*at))
    path = tmp_path / "poi.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(gcj)},
         "properties": {"NAME": "鼓楼", "NAME_EN": "Drum Tower", "kind": "landmark"}}]}), encoding="utf-8")
    app = create_app(with_basemap(settings, vectors=[{"name": "poi", "path": str(path), "crs": "gcj02",
                                                      "label_zh": "NAME", "label_en": "NAME_EN",
                                                      "attribution": "City GIS"}]), store=store, grid=grid)
    (layer,) = (await get(app, "/api/basemap")).json()["vectors"]
    assert layer == {"name": "poi", "url": "/api/basemap/vectors/poi", "attribution": "City GIS"}
    (feature,) = (await get(app, "/api/basemap/vectors/poi")).json()["features"]
    assert feature["properties"] == {"kind": "landmark", "name_zh": "鼓楼", "name_en": "Drum Tower"}
    assert feature["geometry"]["coordinates"] == pytest.approx(list(at), abs=1e-9)  # stored and served in WGS-84
    (again,) = (await get(app, "/api/basemap/vectors/poi?crs=gcj02")).json()["features"]
    assert again["geometry"]["coordinates"] == pytest.approx(list(gcj), abs=1e-9)
    missing = await get(app, "/api/basemap/vectors/roads")
    assert missing.status_code == 404 and "GET /api/basemap lists them" in missing.json()["error"]


def test_a_vector_layer_whose_file_is_missing_stops_the_start(settings, store, grid, tmp_path):
    with pytest.raises(ConfigError, match=r"\[\[basemap.vectors\]\] roads: file .*roads.geojson does not exist"):
        create_app(with_basemap(settings, vectors=[{"name": "roads", "path": str(tmp_path / "roads.geojson")}]),
                   store=store, grid=grid)


async def test_the_demo_grid_from_the_api_is_irregular_and_gap_free(settings, store):
    from twin.grid.demo import AREA
    from twin.grid.files import read_area

    app = create_app(settings, store=store, grid=demo_grid())
    features = (await get(app, "/api/cells")).json()["features"]
    cells = [shape(f["geometry"]) for f in features]
    assert len(cells) == len(demo_grid())
    # Street blocks, not a lattice: many cells are no rectangle (the wall, the slanting streets), the
    # rest are rectangles of many sizes that line up on no common breaks.
    boxes = shapely.box(*np.array([c.bounds for c in cells]).T)
    rectangles = np.isclose(shapely.area(cells), shapely.area(boxes), rtol=1e-9)
    assert rectangles.mean() < 0.8
    assert Grid([Cell(f["id"], "", g) for f, g in zip(features, cells)])._lattice is None
    sizes = shapely.area(cells)
    assert sizes.std() / sizes.mean() > 0.2
    union = shapely.union_all(cells, grid_size=1e-9)
    area = read_area(AREA)
    assert union.geom_type == "Polygon" and len(union.interiors) == 0  # one piece, no holes
    mx, my = metres_per_degree(34.8)
    # The whole area, to the millimetre the cells' coordinates are rounded to, all along its 15 km boundary.
    assert shapely.area(shapely.symmetric_difference(union, area)) * mx * my < 15_000 * 0.001
    assert sum(shapely.area(cells)) == pytest.approx(union.area, rel=1e-9)  # no overlaps
