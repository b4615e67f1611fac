"""The grid: cells with their 15-digit codes and hierarchy (district > street > community >
cell), point-in-cell lookup, generated grids (the Kaifeng demo grid among them) and grid files
(GeoJSON, GeoPackage, Shapefile) read with full validation and written back.

`cells.Grid` knows nothing of files or generators: `generate` and `files` are functions that
make, read or write a Grid.
"""

from __future__ import annotations

from twin.grid.cells import NEIGHBOUR_TOLERANCE_DEG, Cell, Grid
from twin.grid.codes import (CODE_LENGTH, PART_MAX, CellCode, check_district, code_problem, district_problem,
                             is_cell_code, make_code, normalize_code, parse_code)
from twin.grid.files import (DRIVERS, cells_from_frame, configured_grid, export_grid, grid_from_frame, grid_to_frame,
                             import_grid)
from twin.grid.generate import DEMO_DISTRICTS, demo_grid, generate_grid, metres_per_degree

__all__ = ["NEIGHBOUR_TOLERANCE_DEG", "Cell", "Grid", "CODE_LENGTH", "PART_MAX", "CellCode", "check_district",
           "code_problem", "district_problem", "is_cell_code", "make_code", "normalize_code", "parse_code",
           "DEMO_DISTRICTS", "demo_grid", "generate_grid", "metres_per_degree", "DRIVERS", "cells_from_frame",
           "configured_grid", "export_grid", "grid_from_frame", "grid_to_frame", "import_grid"]
