"""The raster lookup for grids that are not a lattice: every answer equals shapely's, point by point.

The reference is shapely `covers` (boundary included) of every cell against every point,
lowest index first, as `Grid.locate` promises; the points are random over and around the grid,
plus vertices, points along shared edges, bucket-edge coordinates, NaN and far-away points.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from tests.common import cell, code, irregular_grid, small_hex_grid
from twin.grid._raster import BUCKETS_PER_CELL, CellRaster
from twin.grid.cells import Grid


def voronoi_grid(n: int = 60, seed: int = 5) -> Grid:
    """Cells of random shapes and sizes (a Voronoi partition clipped to a box), one of them with a
    hole holding another cell, and one a multipolygon."""
    rng = np.random.default_rng(seed)
    frame = shapely.box(114.30, 34.70, 114.34, 34.73)
    seeds = shapely.multipoints(np.column_stack([rng.uniform(114.30, 114.34, n), rng.uniform(34.70, 34.73, n)]))
    parts = [shapely.intersection(p, frame) for p in shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))]
    parts = [p for p in parts if p.area > 0]
    hole = shapely.Point(parts[0].representative_point()).buffer(1e-3)
    parts[0] = parts[0].difference(hole)  # a ring-shaped cell ...
    parts.append(hole.intersection(frame))  # ... and the cell in its hole
    parts.append(shapely.MultiPolygon([shapely.box(114.35, 34.70, 114.351, 34.701),
                                       shapely.box(114.36, 34.72, 114.362, 34.722)]))  # an island pair
    # Codes in shuffled order, so "lowest code" is not "first drawn".
    order = rng.permutation(len(parts))
    return Grid([cell(code(1, 1 + k // 900, 1 + k % 900), geom) for k, geom in zip(order, parts)])


def overlapping_grid() -> Grid:
    """Rotated squares overlapping their neighbours: points in an overlap go to the lowest code."""
    cells = []
    for k in range(12):
        square = shapely.box(0, 0, 0.0012, 0.0012)
        placed = shapely.affinity.rotate(square, 17 * k, origin=(0.0006, 0.0006))
        placed = shapely.affinity.translate(placed, 114.3 + 0.001 * (k % 4), 34.7 + 0.001 * (k // 4))
        cells.append(cell(code(1, 1, 12 - k), placed))
    return Grid(cells)


GRIDS = {"hex": small_hex_grid(), "irregular": irregular_grid(), "voronoi": voronoi_grid(), "overlapping": overlapping_grid()}


def reference(grid: Grid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Lowest index of a cell covering each point, by testing every cell against every point."""
    covers = shapely.covers(grid.geometries[:, None], shapely.points(x, y)[None, :])  # (cells, points)
    return np.where(covers.any(axis=0), covers.argmax(axis=0), -1)


def probe_points(grid: Grid, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    w, s, e, n = grid.bounds
    mx, my = (e - w) * 0.05, (n - s) * 0.05
    anywhere = np.column_stack([rng.uniform(w - mx, e + mx, 3000), rng.uniform(s - my, n + my, 3000)])
    vertices = np.unique(shapely.get_coordinates(grid.geometries), axis=0)
    rings = shapely.get_rings(shapely.get_parts(grid.geometries))
    along = shapely.get_coordinates(shapely.line_interpolate_point(
        rings[rng.integers(0, len(rings), 2000)], rng.uniform(0, 1, 2000), normalized=True))
    raster = grid._raster  # bucket edges: a point exactly on one is found by comparison, not rounding
    edge_x = raster.xs[rng.integers(0, len(raster.xs) - 1, 1500)]
    edge_y = raster.ys[rng.integers(0, len(raster.ys) - 1, 1500)]
    edge_x[:500], edge_y[500:1000] = np.nextafter(edge_x[:500], -np.inf), np.nextafter(edge_y[500:1000], -np.inf)
    on_bucket_edges = np.column_stack([edge_x, edge_y])  # on an edge, or the float just below one
    corners = np.array([[w, s], [e, n], [w, n], [e, s], [np.nextafter(e, 200.0), n], [200.0, 34.7]])
    points = np.concatenate([anywhere, vertices, along, on_bucket_edges, corners])
    return points[:, 0], points[:, 1]


@pytest.mark.parametrize("name", GRIDS)  # hexagons, jittered quadrilaterals, Voronoi with a hole, overlaps
def test_raster_lookup_equals_shapely_covers(name):
    grid = GRIDS[name]
    assert grid._lattice is None
    x, y = probe_points(grid, np.random.default_rng(11))
    expected = reference(grid, x, y)
    assert (expected >= 0).any() and (expected == -1).any()  # the probe reaches both sides
    assert grid.locate_index(x, y).tolist() == expected.tolist()


def test_raster_answers_most_points_without_a_polygon_test():
    grid = GRIDS["voronoi"]
    raster = grid._raster
    assert raster.table.size >= BUCKETS_PER_CELL * len(grid) * 0.9
    assert (raster.table >= -1).mean() > 0.5  # most buckets hold their answer outright


def test_nan_empty_and_one_cell():
    grid = GRIDS["voronoi"]
    assert grid.locate_index(np.array([np.nan, 114.32]), np.array([34.71, np.nan])).tolist() == [-1, -1]
    assert grid.locate_index(np.array([]), np.array([])).tolist() == []
    triangle = Grid([cell(code(1, 1, 1), shapely.Polygon([(0, 0), (1, 0), (0, 1)]))])
    assert triangle._lattice is None
    raster = CellRaster.build(triangle.geometries, triangle.tree)
    assert raster.locate(np.array([0.2, 0.5, 0.8, 1.0]), np.array([0.2, 0.5, 0.8, 0.0])).tolist() == [0, 0, -1, 0]


@pytest.mark.parametrize("lo,hi,n", [(114.25, 114.4917, 1613), (34.7, 34.7009, 7), (-0.3, 0.1, 1000)])
def test_bucket_of_a_coordinate_is_exact_at_every_edge(lo, hi, n):
    from twin.grid._raster import _bucket, _edges

    edges = _edges(lo, hi, n)
    v = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf), [np.nan, lo - 1, hi + 1]])
    k = _bucket(edges, v)
    inside = (k >= 0) & (k < n)
    assert (edges[k[inside]] <= v[inside]).all() and (v[inside] < edges[k[inside] + 1]).all()
    assert ((v < lo) | np.isnan(v)).tolist() == (k == -1).tolist()  # below the first edge, or NaN
    assert (v >= edges[-1]).tolist() == (k == n).tolist()  # at or past the last edge
