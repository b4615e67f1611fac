"""Grid cells and their hierarchy (district > street > community > cell), with point-in-cell lookup.

`Grid.locate` maps many points to cells at once: a regular lattice of
axis-aligned rectangles (every generated square grid, and imported grids that
happen to be one) is answered by two binary searches per point; any other grid
by a raster of its box (`twin.grid._raster`): a bucket away from cell boundaries
holds its cell, a point near a boundary is tested against the few cells there.
The rare point lying exactly on a lattice line goes through a shapely STRtree.
A point on an edge shared by several cells belongs to the one with the lowest
code, on every path.

A Grid knows nothing of files or generators: `twin.grid.generate` makes grids and
`twin.grid.files` reads and writes them, both as functions that return or take a Grid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from twin.grid._raster import CellRaster

log = logging.getLogger(__name__)

__all__ = ["Cell", "Grid", "NEIGHBOUR_TOLERANCE_DEG"]

# Cells closer than this (degrees, about 1 cm) count as touching for `neighbours`,
# so imported grids with rounding noise along shared edges still find each other.
NEIGHBOUR_TOLERANCE_DEG = 1e-7


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
    """An immutable set of cells with a spatial index. Cells are kept sorted by code.

    Indexes (STRtree, lattice, neighbours) are built on first use and kept.
    """

    def __init__(self, cells: Sequence[Cell], meta: dict | None = None):
        self.cells: tuple[Cell, ...] = tuple(sorted(cells, key=lambda c: c.code))
        self.meta: dict = dict(meta or {})
        self.by_code: dict[str, Cell] = {c.code: c for c in self.cells}

    def __len__(self) -> int:
        return len(self.cells)

    def __iter__(self) -> Iterator[Cell]:
        return iter(self.cells)

    def __contains__(self, code: object) -> bool:
        return code in self.by_code

    def __getitem__(self, code: str) -> Cell:
        return self.by_code[code]

    def __repr__(self) -> str:
        return f"<Grid {len(self.cells)} cells, {len(self.districts())} district(s), source {self.meta.get('source', '?')!r}>"

    def contains(self, code: str) -> bool:
        """True when a cell has this code."""
        return code in self.by_code

    def get(self, code: str | None) -> Cell | None:
        """The cell with this code, or None."""
        return self.by_code.get(code) if code is not None else None

    def select(self, prefix: str) -> tuple[Cell, ...]:
        """The cells of a district (6 digits), street (9) or community (12), by code prefix."""
        return tuple(c for c in self.cells if c.code.startswith(prefix))

    # -- arrays ---------------------------------------------------------------
    @cached_property
    def codes(self) -> np.ndarray:
        """Cell codes as an object array, in cell order."""
        return np.array([c.code for c in self.cells], dtype=object)

    @cached_property
    def geometries(self) -> np.ndarray:
        """Cell polygons as a shapely geometry array, in cell order."""
        return np.array([c.geometry for c in self.cells], dtype=object)

    @cached_property
    def cell_centroids(self) -> np.ndarray:
        """(n, 2) array of cell centroids as (lon, lat), in cell order."""
        if not self.cells:
            return np.empty((0, 2))
        return shapely.get_coordinates(shapely.centroid(self.geometries))

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) of all cells; NaNs for an empty grid."""
        return tuple(float(v) for v in shapely.total_bounds(self.geometries))

    # -- hierarchy ------------------------------------------------------------
    def districts(self) -> dict[str, str]:
        """District code (6 digits) -> name."""
        return self._names(6, "district_name")

    def streets(self) -> dict[str, str]:
        """Street code (9 digits) -> name."""
        return self._names(9, "street_name")

    def communities(self) -> dict[str, str]:
        """Community code (12 digits) -> name."""
        return self._names(12, "community_name")

    def _names(self, length: int, attr: str) -> dict[str, str]:
        names: dict[str, str] = {}
        for cell in self.cells:
            names.setdefault(cell.code[:length], getattr(cell, attr))
        return names

    # -- lookup ---------------------------------------------------------------
    def prepare(self) -> "Grid":
        """Build the point lookup now (a lattice table, or a raster over the tree) rather than on the
        first `locate`: a gateway does it at start, before readings wait for it."""
        if self.cells:
            self.tree, self._codes_or_none
            if self._lattice is None:
                self._raster
        return self

    @cached_property
    def tree(self) -> shapely.STRtree:
        """STRtree over the cell polygons; tree index i is `self.cells[i]`."""
        geoms = self.geometries
        shapely.prepare(geoms)
        return shapely.STRtree(geoms)

    @cached_property
    def _lattice(self) -> "_Lattice | None":
        lattice = _Lattice.detect(self.geometries) if self.cells else None
        log.debug("grid of %d cells: %s lookup", len(self.cells), "lattice" if lattice else "raster")
        return lattice

    @cached_property
    def _codes_or_none(self) -> np.ndarray:
        # Index -1 picks the trailing None, so "outside" needs no special case.
        return np.array([c.code for c in self.cells] + [None], dtype=object)

    def locate(self, lon: Any, lat: Any) -> Any:
        """Code of the cell containing each point, None where no cell does.

        Scalars give a str or None; arrays give an object array of the
        broadcast shape. Points on a shared edge or corner go to the lowest
        code; points on the outer boundary belong to their cell; NaN is outside.

        Examples
        --------
        >>> from twin.grid.generate import generate_grid
        >>> g = generate_grid((114.0, 34.0, 114.01, 34.01), 500, district_code="410204",
        ...                   district_name="Gulou", streets=(1, 1), communities=(1, 1))
        >>> g.locate(114.001, 34.009)
        '410204001001001'
        >>> g.locate(115.0, 34.0) is None
        True
        >>> g.locate([114.001, float("nan")], [34.009, 34.0]).tolist()
        ['410204001001001', None]
        """
        scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
        x, y = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        index = self.locate_index(x.ravel(), y.ravel())
        codes = self._codes_or_none[index].reshape(x.shape)
        return codes.item() if scalar else codes

    def locate_index(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Like `locate` on 1-D float arrays, but returns indexes into `cells` (-1 outside)."""
        x = np.ascontiguousarray(lon, dtype=float)
        y = np.ascontiguousarray(lat, dtype=float)
        if not self.cells or len(x) == 0:
            return np.full(len(x), -1, dtype=np.intp)
        lattice = self._lattice
        if lattice is None:
            return self._raster.locate(x, y)
        index, on_line = lattice.index(x, y)
        if on_line.any():
            index[on_line] = self._tree_index(x[on_line], y[on_line])
        return index

    @cached_property
    def _raster(self) -> CellRaster:
        return CellRaster.build(self.geometries, self.tree)  # the tree prepares the geometries

    def _tree_index(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        n = len(self.cells)
        best = np.full(len(x), n, dtype=np.intp)
        finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
        if len(finite):
            points = shapely.points(x[finite], y[finite])
            hit_point, hit_cell = self.tree.query(points, predicate="intersects")
            np.minimum.at(best, finite[hit_point], hit_cell)
        best[best == n] = -1
        return best

    # -- topology -------------------------------------------------------------
    @cached_property
    def _neighbours(self) -> dict[str, tuple[str, ...]]:
        geoms = self.geometries
        left, right = self.tree.query(geoms, predicate="dwithin", distance=NEIGHBOUR_TOLERANCE_DEG)
        keep = left != right
        found: dict[str, list[str]] = {c.code: [] for c in self.cells}
        codes = self.codes
        for a, b in zip(left[keep], right[keep]):
            found[codes[a]].append(codes[b])
        return {code: tuple(sorted(set(near))) for code, near in found.items()}

    def neighbours(self, code: str) -> tuple[str, ...]:
        """Codes of the cells sharing an edge or a corner with `code`, sorted; KeyError if unknown."""
        if code not in self.by_code:
            raise KeyError(code)
        return self._neighbours[code]

    # -- conversion -----------------------------------------------------------
    def to_geojson(self, properties: Mapping[str, Mapping[str, Any]] | None = None) -> dict:
        """The grid as a GeoJSON FeatureCollection (WGS84).

        Each feature's `id` is the cell code; its properties are code, name,
        path, district/street/community (code prefixes) with their names, and
        worker, updated with `properties[code]` when given (e.g. live state).
        """
        extra = properties or {}
        features = []
        for cell in self.cells:
            props = {
                "code": cell.code,
                "name": cell.name,
                "path": cell.path,
                "district": cell.district,
                "district_name": cell.district_name,
                "street": cell.street_code,
                "street_name": cell.street_name,
                "community": cell.community_code,
                "community_name": cell.community_name,
                "worker": cell.worker,
            }
            props.update(extra.get(cell.code, {}))
            features.append({"type": "Feature", "id": cell.code, "properties": props, "geometry": mapping(cell.geometry)})
        return {"type": "FeatureCollection", "features": features}


@dataclass(frozen=True)
class _Lattice:
    """Cells that are exactly the slots of a rectilinear lattice (breaks `xs` x `ys`).

    `table[j, i]` is the cell index in slot (i, j), -1 for an empty slot. A
    point strictly inside a slot is in that cell and no other; a point exactly
    on a break line may touch several cells and is left to the STRtree.
    """

    xs: np.ndarray
    ys: np.ndarray
    table: np.ndarray

    @classmethod
    def detect(cls, geoms: np.ndarray) -> "_Lattice | None":
        n = len(geoms)
        if (
            (shapely.get_type_id(geoms) != shapely.GeometryType.POLYGON).any()
            or (shapely.get_num_interior_rings(geoms) != 0).any()
            or (shapely.get_num_coordinates(geoms) != 5).any()
        ):
            return None
        ring = shapely.get_coordinates(geoms).reshape(n, 5, 2)[:, :4]
        b = shapely.bounds(geoms)
        east = ring[..., 0] == b[:, [2]]
        north = ring[..., 1] == b[:, [3]]
        on_box = (east | (ring[..., 0] == b[:, [0]])) & (north | (ring[..., 1] == b[:, [1]]))
        corner = east.astype(np.int8) + 2 * north.astype(np.int8)
        # Consecutive vertices must differ in exactly one coordinate: an axis-aligned rectangle.
        step = corner ^ np.roll(corner, -1, axis=1)
        if not on_box.all() or not np.isin(step, (1, 2)).all():
            return None
        xs = np.unique(np.concatenate([b[:, 0], b[:, 2]]))
        ys = np.unique(np.concatenate([b[:, 1], b[:, 3]]))
        i0, i1 = np.searchsorted(xs, b[:, 0]), np.searchsorted(xs, b[:, 2])
        j0, j1 = np.searchsorted(ys, b[:, 1]), np.searchsorted(ys, b[:, 3])
        if (i1 != i0 + 1).any() or (j1 != j0 + 1).any():
            return None
        nx, ny = len(xs) - 1, len(ys) - 1
        if nx * ny > 64 * n + (1 << 20):
            return None  # sparse lattice: the table would cost more than it saves
        slot = j0 * nx + i0
        if len(np.unique(slot)) != n:
            return None  # two cells in one slot overlap; leave it to the tree
        table = np.full(nx * ny, -1, dtype=np.intp)
        table[slot] = np.arange(n)
        return cls(xs, ys, table.reshape(ny, nx))

    def index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cell index or -1, mask of points lying exactly on a break line)."""
        xs, ys = self.xs, self.ys
        i = np.searchsorted(xs, x, side="right") - 1
        j = np.searchsorted(ys, y, side="right") - 1
        on_line = (xs[np.clip(i, 0, len(xs) - 1)] == x) | (ys[np.clip(j, 0, len(ys) - 1)] == y)
        inside = (i >= 0) & (i < len(xs) - 1) & (j >= 0) & (j < len(ys) - 1)
        index = np.full(len(x), -1, dtype=np.intp)
        index[inside] = self.table[j[inside], i[inside]]
        return index, on_line

