"""Grid files: import (GeoJSON, GeoPackage, Shapefile) with full validation, and export.

Import reprojects to EPSG:4326, then checks every rule and reports every
violation at once, each naming the offending code (or row when the code itself
is unusable): codes (15 digits, GB/T 2260 district, unique), parents (one name
per district, street and community code; an optional `district_code` column
matching the code), geometry (present, polygonal, valid), overlaps between
cells and gaps inside the grid.

Columns `district_name`, `street_name`, `community_name` and `worker` fill the
cell fields of the same names; every other column becomes a cell attribute.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from twin.errors import GridError, GridValidationError
from twin.grid.cells import Cell, Grid
from twin.grid.checks import code_violations, geometry_violations, overlap_and_gap_violations, parent_violations
from twin.grid.codes import code_problem, normalize_code
from twin.grid.streets import Unit

log = logging.getLogger(__name__)

__all__ = ["import_grid", "export_grid", "read_roads", "read_area", "read_units", "grid_from_frame", "grid_to_frame",
           "cells_from_frame", "DRIVERS"]

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
    labels = [code if code else f"row {row}" for row, code in enumerate(codes, start=1)]
    violations += code_violations(codes)
    field_column = {name: _find_column(gdf.columns, aliases) for name, aliases in FIELD_COLUMNS.items()}
    fields = {name: [_text(v) for v in gdf[col]] if col else [None] * len(gdf) for name, col in field_column.items()}
    violations += parent_violations(codes, fields)
    district_column = _find_column(gdf.columns, DISTRICT_CODE_COLUMNS)
    if district_column:
        for code, given in zip(codes, gdf[district_column]):
            given = normalize_code(given)
            if code and not code_problem(code) and given and given != code[:6]:
                violations.append(f"code {code}: district prefix {code[:6]} differs from its {district_column} {given}")

    geoms = np.array(gdf.geometry.values, dtype=object)
    usable = geometry_violations(geoms, labels, violations)
    violations += overlap_and_gap_violations(geoms, usable, labels, overlap_tolerance_m2)
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
    path = Path(path)
    gdf = _read(path, "grid", layer)
    if len(gdf) == 0:
        raise GridValidationError([f"{path} has no features"])
    cells, meta = cells_from_frame(gdf, code_field=code_field, name_field=name_field, overlap_tolerance_m2=overlap_tolerance_m2)
    meta["file"] = path.name
    if layer is not None:
        meta["layer"] = layer
    return Grid(cells, meta)


def _read(path: Path, what: str, layer: str | int | None = None):
    """A GeoJSON, GeoPackage or Shapefile as a GeoDataFrame (not yet reprojected); GridError naming
    `what` the file is for when it cannot be read."""
    import geopandas
    import pyogrio

    if not path.exists():
        raise GridError(f"{what} file {path} does not exist")
    try:
        if layer is None:
            layers = pyogrio.list_layers(path)
            if len(layers) > 1:
                log.warning("%s file %s has %d layers; reading the first, %s (choose one with --layer)", what, path,
                            len(layers), layers[0][0])
        return geopandas.read_file(path, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise GridError(f"cannot read {what} file {path}: {exc}") from exc


def read_roads(path: str | Path) -> np.ndarray:
    """The lines of a roads file (a city's road centre lines; other geometries are skipped), in EPSG:4326."""
    path = Path(path)
    gdf, _ = _to_wgs84(_read(path, "roads"))
    geoms = np.array(gdf.geometry.values, dtype=object)
    lines = geoms[np.isin(shapely.get_type_id(geoms), (shapely.GeometryType.LINESTRING,
                                                       shapely.GeometryType.MULTILINESTRING))]
    if len(lines) == 0:
        raise GridError(f"roads file {path} has no lines (LineString or MultiLineString features)")
    return lines


def read_area(path: str | Path):
    """The area a grid is made for: the union of the polygons of a file, in EPSG:4326."""
    path = Path(path)
    gdf, _ = _to_wgs84(_read(path, "area"))
    geoms = np.array(gdf.geometry.values, dtype=object)
    polygons = geoms[np.isin(shapely.get_type_id(geoms), (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON))]
    if len(polygons) == 0:
        raise GridError(f"area file {path} has no polygons")
    invalid = [i + 1 for i, g in enumerate(polygons) if not g.is_valid]
    if invalid:
        raise GridError(f"area file {path}: polygon {invalid[0]} is invalid: {shapely.is_valid_reason(polygons[invalid[0] - 1])}")
    return shapely.union_all(polygons)


def read_units(path: str | Path, *, code_field: str = "code", name_field: str = "name") -> list[Unit]:
    """Districts (6-digit codes), streets (9) or communities (12) with their names, one polygon each, in
    EPSG:4326. Optional columns `district_name` and `street_name` name the levels above a unit."""
    path = Path(path)
    gdf, _ = _to_wgs84(_read(path, "units"))
    if code_field not in gdf.columns:
        raise GridError(f"units file {path} has no {code_field!r} column with unit codes")
    text = {name: [_text(v) or "" for v in gdf[column]] if (column := _find_column(gdf.columns, (name,))) else
            [""] * len(gdf) for name in (name_field, "district_name", "street_name")}
    return [Unit(normalize_code(code) or "", text[name_field][i], geom, text["district_name"][i], text["street_name"][i])
            for i, (code, geom) in enumerate(zip(gdf[code_field], gdf.geometry.values))]


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
