"""Grid files: round trips through GeoJSON, GeoPackage and Shapefile, reprojection, and every
validation rule of the importer."""

from __future__ import annotations

import logging

import geopandas
import pytest
import shapely

from tests.common import cell, code, irregular_grid, small_square_grid
from twin.errors import GridError, GridValidationError
from twin.grid.cells import Grid
from twin.grid.files import export_grid, grid_from_frame, grid_to_frame, import_grid

X0, Y0, STEP = 114.34, 34.79, 0.002


def at(col: float, row: float) -> shapely.Polygon:
    """The lattice square at column `col`, row `row` (rows run south)."""
    x, y = X0 + col * STEP, Y0 - row * STEP
    return shapely.box(x, y - STEP, x + STEP, y)


def named_grid() -> Grid:
    """The small square grid with a worker and an attribute on some cells."""
    grid = small_square_grid()
    cells = list(grid.cells)
    cells[0] = cell(cells[0].code, cells[0].geometry, cells[0].name, district_name=cells[0].district_name,
                    street_name=cells[0].street_name, community_name=cells[0].community_name,
                    worker="王芳 Wang Fang", attributes={"households": 412})
    return Grid(cells, grid.meta)


def same_cells(a: Grid, b: Grid) -> None:
    assert [c.code for c in a.cells] == [c.code for c in b.cells]
    for x, y in zip(a.cells, b.cells):
        assert (x.name, x.district_name, x.street_name, x.community_name) == (
            y.name, y.district_name, y.street_name, y.community_name)
        assert shapely.equals_exact(shapely.normalize(x.geometry), shapely.normalize(y.geometry), 1e-12)


@pytest.mark.parametrize("suffix", [".geojson", ".json", ".gpkg", ".shp"])  # every format export picks by suffix
def test_round_trip_keeps_codes_names_and_geometry(tmp_path, suffix):
    grid = named_grid()
    path = export_grid(grid, tmp_path / f"cells{suffix}")
    back = import_grid(path)
    same_cells(grid, back)
    assert back.cells[0].worker == "王芳 Wang Fang"
    assert back.cells[0].attributes == {"households": 412}
    assert back.meta["source"] == "imported" and back.meta["file"] == path.name
    assert back._lattice is not None  # exact coordinates survive, so the fast path does too


def test_export_overwrites_and_refuses_unknown_formats(tmp_path):
    path = tmp_path / "g.gpkg"
    export_grid(named_grid(), path)
    export_grid(irregular_grid(), path)
    assert len(import_grid(path)) == len(irregular_grid())
    with pytest.raises(GridError, match=r"\.geojson, \.json, \.gpkg or \.shp"):
        export_grid(named_grid(), tmp_path / "g.kml")


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:32650", "EPSG:4490"])  # web mercator, UTM 50N, CGCS2000
def test_import_reprojects_to_wgs84(tmp_path, crs):
    grid = irregular_grid()
    path = tmp_path / "projected.gpkg"
    grid_to_frame(grid).to_crs(crs).to_file(path)
    back = import_grid(path)
    assert back.meta["source_crs"] == crs
    assert [c.code for c in back.cells] == [c.code for c in grid.cells]
    for a, b in zip(grid.cells, back.cells):
        assert shapely.hausdorff_distance(a.geometry, b.geometry) < 1e-8  # about a millimetre


def test_file_without_crs_is_taken_as_wgs84_with_a_warning(tmp_path, caplog):
    path = tmp_path / "nocrs.shp"
    gdf = grid_to_frame(named_grid()).set_crs(None, allow_override=True)
    # The 10-character names a Shapefile keeps; the importer maps them back.
    gdf = gdf.rename(columns={"district_name": "district_n", "street_name": "street_nam", "community_name": "community_"})
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gdf.to_file(path)
    assert not path.with_suffix(".prj").exists()
    with caplog.at_level(logging.WARNING, logger="twin.grid.files"):
        back = import_grid(path)
    assert "no CRS" in caplog.text
    assert back.meta["source_crs"] is None
    same_cells(named_grid(), back)


def test_custom_fields_and_layers(tmp_path):
    gdf = grid_to_frame(irregular_grid()).rename(columns={"code": "GRID_CODE", "name": "GRID_NAME"})
    gdf["GRID_CODE"] = gdf["GRID_CODE"].astype("int64")  # numeric code column, as many shapefiles have
    path = tmp_path / "two.gpkg"
    gdf.iloc[:3].to_file(path, layer="draft")
    gdf.to_file(path, layer="cells")
    grid = import_grid(path, code_field="GRID_CODE", name_field="GRID_NAME", layer="cells")
    assert [c.code for c in grid.cells] == [c.code for c in irregular_grid().cells]
    assert grid.cells[0].name == irregular_grid().cells[0].name
    assert grid.meta["layer"] == "cells"
    assert len(import_grid(path, code_field="GRID_CODE", layer="draft")) == 3


def test_missing_code_column(tmp_path):
    path = tmp_path / "g.geojson"
    grid_to_frame(irregular_grid()).rename(columns={"code": "id"}).to_file(path)
    with pytest.raises(GridValidationError) as err:
        import_grid(path)
    assert err.value.violations == ["no 'code' column with cell codes; the columns are: id, name, district_name, "
                                    "street_name, community_name, worker"]


def test_unreadable_files(tmp_path):
    with pytest.raises(GridError, match="does not exist"):
        import_grid(tmp_path / "nowhere.geojson")
    junk = tmp_path / "junk.geojson"
    junk.write_text("this is not GeoJSON")
    with pytest.raises(GridError, match="cannot read"):
        import_grid(junk)


def broken_frame() -> geopandas.GeoDataFrame:
    """One row per rule the importer enforces, on a lattice of 0.002-degree squares."""
    ok = dict(district_name="Gulou District", street_name="Street 01", community_name="Community 01-01", district_code=None)
    rows = [
        dict(ok, code=code(1, 1, 1), geometry=at(0, 0)),  # row 1: fine
        dict(ok, code=code(1, 1, 2), geometry=at(1, 0), district_name="Gulou"),  # row 2: second district name
        dict(ok, code=code(1, 1, 1), geometry=at(2, 0)),  # row 3: duplicate of row 1
        dict(ok, code="4102040010010", geometry=at(3, 0)),  # row 4: 13 digits
        dict(ok, code=None, geometry=at(4, 0)),  # row 5: no code
        dict(ok, code="990204001001001", geometry=at(0, 1)),  # row 6: no such province
        dict(ok, code=code(1, 2, 1), geometry=at(1, 1), street_name="Another Street", community_name="C 01-02"),  # row 7
        dict(ok, code=code(1, 1, 3), geometry=at(2, 1), community_name="Community X"),  # row 8
        dict(ok, code=code(1, 3, 1), geometry=at(3, 1), community_name="C 01-03", district_code="410205"),  # row 9
        dict(ok, code=code(1, 3, 2), community_name="C 01-03",  # row 10: bow-tie
             geometry=shapely.Polygon([(X0 + 0.008, Y0 - 0.002), (X0 + 0.010, Y0 - 0.004),
                                       (X0 + 0.010, Y0 - 0.002), (X0 + 0.008, Y0 - 0.004)])),
        dict(ok, code=code(1, 3, 3), community_name="C 01-03", geometry=shapely.LineString([(X0, Y0), (X0 + 0.001, Y0)])),
        dict(ok, code=code(1, 3, 4), community_name="C 01-03", geometry=shapely.Polygon()),  # row 12: empty
        dict(ok, code=code(1, 3, 5), community_name="C 01-03", geometry=None),  # row 13: no geometry
        dict(ok, code=code(1, 3, 6), community_name="C 01-03", geometry=at(1.5, 0)),  # row 14: overlaps rows 2 and 3
    ]
    # A ring of eight cells around an empty one: a gap inside the grid.
    ring = [(c, r) for r in (2, 3, 4) for c in (0, 1, 2) if (c, r) != (1, 3)]
    rows += [dict(ok, code=code(2, 1, i + 1), street_name="Street 02", community_name="C 02-01", geometry=at(c, r))
             for i, (c, r) in enumerate(ring)]
    return geopandas.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def test_every_violation_is_reported(tmp_path):
    path = tmp_path / "broken.geojson"
    broken_frame().to_file(path)
    with pytest.raises(GridValidationError) as err:
        import_grid(path)
    violations = err.value.violations
    expected = [
        "row 4: code '4102040010010' is not 15 digits",
        "row 5: code is missing",
        "row 6: code 990204001001001: district 990204: province part 99 is not a GB/T 2260 province",
        "code 410204001001001 is used by 2 cells (rows 1, 3)",
        "district 410204 has 2 different names: 'Gulou' (cells 410204001001002); 'Gulou District' (cells",
        "street 410204001 has 2 different names: 'Another Street' (cells 410204001002001); 'Street 01' (cells",
        "community 410204001001 has 2 different names: 'Community 01-01' (cells 410204001001001, "
        "410204001001002); 'Community X' (cells 410204001001003)",
        "code 410204001003001: district prefix 410204 differs from its district_code 410205",
        "cell 410204001003002: invalid geometry: Self-intersection[114.349 34.787]",
        "cell 410204001003003: geometry is a LineString, expected a Polygon",
        "cell 410204001003004: geometry is empty",
        "cell 410204001003005: geometry is missing",
        "cells 410204001001002 and 410204001003006 overlap by",
        "cells 410204001001001 and 410204001003006 overlap by",
        "gap of ",
    ]
    for fragment in expected:
        assert sum(v.startswith(fragment) for v in violations) == 1, (fragment, violations)
    assert len(violations) == len(expected)
    # The overlap is half a cell: 0.001 x 0.002 degrees, about 20,300 m² at 34.79 N.
    overlap = next(v for v in violations if v.startswith("cells 410204001001002 and"))
    assert overlap.split("overlap by ")[1].startswith("203")
    gap = next(v for v in violations if v.startswith("gap of "))
    assert "(lon 114.343000, lat 34.783000)" in gap
    assert code(2, 1, 4) in gap and code(2, 1, 5) in gap  # the cells west and east of the hole
    assert str(len(expected)) in str(err.value).splitlines()[0]


def test_small_slivers_are_tolerated():
    # Two cells overlapping along a 1 mm strip: about 0.2 m², under the 1 m² default tolerance.
    cells = [cell(code(1, 1, 1), at(0, 0)), cell(code(1, 1, 2), shapely.box(X0 + STEP - 1e-8, Y0 - STEP, X0 + 2 * STEP, Y0))]
    gdf = grid_to_frame(Grid(cells))
    assert len(grid_from_frame(gdf)) == 2
    with pytest.raises(GridValidationError, match="overlap"):
        grid_from_frame(gdf, overlap_tolerance_m2=0.0)


def test_geodataframe_round_trip():
    cells = [c for c in irregular_grid().cells]
    cells[0] = cell(cells[0].code, cells[0].geometry, district_name="Gulou District 鼓楼区", street_name="Street 01",
                    worker="Wang Fang", attributes={"households": 412})
    grid = Grid(cells, {"source": "test"})
    gdf = grid_to_frame(grid)
    assert gdf.crs.to_epsg() == 4326
    assert list(gdf.columns[:6]) == ["code", "name", "district_name", "street_name", "community_name", "worker"]
    back = grid_from_frame(gdf)
    assert [c.code for c in back.cells] == [c.code for c in grid.cells]
    assert back.cells[0].worker == "Wang Fang"
    assert back.cells[0].attributes == {"households": 412}
    assert back.cells[1].attributes == {}  # NaN in the other rows is not an attribute
    assert all(a.geometry.equals(b.geometry) for a, b in zip(back.cells, grid.cells))


def test_single_part_multipolygons_become_polygons(tmp_path):
    grid = irregular_grid()
    gdf = grid_to_frame(grid)
    gdf["geometry"] = [shapely.MultiPolygon([g]) for g in gdf.geometry]
    back = grid_from_frame(gdf)
    assert all(c.geometry.geom_type == "Polygon" for c in back.cells)
    assert back.locate(*grid.cell_centroids.T).tolist() == grid.codes.tolist()
