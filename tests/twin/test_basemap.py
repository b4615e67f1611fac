"""`[basemap]`: tile layers (XYZ, WMTS KVP and RESTful), the tiles' coordinate system, vector layers, and
the errors a wrong configuration gets."""

from __future__ import annotations

import re

import pytest

from twin.basemap import TileLayer, basemap_from_config
from twin.config import Settings, load_settings
from twin.errors import ConfigError

TIANDITU = {"url": "https://t{s}.tianditu.intranet/vec_w/wmts?tk=KEY", "layer": "vec", "tile_matrix_set": "w",
            "format": "tiles", "subdomains": "01", "attribution": "天地图"}


def test_xyz_layer_keeps_its_template():
    layer = basemap_from_config({"tiles": [{"url": "https://tiles.city.gov.cn/{z}/{x}/{y}.png", "max_zoom": 18}]}, {}).tiles[0]
    assert layer.url == "https://tiles.city.gov.cn/{z}/{x}/{y}.png" and layer.max_zoom == 18
    assert layer.sources() == ("https://tiles.city.gov.cn",)


def test_wmts_kvp_layer_becomes_a_gettile_template():
    vec, label = basemap_from_config({"tiles": [TIANDITU, TIANDITU | {"layer": "cva"}]}, {}).tiles
    assert vec.url == ("https://t{s}.tianditu.intranet/vec_w/wmts?tk=KEY&SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                       "&LAYER=vec&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}")
    assert "LAYER=cva" in label.url  # the annotation layer over the streets
    assert vec.sources() == ("https://t0.tianditu.intranet", "https://t1.tianditu.intranet")
    geoserver = basemap_from_config({"tiles": [{"url": "https://gis.city.gov.cn/geoserver/gwc/service/wmts", "layer": "city:base",
                                                "tile_matrix_set": "EPSG:900913", "tile_matrix": "EPSG:900913:{z}"}]}, {}).tiles[0]
    assert "LAYER=city%3Abase" in geoserver.url and geoserver.url.endswith("&TILEMATRIX=EPSG:900913:{z}&TILEROW={y}&TILECOL={x}")


def test_wmts_restful_template_is_renamed_for_leaflet():
    layer = basemap_from_config({"tiles": [{
        "url": "https://gis.city.gov.cn/wmts/base/{Style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.png",
        "tile_matrix_set": "WebMercatorQuad"}]}, {}).tiles[0]
    assert layer.url == "https://gis.city.gov.cn/wmts/base/default/WebMercatorQuad/{z}/{y}/{x}.png"


def test_crs_names_and_environment_overrides():
    assert basemap_from_config({"crs": "CGCS2000"}, {}).crs == "wgs84"  # centimetres apart: drawn as WGS-84
    assert basemap_from_config({"crs": "GCJ-02"}, {}).crs == "gcj02"
    settings = basemap_from_config({"crs": "wgs84", "max_zoom": 16}, {"GRIDTWIN_BASEMAP_CRS": "gcj02",
                                                                      "GRIDTWIN_BASEMAP_MAX_ZOOM": "18",
                                                                      "GRIDTWIN_BASEMAP_DEMO": "false"})
    assert (settings.crs, settings.max_zoom, settings.demo) == ("gcj02", 18, False)


def test_web_tiles_is_the_one_layer_when_basemap_names_none():
    settings = Settings().replace(web={"tiles": "https://{s}.tiles.city.example/{z}/{x}/{y}.png",
                                       "tiles_attribution": "City GIS"})
    (layer,) = settings.tile_layers()
    assert layer.subdomains == ("a", "b", "c") and layer.attribution == "City GIS"
    assert Settings().tile_layers() == ()


def test_vector_layers(tmp_path):
    config = tmp_path / "gridtwin.toml"
    config.write_text('[basemap]\ncrs = "gcj02"\n[[basemap.vectors]]\nname = "roads"\npath = "/srv/gis/roads.geojson"\n'
                      'kind = "road"\n[[basemap.vectors]]\nname = "poi"\npath = "/srv/gis/poi.gpkg"\ncrs = "gcj02"\n'
                      'label_zh = "NAME"\n', encoding="utf-8")
    roads, poi = load_settings(config, env={}).basemap.vectors
    assert (roads.name, roads.kind, roads.crs, roads.label_zh) == ("roads", "road", "wgs84", "name_zh")
    assert (poi.crs, poi.label_zh, poi.label_en) == ("gcj02", "NAME", "name_en")


@pytest.mark.parametrize("table, fragment", [
    ({"crs": "bd09"}, "not a coordinate system"),  # Baidu's own shift is not drawn
    ({"max_zoom": 30}, "from 0 to 24"),  # beyond any tile pyramid
    ({"min_zoom": 15, "max_zoom": 12}, "above"),  # an empty range
    ({"tiles": {"url": "x"}}, "arrays of tables"),  # [basemap.tiles] instead of [[basemap.tiles]]
    ({"tiles": [{}]}, "url is required"),
    ({"tiles": [{"url": "https://t.example/{z}/{x}.png"}]}, "needs {z}, {x} and {y}"),
    ({"tiles": [{"url": "https://{s}.t.example/{z}/{x}/{y}.png"}]}, "{s} in the URL and subdomains go together"),
    ({"tiles": [{"url": "https://t.example/{z}/{x}/{y}.png?key={key}"}]}, "placeholder(s) key that nothing fills"),
    ({"tiles": [{"url": "ftp://t.example/{z}/{x}/{y}.png"}]}, "http(s)://host"),
    ({"tiles": [{"url": "https://{z}.t.example/{z}/{x}/{y}.png"}]}, "only {s} may stand in the tile server's host"),
    ({"tiles": [{"url": "https://t.example/wmts", "layer": "vec"}]}, "needs tile_matrix_set"),
    ({"tiles": [{"url": "https://t.example/{TileMatrix}/{TileRow}/{TileCol}/{TileMatrixSet}"}]}, "give tile_matrix_set"),
    ({"tiles": [{"url": "https://t.example/{z}/{x}/{y}.png", "opacity": 2}]}, "from 0 to 1"),
    ({"tiles": [{"url": "https://t.example/{z}/{x}/{y}.png", "zoom": 3}]}, "unknown key(s) zoom"),
    ({"vectors": [{"name": "Roads!", "path": "r.geojson"}]}, "lower-case letters"),
    ({"vectors": [{"name": "roads"}]}, "path is required"),
    ({"vectors": [{"name": "roads", "path": "a"}, {"name": "roads", "path": "b"}]}, "used twice"),
    ({"colour": "grey"}, "unknown key(s) colour"),
])
def test_bad_configuration_is_refused_with_its_key(table, fragment):
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        basemap_from_config(table, {})


def test_web_tiles_and_basemap_tiles_do_not_go_together(tmp_path):
    config = tmp_path / "gridtwin.toml"
    config.write_text('[web]\ntiles = "https://a.example/{z}/{x}/{y}.png"\n'
                      '[[basemap.tiles]]\nurl = "https://b.example/{z}/{x}/{y}.png"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="keep the"):
        load_settings(config, env={})
    with pytest.raises(ConfigError, match=re.escape("needs {z}")):
        Settings().replace(web={"tiles": "https://a.example/tile.png"})


def test_a_path_on_this_server_needs_no_source():
    assert TileLayer("/tiles/{z}/{x}/{y}.png").sources() == ()


def test_docstring_examples():
    import doctest

    import twin.basemap

    result = doctest.testmod(twin.basemap)
    assert result.attempted > 0 and result.failed == 0
