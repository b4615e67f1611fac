"""Reading order, shared edges and connected groups of irregular cells."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.common import irregular_grid
from twin.grid.grouping import adjacency, components, connected_groups, reading_order, shared_edges


def test_reading_order_reads_rows_from_the_north_each_from_the_west():
    # Two rows 10 apart; the second point of the top row sits a little lower, still in that row.
    x = np.array([5.0, 0.0, 9.0, 1.0])
    y = np.array([0.0, 10.0, 8.0, 0.5])
    assert reading_order(x, y, 10.0).tolist() == [1, 2, 3, 0]


def test_shared_edges_finds_exact_neighbours_only():
    grid = irregular_grid()  # a jittered lattice: neighbours share vertices exactly
    left, right, length = shared_edges(grid.geometries)
    tolerant = set(zip(*adjacency(grid.geometries, 1e-9, 1e-6)))
    assert set(zip(left.tolist(), right.tolist())) == {(int(a), int(b)) for a, b in tolerant}
    assert len(left) == 4 * 5 * 2 - 5 - 4  # the lattice's inner edges (corner-only neighbours are not)
    shared = shapely.intersection(grid.geometries[left].tolist(), grid.geometries[right].tolist())
    assert np.allclose(length, shapely.length(shared))
    # A neighbour a hair away is not an exact one.
    moved = shapely.transform(grid.geometries[0], lambda xy: xy + 1e-9)
    assert len(shared_edges(np.array([moved, grid.geometries[1]]))[0]) == 0


def lattice(cols: int, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres and the (left, right) edges of a cols x rows lattice of cells."""
    i = np.arange(cols * rows)
    centres = np.stack([i % cols, -(i // cols)], axis=1).astype(float)
    east = i[(i % cols) < cols - 1]
    south = i[i < cols * (rows - 1)]
    return centres, np.concatenate([east, south]), np.concatenate([east + 1, south + cols])


@settings(max_examples=40, deadline=None)
@given(cols=st.integers(1, 12), rows=st.integers(1, 12), target=st.floats(1, 30), holes=st.sets(st.integers(0, 143)))
def test_groups_are_connected_and_about_the_target_size(cols, rows, target, holes):
    centres, left, right = lattice(cols, rows)
    # Cutting some edges splits the lattice into pieces: every piece gets its own groups.
    keep = np.array([k not in holes for k in range(len(left))], dtype=bool)
    left, right = left[keep], right[keep]
    groups = connected_groups(centres, left, right, target)
    n = cols * rows
    assert groups.min() == 0 and len(np.unique(groups)) == groups.max() + 1
    pieces = components(n, left, right)
    assert groups.max() + 1 == sum(max(1, round(len(p) / target)) for p in pieces)
    for g in range(groups.max() + 1):  # every group is one connected piece
        members = np.flatnonzero(groups == g)
        local = np.full(n, -1)
        local[members] = np.arange(len(members))
        inside = (local[left] >= 0) & (local[right] >= 0)
        assert len(components(len(members), local[left[inside]], local[right[inside]])) == 1


def test_groups_are_the_same_every_time():
    centres, left, right = lattice(10, 7)
    assert connected_groups(centres, left, right, 8).tolist() == connected_groups(centres, left, right, 8).tolist()
