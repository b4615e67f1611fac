"""Small geometries and grids shared by the tests: a few cells each, so every test stays fast."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from twin.grid.cells import Cell, Grid
from twin.grid.generate import generate_grid

# About 1.8 km x 1.1 km in Kaifeng's Gulou District: 9 x 6 squares of 200 m.
SMALL_BBOX = (114.34, 34.785, 114.36, 34.795)
DISTRICT = "410204"
DISTRICT_NAME = "Gulou District 鼓楼区"


def assert_tiles(grid, bbox):
    """Cells cover the box, do not overlap and leave no hole."""
    geoms = grid.geometries
    union = shapely.union_all(geoms)
    assert union.covers(shapely.box(*bbox))
    assert union.geom_type == "Polygon" and len(union.interiors) == 0
    assert shapely.area(geoms).sum() == pytest.approx(union.area, rel=1e-9)


def small_square_grid(cell_size_m: float = 200, **overrides) -> Grid:
    """A generated square grid of one district, 2x1 streets of 2x2 communities."""
    options = dict(
        shape="square",
        district_code=DISTRICT,
        district_name=DISTRICT_NAME,
        streets=(2, 1),
        communities=(2, 2),
        city_name="Kaifeng 开封市",
    )
    return generate_grid(SMALL_BBOX, cell_size_m, **(options | overrides))


def small_hex_grid() -> Grid:
    return small_square_grid(shape="hex")


def code(street: int, community: int, sequence: int, district: str = DISTRICT) -> str:
    return f"{district}{street:03d}{community:03d}{sequence:03d}"


def square(x: float, y: float, size: float = 0.001) -> shapely.Polygon:
    """An axis-aligned square with its south-west corner at (x, y), in degrees."""
    return shapely.box(x, y, x + size, y + size)


def cell(code_: str, geometry, name: str | None = None, **fields) -> Cell:
    return Cell(code=code_, name=name or f"Grid {code_[12:]}", geometry=geometry, **fields)


def irregular_grid(cols: int = 5, rows: int = 4, seed: int = 3) -> Grid:
    """Quadrilateral cells on a jittered lattice: neighbours share vertices exactly, but no
    cell is a rectangle, so lookup goes through the STRtree."""
    rng = np.random.default_rng(seed)
    step = 0.002
    xs = 114.34 + np.arange(cols + 1)[None, :] * step + rng.uniform(-0.3, 0.3, (rows + 1, cols + 1)) * step
    ys = 34.79 - np.arange(rows + 1)[:, None] * step + rng.uniform(-0.3, 0.3, (rows + 1, cols + 1)) * step
    cells = []
    for r in range(rows):
        for c in range(cols):
            ring = [(xs[r, c], ys[r, c]), (xs[r, c + 1], ys[r, c + 1]), (xs[r + 1, c + 1], ys[r + 1, c + 1]),
                    (xs[r + 1, c], ys[r + 1, c])]
            cells.append(cell(code(1, 1 + r // 2, 1 + r % 2 * cols + c), shapely.Polygon(ring),
                              district_name=DISTRICT_NAME, street_name="Street 01"))
    return Grid(cells, {"source": "test"})


def brute_force_locate(grid: Grid, lon: float, lat: float) -> str | None:
    """The reference answer: the lowest code among the cells the point intersects."""
    point = shapely.Point(lon, lat)
    hits = [c.code for c in grid.cells if c.geometry.intersects(point)]
    return min(hits) if hits else None


# An afternoon's ground truth shared by scenario tests (offsets from the scenario's start): a flood
# with a street vendor, and two faulty devices that must become health alerts, not incidents.
AFTERNOON_EVENTS = """[[incidents]]
id = "flood"
type = "waterlogging"
start = "+30m"
end = "+1h30m"
magnitude = 1.6

[[incidents]]
id = "vendor"
type = "street_vendor"
start = "+1h"
end = "+2h"

[[faults]]
id = "stuck"
kind = "stuck"
sensor_type = "noise"
start = "+20m"
end = "+2h30m"

[[faults]]
id = "offline"
kind = "dropout"
sensor_type = "bin"
start = "+40m"
end = "+1h40m"
"""
