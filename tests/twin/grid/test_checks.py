"""The rules a grid keeps, checked on a Grid: each broken rule reported with its cells and place."""

from __future__ import annotations

import shapely

from tests.common import cell, code, small_square_grid, square
from twin.grid.cells import Grid
from twin.grid.checks import grid_violations
from twin.grid.streets import Unit

GRID = small_square_grid()
AREA = shapely.box(*GRID.bounds)


def test_a_good_grid_breaks_no_rule():
    units = [Unit(s, name, shapely.union_all([c.geometry for c in GRID.select(s)])) for s, name in GRID.streets().items()]
    assert grid_violations(GRID, area=AREA, units=units, connected_communities=True) == []


def test_a_gap_against_the_area_and_cells_outside_it_are_reported():
    bigger = shapely.box(*AREA.buffer(0.001, join_style="mitre").bounds)
    smaller = shapely.box(*AREA.buffer(-0.001, join_style="mitre").bounds)
    gaps = grid_violations(GRID, area=bigger)
    assert len(gaps) == 1 and gaps[0].startswith("gap of ") and "between the grid and its area" in gaps[0]
    outside = grid_violations(GRID, area=smaller)
    assert len(outside) == 1 and "of the grid lie outside its area" in outside[0]


def test_a_cell_reaching_out_of_its_unit_is_reported():
    street = GRID.cells[0].street_code
    cells = GRID.select(street)
    unit = Unit(street, "Street 01", shapely.union_all([c.geometry for c in cells[1:]]))  # leaves the first out
    violations = grid_violations(GRID, units=[unit])
    assert len(violations) == 1
    assert violations[0].startswith(f"cell {cells[0].code}: ") and f"outside its unit {street}" in violations[0]


def test_a_community_in_two_pieces_is_reported():
    # Two cells of community 1 with community 2 between and around them: apart, though both touch it.
    grid = Grid([cell(code(1, 1, 1), square(114.0, 34.0)), cell(code(1, 2, 1), square(114.001, 34.0)),
                 cell(code(1, 1, 2), square(114.002, 34.0)), cell(code(1, 2, 2), square(114.0, 34.001)),
                 cell(code(1, 2, 3), square(114.001, 34.001)), cell(code(1, 2, 4), square(114.002, 34.001))])
    violations = grid_violations(grid, connected_communities=True)
    assert len(violations) == 1
    assert violations[0].startswith("community 410204001001 is in 2 separate pieces (2 cells)")
    assert grid_violations(grid) == []  # not checked unless asked: imported grids may have exclaves


def test_every_rule_is_reported_at_once():
    broken = Grid([cell(code(1, 1, 1), square(114.0, 34.0), street_name="A"),
                   cell(code(1, 1, 2), square(114.0005, 34.0), street_name="B"),  # overlaps the first; another name
                   cell(code(1, 1, 3), shapely.Polygon([(114, 34), (114.001, 34.001), (114.001, 34), (114, 34.001)]))])
    violations = grid_violations(broken, area=shapely.box(114.0, 34.0, 114.003, 34.001))
    assert any("street 410204001 has 2 different names" in v for v in violations)
    assert any(v.startswith("cells 410204001001001 and 410204001001002 overlap") for v in violations)
    assert any(v.startswith("cell 410204001001003: invalid geometry") for v in violations)
    assert any("between the grid and its area" in v for v in violations)
