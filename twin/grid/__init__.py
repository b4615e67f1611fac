"""The grid: cells with their 15-digit codes and hierarchy (district > street > community > cell), point-in-cell
lookup, generated grids (square or hexagonal lattices, and street blocks from a city's roads), the Kaifeng demo
grid, the rules a grid keeps, and grid files (GeoJSON, GeoPackage, Shapefile) read with full validation and
written back.

`cells.Grid` knows nothing of files or generators: `generate`, `streets` and `files` are functions that
make, read or write a Grid; `checks` lists every rule a grid breaks; `source` is the grid a deployment
names in `[grid] source`.
"""

from __future__ import annotations

from twin.grid.cells import NEIGHBOUR_TOLERANCE_DEG, Cell, Grid
from twin.grid.checks import grid_violations
from twin.grid.codes import (
    CODE_LENGTH,
    PART_MAX,
    CellCode,
    check_district,
    code_problem,
    district_problem,
    is_cell_code,
    make_code,
    normalize_code,
    parse_code,
)
from twin.grid.demo import demo_grid, square_demo_grid
from twin.grid.files import (
    DRIVERS,
    cells_from_frame,
    export_grid,
    grid_from_frame,
    grid_to_frame,
    import_grid,
    read_area,
    read_roads,
    read_units,
)
from twin.grid.generate import generate_grid, metres_per_degree
from twin.grid.source import configured_grid
from twin.grid.streets import Unit, street_grid

__all__ = ["NEIGHBOUR_TOLERANCE_DEG", "Cell", "Grid", "CODE_LENGTH", "PART_MAX", "CellCode", "check_district",
           "code_problem", "district_problem", "is_cell_code", "make_code", "normalize_code", "parse_code",
           "demo_grid", "square_demo_grid", "generate_grid", "metres_per_degree", "Unit", "street_grid",
           "grid_violations", "DRIVERS", "cells_from_frame", "export_grid", "grid_from_frame", "grid_to_frame",
           "import_grid", "read_area", "read_roads", "read_units", "configured_grid"]
