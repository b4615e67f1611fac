"""The basemap on the server side: what every map page is told to draw under its cells (tile layers,
their coordinate system, vector layers), the vector layers themselves, read once from the city's
files and served as GeoJSON, and the shift of what a page draws over a GCJ-02 basemap.

    GET /api/basemap                   the page configuration below, for pages and integrators
    GET /api/basemap/vectors/{name}    a vector layer as GeoJSON (?crs=gcj02: shifted for a GCJ-02 map)

Cells (/api/cells), devices (/api/devices) and vector layers take `crs=gcj02`; the shift is made
here, vectorized, and cached per layer (twin.gcj02). Points a page learns otherwise (a case's
location, the phone's position, a click) it shifts itself with the same formula (gcoord, vendored
in maps/static/js/vendor). Nothing here fetches anything: tiles go from the browser to the city's
tile server, whose origins the pages' Content-Security-Policy allows by name (`img_sources`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from maps import answers
from maps.context import context
from maps.errors import BadRequest, NotFound
from maps.openapi import GEOJSON, NOT_FOUND, Answer, operation, path_param, query
from maps.params import check_known
from twin.basemap import VectorLayer
from twin.config import Settings
from twin.errors import ConfigError
from twin.gcj02 import shift_geometry
from twin.grid.cells import Grid
from twin.grid.demo import BASEMAP as DEMO_BASEMAP

log = logging.getLogger(__name__)

__all__ = ["Basemap", "CRS", "CRS_CHOICES", "DEMO_LAYER", "ROUTES", "parse_crs"]

CRS_CHOICES = ("wgs84", "gcj02")
DEMO_LAYER = "demo"  # the name the demo's map of Kaifeng is served under
DEMO_ATTRIBUTION = "开封老城示意图 · approximate demo map"
VECTORS_URL = "/api/basemap/vectors"
# What a feature's geometry makes it when neither the layer nor the feature names its kind.
_KIND_OF_TYPE = {"Point": "landmark", "MultiPoint": "landmark", "LineString": "road", "MultiLineString": "road",
                 "Polygon": "area", "MultiPolygon": "area"}


CRS = query("crs", "the coordinate system of the geometry: wgs84 (stored, the default) or gcj02, shifted for a "
                   "page over a GCJ-02 basemap", {"type": "string", "enum": list(CRS_CHOICES), "default": "wgs84"})


def parse_crs(params) -> str:
    """The `crs` parameter: "wgs84" (the default) or "gcj02"."""
    crs = params.get("crs", "wgs84")
    if crs not in CRS_CHOICES:
        raise BadRequest(f"crs: {crs!r} must be one of {', '.join(CRS_CHOICES)}", {"parameter": "crs", "value": crs})
    return crs


@dataclass(frozen=True)
class _Layer:
    """A vector layer read: its features' geometries (WGS-84) and their page properties."""

    name: str
    geometries: np.ndarray
    properties: list[dict]

    def geojson(self, crs: str) -> bytes:
        geoms = shift_geometry(self.geometries) if crs == "gcj02" else self.geometries
        texts = shapely.to_geojson(geoms) if len(geoms) else []
        features = b",".join(b'{"type":"Feature","geometry":' + text.encode() + b',"properties":' + orjson.dumps(props)
                             + b"}" for text, props in zip(texts, self.properties))
        return b'{"type":"FeatureCollection","name":' + orjson.dumps(self.name) + b',"features":[' + features + b"]}"


class Basemap:
    """The basemap of one app, for its grid: built from the settings at start, vector files read then
    (a missing or unreadable file stops the start with a ConfigError naming it)."""

    def __init__(self, settings: Settings, grid: Grid | None = None):
        basemap = settings.basemap
        self.crs = basemap.crs
        self.tiles = settings.tile_layers()
        self.min_zoom, self.max_zoom = basemap.min_zoom, basemap.max_zoom
        specs = list(basemap.vectors)
        if grid is not None and grid.meta.get("basemap") == DEMO_BASEMAP.name and basemap.demo and not specs:
            specs = [VectorLayer(DEMO_LAYER, str(DEMO_BASEMAP), attribution=DEMO_ATTRIBUTION)]
        self.layers = {spec.name: _read(spec) for spec in specs}
        self.attribution = {spec.name: spec.attribution for spec in specs}
        self._json: dict[tuple[str, str], bytes] = {}

    def img_sources(self) -> tuple[str, ...]:
        """The origins the pages load tiles from (for their Content-Security-Policy)."""
        return tuple(dict.fromkeys(source for layer in self.tiles for source in layer.sources()))

    def page_config(self, *, inline: bool = False) -> dict:
        """What a map page needs to draw the basemap (the `basemap` of its configuration); with `inline`,
        the vector layers' GeoJSON itself rather than its URL (a page that must work without a server)."""
        def vector(name: str) -> dict:
            where = ({"data": orjson.loads(self.vector_geojson(name, self.crs))} if inline else
                     {"url": f"{VECTORS_URL}/{name}" + ("?crs=gcj02" if self.crs == "gcj02" else "")})
            return {"name": name, **where, "attribution": self.attribution[name]}

        return {
            "crs": self.crs,
            "tiles": [layer.page_json() for layer in self.tiles],
            "vectors": [vector(name) for name in self.layers],
            "minZoom": self.min_zoom,
            "maxZoom": self.max_zoom,
        }

    def vector_geojson(self, name: str, crs: str) -> bytes | None:
        """The layer `name` as GeoJSON in `crs` (made once, then kept); None for no such layer."""
        layer = self.layers.get(name)
        if layer is None:
            return None
        key = (name, crs)
        if key not in self._json:
            self._json[key] = layer.geojson(crs)
        return self._json[key]


def _read(spec: VectorLayer) -> _Layer:
    import geopandas  # slow to import; only a deployment with vector layers needs it
    import pyogrio

    path = Path(spec.path)
    if not path.is_file():
        raise ConfigError(f"[[basemap.vectors]] {spec.name}: file {path} does not exist")
    try:
        frame = geopandas.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise ConfigError(f"[[basemap.vectors]] {spec.name}: cannot read {path}: {exc}") from exc
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs("EPSG:4326")
    frame = frame[frame.geometry.notna() & ~frame.geometry.is_empty]
    geometries = np.array(frame.geometry.values, dtype=object)
    if spec.crs == "gcj02":  # a file drawn on a GCJ-02 map: back to WGS-84, like everything stored
        geometries = shift_geometry(geometries, inverse=True)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    rows = frame[columns].to_dict("records")
    properties = [_properties(row, spec, geom.geom_type) for row, geom in zip(rows, geometries)]
    log.info("basemap layer %s: %d features from %s", spec.name, len(properties), path)
    return _Layer(spec.name, geometries, properties)


def _properties(row: dict[str, Any], spec: VectorLayer, geom_type: str) -> dict:
    """A feature's properties for the pages: its kind, its labels in both languages, its road class."""
    def text(key: str) -> str:
        value = row.get(key)
        return "" if value is None or value != value else str(value).strip()  # NaN from an empty cell

    zh = text(spec.label_zh) or text("name")
    en = text(spec.label_en) or text("name")
    props = {"kind": spec.kind or text("kind") or _KIND_OF_TYPE.get(geom_type, "area"), "name_zh": zh, "name_en": en}
    if text("road_class"):
        props["road_class"] = text("road_class")
    return props


@operation("get", "The basemap every map page draws: tile layers, their coordinate system, vector layers",
           answers={200: Answer(answers.BasemapAnswer, "The basemap")})
async def basemap(request: Request) -> Response:
    check_known(request.query_params, ())
    return JSONResponse(context(request).basemap.page_config())


@operation("get", "A vector layer of the basemap (roads, water, landmarks, ...) as GeoJSON",
           params=[path_param("name", "the layer's name (GET /api/basemap lists them)", "roads"), CRS],
           answers={200: Answer(answers.VectorCollection, "GeoJSON FeatureCollection", GEOJSON), 404: NOT_FOUND})
async def vector_layer(request: Request) -> Response:
    check_known(request.query_params, ("crs",))
    crs = parse_crs(request.query_params)
    ctx = context(request)
    name = request.path_params["name"]
    if name not in ctx.basemap.layers:
        raise NotFound(f"the basemap has no vector layer {name!r}; GET /api/basemap lists them", {"name": name})
    body = ctx.basemap.vector_geojson(name, crs)
    return Response(body, media_type=GEOJSON, headers={"Cache-Control": "max-age=3600"})


ROUTES = [
    Route("/api/basemap", basemap, methods=["GET"]),
    Route("/api/basemap/vectors/{name}", vector_layer, methods=["GET"]),
]
