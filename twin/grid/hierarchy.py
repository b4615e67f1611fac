"""Codes and names for irregular cells: each cell's district, street and community come from the unit
that holds it where one is given, and are generated (connected groups, twin.grid.grouping) where
not; streets, communities and cells are numbered west to east, then north to south, skipping the
numbers that given units already use.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from twin.errors import GridError
from twin.grid.codes import PART_MAX
from twin.grid.grouping import connected_groups, reading_order

__all__ = ["Hierarchy"]


class Hierarchy:
    """`given[i]` is the code (6, 9 or 12 digits) of the unit holding cell i; `centres` are the cells'
    centres in metres and (left, right) the pairs of cells sharing an edge; `names` the names of the
    given units (codes of 6, 9 or 12 digits)."""

    def __init__(self, given: Sequence[str], centres: np.ndarray, left: np.ndarray, right: np.ndarray,
                 names: dict[str, str], size: float):
        self.centres, self.left, self.right, self.size = centres, left, right, size
        self.district = np.array([c[:6] for c in given], dtype=object)
        self.street = np.array([c[6:9] if len(c) >= 9 else "" for c in given], dtype=object)
        self.community = np.array([c[9:12] if len(c) >= 12 else "" for c in given], dtype=object)
        self.names = dict(names)

    def number(self, community_cells: float, street_cells: float) -> tuple[list[str], dict[str, str]]:
        """Codes of the cells (in cell order) and the names of every district, street and community."""
        for district, members in _members(self.district).items():
            self._generate(self.street, members, district, street_cells, "Street {n:02d}")
        for street, members in _members(self.district + self.street).items():
            self._generate(self.community, members, street, community_cells,
                           f"Community {int(street[6:9]):02d}-{{n:02d}}")
        codes = np.empty(len(self.centres), dtype=object)
        for community, members in _members(self.district + self.street + self.community).items():
            if len(members) > PART_MAX:
                raise GridError(f"community {community} has {len(members)} cells, more than {PART_MAX}: "
                                "use larger cells")
            order = members[reading_order(*self.centres[members].T, self.size)]
            codes[order] = [f"{community}{n:03d}" for n in range(1, len(order) + 1)]
        return codes.tolist(), self.names

    def _generate(self, part: np.ndarray, members: np.ndarray, prefix: str, target: float, label: str) -> None:
        """Fill `part` (street or community numbers) of the parent's `members` that have none with
        generated groups, numbered in reading order after the numbers given units use."""
        todo = members[part[members] == ""]
        if len(todo) == 0:
            return
        local = np.full(len(self.centres), -1, dtype=np.intp)
        local[todo] = np.arange(len(todo))
        inside = (local[self.left] >= 0) & (local[self.right] >= 0)
        groups = connected_groups(self.centres[todo], local[self.left[inside]], local[self.right[inside]], target)
        order = np.argsort(groups, kind="stable")
        starts = np.searchsorted(groups[order], np.arange(groups.max() + 2))
        middles = np.array([self.centres[todo[order[a:b]]].mean(axis=0) for a, b in zip(starts[:-1], starts[1:])])
        used = {int(p) for p in part[members] if p}
        free = (n for n in range(1, PART_MAX + 1) if n not in used)
        for g in reading_order(*middles.T, math.sqrt(target) * self.size).tolist():
            number = next(free, None)
            if number is None:
                raise GridError(f"more than {PART_MAX} groups under {prefix}: use larger cells or groups")
            part[todo[order[starts[g]:starts[g + 1]]]] = f"{number:03d}"
            self.names[f"{prefix}{number:03d}"] = label.format(n=number)


def _members(keys: np.ndarray) -> dict[str, np.ndarray]:
    """Sorted key -> the indices holding it."""
    values, inverse = np.unique(keys.astype(str), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(values) + 1))
    return {str(v): order[a:b] for v, a, b in zip(values, bounds[:-1], bounds[1:])}
