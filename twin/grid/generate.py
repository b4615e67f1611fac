"""Generated grids: square or hexagonal cells over a bounding box.

Cell sizes are metres on the ground, turned into degrees with an
equirectangular approximation at the bounding box's centre latitude (WGS84
ellipsoid radii of curvature there). Cells therefore stay axis-aligned in
longitude/latitude: exact rectangles that share vertices bit for bit, which
keeps the lattice fast path of `Grid.locate` available. Over a city-sized box
the error is small: at 35 N a box 10 km tall changes the east-west scale by
about 0.1 % between its edges. A transverse Mercator projection would give
exact squares in metres but slightly skewed cells in WGS84.

Streets and communities are rectangular blocks of the cell lattice: the
district is cut into `streets=(cols, rows)` blocks and every street into
`communities=(cols, rows)` blocks; empty blocks are skipped. Streets,
communities and cells are numbered west to east, then north to south.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import shapely

from twin.errors import GridError
from twin.grid.cells import Cell, Grid
from twin.grid.codes import PART_MAX, check_district, make_code

__all__ = ["generate_grid", "metres_per_degree", "lattice", "lattice_cells", "MAX_CELLS"]

WGS84_A = 6378137.0
WGS84_E2 = 6.69437999014e-3
MAX_CELLS = 1_000_000

Shape = Literal["square", "hex"]


def metres_per_degree(lat: float) -> tuple[float, float]:
    """Metres per degree of longitude and of latitude at `lat` on the WGS84 ellipsoid.

    >>> [round(v) for v in metres_per_degree(0.0)]
    [111319, 110574]
    """
    phi = math.radians(lat)
    w = math.sqrt(1.0 - WGS84_E2 * math.sin(phi) ** 2)
    prime_vertical = WGS84_A / w
    meridional = WGS84_A * (1.0 - WGS84_E2) / w**3
    return math.radians(1.0) * prime_vertical * math.cos(phi), math.radians(1.0) * meridional


def _check_bbox(bbox) -> tuple[float, float, float, float]:
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise GridError(f"bbox {bbox!r} must be four numbers: min_lon, min_lat, max_lon, max_lat") from None
    if not all(map(math.isfinite, (west, south, east, north))):
        raise GridError(f"bbox {bbox!r} has a non-finite number")
    if not (-180 <= west < east <= 180 and -85 <= south < north <= 85):
        raise GridError(
            f"bbox {west},{south},{east},{north} is not min_lon,min_lat,max_lon,max_lat in WGS84 "
            "(west < east within ±180, south < north within ±85)"
        )
    return west, south, east, north


def lattice(bbox, cell_size_m: float, shape: Shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell polygons covering `bbox`, with their lattice row (north to south) and column (west to east)."""
    west, south, east, north = bbox
    if not (isinstance(cell_size_m, (int, float)) and math.isfinite(cell_size_m) and cell_size_m > 0):
        raise GridError(f"cell size {cell_size_m!r} must be a positive number of metres")
    mx, my = metres_per_degree((south + north) / 2)
    if shape == "square":
        dx, dy = cell_size_m / mx, cell_size_m / my
        ncols = max(1, math.ceil((east - west) / dx - 1e-9))
        nrows = max(1, math.ceil((north - south) / dy - 1e-9))
        _check_count(ncols * nrows)
        # Every corner comes from these two arrays, so neighbours share vertices exactly.
        xs = west + np.arange(ncols + 1) * dx
        ys = north - np.arange(nrows + 1) * dy
        row, col = np.divmod(np.arange(nrows * ncols), ncols)
        polys = shapely.box(xs[col], ys[row + 1], xs[col + 1], ys[row])
        return polys, row, col
    if shape == "hex":
        # Pointy-top hexagons; cell_size_m is the width across flats (the centre spacing).
        # Vertices sit on a lattice of half-widths (hx) by quarter-heights (hy).
        hx = cell_size_m / 2 / mx
        hy = cell_size_m / math.sqrt(3) / 2 / my
        nrows = math.ceil((north - south) / (3 * hy)) + 3
        ncols = math.ceil((east - west) / (2 * hx)) + 3
        _check_count(ncols * nrows)
        r, q = np.divmod(np.arange(nrows * ncols), ncols)
        r, q = r - 1, q - 1
        cx = 2 * q + (r & 1)
        cy = 3 * r
        ring_dx = np.array([0, -1, -1, 0, 1, 1, 0])
        ring_dy = np.array([-2, -1, 1, 2, 1, -1, -2])
        vx = west + (cx[:, None] + ring_dx) * hx
        vy = north - (cy[:, None] + ring_dy) * hy
        polys = shapely.polygons(np.stack([vx, vy], axis=-1))
        area = shapely.box(west, south, east, north)
        keep = shapely.intersects(polys, area) & ~shapely.touches(polys, area)
        return polys[keep], r[keep], cx[keep]
    raise GridError(f"shape {shape!r} must be 'square' or 'hex'")


def _check_count(n: int) -> None:
    if n > MAX_CELLS:
        raise GridError(f"{n} cells is more than {MAX_CELLS}: use a larger cell size or a smaller bbox")


def _blocks(rows: np.ndarray, cols: np.ndarray, group: np.ndarray, split: tuple[int, int]) -> np.ndarray:
    """Block key of each cell when every group's row/column extent is cut into cols x rows blocks."""
    bcols, brows = _check_split(split)
    out = np.empty(len(rows), dtype=np.int64)
    for g in np.unique(group):
        m = group == g
        c, r = cols[m], rows[m]
        width, height = c.max() - c.min() + 1, r.max() - r.min() + 1
        out[m] = ((r - r.min()) * brows // height) * bcols + (c - c.min()) * bcols // width
    return out


def _check_split(split) -> tuple[int, int]:
    try:
        cols, rows = (int(v) for v in split)
    except (TypeError, ValueError):
        raise GridError(f"{split!r} must be (cols, rows)") from None
    if cols < 1 or rows < 1:
        raise GridError(f"{split!r} must be at least (1, 1)")
    return cols, rows


def _rank_within(group: np.ndarray, key: np.ndarray) -> np.ndarray:
    """1-based dense rank of `key` among the cells of the same `group`."""
    pairs, inverse = np.unique(np.stack([group, key], axis=1), axis=0, return_inverse=True)
    _, first = np.unique(pairs[:, 0], return_index=True)
    start = np.repeat(first, np.diff(np.append(first, len(pairs))))
    return (np.arange(len(pairs)) - start + 1)[inverse.ravel()]


def _number(rows: np.ndarray, cols: np.ndarray, streets, communities) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Street, community and sequence numbers (1-based) of cells of one district."""
    zero = np.zeros(len(rows), dtype=np.int64)
    street = _rank_within(zero, _blocks(rows, cols, zero, streets))
    community = _rank_within(street, _blocks(rows, cols, street, communities))
    span = int(cols.max() - cols.min() + 1)
    order = (rows - rows.min()) * span + (cols - cols.min())
    sequence = _rank_within(street * (PART_MAX + 1) + community, order)
    for label, numbers in (("streets", street), ("communities in a street", community), ("cells in a community", sequence)):
        if numbers.max() > PART_MAX:
            raise GridError(f"more than {PART_MAX} {label}: use more streets or communities, or larger cells")
    return street, community, sequence


def lattice_cells(polys, rows, cols, district_code: str, district_name: str, streets, communities, worker=None) -> list[Cell]:
    """Cells of one district from `lattice` polygons: streets and communities as blocks of the lattice."""
    street, community, sequence = _number(rows, cols, streets, communities)
    cells = []
    for geom, s, c, q in zip(polys, street.tolist(), community.tolist(), sequence.tolist()):
        code = make_code(district_code, s, c, q)
        cells.append(
            Cell(
                code=code,
                name=f"Grid {q:03d}",
                geometry=geom,
                district_name=district_name,
                street_name=f"Street {s:02d}",
                community_name=f"Community {s:02d}-{c:02d}",
                worker=worker(code) if worker else None,
            )
        )
    return cells


def generate_grid(
    bbox,
    cell_size_m: float,
    *,
    shape: Shape = "square",
    district_code: str,
    district_name: str = "",
    streets: tuple[int, int] = (1, 1),
    communities: tuple[int, int] = (1, 1),
    city_name: str = "",
) -> Grid:
    """A grid of one district covering `bbox` = (min_lon, min_lat, max_lon, max_lat).

    Square cells of `cell_size_m` metres, or pointy-top hexagons that wide
    across flats, cover the box without gaps or overlaps (the outer ring of
    cells may reach past it). Streets and communities are generated blocks;
    the metadata says so.

    >>> g = generate_grid((114.33, 34.78, 114.34, 34.79), 500, district_code="410204",
    ...                   streets=(2, 1), communities=(1, 1))
    >>> len(g), sorted(g.streets())
    (6, ['410204001', '410204002'])
    """
    box = _check_bbox(bbox)
    check_district(district_code)
    polys, rows, cols = lattice(box, cell_size_m, shape)
    cells = lattice_cells(polys, rows, cols, district_code, district_name, streets, communities)
    meta = {
        "name": f"{district_name or district_code} generated grid",
        "city": city_name,
        "source": "generated",
        "geometry": "generated",
        "grouping": "generated",
        "crs": "EPSG:4326",
        "shape": shape,
        "cell_size_m": cell_size_m,
        "bbox": list(box),
        "streets": list(_check_split(streets)),
        "communities": list(_check_split(communities)),
        "projection": "equirectangular at the bbox centre latitude",
        "districts": {district_code: district_name},
    }
    return Grid(cells, meta)
