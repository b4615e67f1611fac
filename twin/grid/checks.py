"""The rules a grid keeps, checked all at once: every violation is reported, each naming its cells.

Codes (15 digits, a GB/T 2260 district, unique), parents (one name per district, street and
community code), geometry (present, polygonal, valid), overlaps between cells, gaps inside the
grid and, for a grid made for an area, against that area; cells within the units they belong to,
and (for generated grids) every community one connected piece. `twin.grid.files` checks imported
files with the same functions; `grid_violations` checks a Grid.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from twin.grid.cells import Grid
from twin.grid.codes import code_problem
from twin.grid.generate import metres_per_degree
from twin.grid.grouping import adjacency, components

__all__ = ["grid_violations", "code_violations", "parent_violations", "geometry_violations",
           "overlap_and_gap_violations", "area_violations", "unit_violations", "community_violations"]

# Snapping to this grid (degrees, 0.1 mm) closes the float seams between neighbours: without it a
# hole touching a seam is open to the outside and goes unseen, and a community looks split.
SEAM_DEG = 1e-9
# Cells whose edges are this close (degrees, about 1 mm) meet: a cut's computed vertex lies on its
# neighbour's edge only to within rounding.
EDGE_DEG = 1e-8


def grid_violations(grid: Grid, *, area: BaseGeometry | None = None, units: Sequence = (),
                    connected_communities: bool = False, tolerance_m2: float = 1.0) -> list[str]:
    """Every rule `grid` breaks: codes, parents, geometry, overlaps and gaps; with `area`, gaps
    against it and cells outside it; with `units` (objects with `code` and `geometry`), cells
    outside the unit of their code; with `connected_communities`, communities in several pieces."""
    codes = [c.code for c in grid.cells]
    fields = {name: [getattr(c, name) or None for c in grid.cells]
              for name in ("district_name", "street_name", "community_name")}
    violations = code_violations(codes) + parent_violations(codes, fields)
    geoms = np.array([c.geometry for c in grid.cells], dtype=object)
    usable = geometry_violations(geoms, codes, violations)
    violations += overlap_and_gap_violations(geoms, usable, codes, tolerance_m2)
    if area is not None:
        violations += area_violations(geoms[usable], area, tolerance_m2)
    if units:
        violations += unit_violations(grid, units, tolerance_m2)
    if connected_communities:
        violations += community_violations(grid)
    return violations


def _m2_per_deg2(geoms) -> float:
    bounds = shapely.total_bounds(geoms)
    mx, my = metres_per_degree((bounds[1] + bounds[3]) / 2)
    return mx * my


def _where(geom) -> str:
    point = shapely.point_on_surface(geom)
    return f"(lon {point.x:.6f}, lat {point.y:.6f})"


def code_violations(codes: Sequence[str | None]) -> list[str]:
    """Codes that are not valid cell codes (named by row, from 1), and codes used more than once."""
    out = [f"row {row}: {problem}" for row, code in enumerate(codes, start=1) if (problem := code_problem(code))]
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, code in enumerate(codes, start=1):
        if code:
            rows_of[code].append(row)
    out += [f"code {code} is used by {len(rows)} cells (rows {', '.join(map(str, rows))})"
            for code, rows in rows_of.items() if len(rows) > 1]
    return out


def parent_violations(codes: list[str | None], fields: dict[str, list[str | None]]) -> list[str]:
    """One name per district, street and community code."""
    out = []
    for level, length, field in (("district", 6, "district_name"), ("street", 9, "street_name"), ("community", 12, "community_name")):
        names: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for code, name in zip(codes, fields[field]):
            if code and name and not code_problem(code):
                names[code[:length]][name].append(code)
        for prefix, by_name in sorted(names.items()):
            if len(by_name) > 1:
                listed = "; ".join(
                    f"{name!r} (cells {', '.join(cells[:3])}{', ...' if len(cells) > 3 else ''})"
                    for name, cells in sorted((n, sorted(set(c))) for n, c in by_name.items())
                )
                out.append(f"{level} {prefix} has {len(by_name)} different names: {listed}")
    return out


def geometry_violations(geoms: np.ndarray, labels: list[str], violations: list[str]) -> np.ndarray:
    """Append geometry problems; return the mask of cells usable for overlap and gap checks.
    Single-part MultiPolygons are unwrapped in place."""
    usable = np.zeros(len(geoms), dtype=bool)
    for i, geom in enumerate(geoms):
        label = labels[i]
        if geom is None:
            violations.append(f"cell {label}: geometry is missing")
        elif geom.is_empty:
            violations.append(f"cell {label}: geometry is empty")
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            violations.append(f"cell {label}: geometry is a {geom.geom_type}, expected a Polygon")
        elif not geom.is_valid:
            violations.append(f"cell {label}: invalid geometry: {shapely.is_valid_reason(geom)}")
        else:
            if geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
                geoms[i] = geom.geoms[0]
            usable[i] = True
    return usable


def overlap_and_gap_violations(geoms: np.ndarray, usable: np.ndarray, labels: list[str], tolerance_m2: float) -> list[str]:
    """Pairs of cells overlapping by more than `tolerance_m2`, and holes in the grid larger than that."""
    index = np.flatnonzero(usable)
    if len(index) == 0:
        return []
    valid = geoms[index]
    m2_per_deg2 = _m2_per_deg2(valid)
    out = []
    tree = shapely.STRtree(valid)
    left, right = tree.query(valid, predicate="intersects")
    pair = left < right
    left, right = left[pair], right[pair]
    overlaps = shapely.intersection(valid[left], valid[right])
    area = shapely.area(overlaps) * m2_per_deg2
    for a, b, shared, m2 in zip(left, right, overlaps, area):
        if m2 > tolerance_m2:
            first, second = sorted((labels[index[a]], labels[index[b]]))
            out.append(f"cells {first} and {second} overlap by {m2:.1f} m² around {_where(shared)}")
    union = shapely.union_all(valid, grid_size=SEAM_DEG)
    parts = getattr(union, "geoms", [union])
    for part in parts:
        for ring in getattr(part, "interiors", []):
            hole = shapely.Polygon(ring)
            m2 = hole.area * m2_per_deg2
            if m2 <= tolerance_m2:
                continue
            around = sorted(labels[index[i]] for i in tree.query(hole, predicate="dwithin", distance=1e-7))
            names = ", ".join(around[:6]) + (", ..." if len(around) > 6 else "")
            out.append(f"gap of {m2:.1f} m² inside the grid around {_where(hole)}, between cells {names}")
    return out


def area_violations(geoms: np.ndarray, area: BaseGeometry, tolerance_m2: float) -> list[str]:
    """Parts of `area` no cell covers, and parts of cells outside it, each larger than `tolerance_m2`."""
    if len(geoms) == 0:
        return ["no cell covers the area"]
    m2_per_deg2 = _m2_per_deg2(geoms)
    union = shapely.union_all(geoms, grid_size=SEAM_DEG)
    out = []
    for part in shapely.get_parts(shapely.difference(area, union)):
        if part.area * m2_per_deg2 > tolerance_m2:
            out.append(f"gap of {part.area * m2_per_deg2:.1f} m² between the grid and its area around {_where(part)}")
    for part in shapely.get_parts(shapely.difference(union, area)):
        if part.area * m2_per_deg2 > tolerance_m2:
            out.append(f"{part.area * m2_per_deg2:.1f} m² of the grid lie outside its area around {_where(part)}")
    return out


def unit_violations(grid: Grid, units: Sequence, tolerance_m2: float) -> list[str]:
    """Cells reaching out of the unit (district, street or community) their code puts them in."""
    if not len(grid):
        return []
    m2_per_deg2 = _m2_per_deg2(grid.geometries)
    by_code = {u.code: u for u in units}
    out = []
    for cell in grid.cells:
        if cell.geometry is None or not cell.geometry.is_valid:
            continue  # the geometry check reports it
        for prefix in (cell.code[:12], cell.code[:9], cell.code[:6]):
            unit = by_code.get(prefix)
            if unit is None:
                continue
            outside = shapely.difference(cell.geometry, unit.geometry).area * m2_per_deg2
            if outside > tolerance_m2:
                out.append(f"cell {cell.code}: {outside:.1f} m² lie outside its unit {unit.code} around "
                           f"{_where(shapely.difference(cell.geometry, unit.geometry))}")
    return out


def community_violations(grid: Grid) -> list[str]:
    """Communities whose cells make more than one connected piece: cells meeting only at a corner
    are apart, cells whose edges meet to within EDGE_DEG are together."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, cell in enumerate(grid.cells):
        if cell.geometry is not None and cell.geometry.is_valid:  # the geometry check reports the others
            members[cell.community_code].append(i)
    out = []
    for code, index in members.items():
        geoms = grid.geometries[index]
        pieces = components(len(geoms), *adjacency(geoms, EDGE_DEG, 10 * EDGE_DEG))
        if len(pieces) > 1:
            out.append(f"community {code} is in {len(pieces)} separate pieces ({len(geoms)} cells), around "
                       + "; ".join(_where(shapely.union_all(geoms[p])) for p in pieces[:4]))
    return out
