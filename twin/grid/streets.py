"""Street-block grids: unit cells bounded by a city's streets, the way grid governance draws them.

The roads, the area's boundary and the boundaries of any given units (districts, streets or
communities) are noded and polygonized into blocks. A block longer than about 1.5 cells is cut
across the long axis of its minimum rotated rectangle into pieces of about the cell size, and each
piece again, so a large block becomes a lattice that follows the block's own orientation. Pieces
under a third of a cell (slivers between near-parallel lines, corners) are merged into the
neighbour of the same unit they share the longest edge with. All of it happens in metres on an
equirectangular projection at the area's centre (twin.grid.generate.metres_per_degree), and
neighbouring cells keep sharing their vertices exactly in longitude/latitude.

Cells take their district, street and community from the deepest unit holding them; the levels
no unit gives are generated as connected groups (twin.grid.grouping). Streets, communities and
cells are numbered west to east, then north to south, skipping numbers the given units use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from twin.errors import GridError
from twin.grid.cells import Cell, Grid
from twin.grid.codes import check_district, code_problem
from twin.grid.generate import MAX_CELLS, metres_per_degree
from twin.grid.grouping import shared_edges
from twin.grid.hierarchy import Hierarchy

__all__ = ["Unit", "street_grid"]

SPLIT_ABOVE = 1.5  # a block longer than this many cell sizes is cut
SLIVER = 1 / 3  # a piece smaller than this share of a cell's area is merged into a neighbour,
THIN = 0.5  # and so is one narrower than this share of the cell size (a strip between parallel roads)
CRUMB_M2 = 1.0  # a piece this small goes to its best neighbour even across a unit boundary
MAX_LEVELS = 6  # rounds of cutting: a block is cut along its long axis, then each piece along its own
OVERSHOOT_M = 0.01
SNAP_UNITS_M = 1e-3
PRECISION_DEG = 1e-8


@dataclass(frozen=True, slots=True)
class Unit:
    """A given administrative unit: a district (6-digit code), street (9) or community (12)."""

    code: str
    name: str
    geometry: BaseGeometry  # Polygon or MultiPolygon, WGS84
    district_name: str = ""  # the names of the levels above, for street and community units
    street_name: str = ""

    @property
    def level(self) -> int:
        return {6: 0, 9: 1, 12: 2}[len(self.code)]


@dataclass(frozen=True)
class _Local:
    """Equirectangular metres around (lon0, lat0)."""

    lon0: float
    lat0: float
    mx: float
    my: float

    @classmethod
    def around(cls, geom: BaseGeometry) -> "_Local":
        west, south, east, north = geom.bounds
        lon0, lat0 = (west + east) / 2, (south + north) / 2
        return cls(lon0, lat0, *metres_per_degree(lat0))

    def metres(self, geoms):
        return shapely.transform(geoms, lambda xy: (xy - (self.lon0, self.lat0)) * (self.mx, self.my))

    def degrees(self, geoms):
        return shapely.transform(geoms, lambda xy: xy / (self.mx, self.my) + (self.lon0, self.lat0))


def street_grid(
    roads: Iterable[BaseGeometry],
    area: BaseGeometry,
    *,
    cell_size_m: float = 200.0,
    units: Sequence[Unit] = (),
    district_code: str | None = None,
    district_name: str = "",
    city_name: str = "",
    community_cells: float = 8,
    street_cells: float = 60,
    snap_m: float = 20.0,
    worker: Callable[[str], str] | None = None,
) -> Grid:
    """A grid of street blocks split to about `cell_size_m`, covering `area` (a WGS84 polygon).

    `roads` are lines (anything else is ignored); `units` give districts, streets or communities
    with their codes and names; the parts of the area no unit covers belong to `district_code`.
    Generated communities hold about `community_cells` cells, generated streets about
    `street_cells`. A road ending at most `snap_m` metres short of another is taken to meet it.
    The metadata says what was generated.

    >>> from shapely import LineString, box
    >>> g = street_grid([LineString([(114.335, 34.78), (114.335, 34.79)])], box(114.33, 34.78, 114.34, 34.79),
    ...                 district_code="410204")
    >>> len(g), sorted(g.streets())
    (24, ['410204001'])
    """
    if not (isinstance(cell_size_m, (int, float)) and math.isfinite(cell_size_m) and cell_size_m > 0):
        raise GridError(f"cell size {cell_size_m!r} must be a positive number of metres")
    area = _check_area(area)
    units = _check_units(units, district_code)
    local = _Local.around(area)
    area_m = local.metres(area)
    expected = area_m.area / cell_size_m**2
    if expected > MAX_CELLS:
        raise GridError(f"about {expected:.0f} cells is more than {MAX_CELLS}: use a larger cell size or a smaller area")
    unit_m = local.metres(np.array([u.geometry for u in units], dtype=object))
    network = _network(area_m, local.metres(_lines(roads)), unit_m, snap_m)
    blocks = _faces(network, area_m)
    owner = _owners(blocks, unit_m, units)
    if (owner < 0).any() and district_code is None:
        where = shapely.get_coordinates(local.degrees(shapely.point_on_surface(blocks[owner < 0][0])))[0]
        raise GridError(f"part of the area (around lon {where[0]:.6f}, lat {where[1]:.6f}) is in no unit: "
                        "give units that cover the area, or a district code for the rest")
    pieces = _split(network, blocks, area_m, cell_size_m)
    cells_m, owner, left, right = _merge_slivers(pieces, _owners(pieces, unit_m, units), shared_edges(pieces),
                                                 SLIVER * cell_size_m**2, THIN * cell_size_m)
    # Rounded to 1e-8 degrees (about 1 mm): the GeoJSON of a cell is half as long, and specks left
    # where lines met a hair apart, too small to merge, collapse and go.
    geoms = shapely.set_precision(local.degrees(cells_m), PRECISION_DEG)
    kept = np.flatnonzero(~shapely.is_empty(geoms))
    renumber = np.full(len(geoms), -1, dtype=np.intp)
    renumber[kept] = np.arange(len(kept))
    both = (renumber[left] >= 0) & (renumber[right] >= 0)
    given = [units[o].code if o >= 0 else district_code for o in owner[kept]]
    hierarchy = Hierarchy(given, shapely.get_coordinates(shapely.centroid(cells_m[kept])), renumber[left[both]],
                          renumber[right[both]], _names(units, district_code, district_name), cell_size_m)
    codes, names = hierarchy.number(community_cells, street_cells)
    geoms = geoms[kept]
    cells = [Cell(code=code, name=f"Grid {code[12:]}", geometry=geom, district_name=names[code[:6]],
                  street_name=names[code[:9]], community_name=names[code[:12]],
                  worker=worker(code) if worker else None)
             for code, geom in zip(codes, geoms)]
    meta = {
        "name": f"{city_name or district_name or district_code or 'city'} street-block grid",
        "city": city_name,
        "source": "generated",
        "geometry": "generated",
        "grouping": "generated" if not units else "given units, generated below them",
        "crs": "EPSG:4326",
        "shape": "streets",
        "cell_size_m": cell_size_m,
        "bbox": list(area.bounds),
        "projection": "equirectangular at the area's centre",
        "districts": {code[:6]: names[code[:6]] for code in codes},
    }
    return Grid(cells, meta)


def _names(units: Sequence[Unit], district_code: str | None, district_name: str) -> dict[str, str]:
    """Names of the given units and of the levels above them, by code."""
    names: dict[str, str] = {}
    for unit in sorted(units, key=lambda u: u.level):  # a unit's own name wins over a lower unit's note of it
        names[unit.code] = unit.name
        names.setdefault(unit.code[:6], unit.district_name)
        names.setdefault(unit.code[:9], unit.street_name)
    if district_code is not None:
        names.setdefault(district_code, district_name)
    return names


def _check_area(area) -> BaseGeometry:
    if not isinstance(area, BaseGeometry) or area.is_empty or area.geom_type not in ("Polygon", "MultiPolygon"):
        raise GridError(f"the area must be a polygon, not {getattr(area, 'geom_type', type(area).__name__)}")
    if not area.is_valid:
        raise GridError(f"the area is not a valid polygon: {shapely.is_valid_reason(area)}")
    west, south, east, north = area.bounds
    if not (-180 <= west and east <= 180 and -85 <= south and north <= 85):
        raise GridError(f"the area {area.bounds} is not in WGS84 longitude/latitude")
    return area


def _check_units(units: Sequence[Unit], district_code: str | None) -> list[Unit]:
    if district_code is not None:
        check_district(district_code)
    problems = []
    for unit in units:
        length = len(unit.code)
        padded = unit.code + "001" * ((15 - length) // 3) if length in (6, 9, 12) else unit.code
        problem = code_problem(padded) if length in (6, 9, 12) else f"code {unit.code!r} is not 6, 9 or 12 digits"
        if problem:
            problems.append(f"unit {unit.name or unit.code}: {problem}")
        elif unit.geometry is None or unit.geometry.is_empty or not unit.geometry.is_valid:
            problems.append(f"unit {unit.code}: its geometry is missing or invalid")
    codes = [u.code for u in units]
    problems += [f"unit code {c} is given {codes.count(c)} times" for c in sorted(set(codes)) if codes.count(c) > 1]
    if problems:
        raise GridError("; ".join(problems))
    return list(units)


def _lines(roads: Iterable[BaseGeometry]) -> np.ndarray:
    geoms = np.array([g for g in roads if g is not None and not g.is_empty], dtype=object)
    if len(geoms) == 0:
        return geoms
    parts = shapely.get_parts(geoms)
    return parts[np.isin(shapely.get_type_id(parts), (shapely.GeometryType.LINESTRING, shapely.GeometryType.LINEARRING))]


def _network(area: BaseGeometry, lines: np.ndarray, units: np.ndarray, snap_m: float) -> BaseGeometry:
    """The roads, the area's boundary and the units' boundaries, noded into one set of lines (metres)."""
    lines = lines[shapely.intersects(lines, area)] if len(lines) else lines
    edges = shapely.union_all([area.boundary, *_close_gaps(lines, snap_m)])
    if len(units):
        # A unit's boundary drawn along a road follows it only to within rounding. Each snapped to the
        # other's vertices, the two become one line, where they would otherwise enclose hairline faces.
        borders = shapely.union_all(shapely.boundary(units))
        edges = shapely.snap(edges, borders, SNAP_UNITS_M)
        edges = shapely.union_all([edges, shapely.snap(borders, edges, SNAP_UNITS_M)])
    return shapely.union_all(edges)  # union_all nodes the lines where they cross


def _faces(network: BaseGeometry, area: BaseGeometry) -> np.ndarray:
    """The faces the network's lines enclose inside the area."""
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(network)))
    inside = shapely.within(shapely.point_on_surface(faces), area)  # not outside it, nor in its holes
    return faces[inside & (shapely.area(faces) > 0)]


def _split(network: BaseGeometry, faces: np.ndarray, area: BaseGeometry, size: float) -> np.ndarray:
    """Faces longer than SPLIT_ABOVE cells cut across their long axis, level by level. The cuts join the
    network and everything is polygonized again, so a cut's end is a vertex of the faces on both sides
    of the road it meets, and neighbouring cells share their edges exactly."""
    for _ in range(MAX_LEVELS):
        cuts = _cuts(faces, size)
        if not len(cuts):
            break
        network = shapely.union_all(np.concatenate([[network], cuts]))
        faces = _faces(network, area)
    return faces


def _cuts(faces: np.ndarray, size: float) -> np.ndarray:
    """Lines cutting every face longer than SPLIT_ABOVE cells across the long axis of its minimum rotated
    rectangle into round(length / size) pieces; each line spans its face and overshoots it by OVERSHOOT_M,
    so that it crosses the face's boundary rather than end a rounding short of it."""
    ring = shapely.get_coordinates(shapely.oriented_envelope(faces)).reshape(-1, 5, 2)[:, :4]
    a, b = ring[:, 1] - ring[:, 0], ring[:, 2] - ring[:, 1]
    la, lb = np.hypot(*a.T), np.hypot(*b.T)
    first = (la >= lb)[:, None]
    length, width = np.maximum(la, lb), np.minimum(la, lb)
    count = np.rint(length / size).astype(int)
    todo = np.flatnonzero((length > SPLIT_ABOVE * size) & (count >= 2) & (width > 0))
    if not len(todo):
        return np.empty(0, dtype=object)
    axis = np.where(first, a, b)[todo] / length[todo, None]
    side = np.where(first, b, a)[todo] / width[todo, None]
    start = ring[todo, np.argmin(np.einsum("fkd,fd->fk", ring[todo], axis), axis=1)]
    face = np.repeat(np.arange(len(todo)), count[todo] - 1)
    step = np.arange(len(face)) - np.repeat(np.cumsum(count[todo] - 1) - (count[todo] - 1), count[todo] - 1) + 1
    middle = start[face] + axis[face] * (length[todo][face] * step / count[todo][face])[:, None]
    reach = side[face] * (width[todo][face] + size)[:, None]
    lines = shapely.linestrings(np.stack([middle - reach, middle + reach], axis=1))
    parts = shapely.get_parts(shapely.intersection(lines, faces[todo][face]))
    parts = parts[(shapely.get_type_id(parts) == shapely.GeometryType.LINESTRING) & (shapely.length(parts) > 0)]
    ends = np.stack([shapely.get_coordinates(shapely.get_point(parts, 0)),
                     shapely.get_coordinates(shapely.get_point(parts, -1))], axis=1)
    direction = (ends[:, 1] - ends[:, 0]) / shapely.length(parts)[:, None]
    ends[:, 0] -= direction * OVERSHOOT_M
    ends[:, 1] += direction * OVERSHOOT_M
    return shapely.linestrings(ends)


def _close_gaps(lines: np.ndarray, snap_m: float) -> list:
    """The lines, and a short connector for every line end that stops at most `snap_m` short of another
    line: road files often leave such gaps, and a road that meets nothing bounds no block.
    Connectors overshoot by a centimetre so that they cross the line rather than end a rounding short."""
    if not len(lines) or snap_m <= 0:
        return list(lines)
    open_lines = np.flatnonzero(~shapely.is_closed(lines))
    ends = np.concatenate([shapely.get_point(lines[open_lines], 0), shapely.get_point(lines[open_lines], -1)])
    owner = np.concatenate([open_lines, open_lines])
    end, near = shapely.STRtree(lines).query(ends, predicate="dwithin", distance=snap_m)
    other = near != owner[end]
    end, near = end[other], near[other]
    distance = shapely.distance(ends[end], lines[near])
    touching = set(end[distance == 0].tolist())
    best: dict[int, tuple[float, int]] = {}
    for e, n, d in zip(end.tolist(), near.tolist(), distance.tolist()):
        if e not in touching and (e not in best or (d, n) < best[e]):
            best[e] = (d, n)
    connectors = []
    for e, (d, n) in sorted(best.items()):
        start, stop = shapely.get_coordinates(shapely.shortest_line(ends[e], lines[n]))
        connectors.append(shapely.LineString([start, stop + (stop - start) * (0.01 / d)]))
    return list(lines) + connectors


def _owners(blocks: np.ndarray, unit_geoms: np.ndarray, units: list[Unit]) -> np.ndarray:
    """Index of the deepest unit holding each block's inner point; -1 for none."""
    owner = np.full(len(blocks), -1, dtype=np.intp)
    if not units:
        return owner
    level = np.array([u.level for u in units])
    hit_block, hit_unit = shapely.STRtree(unit_geoms).query(shapely.point_on_surface(blocks), predicate="within")
    order = np.lexsort((hit_unit, level[hit_unit]))  # deeper levels written last, so they win
    owner[hit_block[order]] = hit_unit[order]
    return owner


def _long_sides(geoms) -> np.ndarray:
    rings = shapely.get_coordinates(shapely.oriented_envelope(geoms)).reshape(-1, 5, 2)
    return np.maximum(np.hypot(*(rings[:, 1] - rings[:, 0]).T), np.hypot(*(rings[:, 2] - rings[:, 1]).T))


def _merge_slivers(pieces: np.ndarray, owner: np.ndarray, edges: tuple[np.ndarray, np.ndarray, np.ndarray],
                   sliver_m2: float, thin_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pieces under `sliver_m2` or narrower than `thin_m` merged into the neighbour of the same unit
    they share the most edge with, smallest first. `edges` are (i, j, length) of pieces sharing edges.
    Returns the cells, their units and the (i, j) pairs of cells sharing edges."""
    near: list[dict[int, float]] = [{} for _ in range(len(pieces))]
    for i, j, length in zip(*(e.tolist() for e in edges)):
        near[i][j] = near[j][i] = length
    current = list(pieces)

    def sliver(geom) -> bool:
        return geom.area < sliver_m2 or geom.area < thin_m * _long_sides(geom)[0]

    for i in np.argsort(shapely.area(pieces), kind="stable").tolist():
        if current[i] is None or not sliver(current[i]):
            continue
        shared = near[i]
        pool = [j for j in shared if owner[j] == owner[i]] or (list(shared) if current[i].area < CRUMB_M2 else [])
        if not pool:
            continue  # alone in its unit: keep it
        best = max(pool, key=lambda j: (shared[j], -j))
        current[best] = shapely.union(current[best], current[i])
        for j, length in shared.items():  # i's neighbours are best's now
            del near[j][i]
            if j != best:
                near[best][j] = near[j][best] = near[best].get(j, 0.0) + length
        near[i], current[i] = {}, None
    keep = np.array([i for i, geom in enumerate(current) if geom is not None], dtype=np.intp)
    index = np.full(len(pieces), -1, dtype=np.intp)
    index[keep] = np.arange(len(keep))
    pairs = np.array([(index[i], index[j]) for i in keep.tolist() for j in near[i] if i < j], dtype=np.intp).reshape(-1, 2)
    return np.array([current[i] for i in keep], dtype=object), owner[keep], pairs[:, 0], pairs[:, 1]
