"""The basemap every map draws under the cells, from the `[basemap]` configuration: tile layers from
the city's own servers (XYZ, or WMTS in KVP or RESTful form), the coordinate system they are drawn
in, and vector layers (roads, water, buildings, landmarks) from files the city provides.

    [basemap]
    crs = "gcj02"                 # "wgs84" (default; also CGCS2000) or "gcj02" (AMap-style tiles)
    [[basemap.tiles]]             # drawn in order: the first at the bottom
    url = "https://t{s}.tiles.city.gov.cn/vec_w/wmts"
    layer = "vec"                 # WMTS KVP: layer, tile_matrix_set, style, format, tile_matrix
    tile_matrix_set = "w"
    subdomains = "01234567"
    attribution = "天地图 (city mirror)"
    [[basemap.vectors]]
    name = "roads"
    path = "/srv/gis/roads.geojson"

CGCS2000 (China Geodetic Coordinate System 2000, EPSG:4490; Tianditu and most city GIS) and WGS-84
are both realisations of the international terrestrial reference frame; their ellipsoids differ in
flattening by about 1e-11 and their frames by a few centimetres, less than a pixel at any zoom a map
of cells is read at, so CGCS2000 tiles are drawn as WGS-84 ones. GCJ-02 tiles are half a kilometre
off, and every layer drawn over them is shifted at render time (twin.gcj02); storage and the wire
stay WGS-84. Tiles must be cut in the Web Mercator tile matrix set (Tianditu's `_w` layers, GeoServer's
EPSG:900913 or WebMercatorQuad), the one Leaflet draws.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlencode, urlsplit

from twin.errors import ConfigError

__all__ = ["TileLayer", "VectorLayer", "BasemapSettings", "basemap_from_config", "CRS_ALIASES"]

# Names a configuration may give the tiles' coordinate system, and what each is drawn as.
CRS_ALIASES = {"wgs84": "wgs84", "wgs-84": "wgs84", "epsg:4326": "wgs84", "cgcs2000": "wgs84", "epsg:4490": "wgs84",
               "epsg:3857": "wgs84", "gcj02": "gcj02", "gcj-02": "gcj02"}
MAX_ZOOM = 24
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")
# WMTS RESTful placeholders (OGC 07-057r7, 10.2.1) and what Leaflet calls them.
_RESTFUL = {"tilematrix": "{z}", "tilerow": "{y}", "tilecol": "{x}"}


def _crs(value: Any, where: str) -> str:
    crs = CRS_ALIASES.get(str(value).strip().lower())
    if crs is None:
        raise ConfigError(f"{where}: {value!r} is not a coordinate system GridTwin draws; use \"wgs84\" "
                          "(also for CGCS2000) or \"gcj02\"")
    return crs


def _zoom(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ZOOM:
        raise ConfigError(f"{where}: {value!r} must be a whole zoom level from 0 to {MAX_ZOOM}")
    return value


def _table(value: Any, where: str, known: tuple[str, ...]) -> dict:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return dict(value)


@dataclass(frozen=True, slots=True)
class TileLayer:
    """One tile layer, its URL already the template Leaflet takes ({z}, {x}, {y}, and {s} for a subdomain)."""

    url: str
    attribution: str = ""
    subdomains: tuple[str, ...] = ()
    min_zoom: int | None = None
    max_zoom: int | None = None
    tms: bool = False  # rows numbered from the south (TMS), not the north (XYZ, WMTS)
    opacity: float = 1.0

    KEYS = ("url", "kind", "attribution", "subdomains", "min_zoom", "max_zoom", "tms", "opacity", "layer",
            "tile_matrix_set", "style", "format", "tile_matrix")

    @classmethod
    def from_config(cls, value: Any, where: str) -> "TileLayer":
        """A `[[basemap.tiles]]` table: an XYZ template, a WMTS RESTful template ({TileMatrix}, {TileRow},
        {TileCol}) or a WMTS service URL with `layer` and `tile_matrix_set` (KVP requests)."""
        t = _table(value, where, cls.KEYS)
        url = t.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"{where}: url is required: the tile URL template or the WMTS service URL")
        url = url.strip()
        kind = t.get("kind") or ("wmts" if "layer" in t or "{tilematrix}" in url.lower() else "xyz")
        if kind == "wmts":
            url = _wmts_template(url, t, where)
        elif kind != "xyz":
            raise ConfigError(f"{where}: kind {kind!r} must be \"xyz\" or \"wmts\"")
        subdomains = t.get("subdomains", ())
        if isinstance(subdomains, str):
            subdomains = tuple(subdomains)  # "0123", as Leaflet takes it
        if not isinstance(subdomains, (list, tuple)) or not all(isinstance(s, str) and s for s in subdomains):
            raise ConfigError(f"{where}: subdomains must be a string of letters (\"abc\") or a list of strings")
        opacity = t.get("opacity", 1.0)
        if isinstance(opacity, bool) or not isinstance(opacity, (int, float)) or not 0 <= opacity <= 1:
            raise ConfigError(f"{where}: opacity {opacity!r} must be a number from 0 to 1")
        layer = cls(url, str(t.get("attribution", "")), tuple(subdomains), _zoom(t.get("min_zoom"), f"{where}.min_zoom"),
                    _zoom(t.get("max_zoom"), f"{where}.max_zoom"), bool(t.get("tms", False)), float(opacity))
        layer.check(where)
        return layer

    def check(self, where: str) -> None:
        """ConfigError unless the template is one Leaflet can fill and the page's policy can allow."""
        names = set(_PLACEHOLDER.findall(self.url))
        if not {"z", "x", "y"} <= names:
            raise ConfigError(f"{where}: the tile URL {self.url!r} needs {{z}}, {{x}} and {{y}} (or a WMTS layer)")
        unknown = names - {"z", "x", "y", "s"}
        if unknown:
            raise ConfigError(f"{where}: the tile URL has placeholder(s) {', '.join(sorted(unknown))} that nothing fills")
        if ("s" in names) != bool(self.subdomains):
            raise ConfigError(f"{where}: {{s}} in the URL and subdomains go together: give both or neither")
        if not self.url.startswith("/"):
            parts = urlsplit(self.url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(f"{where}: the tile URL must be http(s)://host/... or a path on this server (/...)")
            if "{" in parts.netloc.replace("{s}", ""):
                raise ConfigError(f"{where}: only {{s}} may stand in the tile server's host name")
        if self.min_zoom is not None and self.max_zoom is not None and self.min_zoom > self.max_zoom:
            raise ConfigError(f"{where}: min_zoom {self.min_zoom} is above max_zoom {self.max_zoom}")

    def sources(self) -> tuple[str, ...]:
        """The origins (scheme://host[:port]) tiles come from, one per subdomain; none for this server.

        >>> TileLayer("https://t{s}.tiles.example.cn/{z}/{x}/{y}.png", subdomains=("0", "1")).sources()
        ('https://t0.tiles.example.cn', 'https://t1.tiles.example.cn')
        """
        if self.url.startswith("/"):
            return ()
        parts = urlsplit(self.url)
        hosts = [parts.netloc.replace("{s}", s) for s in self.subdomains] if "{s}" in parts.netloc else [parts.netloc]
        return tuple(dict.fromkeys(f"{parts.scheme}://{host}" for host in hosts))

    def page_json(self) -> dict:
        return {"url": self.url, "attribution": self.attribution, "subdomains": list(self.subdomains),
                "minZoom": self.min_zoom, "maxZoom": self.max_zoom, "tms": self.tms, "opacity": self.opacity}


def _wmts_template(url: str, t: dict, where: str) -> str:
    """The Leaflet template of a WMTS layer: RESTful placeholders renamed, or a KVP GetTile request."""
    fill = {"style": t.get("style", "default"), "tilematrixset": t.get("tile_matrix_set"), "layer": t.get("layer"),
            "format": t.get("format")}
    if "{tilematrix}" in url.lower():
        def rename(match: re.Match) -> str:
            name = match.group(1).lower()
            if name in _RESTFUL:
                return _RESTFUL[name]
            if name in fill:
                if fill[name] is None:
                    raise ConfigError(f"{where}: the URL has {{{match.group(1)}}}: give {name.replace('tilematrixset', 'tile_matrix_set')}")
                return str(fill[name])
            return match.group(0)

        return _PLACEHOLDER.sub(rename, url)
    missing = [key for key in ("layer", "tile_matrix_set") if not t.get(key)]
    if missing:
        raise ConfigError(f"{where}: a WMTS service URL needs {' and '.join(missing)} (or a RESTful template "
                          "with {TileMatrix}, {TileRow} and {TileCol})")
    query = urlencode({"SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": t["layer"],
                       "STYLE": fill["style"], "TILEMATRIXSET": t["tile_matrix_set"],
                       "FORMAT": t.get("format", "image/png")})
    matrix = str(t.get("tile_matrix", "{z}"))
    if "{z}" not in matrix:
        raise ConfigError(f"{where}: tile_matrix {matrix!r} must contain {{z}}, e.g. \"EPSG:900913:{{z}}\"")
    return f"{url}{'&' if '?' in url else '?'}{query}&TILEMATRIX={matrix}&TILEROW={{y}}&TILECOL={{x}}"


@dataclass(frozen=True, slots=True)
class VectorLayer:
    """A vector layer from a file the city provides (GeoJSON, GeoPackage, Shapefile), served by the app
    at /api/basemap/vectors/{name} and drawn under the cells, labelled in the page's language."""

    name: str
    path: str
    kind: str | None = None  # road, water, park, building, landmark, ...; unset: each feature's `kind`
    crs: str = "wgs84"  # "gcj02" for a file drawn on a GCJ-02 map (turned back to WGS-84 when read)
    label_zh: str = "name_zh"  # the properties holding the labels
    label_en: str = "name_en"
    attribution: str = ""

    KEYS = ("name", "path", "kind", "crs", "label_zh", "label_en", "attribution")

    @classmethod
    def from_config(cls, value: Any, where: str) -> "VectorLayer":
        t = _table(value, where, cls.KEYS)
        name, path = t.get("name"), t.get("path")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{where}: name {name!r} must be lower-case letters, digits, - and _ (it is part of a URL)")
        if not isinstance(path, str) or not path:
            raise ConfigError(f"{where}: path is required: the file of the layer")
        return cls(name, path, t.get("kind"), _crs(t.get("crs", "wgs84"), f"{where}.crs"),
                   str(t.get("label_zh", "name_zh")), str(t.get("label_en", "name_en")), str(t.get("attribution", "")))


@dataclass(frozen=True, slots=True)
class BasemapSettings:
    """`[basemap]`: the tiles' coordinate system, zoom limits, tile and vector layers. With no tile
    layer here, `[web] tiles` (one XYZ template in WGS-84) is the basemap. `demo` draws the demo's
    Kaifeng map (twin/grid/demo) on a demo grid when no vector layer is configured."""

    crs: str = "wgs84"
    min_zoom: int | None = None
    max_zoom: int | None = None
    demo: bool = True
    tiles: tuple[TileLayer, ...] = ()
    vectors: tuple[VectorLayer, ...] = field(default_factory=tuple)

    KEYS = ("crs", "min_zoom", "max_zoom", "demo", "tiles", "vectors")

    def tile_layers(self, web_tiles: str = "none", web_attribution: str = "") -> tuple[TileLayer, ...]:
        """The tile layers: `[[basemap.tiles]]`, else `[web] tiles` (the older single XYZ template,
        WGS-84; {s} stands for Leaflet's subdomains a, b and c), else none."""
        if self.tiles or not web_tiles or web_tiles.lower() == "none":
            return self.tiles
        return (TileLayer.from_config({"url": web_tiles, "attribution": web_attribution,
                                       **({"subdomains": "abc"} if "{s}" in web_tiles else {})}, "web.tiles"),)

    def __post_init__(self) -> None:
        names = [v.name for v in self.vectors]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ConfigError(f"[[basemap.vectors]]: name {doubled[0]!r} is used twice")
        if self.min_zoom is not None and self.max_zoom is not None and self.min_zoom > self.max_zoom:
            raise ConfigError(f"basemap.min_zoom {self.min_zoom} is above basemap.max_zoom {self.max_zoom}")


def basemap_from_config(table: Any, env: Mapping[str, str]) -> BasemapSettings:
    """`[basemap]` with GRIDTWIN_BASEMAP_CRS, _MIN_ZOOM, _MAX_ZOOM and _DEMO overrides."""
    t = _table(table, "[basemap]", BasemapSettings.KEYS)
    for key in ("crs", "min_zoom", "max_zoom", "demo"):
        name = f"GRIDTWIN_BASEMAP_{key.upper()}"
        if name in env:
            raw = env[name]
            t[key] = raw if key == "crs" else (raw.lower() in ("1", "true", "yes", "on") if key == "demo" else _int(raw, name))
    tiles, vectors = t.get("tiles", []), t.get("vectors", [])
    if not isinstance(tiles, list) or not isinstance(vectors, list):
        raise ConfigError("basemap.tiles and basemap.vectors are arrays of tables: [[basemap.tiles]], [[basemap.vectors]]")
    layers = tuple(TileLayer.from_config(v, f"[[basemap.tiles]] {i + 1}") for i, v in enumerate(tiles))
    return BasemapSettings(
        crs=_crs(t.get("crs", "wgs84"), "basemap.crs"),
        min_zoom=_zoom(t.get("min_zoom"), "basemap.min_zoom"),
        max_zoom=_zoom(t.get("max_zoom"), "basemap.max_zoom"),
        demo=bool(t.get("demo", True)),
        tiles=layers,
        vectors=tuple(VectorLayer.from_config(v, f"[[basemap.vectors]] {i + 1}") for i, v in enumerate(vectors)),
    )


def _int(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}: {raw!r} is not a whole number") from None
