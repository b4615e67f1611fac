"""Grid cells and their hierarchy (district > street > community > cell), with point-in-cell lookup."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from shapely.geometry.base import BaseGeometry


@dataclass(frozen=True, slots=True)
class Cell:
    """One grid cell. `code` is 15 digits: district(6) street(3) community(3) sequence(3)."""

    code: str
    name: str
    geometry: BaseGeometry  # Polygon in WGS84 (lon, lat)
    district_name: str = ""
    street_name: str = ""
    community_name: str = ""
    worker: str | None = None
    attributes: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def district(self) -> str:
        return self.code[:6]

    @property
    def street_code(self) -> str:
        return self.code[:9]

    @property
    def community_code(self) -> str:
        return self.code[:12]

    @property
    def path(self) -> str:
        """Human-readable place in the hierarchy, e.g. 'Gulou District > Xiangguo Street > ... > Grid 007'."""
        parts = [self.district_name, self.street_name, self.community_name, self.name]
        return " > ".join(p for p in parts if p)


class Grid:
    """An immutable set of cells with a spatial index. Cells are kept sorted by code."""

    def __init__(self, cells: Sequence[Cell], meta: dict | None = None):
        self.cells: tuple[Cell, ...] = tuple(sorted(cells, key=lambda c: c.code))
        self.meta: dict = dict(meta or {})
        self.by_code: dict[str, Cell] = {c.code: c for c in self.cells}

    def __len__(self) -> int:
        return len(self.cells)
