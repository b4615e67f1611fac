"""Grid files: import (GeoJSON, GeoPackage, Shapefile) with full validation, and export.

Import reprojects to EPSG:4326, then checks every rule and reports every
violation at once, each naming the offending code (or row when the code itself
is unusable): codes (15 digits, GB/T 2260 district, unique), parents (one name
per district, street and community code; an optional `district_code` column
matching the code), geometry (present, polygonal, valid), overlaps between
cells and gaps inside the grid.

Columns `district_name`, `street_name`, `community_name` and `worker` fill the
cell fields of the same names; every other column becomes a cell attribute.
`configured_grid` is the grid a deployment names in `[grid] source`: the demo grid or a file.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from twin.errors import GridError, GridValidationError
from twin.grid.cells import Cell, Grid
from twin.grid.codes import code_problem, normalize_code
from twin.grid.generate import demo_grid, metres_per_degree

log = logging.getLogger(__name__)

__all__ = ["import_grid", "export_grid", "configured_grid", "grid_from_frame", "grid_to_frame", "cells_from_frame",
           "DRIVERS"]

DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG", ".shp": "ESRI Shapefile"}

# Cell fields read from optional columns, with the 10-character names a Shapefile keeps.
FIELD_COLUMNS = {
    "district_name": ("district_name", "district_n"),
    "street_name": ("street_name", "street_nam"),
    "community_name": ("community_name", "community_"),
    "worker": ("worker",),
}
DISTRICT_CODE_COLUMNS = ("district_code", "district_c")
SHAPEFILE_NAMES = {"district_name": "district_n", "street_name": "street_nam", "community_name": "community_"}
CELL_COLUMNS = ("code", "name", "district_name", "street_name", "community_name", "worker")


def _text(value: Any) -> str | None:
    """A cell from a file as stripped text; None for blanks, NaN and nulls."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _plain(value: Any) -> Any:
    """An attribute value as a JSON-friendly Python value (None for NaN and nulls)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _find_column(columns, names) -> str | None:
    lowered = {str(c).lower(): c for c in columns}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def _to_wgs84(gdf):
    if gdf.crs is None:
        log.warning("grid has no CRS; assuming EPSG:4326 (WGS84 longitude/latitude)")
        return gdf.set_crs("EPSG:4326"), None
    source = gdf.crs.to_string()
    if gdf.crs.to_epsg() == 4326:
        return gdf, source
    return gdf.to_crs("EPSG:4326"), source


def cells_from_frame(
    gdf,
    *,
    code_field: str = "code",
    name_field: str = "name",
    overlap_tolerance_m2: float = 1.0,
) -> tuple[list[Cell], dict]:
    """Validate a GeoDataFrame of cells and turn it into Cells plus metadata.

    Raises GridValidationError with every violation found.
    """
    if code_field not in gdf.columns:
        columns = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name)
        raise GridValidationError([f"no {code_field!r} column with cell codes; the columns are: {columns}"])
    gdf, source_crs = _to_wgs84(gdf)
    violations: list[str] = []

    codes = [normalize_code(v) for v in gdf[code_field]]
    labels = []
    for row, code in enumerate(codes, start=1):
        problem = code_problem(code)
        if problem:
            violations.append(f"row {row}: {problem}")
        labels.append(code if code else f"row {row}")

    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, code in enumerate(codes, start=1):
        if code:
            rows_of[code].append(row)
    for code, rows in rows_of.items():
        if len(rows) > 1:
            violations.append(f"code {code} is used by {len(rows)} cells (rows {', '.join(map(str, rows))})")

    field_column = {name: _find_column(gdf.columns, aliases) for name, aliases in FIELD_COLUMNS.items()}
    fields = {name: [_text(v) for v in gdf[col]] if col else [None] * len(gdf) for name, col in field_column.items()}
    violations += _parent_violations(codes, fields)
    district_column = _find_column(gdf.columns, DISTRICT_CODE_COLUMNS)
    if district_column:
        for code, given in zip(codes, gdf[district_column]):
            given = normalize_code(given)
            if code and not code_problem(code) and given and given != code[:6]:
                violations.append(f"code {code}: district prefix {code[:6]} differs from its {district_column} {given}")

    geoms = np.array(gdf.geometry.values, dtype=object)
    usable = _geometry_violations(geoms, labels, violations)
    violations += _overlap_and_gap_violations(geoms, usable, labels, overlap_tolerance_m2)
    if violations:
        raise GridValidationError(violations)

    name_column = name_field if name_field in gdf.columns else None
    if name_column is None:
        log.warning("grid has no %r column; cells are named after their sequence number", name_field)
    used = {gdf.geometry.name, code_field, name_column, district_column} | set(field_column.values())
    extra = [c for c in gdf.columns if c not in used]
    cells = []
    for i, code in enumerate(codes):
        name = _text(gdf[name_column].iat[i]) if name_column else None
        attributes = {str(c): v for c in extra if (v := _plain(gdf[c].iat[i])) is not None}
        cells.append(
            Cell(
                code=code,
                name=name or f"Grid {code[12:]}",
                geometry=geoms[i],
                district_name=fields["district_name"][i] or "",
                street_name=fields["street_name"][i] or "",
                community_name=fields["community_name"][i] or "",
                worker=fields["worker"][i],
                attributes=attributes,
            )
        )
    meta = {"source": "imported", "geometry": "imported", "grouping": "imported", "crs": "EPSG:4326", "source_crs": source_crs}
    return cells, meta


def grid_from_frame(gdf, *, code_field: str = "code", name_field: str = "name", meta: dict | None = None,
                    overlap_tolerance_m2: float = 1.0) -> Grid:
    """Validate a GeoDataFrame of cells and build a Grid (see `cells_from_frame`).

    Raises GridValidationError listing every violation.
    """
    cells, frame_meta = cells_from_frame(gdf, code_field=code_field, name_field=name_field,
                                         overlap_tolerance_m2=overlap_tolerance_m2)
    return Grid(cells, frame_meta | dict(meta or {}))


def grid_to_frame(grid: Grid):
    """The grid as a GeoDataFrame in EPSG:4326: one row per cell, attributes as extra columns."""
    import geopandas  # slow to import, and only grid files need it

    attribute_names: dict[str, None] = {}
    for cell in grid.cells:
        attribute_names.update(dict.fromkeys(cell.attributes))
    columns: dict[str, list] = {name: [] for name in CELL_COLUMNS}
    columns.update({name: [] for name in attribute_names if name not in columns})
    for cell in grid.cells:
        for name in CELL_COLUMNS:
            columns[name].append(getattr(cell, name))
        for name in attribute_names:
            if name not in CELL_COLUMNS:
                columns[name].append(cell.attributes.get(name))
    return geopandas.GeoDataFrame(columns, geometry=list(grid.geometries), crs="EPSG:4326")


def _parent_violations(codes: list[str | None], fields: dict[str, list[str | None]]) -> list[str]:
    """One name per district, street and community code."""
    out = []
    for level, length, field in (("district", 6, "district_name"), ("street", 9, "street_name"), ("community", 12, "community_name")):
        names: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for code, name in zip(codes, fields[field]):
            if code and name and not code_problem(code):
                names[code[:length]][name].append(code)
        for prefix, by_name in sorted(names.items()):
            if len(by_name) > 1:
                listed = "; ".join(
                    f"{name!r} (cells {', '.join(cells[:3])}{', ...' if len(cells) > 3 else ''})"
                    for name, cells in sorted((n, sorted(set(c))) for n, c in by_name.items())
                )
                out.append(f"{level} {prefix} has {len(by_name)} different names: {listed}")
    return out


def _geometry_violations(geoms: np.ndarray, labels: list[str], violations: list[str]) -> np.ndarray:
    """Append geometry problems; return the mask of cells usable for overlap and gap checks.
    Single-part MultiPolygons are unwrapped in place."""
    usable = np.zeros(len(geoms), dtype=bool)
    for i, geom in enumerate(geoms):
        label = labels[i]
        if geom is None:
            violations.append(f"cell {label}: geometry is missing")
        elif geom.is_empty:
            violations.append(f"cell {label}: geometry is empty")
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            violations.append(f"cell {label}: geometry is a {geom.geom_type}, expected a Polygon")
        elif not geom.is_valid:
            violations.append(f"cell {label}: invalid geometry: {shapely.is_valid_reason(geom)}")
        else:
            if geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
                geoms[i] = geom.geoms[0]
            usable[i] = True
    return usable


def _where(geom) -> str:
    point = shapely.point_on_surface(geom)
    return f"(lon {point.x:.6f}, lat {point.y:.6f})"


def _overlap_and_gap_violations(geoms: np.ndarray, usable: np.ndarray, labels: list[str], tolerance_m2: float) -> list[str]:
    index = np.flatnonzero(usable)
    if len(index) == 0:
        return []
    valid = geoms[index]
    bounds = shapely.total_bounds(valid)
    mx, my = metres_per_degree((bounds[1] + bounds[3]) / 2)
    m2_per_deg2 = mx * my
    out = []
    tree = shapely.STRtree(valid)
    left, right = tree.query(valid, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    overlaps = shapely.intersection(valid[left], valid[right])
    area = shapely.area(overlaps) * m2_per_deg2
    for a, b, shared, m2 in zip(left, right, overlaps, area):
        if m2 > tolerance_m2:
            first, second = sorted((labels[index[a]], labels[index[b]]))
            out.append(f"cells {first} and {second} overlap by {m2:.1f} m² around {_where(shared)}")
    # Snapping to 1e-9 degrees (0.1 mm) closes the float seams between neighbours;
    # without it a hole touching a seam is open to the outside and goes unseen.
    union = shapely.union_all(valid, grid_size=1e-9)
    parts = getattr(union, "geoms", [union])
    for part in parts:
        for ring in getattr(part, "interiors", []):
            hole = shapely.Polygon(ring)
            m2 = hole.area * m2_per_deg2
            if m2 <= tolerance_m2:
                continue
            around = sorted(labels[index[i]] for i in tree.query(hole, predicate="dwithin", distance=1e-7))
            names = ", ".join(around[:6]) + (", ..." if len(around) > 6 else "")
            out.append(f"gap of {m2:.1f} m² inside the grid around {_where(hole)}, between cells {names}")
    return out


def import_grid(
    path: str | Path,
    *,
    code_field: str = "code",
    name_field: str = "name",
    layer: str | int | None = None,
    overlap_tolerance_m2: float = 1.0,
) -> Grid:
    """Read, reproject to EPSG:4326 and validate a grid file (GeoJSON, GeoPackage, Shapefile).

    A file with no CRS is taken as EPSG:4326 (with a logged warning).
    Raises GridError when the file cannot be read, GridValidationError listing
    every violation when its content breaks the rules.
    """
    import geopandas
    import pyogrio

    path = Path(path)
    if not path.exists():
        raise GridError(f"grid file {path} does not exist")
    try:
        if layer is None:
            layers = pyogrio.list_layers(path)
            if len(layers) > 1:
                log.warning("grid file %s has %d layers; reading the first, %s (choose one with --layer)", path, len(layers), layers[0][0])
        gdf = geopandas.read_file(path, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise GridError(f"cannot read grid file {path}: {exc}") from exc
    if len(gdf) == 0:
        raise GridValidationError([f"{path} has no features"])
    cells, meta = cells_from_frame(gdf, code_field=code_field, name_field=name_field, overlap_tolerance_m2=overlap_tolerance_m2)
    meta["file"] = path.name
    if layer is not None:
        meta["layer"] = layer
    return Grid(cells, meta)


def export_grid(grid: Grid, path: str | Path) -> Path:
    """Write `grid` to `path`, the format chosen by its suffix (.geojson/.json, .gpkg, .shp).

    Shapefile columns are cut to 10 characters (district_n, street_nam,
    community_); `import_grid` reads them back into the right fields.
    """
    import pyogrio

    path = Path(path)
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise GridError(f"cannot tell the format of {path}: use a .geojson, .json, .gpkg or .shp file name")
    gdf = grid_to_frame(grid)
    for column in gdf.columns:
        if column != gdf.geometry.name and gdf[column].map(lambda v: isinstance(v, (dict, list))).any():
            gdf[column] = gdf[column].map(lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v)
    if driver == "ESRI Shapefile":
        gdf = gdf.rename(columns=SHAPEFILE_NAMES)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        gdf.to_file(path, driver=driver, engine="pyogrio", **({"encoding": "UTF-8"} if driver == "ESRI Shapefile" else {}))
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError, OSError) as exc:
        raise GridError(f"cannot write grid file {path}: {exc}") from exc
    return path


def configured_grid(settings) -> Grid:
    """The grid named by `settings.grid.source`: "demo", or a grid file to import."""
    source = settings.grid.source
    return demo_grid() if source == "demo" else import_grid(source)
