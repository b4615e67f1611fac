"""Cells of irregular shape put in order, found next to each other, and put in groups: reading order
(west to east, then north to south), shared edges, and connected groups of about a target size
(generated communities and streets).

Irregular cells have no rows, so reading order puts each cell in the nearest of rows a cell apart
and reads each row from west to east. Groups grow from seeds over the cells' adjacency (cells sharing
an edge), nearest seed first, so every group is one connected piece; seeds are spread by
farthest-point sampling and then moved to the middle of their group a few times, which keeps
groups compact.
"""

from __future__ import annotations

import heapq

import numpy as np
import shapely

__all__ = ["reading_order", "shared_edges", "adjacency", "components", "connected_groups"]

# Cells sharing less boundary than this (in the geometries' units) only touch at a corner.
MIN_SHARED_EDGE = 1e-6
LLOYD_ROUNDS = 3


def reading_order(x: np.ndarray, y: np.ndarray, band: float) -> np.ndarray:
    """Indices that put points in reading order: rows `band` apart from the northernmost point, each
    row from the west. A point belongs to the row it is nearest to, so points a whole number of rows
    apart (cells cut at equal steps) never change row by a rounding error.

    >>> reading_order(np.array([1.0, 0.0, 5.0]), np.array([0.0, 0.0, 10.0]), 2.0).tolist()
    [2, 1, 0]
    >>> reading_order(np.array([]), np.array([]), 1.0).tolist()
    []
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) == 0:
        return np.empty(0, dtype=np.intp)
    row = np.rint((y.max() - y) / band)
    return np.lexsort((-y, x, row))


def shared_edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, length) for every pair i < j of polygons sharing edges exactly: the same segments, vertex
    for vertex, as the faces of one polygonized set of lines have. Found by matching segments, with no
    geometric overlay.

    >>> i, j, length = shared_edges(np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(5, 5, 6, 6)]))
    >>> i.tolist(), j.tolist(), length.tolist()
    ([0], [1], [1.0])
    """
    rings, ring_geom = shapely.get_rings(geoms, return_index=True)
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = np.flatnonzero(ring[1:] == ring[:-1])
    a, b = coords[same], coords[same + 1]
    owner = ring_geom[ring[same]]
    flip = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    key = np.concatenate([np.where(flip[:, None], b, a), np.where(flip[:, None], a, b)], axis=1)
    order = np.lexsort(key.T[::-1])
    key, owner = key[order], owner[order]
    twin = np.flatnonzero((key[1:] == key[:-1]).all(axis=1) & (owner[1:] != owner[:-1]))
    left, right = np.minimum(owner[twin], owner[twin + 1]), np.maximum(owner[twin], owner[twin + 1])
    length = np.hypot(*(key[twin, 2:] - key[twin, :2]).T)
    pairs, inverse = np.unique(np.stack([left, right], axis=1), axis=0, return_inverse=True)
    total = np.zeros(len(pairs))
    np.add.at(total, inverse.ravel(), length)
    keep = total > MIN_SHARED_EDGE
    return pairs[keep, 0], pairs[keep, 1], total[keep]


def adjacency(geoms: np.ndarray, tolerance: float, min_shared: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i, j), i < j, of polygons that share more than `min_shared` of boundary, edges lying
    within `tolerance` of each other counting as shared: for grids whose neighbours meet only to
    within rounding (imported ones)."""
    if len(geoms) < 2:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=tolerance)
    keep = left < right
    left, right = left[keep], right[keep]
    boundaries = shapely.boundary(geoms)
    near = shapely.buffer(boundaries[left], tolerance, quad_segs=1)
    edge = shapely.length(shapely.intersection(boundaries[right], near)) > min_shared
    return left[edge], right[edge]


def components(n: int, left: np.ndarray, right: np.ndarray) -> list[np.ndarray]:
    """The connected pieces of n items joined by the pairs (left, right): sorted indices each,
    ordered by their lowest index.

    >>> [p.tolist() for p in components(4, np.array([0]), np.array([2]))]
    [[0, 2], [1], [3]]
    """
    return _Graph(n, left, right, np.zeros((n, 2))).pieces()


def connected_groups(centres: np.ndarray, left: np.ndarray, right: np.ndarray, target: float) -> np.ndarray:
    """A group number (0, 1, ...) for each of n cells with `centres` (n, 2), joined where they share an
    edge by the pairs (left, right): connected groups of about `target` cells. Each connected piece
    gets round(size / target) groups (at least one). The same input gives the same groups.

    >>> connected_groups(np.array([[0, 0], [1, 0], [2, 0], [3, 0]]), np.array([0, 1, 2]), np.array([1, 2, 3]), 2).tolist()
    [0, 0, 1, 1]
    """
    n = len(centres)
    if n == 0:
        return np.empty(0, dtype=np.intp)
    graph = _Graph(n, left, right, centres)
    labels = np.full(n, -1, dtype=np.intp)
    next_label = 0
    for piece in graph.pieces():
        k = max(1, int(round(len(piece) / target)))
        seeds = _spread(centres, piece, k)
        for _ in range(LLOYD_ROUNDS):
            seeds = _middles(centres, piece, graph.nearest_seed(seeds, piece), seeds)
        owner = graph.nearest_seed(seeds, piece)
        labels[piece] = next_label + np.searchsorted(seeds, owner[piece])
        next_label += len(seeds)
    return labels


class _Graph:
    """Cells and their shared edges, weighted by the distance between centres (CSR arrays)."""

    def __init__(self, n: int, left: np.ndarray, right: np.ndarray, centres: np.ndarray):
        a = np.concatenate([left, right]).astype(np.intp)
        b = np.concatenate([right, left]).astype(np.intp)
        order = np.lexsort((b, a))
        self.n = n
        self.indices = b[order]
        self.weights = np.hypot(*(centres[a[order]] - centres[b[order]]).T)
        self.indptr = np.searchsorted(a[order], np.arange(n + 1))

    def pieces(self) -> list[np.ndarray]:
        """Connected components, each as sorted indices, ordered by their lowest index."""
        seen = np.zeros(self.n, dtype=bool)
        out = []
        for start in range(self.n):
            if seen[start]:
                continue
            stack, members = [start], []
            seen[start] = True
            while stack:
                i = stack.pop()
                members.append(i)
                for j in self.indices[self.indptr[i]:self.indptr[i + 1]].tolist():
                    if not seen[j]:
                        seen[j] = True
                        stack.append(j)
            out.append(np.array(sorted(members), dtype=np.intp))
        return out

    def nearest_seed(self, seeds: np.ndarray, piece: np.ndarray) -> np.ndarray:
        """For every cell of `piece`, the seed it is nearest to along the graph (-1 elsewhere).

        Multi-source Dijkstra: a cell takes its seed from the neighbour it was reached through,
        so every seed's cells form one connected piece."""
        owner = np.full(self.n, -1, dtype=np.intp)
        heap = [(0.0, int(s), int(s)) for s in seeds]
        heapq.heapify(heap)
        indptr, indices, weights = self.indptr, self.indices.tolist(), self.weights.tolist()
        while heap:
            d, seed, i = heapq.heappop(heap)
            if owner[i] >= 0:
                continue
            owner[i] = seed
            for k in range(indptr[i], indptr[i + 1]):
                j = indices[k]
                if owner[j] < 0:
                    heapq.heappush(heap, (d + weights[k], seed, j))
        return owner


def _spread(centres: np.ndarray, piece: np.ndarray, k: int) -> np.ndarray:
    """k cells of `piece` far from each other, starting from its north-western one (sorted)."""
    xy = centres[piece]
    first = int(np.argmax(xy[:, 1] - xy[:, 0]))
    chosen = [first]
    gap = np.hypot(*(xy - xy[first]).T)
    for _ in range(k - 1):
        far = int(np.argmax(gap))
        chosen.append(far)
        gap = np.minimum(gap, np.hypot(*(xy - xy[far]).T))
    return np.sort(piece[np.unique(chosen)])


def _middles(centres: np.ndarray, piece: np.ndarray, owner: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Each seed moved to the cell of its group nearest to the group's centre (sorted)."""
    members = piece[np.argsort(owner[piece], kind="stable")]
    bounds = np.searchsorted(owner[members], seeds)
    moved = []
    for lo, hi in zip(bounds, np.append(bounds[1:], len(members))):
        group = members[lo:hi]
        middle = centres[group].mean(axis=0)
        moved.append(group[int(np.argmin(np.hypot(*(centres[group] - middle).T)))])
    return np.unique(moved)
