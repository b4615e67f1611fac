"""A raster over a grid's box that answers point-in-cell lookups by arithmetic, for any polygons.

The box is cut into square-ish buckets. A bucket that no cell boundary passes
through lies wholly inside one cell (or several overlapping ones, or none), so
every point in it has the same answer, found once when the raster is built. A
point in a bucket that some boundary crosses is tested exactly against the few
cells that can hold it: those whose boundary crosses the bucket, and those that
contain the bucket's centre (a cell holding a point of the bucket without its
boundary crossing it holds the whole bucket). Buckets are half-open
(`xs[i] <= x < xs[i+1]`) and a point's bucket is found exactly, with no rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

__all__ = ["CellRaster"]

OUTSIDE = -1
# A boundary crosses the bucket: its table entry is -2 - k, k its rank among the crossed buckets.
FIRST_CROSSED = -2
BUCKETS_PER_CELL = 256
MAX_BUCKETS = 1 << 22  # 16 MB of int32 at most
# Boundary pieces are widened by this much (degrees, ~0.1 mm) before they mark buckets, so
# the rounding of interpolated vertices can never leave a crossed bucket unmarked.
MARGIN_DEG = 1e-9


@dataclass(frozen=True)
class CellRaster:
    """`table[j * nx + i]`: the cell index for bucket (i, j), OUTSIDE, or -2 - k for the k-th
    crossed bucket, whose candidate cells are `cells[start[k]:start[k + 1]]`, ascending."""

    xs: np.ndarray
    ys: np.ndarray
    table: np.ndarray
    start: np.ndarray
    cells: np.ndarray
    geoms: np.ndarray

    @classmethod
    def build(cls, geoms: np.ndarray, tree: shapely.STRtree) -> "CellRaster":
        """Raster of `geoms` (polygons or multipolygons, prepared) indexed by `tree`."""
        x0, y0, x1, y1 = shapely.total_bounds(geoms)
        width, height = max(x1 - x0, 1e-12), max(y1 - y0, 1e-12)
        buckets = min(MAX_BUCKETS, max(1024, BUCKETS_PER_CELL * len(geoms)))
        size = np.sqrt(width * height / buckets)
        nx, ny = max(1, int(np.ceil(width / size))), max(1, int(np.ceil(height / size)))
        xs, ys = _edges(x0, x1, nx), _edges(y0, y1, ny)
        crossing_bucket, crossing_cell = _crossings(geoms, xs, ys, min(width / nx, height / ny))
        crossed = np.zeros(nx * ny, dtype=bool)
        crossed[crossing_bucket] = True
        bucket = np.flatnonzero(crossed)
        table = np.full(nx * ny, OUTSIDE, dtype=np.int32)
        table[bucket] = FIRST_CROSSED - np.arange(len(bucket))

        # Runs of uncrossed buckets along a row are boundary-free strips: one answer each.
        clear = ~crossed
        starts = clear.reshape(ny, nx).copy()
        starts[:, 1:] &= crossed.reshape(ny, nx)[:, :-1]
        starts = starts.ravel()
        first = np.flatnonzero(starts)
        if len(first):
            run = np.cumsum(starts) - 1
            table[clear] = _lowest(tree, *_centres(first, xs, ys), len(geoms))[run[clear]]

        # Candidates of crossed buckets: cells crossing them, and cells covering their centre.
        hit, cell = tree.query(shapely.points(*_centres(bucket, xs, ys)), predicate="intersects")
        rank = FIRST_CROSSED - table[crossing_bucket].astype(np.int64)
        key = np.sort(np.concatenate([rank * len(geoms) + crossing_cell, hit.astype(np.int64) * len(geoms) + cell]))
        key = key[np.concatenate(([True], key[1:] != key[:-1]))]
        pair_rank, pair_cell = np.divmod(key, len(geoms))
        start = np.searchsorted(pair_rank, np.arange(len(bucket) + 1)).astype(np.int32)
        return cls(xs, ys, table, start, pair_cell.astype(np.int32), geoms)

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the lowest cell containing each point (boundary included), -1 for none or NaN."""
        nx, ny = len(self.xs) - 1, len(self.ys) - 1
        i, j = _bucket(self.xs, x), _bucket(self.ys, y)
        inside = np.flatnonzero((i >= 0) & (i < nx) & (j >= 0) & (j < ny))
        out = np.full(len(x), OUTSIDE, dtype=np.intp)
        bucket = j[inside] * nx + i[inside]
        found = self.table[bucket]
        out[inside] = found
        crossed = np.flatnonzero(found <= FIRST_CROSSED)
        if len(crossed):
            at = inside[crossed]
            out[at] = self._test(FIRST_CROSSED - found[crossed].astype(np.intp), x[at], y[at])
        return out

    def _test(self, rank: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        first, count = self.start[rank], self.start[rank + 1] - self.start[rank]
        point = np.repeat(np.arange(len(rank)), count)
        offset = np.arange(len(point)) - np.repeat(np.cumsum(count) - count, count)
        cell = self.cells[np.repeat(first, count) + offset]
        hit = np.flatnonzero(shapely.intersects_xy(self.geoms[cell], x[point], y[point]))
        out = np.full(len(rank), OUTSIDE, dtype=np.intp)
        # Candidates are ascending within a bucket: a point's first hit is its lowest cell.
        hit_point = point[hit]
        lowest = np.ones(len(hit), dtype=bool)
        lowest[1:] = hit_point[1:] != hit_point[:-1]
        out[hit_point[lowest]] = cell[hit[lowest]]
        return out


def _edges(lo: float, hi: float, n: int) -> np.ndarray:
    edges = lo + (hi - lo) * np.arange(n + 1) / n
    edges[0] = lo
    edges[-1] = np.nextafter(hi, np.inf)  # every coordinate up to `hi` falls in a bucket
    return edges


def _centres(bucket: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    j, i = np.divmod(bucket, len(xs) - 1)
    return (xs[i] + xs[i + 1]) / 2, (ys[j] + ys[j + 1]) / 2


def _lowest(tree: shapely.STRtree, x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    hit, cell = tree.query(shapely.points(x, y), predicate="intersects")
    best = np.full(len(x), n, dtype=np.int64)
    np.minimum.at(best, hit, cell)
    best[best == n] = OUTSIDE
    return best.astype(np.int32)


def _bucket(edges: np.ndarray, v: np.ndarray) -> np.ndarray:
    """k with edges[k] <= v < edges[k+1] exactly; -1 below or NaN, len(edges)-1 above.

    Evenly spaced edges give k by arithmetic to within one; comparing with the
    edges themselves corrects it, which is cheaper than a binary search.
    """
    n = len(edges) - 1
    f = np.floor((v - edges[0]) * (n / (edges[-1] - edges[0])))
    f[~(f >= 0)] = 0  # NaN and below: corrected (or found outside) next
    k = np.minimum(f, n - 1).astype(np.intp)
    k -= v < edges[k]
    k += v >= edges[k + 1]
    k[np.isnan(v)] = -1
    return k


def _crossings(geoms: np.ndarray, xs: np.ndarray, ys: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """(bucket, cell) pairs: the buckets each cell's boundary passes through (a superset of them)."""
    nx, ny = len(xs) - 1, len(ys) - 1
    parts, part_cell = shapely.get_parts(shapely.segmentize(geoms, size), return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = np.flatnonzero(ring[1:] == ring[:-1])
    a, b = coords[same], coords[same + 1]
    cell = part_cell[ring_part[ring[same]]]
    lo, hi = np.minimum(a, b) - MARGIN_DEG, np.maximum(a, b) + MARGIN_DEG
    i0, i1 = np.clip(_bucket(xs, lo[:, 0]), 0, nx - 1), np.clip(_bucket(xs, hi[:, 0]), 0, nx - 1)
    j0, j1 = np.clip(_bucket(ys, lo[:, 1]), 0, ny - 1), np.clip(_bucket(ys, hi[:, 1]), 0, ny - 1)
    # A piece no longer than a bucket spans at most two buckets each way (three, rarely, by the margin).
    buckets, cells = [], []
    for di in range(3):
        for dj in range(3):
            if di == 2 or dj == 2:
                far = np.flatnonzero((i0 + di <= i1) & (j0 + dj <= j1))
                buckets.append((j0[far] + dj) * nx + i0[far] + di)
                cells.append(cell[far])
            else:
                buckets.append(np.minimum(j0 + dj, j1) * nx + np.minimum(i0 + di, i1))
                cells.append(cell)
    return np.concatenate(buckets), np.concatenate(cells)
